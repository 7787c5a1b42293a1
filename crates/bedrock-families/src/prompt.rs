//! The family-neutral view of a request: who said what (text, images, documents, tool calls
//! and their results, reasoning), which tools the model may call, and how to sample. Every
//! family's request parser and the Converse reader produce it; engines consume it.

use serde_json::Value;

/// A speaker in a chat. Tool results travel in user turns, as in Converse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

/// One piece of a turn, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Image(Media),
    Document(Document),
    Video(Media),
    /// A tool call the assistant made.
    ToolUse(ToolCall),
    /// The result of a tool call, sent back in a user turn.
    ToolResult(ToolResult),
    /// JSON content (inside tool results).
    Json(Value),
    /// Reasoning the assistant did before answering (kept in history for reasoning models).
    Reasoning(Reasoning),
}

/// An image or video: its declared format (`png`, `mp4`, …) and where its bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub format: String,
    pub source: Source,
}

/// Where a media or document's content is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Bytes(Vec<u8>),
    /// An `s3://` URI (Bedrock reads it; local engines cannot).
    S3(String),
    /// Plain text (documents only).
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub name: String,
    /// `pdf`, `txt`, `md`, … when declared.
    pub format: Option<String>,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub input: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    pub tool_use_id: String,
    pub is_error: bool,
    /// Text, JSON, images or documents.
    pub content: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reasoning {
    Text {
        text: String,
        signature: Option<String>,
    },
    Redacted(Vec<u8>),
}

/// One turn of a chat.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub role: Role,
    pub content: Vec<Part>,
}

impl Turn {
    /// A turn of plain text.
    pub fn new(role: Role, text: impl Into<String>) -> Turn {
        Turn {
            role,
            content: vec![Part::Text(text.into())],
        }
    }

    /// The turn's text parts, joined (what a text-only model reads).
    pub fn text(&self) -> String {
        let mut out = String::new();
        for p in &self.content {
            if let Part::Text(t) = p {
                out.push_str(t);
            }
        }
        out
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: Option<String>,
    /// The JSON schema of the tool's input.
    pub input_schema: Value,
}

/// Whether and which tool the model must call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides (the default when tools are given).
    #[default]
    Auto,
    /// The model must call some tool.
    Any,
    /// The model must call this tool.
    Tool(String),
    /// The model must not call a tool.
    None,
}

/// Extended thinking / reasoning asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thinking {
    /// Tokens the model may spend reasoning (Anthropic's `budget_tokens`; an effort level
    /// maps onto a budget).
    pub budget_tokens: u32,
}

/// A request's prompt as a chat: an optional system text, the turns, and what the model may do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prompt {
    pub system: Option<String>,
    pub turns: Vec<Turn>,
    pub tools: Vec<ToolSpec>,
    pub tool_choice: ToolChoice,
    pub thinking: Option<Thinking>,
    /// A JSON schema the answer must follow (structured output), when asked for.
    pub output_schema: Option<Value>,
}

impl Prompt {
    pub fn user(text: impl Into<String>) -> Prompt {
        Prompt {
            turns: vec![Turn::new(Role::User, text)],
            ..Prompt::default()
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
            out.push_str(&t.text());
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
