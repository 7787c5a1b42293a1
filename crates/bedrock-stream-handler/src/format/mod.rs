//! Output formats, one encoder per format: `text` (the seed's behaviour: the answer's words),
//! `sse` and `ndjson` (typed events), and OpenAI's `chat.completion.chunk` stream. The pipeline
//! hands every encoder the same [`OutEvent`]s and knows nothing else about formats.

mod json_events;
pub(crate) mod openai;
mod text;

use axum::http::{header, HeaderMap, HeaderValue};
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::error::AppError;

pub(crate) use text::ConverseText;
pub use text::TEXT_ERROR_MARKER;

/// The formats a client can ask for by `?format=` or `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Sse,
    Ndjson,
}

impl Format {
    /// `?format=` wins; then the `Accept` header; text otherwise.
    pub fn negotiate(headers: &HeaderMap, query: Option<&str>) -> Result<Format, AppError> {
        if let Some(q) = query {
            for pair in q.split('&') {
                if let Some(v) = pair.strip_prefix("format=") {
                    return match v {
                        "text" => Ok(Format::Text),
                        "sse" => Ok(Format::Sse),
                        "ndjson" => Ok(Format::Ndjson),
                        other => Err(AppError::bad_request(format!(
                            "unknown format `{other}`: use text, sse or ndjson"
                        ))),
                    };
                }
            }
        }
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        Ok(if accept.contains("text/event-stream") {
            Format::Sse
        } else if accept.contains("application/x-ndjson") || accept.contains("application/jsonl") {
            Format::Ndjson
        } else {
            Format::Text
        })
    }

    pub fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Format::Text => "text/plain; charset=utf-8",
            Format::Sse => "text/event-stream",
            Format::Ndjson => "application/x-ndjson",
        })
    }
}

/// Token counts, stop reason and timings of one answer (the `done` event).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    pub stop_reason: Option<String>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// Prompt tokens read from / written to Bedrock's prompt cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_write_input_tokens: Option<u64>,
    /// Milliseconds from the request reaching the handler to the first content.
    pub first_byte_ms: Option<u64>,
    /// Milliseconds from the request reaching the handler to the end of the stream.
    pub total_ms: u64,
    /// Bedrock's own `invocationLatency` / `firstByteLatency` (or Converse `latencyMs`).
    pub bedrock_latency_ms: Option<u64>,
    pub bedrock_first_byte_ms: Option<u64>,
    /// Converse `additionalModelResponseFields` (what `additionalModelResponseFieldPaths`
    /// asked for). The JSON members are boxed: most answers have none, and every [`OutEvent`]
    /// is as large as its largest variant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_model_response_fields: Option<Box<Value>>,
    /// Converse `trace` (guardrail assessments, prompt router).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<Box<Value>>,
    /// Converse `performanceConfig` and `serviceTier` as Bedrock reported them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub performance_config: Option<Box<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<Box<Value>>,
}

/// What the handler tells the client, whatever the format. Content events carry the index of
/// their content block, as Converse numbers them.
#[derive(Debug, Clone, PartialEq)]
pub enum OutEvent {
    /// A piece of the answer's text.
    Text { index: u32, text: String },
    /// A tool-use block starts: the model calls tool `name`; `id` pairs it with its result.
    ToolUse {
        index: u32,
        id: String,
        name: String,
    },
    /// A fragment of a tool call's input JSON; the fragments of a block concatenate to it.
    ToolInput { index: u32, input: String },
    /// A piece of the model's reasoning text.
    Reasoning { index: u32, text: String },
    /// The signature that closes a reasoning block (send it back with the reasoning).
    ReasoningSignature { index: u32, signature: String },
    /// Reasoning the model provider encrypted, base64.
    ReasoningRedacted { index: u32, data: String },
    /// A citation of a source document, as Converse's `CitationsDelta` JSON.
    Citation { index: u32, citation: Value },
    /// A content block ends.
    BlockStop { index: u32 },
    /// A chunk whose shape no family matches, passed on as it came.
    Raw(Value),
    /// The end of a successful answer.
    Done(Summary),
    /// The stream failed after it started.
    Error(AppError),
}

impl OutEvent {
    /// Whether this event is part of the answer (for time-to-first-byte).
    pub fn is_content(&self) -> bool {
        !matches!(
            self,
            OutEvent::Done(_) | OutEvent::Error(_) | OutEvent::BlockStop { .. }
        )
    }
}

/// Writes typed events in one wire format.
pub trait EventEncoder: Send + 'static {
    fn content_type(&self) -> HeaderValue;
    /// The bytes for one event; `None` when the format shows nothing for it. Takes the event by
    /// value so that text can move into the body instead of being copied.
    fn encode(&mut self, event: OutEvent) -> Option<Bytes>;
    /// Bytes after the last event (OpenAI's `data: [DONE]`).
    fn close(&mut self) -> Option<Bytes> {
        None
    }
    /// The response for an error that happened before the first byte.
    fn error_response(&self, error: AppError) -> axum::response::Response {
        axum::response::IntoResponse::into_response(error)
    }
}

impl EventEncoder for Format {
    fn content_type(&self) -> HeaderValue {
        Format::content_type(*self)
    }
    fn encode(&mut self, event: OutEvent) -> Option<Bytes> {
        event.encode(*self)
    }
}

impl OutEvent {
    /// The bytes of this event in `format`; `None` when the format shows nothing for it.
    pub fn encode(self, format: Format) -> Option<Bytes> {
        match format {
            Format::Text => text::encode(self),
            Format::Sse => json_events::sse(self),
            Format::Ndjson => json_events::ndjson(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        let mut h = HeaderMap::new();
        assert_eq!(Format::negotiate(&h, None).unwrap(), Format::Text);
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        assert_eq!(Format::negotiate(&h, None).unwrap(), Format::Sse);
        assert_eq!(
            Format::negotiate(&h, Some("a=1&format=ndjson")).unwrap(),
            Format::Ndjson
        );
        assert!(Format::negotiate(&h, Some("format=xml")).is_err());
    }
}
