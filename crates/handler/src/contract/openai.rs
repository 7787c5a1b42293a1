//! `POST /v1/chat/completions`: OpenAI's chat-completions request, mapped onto a Converse
//! request, plus what the response needs to know (streaming, usage, the model name).

use bedrock_families::converse::{
    ContentBlock, ConversationRole, ConverseRequest, InferenceConfiguration, Message,
    SystemContentBlock,
};
use serde::Deserialize;

use super::parse_json;
use crate::error::AppError;

/// The subset of OpenAI's chat-completions request that maps onto Converse.
#[derive(Debug, Deserialize)]
pub struct ChatCompletionRequest {
    pub model: Option<String>,
    pub messages: Vec<OpenAiMessage>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    pub max_tokens: Option<i32>,
    pub max_completion_tokens: Option<i32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub stop: Option<Stop>,
    pub n: Option<u32>,
    // Other OpenAI fields (user, seed, …) are accepted and ignored, as compatible servers do.
}

#[derive(Debug, Deserialize)]
pub struct OpenAiMessage {
    pub role: String,
    pub content: Option<Content>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
pub struct Part {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// A chat-completions request, read: the Converse request to send and how to answer.
pub(crate) struct ChatCall {
    pub converse: ConverseRequest,
    pub stream: bool,
    pub include_usage: bool,
    /// The tool whose input is the answer, when `response_format` asked for JSON.
    pub json_tool: Option<String>,
}

fn role(name: &str) -> Result<ConversationRole, AppError> {
    match name {
        "user" => Ok(ConversationRole::User),
        "assistant" => Ok(ConversationRole::Assistant),
        other => Err(AppError::bad_request(format!(
            "unknown role `{other}`: use system, developer, user or assistant"
        ))),
    }
}

/// Reads a chat-completions body into a Converse request.
pub(crate) fn parse(body: &[u8]) -> Result<ChatCall, AppError> {
    let req: ChatCompletionRequest = parse_json(body)?;
    if req.n.unwrap_or(1) != 1 {
        return Err(AppError::bad_request("only n=1 is supported"));
    }
    let mut system = Vec::new();
    let mut messages = Vec::new();
    for m in req.messages {
        let text = match m.content {
            None => String::new(),
            Some(Content::Text(t)) => t,
            Some(Content::Parts(parts)) => {
                let mut out = String::new();
                for p in parts {
                    if p.kind != "text" {
                        return Err(AppError::bad_request(format!(
                            "content part type `{}` is not supported; send text",
                            p.kind
                        )));
                    }
                    out.push_str(p.text.as_deref().unwrap_or(""));
                }
                out
            }
        };
        match m.role.as_str() {
            "system" | "developer" => system.push(SystemContentBlock::Text(text)),
            r => messages.push(Message {
                role: role(r)?,
                content: vec![ContentBlock::Text(text)],
            }),
        }
    }
    if messages.is_empty() {
        return Err(AppError::bad_request("messages must not be empty"));
    }
    let max_tokens = req.max_completion_tokens.or(req.max_tokens);
    if let Some(m) = max_tokens {
        if m < 1 {
            return Err(AppError::bad_request("max_tokens must be at least 1"));
        }
    }
    let stop_sequences = match req.stop {
        None => None,
        Some(Stop::One(s)) => Some(vec![s]),
        Some(Stop::Many(v)) => Some(v),
    };
    let converse = ConverseRequest {
        model_id: req.model,
        messages: Some(messages),
        system: (!system.is_empty()).then_some(system),
        inference_config: Some(InferenceConfiguration {
            max_tokens,
            temperature: req.temperature,
            top_p: req.top_p,
            stop_sequences,
        }),
        ..ConverseRequest::default()
    };
    Ok(ChatCall {
        converse,
        stream: req.stream,
        include_usage: req.stream_options.as_ref().is_some_and(|o| o.include_usage),
        json_tool: None,
    })
}
