//! `text`: the answer's words and nothing else (the seed's behaviour), plus a clearly marked
//! final line when the stream fails after it started.

use axum::http::HeaderValue;
use bytes::Bytes;

use super::{EventEncoder, Format, OutEvent};

/// The marker that starts the final line of a text stream that failed after it started.
pub const TEXT_ERROR_MARKER: &str = "[bedrock-stream error]";

pub(super) fn encode(event: OutEvent) -> Option<Bytes> {
    match event {
        // The text itself: its buffer becomes the body chunk, no copy.
        OutEvent::Text { text, .. } => Some(Bytes::from(text)),
        OutEvent::Raw(v) => {
            let mut s = v.to_string();
            s.push('\n');
            Some(Bytes::from(s))
        }
        OutEvent::Error(e) => Some(Bytes::from(format!(
            "\n{TEXT_ERROR_MARKER} {}: {}\n",
            e.kind.as_str(),
            e.message
        ))),
        OutEvent::ToolUse { .. }
        | OutEvent::ToolInput { .. }
        | OutEvent::Reasoning { .. }
        | OutEvent::ReasoningSignature { .. }
        | OutEvent::ReasoningRedacted { .. }
        | OutEvent::Citation { .. }
        | OutEvent::BlockStop { .. }
        | OutEvent::Done(_) => None,
    }
}

/// `/converse` in `text`: the answer's words only. Converse has no chunk shapes to pass on
/// raw; its `raw` events are a server-side tool's results and generated images, which are not
/// the answer's text (sse and ndjson carry them).
pub(crate) struct ConverseText;

impl EventEncoder for ConverseText {
    fn content_type(&self) -> HeaderValue {
        Format::Text.content_type()
    }
    fn encode(&mut self, event: OutEvent) -> Option<Bytes> {
        match event {
            OutEvent::Raw(_) => None,
            other => encode(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{AppError, ErrorKind};
    use crate::format::{Format, Summary};

    #[test]
    fn only_the_answer_and_a_marked_error() {
        let e = OutEvent::Error(AppError::new(ErrorKind::ModelStreamError, "boom"));
        assert_eq!(
            e.encode(Format::Text).unwrap(),
            "\n[bedrock-stream error] model_stream_error: boom\n"
        );
        let t = OutEvent::Text {
            index: 2,
            text: "hi".into(),
        };
        assert_eq!(t.encode(Format::Text).unwrap(), "hi");
        for silent in [
            OutEvent::Done(Summary::default()),
            OutEvent::Reasoning {
                index: 0,
                text: "think".into(),
            },
            OutEvent::ToolInput {
                index: 1,
                input: "{}".into(),
            },
        ] {
            assert!(silent.encode(Format::Text).is_none());
        }
    }

    #[test]
    fn converse_text_leaves_raw_events_out() {
        let mut e = ConverseText;
        assert!(e
            .encode(OutEvent::Raw(serde_json::json!({"contentBlockStart": {}})))
            .is_none());
        assert_eq!(
            e.encode(OutEvent::Text {
                index: 0,
                text: "hi".into()
            })
            .unwrap(),
            "hi"
        );
        assert!(e
            .encode(OutEvent::Error(AppError::new(
                ErrorKind::ModelStreamError,
                "x"
            )))
            .unwrap()
            .starts_with(b"\n[bedrock-stream error]"));
    }
}
