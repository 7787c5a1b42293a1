//! Mistral: text completions (`prompt` → `outputs[{text, stop_reason}]`) and chat (`messages`
//! → `choices[{message, stop_reason}]`, Large 2 and Pixtral).

use serde_json::{json, Value};

use crate::json::{opt_f32, opt_strings, opt_u32, required_str};
use crate::ValidationError;
use crate::{llama, ChunkEncoder, ChunkInfo, Prompt, Sampling, StopReason, Usage};

/// Mistral models that only take the chat (`messages`) body.
pub(crate) fn chat_only(model: &str) -> bool {
    [
        "pixtral",
        "mistral-large-2407",
        "mistral-large-2411",
        "magistral",
        "ministral",
        "voxtral",
    ]
    .iter()
    .any(|p| model.starts_with(p))
}

pub(crate) fn parse_text_request(body: &Value) -> Result<(Prompt, Sampling), ValidationError> {
    let prompt = required_str(body, "prompt")?;
    Ok((
        llama::parse_chat_template(prompt),
        Sampling {
            max_tokens: opt_u32(body, &["max_tokens"])?,
            temperature: opt_f32(body, &["temperature"])?,
            top_p: opt_f32(body, &["top_p"])?,
            top_k: opt_u32(body, &["top_k"])?,
            stop_sequences: opt_strings(body, &["stop"])?,
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

pub(crate) struct TextEncoder;

impl ChunkEncoder for TextEncoder {
    fn start(&mut self, _input_tokens: u32) -> Vec<Value> {
        Vec::new()
    }
    fn delta(&mut self, text: &str, _tokens: u32) -> Vec<Value> {
        vec![json!({"outputs": [{"text": text, "stop_reason": null}]})]
    }
    fn finish(&mut self, stop: &StopReason, _usage: Usage) -> Vec<Value> {
        vec![json!({"outputs": [{"text": "", "stop_reason": reason(stop)}]})]
    }
}

pub(crate) struct ChatEncoder;

impl ChunkEncoder for ChatEncoder {
    fn start(&mut self, _input_tokens: u32) -> Vec<Value> {
        Vec::new()
    }
    fn delta(&mut self, text: &str, _tokens: u32) -> Vec<Value> {
        vec![json!({"choices": [{"index": 0,
            "message": {"role": "assistant", "content": text}, "stop_reason": null}]})]
    }
    fn finish(&mut self, stop: &StopReason, _usage: Usage) -> Vec<Value> {
        vec![json!({"choices": [{"index": 0,
            "message": {"role": "assistant", "content": ""}, "stop_reason": reason(stop)}]})]
    }
}

pub(crate) fn text_response(text: &str, stop: &StopReason) -> Value {
    json!({"outputs": [{"text": text, "stop_reason": reason(stop)}]})
}

pub(crate) fn chat_response(text: &str, stop: &StopReason) -> Value {
    json!({"choices": [{"index": 0,
        "message": {"role": "assistant", "content": text, "tool_calls": null},
        "stop_reason": reason(stop)}]})
}

pub(crate) fn decode_chunk(chunk: &Value) -> ChunkInfo {
    if let Some(first) = chunk
        .get("outputs")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return ChunkInfo {
            text: first
                .get("text")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            stop_reason: first
                .get("stop_reason")
                .and_then(Value::as_str)
                .map(str::to_string),
            recognised: true,
            ..Default::default()
        };
    }
    crate::openai::decode_chunk(chunk)
}
