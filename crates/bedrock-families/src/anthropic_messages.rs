//! Claude's Messages API on Bedrock (`anthropic_version: bedrock-2023-05-31`): request bodies
//! with content blocks, tools and extended thinking; `message_start` … `message_stop` chunks.
//!
//! Chunk shapes: tests/fixtures/invoke-stream/anthropic-messages-*.json (real) and FACTS.md §3.
//! Thinking blocks over InvokeModel were not found recorded; their shapes follow Anthropic's
//! streaming documentation (`thinking` block start, `thinking_delta`, `signature_delta`,
//! `redacted_thinking` with `data`), which Bedrock passes through.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::catalog::MIN_THINKING_BUDGET;
use crate::ids;
use crate::json::{
    base64_bytes, image_format, opt_array, opt_f32, opt_object, opt_strings, opt_u32, str_field,
    u64_at,
};
use crate::model_id::ModelId;
use crate::{
    AnswerBlock, BlockEvent, BlockStart, ChunkEncoder, ChunkInfo, Delta, Document, Media, Part,
    Prompt, Reasoning, Role, Sampling, Source, StopReason, Thinking, ToolCall, ToolChoice,
    ToolResult, ToolSpec, Turn, Usage, ValidationError,
};

/// Top-level members Bedrock's Anthropic Messages schema takes; anything else is refused as
/// `extraneous key` (tests/fixtures/errors/malformed-input-extraneous-keys-messages.json).
const MEMBERS: [&str; 13] = [
    "anthropic_version",
    "anthropic_beta",
    "max_tokens",
    "system",
    "messages",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "tools",
    "tool_choice",
    "thinking",
    "metadata",
];

fn malformed(detail: &str) -> ValidationError {
    ValidationError::new(format!(
        "Malformed input request: {detail}, please reformat your input and try again."
    ))
}

pub(crate) fn parse_request(body: &Value) -> Result<(Prompt, Sampling), ValidationError> {
    let obj = body
        .as_object()
        .ok_or_else(|| malformed("#: expected type: JSONObject"))?;
    let extraneous: Vec<&str> = obj
        .keys()
        .map(String::as_str)
        .filter(|k| !MEMBERS.contains(k))
        .collect();
    if !extraneous.is_empty() {
        let mut detail = String::from(
            "#: subject must not be valid against schema {\"required\":[\"messages\"]}",
        );
        for k in extraneous {
            detail.push_str(&format!("#: extraneous key [{k}] is not permitted"));
        }
        return Err(malformed(&detail));
    }
    for key in ["anthropic_version", "max_tokens", "messages"] {
        if body.get(key).is_none() {
            // tests/fixtures/errors/malformed-input-required-key.json
            return Err(malformed(&format!(
                "#: subject must not be valid against schema {{required:[messages]}}#: required key [{key}] not found"
            )));
        }
    }
    let messages = opt_array(body, "messages")?
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut prompt = Prompt {
        system: system_text(body.get("system"))?,
        ..Prompt::default()
    };
    for (i, m) in messages.iter().enumerate() {
        prompt.turns.push(turn(m, i)?);
    }
    if prompt.turns.is_empty() {
        return Err(ValidationError::new(
            "messages: at least one message is required",
        ));
    }
    if let Some(tools) = opt_array(body, "tools")? {
        for (i, t) in tools.iter().enumerate() {
            prompt.tools.push(tool(t, i)?);
        }
    }
    prompt.tool_choice = tool_choice(body.get("tool_choice"))?;
    let sampling = Sampling {
        max_tokens: opt_u32(body, &["max_tokens"])?,
        temperature: opt_f32(body, &["temperature"])?,
        top_p: opt_f32(body, &["top_p"])?,
        top_k: opt_u32(body, &["top_k"])?,
        stop_sequences: opt_strings(body, &["stop_sequences"])?,
    };
    prompt.thinking = thinking(body, &sampling, &prompt.tool_choice)?;
    Ok((prompt, sampling))
}

fn system_text(system: Option<&Value>) -> Result<Option<String>, ValidationError> {
    match system {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Array(blocks)) => {
            let mut out = String::new();
            for (i, b) in blocks.iter().enumerate() {
                match (str_field(b, "type"), str_field(b, "text")) {
                    (Some("text"), Some(t)) => {
                        if !out.is_empty() {
                            out.push('\n');
                        }
                        out.push_str(t);
                    }
                    _ => {
                        return Err(ValidationError::new(format!(
                            "system.{i}: system blocks must be of type text"
                        )))
                    }
                }
            }
            Ok(Some(out))
        }
        Some(_) => Err(malformed("#/system: expected type: String or JSONArray")),
    }
}

fn turn(m: &Value, i: usize) -> Result<Turn, ValidationError> {
    let role = match str_field(m, "role") {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some(other) => {
            return Err(ValidationError::new(format!(
                "messages.{i}.role: Input should be 'user' or 'assistant' (got \"{other}\")"
            )))
        }
        None => {
            return Err(malformed(&format!(
                "#/messages/{i}: required key [role] not found"
            )))
        }
    };
    let content = match m.get("content") {
        Some(Value::String(s)) => {
            if s.is_empty() {
                return Err(ValidationError::new(
                    "messages: text content blocks must be non-empty",
                ));
            }
            vec![Part::Text(s.clone())]
        }
        Some(Value::Array(blocks)) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (j, b) in blocks.iter().enumerate() {
                parts.push(block(b, &format!("messages.{i}.content.{j}"))?);
            }
            parts
        }
        Some(_) => {
            return Err(malformed(&format!(
                "#/messages/{i}/content: expected type: String or JSONArray"
            )))
        }
        None => {
            return Err(malformed(&format!(
                "#/messages/{i}: required key [content] not found"
            )))
        }
    };
    Ok(Turn { role, content })
}

fn field<'a>(b: &'a Value, key: &str, at: &str) -> Result<&'a Value, ValidationError> {
    b.get(key)
        .ok_or_else(|| ValidationError::new(format!("{at}.{key}: Field required")))
}

fn string_field<'a>(b: &'a Value, key: &str, at: &str) -> Result<&'a str, ValidationError> {
    field(b, key, at)?
        .as_str()
        .ok_or_else(|| ValidationError::new(format!("{at}.{key}: Input should be a valid string")))
}

/// One content block of a message (or of a tool result).
fn block(b: &Value, at: &str) -> Result<Part, ValidationError> {
    let ty = string_field(b, "type", at)?;
    Ok(match ty {
        "text" => {
            let text = string_field(b, "text", at)?;
            if text.is_empty() {
                // tests/fixtures/errors/text-content-blocks-non-empty.json
                return Err(ValidationError::new(
                    "messages: text content blocks must be non-empty",
                ));
            }
            Part::Text(text.to_string())
        }
        "image" => {
            let source = field(b, "source", at)?;
            let at = format!("{at}.image.source");
            match str_field(source, "type") {
                Some("base64") => {
                    let media_type = string_field(source, "media_type", &at)?;
                    let format = image_format(media_type).ok_or_else(|| {
                        ValidationError::new(format!(
                            "{at}.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"
                        ))
                    })?;
                    let data = string_field(source, "data", &at)?;
                    Part::Image(Media {
                        format: format.to_string(),
                        source: Source::Bytes(base64_bytes(data, &format!("{at}.base64.data"))?),
                    })
                }
                other => {
                    return Err(ValidationError::new(format!(
                        "{at}.type: image sources of type {} are not supported on Bedrock; use base64",
                        other.unwrap_or("(missing)")
                    )))
                }
            }
        }
        "document" => {
            let source = field(b, "source", at)?;
            let at_src = format!("{at}.document.source");
            let name = str_field(b, "title")
                .or_else(|| str_field(b, "name"))
                .unwrap_or("document")
                .to_string();
            match str_field(source, "type") {
                Some("base64") => {
                    let media_type = string_field(source, "media_type", &at_src)?;
                    let format = match media_type {
                        "application/pdf" => "pdf",
                        "text/plain" => "txt",
                        _ => {
                            return Err(ValidationError::new(format!(
                                "{at_src}.media_type: Input should be 'application/pdf'"
                            )))
                        }
                    };
                    let data = string_field(source, "data", &at_src)?;
                    Part::Document(Document {
                        name,
                        format: Some(format.to_string()),
                        source: Source::Bytes(base64_bytes(data, &format!("{at_src}.data"))?),
                    })
                }
                Some("text") => Part::Document(Document {
                    name,
                    format: Some("txt".to_string()),
                    source: Source::Text(string_field(source, "data", &at_src)?.to_string()),
                }),
                other => {
                    return Err(ValidationError::new(format!(
                        "{at_src}.type: document sources of type {} are not supported on Bedrock; use base64 or text",
                        other.unwrap_or("(missing)")
                    )))
                }
            }
        }
        "tool_use" => Part::ToolUse(ToolCall {
            id: string_field(b, "id", at)?.to_string(),
            name: string_field(b, "name", at)?.to_string(),
            input: field(b, "input", at)?.clone(),
        }),
        "tool_result" => {
            let content = match b.get("content") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::String(s)) => vec![Part::Text(s.clone())],
                Some(Value::Array(items)) => {
                    let mut parts = Vec::with_capacity(items.len());
                    for (k, item) in items.iter().enumerate() {
                        parts.push(block(item, &format!("{at}.content.{k}"))?);
                    }
                    parts
                }
                Some(_) => {
                    return Err(ValidationError::new(format!(
                        "{at}.content: Input should be a valid string or list"
                    )))
                }
            };
            Part::ToolResult(ToolResult {
                tool_use_id: string_field(b, "tool_use_id", at)?.to_string(),
                is_error: b.get("is_error").and_then(Value::as_bool).unwrap_or(false),
                content,
            })
        }
        "thinking" => Part::Reasoning(Reasoning::Text {
            text: string_field(b, "thinking", at)?.to_string(),
            signature: str_field(b, "signature").map(str::to_string),
        }),
        "redacted_thinking" => Part::Reasoning(Reasoning::Redacted(
            string_field(b, "data", at)?.as_bytes().to_vec(),
        )),
        other => {
            return Err(ValidationError::new(format!(
                "{at}.type: unsupported content block type \"{other}\" (expected text, image, document, tool_use, tool_result, thinking or redacted_thinking)"
            )))
        }
    })
}

fn tool(t: &Value, i: usize) -> Result<ToolSpec, ValidationError> {
    let at = format!("tools.{i}");
    if let Some(ty) = str_field(t, "type").filter(|ty| *ty != "custom") {
        return Err(ValidationError::new(format!(
            "{at}.type: the server tool \"{ty}\" is not available here"
        )));
    }
    let schema = field(t, "input_schema", &at)?;
    if !schema.is_object() {
        return Err(ValidationError::new(format!(
            "{at}.input_schema: Input should be a valid dictionary"
        )));
    }
    Ok(ToolSpec {
        name: string_field(t, "name", &at)?.to_string(),
        description: str_field(t, "description").map(str::to_string),
        input_schema: schema.clone(),
    })
}

fn tool_choice(v: Option<&Value>) -> Result<ToolChoice, ValidationError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(ToolChoice::Auto);
    };
    Ok(match str_field(v, "type") {
        Some("auto") => ToolChoice::Auto,
        Some("any") => ToolChoice::Any,
        Some("none") => ToolChoice::None,
        Some("tool") => ToolChoice::Tool(string_field(v, "name", "tool_choice")?.to_string()),
        _ => {
            return Err(ValidationError::new(
                "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'",
            ))
        }
    })
}

/// `thinking: {type: enabled, budget_tokens}` with the rules Claude enforces; the messages
/// are Claude's own (tests/fixtures/errors/thinking-*.json, without Converse's
/// "The model returned the following errors: " prefix, which InvokeModel does not add).
fn thinking(
    body: &Value,
    sampling: &Sampling,
    choice: &ToolChoice,
) -> Result<Option<Thinking>, ValidationError> {
    let Some(t) = opt_object(body, "thinking")? else {
        return Ok(None);
    };
    let budget = match t.get("type").and_then(Value::as_str) {
        Some("disabled") => return Ok(None),
        Some("enabled") => match t.get("budget_tokens").and_then(Value::as_u64) {
            Some(b) => u32::try_from(b).unwrap_or(u32::MAX),
            None => {
                return Err(ValidationError::new(
                    "thinking.enabled.budget_tokens: Field required",
                ))
            }
        },
        _ => return Err(ValidationError::new(
            "thinking: Input tag does not match any of the expected tags: 'enabled', 'disabled'",
        )),
    };
    if budget < MIN_THINKING_BUDGET {
        return Err(ValidationError::new(
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        ));
    }
    if sampling.max_tokens.is_some_and(|m| m <= budget) {
        return Err(ValidationError::new(
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size",
        ));
    }
    if sampling.temperature.is_some_and(|t| t != 1.0) {
        return Err(ValidationError::new(
            "temperature may only be set to 1 when thinking is enabled.",
        ));
    }
    if sampling.top_p.is_some() {
        return Err(ValidationError::new(
            "top_p must be unset when thinking is enabled.",
        ));
    }
    if matches!(choice, ToolChoice::Any | ToolChoice::Tool(_)) {
        return Err(ValidationError::new(
            "Thinking may not be enabled when tool_choice forces tool use.",
        ));
    }
    Ok(Some(Thinking {
        budget_tokens: budget,
    }))
}

// ---------------------------------------------------------------------------------------------
// Chunks
// ---------------------------------------------------------------------------------------------

fn stop_fields(stop: &StopReason) -> (&'static str, Value) {
    match stop {
        StopReason::EndTurn => ("end_turn", Value::Null),
        StopReason::MaxTokens => ("max_tokens", Value::Null),
        StopReason::StopSequence(s) => ("stop_sequence", Value::String(s.clone())),
        StopReason::ToolUse => ("tool_use", Value::Null),
    }
}

/// Anthropic's own model name, which `message_start.message.model` carries instead of the
/// Bedrock id (`claude-2.0`, `claude-3-5-sonnet-20240620`: tests/fixtures/invoke-stream).
pub(crate) fn short_model_name(model_id: &str) -> String {
    let base = ModelId::parse(model_id).base().unwrap_or(model_id);
    let name = base.strip_prefix("anthropic.").unwrap_or(base);
    match name {
        "claude-v2" => return "claude-2.0".into(),
        "claude-v2:1" => return "claude-2.1".into(),
        "claude-instant-v1" => return "claude-instant-1.2".into(),
        _ => {}
    }
    // Drop the Bedrock version suffix: `-v1:0`, `-v2:0`, `-v1`.
    if let Some(pos) = name.rfind("-v") {
        let suffix = &name[pos + 2..];
        let (major, minor) = suffix.split_once(':').unwrap_or((suffix, "0"));
        if !major.is_empty()
            && major.bytes().all(|b| b.is_ascii_digit())
            && minor.bytes().all(|b| b.is_ascii_digit())
        {
            return name[..pos].to_string();
        }
    }
    name.to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    /// A reasoning block whose start waits for its first delta (text or redacted).
    ReasoningPending,
    Thinking,
    Redacted,
    Tool,
}

pub(crate) struct Encoder {
    model: String,
    open: Option<(u32, Open)>,
    next: u32,
}

impl Encoder {
    pub(crate) fn new(model_id: &str) -> Self {
        Encoder {
            model: short_model_name(model_id),
            open: None,
            next: 0,
        }
    }

    fn close(&mut self, out: &mut Vec<Value>) {
        if let Some((index, kind)) = self.open.take() {
            if kind == Open::ReasoningPending {
                out.push(json!({"type": "content_block_start", "index": index,
                                "content_block": {"type": "thinking", "thinking": ""}}));
            }
            out.push(json!({"type": "content_block_stop", "index": index}));
        }
    }

    fn open_block(&mut self, index: u32, kind: Open, out: &mut Vec<Value>) {
        self.close(out);
        self.next = self.next.max(index + 1);
        self.open = Some((index, kind));
    }

    /// The open text block's index, opening one when another kind (or none) is open.
    fn text_index(&mut self, index: Option<u32>, out: &mut Vec<Value>) -> u32 {
        match (self.open, index) {
            (Some((i, Open::Text)), None) => i,
            (Some((i, Open::Text)), Some(j)) if i == j => i,
            (_, requested) => {
                let index = requested.unwrap_or(self.next);
                self.open_block(index, Open::Text, out);
                out.push(json!({"type": "content_block_start", "index": index,
                                "content_block": {"type": "text", "text": ""}}));
                index
            }
        }
    }
}

fn delta(index: u32, delta: Value) -> Value {
    json!({"type": "content_block_delta", "index": index, "delta": delta})
}

impl ChunkEncoder for Encoder {
    fn start(&mut self, input_tokens: u32) -> Vec<Value> {
        vec![json!({"type": "message_start", "message": {
            "id": ids::anthropic_message_id(), "type": "message", "role": "assistant",
            "model": self.model, "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1}}})]
    }

    fn block_start(&mut self, index: u32, start: &BlockStart) -> Vec<Value> {
        let mut out = Vec::new();
        match start {
            BlockStart::Text => {
                self.open_block(index, Open::Text, &mut out);
                out.push(json!({"type": "content_block_start", "index": index,
                                "content_block": {"type": "text", "text": ""}}));
            }
            BlockStart::Reasoning => self.open_block(index, Open::ReasoningPending, &mut out),
            BlockStart::ToolUse { id, name } => {
                self.open_block(index, Open::Tool, &mut out);
                out.push(json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}));
                // The first input fragment is always empty (FACTS.md §3).
                out.push(delta(
                    index,
                    json!({"type": "input_json_delta", "partial_json": ""}),
                ));
            }
        }
        out
    }

    fn delta(&mut self, text: &str, _tokens: u32) -> Vec<Value> {
        let mut out = Vec::new();
        let index = self.text_index(None, &mut out);
        out.push(delta(index, json!({"type": "text_delta", "text": text})));
        out
    }

    fn block_delta(&mut self, index: u32, d: &Delta, _tokens: u32) -> Vec<Value> {
        let mut out = Vec::new();
        if let Delta::Text(t) = d {
            let index = self.text_index(Some(index), &mut out);
            out.push(delta(index, json!({"type": "text_delta", "text": t})));
            return out;
        }
        let open = match self.open {
            Some((i, kind)) if i == index => kind,
            _ => {
                // A delta without its block start: open the block its kind implies.
                let kind = match d {
                    Delta::ToolInput(_) => Open::Tool,
                    Delta::Reasoning(_)
                    | Delta::ReasoningSignature(_)
                    | Delta::RedactedReasoning(_) => Open::ReasoningPending,
                    Delta::Text(_) | Delta::Citation(_) => Open::Text,
                };
                self.open_block(index, kind, &mut out);
                kind
            }
        };
        match d {
            Delta::Text(_) => {}
            Delta::ToolInput(s) => out.push(delta(
                index,
                json!({"type": "input_json_delta", "partial_json": s}),
            )),
            Delta::Reasoning(t) => {
                if open == Open::ReasoningPending {
                    out.push(json!({"type": "content_block_start", "index": index,
                                    "content_block": {"type": "thinking", "thinking": ""}}));
                    self.open = Some((index, Open::Thinking));
                }
                out.push(delta(
                    index,
                    json!({"type": "thinking_delta", "thinking": t}),
                ));
            }
            Delta::ReasoningSignature(s) => {
                if open == Open::ReasoningPending {
                    out.push(json!({"type": "content_block_start", "index": index,
                                    "content_block": {"type": "thinking", "thinking": ""}}));
                    self.open = Some((index, Open::Thinking));
                }
                out.push(delta(
                    index,
                    json!({"type": "signature_delta", "signature": s}),
                ));
            }
            Delta::RedactedReasoning(bytes) => {
                // The block carries its data in the start; a redacted block has no deltas.
                let data = match std::str::from_utf8(bytes) {
                    Ok(s) => s.to_string(),
                    Err(_) => base64::engine::general_purpose::STANDARD.encode(bytes),
                };
                out.push(json!({"type": "content_block_start", "index": index,
                                "content_block": {"type": "redacted_thinking", "data": data}}));
                self.open = Some((index, Open::Redacted));
            }
            Delta::Citation(c) => out.push(delta(
                index,
                json!({"type": "citations_delta", "citation": c}),
            )),
        }
        out
    }

    fn block_stop(&mut self, index: u32) -> Vec<Value> {
        let mut out = Vec::new();
        if matches!(self.open, Some((i, _)) if i == index) {
            self.close(&mut out);
        }
        out
    }

    fn finish(&mut self, stop: &StopReason, usage: Usage) -> Vec<Value> {
        let mut out = Vec::new();
        self.close(&mut out);
        let (reason, seq) = stop_fields(stop);
        out.push(json!({"type": "message_delta",
                        "delta": {"stop_reason": reason, "stop_sequence": seq},
                        "usage": {"output_tokens": usage.output_tokens}}));
        out.push(json!({"type": "message_stop"}));
        out
    }
}

pub(crate) fn response(
    model_id: &str,
    blocks: &[AnswerBlock],
    stop: &StopReason,
    usage: Usage,
) -> Value {
    let (reason, seq) = stop_fields(stop);
    let content: Vec<Value> = blocks
        .iter()
        .map(|b| match b {
            AnswerBlock::Text(t) => json!({"type": "text", "text": t}),
            AnswerBlock::Reasoning { text, signature } => {
                json!({"type": "thinking", "thinking": text, "signature": signature})
            }
            AnswerBlock::RedactedReasoning(bytes) => json!({"type": "redacted_thinking",
                "data": String::from_utf8_lossy(bytes)}),
            AnswerBlock::ToolUse(c) => {
                json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.input})
            }
        })
        .collect();
    json!({
        "id": ids::anthropic_message_id(), "type": "message", "role": "assistant",
        "model": short_model_name(model_id), "content": content,
        "stop_reason": reason, "stop_sequence": seq,
        "usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
    })
}

fn usage_into(info: &mut ChunkInfo, usage: Option<&Value>) {
    let Some(u) = usage else { return };
    if let Some(n) = u64_at(u, &["input_tokens"]) {
        info.input_tokens = Some(n);
    }
    if let Some(n) = u64_at(u, &["cache_read_input_tokens"]) {
        info.cache_read_input_tokens = Some(n);
    }
    if let Some(n) = u64_at(u, &["cache_creation_input_tokens"]) {
        info.cache_write_input_tokens = Some(n);
    }
}

fn index_of(chunk: &Value) -> u32 {
    u64_at(chunk, &["index"])
        .and_then(|i| u32::try_from(i).ok())
        .unwrap_or(0)
}

pub(crate) fn decode_chunk(chunk: &Value) -> ChunkInfo {
    let ty = str_field(chunk, "type").unwrap_or("");
    let mut info = ChunkInfo::recognised();
    match ty {
        "message_start" => usage_into(&mut info, chunk.get("message").and_then(|m| m.get("usage"))),
        "content_block_start" => {
            let index = index_of(chunk);
            let block = chunk.get("content_block").unwrap_or(&Value::Null);
            match str_field(block, "type") {
                Some("tool_use") => info.push(BlockEvent::Start {
                    index,
                    start: BlockStart::ToolUse {
                        id: str_field(block, "id").unwrap_or_default().to_string(),
                        name: str_field(block, "name").unwrap_or_default().to_string(),
                    },
                }),
                Some("thinking") => {
                    info.push(BlockEvent::Start {
                        index,
                        start: BlockStart::Reasoning,
                    });
                    if let Some(t) = str_field(block, "thinking").filter(|t| !t.is_empty()) {
                        info.push(BlockEvent::Delta {
                            index,
                            delta: Delta::Reasoning(t.to_string()),
                        });
                    }
                }
                Some("redacted_thinking") => {
                    info.push(BlockEvent::Start {
                        index,
                        start: BlockStart::Reasoning,
                    });
                    info.push(BlockEvent::Delta {
                        index,
                        delta: Delta::RedactedReasoning(
                            str_field(block, "data")
                                .unwrap_or_default()
                                .as_bytes()
                                .to_vec(),
                        ),
                    });
                }
                _ => info.push_text(index, str_field(block, "text").unwrap_or_default()),
            }
        }
        "content_block_delta" => {
            let index = index_of(chunk);
            let d = chunk.get("delta").unwrap_or(&Value::Null);
            let delta = match str_field(d, "type") {
                Some("text_delta") => {
                    info.push_text(index, str_field(d, "text").unwrap_or_default());
                    None
                }
                Some("input_json_delta") => str_field(d, "partial_json")
                    .filter(|s| !s.is_empty())
                    .map(|s| Delta::ToolInput(s.to_string())),
                Some("thinking_delta") => str_field(d, "thinking")
                    .filter(|s| !s.is_empty())
                    .map(|s| Delta::Reasoning(s.to_string())),
                Some("signature_delta") => {
                    str_field(d, "signature").map(|s| Delta::ReasoningSignature(s.to_string()))
                }
                Some("citations_delta") => d.get("citation").cloned().map(Delta::Citation),
                _ => {
                    info.recognised = false;
                    None
                }
            };
            if let Some(delta) = delta {
                info.push(BlockEvent::Delta { index, delta });
            }
        }
        "content_block_stop" => info.push(BlockEvent::Stop {
            index: index_of(chunk),
        }),
        "message_delta" => {
            info.stop_reason = chunk
                .get("delta")
                .and_then(|d| str_field(d, "stop_reason"))
                .map(str::to_string);
            info.output_tokens = u64_at(chunk, &["usage", "output_tokens"]);
        }
        "message_stop" | "ping" => {}
        _ => info.recognised = false,
    }
    info
}

/// A non-streaming Messages response: every content block in order, as events.
pub(crate) fn decode_response(body: &Value) -> ChunkInfo {
    let mut info = ChunkInfo::default();
    let Some(blocks) = body.get("content").and_then(Value::as_array) else {
        return info;
    };
    info.recognised = true;
    for (i, b) in blocks.iter().enumerate() {
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        match str_field(b, "type") {
            Some("text") => info.push_text(index, str_field(b, "text").unwrap_or_default()),
            Some("tool_use") => {
                info.push(BlockEvent::Start {
                    index,
                    start: BlockStart::ToolUse {
                        id: str_field(b, "id").unwrap_or_default().to_string(),
                        name: str_field(b, "name").unwrap_or_default().to_string(),
                    },
                });
                let input = b.get("input").cloned().unwrap_or_else(|| json!({}));
                info.push(BlockEvent::Delta {
                    index,
                    delta: Delta::ToolInput(input.to_string()),
                });
                info.push(BlockEvent::Stop { index });
            }
            Some("thinking") => {
                info.push(BlockEvent::Start {
                    index,
                    start: BlockStart::Reasoning,
                });
                info.push(BlockEvent::Delta {
                    index,
                    delta: Delta::Reasoning(str_field(b, "thinking").unwrap_or_default().into()),
                });
                if let Some(s) = str_field(b, "signature") {
                    info.push(BlockEvent::Delta {
                        index,
                        delta: Delta::ReasoningSignature(s.to_string()),
                    });
                }
                info.push(BlockEvent::Stop { index });
            }
            Some("redacted_thinking") => {
                info.push(BlockEvent::Start {
                    index,
                    start: BlockStart::Reasoning,
                });
                info.push(BlockEvent::Delta {
                    index,
                    delta: Delta::RedactedReasoning(
                        str_field(b, "data").unwrap_or_default().as_bytes().to_vec(),
                    ),
                });
                info.push(BlockEvent::Stop { index });
            }
            _ => {}
        }
    }
    info.stop_reason = str_field(body, "stop_reason").map(str::to_string);
    usage_into(&mut info, body.get("usage"));
    info.output_tokens = u64_at(body, &["usage", "output_tokens"]);
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_anthropics() {
        assert_eq!(short_model_name("anthropic.claude-v2"), "claude-2.0");
        assert_eq!(
            short_model_name("us.anthropic.claude-3-5-sonnet-20240620-v1:0"),
            "claude-3-5-sonnet-20240620"
        );
        assert_eq!(
            short_model_name("anthropic.claude-opus-4-6-v1"),
            "claude-opus-4-6"
        );
        assert_eq!(
            short_model_name("anthropic.claude-sonnet-4-6"),
            "claude-sonnet-4-6"
        );
    }
}
