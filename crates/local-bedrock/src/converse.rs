//! The Converse request shape, read into a family-neutral prompt.

use bedrock_families::{Prompt, Role, Sampling, Turn};
use serde_json::Value;

use crate::error::BedrockError;

fn invalid(msg: impl Into<String>) -> BedrockError {
    BedrockError::Validation(msg.into())
}

fn blocks_text(blocks: &Value, what: &str) -> Result<String, BedrockError> {
    let arr = blocks
        .as_array()
        .ok_or_else(|| invalid(format!("{what} must be a list of content blocks")))?;
    let mut out = String::new();
    for b in arr {
        if let Some(t) = b.get("text") {
            out.push_str(
                t.as_str()
                    .ok_or_else(|| invalid(format!("{what}: text must be a string")))?,
            );
        }
    }
    Ok(out)
}

pub(crate) fn parse(body: &Value) -> Result<(Prompt, Sampling), BedrockError> {
    if !body.is_object() {
        return Err(invalid("Malformed input request: expected a JSON object"));
    }
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("1 validation error detected: Value null at 'messages' failed to satisfy constraint: Member must not be null"))?;
    let mut prompt = Prompt::default();
    if let Some(system) = body.get("system") {
        let text = blocks_text(system, "system")?;
        if !text.is_empty() {
            prompt.system = Some(text);
        }
    }
    for m in messages {
        let role = match m.get("role").and_then(Value::as_str) {
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            _ => return Err(invalid("Value at 'messages.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]")),
        };
        let content = m
            .get("content")
            .ok_or_else(|| invalid("Value null at 'messages.content' failed to satisfy constraint: Member must not be null"))?;
        prompt
            .turns
            .push(Turn::new(role, blocks_text(content, "messages.content")?));
    }
    match prompt.turns.first() {
        None => return Err(invalid("A conversation must start with a user message. Try again with a conversation that starts with a user message.")),
        Some(t) if t.role != Role::User => return Err(invalid("A conversation must start with a user message. Try again with a conversation that starts with a user message.")),
        _ => {}
    }
    let cfg = body.get("inferenceConfig");
    let num = |k: &str| cfg.and_then(|c| c.get(k));
    let max_tokens = match num("maxTokens") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|n| *n >= 1)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| invalid("Value at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1"))?,
        ),
    };
    let float = |k: &str| -> Result<Option<f32>, BedrockError> {
        match num(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .map(|f| Some(f as f32))
                .ok_or_else(|| invalid(format!("inferenceConfig.{k} must be a number"))),
        }
    };
    let stop_sequences = match num("stopSequences") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(_) => {
            return Err(invalid(
                "inferenceConfig.stopSequences must be a list of strings",
            ))
        }
    };
    let top_k = body
        .get("additionalModelRequestFields")
        .and_then(|f| f.get("top_k").or_else(|| f.get("topK")))
        .and_then(Value::as_u64)
        .and_then(|k| u32::try_from(k).ok());
    Ok((
        prompt,
        Sampling {
            max_tokens,
            temperature: float("temperature")?,
            top_p: float("topP")?,
            top_k,
            stop_sequences,
        },
    ))
}
