//! Amazon Titan text: `inputText` + `textGenerationConfig` → `outputText`.

use serde_json::{json, Value};

use crate::json::{opt_f32, opt_strings, opt_u32, required_str, str_field, u64_at};
use crate::{ChunkEncoder, ChunkInfo, Prompt, Sampling, StopReason, Usage, ValidationError};

pub(crate) fn parse_request(body: &Value) -> Result<(Prompt, Sampling), ValidationError> {
    let text = required_str(body, "inputText")?;
    let cfg = ["textGenerationConfig"];
    if let Some(c) = body.get(cfg[0]) {
        if !c.is_object() && !c.is_null() {
            return Err(ValidationError::new(
                "Malformed input request: #/textGenerationConfig: expected type: JSONObject, please reformat your input and try again.",
            ));
        }
    }
    Ok((
        Prompt::user(text),
        Sampling {
            max_tokens: opt_u32(body, &[cfg[0], "maxTokenCount"])?,
            temperature: opt_f32(body, &[cfg[0], "temperature"])?,
            top_p: opt_f32(body, &[cfg[0], "topP"])?,
            top_k: None,
            stop_sequences: opt_strings(body, &[cfg[0], "stopSequences"])?,
        },
    ))
}

fn reason(stop: &StopReason) -> &'static str {
    match stop {
        StopReason::EndTurn => "FINISH",
        StopReason::MaxTokens => "LENGTH",
        StopReason::StopSequence(_) => "STOP_CRITERIA_MET",
        StopReason::ToolUse => "FINISH",
    }
}

/// Titan chunks: `outputText`, `index`, `totalOutputTextTokenCount`, `completionReason`,
/// `inputTextTokenCount`. In the real streams (tests/fixtures/invoke-stream/titan-*.json) the
/// last text chunk itself carries the completion reason and the token counts, so each chunk
/// is held back until the next piece (or the end) says whether it is the last.
#[derive(Default)]
pub(crate) struct Encoder {
    input_tokens: u32,
    output_tokens: u32,
    /// The text of the chunk held back, and whether it is the first.
    held: Option<(String, bool)>,
    sent_first: bool,
}

impl Encoder {
    fn chunk(&self, text: String, first: bool, last: Option<(&StopReason, u32)>) -> Value {
        json!({"outputText": text, "index": 0,
               "totalOutputTextTokenCount": last.map(|(_, n)| Value::from(n)).unwrap_or(Value::Null),
               "completionReason": last.map(|(s, _)| Value::from(reason(s))).unwrap_or(Value::Null),
               "inputTextTokenCount": if first { Value::from(self.input_tokens) } else { Value::Null }})
    }
}

impl ChunkEncoder for Encoder {
    fn start(&mut self, input_tokens: u32) -> Vec<Value> {
        self.input_tokens = input_tokens;
        Vec::new()
    }
    fn delta(&mut self, text: &str, tokens: u32) -> Vec<Value> {
        self.output_tokens += tokens;
        let first = !std::mem::replace(&mut self.sent_first, true);
        match self.held.replace((text.to_string(), first)) {
            Some((held, was_first)) => vec![self.chunk(held, was_first, None)],
            None => Vec::new(),
        }
    }
    fn finish(&mut self, stop: &StopReason, usage: Usage) -> Vec<Value> {
        let (text, first) = self
            .held
            .take()
            .unwrap_or_else(|| (String::new(), !self.sent_first));
        self.input_tokens = if first {
            usage.input_tokens
        } else {
            self.input_tokens
        };
        vec![self.chunk(text, first, Some((stop, usage.output_tokens)))]
    }
}

pub(crate) fn response(text: &str, stop: &StopReason, usage: Usage) -> Value {
    json!({"inputTextTokenCount": usage.input_tokens,
           "results": [{"tokenCount": usage.output_tokens, "outputText": text,
                        "completionReason": reason(stop)}]})
}

pub(crate) fn decode_chunk(chunk: &Value) -> ChunkInfo {
    ChunkInfo {
        text: str_field(chunk, "outputText")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        stop_reason: str_field(chunk, "completionReason").map(str::to_string),
        input_tokens: u64_at(chunk, &["inputTextTokenCount"]),
        output_tokens: u64_at(chunk, &["totalOutputTextTokenCount"]),
        metrics: None,
        recognised: chunk.get("outputText").is_some(),
        ..Default::default()
    }
}

pub(crate) fn decode_response(body: &Value) -> ChunkInfo {
    let first = body
        .get("results")
        .and_then(Value::as_array)
        .and_then(|a| a.first());
    ChunkInfo {
        text: first
            .and_then(|r| str_field(r, "outputText"))
            .map(str::to_string),
        stop_reason: first
            .and_then(|r| str_field(r, "completionReason"))
            .map(str::to_string),
        input_tokens: u64_at(body, &["inputTextTokenCount"]),
        output_tokens: first.and_then(|r| u64_at(r, &["tokenCount"])),
        metrics: None,
        recognised: first.is_some(),
        ..Default::default()
    }
}
