//! ConverseStream events and Converse responses (SDK types) → the handler's events and
//! Bedrock's own Converse JSON.
//!
//! Every stream event is accounted for: content goes out as typed events with its block index,
//! `messageStop` and `metadata` go into the [`Summary`] (the `done` event). The two kinds of
//! block the typed events have no name for — a server-side tool's result and a generated image
//! — go out as `raw` events holding the Converse event itself, so nothing is dropped.

use std::collections::VecDeque;

use aws_sdk_bedrockruntime::operation::converse::ConverseOutput;
use aws_sdk_bedrockruntime::types::{
    CitationSourceContentDelta, CitationsDelta, ContentBlockDelta, ContentBlockStart,
    ConverseStreamOutput, ImageBlockDelta, ReasoningContentBlockDelta, TokenUsage,
    ToolResultBlockDelta,
};
use serde_json::{json, Value};

use super::trace;
use crate::bedrock::convert::{
    b64, citation_location_json, from_document, image_source_json, message_json, object,
    performance_config_json, service_tier_json, usage_json,
};
use crate::format::{OutEvent, Summary};

fn index(i: i32) -> u32 {
    u32::try_from(i).unwrap_or(0)
}

fn usage_into(u: &TokenUsage, summary: &mut Summary) {
    summary.input_tokens = u64::try_from(u.input_tokens).ok();
    summary.output_tokens = u64::try_from(u.output_tokens).ok();
    summary.cache_read_input_tokens = u
        .cache_read_input_tokens
        .and_then(|n| u64::try_from(n).ok());
    summary.cache_write_input_tokens = u
        .cache_write_input_tokens
        .and_then(|n| u64::try_from(n).ok());
}

/// `CitationsDelta` in Converse's JSON.
fn citation_json(c: &CitationsDelta) -> Value {
    object([
        ("title", c.title.as_deref().map(Value::from)),
        ("source", c.source.as_deref().map(Value::from)),
        (
            "sourceContent",
            c.source_content.as_ref().map(|s| {
                Value::Array(
                    s.iter()
                        .map(|x: &CitationSourceContentDelta| {
                            object([("text", x.text.as_deref().map(Value::from))])
                        })
                        .collect(),
                )
            }),
        ),
        ("location", c.location.as_ref().map(citation_location_json)),
    ])
}

/// A Converse stream event with no typed counterpart, as a `raw` event: `{"<event>": payload}`.
fn raw(event: &str, payload: Value) -> OutEvent {
    OutEvent::Raw(json!({ event: payload }))
}

/// One ConverseStream event: content goes into `out`, the rest into `summary`.
pub(super) fn decode_event(
    event: ConverseStreamOutput,
    summary: &mut Summary,
    out: &mut VecDeque<OutEvent>,
) {
    match event {
        // The role is always `assistant`; nothing to tell.
        ConverseStreamOutput::MessageStart(_) => {}
        ConverseStreamOutput::ContentBlockStart(s) => {
            let i = s.content_block_index;
            match s.start {
                Some(ContentBlockStart::ToolUse(t)) => out.push_back(OutEvent::ToolUse {
                    index: index(i),
                    id: t.tool_use_id,
                    name: t.name,
                }),
                Some(ContentBlockStart::ToolResult(t)) => out.push_back(raw(
                    "contentBlockStart",
                    json!({"contentBlockIndex": i, "start": {"toolResult": object([
                        ("toolUseId", Some(Value::from(t.tool_use_id))),
                        ("type", t.r#type.map(Value::from)),
                        ("status", t.status.map(|s| Value::from(s.as_str()))),
                    ])}}),
                )),
                Some(ContentBlockStart::Image(im)) => out.push_back(raw(
                    "contentBlockStart",
                    json!({"contentBlockIndex": i,
                           "start": {"image": {"format": im.format.as_str()}}}),
                )),
                Some(_) => out.push_back(raw(
                    "contentBlockStart",
                    json!({"contentBlockIndex": i, "start": {"unknown": {}}}),
                )),
                None => {}
            }
        }
        ConverseStreamOutput::ContentBlockDelta(d) => {
            let i = d.content_block_index;
            let index = index(i);
            let ev = match d.delta {
                // Empty pieces (Claude's first tool-input fragment `""`, the `"text": ""` before a
                // reasoning signature) carry nothing.
                Some(ContentBlockDelta::Text(t)) if t.is_empty() => return,
                Some(ContentBlockDelta::Text(text)) => OutEvent::Text { index, text },
                Some(ContentBlockDelta::ToolUse(t)) if t.input.is_empty() => return,
                Some(ContentBlockDelta::ToolUse(t)) => OutEvent::ToolInput {
                    index,
                    input: t.input,
                },
                Some(ContentBlockDelta::ReasoningContent(r)) => match r {
                    ReasoningContentBlockDelta::Text(t) if t.is_empty() => return,
                    ReasoningContentBlockDelta::Text(text) => OutEvent::Reasoning { index, text },
                    ReasoningContentBlockDelta::Signature(signature) => {
                        OutEvent::ReasoningSignature { index, signature }
                    }
                    ReasoningContentBlockDelta::RedactedContent(b) => OutEvent::ReasoningRedacted {
                        index,
                        data: b64(b.as_ref()),
                    },
                    _ => raw(
                        "contentBlockDelta",
                        json!({"contentBlockIndex": i, "delta": {"reasoningContent": {"unknown": {}}}}),
                    ),
                },
                Some(ContentBlockDelta::Citation(c)) => OutEvent::Citation {
                    index,
                    citation: citation_json(&c),
                },
                Some(ContentBlockDelta::ToolResult(parts)) => raw(
                    "contentBlockDelta",
                    json!({"contentBlockIndex": i, "delta": {"toolResult": parts
                        .iter()
                        .map(|p| match p {
                            ToolResultBlockDelta::Text(t) => json!({"text": t}),
                            ToolResultBlockDelta::Json(d) => json!({"json": from_document(d)}),
                            _ => json!({"unknown": {}}),
                        })
                        .collect::<Vec<_>>()}}),
                ),
                Some(ContentBlockDelta::Image(im)) => raw(
                    "contentBlockDelta",
                    json!({"contentBlockIndex": i, "delta": {"image": image_delta_json(&im)}}),
                ),
                Some(_) => raw(
                    "contentBlockDelta",
                    json!({"contentBlockIndex": i, "delta": {"unknown": {}}}),
                ),
                None => return,
            };
            out.push_back(ev);
        }
        ConverseStreamOutput::ContentBlockStop(s) => out.push_back(OutEvent::BlockStop {
            index: index(s.content_block_index),
        }),
        ConverseStreamOutput::MessageStop(s) => {
            summary.stop_reason = Some(s.stop_reason.as_str().to_string());
            summary.additional_model_response_fields = s
                .additional_model_response_fields
                .as_ref()
                .map(|d| Box::new(from_document(d)));
        }
        ConverseStreamOutput::Metadata(m) => {
            if let Some(u) = &m.usage {
                usage_into(u, summary);
            }
            if let Some(metrics) = &m.metrics {
                summary.bedrock_latency_ms = u64::try_from(metrics.latency_ms).ok();
            }
            summary.trace = m.trace.as_ref().map(|t| Box::new(trace::stream_trace(t)));
            summary.performance_config = m
                .performance_config
                .as_ref()
                .map(|p| Box::new(performance_config_json(p)));
            summary.service_tier = m
                .service_tier
                .as_ref()
                .map(|t| Box::new(service_tier_json(t)));
        }
        _ => {
            tracing::warn!("ConverseStream sent an event this SDK version does not know");
            out.push_back(OutEvent::Raw(json!({"unknown": {}})));
        }
    }
}

fn image_delta_json(d: &ImageBlockDelta) -> Value {
    object([
        ("source", d.source.as_ref().map(image_source_json)),
        (
            "error",
            d.error
                .as_ref()
                .map(|e| object([("message", e.message.as_deref().map(Value::from))])),
        ),
    ])
}

/// The `Converse` response as Bedrock's JSON (every member the SDK read), and its summary for
/// the log.
pub(crate) fn converse_response(out: &ConverseOutput, total_ms: u64) -> (Value, Summary) {
    let message = out
        .output
        .as_ref()
        .and_then(|o| o.as_message().ok())
        .map(message_json);
    let mut summary = Summary {
        stop_reason: Some(out.stop_reason.as_str().to_string()),
        total_ms,
        bedrock_latency_ms: out
            .metrics
            .as_ref()
            .and_then(|m| u64::try_from(m.latency_ms).ok()),
        additional_model_response_fields: out
            .additional_model_response_fields
            .as_ref()
            .map(|d| Box::new(from_document(d))),
        trace: out
            .trace
            .as_ref()
            .map(|t| Box::new(trace::converse_trace(t))),
        performance_config: out
            .performance_config
            .as_ref()
            .map(|p| Box::new(performance_config_json(p))),
        service_tier: out
            .service_tier
            .as_ref()
            .map(|t| Box::new(service_tier_json(t))),
        ..Summary::default()
    };
    if let Some(u) = &out.usage {
        usage_into(u, &mut summary);
    }
    let body = object([
        ("output", Some(object([("message", message)]))),
        ("stopReason", Some(Value::from(out.stop_reason.as_str()))),
        ("usage", out.usage.as_ref().map(usage_json)),
        (
            "metrics",
            out.metrics
                .as_ref()
                .map(|m| json!({"latencyMs": m.latency_ms})),
        ),
        (
            "additionalModelResponseFields",
            summary.additional_model_response_fields.as_deref().cloned(),
        ),
        ("trace", summary.trace.as_deref().cloned()),
        (
            "performanceConfig",
            summary.performance_config.as_deref().cloned(),
        ),
        ("serviceTier", summary.service_tier.as_deref().cloned()),
    ]);
    (body, summary)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use aws_sdk_bedrockruntime::primitives::Blob;
    use aws_sdk_bedrockruntime::types as sdk;

    fn decode(events: Vec<ConverseStreamOutput>) -> (Vec<OutEvent>, Summary) {
        let mut summary = Summary::default();
        let mut out = VecDeque::new();
        for e in events {
            decode_event(e, &mut summary, &mut out);
        }
        (out.into_iter().collect(), summary)
    }

    fn delta(i: i32, d: ContentBlockDelta) -> ConverseStreamOutput {
        ConverseStreamOutput::ContentBlockDelta(
            sdk::ContentBlockDeltaEvent::builder()
                .content_block_index(i)
                .delta(d)
                .build()
                .unwrap(),
        )
    }

    #[test]
    fn every_content_event() {
        let (events, _) = decode(vec![
            ConverseStreamOutput::MessageStart(
                sdk::MessageStartEvent::builder()
                    .role(sdk::ConversationRole::Assistant)
                    .build()
                    .unwrap(),
            ),
            delta(
                0,
                ContentBlockDelta::ReasoningContent(ReasoningContentBlockDelta::Text(
                    "think".into(),
                )),
            ),
            delta(
                0,
                ContentBlockDelta::ReasoningContent(
                    ReasoningContentBlockDelta::Text(String::new()),
                ),
            ),
            delta(
                0,
                ContentBlockDelta::ReasoningContent(ReasoningContentBlockDelta::Signature(
                    "sig".into(),
                )),
            ),
            delta(
                1,
                ContentBlockDelta::ReasoningContent(ReasoningContentBlockDelta::RedactedContent(
                    Blob::new(b"\x01\x02".to_vec()),
                )),
            ),
            delta(2, ContentBlockDelta::Text("hi".into())),
            ConverseStreamOutput::ContentBlockStop(
                sdk::ContentBlockStopEvent::builder()
                    .content_block_index(2)
                    .build()
                    .unwrap(),
            ),
            ConverseStreamOutput::ContentBlockStart(
                sdk::ContentBlockStartEvent::builder()
                    .content_block_index(3)
                    .start(ContentBlockStart::ToolUse(
                        sdk::ToolUseBlockStart::builder()
                            .tool_use_id("tooluse_1")
                            .name("get_weather")
                            .build()
                            .unwrap(),
                    ))
                    .build()
                    .unwrap(),
            ),
            delta(
                3,
                ContentBlockDelta::ToolUse(
                    sdk::ToolUseBlockDelta::builder().input("").build().unwrap(),
                ),
            ),
            delta(
                3,
                ContentBlockDelta::ToolUse(
                    sdk::ToolUseBlockDelta::builder()
                        .input("{\"city\":")
                        .build()
                        .unwrap(),
                ),
            ),
            delta(
                4,
                ContentBlockDelta::Citation(
                    CitationsDelta::builder()
                        .title("doc")
                        .source_content(CitationSourceContentDelta::builder().text("Paris").build())
                        .location(sdk::CitationLocation::DocumentPage(
                            sdk::DocumentPageLocation::builder()
                                .document_index(0)
                                .start(1)
                                .end(2)
                                .build(),
                        ))
                        .build(),
                ),
            ),
        ]);
        assert_eq!(
            events,
            vec![
                OutEvent::Reasoning {
                    index: 0,
                    text: "think".into()
                },
                OutEvent::ReasoningSignature {
                    index: 0,
                    signature: "sig".into()
                },
                OutEvent::ReasoningRedacted {
                    index: 1,
                    data: "AQI=".into()
                },
                OutEvent::Text {
                    index: 2,
                    text: "hi".into()
                },
                OutEvent::BlockStop { index: 2 },
                OutEvent::ToolUse {
                    index: 3,
                    id: "tooluse_1".into(),
                    name: "get_weather".into()
                },
                OutEvent::ToolInput {
                    index: 3,
                    input: "{\"city\":".into()
                },
                OutEvent::Citation {
                    index: 4,
                    citation: json!({"title": "doc", "sourceContent": [{"text": "Paris"}],
                        "location": {"documentPage": {"documentIndex": 0, "start": 1, "end": 2}}}),
                },
            ]
        );
    }

    #[test]
    fn server_tool_results_and_images_go_out_raw() {
        let (events, _) = decode(vec![
            ConverseStreamOutput::ContentBlockStart(
                sdk::ContentBlockStartEvent::builder()
                    .content_block_index(1)
                    .start(ContentBlockStart::ToolResult(
                        sdk::ToolResultBlockStart::builder()
                            .tool_use_id("t1")
                            .status(sdk::ToolResultStatus::Success)
                            .build()
                            .unwrap(),
                    ))
                    .build()
                    .unwrap(),
            ),
            delta(
                1,
                ContentBlockDelta::ToolResult(vec![
                    ToolResultBlockDelta::Text("found".into()),
                    ToolResultBlockDelta::Json(aws_smithy_types::Document::Bool(true)),
                ]),
            ),
            delta(
                2,
                ContentBlockDelta::Image(
                    ImageBlockDelta::builder()
                        .source(sdk::ImageSource::Bytes(Blob::new(b"png".to_vec())))
                        .build(),
                ),
            ),
        ]);
        assert_eq!(
            events,
            vec![
                OutEvent::Raw(json!({"contentBlockStart": {"contentBlockIndex": 1,
                    "start": {"toolResult": {"toolUseId": "t1", "status": "success"}}}})),
                OutEvent::Raw(json!({"contentBlockDelta": {"contentBlockIndex": 1,
                    "delta": {"toolResult": [{"text": "found"}, {"json": true}]}}})),
                OutEvent::Raw(json!({"contentBlockDelta": {"contentBlockIndex": 2,
                    "delta": {"image": {"source": {"bytes": "cG5n"}}}}})),
            ]
        );
    }

    #[test]
    fn stop_and_metadata_fill_the_summary() {
        let (events, s) = decode(vec![
            ConverseStreamOutput::MessageStop(
                sdk::MessageStopEvent::builder()
                    .stop_reason(sdk::StopReason::ToolUse)
                    .additional_model_response_fields(crate::bedrock::convert::to_document(
                        &json!({"stop_sequence": null}),
                    ))
                    .build()
                    .unwrap(),
            ),
            ConverseStreamOutput::Metadata(
                sdk::ConverseStreamMetadataEvent::builder()
                    .usage(
                        TokenUsage::builder()
                            .input_tokens(11)
                            .output_tokens(264)
                            .total_tokens(1303)
                            .cache_read_input_tokens(0)
                            .cache_write_input_tokens(1028)
                            .build()
                            .unwrap(),
                    )
                    .metrics(
                        sdk::ConverseStreamMetrics::builder()
                            .latency_ms(8844)
                            .build()
                            .unwrap(),
                    )
                    .trace(
                        sdk::ConverseStreamTrace::builder()
                            .prompt_router(
                                sdk::PromptRouterTrace::builder()
                                    .invoked_model_id("m")
                                    .build(),
                            )
                            .build(),
                    )
                    .performance_config(
                        sdk::PerformanceConfiguration::builder()
                            .latency(sdk::PerformanceConfigLatency::Optimized)
                            .build(),
                    )
                    .service_tier(
                        sdk::ServiceTier::builder()
                            .r#type(sdk::ServiceTierType::Priority)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            ),
        ]);
        assert!(events.is_empty());
        assert_eq!(s.stop_reason.as_deref(), Some("tool_use"));
        assert_eq!(
            s.additional_model_response_fields.as_deref(),
            Some(&json!({"stop_sequence": null}))
        );
        assert_eq!((s.input_tokens, s.output_tokens), (Some(11), Some(264)));
        assert_eq!(s.cache_read_input_tokens, Some(0));
        assert_eq!(s.cache_write_input_tokens, Some(1028));
        assert_eq!(s.bedrock_latency_ms, Some(8844));
        assert_eq!(
            s.trace.as_deref(),
            Some(&json!({"promptRouter": {"invokedModelId": "m"}}))
        );
        assert_eq!(
            s.performance_config.as_deref(),
            Some(&json!({"latency": "optimized"}))
        );
        assert_eq!(
            s.service_tier.as_deref(),
            Some(&json!({"type": "priority"}))
        );
        let done = serde_json::to_value(&s).unwrap();
        assert_eq!(done["trace"]["promptRouter"]["invokedModelId"], "m");
        assert_eq!(done["cache_write_input_tokens"], 1028);
    }
}
