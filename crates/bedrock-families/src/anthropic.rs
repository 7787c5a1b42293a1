//! Anthropic Claude text completions (`\n\nHuman:` … `\n\nAssistant:`), Claude v2 / Instant.
//! The Messages API is in `anthropic_messages`.

use std::borrow::Cow;

use serde_json::{json, Value};

use crate::json::{opt_f32, opt_strings, opt_u32, required_str, str_field};
use crate::ValidationError;
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
