//! OpenAI-shaped bodies on Bedrock: chat (OpenAI gpt-oss, AI21 Jamba, Qwen, DeepSeek V3,
//! Writer … → `chat.completion.chunk`, with `tools`, `tool_calls` and `role: tool`), and text
//! completions (DeepSeek R1 → `choices[{text, stop_reason}]`).
//!
//! Chunk shapes: tests/fixtures/invoke-stream/openai-chat-gpt6-sol-usage.json (real): every
//! chunk carries `id`, `created`, `model` (the Bedrock id), `object`, `service_tier`,
//! `system_fingerprint`, `usage` and the `obfuscation` padding; the last content chunk carries
//! `finish_reason` and the usage, and one more chunk follows with `choices: []`. Tool-call
//! deltas follow OpenAI's streaming format (index, id, type and name first, then argument
//! fragments). gpt-oss reasoning over InvokeModel comes inside the content, wrapped in
//! `<reasoning>…</reasoning>` before the answer (promptfoo/promptfoo PR 9587, quoting AWS's
//! documentation of InvokeModel for OpenAI models).

use serde_json::{json, Value};

use crate::decode::{Blocks, Open};
use crate::ids;
use crate::json::{
    base64_bytes, effort_budget, first_choice, image_format, opt_array, opt_f32, opt_strings,
    opt_u32, required_str, str_field, u64_at,
};
use crate::{
    AnswerBlock, BlockEvent, BlockStart, ChunkEncoder, ChunkInfo, Delta, Media, Part, Prompt, Role,
    Sampling, Source, StopReason, Thinking, ToolCall, ToolChoice, ToolResult, ToolSpec, Turn,
    Usage, ValidationError,
};

const REASONING_OPEN: &str = "<reasoning>";
const REASONING_CLOSE: &str = "</reasoning>";

fn stop_list(body: &Value) -> Result<Vec<String>, ValidationError> {
    match body.get("stop") {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        _ => opt_strings(body, &["stop"]),
    }
}

fn err(msg: String) -> ValidationError {
    ValidationError::new(msg)
}

/// Text of a `content` that is a string, null, or a list of `{type: text, text}` parts.
fn plain_content(content: Option<&Value>, at: &str) -> Result<String, ValidationError> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut out = String::new();
            for (k, p) in parts.iter().enumerate() {
                match (str_field(p, "type"), str_field(p, "text")) {
                    (Some("text"), Some(t)) => out.push_str(t),
                    _ => {
                        return Err(err(format!(
                            "{at}.content.{k}: only text parts are allowed here"
                        )))
                    }
                }
            }
            Ok(out)
        }
        Some(_) => Err(err(format!(
            "{at}.content: must be a string or a list of parts"
        ))),
    }
}

/// A user message's content: text and `image_url` parts (data URLs).
fn user_parts(content: Option<&Value>, at: &str) -> Result<Vec<Part>, ValidationError> {
    match content {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![Part::Text(s.clone())]),
        Some(Value::Array(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for (k, p) in parts.iter().enumerate() {
                let at = format!("{at}.content.{k}");
                match str_field(p, "type") {
                    Some("text") => out.push(Part::Text(
                        str_field(p, "text")
                            .ok_or_else(|| err(format!("{at}.text: required")))?
                            .to_string(),
                    )),
                    Some("image_url") => {
                        let url = p
                            .get("image_url")
                            .and_then(|u| u.as_str().or_else(|| str_field(u, "url")))
                            .ok_or_else(|| err(format!("{at}.image_url.url: required")))?;
                        out.push(data_url_image(url, &format!("{at}.image_url.url"))?);
                    }
                    other => {
                        return Err(err(format!(
                            "{at}.type: unsupported content part type {}",
                            other.unwrap_or("(missing)")
                        )))
                    }
                }
            }
            Ok(out)
        }
        Some(_) => Err(err(format!(
            "{at}.content: must be a string or a list of parts"
        ))),
    }
}

/// `data:image/png;base64,…` → an image part.
fn data_url_image(url: &str, at: &str) -> Result<Part, ValidationError> {
    let rest = url.strip_prefix("data:").ok_or_else(|| {
        err(format!(
            "{at}: only data URLs (data:image/...;base64,...) are accepted by Bedrock"
        ))
    })?;
    let (meta, data) = rest
        .split_once(',')
        .ok_or_else(|| err(format!("{at}: malformed data URL")))?;
    let media_type = meta
        .strip_suffix(";base64")
        .ok_or_else(|| err(format!("{at}: data URLs must be base64")))?;
    let format = image_format(media_type)
        .ok_or_else(|| err(format!("{at}: unsupported image type {media_type}")))?;
    Ok(Part::Image(Media {
        format: format.to_string(),
        source: Source::Bytes(base64_bytes(data, at)?),
    }))
}

fn tool_calls(calls: &[Value], at: &str) -> Result<Vec<Part>, ValidationError> {
    let mut out = Vec::with_capacity(calls.len());
    for (k, c) in calls.iter().enumerate() {
        let at = format!("{at}.tool_calls.{k}");
        let f = c
            .get("function")
            .ok_or_else(|| err(format!("{at}.function: required")))?;
        let name =
            str_field(f, "name").ok_or_else(|| err(format!("{at}.function.name: required")))?;
        let input = match f.get("arguments") {
            None | Some(Value::Null) => json!({}),
            Some(Value::String(s)) if s.trim().is_empty() => json!({}),
            Some(Value::String(s)) => serde_json::from_str(s).map_err(|e| {
                err(format!(
                    "{at}.function.arguments: must be JSON encoded as a string: {e}"
                ))
            })?,
            Some(v @ Value::Object(_)) => v.clone(),
            Some(_) => return Err(err(format!("{at}.function.arguments: must be a string"))),
        };
        out.push(Part::ToolUse(ToolCall {
            id: str_field(c, "id").unwrap_or_default().to_string(),
            name: name.to_string(),
            input,
        }));
    }
    Ok(out)
}

/// Appends parts to the last turn when it has this role, else starts a turn.
fn push_parts(prompt: &mut Prompt, role: Role, parts: Vec<Part>) {
    match prompt.turns.last_mut() {
        Some(t) if t.role == role => t.content.extend(parts),
        _ => prompt.turns.push(Turn {
            role,
            content: parts,
        }),
    }
}

fn tools(body: &Value) -> Result<Vec<ToolSpec>, ValidationError> {
    let mut out = Vec::new();
    for (i, t) in opt_array(body, "tools")?.into_iter().flatten().enumerate() {
        let at = format!("tools.{i}");
        if let Some(ty) = str_field(t, "type").filter(|ty| *ty != "function") {
            return Err(err(format!(
                "{at}.type: only function tools are supported (got {ty})"
            )));
        }
        let f = t
            .get("function")
            .ok_or_else(|| err(format!("{at}.function: required")))?;
        out.push(ToolSpec {
            name: str_field(f, "name")
                .ok_or_else(|| err(format!("{at}.function.name: required")))?
                .to_string(),
            description: str_field(f, "description").map(str::to_string),
            input_schema: f
                .get("parameters")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        });
    }
    Ok(out)
}

fn tool_choice(v: Option<&Value>) -> Result<ToolChoice, ValidationError> {
    Ok(match v {
        None | Some(Value::Null) => ToolChoice::Auto,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            // OpenAI says `required`, Mistral `any`.
            "required" | "any" => ToolChoice::Any,
            other => {
                return Err(err(format!(
                "tool_choice: unknown value \"{other}\" (none, auto, required or a named function)"
            )))
            }
        },
        Some(obj) => ToolChoice::Tool(
            obj.get("function")
                .and_then(|f| str_field(f, "name"))
                .ok_or_else(|| err("tool_choice.function.name: required".to_string()))?
                .to_string(),
        ),
    })
}

/// OpenAI-shaped chat bodies (gpt-oss, Jamba, Qwen, DeepSeek V3, Mistral Large 2 / Pixtral).
pub(crate) fn parse_chat_request(body: &Value) -> Result<(Prompt, Sampling), ValidationError> {
    let messages = body.get("messages").and_then(Value::as_array).ok_or_else(|| {
        ValidationError::new(
            "Malformed input request: #: required key [messages] not found, please reformat your input and try again.",
        )
    })?;
    if body.get("n").and_then(Value::as_u64).is_some_and(|n| n > 1) {
        return Err(err("n: only one choice (n = 1) is supported".to_string()));
    }
    let mut prompt = Prompt::default();
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages.{i}");
        match str_field(m, "role") {
            Some("system" | "developer") => {
                let text = plain_content(m.get("content"), &at)?;
                prompt.system = Some(match prompt.system.take() {
                    Some(s) => format!("{s}\n{text}"),
                    None => text,
                });
            }
            Some("user") => {
                let parts = user_parts(m.get("content"), &at)?;
                push_parts(&mut prompt, Role::User, parts);
            }
            Some("assistant") => {
                let mut parts = Vec::new();
                let text = plain_content(m.get("content"), &at)?;
                if !text.is_empty() {
                    parts.push(Part::Text(text));
                }
                if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
                    parts.extend(tool_calls(calls, &at)?);
                }
                push_parts(&mut prompt, Role::Assistant, parts);
            }
            Some("tool") => {
                let id = str_field(m, "tool_call_id")
                    .ok_or_else(|| err(format!("{at}.tool_call_id: required")))?;
                let text = plain_content(m.get("content"), &at)?;
                let result = Part::ToolResult(ToolResult {
                    tool_use_id: id.to_string(),
                    is_error: false,
                    content: vec![Part::Text(text)],
                });
                push_parts(&mut prompt, Role::User, vec![result]);
            }
            Some(other) => {
                return Err(err(format!(
                    "{at}.role: unknown role \"{other}\" (system, developer, user, assistant or tool)"
                )))
            }
            None => {
                return Err(ValidationError::new(format!(
                    "Malformed input request: #/messages/{i}: required key [role] not found, please reformat your input and try again."
                )))
            }
        }
    }
    if prompt.turns.is_empty() {
        return Err(ValidationError::new("messages must contain a user message"));
    }
    prompt.tools = tools(body)?;
    prompt.tool_choice = tool_choice(body.get("tool_choice"))?;
    if let Some(effort) = body.get("reasoning_effort").filter(|v| !v.is_null()) {
        let effort = effort.as_str().unwrap_or_default();
        let budget = effort_budget(effort).ok_or_else(|| {
            err(format!(
                "reasoning_effort: unknown value \"{effort}\" (low, medium or high)"
            ))
        })?;
        prompt.thinking = Some(Thinking {
            budget_tokens: budget,
        });
    }
    if let Some(rf) = body.get("response_format").filter(|v| !v.is_null()) {
        prompt.output_schema = match str_field(rf, "type") {
            Some("text") => None,
            Some("json_object") => Some(json!({"type": "object"})),
            Some("json_schema") => Some(
                rf.get("json_schema")
                    .and_then(|s| s.get("schema"))
                    .cloned()
                    .ok_or_else(|| err("response_format.json_schema.schema: required".into()))?,
            ),
            other => {
                return Err(err(format!(
                    "response_format.type: unknown value {}",
                    other.unwrap_or("(missing)")
                )))
            }
        };
    }
    Ok((
        prompt,
        Sampling {
            max_tokens: match opt_u32(body, &["max_completion_tokens"])? {
                Some(n) => Some(n),
                None => opt_u32(body, &["max_tokens"])?,
            },
            temperature: opt_f32(body, &["temperature"])?,
            top_p: opt_f32(body, &["top_p"])?,
            top_k: opt_u32(body, &["top_k"])?,
            stop_sequences: stop_list(body)?,
        },
    ))
}

pub(crate) fn parse_text_request(body: &Value) -> Result<(Prompt, Sampling), ValidationError> {
    let prompt = required_str(body, "prompt")?;
    Ok((
        crate::llama::parse_chat_template(prompt),
        Sampling {
            max_tokens: opt_u32(body, &["max_tokens"])?,
            temperature: opt_f32(body, &["temperature"])?,
            top_p: opt_f32(body, &["top_p"])?,
            top_k: None,
            stop_sequences: stop_list(body)?,
        },
    ))
}

pub(crate) fn reason(stop: &StopReason) -> &'static str {
    match stop {
        StopReason::EndTurn | StopReason::StopSequence(_) => "stop",
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

const PADDING: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

pub(crate) struct ChatEncoder {
    id: String,
    model: String,
    created: u64,
    seq: usize,
    /// Inside `<reasoning>`: the tag was sent and not yet closed.
    reasoning: bool,
    /// OpenAI's tool-call index of the open tool block.
    tool: Option<u32>,
    tools_seen: u32,
}

impl ChatEncoder {
    pub(crate) fn new(model_id: &str) -> Self {
        ChatEncoder {
            id: ids::chat_completion_id(),
            model: model_id.to_string(),
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            seq: 0,
            reasoning: false,
            tool: None,
            tools_seen: 0,
        }
    }

    fn chunk(&mut self, choices: Value, usage: Value) -> Value {
        self.seq += 1;
        let pad = 1 + (self.seq.wrapping_mul(7919) % (PADDING.len() - 1));
        json!({"choices": choices, "created": self.created, "id": self.id,
               "model": self.model, "object": "chat.completion.chunk",
               "service_tier": "default", "system_fingerprint": null, "usage": usage,
               "obfuscation": &PADDING[..pad]})
    }

    fn delta_chunk(&mut self, delta: Value) -> Value {
        self.chunk(
            json!([{"delta": delta, "finish_reason": null, "index": 0}]),
            Value::Null,
        )
    }

    /// Text for the content, closing an open `<reasoning>` first.
    fn content(&mut self, text: &str) -> Vec<Value> {
        let text = if std::mem::take(&mut self.reasoning) {
            format!("{REASONING_CLOSE}{text}")
        } else {
            text.to_string()
        };
        vec![self.delta_chunk(json!({"content": text}))]
    }
}

fn usage_json(usage: Usage) -> Value {
    json!({"completion_tokens": usage.output_tokens,
           "completion_tokens_details": {"accepted_prediction_tokens": 0, "audio_tokens": 0,
                                         "reasoning_tokens": 0, "rejected_prediction_tokens": 0},
           "prompt_tokens": usage.input_tokens,
           "prompt_tokens_details": {"audio_tokens": 0,
                                     "cache_write_tokens": usage.cache_write_input_tokens,
                                     "cached_tokens": usage.cache_read_input_tokens},
           "total_tokens": usage.input_tokens + usage.output_tokens})
}

impl ChunkEncoder for ChatEncoder {
    fn start(&mut self, _input_tokens: u32) -> Vec<Value> {
        vec![self.delta_chunk(json!({"content": "", "role": "assistant", "refusal": null}))]
    }

    fn block_start(&mut self, _index: u32, start: &BlockStart) -> Vec<Value> {
        let mut out = Vec::new();
        self.tool = None;
        if let BlockStart::ToolUse { id, name } = start {
            if std::mem::take(&mut self.reasoning) {
                out.push(self.delta_chunk(json!({"content": REASONING_CLOSE})));
            }
            let index = self.tools_seen;
            self.tools_seen += 1;
            self.tool = Some(index);
            out.push(
                self.delta_chunk(json!({"tool_calls": [{"index": index, "id": id,
                "type": "function", "function": {"name": name, "arguments": ""}}]})),
            );
        }
        out
    }

    fn delta(&mut self, text: &str, _tokens: u32) -> Vec<Value> {
        self.content(text)
    }

    fn block_delta(&mut self, _index: u32, delta: &Delta, _tokens: u32) -> Vec<Value> {
        match delta {
            Delta::Text(t) => self.content(t),
            Delta::Reasoning(t) => {
                let text = if self.reasoning {
                    t.clone()
                } else {
                    self.reasoning = true;
                    format!("{REASONING_OPEN}{t}")
                };
                vec![self.delta_chunk(json!({"content": text}))]
            }
            Delta::ToolInput(s) => match self.tool {
                Some(index) => vec![self.delta_chunk(
                    json!({"tool_calls": [{"index": index, "function": {"arguments": s}}]}),
                )],
                None => Vec::new(),
            },
            // No place for signatures, redacted reasoning or citations in this shape; the
            // models that produce them are not OpenAI-shaped.
            Delta::ReasoningSignature(_) | Delta::RedactedReasoning(_) | Delta::Citation(_) => {
                Vec::new()
            }
        }
    }

    fn block_stop(&mut self, _index: u32) -> Vec<Value> {
        self.tool = None;
        Vec::new()
    }

    fn finish(&mut self, stop: &StopReason, usage: Usage) -> Vec<Value> {
        let mut out = Vec::new();
        if std::mem::take(&mut self.reasoning) {
            out.push(self.delta_chunk(json!({"content": REASONING_CLOSE})));
        }
        let u = usage_json(usage);
        out.push(self.chunk(
            json!([{"delta": {}, "finish_reason": reason(stop), "index": 0}]),
            u.clone(),
        ));
        out.push(self.chunk(json!([]), u));
        out
    }
}

pub(crate) struct TextEncoder;

impl ChunkEncoder for TextEncoder {
    fn start(&mut self, _input_tokens: u32) -> Vec<Value> {
        Vec::new()
    }
    fn delta(&mut self, text: &str, _tokens: u32) -> Vec<Value> {
        vec![json!({"choices": [{"text": text, "stop_reason": null}]})]
    }
    fn finish(&mut self, stop: &StopReason, _usage: Usage) -> Vec<Value> {
        vec![json!({"choices": [{"text": "", "stop_reason": reason(stop)}]})]
    }
}

/// The content and `tool_calls` of a whole answer in the OpenAI shape: reasoning goes into the
/// content inside `<reasoning>` tags, as Bedrock returns gpt-oss's.
pub(crate) fn message_parts(blocks: &[AnswerBlock]) -> (String, Vec<Value>) {
    let mut content = String::new();
    let mut calls = Vec::new();
    for b in blocks {
        match b {
            AnswerBlock::Text(t) => content.push_str(t),
            AnswerBlock::Reasoning { text, .. } => {
                content.push_str(REASONING_OPEN);
                content.push_str(text);
                content.push_str(REASONING_CLOSE);
            }
            AnswerBlock::RedactedReasoning(_) => {}
            AnswerBlock::ToolUse(c) => calls.push(json!({"id": c.id, "type": "function",
                "function": {"name": c.name, "arguments": c.input.to_string()}})),
        }
    }
    (content, calls)
}

/// The non-streaming `chat.completion` body (tests/fixtures/invoke/openai-chat-gpt6-sol.json).
pub(crate) fn chat_response(
    model_id: &str,
    blocks: &[AnswerBlock],
    stop: &StopReason,
    usage: Usage,
) -> Value {
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (content, calls) = message_parts(blocks);
    let mut message = json!({"annotations": [], "content": content, "refusal": null,
                             "role": "assistant"});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    json!({"choices": [{"finish_reason": reason(stop), "index": 0, "message": message}],
           "created": created, "id": ids::chat_completion_id(), "model": model_id,
           "object": "chat.completion", "service_tier": "default",
           "usage": usage_json(usage), "system_fingerprint": null})
}

pub(crate) fn text_response(text: &str, stop: &StopReason) -> Value {
    json!({"choices": [{"text": text, "stop_reason": reason(stop)}]})
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Phase {
    /// Nothing of the content seen yet: it may open with `<reasoning>`.
    #[default]
    Start,
    Reasoning,
    Answer,
}

/// Splits gpt-oss content into reasoning and answer, across chunk boundaries.
#[derive(Debug, Clone, Default)]
struct ReasoningTags {
    phase: Phase,
    /// A piece that may be the start of a tag, held until the next chunk says.
    pending: String,
}

impl ReasoningTags {
    /// `(is_reasoning, text)` pieces of the next content fragment.
    fn feed(&mut self, piece: &str) -> Vec<(bool, String)> {
        let mut buf = std::mem::take(&mut self.pending);
        buf.push_str(piece);
        let mut out = Vec::new();
        // Each pass consumes a tag or ends: at most three passes.
        for _ in 0..4 {
            match self.phase {
                Phase::Start => {
                    let trimmed = buf.trim_start();
                    if let Some(rest) = trimmed.strip_prefix(REASONING_OPEN) {
                        buf = rest.to_string();
                        self.phase = Phase::Reasoning;
                    } else if trimmed.is_empty() || REASONING_OPEN.starts_with(trimmed) {
                        self.pending = buf;
                        return out;
                    } else {
                        self.phase = Phase::Answer;
                    }
                }
                Phase::Reasoning => {
                    if let Some(p) = buf.find(REASONING_CLOSE) {
                        out.push((true, buf[..p].to_string()));
                        buf = buf[p + REASONING_CLOSE.len()..].to_string();
                        self.phase = Phase::Answer;
                    } else {
                        let keep = (1..REASONING_CLOSE.len())
                            .rev()
                            .find(|n| buf.ends_with(&REASONING_CLOSE[..*n]))
                            .unwrap_or(0);
                        let cut = buf.len() - keep;
                        self.pending = buf[cut..].to_string();
                        out.push((true, buf[..cut].to_string()));
                        break;
                    }
                }
                Phase::Answer => {
                    out.push((false, std::mem::take(&mut buf)));
                    break;
                }
            }
        }
        out.retain(|(_, t)| !t.is_empty());
        out
    }

    /// Whatever was held back, at the end of the answer.
    fn flush(&mut self) -> Option<(bool, String)> {
        let pending = std::mem::take(&mut self.pending);
        (!pending.is_empty()).then_some((self.phase == Phase::Reasoning, pending))
    }
}

/// Reads an OpenAI-shaped chat stream (and Mistral chat, whose choices carry `message`
/// instead of `delta` and `stop_reason` instead of `finish_reason`).
#[derive(Debug, Clone, Default)]
pub(crate) struct StreamState {
    blocks: Blocks,
    tags: ReasoningTags,
    /// Tool calls of chunks without an `index` (Mistral sends whole calls).
    unindexed_calls: u32,
}

impl StreamState {
    fn content_piece(&mut self, reasoning: bool, text: &str, info: &mut ChunkInfo) {
        if reasoning {
            let index = self.blocks.enter(Open::Reasoning, None, info);
            info.push(BlockEvent::Delta {
                index,
                delta: Delta::Reasoning(text.to_string()),
            });
        } else {
            let index = self.blocks.enter(Open::Text, None, info);
            info.push_text(index, text);
        }
    }

    pub(crate) fn decode(&mut self, chunk: &Value) -> ChunkInfo {
        let mut info = ChunkInfo::recognised();
        usage_into(&mut info, chunk.get("usage"));
        let Some(choice) = first_choice(chunk) else {
            info.recognised = chunk.get("usage").is_some() || chunk.get("choices").is_some();
            return info;
        };
        let delta = choice
            .get("delta")
            .or_else(|| choice.get("message"))
            .unwrap_or(&Value::Null);
        if let Some(r) = str_field(delta, "reasoning_content")
            .or_else(|| str_field(delta, "reasoning"))
            .filter(|r| !r.is_empty())
        {
            self.content_piece(true, r, &mut info);
        }
        if let Some(c) = str_field(delta, "content") {
            for (reasoning, text) in self.tags.feed(c) {
                self.content_piece(reasoning, &text, &mut info);
            }
        } else if let Some(t) = str_field(choice, "text") {
            let index = self.blocks.enter(Open::Text, None, &mut info);
            info.push_text(index, t);
        }
        for call in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = match u64_at(call, &["index"]) {
                Some(i) => i.to_string(),
                None => {
                    let id = str_field(call, "id").map(str::to_string);
                    id.unwrap_or_else(|| {
                        self.unindexed_calls += 1;
                        format!("call-{}", self.unindexed_calls)
                    })
                }
            };
            let f = call.get("function").unwrap_or(&Value::Null);
            let start = (!self.blocks.knows_tool(&key)).then(|| BlockStart::ToolUse {
                id: str_field(call, "id").unwrap_or_default().to_string(),
                name: str_field(f, "name").unwrap_or_default().to_string(),
            });
            let index = self.blocks.enter(Open::Tool(key), start, &mut info);
            let args = match f.get("arguments") {
                Some(Value::String(s)) => s.clone(),
                Some(v @ Value::Object(_)) => v.to_string(),
                _ => String::new(),
            };
            if !args.is_empty() {
                info.push(BlockEvent::Delta {
                    index,
                    delta: Delta::ToolInput(args),
                });
            }
        }
        let finish =
            str_field(choice, "finish_reason").or_else(|| str_field(choice, "stop_reason"));
        if let Some(reason) = finish {
            if let Some((reasoning, text)) = self.tags.flush() {
                self.content_piece(reasoning, &text, &mut info);
            }
            self.blocks.close(&mut info);
            info.stop_reason = Some(reason.to_string());
        }
        info
    }
}

fn usage_into(info: &mut ChunkInfo, usage: Option<&Value>) {
    let Some(u) = usage.filter(|u| u.is_object()) else {
        return;
    };
    info.input_tokens = u64_at(u, &["prompt_tokens"]);
    info.output_tokens = u64_at(u, &["completion_tokens"]);
    info.cache_read_input_tokens = u64_at(u, &["prompt_tokens_details", "cached_tokens"]);
    info.cache_write_input_tokens = u64_at(u, &["prompt_tokens_details", "cache_write_tokens"]);
}

/// DeepSeek R1's text chunks: `choices[{text, stop_reason}]`.
pub(crate) fn decode_text_chunk(chunk: &Value) -> ChunkInfo {
    let Some(choice) = first_choice(chunk) else {
        return ChunkInfo::default();
    };
    let mut info = ChunkInfo::recognised();
    info.push_text(0, str_field(choice, "text").unwrap_or_default());
    info.stop_reason = str_field(choice, "stop_reason")
        .or_else(|| str_field(choice, "finish_reason"))
        .map(str::to_string);
    info
}

/// A non-streaming chat body: the message read as one chunk.
pub(crate) fn decode_chat_response(body: &Value) -> ChunkInfo {
    StreamState::default().decode(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(pieces: &[&str]) -> (String, String) {
        let mut tags = ReasoningTags::default();
        let (mut r, mut a) = (String::new(), String::new());
        for p in pieces {
            for (is_r, t) in tags.feed(p) {
                if is_r {
                    r.push_str(&t)
                } else {
                    a.push_str(&t)
                }
            }
        }
        if let Some((is_r, t)) = tags.flush() {
            if is_r {
                r.push_str(&t)
            } else {
                a.push_str(&t)
            }
        }
        (r, a)
    }

    #[test]
    fn reasoning_tags_split_across_chunks() {
        assert_eq!(
            split(&["<reas", "oning>think", "ing</rea", "soning>answer"]),
            ("thinking".into(), "answer".into())
        );
        assert_eq!(
            split(&["plain ", "<reasoning> text"]),
            (String::new(), "plain <reasoning> text".into())
        );
        assert_eq!(
            split(&["<reasoning>a</", "b"]),
            ("a</b".into(), String::new())
        );
        assert_eq!(split(&["<re"]), (String::new(), "<re".into()));
    }
}
