//! ConverseStream events and Converse responses (SDK types) → the handler's events and
//! Bedrock's own Converse JSON.

use std::collections::VecDeque;

use aws_sdk_bedrockruntime::operation::converse::ConverseOutput;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ContentBlockStart, ConverseStreamOutput,
    ReasoningContentBlock, ReasoningContentBlockDelta, TokenUsage,
};
use base64::Engine as _;
use bedrock_families::converse as cv;
use serde_json::{json, Value};

use crate::bedrock::convert::from_document;
use crate::format::{OutEvent, Summary};

fn index(i: i32) -> u32 {
    u32::try_from(i).unwrap_or(0)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn usage_into(u: &TokenUsage, summary: &mut Summary) {
    summary.input_tokens = u64::try_from(u.input_tokens()).ok();
    summary.output_tokens = u64::try_from(u.output_tokens()).ok();
    summary.cache_read_input_tokens = u
        .cache_read_input_tokens()
        .and_then(|n| u64::try_from(n).ok());
    summary.cache_write_input_tokens = u
        .cache_write_input_tokens()
        .and_then(|n| u64::try_from(n).ok());
}

/// One ConverseStream event: content goes into `out`, the rest into `summary`.
pub(super) fn decode_event(
    event: ConverseStreamOutput,
    summary: &mut Summary,
    out: &mut VecDeque<OutEvent>,
) {
    match event {
        ConverseStreamOutput::ContentBlockStart(s) => {
            if let Some(ContentBlockStart::ToolUse(t)) = s.start() {
                out.push_back(OutEvent::ToolUse {
                    index: index(s.content_block_index()),
                    id: t.tool_use_id().to_string(),
                    name: t.name().to_string(),
                });
            }
        }
        ConverseStreamOutput::ContentBlockDelta(d) => {
            let index = index(d.content_block_index());
            let ev = match d.delta() {
                Some(ContentBlockDelta::Text(t)) if !t.is_empty() => OutEvent::Text {
                    index,
                    text: t.clone(),
                },
                Some(ContentBlockDelta::ToolUse(t)) => OutEvent::ToolInput {
                    index,
                    input: t.input().to_string(),
                },
                Some(ContentBlockDelta::ReasoningContent(r)) => match r {
                    ReasoningContentBlockDelta::Text(t) => OutEvent::Reasoning {
                        index,
                        text: t.clone(),
                    },
                    ReasoningContentBlockDelta::Signature(s) => OutEvent::ReasoningSignature {
                        index,
                        signature: s.clone(),
                    },
                    ReasoningContentBlockDelta::RedactedContent(b) => OutEvent::ReasoningRedacted {
                        index,
                        data: b64(b.as_ref()),
                    },
                    _ => return,
                },
                Some(ContentBlockDelta::Citation(c)) => OutEvent::Citation {
                    index,
                    citation: json!({
                        "title": c.title(), "source": c.source(),
                        "sourceContent": c.source_content().iter()
                            .map(|s| json!({"text": s.text()})).collect::<Vec<_>>(),
                    }),
                },
                _ => return,
            };
            out.push_back(ev);
        }
        ConverseStreamOutput::ContentBlockStop(s) => out.push_back(OutEvent::BlockStop {
            index: index(s.content_block_index()),
        }),
        ConverseStreamOutput::MessageStop(s) => {
            summary.stop_reason = Some(s.stop_reason().as_str().to_string());
            summary.additional_model_response_fields =
                s.additional_model_response_fields().map(from_document);
        }
        ConverseStreamOutput::Metadata(m) => {
            if let Some(u) = m.usage() {
                usage_into(u, summary);
            }
            if let Some(metrics) = m.metrics() {
                summary.bedrock_latency_ms = u64::try_from(metrics.latency_ms()).ok();
            }
        }
        _ => {}
    }
}

/// A content block of a Converse answer as Bedrock's JSON.
fn content_json(b: &ContentBlock) -> Option<cv::ContentBlock> {
    Some(match b {
        ContentBlock::Text(t) => cv::ContentBlock::Text(t.clone()),
        ContentBlock::ToolUse(t) => cv::ContentBlock::ToolUse(cv::ToolUseBlock {
            tool_use_id: t.tool_use_id().to_string(),
            name: t.name().to_string(),
            input: from_document(t.input()),
            kind: t.r#type().map(|k| k.as_str().to_string()),
        }),
        ContentBlock::ReasoningContent(r) => cv::ContentBlock::ReasoningContent(match r {
            ReasoningContentBlock::ReasoningText(t) => {
                cv::ReasoningContentBlock::ReasoningText(cv::ReasoningTextBlock {
                    text: t.text().to_string(),
                    signature: t.signature().map(str::to_string),
                })
            }
            ReasoningContentBlock::RedactedContent(b) => {
                cv::ReasoningContentBlock::RedactedContent(cv::Blob(b.as_ref().to_vec()))
            }
            _ => return None,
        }),
        _ => return None,
    })
}

/// The `Converse` response as Bedrock's JSON, and its summary for the log.
pub(crate) fn converse_response(out: &ConverseOutput, total_ms: u64) -> (Value, Summary) {
    let content: Vec<cv::ContentBlock> = out
        .output()
        .and_then(|o| o.as_message().ok())
        .map(|m| m.content().iter().filter_map(content_json).collect())
        .unwrap_or_default();
    let mut summary = Summary {
        stop_reason: Some(out.stop_reason().as_str().to_string()),
        total_ms,
        bedrock_latency_ms: out
            .metrics()
            .and_then(|m| u64::try_from(m.latency_ms()).ok()),
        additional_model_response_fields: out.additional_model_response_fields().map(from_document),
        ..Summary::default()
    };
    if let Some(u) = out.usage() {
        usage_into(u, &mut summary);
    }
    let usage = out.usage();
    let body = cv::ConverseResponse {
        output: cv::ConverseOutput {
            message: Some(cv::Message {
                role: cv::ConversationRole::Assistant,
                content,
            }),
        },
        stop_reason: out.stop_reason().as_str().to_string(),
        usage: cv::TokenUsage {
            input_tokens: usage.map_or(0, TokenUsage::input_tokens),
            output_tokens: usage.map_or(0, TokenUsage::output_tokens),
            total_tokens: usage.map_or(0, TokenUsage::total_tokens),
            cache_read_input_tokens: usage.and_then(TokenUsage::cache_read_input_tokens),
            cache_write_input_tokens: usage.and_then(TokenUsage::cache_write_input_tokens),
            cache_details: None,
        },
        metrics: cv::ConverseMetrics {
            latency_ms: out.metrics().map_or(0, |m| m.latency_ms()),
        },
        additional_model_response_fields: summary.additional_model_response_fields.clone(),
        trace: None,
        performance_config: None,
        service_tier: None,
    };
    (serde_json::to_value(&body).unwrap_or(Value::Null), summary)
}
