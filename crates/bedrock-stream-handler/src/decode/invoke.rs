//! InvokeModelWithResponseStream `chunk` payloads → events, through the family's decoder.

use std::collections::VecDeque;

use base64::Engine as _;
use bedrock_families::{BlockEvent, BlockStart, ChunkDecoder, Delta, Family};
use serde_json::Value;

use crate::format::{OutEvent, Summary};

/// The handler's event for a family decoder's block event.
fn out_event(e: BlockEvent) -> Option<OutEvent> {
    Some(match e {
        BlockEvent::Start {
            index,
            start: BlockStart::ToolUse { id, name },
        } => OutEvent::ToolUse { index, id, name },
        BlockEvent::Start { .. } => return None,
        BlockEvent::Delta { index, delta } => match delta {
            Delta::Text(text) => OutEvent::Text { index, text },
            Delta::ToolInput(input) => OutEvent::ToolInput { index, input },
            Delta::Reasoning(text) => OutEvent::Reasoning { index, text },
            Delta::ReasoningSignature(signature) => {
                OutEvent::ReasoningSignature { index, signature }
            }
            Delta::RedactedReasoning(bytes) => OutEvent::ReasoningRedacted {
                index,
                data: base64::engine::general_purpose::STANDARD.encode(bytes),
            },
            Delta::Citation(citation) => OutEvent::Citation { index, citation },
        },
        BlockEvent::Stop { index } => OutEvent::BlockStop { index },
    })
}

/// Decodes one `chunk` payload with the stream's decoder (which keeps the family's per-stream
/// state: block numbering, tool-call indexes): the content and metadata, or the raw JSON when
/// the shape is unknown.
pub(crate) fn decode_invoke_chunk(
    bytes: &[u8],
    decoder: &mut Option<ChunkDecoder>,
    summary: &mut Summary,
    out: &mut VecDeque<OutEvent>,
) {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(_) => {
            out.push_back(OutEvent::Raw(Value::String(
                String::from_utf8_lossy(bytes).into_owned(),
            )));
            return;
        }
    };
    if decoder.is_none() {
        *decoder = Family::from_chunk(&value).map(ChunkDecoder::new);
    }
    let Some(d) = decoder.as_mut() else {
        out.push_back(OutEvent::Raw(value));
        return;
    };
    let info = d.decode(&value);
    if let Some(reason) = info.stop_reason {
        summary.stop_reason = Some(reason);
    }
    if info.input_tokens.is_some() {
        summary.input_tokens = info.input_tokens;
    }
    if info.output_tokens.is_some() {
        summary.output_tokens = info.output_tokens;
    }
    if info.cache_read_input_tokens.is_some() {
        summary.cache_read_input_tokens = info.cache_read_input_tokens;
    }
    if info.cache_write_input_tokens.is_some() {
        summary.cache_write_input_tokens = info.cache_write_input_tokens;
    }
    if let Some(m) = info.metrics {
        summary.bedrock_latency_ms = Some(m.invocation_latency);
        summary.bedrock_first_byte_ms = Some(m.first_byte_latency);
        summary.input_tokens = Some(m.input_token_count);
        summary.output_tokens = Some(m.output_token_count);
    }
    let mut said = false;
    if let Some(t) = info.text.filter(|t| !t.is_empty()) {
        out.push_back(OutEvent::Text {
            index: info.text_index,
            text: t,
        });
        said = true;
    }
    for e in info.events {
        if let Some(ev) = out_event(e) {
            out.push_back(ev);
            said = true;
        }
    }
    if !said && !info.recognised {
        out.push_back(OutEvent::Raw(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_shapes_pass_through_raw_and_known_ones_are_sniffed() {
        let mut summary = Summary::default();
        let mut family = None;
        let mut out = VecDeque::new();
        decode_invoke_chunk(br#"{"weird": 1}"#, &mut family, &mut summary, &mut out);
        assert_eq!(out.pop_front(), Some(OutEvent::Raw(json!({"weird": 1}))));
        assert!(family.is_none());
        decode_invoke_chunk(
            br#"{"generation": "hi", "stop_reason": null}"#,
            &mut family,
            &mut summary,
            &mut out,
        );
        assert_eq!(
            out.pop_front(),
            Some(OutEvent::Text {
                index: 0,
                text: "hi".into()
            })
        );
        assert_eq!(
            family.as_ref().map(ChunkDecoder::family),
            Some(Family::Llama)
        );
        decode_invoke_chunk(b"not json", &mut family, &mut summary, &mut out);
        assert_eq!(
            out.pop_front(),
            Some(OutEvent::Raw(Value::String("not json".into())))
        );
        decode_invoke_chunk(
            br#"{"generation": "", "stop_reason": "stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 3, "outputTokenCount": 9, "invocationLatency": 100, "firstByteLatency": 20}}"#,
            &mut family, &mut summary, &mut out);
        assert!(out.is_empty());
        assert_eq!(summary.stop_reason.as_deref(), Some("stop"));
        assert_eq!(summary.output_tokens, Some(9));
        assert_eq!(summary.bedrock_first_byte_ms, Some(20));
    }
}
