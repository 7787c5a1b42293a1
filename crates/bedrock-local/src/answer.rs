//! A whole answer, collected for the non-streaming operations: its content blocks in order
//! (reasoning, text, tool calls), why it stopped and its usage — and the Converse and
//! InvokeModel response bodies made from it.

use std::time::Instant;

use base64::Engine as _;
use bedrock_families::{AnswerBlock, Family, StopReason, ToolCall, Usage};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::engine::EngineEvent;
use crate::error::BedrockError;
use crate::stream::{converse_usage, response_fields, BlockCounter};

#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub blocks: Vec<AnswerBlock>,
    pub stop: StopReason,
    pub usage: Usage,
    pub first_byte_ms: u64,
}

impl Answer {
    /// Reads an engine's events to the end.
    pub(crate) async fn collect(
        mut rx: mpsc::Receiver<EngineEvent>,
        started: Instant,
    ) -> Result<Answer, BedrockError> {
        let mut blocks: Vec<AnswerBlock> = Vec::new();
        let mut counter = BlockCounter::default();
        let mut first_byte_ms = None;
        // Each tool call's input JSON text, as streamed, parsed when the answer is whole.
        let mut inputs: Vec<String> = Vec::new();
        loop {
            let event = rx.recv().await;
            match event {
                Some(EngineEvent::Started { .. }) => {}
                Some(EngineEvent::Finished { stop, usage }) => {
                    let first_byte_ms = first_byte_ms.unwrap_or_else(|| {
                        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
                    });
                    let mut texts = inputs.iter();
                    for b in &mut blocks {
                        if let AnswerBlock::ToolUse(call) = b {
                            let text = texts.next().map_or("", String::as_str);
                            // A call cut by max_tokens has no whole JSON: kept as written.
                            call.input = serde_json::from_str(text)
                                .unwrap_or_else(|_| Value::String(text.to_string()));
                        }
                    }
                    return Ok(Answer {
                        blocks,
                        stop,
                        usage,
                        first_byte_ms,
                    });
                }
                Some(EngineEvent::Failed { message }) => {
                    return Err(BedrockError::ModelError(message));
                }
                None => {
                    return Err(BedrockError::Internal(
                        "The model stopped without finishing its answer".into(),
                    ));
                }
                Some(content) => {
                    first_byte_ms.get_or_insert_with(|| {
                        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
                    });
                    let Some(step) = counter.step(&content) else {
                        continue;
                    };
                    if step.opens {
                        blocks.push(match &content {
                            EngineEvent::ToolUse { id, name } => {
                                inputs.push(String::new());
                                AnswerBlock::ToolUse(ToolCall {
                                    id: id.clone(),
                                    name: name.clone(),
                                    input: Value::Null,
                                })
                            }
                            EngineEvent::Reasoning { .. }
                            | EngineEvent::ReasoningSignature { .. } => AnswerBlock::Reasoning {
                                text: String::new(),
                                signature: None,
                            },
                            _ => AnswerBlock::Text(String::new()),
                        });
                    }
                    match (blocks.last_mut(), content) {
                        (Some(AnswerBlock::Text(t)), EngineEvent::Text { text, .. }) => {
                            t.push_str(&text)
                        }
                        (
                            Some(AnswerBlock::Reasoning { text: t, .. }),
                            EngineEvent::Reasoning { text, .. },
                        ) => t.push_str(&text),
                        (
                            Some(AnswerBlock::Reasoning { signature: s, .. }),
                            EngineEvent::ReasoningSignature { signature },
                        ) => *s = Some(signature),
                        (Some(AnswerBlock::ToolUse(_)), EngineEvent::ToolInput { json, .. }) => {
                            if let Some(input) = inputs.last_mut() {
                                input.push_str(&json);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// The Converse response body (FACTS.md §4: keys in alphabetical order on the wire; JSON
    /// readers do not care).
    pub(crate) fn converse_body(&self, paths: &[String], latency_ms: u64) -> Value {
        let content: Vec<Value> = self
            .blocks
            .iter()
            .map(|b| match b {
                AnswerBlock::Text(t) => json!({"text": t}),
                AnswerBlock::Reasoning { text, signature } => {
                    let mut r = json!({"text": text});
                    if let Some(s) = signature {
                        r["signature"] = json!(s);
                    }
                    json!({"reasoningContent": {"reasoningText": r}})
                }
                AnswerBlock::ToolUse(call) => json!({"toolUse": {
                    "toolUseId": call.id, "name": call.name, "input": call.input
                }}),
                AnswerBlock::RedactedReasoning(bytes) => json!({"reasoningContent": {
                    "redactedContent": base64::engine::general_purpose::STANDARD.encode(bytes)
                }}),
            })
            .collect();
        let mut body = json!({
            "metrics": {"latencyMs": latency_ms},
            "output": {"message": {"content": content, "role": "assistant"}},
            "stopReason": self.stop.converse_name(),
            "usage": converse_usage(&self.usage),
        });
        if let Some(fields) = response_fields(paths, &self.stop) {
            body["additionalModelResponseFields"] = fields;
        }
        body
    }

    /// The InvokeModel response body in the family's shape.
    pub(crate) fn invoke_body(&self, family: Family, model_id: &str) -> Value {
        family.response_body_blocks(model_id, &self.blocks, &self.stop, self.usage)
    }
}
