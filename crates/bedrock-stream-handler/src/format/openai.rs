//! OpenAI's streamed `chat.completion.chunk` events (`data: {…}` lines, ending with
//! `data: [DONE]`): text as `delta.content`, reasoning as `delta.reasoning_content`, tool calls
//! as `delta.tool_calls` (index, id, type and name first, then argument fragments), and the
//! final chunk's `finish_reason` and usage.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::{json, Value};

use super::{EventEncoder, OutEvent, Summary};
use crate::error::AppError;

/// OpenAI's error shape and its `type` names.
pub(crate) fn error_response(e: &AppError) -> Response {
    let ty = match e.kind.status().as_u16() {
        400 | 404 | 413 | 415 => "invalid_request_error",
        401 | 403 => "permission_error",
        429 => "rate_limit_error",
        _ => "api_error",
    };
    let mut r = (
        e.kind.status(),
        Json(json!({"error": {"message": e.message, "type": ty, "param": null, "code": e.kind.as_str()}})),
    )
        .into_response();
    if let Some(secs) = e.kind.retry_after() {
        r.headers_mut()
            .insert("retry-after", HeaderValue::from(secs));
    }
    r
}

/// Converse stop reasons in OpenAI's words.
pub(crate) fn finish_reason(stop: Option<&str>) -> &'static str {
    match stop {
        Some("max_tokens") | Some("model_context_window_exceeded") => "length",
        Some("content_filtered") | Some("guardrail_intervened") => "content_filter",
        Some("tool_use") => "tool_calls",
        _ => "stop",
    }
}

/// OpenAI's `usage` object. OpenAI's `prompt_tokens` counts every prompt token, cached ones
/// included (`prompt_tokens_details.cached_tokens` is a part of it); Converse's `inputTokens`
/// counts only the uncached ones, beside `cacheReadInputTokens` and `cacheWriteInputTokens`
/// (FACTS.md §4: `totalTokens` 1303 = 11 input + 264 read + 1028 written). So the prompt is the
/// sum of the three, and the cached part is what was read from the cache.
pub(crate) fn usage(s: &Summary) -> Value {
    let cached = s.cache_read_input_tokens.unwrap_or(0);
    let prompt = s
        .input_tokens
        .unwrap_or(0)
        .saturating_add(cached)
        .saturating_add(s.cache_write_input_tokens.unwrap_or(0));
    let output = s.output_tokens.unwrap_or(0);
    json!({"prompt_tokens": prompt, "completion_tokens": output,
           "total_tokens": prompt.saturating_add(output),
           "prompt_tokens_details": {"cached_tokens": cached}})
}

/// How the answer's tool-use blocks become OpenAI's message.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct AnswerShape {
    /// When the answer is a JSON document asked for with `response_format`, the name of the
    /// tool whose input carries it: that tool's input is the message content, not a tool call.
    pub json_tool: Option<String>,
    /// `parallel_tool_calls: false`: Bedrock has no such switch, so the handler keeps its
    /// promise by answering with the model's first tool call only.
    pub single_tool_call: bool,
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Writes OpenAI `chat.completion.chunk` SSE events.
pub(crate) struct ChunkEncoder {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    shape: AnswerShape,
    sent_role: bool,
    /// Content block index → OpenAI tool-call index.
    tool_calls: HashMap<u32, usize>,
    /// Blocks that carry the `response_format` answer: their input streams as `content`.
    json_blocks: Vec<u32>,
    /// Tool calls left out because `parallel_tool_calls` was false.
    dropped_blocks: Vec<u32>,
    /// What follows the delta's text in every text chunk (built once per stream).
    text_tail: Option<Vec<u8>>,
}

impl ChunkEncoder {
    pub(crate) fn new(id: String, model: String, include_usage: bool, shape: AnswerShape) -> Self {
        ChunkEncoder {
            id,
            model,
            created: now_secs(),
            include_usage,
            shape,
            sent_role: false,
            tool_calls: HashMap::new(),
            json_blocks: Vec::new(),
            dropped_blocks: Vec::new(),
            text_tail: None,
        }
    }

    fn chunk(&mut self, mut delta: Value, finish: Option<&str>) -> Value {
        if !std::mem::replace(&mut self.sent_role, true) {
            delta["role"] = json!("assistant");
        }
        json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
               "model": self.model,
               "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
    }

    fn data(v: &Value) -> Bytes {
        Bytes::from(format!("data: {v}\n\n"))
    }

    /// A text chunk, written straight into one buffer: the same bytes as serialising
    /// [`ChunkEncoder::chunk`] (keys in serde_json's sorted order), without building a `Value`
    /// or copying the id and model for every chunk.
    fn text_chunk(&mut self, text: &str) -> Bytes {
        const HEAD: &[u8] = b"data: {\"choices\":[{\"delta\":{\"content\":";
        const ROLE: &[u8] = b",\"role\":\"assistant\"";
        let first = !std::mem::replace(&mut self.sent_role, true);
        let tail = self.text_tail.get_or_insert_with(|| {
            // Everything after `"delta":{"content":…` in chunk(); sorted keys: choices,
            // created, id, model, object.
            let rest = json!({"created": self.created, "id": self.id, "model": self.model,
                              "object": "chat.completion.chunk"})
            .to_string();
            let mut t = b"},\"finish_reason\":null,\"index\":0,\"logprobs\":null}],".to_vec();
            t.extend_from_slice(rest.trim_start_matches('{').as_bytes());
            t.extend_from_slice(b"\n\n");
            t
        });
        let mut out = Vec::with_capacity(HEAD.len() + text.len() + 8 + ROLE.len() + tail.len());
        out.extend_from_slice(HEAD);
        // Serialising a &str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, text);
        if first {
            out.extend_from_slice(ROLE);
        }
        out.extend_from_slice(tail);
        Bytes::from(out)
    }
}

impl EventEncoder for ChunkEncoder {
    fn content_type(&self) -> HeaderValue {
        HeaderValue::from_static("text/event-stream")
    }

    fn encode(&mut self, event: OutEvent) -> Option<Bytes> {
        match event {
            OutEvent::Text { text, .. } => Some(self.text_chunk(&text)),
            OutEvent::Reasoning { text, .. } => {
                let c = self.chunk(json!({"reasoning_content": text}), None);
                Some(Self::data(&c))
            }
            OutEvent::ToolUse { index, id, name } => {
                if self.shape.json_tool.as_deref() == Some(name.as_str()) {
                    self.json_blocks.push(index);
                    return None;
                }
                if self.shape.single_tool_call && !self.tool_calls.is_empty() {
                    self.dropped_blocks.push(index);
                    return None;
                }
                let k = self.tool_calls.len();
                self.tool_calls.insert(index, k);
                let c = self.chunk(
                    json!({"tool_calls": [{"index": k, "id": id, "type": "function",
                                           "function": {"name": name, "arguments": ""}}]}),
                    None,
                );
                Some(Self::data(&c))
            }
            OutEvent::ToolInput { index, input } => {
                if self.json_blocks.contains(&index) {
                    return Some(self.text_chunk(&input));
                }
                if self.dropped_blocks.contains(&index) {
                    return None;
                }
                let k = *self.tool_calls.get(&index)?;
                let c = self.chunk(
                    json!({"tool_calls": [{"index": k, "function": {"arguments": input}}]}),
                    None,
                );
                Some(Self::data(&c))
            }
            OutEvent::Done(s) => {
                let stop = match s.stop_reason.as_deref() {
                    Some("tool_use") if self.tool_calls.is_empty() => "stop",
                    other => finish_reason(other),
                };
                let c = self.chunk(json!({}), Some(stop));
                let mut out = Self::data(&c).to_vec();
                if self.include_usage {
                    let u = json!({"id": self.id, "object": "chat.completion.chunk",
                        "created": self.created, "model": self.model, "choices": [],
                        "usage": usage(&s)});
                    out.extend_from_slice(&Self::data(&u));
                }
                Some(Bytes::from(out))
            }
            OutEvent::Error(e) => Some(Self::data(&json!({"error": {
                "message": e.message, "type": "api_error", "param": null, "code": e.kind.as_str()}}))),
            OutEvent::ReasoningSignature { .. }
            | OutEvent::ReasoningRedacted { .. }
            | OutEvent::Citation { .. }
            | OutEvent::BlockStop { .. }
            | OutEvent::Raw(_) => None,
        }
    }

    fn close(&mut self) -> Option<Bytes> {
        Some(Bytes::from_static(b"data: [DONE]\n\n"))
    }

    fn error_response(&self, error: AppError) -> Response {
        error_response(&error)
    }
}

/// The non-streaming `chat.completion` for a Converse answer (Bedrock's Converse JSON).
pub(crate) fn completion(
    id: &str,
    model: &str,
    converse: &Value,
    summary: &Summary,
    shape: &AnswerShape,
) -> Response {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    let blocks = converse["output"]["message"]["content"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for b in &blocks {
        if let Some(t) = b.get("text").and_then(Value::as_str) {
            text.push_str(t);
        } else if let Some(t) = b.pointer("/reasoningContent/reasoningText/text") {
            reasoning.push_str(t.as_str().unwrap_or_default());
        } else if let Some(t) = b.get("toolUse") {
            let name = t["name"].as_str().unwrap_or_default();
            let arguments = t["input"].to_string();
            if shape.json_tool.as_deref() == Some(name) {
                text.push_str(&arguments);
            } else if shape.single_tool_call && !tool_calls.is_empty() {
                // parallel_tool_calls: false — the first call only.
            } else {
                tool_calls.push(json!({"id": t["toolUseId"], "type": "function",
                    "function": {"name": name, "arguments": arguments}}));
            }
        }
    }
    let finish = match summary.stop_reason.as_deref() {
        Some("tool_use") if tool_calls.is_empty() => "stop",
        other => finish_reason(other),
    };
    let mut message = json!({"role": "assistant",
        "content": if text.is_empty() && !tool_calls.is_empty() { Value::Null } else { Value::String(text) }});
    if !reasoning.is_empty() {
        message["reasoning_content"] = Value::String(reasoning);
    }
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    Json(json!({
        "id": id, "object": "chat.completion", "created": now_secs(), "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
        "usage": usage(summary)
    }))
    .into_response()
}

/// `GET /v1/models`'s body for `ids`.
pub(crate) fn model_list(ids: &[String]) -> Response {
    let data: Vec<Value> = ids.iter().map(|id| model_object(id)).collect();
    (
        StatusCode::OK,
        Json(json!({"object": "list", "data": data})),
    )
        .into_response()
}

/// One model object.
pub(crate) fn model_object(id: &str) -> Value {
    let owner = bedrock_families::ModelId::parse(id)
        .provider()
        .unwrap_or("bedrock")
        .to_string();
    json!({"id": id, "object": "model", "created": 0, "owned_by": owner})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoder() -> ChunkEncoder {
        let mut e = ChunkEncoder::new(
            "chatcmpl-\"q\"-ü".into(),
            "anthropic.claude-v2 \\ 中".into(),
            false,
            AnswerShape::default(),
        );
        e.created = 1_795_000_000;
        e
    }

    #[test]
    fn text_chunks_are_the_bytes_the_generic_chunk_would_be() {
        let mut reference = encoder();
        let mut fast = encoder();
        for (i, text) in ["Hello", " \"quoted\"\n", "🙂 中文", ""].iter().enumerate() {
            let want = ChunkEncoder::data(&reference.chunk(json!({"content": text}), None));
            let got = fast.encode(OutEvent::Text {
                index: 0,
                text: (*text).to_string(),
            });
            assert_eq!(got, Some(want), "chunk {i}");
        }
    }

    #[test]
    fn tool_calls_stream_as_openai_does() {
        let mut e = encoder();
        let start = e
            .encode(OutEvent::ToolUse {
                index: 1,
                id: "tooluse_1".into(),
                name: "weather".into(),
            })
            .unwrap();
        let v: Value = serde_json::from_slice(&start[b"data: ".len()..start.len() - 2]).unwrap();
        assert_eq!(
            v["choices"][0]["delta"],
            json!({"role": "assistant", "tool_calls": [{"index": 0, "id": "tooluse_1",
                   "type": "function", "function": {"name": "weather", "arguments": ""}}]})
        );
        let frag = e
            .encode(OutEvent::ToolInput {
                index: 1,
                input: "{\"city\"".into(),
            })
            .unwrap();
        let v: Value = serde_json::from_slice(&frag[b"data: ".len()..frag.len() - 2]).unwrap();
        assert_eq!(
            v["choices"][0]["delta"],
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\""}}]})
        );
        let done = e
            .encode(OutEvent::Done(Summary {
                stop_reason: Some("tool_use".into()),
                ..Summary::default()
            }))
            .unwrap();
        assert!(String::from_utf8_lossy(&done).contains("\"finish_reason\":\"tool_calls\""));
    }

    #[test]
    fn a_response_format_tool_streams_as_content() {
        let mut e = ChunkEncoder::new(
            "id".into(),
            "m".into(),
            false,
            AnswerShape {
                json_tool: Some("answer".into()),
                single_tool_call: false,
            },
        );
        assert!(e
            .encode(OutEvent::ToolUse {
                index: 0,
                id: "t".into(),
                name: "answer".into(),
            })
            .is_none());
        let frag = e
            .encode(OutEvent::ToolInput {
                index: 0,
                input: "{\"a\":1}".into(),
            })
            .unwrap();
        assert!(String::from_utf8_lossy(&frag).contains(r#""content":"{\"a\":1}""#));
        let done = e
            .encode(OutEvent::Done(Summary {
                stop_reason: Some("tool_use".into()),
                ..Summary::default()
            }))
            .unwrap();
        assert!(String::from_utf8_lossy(&done).contains("\"finish_reason\":\"stop\""));
    }

    fn payloads(bytes: &[u8]) -> Vec<Value> {
        String::from_utf8_lossy(bytes)
            .split("\n\n")
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|l| *l != "[DONE]")
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn run(e: &mut ChunkEncoder, events: Vec<OutEvent>) -> Vec<Value> {
        let mut out = Vec::new();
        for ev in events {
            if let Some(b) = e.encode(ev) {
                out.extend(payloads(&b));
            }
        }
        out
    }

    #[test]
    fn parallel_tool_calls_false_streams_the_first_call_only() {
        let mut e = ChunkEncoder::new(
            "id".into(),
            "m".into(),
            false,
            AnswerShape {
                json_tool: None,
                single_tool_call: true,
            },
        );
        let chunks = run(
            &mut e,
            vec![
                OutEvent::ToolUse {
                    index: 0,
                    id: "a".into(),
                    name: "f".into(),
                },
                OutEvent::ToolInput {
                    index: 0,
                    input: "{}".into(),
                },
                OutEvent::BlockStop { index: 0 },
                OutEvent::ToolUse {
                    index: 1,
                    id: "b".into(),
                    name: "g".into(),
                },
                OutEvent::ToolInput {
                    index: 1,
                    input: "{\"x\":1}".into(),
                },
                OutEvent::Done(Summary {
                    stop_reason: Some("tool_use".into()),
                    ..Summary::default()
                }),
            ],
        );
        let calls: Vec<&Value> = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
            .collect();
        assert_eq!(calls.len(), 2, "{chunks:?}");
        assert!(calls.iter().all(|c| c[0]["index"] == 0));
        assert_eq!(calls[0][0]["function"]["name"], "f");
        assert_eq!(
            chunks.last().unwrap()["choices"][0]["finish_reason"],
            "tool_calls"
        );
    }

    #[test]
    fn reasoning_streams_as_reasoning_content_and_usage_counts_cached_tokens() {
        let mut e = ChunkEncoder::new("id".into(), "m".into(), true, AnswerShape::default());
        let chunks = run(
            &mut e,
            vec![
                OutEvent::Reasoning {
                    index: 0,
                    text: "hmm".into(),
                },
                OutEvent::ReasoningSignature {
                    index: 0,
                    signature: "sig".into(),
                },
                OutEvent::BlockStop { index: 0 },
                OutEvent::Text {
                    index: 1,
                    text: "4".into(),
                },
                OutEvent::Done(Summary {
                    stop_reason: Some("end_turn".into()),
                    input_tokens: Some(11),
                    output_tokens: Some(5),
                    cache_read_input_tokens: Some(264),
                    cache_write_input_tokens: Some(1028),
                    ..Summary::default()
                }),
            ],
        );
        assert_eq!(
            chunks[0]["choices"][0]["delta"],
            json!({"role": "assistant", "reasoning_content": "hmm"})
        );
        assert_eq!(chunks[1]["choices"][0]["delta"], json!({"content": "4"}));
        assert_eq!(chunks[2]["choices"][0]["finish_reason"], "stop");
        assert_eq!(chunks[3]["choices"], json!([]));
        // FACTS.md §4: totalTokens 1303 = 11 + 264 + 1028 (prompt) ... + output.
        assert_eq!(
            chunks[3]["usage"],
            json!({"prompt_tokens": 1303, "completion_tokens": 5, "total_tokens": 1308,
                   "prompt_tokens_details": {"cached_tokens": 264}})
        );
        assert_eq!(e.close(), Some(Bytes::from_static(b"data: [DONE]\n\n")));
    }

    fn completion_json(converse: Value, stop: &str, shape: AnswerShape) -> Value {
        let r = completion(
            "id",
            "m",
            &converse,
            &Summary {
                stop_reason: Some(stop.into()),
                input_tokens: Some(3),
                output_tokens: Some(4),
                ..Summary::default()
            },
            &shape,
        );
        assert_eq!(r.status(), StatusCode::OK);
        let body =
            futures::executor::block_on(axum::body::to_bytes(r.into_body(), 1 << 20)).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    #[test]
    fn non_streaming_completions_carry_tool_calls_reasoning_and_json_answers() {
        let converse = json!({"output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "think", "signature": "s"}}},
            {"text": "Checking."},
            {"toolUse": {"toolUseId": "t1", "name": "weather", "input": {"city": "Paris"}}},
            {"toolUse": {"toolUseId": "t2", "name": "weather", "input": {"city": "Rome"}}},
        ]}}});
        let v = completion_json(converse.clone(), "tool_use", AnswerShape::default());
        let choice = &v["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(choice["message"]["content"], "Checking.");
        assert_eq!(choice["message"]["reasoning_content"], "think");
        assert_eq!(
            choice["message"]["tool_calls"][1],
            json!({"id": "t2", "type": "function",
                   "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}})
        );
        assert_eq!(v["usage"]["total_tokens"], 7);
        let v = completion_json(
            converse,
            "tool_use",
            AnswerShape {
                json_tool: None,
                single_tool_call: true,
            },
        );
        assert_eq!(
            v["choices"][0]["message"]["tool_calls"]
                .as_array()
                .unwrap()
                .len(),
            1
        );

        let answer = json!({"output": {"message": {"role": "assistant", "content": [
            {"toolUse": {"toolUseId": "t", "name": "math", "input": {"answer": 4}}}]}}});
        let v = completion_json(
            answer,
            "tool_use",
            AnswerShape {
                json_tool: Some("math".into()),
                single_tool_call: false,
            },
        );
        let choice = &v["choices"][0];
        assert_eq!(choice["finish_reason"], "stop");
        assert!(choice["message"].get("tool_calls").is_none());
        let content: Value =
            serde_json::from_str(choice["message"]["content"].as_str().unwrap()).unwrap();
        assert_eq!(content, json!({"answer": 4}));
    }
}
