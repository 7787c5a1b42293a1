//! `sse` (`event: <type>` + `data: <json>`) and `ndjson` (`{"type": <type>, …}` per line): the
//! same typed events, documented in docs/http-api.md. Text events, one per upstream chunk, are
//! written straight into one buffer; everything else goes through `serde_json`.

use bytes::Bytes;
use serde_json::{json, Value};

use super::OutEvent;

/// The event's type name and its JSON members (`index` first among them for content events).
fn members(event: OutEvent) -> (&'static str, Value) {
    match event {
        OutEvent::Text { index, text } => ("text", json!({"index": index, "text": text})),
        OutEvent::ToolUse { index, id, name } => {
            ("tool_use", json!({"index": index, "id": id, "name": name}))
        }
        OutEvent::ToolInput { index, input } => {
            ("tool_input", json!({"index": index, "input": input}))
        }
        OutEvent::Reasoning { index, text } => ("reasoning", json!({"index": index, "text": text})),
        OutEvent::ReasoningSignature { index, signature } => (
            "reasoning_signature",
            json!({"index": index, "signature": signature}),
        ),
        OutEvent::ReasoningRedacted { index, data } => {
            ("reasoning_redacted", json!({"index": index, "data": data}))
        }
        OutEvent::Citation { index, citation } => {
            ("citation", json!({"index": index, "citation": citation}))
        }
        OutEvent::BlockStop { index } => ("block_stop", json!({"index": index})),
        OutEvent::Raw(v) => ("raw", json!({"chunk": v})),
        OutEvent::Done(s) => ("done", serde_json::to_value(&s).unwrap_or(Value::Null)),
        OutEvent::Error(e) => ("error", e.body()),
    }
}

/// `prefix` + `text` as a JSON string + `suffix`, written once into one buffer.
fn text_event(prefix: &[u8], index: u32, text: &str, suffix: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(prefix.len() + text.len() + 24 + suffix.len());
    out.extend_from_slice(prefix);
    out.extend_from_slice(index.to_string().as_bytes());
    out.extend_from_slice(b",\"text\":");
    // Serialising a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, text);
    out.extend_from_slice(suffix);
    Bytes::from(out)
}

pub(super) fn sse(event: OutEvent) -> Option<Bytes> {
    if let OutEvent::Text { index, text } = &event {
        return Some(text_event(
            b"event: text\ndata: {\"index\":",
            *index,
            text,
            b"}\n\n",
        ));
    }
    let (name, data) = members(event);
    Some(Bytes::from(format!("event: {name}\ndata: {data}\n\n")))
}

pub(super) fn ndjson(event: OutEvent) -> Option<Bytes> {
    if let OutEvent::Text { index, text } = &event {
        return Some(text_event(
            b"{\"index\":",
            *index,
            text,
            b",\"type\":\"text\"}\n",
        ));
    }
    let (name, data) = members(event);
    let mut obj = json!({"type": name});
    if let (Value::Object(o), Value::Object(d)) = (&mut obj, data) {
        o.extend(d);
    }
    let mut s = obj.to_string();
    s.push('\n');
    Some(Bytes::from(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{AppError, ErrorKind};
    use crate::format::Format;

    #[test]
    fn typed_events() {
        let e = OutEvent::Error(AppError::new(ErrorKind::ModelStreamError, "boom"));
        assert_eq!(
            e.encode(Format::Ndjson).unwrap(),
            "{\"error\":{\"message\":\"boom\",\"type\":\"model_stream_error\"},\"type\":\"error\"}\n"
        );
        let t = OutEvent::Text {
            index: 0,
            text: "hi\n".into(),
        };
        assert_eq!(
            t.encode(Format::Sse).unwrap(),
            "event: text\ndata: {\"index\":0,\"text\":\"hi\\n\"}\n\n"
        );
        let tool = OutEvent::ToolUse {
            index: 1,
            id: "t1".into(),
            name: "weather".into(),
        };
        assert_eq!(
            tool.encode(Format::Sse).unwrap(),
            "event: tool_use\ndata: {\"id\":\"t1\",\"index\":1,\"name\":\"weather\"}\n\n"
        );
        let input = OutEvent::ToolInput {
            index: 1,
            input: "{\"city\":".into(),
        };
        assert_eq!(
            input.encode(Format::Ndjson).unwrap(),
            "{\"index\":1,\"input\":\"{\\\"city\\\":\",\"type\":\"tool_input\"}\n"
        );
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
            for index in [0, 7, 12345] {
                let t = || OutEvent::Text {
                    index,
                    text: text.to_string(),
                };
                let data = json!({"index": index, "text": text});
                assert_eq!(
                    t().encode(Format::Sse).unwrap(),
                    format!("event: text\ndata: {data}\n\n")
                );
                let line = json!({"type": "text", "index": index, "text": text});
                assert_eq!(t().encode(Format::Ndjson).unwrap(), format!("{line}\n"));
                assert_eq!(t().encode(Format::Text).unwrap(), text);
            }
        }
    }
}
