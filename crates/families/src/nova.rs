//! Amazon Nova (`messages-v1`): Converse-shaped events inside `InvokeModel` chunk bytes.

use serde_json::{json, Value};

use crate::json::{content_text, opt_f32, opt_strings, opt_u32, str_field, u64_at};
use crate::ValidationError;
use crate::{anthropic, ChunkEncoder, ChunkInfo, Prompt, Sampling, StopReason, Usage};

pub(crate) fn parse_request(body: &Value) -> Result<(Prompt, Sampling), ValidationError> {
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
        prompt.turns.push(anthropic::chat_turn(m)?);
    }
    if prompt.turns.is_empty() {
        return Err(ValidationError::new(
            "A conversation must start with a user message.",
        ));
    }
    let cfg = "inferenceConfig";
    Ok((
        prompt,
        Sampling {
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
        },
    ))
}

pub(crate) struct Encoder;

impl ChunkEncoder for Encoder {
    fn start(&mut self, _input_tokens: u32) -> Vec<Value> {
        vec![json!({"messageStart": {"role": "assistant"}})]
    }
    fn delta(&mut self, text: &str, _tokens: u32) -> Vec<Value> {
        vec![json!({"contentBlockDelta": {"delta": {"text": text}, "contentBlockIndex": 0}})]
    }
    fn finish(&mut self, stop: &StopReason, usage: Usage) -> Vec<Value> {
        vec![
            json!({"contentBlockStop": {"contentBlockIndex": 0}}),
            json!({"messageStop": {"stopReason": stop.converse_name()}}),
            json!({"metadata": {"usage": {"inputTokens": usage.input_tokens,
                                          "outputTokens": usage.output_tokens},
                                "metrics": {}, "trace": {}}}),
        ]
    }
}

pub(crate) fn response(text: &str, stop: &StopReason, usage: Usage) -> Value {
    json!({"output": {"message": {"role": "assistant", "content": [{"text": text}]}},
           "stopReason": stop.converse_name(),
           "usage": {"inputTokens": usage.input_tokens, "outputTokens": usage.output_tokens,
                     "totalTokens": usage.input_tokens + usage.output_tokens}})
}

pub(crate) fn decode_chunk(chunk: &Value) -> ChunkInfo {
    let mut info = ChunkInfo {
        recognised: true,
        ..Default::default()
    };
    if let Some(d) = chunk.get("contentBlockDelta") {
        info.text = d
            .get("delta")
            .and_then(|d| str_field(d, "text"))
            .map(str::to_string);
    } else if let Some(s) = chunk.get("messageStop") {
        info.stop_reason = str_field(s, "stopReason").map(str::to_string);
    } else if let Some(m) = chunk.get("metadata") {
        info.input_tokens = u64_at(m, &["usage", "inputTokens"]);
        info.output_tokens = u64_at(m, &["usage", "outputTokens"]);
    } else if chunk.get("messageStart").is_none()
        && chunk.get("contentBlockStart").is_none()
        && chunk.get("contentBlockStop").is_none()
    {
        info.recognised = false;
    }
    info
}

pub(crate) fn decode_response(body: &Value) -> ChunkInfo {
    let content = body
        .get("output")
        .and_then(|o| o.get("message"))
        .and_then(|m| m.get("content"));
    ChunkInfo {
        text: content.map(content_text).and_then(Result::ok),
        stop_reason: str_field(body, "stopReason").map(str::to_string),
        input_tokens: u64_at(body, &["usage", "inputTokens"]),
        output_tokens: u64_at(body, &["usage", "outputTokens"]),
        metrics: None,
        recognised: content.is_some(),
        ..Default::default()
    }
}
