//! A whole answer, collected for the non-streaming operations: its content blocks in order
//! (reasoning, text, tool calls), why it stopped and its usage — and the Converse and
//! InvokeModel response bodies made from it.

use std::time::Instant;

use bedrock_families::{Family, StopReason, Usage};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::engine::EngineEvent;
use crate::error::BedrockError;
use crate::stream::{converse_usage, response_fields, BlockCounter};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AnswerBlock {
    Text(String),
    Reasoning {
        text: String,
        signature: Option<String>,
    },
    ToolUse {
        id: String,
        name: String,
        /// The input's JSON text, as the engine streamed it.
        input: String,
    },
}

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
        loop {
            let event = rx.recv().await;
            match event {
                Some(EngineEvent::Started { .. }) => {}
                Some(EngineEvent::Finished { stop, usage }) => {
                    let first_byte_ms = first_byte_ms.unwrap_or_else(|| {
                        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
                    });
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
                            EngineEvent::ToolUse { id, name } => AnswerBlock::ToolUse {
                                id: id.clone(),
                                name: name.clone(),
                                input: String::new(),
                            },
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
                        (
                            Some(AnswerBlock::ToolUse { input, .. }),
                            EngineEvent::ToolInput { json, .. },
                        ) => input.push_str(&json),
                        _ => {}
                    }
                }
            }
        }
    }

    /// The answer's text blocks, joined.
    pub(crate) fn text(&self) -> String {
        self.blocks
            .iter()
            .filter_map(|b| match b {
                AnswerBlock::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    fn text_only(&self) -> bool {
        self.blocks
            .iter()
            .all(|b| matches!(b, AnswerBlock::Text(_)))
    }

    /// A tool call's input as JSON (the engine streamed its text).
    fn input(json: &str) -> Result<Value, BedrockError> {
        serde_json::from_str(json).map_err(|e| {
            BedrockError::ModelError(format!(
                "The model wrote a tool input that is not JSON: {e}"
            ))
        })
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
                AnswerBlock::ToolUse { id, name, input } => json!({"toolUse": {
                    "toolUseId": id, "name": name,
                    "input": Self::input(input).unwrap_or_else(|_| Value::String(input.clone()))
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
    ///
    /// `Family::response_body` writes text answers; tool calls and reasoning are added here for
    /// the families whose non-streaming bodies have them on record (Anthropic Messages
    /// `content[]`, Nova `output.message.content[]`, OpenAI-shaped `tool_calls`) until the
    /// families crate's encoder takes content blocks itself.
    pub(crate) fn invoke_body(
        &self,
        family: Family,
        model_id: &str,
    ) -> Result<Value, BedrockError> {
        let mut body = family.response_body(model_id, &self.text(), &self.stop, self.usage);
        if self.text_only() {
            return Ok(body);
        }
        let unsupported = || {
            BedrockError::Internal(format!(
                "The local endpoint cannot write tool calls or reasoning in the {} family's non-streaming InvokeModel body; use InvokeModelWithResponseStream or Converse.",
                family.name()
            ))
        };
        match family {
            Family::AnthropicMessages => {
                let mut content = Vec::new();
                for b in &self.blocks {
                    content.push(match b {
                        AnswerBlock::Text(t) => json!({"type": "text", "text": t}),
                        AnswerBlock::Reasoning { text, signature } => {
                            json!({"type": "thinking", "thinking": text, "signature": signature.clone().unwrap_or_default()})
                        }
                        AnswerBlock::ToolUse { id, name, input } => {
                            json!({"type": "tool_use", "id": id, "name": name, "input": Self::input(input)?})
                        }
                    });
                }
                body["content"] = Value::Array(content);
            }
            Family::Nova => {
                let mut content = Vec::new();
                for b in &self.blocks {
                    content.push(match b {
                        AnswerBlock::Text(t) => json!({"text": t}),
                        AnswerBlock::Reasoning { text, signature } => {
                            let mut r = json!({"text": text});
                            if let Some(s) = signature {
                                r["signature"] = json!(s);
                            }
                            json!({"reasoningContent": {"reasoningText": r}})
                        }
                        AnswerBlock::ToolUse { id, name, input } => {
                            json!({"toolUse": {"toolUseId": id, "name": name, "input": Self::input(input)?}})
                        }
                    });
                }
                body["output"]["message"]["content"] = Value::Array(content);
            }
            Family::OpenAiChat | Family::MistralChat => {
                let mut calls = Vec::new();
                for b in &self.blocks {
                    match b {
                        AnswerBlock::Text(_) => {}
                        AnswerBlock::Reasoning { .. } => return Err(unsupported()),
                        AnswerBlock::ToolUse { id, name, input } => calls.push(json!({
                            "id": id, "type": "function",
                            "function": {"name": name, "arguments": input}
                        })),
                    }
                }
                if let Some(choice) = body.get_mut("choices").and_then(|c| c.get_mut(0)) {
                    choice["message"]["tool_calls"] = Value::Array(calls);
                    choice["finish_reason"] = json!("tool_calls");
                } else {
                    return Err(unsupported());
                }
            }
            _ => return Err(unsupported()),
        }
        Ok(body)
    }
}
