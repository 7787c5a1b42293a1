//! Mistral: text completions (`prompt` → `outputs[{text, stop_reason}]`) and chat (`messages`
//! → `choices[{message, stop_reason}]`, Large 2 and Pixtral).

use serde_json::{json, Value};

use crate::json::{opt_f32, opt_strings, opt_u32, required_str};
use crate::ValidationError;
use crate::{
    llama, AnswerBlock, BlockStart, ChunkEncoder, ChunkInfo, Delta, Prompt, Sampling, StopReason,
    Usage,
};

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
    crate::openai::reason(stop)
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

/// Mistral chat chunks (Large 2, Pixtral): `choices[{index, message{role, content}, stop_reason}]`.
/// No real recording of these was found (tests/fixtures/FACTS.md §7); the shape is Bedrock's
/// Mistral chat-completion documentation. A tool call goes out whole, in one chunk, as Mistral
/// sends them (`tool_calls[{id, function{name, arguments}}]`).
#[derive(Default)]
pub(crate) struct ChatEncoder {
    tool: Option<(String, String, String)>,
}

fn chat_chunk(message: Value, stop: Value) -> Value {
    json!({"choices": [{"index": 0, "message": message, "stop_reason": stop}]})
}

impl ChatEncoder {
    fn flush_tool(&mut self) -> Vec<Value> {
        match self.tool.take() {
            Some((id, name, args)) => {
                let args = if args.is_empty() {
                    "{}".to_string()
                } else {
                    args
                };
                vec![chat_chunk(
                    json!({"role": "assistant", "content": "",
                           "tool_calls": [{"id": id, "function": {"name": name, "arguments": args}}]}),
                    Value::Null,
                )]
            }
            None => Vec::new(),
        }
    }
}

impl ChunkEncoder for ChatEncoder {
    fn start(&mut self, _input_tokens: u32) -> Vec<Value> {
        Vec::new()
    }
    fn block_start(&mut self, _index: u32, start: &BlockStart) -> Vec<Value> {
        let out = self.flush_tool();
        if let BlockStart::ToolUse { id, name } = start {
            self.tool = Some((id.clone(), name.clone(), String::new()));
        }
        out
    }
    fn delta(&mut self, text: &str, _tokens: u32) -> Vec<Value> {
        let mut out = self.flush_tool();
        out.push(chat_chunk(
            json!({"role": "assistant", "content": text}),
            Value::Null,
        ));
        out
    }
    fn block_delta(&mut self, _index: u32, delta: &Delta, tokens: u32) -> Vec<Value> {
        match delta {
            Delta::Text(t) => self.delta(t, tokens),
            Delta::ToolInput(s) => {
                if let Some((_, _, args)) = &mut self.tool {
                    args.push_str(s);
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }
    fn block_stop(&mut self, _index: u32) -> Vec<Value> {
        self.flush_tool()
    }
    fn finish(&mut self, stop: &StopReason, _usage: Usage) -> Vec<Value> {
        let mut out = self.flush_tool();
        out.push(chat_chunk(
            json!({"role": "assistant", "content": ""}),
            Value::from(reason(stop)),
        ));
        out
    }
}

pub(crate) fn text_response(text: &str, stop: &StopReason) -> Value {
    json!({"outputs": [{"text": text, "stop_reason": reason(stop)}]})
}

pub(crate) fn chat_response(blocks: &[AnswerBlock], stop: &StopReason) -> Value {
    // Mistral models carry no reasoning blocks (the catalog gives them none).
    let blocks: Vec<AnswerBlock> = blocks
        .iter()
        .filter(|b| {
            !matches!(
                b,
                AnswerBlock::Reasoning { .. } | AnswerBlock::RedactedReasoning(_)
            )
        })
        .cloned()
        .collect();
    let (content, calls) = crate::openai::message_parts(&blocks);
    let calls: Vec<Value> = calls
        .into_iter()
        .map(|mut c| {
            // Mistral's calls carry no `type`.
            if let Value::Object(m) = &mut c {
                m.remove("type");
            }
            c
        })
        .collect();
    json!({"choices": [{"index": 0,
        "message": {"role": "assistant", "content": content,
                    "tool_calls": if calls.is_empty() { Value::Null } else { Value::Array(calls) }},
        "stop_reason": reason(stop)}]})
}

/// Mistral text chunks: `outputs[{text, stop_reason}]`.
pub(crate) fn decode_text_chunk(chunk: &Value) -> ChunkInfo {
    let Some(first) = chunk
        .get("outputs")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    else {
        return ChunkInfo::default();
    };
    let mut info = ChunkInfo::recognised();
    info.push_text(
        0,
        first
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    );
    info.stop_reason = first
        .get("stop_reason")
        .and_then(Value::as_str)
        .map(str::to_string);
    info
}
