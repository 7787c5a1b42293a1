//! Chat templates: a prompt becomes the token layout the model was tuned on.
//!
//! GGUF files carry a Jinja template; rather than run Jinja, the template string is inspected
//! to pick one of the few layouts llama-architecture chat models use, and that layout is
//! written by hand. User text is always a [`Fragment::Text`], so a prompt that spells out
//! `<|im_end|>` gets the characters, not the control token.

use bedrock_families::{Prompt, Role};

use crate::tokenizer::{Fragment, Tokenizer};
use crate::tools::{turn_text, ToolFormat};

/// What a generation adds to the chat beyond the prompt's own turns.
#[derive(Debug, Clone)]
pub struct Extras {
    /// How tool calls and results in the turns are written.
    pub format: ToolFormat,
    /// Appended to the system prompt (tool list, JSON schema of the answer).
    pub system: Option<String>,
    /// The start of the assistant's answer, written for it (a forced tool call's opener).
    pub answer_prefix: Option<String>,
}

impl Default for Extras {
    fn default() -> Extras {
        Extras {
            format: ToolFormat::SmolLm2,
            system: None,
            answer_prefix: None,
        }
    }
}

fn join_system(base: Option<&str>, extra: Option<&str>) -> Option<String> {
    match (base, extra) {
        (Some(b), Some(e)) => Some(format!("{b}\n\n{e}")),
        (Some(b), None) => Some(b.to_string()),
        (None, Some(e)) => Some(e.to_string()),
        (None, None) => None,
    }
}

/// The chat layouts this crate can write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatTemplate {
    /// `<|im_start|>role\n…<|im_end|>\n` (SmolLM2, Qwen, many fine-tunes). Some templates add
    /// a system prompt of their own when the chat has none.
    ChatMl { default_system: Option<String> },
    /// `<|start_header_id|>role<|end_header_id|>\n\n…<|eot_id|>` (Llama 3.x).
    Llama3,
    /// `<|user|>\n…</s>\n` (Zephyr, TinyLlama chat).
    Zephyr,
    /// `[INST] … [/INST]` (Llama 2 chat, Mistral instruct).
    Llama2,
    /// `User: …\n\nAssistant:` for files without a recognisable template.
    Plain,
}

impl ChatTemplate {
    /// Picks the layout from the file's `tokenizer.chat_template` and vocabulary.
    pub fn detect(template: Option<&str>, tok: &Tokenizer) -> ChatTemplate {
        let t = template.unwrap_or("");
        if t.contains("<|im_start|>") || (t.is_empty() && tok.id("<|im_start|>").is_some()) {
            ChatTemplate::ChatMl {
                default_system: chatml_default_system(t),
            }
        } else if t.contains("<|start_header_id|>")
            || (t.is_empty() && tok.id("<|start_header_id|>").is_some())
        {
            ChatTemplate::Llama3
        } else if t.contains("<|user|>") && t.contains("<|assistant|>") {
            ChatTemplate::Zephyr
        } else if t.contains("[INST]") {
            ChatTemplate::Llama2
        } else {
            ChatTemplate::Plain
        }
    }

    /// Renders the chat, ending where the assistant's next words go. A chat whose last turn
    /// is the assistant's is continued rather than closed (Bedrock's "prefill").
    pub fn render(&self, prompt: &Prompt, tok: &Tokenizer) -> Vec<Fragment> {
        self.render_with(prompt, tok, &Extras::default())
    }

    /// [`ChatTemplate::render`] with tool instructions, tool calls and results, and the start
    /// of the answer.
    pub fn render_with(&self, prompt: &Prompt, tok: &Tokenizer, x: &Extras) -> Vec<Fragment> {
        let mut r = Renderer {
            tok,
            out: Vec::new(),
        };
        let continues = matches!(prompt.turns.last(), Some(t) if t.role == Role::Assistant);
        let n = prompt.turns.len();
        let own_system = prompt.system.as_deref().filter(|s| !s.is_empty());
        let system_owned = join_system(own_system, x.system.as_deref());
        let system = system_owned.as_deref();
        let text = |t: &bedrock_families::Turn| turn_text(t, x.format);
        let eos = tok
            .eos
            .and_then(|e| tok.special_text(e))
            .unwrap_or("</s>")
            .to_string();
        match self {
            ChatTemplate::ChatMl { default_system } => {
                let with_default = join_system(
                    own_system.or(default_system.as_deref()),
                    x.system.as_deref(),
                );
                if let Some(s) = with_default.as_deref() {
                    r.trusted("<|im_start|>system\n");
                    r.user(s);
                    r.trusted("<|im_end|>\n");
                }
                for (i, t) in prompt.turns.iter().enumerate() {
                    r.trusted(&format!("<|im_start|>{}\n", role(t.role)));
                    r.user(&text(t));
                    if !(continues && i + 1 == n) {
                        r.trusted("<|im_end|>\n");
                    }
                }
                if !continues {
                    r.trusted("<|im_start|>assistant\n");
                }
            }
            ChatTemplate::Llama3 => {
                if let Some(s) = system {
                    r.trusted("<|start_header_id|>system<|end_header_id|>\n\n");
                    r.user(s.trim());
                    r.trusted("<|eot_id|>");
                }
                for (i, t) in prompt.turns.iter().enumerate() {
                    r.trusted(&format!(
                        "<|start_header_id|>{}<|end_header_id|>\n\n",
                        role(t.role)
                    ));
                    if continues && i + 1 == n {
                        r.user(text(t).trim_start());
                    } else {
                        r.user(text(t).trim());
                        r.trusted("<|eot_id|>");
                    }
                }
                if !continues {
                    r.trusted("<|start_header_id|>assistant<|end_header_id|>\n\n");
                }
            }
            ChatTemplate::Zephyr => {
                if let Some(s) = system {
                    r.trusted("<|system|>\n");
                    r.user(s);
                    r.trusted(&format!("{eos}\n"));
                }
                for (i, t) in prompt.turns.iter().enumerate() {
                    r.trusted(&format!("<|{}|>\n", role(t.role)));
                    r.user(&text(t));
                    if !(continues && i + 1 == n) {
                        r.trusted(&format!("{eos}\n"));
                    }
                }
                if !continues {
                    r.trusted("<|assistant|>\n");
                }
            }
            ChatTemplate::Llama2 => {
                let bos = tok.bos;
                let mut first = true;
                let mut pending_system = system;
                for (i, t) in prompt.turns.iter().enumerate() {
                    match t.role {
                        Role::User => {
                            if !first {
                                if let Some(b) = bos {
                                    r.out.push(Fragment::Special(b));
                                }
                            }
                            r.trusted("[INST] ");
                            if let Some(s) = pending_system.take() {
                                r.trusted("<<SYS>>\n");
                                r.user(s);
                                r.trusted("\n<</SYS>>\n\n");
                            }
                            r.user(text(t).trim());
                            r.trusted(" [/INST]");
                        }
                        Role::Assistant => {
                            r.trusted(" ");
                            r.user(text(t).trim());
                            if !(continues && i + 1 == n) {
                                r.trusted(&format!(" {eos}"));
                            }
                        }
                    }
                    first = false;
                }
            }
            ChatTemplate::Plain => {
                if let Some(s) = system {
                    r.user(s);
                    r.trusted("\n\n");
                }
                for (i, t) in prompt.turns.iter().enumerate() {
                    r.trusted(match t.role {
                        Role::User => "User: ",
                        Role::Assistant => "Assistant: ",
                    });
                    r.user(&text(t));
                    if !(continues && i + 1 == n) {
                        r.trusted("\n\n");
                    }
                }
                if !continues {
                    r.trusted("Assistant:");
                }
            }
        }
        if let Some(p) = &x.answer_prefix {
            r.trusted(p);
        }
        r.out
    }
}

fn role(r: Role) -> &'static str {
    match r {
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

struct Renderer<'a> {
    tok: &'a Tokenizer,
    out: Vec<Fragment>,
}

impl Renderer<'_> {
    /// Template text: special tokens spelled out in it become those tokens.
    fn trusted(&mut self, s: &str) {
        self.out.extend(self.tok.split_specials(s));
    }

    /// Text from the request: always text.
    fn user(&mut self, s: &str) {
        self.out.push(Fragment::Text(s.to_string()));
    }
}

/// SmolLM2-style templates insert a system prompt when the first message is not a system one.
fn chatml_default_system(t: &str) -> Option<String> {
    if !t.contains("!= 'system'") && !t.contains("!= \"system\"") {
        return None;
    }
    let start = t
        .find("<|im_start|>system\\n")
        .map(|i| (i, "\\n".len()))
        .or_else(|| t.find("<|im_start|>system\n").map(|i| (i, 1)))?;
    let body = &t[start.0 + "<|im_start|>system".len() + start.1..];
    let end = body.find("<|im_end|>")?;
    let s = &body[..end];
    // Only a literal string, not a Jinja expression.
    if s.contains("{{") || s.contains("{%") || s.contains('\'') && s.contains('+') {
        return None;
    }
    Some(s.replace("\\n", "\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smollm2_default_system_prompt_is_found() {
        let t = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
        assert_eq!(
            chatml_default_system(t).as_deref(),
            Some("You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        );
        let qwenish = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}";
        assert_eq!(chatml_default_system(qwenish), None);
    }
}
