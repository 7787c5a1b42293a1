//! OpenAI-shaped bodies on Bedrock: chat (AI21 Jamba, OpenAI gpt-oss, Qwen … → `choices[{delta}]`)
//! and text completions (DeepSeek R1 → `choices[{text, stop_reason}]`).

use serde_json::{json, Value};

use crate::json::{
    content_text, first_choice, opt_f32, opt_strings, opt_u32, required_str, str_field, u64_at,
};
use crate::ValidationError;
use crate::{anthropic, ChunkEncoder, ChunkInfo, Prompt, Sampling, StopReason, Usage};

fn stop_list(body: &Value) -> Result<Vec<String>, ValidationError> {
    match body.get("stop") {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        _ => opt_strings(body, &["stop"]),
    }
}

pub(crate) fn parse_chat_request(body: &Value) -> Result<(Prompt, Sampling), ValidationError> {
    let messages = body.get("messages").and_then(Value::as_array).ok_or_else(|| {
        ValidationError::new(
            "Malformed input request: #: required key [messages] not found, please reformat your input and try again.",
        )
    })?;
    let mut prompt = Prompt::default();
    for m in messages {
        if str_field(m, "role") == Some("system") {
            let text = content_text(m.get("content").unwrap_or(&Value::Null))?;
            prompt.system = Some(match prompt.system.take() {
                Some(s) => format!("{s}\n{text}"),
                None => text,
            });
        } else {
            prompt.turns.push(anthropic::chat_turn(m)?);
        }
    }
    if prompt.turns.is_empty() {
        return Err(ValidationError::new("messages must contain a user message"));
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

fn reason(stop: &StopReason) -> &'static str {
    crate::mistral::reason(stop)
}

pub(crate) struct ChatEncoder {
    model: String,
}

impl ChatEncoder {
    pub(crate) fn new(model_id: &str) -> Self {
        ChatEncoder {
            model: model_id.to_string(),
        }
    }
    fn chunk(&self, delta: Value, finish: Value) -> Value {
        json!({"id": "chatcmpl-bedrock", "object": "chat.completion.chunk", "created": 0,
               "model": self.model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    }
}

impl ChunkEncoder for ChatEncoder {
    fn start(&mut self, _input_tokens: u32) -> Vec<Value> {
        vec![self.chunk(json!({"role": "assistant", "content": ""}), Value::Null)]
    }
    fn delta(&mut self, text: &str, _tokens: u32) -> Vec<Value> {
        vec![self.chunk(json!({"content": text}), Value::Null)]
    }
    fn finish(&mut self, stop: &StopReason, usage: Usage) -> Vec<Value> {
        let mut last = self.chunk(json!({}), Value::from(reason(stop)));
        last["usage"] = json!({"prompt_tokens": usage.input_tokens,
                               "completion_tokens": usage.output_tokens,
                               "total_tokens": usage.input_tokens + usage.output_tokens});
        vec![last]
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

pub(crate) fn chat_response(model_id: &str, text: &str, stop: &StopReason, usage: Usage) -> Value {
    json!({"id": "chatcmpl-bedrock", "object": "chat.completion", "created": 0, "model": model_id,
           "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                        "finish_reason": reason(stop)}],
           "usage": {"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens,
                     "total_tokens": usage.input_tokens + usage.output_tokens}})
}

pub(crate) fn text_response(text: &str, stop: &StopReason) -> Value {
    json!({"choices": [{"text": text, "stop_reason": reason(stop)}]})
}

pub(crate) fn decode_chunk(chunk: &Value) -> ChunkInfo {
    let Some(choice) = first_choice(chunk) else {
        return ChunkInfo {
            input_tokens: u64_at(chunk, &["usage", "prompt_tokens"]),
            output_tokens: u64_at(chunk, &["usage", "completion_tokens"]),
            recognised: chunk.get("usage").is_some(),
            ..Default::default()
        };
    };
    let text = choice
        .get("delta")
        .or_else(|| choice.get("message"))
        .and_then(|d| d.get("content"))
        .and_then(Value::as_str)
        .or_else(|| str_field(choice, "text"));
    ChunkInfo {
        text: text.filter(|s| !s.is_empty()).map(str::to_string),
        stop_reason: str_field(choice, "finish_reason")
            .or_else(|| str_field(choice, "stop_reason"))
            .map(str::to_string),
        input_tokens: u64_at(chunk, &["usage", "prompt_tokens"]),
        output_tokens: u64_at(chunk, &["usage", "completion_tokens"]),
        metrics: None,
        recognised: true,
        ..Default::default()
    }
}

pub(crate) fn decode_chat_response(body: &Value) -> ChunkInfo {
    decode_chunk(body)
}
