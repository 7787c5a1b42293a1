//! Amazon Nova (`messages-v1`): Converse-shaped content blocks in the request body, and
//! Converse-shaped events inside `InvokeModel` chunk bytes — with Nova's own habits: every text
//! piece is its own content block (a delta and a stop, no start), a tool call's input comes in
//! one delta, and usage counts cache tokens as `cacheReadInputTokenCount`
//! (tests/fixtures/invoke-stream/nova-*.json, FACTS.md §3).

use serde_json::{json, Value};

use crate::converse as cv;
use crate::decode::{Blocks, Open};
use crate::json::{effort_budget, opt_f32, opt_object, opt_strings, opt_u32, str_field, u64_at};
use crate::prompt_converse::{messages_from_json, prompt_from_converse};
use crate::{
    AnswerBlock, BlockEvent, BlockStart, ChunkEncoder, ChunkInfo, Delta, InvocationMetrics, Prompt,
    Sampling, StopReason, Thinking, Usage, ValidationError,
};

/// Top-level members of a `messages-v1` body (Nova user guide, "Complete request schema";
/// `reasoningConfig` for Nova 2).
const MEMBERS: [&str; 6] = [
    "schemaVersion",
    "system",
    "messages",
    "inferenceConfig",
    "toolConfig",
    "reasoningConfig",
];

/// Content-block members Nova reads.
const BLOCK_MEMBERS: [&str; 8] = [
    "text",
    "image",
    "document",
    "video",
    "toolUse",
    "toolResult",
    "reasoningContent",
    "cachePoint",
];

pub(crate) fn parse_request(body: &Value) -> Result<(Prompt, Sampling), ValidationError> {
    let obj = body.as_object().ok_or_else(|| {
        ValidationError::new("Malformed input request: expected type: JSONObject, please reformat your input and try again.")
    })?;
    if let Some(k) = obj.keys().find(|k| !MEMBERS.contains(&k.as_str())) {
        // The wording of tests/fixtures/errors/malformed-input-extraneous-key-titan.json.
        return Err(ValidationError::new(format!(
            "Malformed input request: extraneous key [{k}] is not permitted, please reformat your input and try again."
        )));
    }
    let raw_messages = body.get("messages").ok_or_else(|| {
        ValidationError::new(
            "Malformed input request: #: required key [messages] not found, please reformat your input and try again.",
        )
    })?;
    if let Some(list) = raw_messages.as_array() {
        for (i, m) in list.iter().enumerate() {
            for (j, b) in m
                .get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                if let Some(k) = b
                    .as_object()
                    .and_then(|o| o.keys().find(|k| !BLOCK_MEMBERS.contains(&k.as_str())))
                {
                    // tests/fixtures/errors/malformed-input-extraneous-key-nested.json
                    return Err(ValidationError::new(format!(
                        "Malformed input request: #/messages/{i}/content/{j}: extraneous key [{k}] is not permitted, reformat your input and try again."
                    )));
                }
            }
        }
    }
    let messages = messages_from_json(raw_messages)?;
    let system: Vec<cv::SystemContentBlock> = match body.get("system") {
        None | Some(Value::Null) => Vec::new(),
        Some(s) => serde_json::from_value(s.clone()).map_err(|e| {
            ValidationError::new(format!(
                "Malformed input request: #/system: {e}, please reformat your input and try again."
            ))
        })?,
    };
    let tool_config: Option<cv::ToolConfiguration> = match body.get("toolConfig") {
        None | Some(Value::Null) => None,
        Some(t) => Some(serde_json::from_value(t.clone()).map_err(|e| {
            ValidationError::new(format!(
                "Malformed input request: #/toolConfig: {e}, please reformat your input and try again."
            ))
        })?),
    };
    let mut prompt = prompt_from_converse(&system, &messages, tool_config.as_ref())?;
    if prompt.turns.is_empty() {
        return Err(ValidationError::new(
            "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
        ));
    }
    let cfg = "inferenceConfig";
    let sampling = Sampling {
        max_tokens: match opt_u32(body, &[cfg, "max_new_tokens"])? {
            Some(n) => Some(n),
            None => opt_u32(body, &[cfg, "maxTokens"])?,
        },
        temperature: opt_f32(body, &[cfg, "temperature"])?,
        top_p: match opt_f32(body, &[cfg, "top_p"])? {
            Some(p) => Some(p),
            None => opt_f32(body, &[cfg, "topP"])?,
        },
        top_k: opt_u32(body, &[cfg, "top_k"])?,
        stop_sequences: opt_strings(body, &[cfg, "stopSequences"])?,
    };
    prompt.thinking = reasoning(body, &sampling)?;
    Ok((prompt, sampling))
}

/// Nova 2's `reasoningConfig: {type: enabled, maxReasoningEffort: low|medium|high}`
/// (langchain-aws `_validate_nova_reasoning_config`; the `high` rule is the real error in
/// tests/fixtures/errors/nova2-max-tokens-with-high-reasoning.json, recorded truncated).
fn reasoning(body: &Value, sampling: &Sampling) -> Result<Option<Thinking>, ValidationError> {
    let Some(cfg) = opt_object(body, "reasoningConfig")? else {
        return Ok(None);
    };
    match cfg.get("type").and_then(Value::as_str) {
        Some("disabled") | None => return Ok(None),
        Some("enabled") => {}
        Some(other) => {
            return Err(ValidationError::new(format!(
                "reasoningConfig.type: unknown value \"{other}\" (enabled or disabled)"
            )))
        }
    }
    let effort = cfg
        .get("maxReasoningEffort")
        .and_then(Value::as_str)
        .unwrap_or("low");
    let budget = effort_budget(effort).ok_or_else(|| {
        ValidationError::new(format!(
            "reasoningConfig.maxReasoningEffort: unknown value \"{effort}\" (low, medium or high)"
        ))
    })?;
    if effort == "high" && sampling.max_tokens.is_some() {
        return Err(ValidationError::new(
            "`maxTokens` must be unset when reasoningConfig type is 'enabled' and maxReasoningEffort is 'high'. Please consult our documentation at https://docs.aws.amazon.com/nova/latest/userguide",
        ));
    }
    Ok(Some(Thinking {
        budget_tokens: budget,
    }))
}

// ---------------------------------------------------------------------------------------------
// Encoding: the local endpoint's chunks
// ---------------------------------------------------------------------------------------------

enum Pending {
    None,
    /// Text pieces: each is its own Nova block; nothing stays open between them.
    Text,
    Reasoning(u32),
    /// A tool call: Nova sends its input whole, so fragments wait for the stop.
    Tool(u32, String),
}

pub(crate) struct Encoder {
    open: Pending,
    /// Nova's next block index (it counts every text piece).
    next: u32,
}

impl Encoder {
    pub(crate) fn new() -> Encoder {
        Encoder {
            open: Pending::None,
            next: 0,
        }
    }

    fn close(&mut self, out: &mut Vec<Value>) {
        match std::mem::replace(&mut self.open, Pending::None) {
            Pending::None | Pending::Text => {}
            Pending::Reasoning(i) => out.push(stop(i)),
            Pending::Tool(i, input) => {
                let input = if input.is_empty() { "{}".into() } else { input };
                out.push(
                    json!({"contentBlockDelta": {"delta": {"toolUse": {"input": input}},
                                                      "contentBlockIndex": i}}),
                );
                out.push(stop(i));
            }
        }
    }

    fn text_piece(&mut self, text: &str) -> Vec<Value> {
        let mut out = Vec::new();
        if !matches!(self.open, Pending::Text) {
            self.close(&mut out);
            self.open = Pending::Text;
        }
        let i = self.next;
        self.next += 1;
        out.push(json!({"contentBlockDelta": {"delta": {"text": text}, "contentBlockIndex": i}}));
        out.push(stop(i));
        out
    }
}

fn stop(i: u32) -> Value {
    json!({"contentBlockStop": {"contentBlockIndex": i}})
}

impl ChunkEncoder for Encoder {
    fn start(&mut self, _input_tokens: u32) -> Vec<Value> {
        vec![json!({"messageStart": {"role": "assistant"}})]
    }

    fn block_start(&mut self, _index: u32, start: &BlockStart) -> Vec<Value> {
        let mut out = Vec::new();
        self.close(&mut out);
        match start {
            BlockStart::Text => self.open = Pending::Text,
            BlockStart::Reasoning => {
                self.open = Pending::Reasoning(self.next);
                self.next += 1;
            }
            BlockStart::ToolUse { id, name } => {
                let i = self.next;
                self.next += 1;
                out.push(json!({"contentBlockStart": {
                    "start": {"toolUse": {"toolUseId": id, "name": name}},
                    "contentBlockIndex": i}}));
                self.open = Pending::Tool(i, String::new());
            }
        }
        out
    }

    fn delta(&mut self, text: &str, _tokens: u32) -> Vec<Value> {
        self.text_piece(text)
    }

    fn block_delta(&mut self, _index: u32, delta: &Delta, _tokens: u32) -> Vec<Value> {
        let reasoning_index = |s: &mut Encoder, out: &mut Vec<Value>| -> u32 {
            if let Pending::Reasoning(i) = s.open {
                return i;
            }
            s.close(out);
            let i = s.next;
            s.next += 1;
            s.open = Pending::Reasoning(i);
            i
        };
        let mut out = Vec::new();
        match delta {
            Delta::Text(t) => return self.text_piece(t),
            Delta::ToolInput(s) => {
                if let Pending::Tool(_, input) = &mut self.open {
                    input.push_str(s);
                }
            }
            // Nova 2 reasoning over InvokeModel: not recorded; Converse's delta shape.
            Delta::Reasoning(t) => {
                let i = reasoning_index(self, &mut out);
                out.push(json!({"contentBlockDelta": {
                    "delta": {"reasoningContent": {"text": t}}, "contentBlockIndex": i}}));
            }
            Delta::ReasoningSignature(s) => {
                let i = reasoning_index(self, &mut out);
                out.push(json!({"contentBlockDelta": {
                    "delta": {"reasoningContent": {"signature": s}}, "contentBlockIndex": i}}));
            }
            Delta::RedactedReasoning(b) => {
                let i = reasoning_index(self, &mut out);
                out.push(json!({"contentBlockDelta": {
                    "delta": {"reasoningContent": {"redactedContent": cv::Blob(b.clone())}},
                    "contentBlockIndex": i}}));
            }
            Delta::Citation(c) => {
                out.push(json!({"contentBlockDelta": {
                    "delta": {"citation": c}, "contentBlockIndex": self.next.saturating_sub(1)}}));
            }
        }
        out
    }

    fn block_stop(&mut self, _index: u32) -> Vec<Value> {
        let mut out = Vec::new();
        self.close(&mut out);
        out
    }

    fn finish(&mut self, stop: &StopReason, usage: Usage) -> Vec<Value> {
        let mut out = Vec::new();
        self.close(&mut out);
        out.push(json!({"messageStop": {"stopReason": stop.converse_name()}}));
        out.push(json!({"metadata": {
            "usage": {"inputTokens": usage.input_tokens, "outputTokens": usage.output_tokens,
                      "cacheReadInputTokenCount": usage.cache_read_input_tokens,
                      "cacheWriteInputTokenCount": usage.cache_write_input_tokens},
            "metrics": {}, "trace": {}}}));
        out
    }

    fn invocation_metrics(&self, metrics: &InvocationMetrics, usage: Usage) -> Value {
        let mut v = serde_json::to_value(metrics).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.insert(
                "cacheReadInputTokenCount".into(),
                usage.cache_read_input_tokens.into(),
            );
            m.insert(
                "cacheWriteInputTokenCount".into(),
                usage.cache_write_input_tokens.into(),
            );
        }
        v
    }
}

/// The non-streaming body (tests/fixtures/invoke/nova-*.json).
pub(crate) fn response(blocks: &[AnswerBlock], stop: &StopReason, usage: Usage) -> Value {
    let content: Vec<Value> = blocks
        .iter()
        .map(|b| match b {
            AnswerBlock::Text(t) => json!({"text": t}),
            AnswerBlock::Reasoning { text, signature } => {
                let mut r = json!({"text": text});
                if let Some(s) = signature {
                    r["signature"] = Value::from(s.as_str());
                }
                json!({"reasoningContent": {"reasoningText": r}})
            }
            AnswerBlock::RedactedReasoning(b) => {
                json!({"reasoningContent": {"redactedContent": cv::Blob(b.clone())}})
            }
            AnswerBlock::ToolUse(c) => {
                json!({"toolUse": {"name": c.name, "toolUseId": c.id, "input": c.input}})
            }
        })
        .collect();
    json!({"output": {"message": {"content": content, "role": "assistant"}},
           "stopReason": stop.converse_name(),
           "usage": {"inputTokens": usage.input_tokens, "outputTokens": usage.output_tokens,
                     "totalTokens": usage.input_tokens + usage.output_tokens,
                     "cacheReadInputTokenCount": usage.cache_read_input_tokens,
                     "cacheWriteInputTokenCount": usage.cache_write_input_tokens}})
}

// ---------------------------------------------------------------------------------------------
// Decoding: the function's reading of a Nova stream
// ---------------------------------------------------------------------------------------------

fn usage_into(info: &mut ChunkInfo, usage: &Value) {
    info.input_tokens = u64_at(usage, &["inputTokens"]);
    info.output_tokens = u64_at(usage, &["outputTokens"]);
    info.cache_read_input_tokens = u64_at(usage, &["cacheReadInputTokenCount"])
        .or_else(|| u64_at(usage, &["cacheReadInputTokens"]));
    info.cache_write_input_tokens = u64_at(usage, &["cacheWriteInputTokenCount"])
        .or_else(|| u64_at(usage, &["cacheWriteInputTokens"]));
}

/// Renumbers Nova's blocks as Converse numbers them: consecutive text pieces are one text
/// block, a tool call is one block, and a block stops when the next one starts.
#[derive(Debug, Clone, Default)]
pub(crate) struct StreamState {
    blocks: Blocks,
}

impl StreamState {
    pub(crate) fn decode(&mut self, chunk: &Value) -> ChunkInfo {
        let mut info = ChunkInfo::recognised();
        let native = |v: &Value| u64_at(v, &["contentBlockIndex"]).unwrap_or(0).to_string();
        if let Some(d) = chunk.get("contentBlockDelta") {
            let delta = d.get("delta").unwrap_or(&Value::Null);
            if let Some(t) = str_field(delta, "text") {
                let index = self.blocks.enter(Open::Text, None, &mut info);
                info.push_text(index, t);
            } else if let Some(tu) = delta.get("toolUse") {
                let index = self.blocks.enter(Open::Tool(native(d)), None, &mut info);
                if let Some(input) = str_field(tu, "input").filter(|s| !s.is_empty()) {
                    info.push(BlockEvent::Delta {
                        index,
                        delta: Delta::ToolInput(input.to_string()),
                    });
                }
            } else if let Some(r) = delta.get("reasoningContent") {
                let index = self.blocks.enter(Open::Reasoning, None, &mut info);
                let delta = if let Some(t) = str_field(r, "text") {
                    Some(Delta::Reasoning(t.to_string()))
                } else if let Some(s) = str_field(r, "signature") {
                    Some(Delta::ReasoningSignature(s.to_string()))
                } else {
                    str_field(r, "redactedContent")
                        .and_then(|b| crate::json::base64_bytes(b, "redactedContent").ok())
                        .map(Delta::RedactedReasoning)
                };
                if let Some(delta) = delta {
                    info.push(BlockEvent::Delta { index, delta });
                }
            } else if let Some(c) = delta.get("citation") {
                let index = self.blocks.enter(Open::Text, None, &mut info);
                info.push(BlockEvent::Delta {
                    index,
                    delta: Delta::Citation(c.clone()),
                });
            } else {
                info.recognised = false;
            }
        } else if let Some(s) = chunk.get("contentBlockStart") {
            if let Some(tu) = s.get("start").and_then(|s| s.get("toolUse")) {
                let start = BlockStart::ToolUse {
                    id: str_field(tu, "toolUseId").unwrap_or_default().to_string(),
                    name: str_field(tu, "name").unwrap_or_default().to_string(),
                };
                self.blocks
                    .enter(Open::Tool(native(s)), Some(start), &mut info);
            }
        } else if let Some(s) = chunk.get("contentBlockStop") {
            // Text and reasoning pieces stay open until another kind of block starts; a tool
            // call ends with its own stop.
            if matches!(self.blocks.open_kind(), Some(Open::Tool(k)) if *k == native(s)) {
                self.blocks.close(&mut info);
            }
        } else if let Some(s) = chunk.get("messageStop") {
            self.blocks.close(&mut info);
            info.stop_reason = str_field(s, "stopReason").map(str::to_string);
        } else if let Some(m) = chunk.get("metadata") {
            usage_into(&mut info, m.get("usage").unwrap_or(&Value::Null));
        } else if chunk.get("messageStart").is_none() {
            info.recognised = false;
        }
        info
    }
}

/// A non-streaming Nova response: text and tool calls in order.
pub(crate) fn decode_response(body: &Value) -> ChunkInfo {
    let content = body
        .get("output")
        .and_then(|o| o.get("message"))
        .and_then(|m| m.get("content"))
        .and_then(Value::as_array);
    let mut info = ChunkInfo::default();
    let Some(content) = content else {
        return info;
    };
    info.recognised = true;
    for (i, block) in content.iter().enumerate() {
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        if let Some(t) = str_field(block, "text") {
            info.push_text(index, t);
        } else if let Some(tu) = block.get("toolUse") {
            info.push(BlockEvent::Start {
                index,
                start: BlockStart::ToolUse {
                    id: str_field(tu, "toolUseId").unwrap_or_default().to_string(),
                    name: str_field(tu, "name").unwrap_or_default().to_string(),
                },
            });
            let input = tu.get("input").cloned().unwrap_or_else(|| json!({}));
            info.push(BlockEvent::Delta {
                index,
                delta: Delta::ToolInput(input.to_string()),
            });
            info.push(BlockEvent::Stop { index });
        } else if let Some(r) = block
            .get("reasoningContent")
            .and_then(|r| r.get("reasoningText"))
        {
            info.push(BlockEvent::Start {
                index,
                start: BlockStart::Reasoning,
            });
            info.push(BlockEvent::Delta {
                index,
                delta: Delta::Reasoning(str_field(r, "text").unwrap_or_default().to_string()),
            });
            info.push(BlockEvent::Stop { index });
        }
    }
    info.stop_reason = str_field(body, "stopReason").map(str::to_string);
    usage_into(&mut info, body.get("usage").unwrap_or(&Value::Null));
    info
}
