//! `POST /converse` with the whole Converse feature set, end to end through the real AWS SDK:
//! handler → SDK → a Bedrock-wire server replaying real Bedrock recordings
//! (`crates/bedrock-families/tests/fixtures/converse-stream/*.eventstream.b64`, `converse/*.json`) —
//! and what the SDK put on the wire for a request carrying every member.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod replay;

use std::time::Duration;

use bedrock_stream_handler::Config;
use common::*;
use replay::{fixture_frames, fixture_json, Replay, Reply};
use serde_json::{json, Value};

const TOOL: &str = "claude3-sonnet-text-then-tool-use";
const REASONING: &str = "claude-sonnet4-reasoning-then-text";
const REDACTED: &str = "claude37-sonnet-redacted-reasoning";
const MAX_TOKENS: &str = "claude3-sonnet-text-max-tokens";
const TITAN: &str = "titan-lite-text-one-delta";

fn stream_reply(name: &str) -> Reply {
    Reply::Frames(fixture_frames(&format!(
        "converse-stream/{name}.eventstream.b64"
    )))
}

/// A replay server with every converse-stream recording (model id = recording name), and a
/// handler in front of it.
async fn setup(gap: Duration, config: Config) -> (Replay, String) {
    let replies = [TOOL, REASONING, REDACTED, MAX_TOKENS, TITAN]
        .into_iter()
        .map(|n| (n, stream_reply(n)))
        .collect();
    let replay = Replay::start(replies, None, gap).await;
    // Dropping the handle leaves the server running for the test's life.
    let (url, _) = serve_handler(sdk_client(&replay.url), config).await;
    (replay, url)
}

fn body(model: &str) -> String {
    json!({"modelId": model, "messages": [{"role": "user", "content": [{"text": "hi"}]}]})
        .to_string()
}

/// sse → one JSON object per event, `type` = the event name (the ndjson shape).
fn parse_sse(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let name = block
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or_else(|| panic!("no event line in {block:?}"));
            let data = block
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap();
            let mut v: Value = serde_json::from_str(data).unwrap();
            v["type"] = Value::String(name.to_string());
            v
        })
        .collect()
}

fn parse_ndjson(text: &str) -> Vec<Value> {
    assert!(text.ends_with('\n'), "{text:?}");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The typed events a recording must come out as, read off the recording itself with the
/// documented mapping: toolUse start → `tool_use`, deltas → `text` / `tool_input` /
/// `reasoning` / `reasoning_signature` / `reasoning_redacted` (empty pieces carry nothing),
/// stop → `block_stop`.
fn expected_events(recording: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for e in recording.as_array().unwrap() {
        let p = &e["payload"];
        let i = &p["contentBlockIndex"];
        match e["event"].as_str().unwrap() {
            "contentBlockStart" => {
                let t = &p["start"]["toolUse"];
                out.push(json!({"type": "tool_use", "index": i,
                                "id": t["toolUseId"], "name": t["name"]}));
            }
            "contentBlockDelta" => {
                let d = &p["delta"];
                let r = &d["reasoningContent"];
                let ev = if let Some(t) = d["text"].as_str() {
                    json!({"type": "text", "index": i, "text": t})
                } else if let Some(t) = d["toolUse"]["input"].as_str() {
                    json!({"type": "tool_input", "index": i, "input": t})
                } else if let Some(t) = r["text"].as_str() {
                    json!({"type": "reasoning", "index": i, "text": t})
                } else if let Some(s) = r["signature"].as_str() {
                    json!({"type": "reasoning_signature", "index": i, "signature": s})
                } else if let Some(s) = r["redactedContent"].as_str() {
                    json!({"type": "reasoning_redacted", "index": i, "data": s})
                } else {
                    panic!("unexpected delta {d}")
                };
                let empty = ev.get("text").or(ev.get("input")).is_some_and(|t| t == "");
                if !empty {
                    out.push(ev);
                }
            }
            "contentBlockStop" => out.push(json!({"type": "block_stop", "index": i})),
            _ => {}
        }
    }
    out
}

fn recording(name: &str) -> Value {
    fixture_json(&format!("converse-stream/{name}.json"))
}

/// The last event's payload of a given type in a recording.
fn recorded(name: &str, event: &str) -> Value {
    recording(name)
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["event"] == event)
        .unwrap()["payload"]
        .clone()
}

fn check_done(done: &Value, name: &str) {
    assert_eq!(done["type"], "done");
    let stop = recorded(name, "messageStop");
    let meta = recorded(name, "metadata");
    assert_eq!(done["stop_reason"], stop["stopReason"]);
    assert_eq!(done["input_tokens"], meta["usage"]["inputTokens"]);
    assert_eq!(done["output_tokens"], meta["usage"]["outputTokens"]);
    assert_eq!(done["bedrock_latency_ms"], meta["metrics"]["latencyMs"]);
}

#[tokio::test]
async fn a_real_tool_use_stream_comes_out_as_typed_sse_events_in_time() {
    let (_replay, url) = setup(Duration::from_millis(25), Config::default()).await;
    let (status, text, pieces, headers) = post(
        &format!("{url}/converse"),
        body(TOOL),
        Some("text/event-stream"),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["content-type"], "text/event-stream");
    let events = parse_sse(&text);
    let (done, content) = events.split_last().unwrap();
    assert_eq!(content, expected_events(&recording(TOOL)).as_slice());
    check_done(done, TOOL);
    assert_eq!(done["stop_reason"], "tool_use");

    // What the recording says, pinned: text at 0, then the call at 1.
    let text0: String = content
        .iter()
        .filter(|e| e["type"] == "text")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        text0,
        "Okay, let me check the weather for Barcelona using the available tool:"
    );
    let call = content.iter().find(|e| e["type"] == "tool_use").unwrap();
    assert_eq!(
        call,
        &json!({"type": "tool_use", "index": 1, "id": "tooluse_yypYDr71TwCwByoyao4-Vg",
                "name": "get_weather"})
    );
    let input: String = content
        .iter()
        .filter(|e| e["type"] == "tool_input")
        .map(|e| {
            assert_eq!(e["index"], 1);
            e["input"].as_str().unwrap()
        })
        .collect();
    assert_eq!(input, r#"{"location": "Barcelona"}"#);
    assert_eq!(
        content.iter().filter(|e| e["type"] == "tool_input").count(),
        4,
        "fragments pass through as they came"
    );

    // Streamed, not buffered: the body arrived in many pieces spread over the replay's gaps.
    assert!(pieces.len() >= 15, "only {} pieces", pieces.len());
    let span = pieces.last().unwrap().0 - pieces.first().unwrap().0;
    assert!(
        span >= Duration::from_millis(25 * 15),
        "all at once: {span:?}"
    );
    let gaps = pieces
        .windows(2)
        .filter(|w| w[1].0 - w[0].0 >= Duration::from_millis(12))
        .count();
    assert!(
        gaps >= pieces.len() / 2,
        "bunched: {gaps} of {}",
        pieces.len()
    );
}

#[tokio::test]
async fn reasoning_with_its_signature_in_ndjson() {
    let (_replay, url) = setup(Duration::ZERO, Config::default()).await;
    let (status, text, _, headers) = post(
        &format!("{url}/converse?format=ndjson"),
        body(REASONING),
        None,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["content-type"], "application/x-ndjson");
    let events = parse_ndjson(&text);
    let (done, content) = events.split_last().unwrap();
    assert_eq!(content, expected_events(&recording(REASONING)).as_slice());
    check_done(done, REASONING);
    let reasoning: String = content
        .iter()
        .filter(|e| e["type"] == "reasoning")
        .map(|e| {
            assert_eq!(e["index"], 0);
            e["text"].as_str().unwrap()
        })
        .collect();
    assert!(
        reasoning.starts_with("The human has just said \"Hello\" to me."),
        "{reasoning}"
    );
    let sig: Vec<&Value> = content
        .iter()
        .filter(|e| e["type"] == "reasoning_signature")
        .collect();
    assert_eq!(sig.len(), 1);
    assert_eq!(sig[0]["index"], 0);
    assert!(sig[0]["signature"]
        .as_str()
        .unwrap()
        .starts_with("EvYCCkgICxABGAIqQH+vdAorxvHnWTPEdc8BK/BavcOAlYhx4WJGgsYDLAOnOlProhrcdoakElJ1TyNwuVoDmeufvBY0r1oL2vhd1goSDJPU6x/yFNQsgepyvBoMBDWVqE"));
    // The signature closes block 0 before the answer starts at 1.
    let sig_at = content
        .iter()
        .position(|e| e["type"] == "reasoning_signature")
        .unwrap();
    let first_text = content.iter().position(|e| e["type"] == "text").unwrap();
    assert_eq!(
        content[sig_at + 1],
        json!({"type": "block_stop", "index": 0})
    );
    assert!(first_text > sig_at + 1);
    assert!(content[first_text..].iter().all(|e| e["index"] == 1));
}

#[tokio::test]
async fn redacted_reasoning_blocks_and_then_the_answer() {
    let (_replay, url) = setup(Duration::ZERO, Config::default()).await;
    let (status, text, _, _) =
        post(&format!("{url}/converse?format=sse"), body(REDACTED), None).await;
    assert_eq!(status, 200, "{text}");
    let events = parse_sse(&text);
    let (done, content) = events.split_last().unwrap();
    assert_eq!(content, expected_events(&recording(REDACTED)).as_slice());
    check_done(done, REDACTED);
    let redacted: Vec<&Value> = content
        .iter()
        .filter(|e| e["type"] == "reasoning_redacted")
        .collect();
    assert_eq!(
        redacted
            .iter()
            .map(|e| e["index"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert!(redacted[0]["data"]
        .as_str()
        .unwrap()
        .starts_with("RXR3Q0NrZ0lDeEFCR0FJcVFEMEw5aW90dWMz"));
    assert!(content
        .iter()
        .filter(|e| e["type"] == "text")
        .all(|e| e["index"] == 3));
}

#[tokio::test]
async fn the_text_format_prints_only_the_answer() {
    let (_replay, url) = setup(Duration::ZERO, Config::default()).await;
    for name in [TOOL, REASONING, REDACTED, MAX_TOKENS, TITAN] {
        let (status, text, _, headers) = post(&format!("{url}/converse"), body(name), None).await;
        assert_eq!(status, 200, "{name}: {text}");
        assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
        let answer: String = recording(name)
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["payload"]["delta"]["text"].as_str())
            .collect();
        assert!(!answer.is_empty());
        assert_eq!(text, answer, "{name}");
    }
}

#[tokio::test]
async fn a_long_text_stream_ends_with_max_tokens_and_usage() {
    let (_replay, url) = setup(Duration::ZERO, Config::default()).await;
    for (name, accept) in [
        (MAX_TOKENS, "application/x-ndjson"),
        (TITAN, "text/event-stream"),
    ] {
        let (status, text, _, _) = post(&format!("{url}/converse"), body(name), Some(accept)).await;
        assert_eq!(status, 200, "{text}");
        let events = if accept.contains("ndjson") {
            parse_ndjson(&text)
        } else {
            parse_sse(&text)
        };
        let (done, content) = events.split_last().unwrap();
        assert_eq!(
            content,
            expected_events(&recording(name)).as_slice(),
            "{name}"
        );
        check_done(done, name);
        assert_eq!(done["stop_reason"], "max_tokens");
    }
}

// ---------------------------------------------------------------------------------------------
// Non-streaming: `Accept: application/json` / `?format=json` → Converse
// ---------------------------------------------------------------------------------------------

/// The recorded Converse body minus what this SDK does not model (Bedrock also sends the legacy
/// `cache…InputTokenCount` spellings and `serverToolUsage`; FACTS.md §4).
fn without_unmodelled(mut v: Value) -> Value {
    if let Some(u) = v["usage"].as_object_mut() {
        u.remove("cacheReadInputTokenCount");
        u.remove("cacheWriteInputTokenCount");
        u.remove("serverToolUsage");
    }
    v
}

#[tokio::test]
async fn converse_json_returns_every_recorded_response_as_bedrock_wrote_it() {
    let names = [
        "claude-sonnet4-reasoning-then-text",
        "claude3-sonnet-text-and-tool-use",
        "claude37-sonnet-cache-read",
        "claude37-sonnet-cache-write",
        "claude37-sonnet-redacted-reasoning",
        "deepseek-r1-text-then-reasoning",
        "gpt-oss-120b-reasoning-no-signature",
    ];
    let replies = names
        .iter()
        .map(|n| {
            let raw =
                std::fs::read(replay::fixtures_dir().join(format!("converse/{n}.json"))).unwrap();
            (*n, Reply::Json(raw))
        })
        .collect();
    let replay = Replay::start(replies, None, Duration::ZERO).await;
    let (url, _task) = serve_handler(sdk_client(&replay.url), Config::default()).await;
    for (i, name) in names.iter().enumerate() {
        // Both ways of asking.
        let (target, accept) = if i % 2 == 0 {
            (format!("{url}/converse?format=json"), None)
        } else {
            (format!("{url}/converse"), Some("application/json"))
        };
        let (status, text, _, headers) = post(&target, body(name), accept).await;
        assert_eq!(status, 200, "{name}: {text}");
        assert_eq!(headers["content-type"], "application/json");
        let got: Value = serde_json::from_str(&text).unwrap();
        let want = without_unmodelled(fixture_json(&format!("converse/{name}.json")));
        assert_eq!(got, want, "{name}");
    }
    // Pinned facts of the recordings, as they came out.
    let (_, text, _, _) = post(
        &format!("{url}/converse?format=json"),
        body("claude37-sonnet-cache-write"),
        None,
    )
    .await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["usage"]["cacheWriteInputTokens"], 1028);
    assert_eq!(v["usage"]["totalTokens"], 1303);
    let (_, text, _, _) = post(
        &format!("{url}/converse?format=json"),
        body("claude3-sonnet-text-and-tool-use"),
        None,
    )
    .await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["output"]["message"]["content"][1],
        json!({"toolUse": {"input": {"concept": "distributed tracing"}, "name": "fetch_concept",
                           "toolUseId": "tooluse_iPA5tRLlQ5qSvfeYGeQVPg"}})
    );
    assert_eq!(v["stopReason"], "tool_use");
}

/// A Converse body with every response member (what real recordings do not show: citations,
/// trace, performanceConfig, serviceTier, cacheDetails), read by the real SDK and written back.
#[tokio::test]
async fn converse_json_carries_every_response_member() {
    let assessment = json!({
        "topicPolicy": {"topics": [{"name": "investing", "type": "DENY", "action": "BLOCKED",
                                    "detected": true}]},
        "contentPolicy": {"filters": [{"type": "HATE", "confidence": "LOW",
                                       "filterStrength": "HIGH", "action": "NONE"}]},
        "wordPolicy": {"customWords": [{"match": "x", "action": "BLOCKED"}],
                       "managedWordLists": [{"match": "y", "type": "PROFANITY",
                                             "action": "BLOCKED"}]},
        "sensitiveInformationPolicy": {
            "piiEntities": [{"match": "a@b.c", "type": "EMAIL", "action": "ANONYMIZED"}],
            "regexes": [{"name": "n", "match": "m", "regex": "r", "action": "NONE"}]},
        "contextualGroundingPolicy": {"filters": [{"type": "RELEVANCE", "threshold": 0.5,
                                                   "score": 0.25, "action": "NONE"}]},
        "automatedReasoningPolicy": {"findings": [
            {"satisfiable": {"claimsTrueScenario": {"statements": [{"logic": "a"}]},
                             "claimsFalseScenario": {"statements": [{"naturalLanguage": "b"}]}}},
            {"noTranslations": {}}]},
        "invocationMetrics": {"guardrailProcessingLatency": 7,
            "usage": {"topicPolicyUnits": 1, "contentPolicyUnits": 1, "wordPolicyUnits": 1,
                      "sensitiveInformationPolicyUnits": 1,
                      "sensitiveInformationPolicyFreeUnits": 0,
                      "contextualGroundingPolicyUnits": 0, "contentPolicyImageUnits": 2},
            "guardrailCoverage": {"images": {"guarded": 1, "total": 2}}},
        "appliedGuardrailDetails": {"guardrailId": "g", "guardrailVersion": "1",
            "guardrailArn": "arn:aws:bedrock:us-east-1:1:guardrail/g",
            "guardrailOrigin": ["ACCOUNT_ENFORCED"], "guardrailOwnership": "CROSS_ACCOUNT"}
    });
    let response = json!({
        "output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "think", "signature": "c2ln"}}},
            {"citationsContent": {
                "content": [{"text": "Paris is the capital."}],
                "citations": [{"title": "atlas", "source": "doc-1",
                               "sourceContent": [{"text": "Paris, capital of France"}],
                               "location": {"documentChar": {"documentIndex": 0, "start": 0,
                                                             "end": 24}}}]}},
            {"text": "Anything else?"},
            {"toolUse": {"toolUseId": "t1", "name": "search", "input": {"q": "x", "n": 2}}}
        ]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 10, "outputTokens": 20, "totalTokens": 1054,
                  "cacheReadInputTokens": 0, "cacheWriteInputTokens": 1024,
                  "cacheDetails": [{"ttl": "1h", "inputTokens": 1024}]},
        "metrics": {"latencyMs": 321},
        "additionalModelResponseFields": {"stop_sequence": null, "n": [1, 2.5]},
        "trace": {"guardrail": {"modelOutput": ["raw"],
                                "inputAssessment": {"g": assessment},
                                "outputAssessments": {"g": [assessment]},
                                "actionReason": "No action."},
                  "promptRouter": {"invokedModelId": "arn:aws:bedrock:us-east-1::foundation-model/m"}},
        "performanceConfig": {"latency": "optimized"},
        "serviceTier": {"type": "priority"}
    });
    let replay = Replay::start(
        vec![("m", Reply::Json(serde_json::to_vec(&response).unwrap()))],
        None,
        Duration::ZERO,
    )
    .await;
    let (url, _task) = serve_handler(sdk_client(&replay.url), Config::default()).await;
    let (status, text, _, _) = post(&format!("{url}/converse?format=json"), body("m"), None).await;
    assert_eq!(status, 200, "{text}");
    let got: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(got, response);
}

/// A ConverseStream the recordings do not show (citations, a server tool's result, trace,
/// performanceConfig, serviceTier, cache tokens, additional response fields), framed as
/// Bedrock frames it, read by the real SDK.
#[tokio::test]
async fn a_stream_with_citations_server_tools_and_a_guardrail_trace() {
    use bedrock_local::wire::converse_event_frame as frame;
    let trace = json!({"guardrail": {"inputAssessment": {"g": {"wordPolicy": {
        "customWords": [{"match": "x", "action": "BLOCKED", "detected": true}],
        "managedWordLists": []}}}, "actionReason": "blocked"},
        "promptRouter": {"invokedModelId": "m2"}});
    let frames = vec![
        frame("messageStart", json!({"role": "assistant"}), 0),
        frame(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "Paris"}}),
            1,
        ),
        frame(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"citation": {
            "title": "atlas", "source": "doc-1", "sourceContent": [{"text": "Paris, capital"}],
            "location": {"web": {"url": "https://example.com/a", "domain": "example.com"}}}}}),
            2,
        ),
        frame("contentBlockStop", json!({"contentBlockIndex": 0}), 3),
        frame(
            "contentBlockStart",
            json!({"contentBlockIndex": 1, "start": {"toolUse": {
            "toolUseId": "s1", "name": "nova_grounding", "type": "server_tool_use"}}}),
            4,
        ),
        frame(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{}"}}}),
            5,
        ),
        frame("contentBlockStop", json!({"contentBlockIndex": 1}), 6),
        frame(
            "contentBlockStart",
            json!({"contentBlockIndex": 2, "start": {"toolResult": {
            "toolUseId": "s1", "status": "success"}}}),
            7,
        ),
        frame(
            "contentBlockDelta",
            json!({"contentBlockIndex": 2, "delta": {"toolResult": [
            {"text": "found it"}, {"json": {"hits": 1}}]}}),
            8,
        ),
        frame("contentBlockStop", json!({"contentBlockIndex": 2}), 9),
        frame(
            "messageStop",
            json!({"stopReason": "end_turn",
            "additionalModelResponseFields": {"stop_sequence": null}}),
            10,
        ),
        frame(
            "metadata",
            json!({"usage": {"inputTokens": 5, "outputTokens": 7, "totalTokens": 112,
            "cacheReadInputTokens": 100, "cacheWriteInputTokens": 0},
            "metrics": {"latencyMs": 99}, "trace": trace,
            "performanceConfig": {"latency": "standard"}, "serviceTier": {"type": "flex"}}),
            11,
        ),
    ];
    let replay = Replay::start(vec![("m", Reply::Frames(frames))], None, Duration::ZERO).await;
    let (url, _task) = serve_handler(sdk_client(&replay.url), Config::default()).await;
    let (status, text, _, _) =
        post(&format!("{url}/converse?format=ndjson"), body("m"), None).await;
    assert_eq!(status, 200, "{text}");
    let events = parse_ndjson(&text);
    let (done, content) = events.split_last().unwrap();
    assert_eq!(
        content,
        [
            json!({"type": "text", "index": 0, "text": "Paris"}),
            json!({"type": "citation", "index": 0, "citation": {"title": "atlas",
                "source": "doc-1", "sourceContent": [{"text": "Paris, capital"}],
                "location": {"web": {"url": "https://example.com/a", "domain": "example.com"}}}}),
            json!({"type": "block_stop", "index": 0}),
            json!({"type": "tool_use", "index": 1, "id": "s1", "name": "nova_grounding"}),
            json!({"type": "tool_input", "index": 1, "input": "{}"}),
            json!({"type": "block_stop", "index": 1}),
            json!({"type": "raw", "chunk": {"contentBlockStart": {"contentBlockIndex": 2,
                "start": {"toolResult": {"toolUseId": "s1", "status": "success"}}}}}),
            json!({"type": "raw", "chunk": {"contentBlockDelta": {"contentBlockIndex": 2,
                "delta": {"toolResult": [{"text": "found it"}, {"json": {"hits": 1}}]}}}}),
            json!({"type": "block_stop", "index": 2}),
        ]
    );
    assert_eq!(done["type"], "done");
    assert_eq!(done["stop_reason"], "end_turn");
    assert_eq!(
        done["additional_model_response_fields"],
        json!({"stop_sequence": null})
    );
    assert_eq!(done["cache_read_input_tokens"], 100);
    assert_eq!(done["cache_write_input_tokens"], 0);
    assert_eq!(done["bedrock_latency_ms"], 99);
    assert_eq!(done["trace"], trace);
    assert_eq!(done["performance_config"], json!({"latency": "standard"}));
    assert_eq!(done["service_tier"], json!({"type": "flex"}));

    // The text format: the answer only, not the server tool's result.
    let (status, text, _, _) = post(&format!("{url}/converse"), body("m"), None).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(text, "Paris");
}

// ---------------------------------------------------------------------------------------------
// Request direction: what the SDK put on the wire
// ---------------------------------------------------------------------------------------------

/// A Converse request with every member and every content-block kind.
fn full_request() -> Value {
    json!({
        "modelId": "m",
        "system": [
            {"text": "be brief"},
            {"guardContent": {"text": {"text": "policy", "qualifiers": ["guard_content"]}}},
            {"cachePoint": {"type": "default", "ttl": "5m"}}
        ],
        "messages": [
            {"role": "user", "content": [
                {"text": "look"},
                {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}},
                {"image": {"format": "jpeg", "source": {"s3Location": {"uri": "s3://b/i.jpg",
                                                                        "bucketOwner": "111122223333"}}}},
                {"document": {"format": "pdf", "name": "report", "source": {"bytes": "JVBERi0xLjQ="},
                              "context": "Q3", "citations": {"enabled": true}}},
                {"document": {"format": "md", "name": "notes", "source": {"content": [{"text": "# hi"}]}}},
                {"video": {"format": "mp4", "source": {"s3Location": {"uri": "s3://b/v.mp4"}}}},
                {"audio": {"format": "wav", "source": {"bytes": "UklGRg=="}}},
                {"guardContent": {"image": {"format": "jpeg", "source": {"bytes": "/9j/"}}}},
                {"searchResult": {"source": "kb://1", "title": "T", "content": [{"text": "s"}],
                                  "citations": {"enabled": true}}},
                {"cachePoint": {"type": "default"}}
            ]},
            {"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig"}}},
                {"reasoningContent": {"redactedContent": "AQID"}},
                {"citationsContent": {"content": [{"text": "c"}], "citations": [
                    {"title": "t", "location": {"documentPage": {"documentIndex": 0, "start": 1, "end": 2}}}]}},
                {"text": "calling"},
                {"toolUse": {"toolUseId": "t1", "name": "get_weather",
                             "input": {"city": "Paris", "days": [1, 2], "x": {"y": null}}}}
            ]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "t1", "status": "success", "content": [
                    {"json": {"temp": 21.5}}, {"text": "sunny"},
                    {"image": {"format": "gif", "source": {"bytes": "R0lGOA=="}}},
                    {"document": {"format": "txt", "name": "raw", "source": {"text": "t"}}},
                    {"video": {"format": "webm", "source": {"bytes": "GkXfow=="}}},
                    {"searchResult": {"source": "s", "title": "t", "content": [{"text": "c"}]}}
                ]}}
            ]}
        ],
        "toolConfig": {
            "tools": [
                {"toolSpec": {"name": "get_weather", "description": "weather",
                              "inputSchema": {"json": {"type": "object",
                                  "properties": {"city": {"type": "string"}}, "required": ["city"]}},
                              "strict": true}},
                {"systemTool": {"name": "nova_grounding"}},
                {"cachePoint": {"type": "default"}}
            ],
            "toolChoice": {"tool": {"name": "get_weather"}}
        },
        "inferenceConfig": {"maxTokens": 100, "temperature": 0.5, "topP": 0.25,
                            "stopSequences": ["END"]},
        "guardrailConfig": {"guardrailIdentifier": "gr-1", "guardrailVersion": "2",
                            "trace": "enabled", "streamProcessingMode": "async"},
        "additionalModelRequestFields": {"top_k": 5, "nested": {"a": [true, 1.5]}},
        "promptVariables": {"city": {"text": "Paris"}},
        "additionalModelResponseFieldPaths": ["/stop_sequence"],
        "requestMetadata": {"team": "a"},
        "performanceConfig": {"latency": "optimized"},
        "serviceTier": {"type": "priority"},
        "outputConfig": {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {
            "schema": "{\"type\":\"object\"}", "name": "answer", "description": "d"}}}}
    })
}

#[tokio::test]
async fn every_request_member_reaches_the_wire_unchanged() {
    let replay = Replay::start(vec![], Some(stream_reply(TITAN)), Duration::ZERO).await;
    let (url, _task) = serve_handler(sdk_client(&replay.url), Config::default()).await;
    let req = full_request();
    let (status, text, _, _) = post(
        &format!("{url}/converse?format=ndjson"),
        req.to_string(),
        None,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let sent = replay.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].model_id, "m");
    assert_eq!(sent[0].operation, "converse-stream");
    let mut want = req.clone();
    want.as_object_mut().unwrap().remove("modelId");
    assert_eq!(sent[0].body, want);
}

#[tokio::test]
async fn the_non_streaming_call_sends_the_same_request() {
    let fixture = std::fs::read(
        replay::fixtures_dir().join("converse/claude3-sonnet-text-and-tool-use.json"),
    )
    .unwrap();
    let replay = Replay::start(vec![], Some(Reply::Json(fixture)), Duration::ZERO).await;
    let (url, _task) = serve_handler(sdk_client(&replay.url), Config::default()).await;
    let mut req = full_request();
    // Converse's guardrailConfig has no streamProcessingMode: refused by name, not dropped.
    let (status, text, _, _) = post(
        &format!("{url}/converse?format=json"),
        req.to_string(),
        None,
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("guardrailConfig.streamProcessingMode"),
        "{text}"
    );
    assert!(replay.requests().is_empty());

    req["guardrailConfig"]
        .as_object_mut()
        .unwrap()
        .remove("streamProcessingMode");
    let (status, text, _, _) = post(
        &format!("{url}/converse"),
        req.to_string(),
        Some("application/json"),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let sent = replay.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].operation, "converse");
    let mut want = req;
    want.as_object_mut().unwrap().remove("modelId");
    assert_eq!(sent[0].body, want);
}

#[tokio::test]
async fn what_the_sdk_cannot_carry_is_a_400_naming_it() {
    let replay = Replay::start(vec![], Some(stream_reply(TITAN)), Duration::ZERO).await;
    let (url, _task) = serve_handler(sdk_client(&replay.url), Config::default()).await;
    let cases = [
        (
            json!({"modelId": "m", "messages": [{"role": "user", "content": [
                {"text": "x"},
                {"document": {"name": "d", "source": {"bytes": "JVBERi0="}}}]}]}),
            "messages.0.content.1.document.format",
        ),
        (
            json!({"modelId": "m", "messages": [{"role": "user", "content": [{"text": "x"}]}],
                   "guardrailConfig": {"trace": "enabled"}}),
            "guardrailConfig: guardrailIdentifier and guardrailVersion",
        ),
        (
            json!({"modelId": "m", "messages": [{"role": "user", "content": [{"pictur": {}}]}]}),
            "pictur",
        ),
    ];
    for (req, named) in cases {
        let (status, text, _, _) =
            post(&format!("{url}/converse?format=sse"), req.to_string(), None).await;
        assert_eq!(status, 400, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["type"], "bad_request");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(named),
            "{text}"
        );
    }
    assert!(replay.requests().is_empty(), "nothing reached Bedrock");
}

#[tokio::test]
async fn max_output_tokens_caps_the_family_s_own_keys_too() {
    let replay = Replay::start(vec![], Some(stream_reply(TITAN)), Duration::ZERO).await;
    let config = Config {
        max_output_tokens: Some(64),
        ..Config::default()
    };
    let (url, _task) = serve_handler(sdk_client(&replay.url), config).await;
    let req = json!({"modelId": "us.amazon.nova-pro-v1:0",
        "messages": [{"role": "user", "content": [{"text": "x"}]}],
        "inferenceConfig": {"maxTokens": 1000},
        "additionalModelRequestFields": {"inferenceConfig": {"max_new_tokens": 5000, "topK": 3}}});
    let (status, text, _, _) = post(
        &format!("{url}/converse?format=ndjson"),
        req.to_string(),
        None,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let sent = &replay.requests()[0];
    assert_eq!(sent.model_id, "us.amazon.nova-pro-v1:0");
    assert_eq!(sent.body["inferenceConfig"]["maxTokens"], 64);
    assert_eq!(
        sent.body["additionalModelRequestFields"],
        json!({"inferenceConfig": {"max_new_tokens": 64, "topK": 3}})
    );
}

// ---------------------------------------------------------------------------------------------
// curl
// ---------------------------------------------------------------------------------------------

/// Real `curl` against the served handler, sse and ndjson, as the README shows it.
#[tokio::test]
async fn curl_streams_tool_use_in_sse_and_ndjson() {
    let (_replay, url) = setup(Duration::from_millis(5), Config::default()).await;
    let expected = expected_events(&recording(TOOL));
    for (accept, sse) in [("text/event-stream", true), ("application/x-ndjson", false)] {
        let out = tokio::process::Command::new("curl")
            .args([
                "--silent",
                "--show-error",
                "--no-buffer",
                "--fail-with-body",
                "--max-time",
                "30",
                "-H",
                &format!("accept: {accept}"),
                "-H",
                "content-type: application/json",
                "--data-binary",
                &body(TOOL),
                &format!("{url}/converse"),
            ])
            .output()
            .await
            .expect("curl must be installed to run this test");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let events = if sse {
            parse_sse(&text)
        } else {
            parse_ndjson(&text)
        };
        let (done, content) = events.split_last().unwrap();
        assert_eq!(content, expected.as_slice(), "{accept}");
        check_done(done, TOOL);
    }
}
