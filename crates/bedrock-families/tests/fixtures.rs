//! The families against real Bedrock answers (tests/fixtures, provenance in SOURCES.md): every
//! recorded stream and body decodes to the text, tool calls, reasoning, stop reason and usage
//! it holds; each family's encoder, given the same answer, writes chunks of the same shape
//! (keys, value types, chunk order) as the recording; the raw `.eventstream.b64` recordings
//! decode (with aws-smithy-eventstream, as the SDKs read them) to the chunks of their `.json`;
//! and the request parsers give Bedrock's own validation messages.
//!
//! Not covered, for want of a real recording (tests/fixtures/FACTS.md §7) — do not invent them:
//! - Anthropic Messages extended thinking over InvokeModel (`thinking_delta`, `signature_delta`,
//!   `redacted_thinking`): the encoder follows Anthropic's streaming docs; tested by round trip.
//! - Cohere Command R/R+ streams and tool calls; token-by-token Cohere Command streams (the
//!   real Cohere recordings are `stream: false` single chunks: decoded here, but the encoder,
//!   which streams tokens, is not compared with them).
//! - Mistral streams (text and chat) and Mistral chat bodies with `tool_calls`.
//! - AI21 Jamba, gpt-oss, Qwen, DeepSeek over InvokeModel (gpt-oss `<reasoning>` content,
//!   DeepSeek R1 text chunks): round trip only. The OpenAI-shaped recording is a text answer
//!   (`us.openai.gpt-6-sol`), so tool-call deltas are tested by round trip only.
//! - Nova `reasoningContent` over InvokeModel.
//! - Converse encoders: families has none (the local endpoint writes ConverseStream events with
//!   `converse::ConverseStreamEvent`, whose payloads are checked against the recordings here).
//! - Error fixtures that are Converse- or catalog-level rules (tool config, roles, documents,
//!   images, model ids, throttling): the local endpoint's validation, not a family parser;
//!   [`every_error_fixture_is_accounted_for`] lists which test covers which.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use bedrock_families::converse as cv;
use bedrock_families::{
    attach_invocation_metrics, BlockEvent, BlockStart, ChunkDecoder, ChunkInfo, Delta, Family,
    InvocationMetrics, StopReason, Usage,
};
use serde_json::{json, Value};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn load(rel: &str) -> Value {
    let path = dir().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn chunks(rel: &str) -> Vec<Value> {
    load(rel).as_array().unwrap().clone()
}

fn files(sub: &str, suffix: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir().join(sub))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(suffix))
        .map(|n| format!("{sub}/{n}"))
        .collect();
    out.sort();
    out
}

// ---------------------------------------------------------------------------------------------
// What a decoder read from a whole stream
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Read {
    text: String,
    /// Text per block index.
    texts: BTreeMap<u32, String>,
    /// (index, id, name, input fragments joined).
    tools: Vec<(u32, String, String, String)>,
    reasoning: String,
    signature: String,
    redacted: Vec<Vec<u8>>,
    stops: Vec<u32>,
    stop_reason: Option<String>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read: Option<u64>,
    cache_write: Option<u64>,
    metrics: Option<InvocationMetrics>,
    events: Vec<BlockEvent>,
}

impl Read {
    fn take(&mut self, info: ChunkInfo) {
        if let Some(t) = &info.text {
            self.text.push_str(t);
            self.texts.entry(info.text_index).or_default().push_str(t);
            self.events.push(BlockEvent::Delta {
                index: info.text_index,
                delta: Delta::Text(t.clone()),
            });
        }
        for e in info.events {
            match &e {
                BlockEvent::Start {
                    index,
                    start: BlockStart::ToolUse { id, name },
                } => self
                    .tools
                    .push((*index, id.clone(), name.clone(), String::new())),
                BlockEvent::Start { .. } => {}
                BlockEvent::Delta { index, delta } => match delta {
                    Delta::Text(t) => {
                        self.text.push_str(t);
                        self.texts.entry(*index).or_default().push_str(t);
                    }
                    Delta::ToolInput(s) => {
                        let tool = self.tools.iter_mut().find(|t| t.0 == *index).unwrap();
                        tool.3.push_str(s);
                    }
                    Delta::Reasoning(t) => self.reasoning.push_str(t),
                    Delta::ReasoningSignature(s) => self.signature.push_str(s),
                    Delta::RedactedReasoning(b) => self.redacted.push(b.clone()),
                    Delta::Citation(_) => {}
                },
                BlockEvent::Stop { index } => self.stops.push(*index),
            }
            self.events.push(e);
        }
        if info.stop_reason.is_some() {
            self.stop_reason = info.stop_reason;
        }
        self.input_tokens = info.input_tokens.or(self.input_tokens);
        self.output_tokens = info.output_tokens.or(self.output_tokens);
        self.cache_read = info.cache_read_input_tokens.or(self.cache_read);
        self.cache_write = info.cache_write_input_tokens.or(self.cache_write);
        self.metrics = info.metrics.or(self.metrics);
    }

    fn tool_input(&self, i: usize) -> Value {
        serde_json::from_str(&self.tools[i].3).unwrap()
    }
}

/// Decodes a recorded stream; every chunk must be recognised and sniffed as `family`.
fn read(rel: &str, family: Family) -> Read {
    let mut decoder = ChunkDecoder::new(family);
    let mut out = Read::default();
    for c in chunks(rel) {
        let sniffed = Family::from_chunk(&c);
        // Mistral chat chunks look like OpenAI's; Cohere R's like Cohere's.
        assert!(
            sniffed == Some(family)
                || (family == Family::CohereChat && sniffed == Some(Family::Cohere)),
            "{rel}: {c} sniffed as {sniffed:?}"
        );
        let info = decoder.decode(&c);
        assert!(info.recognised, "{rel}: {c}");
        out.take(info);
    }
    out
}

fn metrics(input: u64, output: u64, latency: u64, first_byte: u64) -> Option<InvocationMetrics> {
    Some(InvocationMetrics {
        input_token_count: input,
        output_token_count: output,
        invocation_latency: latency,
        first_byte_latency: first_byte,
    })
}

// ---------------------------------------------------------------------------------------------
// Decoding: invoke-stream/*.json
// ---------------------------------------------------------------------------------------------

#[test]
fn anthropic_messages_text_claude_v2() {
    let r = read(
        "invoke-stream/anthropic-messages-text-claude-v2.json",
        Family::AnthropicMessages,
    );
    assert_eq!(r.text, "Okay, I will say \"This is a test");
    assert_eq!(r.texts.keys().copied().collect::<Vec<_>>(), vec![0]);
    assert_eq!(r.stops, vec![0]);
    assert_eq!(r.stop_reason.as_deref(), Some("max_tokens"));
    assert_eq!(r.input_tokens, Some(14));
    assert_eq!(r.output_tokens, Some(10));
    assert_eq!(r.metrics, metrics(14, 10, 597, 293));
}

#[test]
fn anthropic_messages_tool_use_claude35_sonnet() {
    let r = read(
        "invoke-stream/anthropic-messages-tool-use-claude35-sonnet.json",
        Family::AnthropicMessages,
    );
    assert_eq!(
        r.text,
        "Certainly! I'll use the get_current_weather function to check the weather for both \
         Seattle and San Francisco. I'll make two separate function calls within the same block \
         for these cities."
    );
    assert_eq!(r.tools.len(), 2);
    assert_eq!(
        (r.tools[0].0, r.tools[0].1.as_str(), r.tools[0].2.as_str()),
        (
            1,
            "toolu_bdrk_01KatiGijVFb9yuMPcnVk38e",
            "get_current_weather"
        )
    );
    assert_eq!(r.tool_input(0), json!({"location": "Seattle"}));
    assert_eq!(
        (r.tools[1].0, r.tools[1].1.as_str()),
        (2, "toolu_bdrk_01Tzb35EydKHWz4UZP3puTbF")
    );
    assert_eq!(r.tool_input(1), json!({"location": "San Francisco"}));
    // The fragments arrive as recorded (the empty first one is not an event).
    let fragments: Vec<&str> = r
        .events
        .iter()
        .filter_map(|e| match e {
            BlockEvent::Delta {
                index: 1,
                delta: Delta::ToolInput(s),
            } => Some(s.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(fragments, ["{\"locatio", "n\": \"Seatt", "le\"}"]);
    assert_eq!(r.stops, vec![0, 1, 2]);
    assert_eq!(r.stop_reason.as_deref(), Some("tool_use"));
    assert_eq!(r.input_tokens, Some(392));
    // message_delta says 134, the metrics 90 (FACTS.md §2): the decoder reports both.
    assert_eq!(r.output_tokens, Some(90));
    assert_eq!(r.metrics, metrics(392, 90, 3722, 779));
    let recorded = chunks("invoke-stream/anthropic-messages-tool-use-claude35-sonnet.json");
    let message_delta = recorded
        .iter()
        .find(|c| c["type"] == "message_delta")
        .unwrap();
    let delta = ChunkDecoder::new(Family::AnthropicMessages).decode(message_delta);
    assert_eq!(delta.output_tokens, Some(134));
}

#[test]
fn anthropic_text_stop_sequence_claude_instant() {
    let r = read(
        "invoke-stream/anthropic-text-stop-sequence-claude-instant.json",
        Family::AnthropicText,
    );
    assert_eq!(r.text, "");
    assert_eq!(r.stop_reason.as_deref(), Some("stop_sequence"));
    assert_eq!(r.metrics, metrics(25, 4, 266, 266));
    assert_eq!(r.input_tokens, Some(25));
}

#[test]
fn cohere_stream_false_single_and_two_generations() {
    let r = read(
        "invoke-stream/cohere-stream-false-single-generation.json",
        Family::Cohere,
    );
    assert!(!r.text.is_empty());
    assert_eq!(r.texts.len(), 1);
    assert_eq!(r.stop_reason.as_deref(), Some("MAX_TOKENS"));
    assert!(r.metrics.is_some());
    let r = read(
        "invoke-stream/cohere-stream-false-two-generations.json",
        Family::Cohere,
    );
    assert_eq!(r.texts[&0], " The Latin phrase *lorum ipsum* arguably");
    assert_eq!(r.texts[&1], " Lorem ipsum is a Latin phrase, which");
    assert_eq!(r.stops, vec![0, 1]);
    assert_eq!(r.stop_reason.as_deref(), Some("MAX_TOKENS"));
}

#[test]
fn llama_text_llama2_13b() {
    let r = read("invoke-stream/llama-text-llama2-13b.json", Family::Llama);
    assert_eq!(r.text, "\n\nThe text you");
    assert_eq!(r.stop_reason.as_deref(), Some("length"));
    assert_eq!(r.input_tokens, Some(10));
    assert_eq!(r.output_tokens, Some(5));
    assert_eq!(r.metrics, metrics(10, 5, 267, 173));
}

#[test]
fn nova_text_micro_is_one_text_block() {
    let r = read("invoke-stream/nova-text-micro.json", Family::Nova);
    assert_eq!(r.text, "It sounds like you're initiating a message or");
    // Ten Nova blocks of one piece each read as one Converse text block.
    assert_eq!(r.texts.keys().copied().collect::<Vec<_>>(), vec![0]);
    assert_eq!(r.stops, vec![0]);
    assert_eq!(r.stop_reason.as_deref(), Some("max_tokens"));
    assert_eq!((r.input_tokens, r.output_tokens), (Some(5), Some(10)));
}

#[test]
fn nova_tool_use_micro() {
    let r = read("invoke-stream/nova-tool-use-micro.json", Family::Nova);
    assert_eq!(
        r.text,
        "<thinking> The User has requested the current weather in Seattle and San Francisco. I \
         need to use the \"get_current_weather\" tool for each city separately. I will make two \
         tool calls, one for each city.</thinking>\n"
    );
    assert_eq!(r.tools.len(), 2);
    assert_eq!(
        (r.tools[0].0, r.tools[0].1.as_str(), r.tools[0].2.as_str()),
        (
            1,
            "3cd5c4df-1540-4fed-933f-707f9ca8286c",
            "get_current_weather"
        )
    );
    assert_eq!(r.tool_input(0), json!({"location": "Seattle"}));
    assert_eq!(
        (r.tools[1].0, r.tools[1].1.as_str()),
        (2, "2e97e0b0-bef4-4d65-9774-e61de7bc454c")
    );
    assert_eq!(r.tool_input(1), json!({"location": "San Francisco"}));
    assert_eq!(r.stops, vec![0, 1, 2]);
    assert_eq!(r.stop_reason.as_deref(), Some("tool_use"));
    assert_eq!((r.input_tokens, r.output_tokens), (Some(427), Some(156)));
    assert_eq!((r.cache_read, r.cache_write), (Some(0), Some(0)));
    assert_eq!(r.metrics, metrics(427, 156, 433, 61));
}

#[test]
fn openai_chat_gpt6_sol_usage() {
    let r = read(
        "invoke-stream/openai-chat-gpt6-sol-usage.json",
        Family::OpenAiChat,
    );
    assert_eq!(r.text, "1, 2, 3, 4, 5");
    assert!(r.tools.is_empty() && r.reasoning.is_empty());
    assert_eq!(r.stops, vec![0]);
    assert_eq!(r.stop_reason.as_deref(), Some("stop"));
    assert_eq!((r.input_tokens, r.output_tokens), (Some(12), Some(17)));
    assert_eq!((r.cache_read, r.cache_write), (Some(0), Some(0)));
    assert_eq!(r.metrics, metrics(12, 17, 718, 705));
}

#[test]
fn titan_text_lite_and_tg1_large() {
    let r = read("invoke-stream/titan-text-lite.json", Family::Titan);
    assert_eq!(r.text, "\nHello! I am a computer program designed to");
    assert_eq!(r.stop_reason.as_deref(), Some("LENGTH"));
    assert_eq!((r.input_tokens, r.output_tokens), (Some(5), Some(10)));
    let r = read("invoke-stream/titan-text-tg1-large.json", Family::Titan);
    assert!(r
        .text
        .starts_with("\nDatadog is a monitoring and analytics platform"));
    assert!(r.text.ends_with("businesses can identify performance"));
    assert_eq!(r.stop_reason.as_deref(), Some("LENGTH"));
    assert_eq!(r.output_tokens, Some(51));
}

// ---------------------------------------------------------------------------------------------
// Decoding: invoke/*.json (non-streaming bodies)
// ---------------------------------------------------------------------------------------------

fn body(rel: &str, family: Family) -> Read {
    let info = family.decode_response(&load(rel));
    assert!(info.recognised, "{rel}");
    let mut r = Read::default();
    r.take(info);
    r
}

#[test]
fn invoke_bodies_decode() {
    let r = body(
        "invoke/anthropic-messages-text-claude-v2.json",
        Family::AnthropicMessages,
    );
    assert_eq!(r.text, "Okay, I said \"This is a test\"");
    assert_eq!(r.stop_reason.as_deref(), Some("max_tokens"));

    let r = body("invoke/cohere-chat-command-r.json", Family::CohereChat);
    assert_eq!(r.text, "This is a test. How are you doing today");
    assert_eq!(r.stop_reason.as_deref(), Some("MAX_TOKENS"));
    assert_eq!(r.input_tokens, None, "Command R bodies carry no usage");

    let r = body("invoke/cohere-text-command-light.json", Family::Cohere);
    assert_eq!(r.text, " Let it be a test of knowledge, skills,");
    assert_eq!(r.stop_reason.as_deref(), Some("MAX_TOKENS"));

    let r = body("invoke/llama-text-llama31-70b.json", Family::Llama);
    assert_eq!(r.text, " post. This is a test post. This is");
    assert_eq!((r.input_tokens, r.output_tokens), (Some(5), Some(10)));
    assert_eq!(r.stop_reason.as_deref(), Some("length"));

    let r = body("invoke/mistral-text-7b-instruct.json", Family::Mistral);
    assert_eq!(r.text, "\n\nA man stands before a crowd of people");
    assert_eq!(r.stop_reason.as_deref(), Some("length"));

    let r = body("invoke/nova-text-micro.json", Family::Nova);
    assert_eq!(r.text, "It sounds like you might be in the middle of");
    assert_eq!((r.input_tokens, r.output_tokens), (Some(5), Some(10)));

    let r = body("invoke/nova-tool-use-micro.json", Family::Nova);
    assert!(r
        .text
        .starts_with("<thinking> The User has asked for the current weather"));
    assert_eq!(r.tools.len(), 1);
    assert_eq!(r.tools[0].1, "f138f98b-8fa4-46e8-8d0f-6a3da738bb1d");
    assert_eq!(r.tools[0].2, "get_weather");
    assert_eq!(r.tool_input(0), json!({"location": "Seattle"}));
    assert_eq!(r.stop_reason.as_deref(), Some("tool_use"));
    assert_eq!((r.input_tokens, r.output_tokens), (Some(408), Some(54)));
    assert_eq!((r.cache_read, r.cache_write), (Some(0), Some(0)));

    let r = body("invoke/openai-chat-gpt6-sol.json", Family::OpenAiChat);
    assert_eq!(r.text, "pong");
    assert_eq!(r.stop_reason.as_deref(), Some("stop"));
    assert_eq!((r.input_tokens, r.output_tokens), (Some(17), Some(5)));

    let r = body("invoke/titan-text-lite.json", Family::Titan);
    assert_eq!(r.text, " comment\nHello! How are you?");
    assert_eq!(r.stop_reason.as_deref(), Some("FINISH"));
    assert_eq!((r.input_tokens, r.output_tokens), (Some(5), Some(9)));
}

// ---------------------------------------------------------------------------------------------
// Raw recordings: .eventstream.b64 → the same chunks as the .json
// ---------------------------------------------------------------------------------------------

/// The frames of a raw recording: (`:event-type`, payload JSON), with the headers checked.
fn frames(rel: &str) -> Vec<(String, Value)> {
    let b64: String = std::fs::read_to_string(dir().join(rel))
        .unwrap()
        .split_whitespace()
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let mut buf: &[u8] = &bytes;
    let mut out = Vec::new();
    while !buf.is_empty() {
        let message = aws_smithy_eventstream::frame::read_message_from(&mut buf)
            .unwrap_or_else(|e| panic!("{rel}: frame {}: {e}", out.len()));
        let header = |name: &str| -> String {
            let h = message
                .headers()
                .iter()
                .find(|h| h.name().as_str() == name)
                .unwrap_or_else(|| panic!("{rel}: no {name}"));
            h.value().as_string().unwrap().as_str().to_string()
        };
        assert_eq!(header(":content-type"), "application/json", "{rel}");
        assert_eq!(header(":message-type"), "event", "{rel}");
        let payload: Value = serde_json::from_slice(message.payload()).unwrap();
        out.push((header(":event-type"), payload));
        assert!(out.len() < 10_000);
    }
    out
}

#[test]
fn raw_invoke_stream_recordings_give_the_json_chunks() {
    let raws = files("invoke-stream", ".eventstream.b64");
    assert_eq!(raws.len(), 11);
    for rel in raws {
        let expected = chunks(&rel.replace(".eventstream.b64", ".json"));
        let got: Vec<Value> = frames(&rel)
            .into_iter()
            .map(|(event, payload)| {
                assert_eq!(event, "chunk", "{rel}");
                let b = payload["bytes"].as_str().unwrap();
                let json = base64::engine::general_purpose::STANDARD.decode(b).unwrap();
                // Padding, where present, is a prefix of Bedrock's alphabet.
                if let Some(p) = payload.get("p").and_then(Value::as_str) {
                    assert!(
                        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                            .starts_with(p),
                        "{rel}"
                    );
                }
                serde_json::from_slice(&json).unwrap()
            })
            .collect();
        assert_eq!(got, expected, "{rel}");
    }
}

#[test]
fn raw_converse_stream_recordings_give_the_json_events() {
    let raws = files("converse-stream", ".eventstream.b64");
    assert_eq!(raws.len(), 5);
    for rel in raws {
        let expected = chunks(&rel.replace(".eventstream.b64", ".json"));
        let got: Vec<Value> = frames(&rel)
            .into_iter()
            .map(|(event, payload)| json!({"event": event, "payload": payload}))
            .collect();
        assert_eq!(got, expected, "{rel}");
    }
}

// ---------------------------------------------------------------------------------------------
// Converse: the serde types read the recordings, and write back what Bedrock wrote
// ---------------------------------------------------------------------------------------------

/// The ConverseStream events of a recording, each checked to serialise back to its payload.
fn converse_events(rel: &str) -> Vec<cv::ConverseStreamEvent> {
    chunks(rel)
        .into_iter()
        .map(|e| {
            let name = e["event"].as_str().unwrap().to_string();
            let mut payload = e["payload"].clone();
            payload.as_object_mut().unwrap().remove("p");
            let event: cv::ConverseStreamEvent =
                serde_json::from_value(json!({ name.clone(): payload.clone() }))
                    .unwrap_or_else(|err| panic!("{rel} {name}: {err}"));
            assert_eq!(event.event_type(), name);
            let mut written = event.payload();
            // Members Bedrock adds that the types do not model (`serverToolUsage`).
            if let Some(u) = payload.pointer_mut("/usage").and_then(Value::as_object_mut) {
                u.remove("serverToolUsage");
            }
            if let Some(u) = written.pointer_mut("/usage").and_then(Value::as_object_mut) {
                u.remove("serverToolUsage");
            }
            assert_eq!(written, payload, "{rel}: {name} writes back differently");
            event
        })
        .collect()
}

#[test]
fn converse_streams_read_and_write_back() {
    use cv::{ContentBlockDelta as D, ConverseStreamEvent as E, ReasoningContentBlockDelta as R};
    // Reasoning then text (Claude Sonnet 4).
    let events = converse_events("converse-stream/claude-sonnet4-reasoning-then-text.json");
    let mut reasoning = String::new();
    let mut signatures = 0;
    let mut text = String::new();
    for e in &events {
        if let E::ContentBlockDelta(d) = e {
            match &d.delta {
                D::ReasoningContent(R::Text(t)) => {
                    assert_eq!(d.content_block_index, 0);
                    reasoning.push_str(t)
                }
                D::ReasoningContent(R::Signature(s)) => {
                    assert!(s.starts_with("EvYCCkgICxABGAIqQH+vdAorxvHnWTPEdc8BK/Bav"));
                    signatures += 1
                }
                D::Text(t) => {
                    assert_eq!(d.content_block_index, 1);
                    text.push_str(t)
                }
                other => panic!("{other:?}"),
            }
        }
    }
    assert!(reasoning.starts_with("The human has just said \"Hello\" to me."));
    assert_eq!(signatures, 1);
    assert_eq!(
        text,
        "Hello! How are you doing today? Is there anything I can help you with?"
    );
    let E::Metadata(m) = events.last().unwrap() else {
        panic!()
    };
    assert_eq!(
        (
            m.usage.input_tokens,
            m.usage.output_tokens,
            m.usage.total_tokens
        ),
        (37, 74, 111)
    );

    // Text then a tool call (Claude 3 Sonnet).
    let events = converse_events("converse-stream/claude3-sonnet-text-then-tool-use.json");
    let start = events
        .iter()
        .find_map(|e| match e {
            E::ContentBlockStart(s) => Some(s),
            _ => None,
        })
        .unwrap();
    let cv::ContentBlockStart::ToolUse(tu) = &start.start else {
        panic!()
    };
    assert_eq!(
        (
            start.content_block_index,
            tu.name.as_str(),
            tu.tool_use_id.as_str()
        ),
        (1, "get_weather", "tooluse_yypYDr71TwCwByoyao4-Vg")
    );
    let input: String = events
        .iter()
        .filter_map(|e| match e {
            E::ContentBlockDelta(d) => match &d.delta {
                D::ToolUse(t) => Some(t.input.as_str()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&input).unwrap(),
        json!({"location": "Barcelona"})
    );
    assert!(matches!(&events[events.len() - 2], E::MessageStop(s) if s.stop_reason == "tool_use"));

    // Redacted reasoning: three blocks of one delta each, then text at index 3.
    let events = converse_events("converse-stream/claude37-sonnet-redacted-reasoning.json");
    let redacted: Vec<(i32, &Vec<u8>)> = events
        .iter()
        .filter_map(|e| match e {
            E::ContentBlockDelta(d) => match &d.delta {
                D::ReasoningContent(R::RedactedContent(b)) => Some((d.content_block_index, &b.0)),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(
        redacted.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    // The blob is Anthropic's own base64 `data` string (FACTS.md §4).
    assert!(redacted[0].1.starts_with(b"EtwC"));

    // Plain text to max_tokens (Claude 3 Sonnet) and one whole-answer delta (Titan Lite).
    let events = converse_events("converse-stream/claude3-sonnet-text-max-tokens.json");
    assert!(
        matches!(&events[events.len() - 2], E::MessageStop(s) if s.stop_reason == "max_tokens")
    );
    let events = converse_events("converse-stream/titan-lite-text-one-delta.json");
    assert!(
        matches!(&events[1], E::ContentBlockDelta(d) if d.delta == D::Text("Hi! I'm an AI language".into()))
    );
}

fn converse_body(rel: &str) -> (cv::ConverseResponse, Vec<cv::ContentBlock>) {
    let r: cv::ConverseResponse =
        serde_json::from_value(load(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let content = r.output.message.clone().unwrap().content;
    (r, content)
}

#[test]
fn converse_bodies_read() {
    use cv::ContentBlock as B;
    let (r, c) = converse_body("converse/claude-sonnet4-reasoning-then-text.json");
    assert!(
        matches!(&c[0], B::ReasoningContent(cv::ReasoningContentBlock::ReasoningText(t))
        if t.text.starts_with("This is a straightforward question about pedestrian safety")
            && t.signature.as_deref().is_some_and(|s| s.starts_with("EqwCCkgICxABGAIqQHp5")))
    );
    assert!(matches!(&c[1], B::Text(t) if t.starts_with("Here are the key steps")));
    assert_eq!(r.usage.cache_read_input_tokens, Some(0));

    let (r, c) = converse_body("converse/claude3-sonnet-text-and-tool-use.json");
    assert!(matches!(&c[1], B::ToolUse(t) if t.name == "fetch_concept"
        && t.tool_use_id == "tooluse_iPA5tRLlQ5qSvfeYGeQVPg"
        && t.input == json!({"concept": "distributed tracing"})));
    assert_eq!(r.stop_reason, "tool_use");
    assert_eq!(r.usage.total_tokens, 346);

    let (r, _) = converse_body("converse/claude37-sonnet-cache-read.json");
    assert_eq!(r.usage.cache_read_input_tokens, Some(1028));
    assert_eq!(r.usage.input_tokens, 12);
    let (r, _) = converse_body("converse/claude37-sonnet-cache-write.json");
    assert_eq!(r.usage.cache_write_input_tokens, Some(1028));
    assert_eq!(r.usage.total_tokens, 1303);

    let (_, c) = converse_body("converse/claude37-sonnet-redacted-reasoning.json");
    assert!(
        matches!(&c[0], B::ReasoningContent(cv::ReasoningContentBlock::RedactedContent(b))
        if b.0.starts_with(b"EtMFCkgI"))
    );

    let (_, c) = converse_body("converse/deepseek-r1-text-then-reasoning.json");
    assert!(matches!(&c[0], B::Text(t) if t.starts_with("\n\nCrossing the street safely")));
    assert!(
        matches!(&c[1], B::ReasoningContent(cv::ReasoningContentBlock::ReasoningText(t))
        if t.signature.is_none())
    );

    let (r, c) = converse_body("converse/gpt-oss-120b-reasoning-no-signature.json");
    assert!(
        matches!(&c[0], B::ReasoningContent(cv::ReasoningContentBlock::ReasoningText(t))
        if t.text.starts_with("The user says: \"Reply with the single word: ok\"")
            && t.signature.is_none())
    );
    assert!(matches!(&c[1], B::Text(t) if t == "ok"));
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (74, 110));
}

// ---------------------------------------------------------------------------------------------
// Encoding: the same answer, through the family's encoder, has the recording's shape
// ---------------------------------------------------------------------------------------------

/// A JSON value's skeleton: keys and value types, values dropped. `ignore` names keys absent
/// from older recordings that newer ones carry (compared as if absent).
fn skeleton(v: &Value, ignore: &[&str]) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Array(a) => {
            let mut items: Vec<String> = a.iter().map(|i| skeleton(i, ignore)).collect();
            items.dedup();
            format!("[{}]", items.join(","))
        }
        Value::Object(m) => {
            let mut keys: Vec<String> = m
                .iter()
                .filter(|(k, _)| !ignore.contains(&k.as_str()))
                .map(|(k, v)| {
                    // A `type` tag is part of the shape (text_delta vs input_json_delta).
                    let inner = match (k.as_str(), v) {
                        ("type", Value::String(s)) => format!("\"{s}\""),
                        _ => skeleton(v, ignore),
                    };
                    format!("{k}:{inner}")
                })
                .collect();
            keys.sort();
            format!("{{{}}}", keys.join(","))
        }
    }
}

/// Chunk skeletons with repeats folded: a run of one or two chunks repeated is kept once
/// (so ten text deltas and one compare equal, and Nova's delta-stop pairs too).
fn pattern(chunks: &[Value], ignore: &[&str]) -> Vec<String> {
    let mut seq: Vec<String> = chunks.iter().map(|c| skeleton(c, ignore)).collect();
    for _ in 0..seq.len() {
        let before = seq.len();
        for k in 1..=2 {
            let mut i = 0;
            while i + 2 * k <= seq.len() {
                if seq[i..i + k] == seq[i + k..i + 2 * k] {
                    seq.drain(i + k..i + 2 * k);
                } else {
                    i += 1;
                }
            }
        }
        if seq.len() == before {
            break;
        }
    }
    seq
}

fn stop_reason(family_reason: &str, stop_value: Option<&str>) -> StopReason {
    match family_reason {
        "end_turn" | "stop" | "FINISH" | "COMPLETE" => StopReason::EndTurn,
        "max_tokens" | "length" | "LENGTH" | "MAX_TOKENS" => StopReason::MaxTokens,
        "tool_use" | "tool_calls" => StopReason::ToolUse,
        _ => StopReason::StopSequence(stop_value.unwrap_or_default().to_string()),
    }
}

/// Drives `family`'s encoder with what the decoder read from `recording`, then compares the
/// chunk patterns.
fn encode_like(rel: &str, family: Family, model_id: &str, ignore: &[&str]) -> Vec<Value> {
    let recorded = chunks(rel);
    let r = read(rel, family);
    let mut enc = family.encoder(model_id);
    let mut out = enc.start(u32::try_from(r.input_tokens.unwrap_or(0)).unwrap());
    let mut open: Option<u32> = None;
    for e in &r.events {
        match e {
            BlockEvent::Start { index, start } => {
                if let Some(o) = open.take().filter(|o| o != index) {
                    out.extend(enc.block_stop(o));
                }
                out.extend(enc.block_start(*index, start));
                open = Some(*index);
            }
            BlockEvent::Delta { index, delta } => {
                if open != Some(*index) {
                    if let Some(o) = open.take() {
                        out.extend(enc.block_stop(o));
                    }
                    if matches!(delta, Delta::Text(_)) {
                        out.extend(enc.block_start(*index, &BlockStart::Text));
                    }
                    open = Some(*index);
                }
                out.extend(enc.block_delta(*index, delta, 1));
            }
            BlockEvent::Stop { index } => {
                out.extend(enc.block_stop(*index));
                open = None;
            }
        }
    }
    let last_recorded = recorded.last().unwrap();
    let stop_value = last_recorded.get("stop").and_then(Value::as_str);
    let usage = Usage {
        input_tokens: u32::try_from(r.input_tokens.unwrap_or(0)).unwrap(),
        output_tokens: u32::try_from(r.output_tokens.unwrap_or(0)).unwrap(),
        cache_read_input_tokens: u32::try_from(r.cache_read.unwrap_or(0)).unwrap(),
        cache_write_input_tokens: u32::try_from(r.cache_write.unwrap_or(0)).unwrap(),
    };
    out.extend(enc.finish(
        &stop_reason(r.stop_reason.as_deref().unwrap(), stop_value),
        usage,
    ));
    attach_invocation_metrics(enc.as_ref(), &mut out, &r.metrics.unwrap(), usage);
    assert_eq!(
        pattern(&out, ignore),
        pattern(&recorded, ignore),
        "{rel}: encoder shape differs\nours: {out:#?}"
    );
    // And what we wrote reads back to the same answer.
    let mut again = Read::default();
    let mut decoder = ChunkDecoder::new(family);
    for c in &out {
        again.take(decoder.decode(c));
    }
    assert_eq!(again.text, r.text, "{rel}");
    assert_eq!(again.tools.len(), r.tools.len(), "{rel}");
    for (a, b) in again.tools.iter().zip(&r.tools) {
        assert_eq!((&a.1, &a.2), (&b.1, &b.2), "{rel}");
        assert_eq!(
            serde_json::from_str::<Value>(&a.3).unwrap(),
            serde_json::from_str::<Value>(&b.3).unwrap(),
            "{rel}"
        );
    }
    out
}

#[test]
fn anthropic_messages_encoder_has_the_recorded_shape() {
    let out = encode_like(
        "invoke-stream/anthropic-messages-text-claude-v2.json",
        Family::AnthropicMessages,
        "anthropic.claude-v2",
        &[],
    );
    assert_eq!(out[0]["message"]["model"], "claude-2.0");
    let out = encode_like(
        "invoke-stream/anthropic-messages-tool-use-claude35-sonnet.json",
        Family::AnthropicMessages,
        "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
        &[],
    );
    assert_eq!(out[0]["message"]["model"], "claude-3-5-sonnet-20240620");
    // The first input fragment of each tool block is empty, as recorded.
    let starts: Vec<usize> = out
        .iter()
        .enumerate()
        .filter(|(_, c)| c["content_block"]["type"] == "tool_use")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(starts.len(), 2);
    for i in starts {
        assert_eq!(out[i + 1]["delta"]["partial_json"], "");
        assert!(out[i]["content_block"]["id"]
            .as_str()
            .unwrap()
            .starts_with("toolu_bdrk_"));
    }
}

#[test]
fn anthropic_text_encoder_has_the_recorded_shape() {
    encode_like(
        "invoke-stream/anthropic-text-stop-sequence-claude-instant.json",
        Family::AnthropicText,
        "anthropic.claude-instant-v1",
        &[],
    );
}

#[test]
fn llama_encoder_has_the_recorded_shape() {
    let out = encode_like(
        "invoke-stream/llama-text-llama2-13b.json",
        Family::Llama,
        "meta.llama2-13b-chat-v1",
        &[],
    );
    // prompt_token_count only in the first chunk; the last text chunk carries the stop.
    assert_eq!(out.len(), 5);
    assert_eq!(out[0]["prompt_token_count"], 10);
    assert!(out[1..].iter().all(|c| c["prompt_token_count"].is_null()));
    assert_eq!(out[4]["generation"], " you");
    assert_eq!(out[4]["stop_reason"], "length");
    let counts: Vec<u64> = out
        .iter()
        .map(|c| c["generation_token_count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [1, 2, 3, 4, 5]);
}

#[test]
fn nova_encoder_has_the_recorded_shape() {
    // The January 2025 recording predates the cache counts that the 2026 one carries.
    let cache = ["cacheReadInputTokenCount", "cacheWriteInputTokenCount"];
    encode_like(
        "invoke-stream/nova-text-micro.json",
        Family::Nova,
        "amazon.nova-micro-v1:0",
        &cache,
    );
    let out = encode_like(
        "invoke-stream/nova-tool-use-micro.json",
        Family::Nova,
        "amazon.nova-micro-v1:0",
        &[],
    );
    // One delta with the whole input per tool call.
    let inputs: Vec<&str> = out
        .iter()
        .filter_map(|c| {
            c.pointer("/contentBlockDelta/delta/toolUse/input")?
                .as_str()
        })
        .collect();
    assert_eq!(
        inputs,
        [
            "{\"location\":\"Seattle\"}",
            "{\"location\":\"San Francisco\"}"
        ]
    );
}

#[test]
fn openai_chat_encoder_has_the_recorded_shape() {
    let out = encode_like(
        "invoke-stream/openai-chat-gpt6-sol-usage.json",
        Family::OpenAiChat,
        "us.openai.gpt-6-sol",
        &[],
    );
    let last = out.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["model"], "us.openai.gpt-6-sol");
    assert!(last.get("amazon-bedrock-invocationMetrics").is_some());
}

#[test]
fn titan_encoder_has_the_recorded_shape() {
    for rel in [
        "invoke-stream/titan-text-lite.json",
        "invoke-stream/titan-text-tg1-large.json",
    ] {
        let out = encode_like(rel, Family::Titan, "amazon.titan-text-lite-v1", &[]);
        assert_eq!(out.len(), 1, "{rel}: one chunk, as recorded");
    }
}

// ---------------------------------------------------------------------------------------------
// Validation messages: the family parsers give Bedrock's words
// ---------------------------------------------------------------------------------------------

/// The message of an error fixture, without the prefix Converse adds to a model's own errors
/// (InvokeModel passes the model's text through without it: FACTS.md §6).
fn message(rel: &str) -> String {
    let m = load(rel)["message"].as_str().unwrap().to_string();
    m.strip_prefix("The model returned the following errors: ")
        .map(str::to_string)
        .unwrap_or(m)
}

fn refused(family: Family, body: Value) -> String {
    family.parse_request(&body).unwrap_err().0
}

fn claude(extra: Value) -> Value {
    let mut b = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 4000,
                       "messages": [{"role": "user", "content": "hi"}]});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

/// The error fixtures a family parser reproduces, with the body that provokes each.
fn family_error_cases() -> Vec<(&'static str, Family, Value)> {
    let thinking = json!({"type": "enabled", "budget_tokens": 2000});
    vec![
        (
            "errors/thinking-budget-below-1024.json",
            Family::AnthropicMessages,
            claude(json!({"thinking": {"type": "enabled", "budget_tokens": 1000}})),
        ),
        (
            "errors/thinking-max-tokens-not-greater-than-budget.json",
            Family::AnthropicMessages,
            claude(json!({"thinking": thinking, "max_tokens": 2000})),
        ),
        (
            "errors/thinking-temperature-not-1.json",
            Family::AnthropicMessages,
            claude(json!({"thinking": thinking, "temperature": 0.5})),
        ),
        (
            "errors/thinking-top-p-must-be-unset.json",
            Family::AnthropicMessages,
            claude(json!({"thinking": thinking, "top_p": 0.9})),
        ),
        (
            "errors/thinking-with-forced-tool-choice.json",
            Family::AnthropicMessages,
            claude(json!({"thinking": thinking, "tool_choice": {"type": "any"},
                          "tools": [{"name": "t", "input_schema": {"type": "object"}}]})),
        ),
        (
            "errors/text-content-blocks-non-empty.json",
            Family::AnthropicMessages,
            claude(
                json!({"messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]}),
            ),
        ),
        (
            "errors/malformed-input-extraneous-keys-messages.json",
            Family::AnthropicMessages,
            claude(json!({"stream": true, "model": "claude"})),
        ),
        (
            "errors/malformed-input-required-key.json",
            Family::AnthropicMessages,
            json!({"anthropic_version": "bedrock-2023-05-31",
                   "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "errors/malformed-input-extraneous-key-nested.json",
            Family::Nova,
            json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}),
        ),
        (
            "errors/malformed-input-extraneous-key-titan.json",
            Family::Nova,
            json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}],
                   "textGenerationConfig": {}}),
        ),
        (
            "errors/nova2-max-tokens-with-high-reasoning.json",
            Family::Nova,
            json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}],
                   "inferenceConfig": {"max_new_tokens": 100},
                   "reasoningConfig": {"type": "enabled", "maxReasoningEffort": "high"}}),
        ),
    ]
}

/// A message's `#: …` clauses, in order except for the extraneous-key list, whose order
/// follows the request body's key order (a JSON object's keys have none to compare).
fn clauses(m: &str) -> Vec<String> {
    let mut parts: Vec<String> = m.split("#: ").map(str::to_string).collect();
    let tail = parts.last().cloned().unwrap_or_default();
    let suffix = ", please reformat your input and try again.";
    if let Some(last) = parts.last_mut() {
        *last = tail.trim_end_matches(suffix).to_string();
    }
    parts[1..].sort();
    parts
}

#[test]
fn family_parsers_give_bedrocks_messages() {
    for (rel, family, body) in family_error_cases() {
        let got = refused(family, body);
        let want = message(rel);
        if want.contains("extraneous key [stream]") {
            assert_eq!(clauses(&got), clauses(&want), "{rel}");
            assert!(got.ends_with(", please reformat your input and try again."));
        } else {
            assert_eq!(got, want, "{rel}");
        }
    }
}

/// Error fixtures that are Converse-level or catalog-level rules, checked by the local
/// endpoint's validation rather than by a family's body parser.
const ENDPOINT_ERRORS: [&str; 41] = [
    "errors/additional-field-conflicts-tool-choice.json",
    "errors/cache-point-nothing-to-cache.json",
    "errors/conversation-and-tool-result-blocks-same-turn.json",
    "errors/conversation-must-start-with-user.json",
    "errors/document-name-charset.json",
    "errors/document-name-empty.json",
    "errors/document-name-too-long.json",
    "errors/duplicate-tool-use-ids.json",
    "errors/empty-message-content.json",
    "errors/expired-token-converse.json",
    "errors/image-exceeds-5mb.json",
    "errors/image-not-supported-by-model.json",
    "errors/invalid-model-identifier-converse-stream.json",
    "errors/invalid-model-identifier-converse.json",
    "errors/invalid-model-identifier-invoke-stream.json",
    "errors/missing-tool-results-for-ids.json",
    "errors/model-errors-extra-inputs.json",
    "errors/model-errors-tool-schema-extraneous-key.json",
    "errors/model-id-pattern.json",
    "errors/model-input-too-long.json",
    "errors/model-returned-errors-schema-maxitems.json",
    "errors/model-unsupported-for-streaming.json",
    "errors/on-demand-throughput-not-supported.json",
    "errors/reasoning-content-in-user-message.json",
    "errors/roles-must-alternate.json",
    "errors/stream-throttling-exception.json",
    "errors/stream-validation-exception-tool-result.json",
    "errors/temperature-not-supported.json",
    "errors/thinking-block-required-before-tool-use.json",
    "errors/throttling-too-many-requests.json",
    "errors/throttling-too-many-tokens-per-day.json",
    "errors/throttling-too-many-tokens.json",
    "errors/too-many-tool-results.json",
    "errors/tool-blocks-without-tool-config.json",
    "errors/tool-choice-any-not-supported.json",
    "errors/tool-choice-tool-not-supported.json",
    "errors/tool-config-tools-empty.json",
    "errors/tool-result-empty-with-error-status.json",
    "errors/tool-use-name-pattern.json",
    "errors/tool-use-not-supported-in-streaming.json",
    "errors/tool-use-not-supported.json",
];

#[test]
fn every_error_fixture_is_accounted_for() {
    let mine: Vec<&str> = family_error_cases().iter().map(|c| c.0).collect();
    for rel in files("errors", ".json") {
        let e = load(&rel);
        assert!(e["message"].is_string() && e["type"].is_string(), "{rel}");
        assert!(
            mine.contains(&rel.as_str()) ^ ENDPOINT_ERRORS.contains(&rel.as_str()),
            "{rel}: covered by neither (or both) lists"
        );
    }
    assert_eq!(
        mine.len() + ENDPOINT_ERRORS.len(),
        files("errors", ".json").len()
    );
}

#[test]
fn every_fixture_file_is_used_here() {
    let source = std::fs::read_to_string(file!())
        .or_else(|_| {
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures.rs"))
        })
        .unwrap();
    for sub in [
        "invoke-stream",
        "invoke",
        "converse",
        "converse-stream",
        "errors",
    ] {
        for rel in files(sub, ".json") {
            assert!(
                source.contains(&format!("\"{rel}\"")),
                "{rel} is not tested"
            );
        }
    }
}
