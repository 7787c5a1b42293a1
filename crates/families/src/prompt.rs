//! The family-neutral view of a request: who said what, and how to sample.

/// A speaker in a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

/// One turn of a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub role: Role,
    pub text: String,
}

/// A request's prompt as a chat: an optional system text and the turns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prompt {
    pub system: Option<String>,
    pub turns: Vec<Turn>,
}

impl Prompt {
    pub fn user(text: impl Into<String>) -> Prompt {
        Prompt {
            system: None,
            turns: vec![Turn {
                role: Role::User,
                text: text.into(),
            }],
        }
    }

    /// All the text of the prompt, in order (for engines that do not chat, and for counting).
    pub fn flatten(&self) -> String {
        let mut out = String::new();
        if let Some(s) = &self.system {
            out.push_str(s);
            out.push('\n');
        }
        for t in &self.turns {
            out.push_str(&t.text);
            out.push('\n');
        }
        out
    }
}

/// Sampling settings, as far as the request gave them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sampling {
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<u32>,
    pub stop_sequences: Vec<String>,
}
