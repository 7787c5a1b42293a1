//! Cohere Command: the legacy generate body (`prompt` → `text`, `is_finished`) and Command R
//! chat (`message`, `chat_history`, `preamble` → `event_type` text-generation … stream-end).

use serde_json::{json, Value};

use crate::json::{opt_f32, opt_strings, opt_u32, required_str, str_field};
use crate::ValidationError;
use crate::{ChunkEncoder, ChunkInfo, Prompt, Role, Sampling, StopReason, Turn, Usage};

fn sampling(body: &Value) -> Result<Sampling, ValidationError> {
    Ok(Sampling {
        max_tokens: opt_u32(body, &["max_tokens"])?,
        temperature: opt_f32(body, &["temperature"])?,
        top_p: opt_f32(body, &["p"])?,
        top_k: opt_u32(body, &["k"])?,
        stop_sequences: opt_strings(body, &["stop_sequences"])?,
    })
}

pub(crate) fn parse_request(body: &Value) -> Result<(Prompt, Sampling), ValidationError> {
    let prompt = required_str(body, "prompt")?;
    Ok((Prompt::user(prompt), sampling(body)?))
}

pub(crate) fn parse_chat_request(body: &Value) -> Result<(Prompt, Sampling), ValidationError> {
    let message = required_str(body, "message")?;
    let mut prompt = Prompt {
        system: str_field(body, "preamble").map(str::to_string),
        ..Prompt::default()
    };
    if let Some(history) = body.get("chat_history").and_then(Value::as_array) {
        for h in history {
            let role = match str_field(h, "role") {
                Some("CHATBOT") => Role::Assistant,
                _ => Role::User,
            };
            let text = str_field(h, "message").unwrap_or_default().to_string();
            prompt.turns.push(Turn::new(role, text));
        }
    }
    prompt
        .turns
        .push(Turn::new(Role::User, message.to_string()));
    Ok((prompt, sampling(body)?))
}

fn reason(stop: &StopReason) -> &'static str {
    match stop {
        StopReason::EndTurn | StopReason::StopSequence(_) => "COMPLETE",
        StopReason::MaxTokens => "MAX_TOKENS",
        StopReason::ToolUse => "TOOL_CALL",
    }
}

pub(crate) struct Encoder {
    pub(crate) chat: bool,
}

impl ChunkEncoder for Encoder {
    fn start(&mut self, _input_tokens: u32) -> Vec<Value> {
        if self.chat {
            vec![json!({"is_finished": false, "event_type": "stream-start",
                        "generation_id": "00000000-0000-4000-8000-000000000000"})]
        } else {
            Vec::new()
        }
    }
    fn delta(&mut self, text: &str, _tokens: u32) -> Vec<Value> {
        if self.chat {
            vec![json!({"is_finished": false, "event_type": "text-generation", "text": text})]
        } else {
            vec![json!({"text": text, "is_finished": false})]
        }
    }
    fn finish(&mut self, stop: &StopReason, usage: Usage) -> Vec<Value> {
        let meta = json!({"billed_units": {"input_tokens": usage.input_tokens,
                                           "output_tokens": usage.output_tokens}});
        if self.chat {
            vec![json!({"is_finished": true, "event_type": "stream-end",
                        "finish_reason": reason(stop),
                        "response": {"finish_reason": reason(stop), "meta": meta}})]
        } else {
            vec![json!({"is_finished": true, "finish_reason": reason(stop),
                        "response": {"generations": [{"finish_reason": reason(stop)}]}})]
        }
    }
}

pub(crate) fn response(text: &str, stop: &StopReason) -> Value {
    json!({"generations": [{"finish_reason": reason(stop), "id": "0", "text": text, "index": 0}],
           "id": "0", "prompt": ""})
}

pub(crate) fn chat_response(text: &str, stop: &StopReason) -> Value {
    json!({"response_id": "0", "text": text, "generation_id": "0", "chat_history": [],
           "finish_reason": reason(stop)})
}

pub(crate) fn decode_chunk(chunk: &Value) -> ChunkInfo {
    let event = str_field(chunk, "event_type");
    let text = match event {
        None | Some("text-generation") => str_field(chunk, "text"),
        _ => None,
    };
    ChunkInfo {
        text: text.filter(|s| !s.is_empty()).map(str::to_string),
        stop_reason: str_field(chunk, "finish_reason").map(str::to_string),
        recognised: chunk.get("is_finished").is_some() || chunk.get("text").is_some(),
        ..Default::default()
    }
}

pub(crate) fn decode_response(body: &Value) -> ChunkInfo {
    if let Some(first) = body
        .get("generations")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return ChunkInfo {
            text: str_field(first, "text").map(str::to_string),
            stop_reason: str_field(first, "finish_reason").map(str::to_string),
            recognised: true,
            ..Default::default()
        };
    }
    decode_chunk(body)
}
