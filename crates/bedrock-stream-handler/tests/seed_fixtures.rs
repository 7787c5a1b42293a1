//! `POST /` (the seed contract) against real `InvokeModelWithResponseStream` recordings
//! (`crates/bedrock-families/tests/fixtures/invoke-stream/*.eventstream.b64`) replayed on the wire:
//! tool use and text come out as the same typed sse/ndjson events as `/converse`, through the
//! families' stream decoders; the text format prints only the answer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod replay;

use std::time::Duration;

use bedrock_stream_handler::Config;
use common::*;
use replay::{fixture_frames, fixture_json, Replay, Reply};
use serde_json::{json, Value};

/// Model id → recording (model ids as recorded, per SOURCES.md).
const RECORDINGS: &[(&str, &str)] = &[
    (
        "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
        "anthropic-messages-tool-use-claude35-sonnet",
    ),
    ("anthropic.claude-v2", "anthropic-messages-text-claude-v2"),
    ("amazon.nova-micro-v1:0", "nova-tool-use-micro"),
    ("us.amazon.nova-micro-v1:0", "nova-text-micro"),
    ("amazon.titan-text-lite-v1", "titan-text-lite"),
    ("meta.llama2-13b-chat-v1", "llama-text-llama2-13b"),
];

async fn setup(gap: Duration) -> (Replay, String) {
    let replies = RECORDINGS
        .iter()
        .map(|(id, name)| {
            (
                *id,
                Reply::Frames(fixture_frames(&format!(
                    "invoke-stream/{name}.eventstream.b64"
                ))),
            )
        })
        .collect();
    let replay = Replay::start(replies, None, gap).await;
    let (url, _) = serve_handler(sdk_client(&replay.url), Config::default()).await;
    (replay, url)
}

/// A seed body for `model` in its family's request shape (what the recordings answered; the
/// replay does not read it).
fn seed(model: &str) -> String {
    let params = if model.contains("anthropic") {
        json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 200,
               "messages": [{"role": "user", "content": "weather in Seattle and San Francisco?"}],
               "tools": [{"name": "get_current_weather", "description": "weather",
                          "input_schema": {"type": "object",
                                           "properties": {"location": {"type": "string"}}}}]})
    } else if model.contains("nova") {
        json!({"schemaVersion": "messages-v1",
               "messages": [{"role": "user", "content": [{"text": "weather?"}]}],
               "inferenceConfig": {"max_new_tokens": 200}})
    } else if model.contains("titan") {
        json!({"inputText": "hi", "textGenerationConfig": {"maxTokenCount": 10}})
    } else {
        json!({"prompt": "hi", "max_gen_len": 10})
    };
    json!({"bedrockParams": {"modelId": model}, "modelParams": params}).to_string()
}

fn ndjson(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn by_type<'a>(events: &'a [Value], t: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == t).collect()
}

fn joined(events: &[&Value], member: &str) -> String {
    events.iter().map(|e| e[member].as_str().unwrap()).collect()
}

fn recording(name: &str) -> Vec<Value> {
    fixture_json(&format!("invoke-stream/{name}.json"))
        .as_array()
        .unwrap()
        .clone()
}

fn sse(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let name = block
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap();
            let data = block
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap();
            let mut v: Value = serde_json::from_str(data).unwrap();
            v["type"] = Value::String(name.into());
            v
        })
        .collect()
}

/// The typed events an Anthropic Messages recording must come out as, read off the recording
/// with the documented mapping: `tool_use` block start → `tool_use`, `text_delta` → `text`,
/// `input_json_delta` → `tool_input` (the empty first fragment carries nothing),
/// `content_block_stop` → `block_stop`.
fn anthropic_expected(name: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for c in recording(name) {
        let i = &c["index"];
        match c["type"].as_str().unwrap() {
            "content_block_start" if c["content_block"]["type"] == "tool_use" => {
                let b = &c["content_block"];
                out.push(json!({"type": "tool_use", "index": i, "id": b["id"], "name": b["name"]}));
            }
            "content_block_delta" => {
                let d = &c["delta"];
                match d["type"].as_str().unwrap() {
                    "text_delta" => {
                        out.push(json!({"type": "text", "index": i, "text": d["text"]}))
                    }
                    "input_json_delta" if d["partial_json"] != "" => out.push(
                        json!({"type": "tool_input", "index": i, "input": d["partial_json"]}),
                    ),
                    _ => {}
                }
            }
            "content_block_stop" => out.push(json!({"type": "block_stop", "index": i})),
            _ => {}
        }
    }
    out
}

#[tokio::test]
async fn anthropic_tool_use_streams_as_typed_events_in_time() {
    let name = "anthropic-messages-tool-use-claude35-sonnet";
    let (_replay, url) = setup(Duration::from_millis(20)).await;
    let (status, text, pieces, _) = post(
        &format!("{url}/"),
        seed("us.anthropic.claude-3-5-sonnet-20240620-v1:0"),
        Some("text/event-stream"),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let events = sse(&text);
    let (done, content) = events.split_last().unwrap();
    assert_eq!(content, anthropic_expected(name).as_slice());
    // Pinned from the recording.
    assert_eq!(
        joined(&by_type(content, "text"), "text"),
        "Certainly! I'll use the get_current_weather function to check the weather for both \
         Seattle and San Francisco. I'll make two separate function calls within the same block \
         for these cities."
    );
    let calls = by_type(content, "tool_use");
    assert_eq!(
        calls,
        [
            &json!({"type": "tool_use", "index": 1, "id": "toolu_bdrk_01KatiGijVFb9yuMPcnVk38e",
                    "name": "get_current_weather"}),
            &json!({"type": "tool_use", "index": 2, "id": "toolu_bdrk_01Tzb35EydKHWz4UZP3puTbF",
                    "name": "get_current_weather"}),
        ]
    );
    for (index, input) in [
        (1, r#"{"location": "Seattle"}"#),
        (2, r#"{"location": "San Francisco"}"#),
    ] {
        let fragments: Vec<&Value> = by_type(content, "tool_input")
            .into_iter()
            .filter(|e| e["index"] == index)
            .collect();
        assert_eq!(joined(&fragments, "input"), input);
    }
    assert_eq!(done["type"], "done");
    assert_eq!(done["stop_reason"], "tool_use");
    assert_eq!(done["input_tokens"], 392);
    assert_eq!(done["bedrock_first_byte_ms"], 779);
    // Streamed as the frames arrived, not gathered.
    assert!(pieces.len() >= 20, "only {} pieces", pieces.len());
    let span = pieces.last().unwrap().0 - pieces.first().unwrap().0;
    assert!(
        span >= Duration::from_millis(20 * 20),
        "all at once: {span:?}"
    );
}

#[tokio::test]
async fn nova_tool_use_numbers_blocks_as_converse_does() {
    let name = "nova-tool-use-micro";
    let (_replay, url) = setup(Duration::ZERO).await;
    let (status, text, _, _) = post(
        &format!("{url}/?format=ndjson"),
        seed("amazon.nova-micro-v1:0"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let events = ndjson(&text);
    let (done, content) = events.split_last().unwrap();
    let rec = recording(name);
    // Nova sends every text piece as its own block (0..=21, no start); they are one text block
    // for the client, then the two calls (recorded at 22 and 24) are blocks 1 and 2.
    let recorded_text: String = rec
        .iter()
        .filter_map(|c| c["contentBlockDelta"]["delta"]["text"].as_str())
        .collect();
    let texts = by_type(content, "text");
    assert!(texts.iter().all(|e| e["index"] == 0));
    assert_eq!(joined(&texts, "text"), recorded_text);
    let starts: Vec<&Value> = rec
        .iter()
        .filter_map(|c| {
            c["contentBlockStart"]["start"]["toolUse"]
                .as_object()
                .map(|_| c)
        })
        .collect();
    let inputs: Vec<&str> = rec
        .iter()
        .filter_map(|c| c["contentBlockDelta"]["delta"]["toolUse"]["input"].as_str())
        .collect();
    assert_eq!(starts.len(), 2);
    let tail = &content[texts.len()..];
    let mut want = vec![json!({"type": "block_stop", "index": 0})];
    for (k, (start, input)) in starts.iter().zip(&inputs).enumerate() {
        let t = &start["contentBlockStart"]["start"]["toolUse"];
        let index = k + 1;
        want.push(
            json!({"type": "tool_use", "index": index, "id": t["toolUseId"], "name": t["name"]}),
        );
        want.push(json!({"type": "tool_input", "index": index, "input": input}));
        want.push(json!({"type": "block_stop", "index": index}));
    }
    assert_eq!(tail, want.as_slice());
    assert_eq!(tail[1]["id"], "3cd5c4df-1540-4fed-933f-707f9ca8286c");
    assert_eq!(tail[2]["input"], r#"{"location":"Seattle"}"#);
    assert_eq!(done["stop_reason"], "tool_use");
    assert_eq!(
        (
            done["input_tokens"].as_u64(),
            done["output_tokens"].as_u64()
        ),
        (Some(427), Some(156))
    );
    assert_eq!(done["cache_read_input_tokens"], 0);
}

/// The recorded answer text of an InvokeModel stream, read off each family's own chunk keys.
fn recorded_answer(name: &str) -> String {
    recording(name)
        .iter()
        .filter_map(|c| {
            c["delta"]["text"]
                .as_str()
                .or(c["contentBlockDelta"]["delta"]["text"].as_str())
                .or(c["outputText"].as_str())
                .or(c["generation"].as_str())
        })
        .collect()
}

#[tokio::test]
async fn the_text_format_prints_only_the_answer_for_every_recording() {
    let (_replay, url) = setup(Duration::ZERO).await;
    for (id, name) in RECORDINGS {
        let (status, text, _, headers) = post(&format!("{url}/"), seed(id), None).await;
        assert_eq!(status, 200, "{name}: {text}");
        assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
        let want = recorded_answer(name);
        assert!(!want.is_empty(), "{name}");
        assert_eq!(text, want, "{name}");
    }
}

/// Extended thinking over InvokeModel has no public recording (FACTS.md §7), so these chunks
/// follow Anthropic's streaming documentation (`thinking_delta`, `signature_delta`,
/// `redacted_thinking`), framed as Bedrock frames `chunk` events.
#[tokio::test]
async fn anthropic_thinking_streams_as_reasoning_events() {
    use bedrock_local::wire::chunk_frame;
    let chunks = [
        json!({"type": "message_start", "message": {"id": "msg_bdrk_1", "type": "message",
            "role": "assistant", "model": "claude-sonnet-4", "content": [], "stop_reason": null,
            "stop_sequence": null, "usage": {"input_tokens": 12, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0,
               "content_block": {"type": "thinking", "thinking": ""}}),
        json!({"type": "content_block_delta", "index": 0,
               "delta": {"type": "thinking_delta", "thinking": "Let me think"}}),
        json!({"type": "content_block_delta", "index": 0,
               "delta": {"type": "thinking_delta", "thinking": " step by step."}}),
        json!({"type": "content_block_delta", "index": 0,
               "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA"}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "content_block_start", "index": 1,
               "content_block": {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"}}),
        json!({"type": "content_block_stop", "index": 1}),
        json!({"type": "content_block_start", "index": 2,
               "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 2,
               "delta": {"type": "text_delta", "text": "42"}}),
        json!({"type": "content_block_stop", "index": 2}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
               "usage": {"output_tokens": 30}}),
        json!({"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 12,
               "outputTokenCount": 30, "invocationLatency": 900, "firstByteLatency": 300}}),
    ];
    let frames = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| chunk_frame(c, i))
        .collect();
    let replay = Replay::start(vec![], Some(Reply::Frames(frames)), Duration::ZERO).await;
    let (url, _) = serve_handler(sdk_client(&replay.url), Config::default()).await;
    let model = "us.anthropic.claude-sonnet-4-20250514-v1:0";
    let (status, text, _, _) = post(&format!("{url}/?format=ndjson"), seed(model), None).await;
    assert_eq!(status, 200, "{text}");
    let events = ndjson(&text);
    let (done, content) = events.split_last().unwrap();
    let redacted = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "EmwKAhgBEgy3va3pzix",
    );
    assert_eq!(
        content,
        [
            json!({"type": "reasoning", "index": 0, "text": "Let me think"}),
            json!({"type": "reasoning", "index": 0, "text": " step by step."}),
            json!({"type": "reasoning_signature", "index": 0, "signature": "EqQBCgIYAhIM1gbcDa9GJwZA"}),
            json!({"type": "block_stop", "index": 0}),
            json!({"type": "reasoning_redacted", "index": 1, "data": redacted}),
            json!({"type": "block_stop", "index": 1}),
            json!({"type": "text", "index": 2, "text": "42"}),
            json!({"type": "block_stop", "index": 2}),
        ]
    );
    assert_eq!(done["stop_reason"], "end_turn");
    assert_eq!(done["output_tokens"], 30);

    // The text format: the answer only.
    let (_, text, _, _) = post(&format!("{url}/"), seed(model), None).await;
    assert_eq!(text, "42");
}
