//! Output formats: `text` (the seed's behaviour), `sse` and `ndjson`, chosen by `?format=` or
//! the `Accept` header. SSE and NDJSON carry typed events; text carries the words, and a
//! clearly marked final line when the stream fails after it started.

use axum::http::{header, HeaderMap, HeaderValue};
use bytes::Bytes;
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::AppError;

/// The marker that starts the final line of a text stream that failed after it started.
pub const TEXT_ERROR_MARKER: &str = "[bedrock-stream error]";

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

/// Token counts and timings of one answer.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    pub stop_reason: Option<String>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// Milliseconds from the request reaching the handler to the first text.
    pub first_byte_ms: Option<u64>,
    /// Milliseconds from the request reaching the handler to the end of the stream.
    pub total_ms: u64,
    /// Bedrock's own `invocationLatency` / `firstByteLatency` (or Converse `latencyMs`).
    pub bedrock_latency_ms: Option<u64>,
    pub bedrock_first_byte_ms: Option<u64>,
}

/// What the handler tells the client, whatever the format.
#[derive(Debug, Clone, PartialEq)]
pub enum OutEvent {
    /// A piece of the answer's text.
    Text(String),
    /// Reasoning text (Converse reasoning models), shown in sse/ndjson only.
    Reasoning(String),
    /// Tool-use input JSON as it streams (Converse), shown in sse/ndjson only.
    ToolUse {
        id: Option<String>,
        name: Option<String>,
        input: String,
    },
    /// A chunk whose shape no family matches, passed on as it came.
    Raw(Value),
    /// The end of a successful answer.
    Done(Summary),
    /// The stream failed after it started.
    Error(AppError),
}

fn sse(event: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// `prefix` + `text` as a JSON string + `suffix`, written once into one buffer (the text events
/// of SSE and NDJSON: the hot path, one per chunk).
fn text_event(prefix: &[u8], text: &str, suffix: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(prefix.len() + text.len() + 8 + suffix.len());
    out.extend_from_slice(prefix);
    // Serialising a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, text);
    out.extend_from_slice(suffix);
    Bytes::from(out)
}

fn line(v: &Value) -> Bytes {
    let mut s = v.to_string();
    s.push('\n');
    Bytes::from(s)
}

/// Writes typed events in one wire format. The pipeline knows nothing of formats beyond this.
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
        match (format, self) {
            // The text itself: its buffer becomes the body chunk, no copy.
            (Format::Text, OutEvent::Text(t)) => Some(Bytes::from(t)),
            (Format::Sse, OutEvent::Text(t)) => {
                Some(text_event(b"event: text\ndata: {\"text\":", &t, b"}\n\n"))
            }
            (Format::Ndjson, OutEvent::Text(t)) => {
                Some(text_event(b"{\"text\":", &t, b",\"type\":\"text\"}\n"))
            }
            (Format::Text, OutEvent::Raw(v)) => Some(line(&v)),
            (Format::Text, OutEvent::Error(e)) => Some(Bytes::from(format!(
                "\n{TEXT_ERROR_MARKER} {}: {}\n",
                e.kind.as_str(),
                e.message
            ))),
            (Format::Text, _) => None,
            (f, ev) => {
                let (name, data) = match ev {
                    OutEvent::Text(t) => ("text", json!({"text": t})),
                    OutEvent::Reasoning(t) => ("reasoning", json!({"text": t})),
                    OutEvent::ToolUse { id, name, input } => {
                        ("tool_use", json!({"id": id, "name": name, "input": input}))
                    }
                    OutEvent::Raw(v) => ("raw", json!({"chunk": v})),
                    OutEvent::Done(s) => ("done", serde_json::to_value(&s).unwrap_or(Value::Null)),
                    OutEvent::Error(e) => ("error", e.body()),
                };
                Some(if f == Format::Sse {
                    sse(name, &data)
                } else {
                    let mut obj = json!({"type": name});
                    if let (Value::Object(o), Value::Object(d)) = (&mut obj, data) {
                        o.extend(d);
                    }
                    line(&obj)
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

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

    #[test]
    fn encodings() {
        let e = OutEvent::Error(AppError::new(ErrorKind::ModelStreamError, "boom"));
        assert_eq!(
            e.clone().encode(Format::Text).unwrap(),
            "\n[bedrock-stream error] model_stream_error: boom\n"
        );
        assert_eq!(
            e.encode(Format::Ndjson).unwrap(),
            "{\"error\":{\"message\":\"boom\",\"type\":\"model_stream_error\"},\"type\":\"error\"}\n"
        );
        let t = OutEvent::Text("hi\n".into());
        assert_eq!(
            t.encode(Format::Sse).unwrap(),
            "event: text\ndata: {\"text\":\"hi\\n\"}\n\n"
        );
        assert!(OutEvent::Done(Summary::default())
            .encode(Format::Text)
            .is_none());
    }

    #[test]
    fn text_fast_path_writes_what_the_generic_json_would() {
        for text in [
            "hi",
            "quote \" back\\slash\n\ttab",
            "ünï 中文 🙂",
            "\u{1}\u{7f}",
            "",
        ] {
            let t = || OutEvent::Text(text.to_string());
            let data = json!({"text": text});
            assert_eq!(
                t().encode(Format::Sse).unwrap(),
                format!("event: text\ndata: {data}\n\n")
            );
            let line = json!({"type": "text", "text": text});
            assert_eq!(t().encode(Format::Ndjson).unwrap(), format!("{line}\n"));
            assert_eq!(t().encode(Format::Text).unwrap(), text);
        }
    }
}
