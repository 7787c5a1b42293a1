//! Meta Llama: `prompt` + `max_gen_len` → `generation`.

use serde_json::{json, Value};

use crate::json::{
    base64_bytes, opt_array, opt_f32, opt_u32, required_str, sniff_image, str_field, u64_at,
};
use crate::ValidationError;
use crate::{
    ChunkEncoder, ChunkInfo, Media, Part, Prompt, Role, Sampling, Source, StopReason, Turn, Usage,
};

pub(crate) fn parse_request(body: &Value) -> Result<(Prompt, Sampling), ValidationError> {
    let text = required_str(body, "prompt")?;
    let mut prompt = parse_chat_template(text);
    // Llama 3.2 vision and Llama 4 take `images: [base64, …]` beside the prompt (Bedrock's Meta
    // Llama request parameters); they join the first user turn, in order.
    let mut images = Vec::new();
    for (i, img) in opt_array(body, "images")?.into_iter().flatten().enumerate() {
        let at = format!("images.{i}");
        let data = img.as_str().ok_or_else(|| {
            ValidationError::new(format!(
                "Malformed input request: #/images/{i}: expected type: String, please reformat your input and try again."
            ))
        })?;
        let bytes = base64_bytes(data, &at)?;
        let format = sniff_image(&bytes).ok_or_else(|| {
            ValidationError::new(format!("{at}: the image is not PNG, JPEG, GIF or WebP"))
        })?;
        images.push(Part::Image(Media {
            format: format.to_string(),
            source: Source::Bytes(bytes),
        }));
    }
    if !images.is_empty() {
        match prompt.turns.iter_mut().find(|t| t.role == Role::User) {
            Some(t) => {
                images.append(&mut t.content);
                t.content = images;
            }
            None => prompt.turns.push(Turn {
                role: Role::User,
                content: images,
            }),
        }
    }
    Ok((
        prompt,
        Sampling {
            max_tokens: opt_u32(body, &["max_gen_len"])?,
            temperature: opt_f32(body, &["temperature"])?,
            top_p: opt_f32(body, &["top_p"])?,
            top_k: None,
            stop_sequences: Vec::new(),
        },
    ))
}

/// Reads Llama 3 (`<|start_header_id|>role<|end_header_id|>`) and Llama 2 (`[INST] … [/INST]`)
/// chat templates back into turns; anything else is one user turn.
pub(crate) fn parse_chat_template(prompt: &str) -> Prompt {
    const HEADER: &str = "<|start_header_id|>";
    const HEADER_END: &str = "<|end_header_id|>";
    if prompt.contains(HEADER) {
        let mut out = Prompt::default();
        for part in prompt.split(HEADER).skip(1) {
            let Some((role, text)) = part.split_once(HEADER_END) else {
                continue;
            };
            let text = text.replace("<|eot_id|>", "").trim().to_string();
            match role.trim() {
                "system" if !text.is_empty() => out.system = Some(text),
                "user" if !text.is_empty() => out.turns.push(Turn::new(Role::User, text)),
                "assistant" if !text.is_empty() => out.turns.push(Turn::new(Role::Assistant, text)),
                _ => {}
            }
        }
        if !out.turns.is_empty() {
            return out;
        }
    }
    if let Some(inst) = prompt.find("[INST]") {
        let mut out = Prompt::default();
        let mut rest = &prompt[inst..];
        while let Some(start) = rest.find("[INST]") {
            let after = &rest[start + "[INST]".len()..];
            let end = after.find("[/INST]").unwrap_or(after.len());
            let mut user = after[..end].trim().to_string();
            if let Some(sys_end) = user.find("<</SYS>>") {
                let sys = user[..sys_end].replace("<<SYS>>", "").trim().to_string();
                user = user[sys_end + "<</SYS>>".len()..].trim().to_string();
                if !sys.is_empty() {
                    out.system = Some(sys);
                }
            }
            out.turns.push(Turn::new(Role::User, user));
            rest = after.get(end + "[/INST]".len()..).unwrap_or("");
            let reply_end = rest.find("[INST]").unwrap_or(rest.len());
            let reply = rest[..reply_end].replace("</s>", "").replace("<s>", "");
            if !reply.trim().is_empty() {
                out.turns
                    .push(Turn::new(Role::Assistant, reply.trim().to_string()));
            }
            rest = &rest[reply_end..];
        }
        return out;
    }
    Prompt::user(
        prompt
            .replace("<|begin_of_text|>", "")
            .replace("<s>", "")
            .trim(),
    )
}

fn reason(stop: &StopReason) -> &'static str {
    match stop {
        StopReason::EndTurn | StopReason::StopSequence(_) => "stop",
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
    }
}

/// Llama chunks: `generation`, `prompt_token_count` (the first chunk only), a running
/// `generation_token_count`, and `stop_reason` on the last text chunk itself
/// (tests/fixtures/invoke-stream/llama-text-llama2-13b.json), so each chunk is held back until
/// the next piece (or the end) says whether it is the last.
#[derive(Default)]
pub(crate) struct Encoder {
    input_tokens: u32,
    output_tokens: u32,
    /// The chunk held back: text, whether it is the first, its running count.
    held: Option<(String, bool, u32)>,
    sent_first: bool,
}

impl Encoder {
    fn chunk(&self, (text, first, count): (String, bool, u32), stop: Option<&StopReason>) -> Value {
        json!({"generation": text,
               "prompt_token_count": if first { Value::from(self.input_tokens) } else { Value::Null },
               "generation_token_count": count,
               "stop_reason": stop.map(|s| Value::from(reason(s))).unwrap_or(Value::Null)})
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
        match self
            .held
            .replace((text.to_string(), first, self.output_tokens))
        {
            Some(held) => vec![self.chunk(held, None)],
            None => Vec::new(),
        }
    }
    fn finish(&mut self, stop: &StopReason, usage: Usage) -> Vec<Value> {
        let held = match self.held.take() {
            Some((text, first, _)) => (text, first, usage.output_tokens),
            None => {
                self.input_tokens = usage.input_tokens;
                (String::new(), !self.sent_first, usage.output_tokens)
            }
        };
        vec![self.chunk(held, Some(stop))]
    }
}

pub(crate) fn response(text: &str, stop: &StopReason, usage: Usage) -> Value {
    json!({"generation": text, "prompt_token_count": usage.input_tokens,
           "generation_token_count": usage.output_tokens, "stop_reason": reason(stop)})
}

pub(crate) fn decode_chunk(chunk: &Value) -> ChunkInfo {
    ChunkInfo {
        text: str_field(chunk, "generation")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        stop_reason: str_field(chunk, "stop_reason").map(str::to_string),
        input_tokens: u64_at(chunk, &["prompt_token_count"]),
        output_tokens: u64_at(chunk, &["generation_token_count"]),
        metrics: None,
        recognised: chunk.get("generation").is_some(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_llama3_and_llama2_templates() {
        let p = parse_chat_template("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe kind<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
        assert_eq!(p.system.as_deref(), Some("Be kind"));
        assert_eq!(p.turns, vec![Turn::new(Role::User, "Hi")]);
        let p = parse_chat_template(
            "<s>[INST] <<SYS>>\nsys\n<</SYS>>\n\nq1 [/INST] a1 </s><s>[INST] q2 [/INST]",
        );
        assert_eq!(p.system.as_deref(), Some("sys"));
        assert_eq!(p.turns.len(), 3);
        assert_eq!(p.turns[2].text(), "q2");
        assert_eq!(parse_chat_template("plain").turns[0].text(), "plain");
    }
}
