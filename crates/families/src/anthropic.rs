//! Anthropic Claude: text completions (`\n\nHuman:` … `\n\nAssistant:`) and the Messages API.

use std::borrow::Cow;

use serde_json::{json, Value};

use crate::json::{content_text, opt_f32, opt_strings, opt_u32, required_str, str_field, u64_at};
use crate::{json as j, ValidationError};
use crate::{ChunkEncoder, ChunkInfo, Prompt, Role, Sampling, StopReason, Turn, Usage};

const HUMAN: &str = "\n\nHuman:";
const ASSISTANT: &str = "\n\nAssistant:";

/// True when a Claude text prompt has the turn markers Bedrock requires: a `\n\nHuman:` turn and
/// a final `\n\nAssistant:` turn.
pub fn is_well_formed_text_prompt(prompt: &str) -> bool {
    match (prompt.find(HUMAN), prompt.rfind(ASSISTANT)) {
        (Some(h), Some(a)) => a > h && !prompt[a..].contains(HUMAN),
        _ => false,
    }
}

/// Wraps a bare prompt in the turn markers Claude text models require; well-formed prompts are
/// returned unchanged.
pub fn wrap_text_prompt(prompt: &str) -> Cow<'_, str> {
    if is_well_formed_text_prompt(prompt) {
        return Cow::Borrowed(prompt);
    }
    if prompt.contains(HUMAN) {
        return Cow::Owned(format!("{}{ASSISTANT}", prompt.trim_end()));
    }
    let body = prompt
        .trim()
        .trim_start_matches("Human:")
        .trim_end_matches("Assistant:")
        .trim();
    Cow::Owned(format!("{HUMAN} {body}{ASSISTANT}"))
}

fn sampling(body: &Value, max_key: &str) -> Result<Sampling, ValidationError> {
    Ok(Sampling {
        max_tokens: opt_u32(body, &[max_key])?,
        temperature: opt_f32(body, &["temperature"])?,
        top_p: opt_f32(body, &["top_p"])?,
        top_k: opt_u32(body, &["top_k"])?,
        stop_sequences: opt_strings(body, &["stop_sequences"])?,
    })
}

pub(crate) fn parse_text_request(body: &Value) -> Result<(Prompt, Sampling), ValidationError> {
    let prompt = required_str(body, "prompt")?;
    if body.get("max_tokens_to_sample").is_none() {
        return Err(ValidationError::new(
            "Malformed input request: #: required key [max_tokens_to_sample] not found, please reformat your input and try again.",
        ));
    }
    if !prompt.contains(HUMAN) {
        return Err(ValidationError::new(
            "Invalid prompt: prompt must start with \"\n\nHuman:\" turn after an optional system prompt",
        ));
    }
    if !is_well_formed_text_prompt(prompt) {
        return Err(ValidationError::new(
            "Invalid prompt: prompt must end with \"\n\nAssistant:\" turn",
        ));
    }
    let mut sampling = sampling(body, "max_tokens_to_sample")?;
    sampling.stop_sequences.retain(|s| !s.is_empty());
    Ok((split_text_turns(prompt), sampling))
}

/// Splits `sys\n\nHuman: a\n\nAssistant: b\n\nHuman: c\n\nAssistant:` into turns.
fn split_text_turns(prompt: &str) -> Prompt {
    let mut out = Prompt::default();
    let mut rest = prompt;
    if let Some(h) = rest.find(HUMAN) {
        let system = rest[..h].trim();
        if !system.is_empty() {
            out.system = Some(system.to_string());
        }
        rest = &rest[h..];
    }
    while !rest.is_empty() {
        let (role, marker) = if rest.starts_with(HUMAN) {
            (Role::User, HUMAN)
        } else {
            (Role::Assistant, ASSISTANT)
        };
        let after = rest.get(marker.len()..).unwrap_or("");
        let next = [after.find(HUMAN), after.find(ASSISTANT)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(after.len());
        let text = after[..next].trim();
        if !text.is_empty() {
            out.turns.push(Turn::new(role, text.to_string()));
        }
        rest = &after[next..];
    }
    out
}

pub(crate) fn parse_messages_request(body: &Value) -> Result<(Prompt, Sampling), ValidationError> {
    if body.get("anthropic_version").is_none() {
        return Err(ValidationError::new(
            "Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again.",
        ));
    }
    if body.get("max_tokens").is_none() {
        return Err(ValidationError::new(
            "Malformed input request: #: required key [max_tokens] not found, please reformat your input and try again.",
        ));
    }
    let messages = body.get("messages").and_then(Value::as_array).ok_or_else(|| {
        ValidationError::new(
            "Malformed input request: #: required key [messages] not found, please reformat your input and try again.",
        )
    })?;
    let mut prompt = Prompt {
        system: match body.get("system") {
            None | Some(Value::Null) => None,
            Some(s) => Some(content_text(s)?),
        },
        ..Prompt::default()
    };
    for m in messages {
        prompt.turns.push(chat_turn(m)?);
    }
    if prompt.turns.is_empty() {
        return Err(ValidationError::new(
            "messages: at least one message is required",
        ));
    }
    Ok((prompt, sampling(body, "max_tokens")?))
}

/// A `{role, content}` message as used by Anthropic, OpenAI-style and Mistral chat bodies.
pub(crate) fn chat_turn(m: &Value) -> Result<Turn, ValidationError> {
    let role = match str_field(m, "role") {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some(other) => {
            return Err(ValidationError::new(format!(
                "messages: unexpected role \"{other}\"; roles must be user or assistant"
            )))
        }
        None => {
            return Err(ValidationError::new(
                "Malformed input request: #/messages: required key [role] not found",
            ))
        }
    };
    let content = m.get("content").ok_or_else(|| {
        ValidationError::new(
            "Malformed input request: #/messages: required key [content] not found",
        )
    })?;
    Ok(Turn::new(role, content_text(content)?))
}

fn anthropic_stop(stop: &StopReason) -> (&'static str, Value) {
    match stop {
        StopReason::EndTurn => ("end_turn", Value::Null),
        StopReason::MaxTokens => ("max_tokens", Value::Null),
        StopReason::StopSequence(s) => ("stop_sequence", Value::String(s.clone())),
        StopReason::ToolUse => ("tool_use", Value::Null),
    }
}

fn text_stop(stop: &StopReason) -> (&'static str, Value) {
    match stop {
        StopReason::EndTurn | StopReason::ToolUse => {
            ("stop_sequence", Value::String(HUMAN.to_string()))
        }
        StopReason::MaxTokens => ("max_tokens", Value::Null),
        StopReason::StopSequence(s) => ("stop_sequence", Value::String(s.clone())),
    }
}

pub(crate) struct TextEncoder;

impl ChunkEncoder for TextEncoder {
    fn start(&mut self, _input_tokens: u32) -> Vec<Value> {
        Vec::new()
    }
    fn delta(&mut self, text: &str, _tokens: u32) -> Vec<Value> {
        vec![json!({"completion": text, "stop_reason": null, "stop": null})]
    }
    fn finish(&mut self, stop: &StopReason, _usage: Usage) -> Vec<Value> {
        let (reason, seq) = text_stop(stop);
        vec![json!({"completion": "", "stop_reason": reason, "stop": seq})]
    }
}

pub(crate) fn text_response(text: &str, stop: &StopReason) -> Value {
    let (reason, seq) = text_stop(stop);
    json!({"type": "completion", "completion": text, "stop_reason": reason, "stop": seq})
}

pub(crate) fn decode_text_chunk(chunk: &Value) -> ChunkInfo {
    ChunkInfo {
        text: str_field(chunk, "completion")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        stop_reason: str_field(chunk, "stop_reason").map(str::to_string),
        recognised: chunk.get("completion").is_some(),
        ..Default::default()
    }
}

pub(crate) struct MessagesEncoder {
    id: String,
    model: String,
}

impl MessagesEncoder {
    pub(crate) fn new(model_id: &str) -> Self {
        MessagesEncoder {
            id: format!("msg_bdrk_{:016x}", fxhash(model_id)),
            model: model_id.to_string(),
        }
    }
}

/// A cheap, deterministic id suffix (not security relevant).
fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

impl ChunkEncoder for MessagesEncoder {
    fn start(&mut self, input_tokens: u32) -> Vec<Value> {
        vec![
            json!({"type": "message_start", "message": {
                "id": self.id, "type": "message", "role": "assistant", "model": self.model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": input_tokens, "output_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0,
                   "content_block": {"type": "text", "text": ""}}),
        ]
    }
    fn delta(&mut self, text: &str, _tokens: u32) -> Vec<Value> {
        vec![json!({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": text}})]
    }
    fn finish(&mut self, stop: &StopReason, usage: Usage) -> Vec<Value> {
        let (reason, seq) = anthropic_stop(stop);
        vec![
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "message_delta",
                   "delta": {"stop_reason": reason, "stop_sequence": seq},
                   "usage": {"output_tokens": usage.output_tokens}}),
            json!({"type": "message_stop"}),
        ]
    }
}

pub(crate) fn messages_response(
    model_id: &str,
    text: &str,
    stop: &StopReason,
    usage: Usage,
) -> Value {
    let (reason, seq) = anthropic_stop(stop);
    json!({
        "id": format!("msg_bdrk_{:016x}", fxhash(model_id)), "type": "message", "role": "assistant",
        "model": model_id, "content": [{"type": "text", "text": text}],
        "stop_reason": reason, "stop_sequence": seq,
        "usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
    })
}

pub(crate) fn decode_messages_chunk(chunk: &Value) -> ChunkInfo {
    let ty = str_field(chunk, "type").unwrap_or("");
    let mut info = ChunkInfo {
        recognised: !ty.is_empty(),
        ..Default::default()
    };
    match ty {
        "message_start" => {
            info.input_tokens = u64_at(chunk, &["message", "usage", "input_tokens"]);
        }
        "content_block_delta" => {
            let delta = chunk.get("delta");
            info.text = delta
                .and_then(|d| d.get("text"))
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        "message_delta" => {
            info.stop_reason = chunk
                .get("delta")
                .and_then(|d| str_field(d, "stop_reason"))
                .map(str::to_string);
            info.output_tokens = u64_at(chunk, &["usage", "output_tokens"]);
        }
        _ => {}
    }
    info
}

pub(crate) fn decode_messages_response(body: &Value) -> ChunkInfo {
    let text = body
        .get("content")
        .map(content_text)
        .and_then(Result::ok)
        .filter(|t| !t.is_empty());
    ChunkInfo {
        text,
        stop_reason: j::str_field(body, "stop_reason").map(str::to_string),
        input_tokens: u64_at(body, &["usage", "input_tokens"]),
        output_tokens: u64_at(body, &["usage", "output_tokens"]),
        metrics: None,
        recognised: body.get("content").is_some(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_bare_and_leaves_well_formed_prompts() {
        assert_eq!(
            wrap_text_prompt("Explain serverless to a 5th grader."),
            "\n\nHuman: Explain serverless to a 5th grader.\n\nAssistant:"
        );
        let good = "\n\nHuman: hi\n\nAssistant:";
        assert!(matches!(wrap_text_prompt(good), Cow::Borrowed(_)));
        assert_eq!(
            wrap_text_prompt("\n\nHuman: hi"),
            "\n\nHuman: hi\n\nAssistant:"
        );
        // The seed's malformed template.
        assert_eq!(
            wrap_text_prompt("Human:hiAssistant:"),
            "\n\nHuman: hi\n\nAssistant:"
        );
        assert!(is_well_formed_text_prompt(&wrap_text_prompt("")));
    }

    #[test]
    fn splits_turns() {
        let p = split_text_turns("Be brief.\n\nHuman: a\n\nAssistant: b\n\nHuman: c\n\nAssistant:");
        assert_eq!(p.system.as_deref(), Some("Be brief."));
        assert_eq!(p.turns.len(), 3);
        assert_eq!(p.turns[2].text(), "c");
        assert_eq!(p.turns[1].role, Role::Assistant);
    }
}
