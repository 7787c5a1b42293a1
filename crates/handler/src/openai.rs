//! The OpenAI-compatible API: `POST /v1/chat/completions` (streaming and not) and
//! `GET /v1/models`, mapped onto Bedrock's ConverseStream and Converse.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::converse::{role, Chat};
use crate::error::AppError;
use crate::format::{EventEncoder, OutEvent};
use crate::pipeline::{self, RequestLog};
use crate::seed::{parse_json, resolve_model};
use crate::App;

/// The subset of OpenAI's chat-completions request that maps onto Converse.
#[derive(Debug, Deserialize)]
pub struct ChatCompletionRequest {
    pub model: Option<String>,
    pub messages: Vec<OpenAiMessage>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    pub max_tokens: Option<i32>,
    pub max_completion_tokens: Option<i32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub stop: Option<Stop>,
    pub n: Option<u32>,
    // Other OpenAI fields (user, seed, …) are accepted and ignored, as compatible servers do.
}

#[derive(Debug, Deserialize)]
pub struct OpenAiMessage {
    pub role: String,
    pub content: Option<Content>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
pub struct Part {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// OpenAI's error shape and its `type` names.
fn openai_error(e: &AppError) -> Response {
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
fn finish_reason(stop: Option<&str>) -> &'static str {
    match stop {
        Some("max_tokens") => "length",
        Some("content_filtered") | Some("guardrail_intervened") => "content_filter",
        Some("tool_use") => "tool_calls",
        _ => "stop",
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Writes OpenAI `chat.completion.chunk` SSE events, ending with `data: [DONE]`.
struct ChunkEncoder {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    sent_role: bool,
    /// What follows the delta's text in every text chunk (built once per stream).
    text_tail: Option<Vec<u8>>,
}

impl ChunkEncoder {
    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
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
            OutEvent::Text(t) => Some(self.text_chunk(&t)),
            OutEvent::Done(s) => {
                let mut out = Self::data(
                    &self.chunk(json!({}), Some(finish_reason(s.stop_reason.as_deref()))),
                )
                .to_vec();
                if self.include_usage {
                    let input = s.input_tokens.unwrap_or(0);
                    let output = s.output_tokens.unwrap_or(0);
                    let usage = json!({"id": self.id, "object": "chat.completion.chunk",
                        "created": self.created, "model": self.model, "choices": [],
                        "usage": {"prompt_tokens": input, "completion_tokens": output,
                                  "total_tokens": input + output}});
                    out.extend_from_slice(&Self::data(&usage));
                }
                Some(Bytes::from(out))
            }
            OutEvent::Error(e) => Some(Self::data(&json!({"error": {
                "message": e.message, "type": "api_error", "param": null, "code": e.kind.as_str()}}))),
            OutEvent::Reasoning(_) | OutEvent::ToolUse { .. } | OutEvent::Raw(_) => None,
        }
    }

    fn close(&mut self) -> Option<Bytes> {
        Some(Bytes::from_static(b"data: [DONE]\n\n"))
    }

    fn error_response(&self, error: AppError) -> Response {
        openai_error(&error)
    }
}

fn to_chat(app: &App, req: ChatCompletionRequest) -> Result<Chat, AppError> {
    if req.n.unwrap_or(1) != 1 {
        return Err(AppError::bad_request("only n=1 is supported"));
    }
    let model_id = resolve_model(app, req.model)?;
    let mut system = Vec::new();
    let mut messages = Vec::new();
    for m in req.messages {
        let text = match m.content {
            None => String::new(),
            Some(Content::Text(t)) => t,
            Some(Content::Parts(parts)) => {
                let mut out = String::new();
                for p in parts {
                    if p.kind != "text" {
                        return Err(AppError::bad_request(format!(
                            "content part type `{}` is not supported; send text",
                            p.kind
                        )));
                    }
                    out.push_str(p.text.as_deref().unwrap_or(""));
                }
                out
            }
        };
        match m.role.as_str() {
            "system" | "developer" => system.push(text),
            r => messages.push((role(r)?, text)),
        }
    }
    Ok(Chat {
        model_id,
        system,
        messages,
        max_tokens: req.max_completion_tokens.or(req.max_tokens),
        temperature: req.temperature,
        top_p: req.top_p,
        stop_sequences: match req.stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s],
            Some(Stop::Many(v)) => v,
        },
        additional: None,
        guardrail: None,
    })
}

pub(crate) async fn chat_completions(State(app): State<App>, body: Bytes) -> Response {
    let started = Instant::now();
    let req: ChatCompletionRequest = match parse_json(&body) {
        Ok(r) => r,
        Err(e) => return openai_error(&e),
    };
    let stream = req.stream;
    let include_usage = req.stream_options.as_ref().is_some_and(|o| o.include_usage);
    let chat = match to_chat(&app, req) {
        Ok(c) => c,
        Err(e) => return openai_error(&e),
    };
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let model = chat.model_id.clone();
    let timing = app.timing(started);
    let log = RequestLog {
        admission: match app.admit() {
            Ok(a) => a,
            Err(e) => return openai_error(&e),
        },
        request_id: id.clone(),
        route: "openai",
        model_id: model.clone(),
    };
    if stream {
        let upstream = match chat.stream(&app, timing.deadline).await {
            Ok(u) => u,
            Err(e) => {
                log.finished(&Default::default(), Some(&e));
                return openai_error(&e);
            }
        };
        let encoder = ChunkEncoder {
            id,
            model,
            created: now_secs(),
            include_usage,
            sent_role: false,
            text_tail: None,
        };
        return pipeline::respond(upstream, Box::new(encoder), timing, log).await;
    }
    match chat.complete(&app, timing.deadline).await {
        Ok(done) => {
            let input = done.summary.input_tokens.unwrap_or(0);
            let output = done.summary.output_tokens.unwrap_or(0);
            log.finished(&done.summary, None);
            Json(json!({
                "id": id, "object": "chat.completion", "created": now_secs(), "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": done.text},
                             "logprobs": null,
                             "finish_reason": finish_reason(done.summary.stop_reason.as_deref())}],
                "usage": {"prompt_tokens": input, "completion_tokens": output,
                          "total_tokens": input + output}
            }))
            .into_response()
        }
        Err(e) => {
            log.finished(&Default::default(), Some(&e));
            openai_error(&e)
        }
    }
}

/// Well-known Bedrock model ids offered by `GET /v1/models` (filtered by `ALLOWED_MODELS`).
const KNOWN_MODELS: &[&str] = &[
    "us.anthropic.claude-sonnet-4-20250514-v1:0",
    "us.anthropic.claude-3-5-haiku-20241022-v1:0",
    "anthropic.claude-3-haiku-20240307-v1:0",
    "us.amazon.nova-pro-v1:0",
    "us.amazon.nova-lite-v1:0",
    "us.amazon.nova-micro-v1:0",
    "us.meta.llama3-1-8b-instruct-v1:0",
    "us.meta.llama3-3-70b-instruct-v1:0",
    "mistral.mistral-large-2407-v1:0",
    "cohere.command-r-plus-v1:0",
    "ai21.jamba-1-5-mini-v1:0",
    "us.deepseek.r1-v1:0",
    "openai.gpt-oss-120b-1:0",
    "amazon.titan-text-express-v1",
];

/// `GET /v1/models`: the default model first, then exact ids from `ALLOWED_MODELS`, then the
/// well-known ids the allowlist admits.
pub(crate) async fn models(State(app): State<App>) -> Response {
    let mut ids: Vec<String> = Vec::new();
    let mut push = |id: &str| {
        if !ids.iter().any(|i| i == id) && app.config.model_allowed(id) {
            ids.push(id.to_string());
        }
    };
    if let Some(d) = &app.config.default_model_id {
        push(d);
    }
    for pattern in &app.config.allowed_models {
        if !pattern.contains('*') {
            push(pattern);
        }
    }
    for id in KNOWN_MODELS {
        push(id);
    }
    let data: Vec<Value> = ids
        .iter()
        .map(|id| {
            let owner = bedrock_families::ModelId::parse(id)
                .provider()
                .unwrap_or("bedrock")
                .to_string();
            json!({"id": id, "object": "model", "created": 0, "owned_by": owner})
        })
        .collect();
    (
        StatusCode::OK,
        Json(json!({"object": "list", "data": data})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoder() -> ChunkEncoder {
        ChunkEncoder {
            id: "chatcmpl-\"q\"-ü".into(),
            model: "anthropic.claude-v2 \\ 中".into(),
            created: 1_795_000_000,
            include_usage: false,
            sent_role: false,
            text_tail: None,
        }
    }

    #[test]
    fn text_chunks_are_the_bytes_the_generic_chunk_would_be() {
        let reference = encoder();
        let mut fast = encoder();
        for (i, text) in ["Hello", " \"quoted\"\n", "🙂 中文", ""].iter().enumerate() {
            let delta = if i == 0 {
                json!({"role": "assistant", "content": text})
            } else {
                json!({"content": text})
            };
            let want = ChunkEncoder::data(&reference.chunk(delta, None));
            let got = fast.encode(OutEvent::Text((*text).to_string()));
            assert_eq!(got, Some(want), "chunk {i}");
        }
    }
}
