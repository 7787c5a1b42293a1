//! Converse-shaped messages (Converse requests, and Nova's `messages-v1` InvokeModel bodies,
//! which use the same content blocks) → the family-neutral [`Prompt`].

use serde_json::Value;

use crate::converse as cv;
use crate::{
    Document, Media, Part, Prompt, Reasoning, Role, Source, ToolCall, ToolChoice, ToolResult,
    ToolSpec, Turn, ValidationError,
};

/// Reads Converse `system`, `messages` and `toolConfig` into a prompt. Blocks that cannot
/// change the answer (`cachePoint`) are dropped; blocks no engine can read (`audio`) are an
/// error naming them.
pub fn prompt_from_converse(
    system: &[cv::SystemContentBlock],
    messages: &[cv::Message],
    tool_config: Option<&cv::ToolConfiguration>,
) -> Result<Prompt, ValidationError> {
    let mut prompt = Prompt::default();
    let mut sys = String::new();
    for block in system {
        match block {
            cv::SystemContentBlock::Text(t) => push_line(&mut sys, t),
            cv::SystemContentBlock::GuardContent(g) => {
                if let cv::GuardrailConverseContentBlock::Text(t) = g {
                    push_line(&mut sys, &t.text);
                }
            }
            cv::SystemContentBlock::CachePoint(_) => {}
        }
    }
    if !sys.is_empty() {
        prompt.system = Some(sys);
    }
    for (i, m) in messages.iter().enumerate() {
        let role = match m.role {
            cv::ConversationRole::User => Role::User,
            cv::ConversationRole::Assistant => Role::Assistant,
        };
        let mut content = Vec::with_capacity(m.content.len());
        for (j, block) in m.content.iter().enumerate() {
            if let Some(part) = part(block, &format!("messages.{i}.content.{j}"))? {
                content.push(part);
            }
        }
        prompt.turns.push(Turn { role, content });
    }
    if let Some(tc) = tool_config {
        for tool in &tc.tools {
            match tool {
                cv::Tool::ToolSpec(spec) => {
                    let cv::ToolInputSchema::Json(schema) = &spec.input_schema;
                    prompt.tools.push(ToolSpec {
                        name: spec.name.clone(),
                        description: spec.description.clone(),
                        input_schema: schema.clone(),
                    });
                }
                cv::Tool::SystemTool(t) => {
                    return Err(ValidationError::new(format!(
                        "toolConfig.tools: the system tool `{}` is not available here",
                        t.name
                    )))
                }
                cv::Tool::CachePoint(_) => {}
            }
        }
        prompt.tool_choice = match &tc.tool_choice {
            None | Some(cv::ToolChoice::Auto(_)) => ToolChoice::Auto,
            Some(cv::ToolChoice::Any(_)) => ToolChoice::Any,
            Some(cv::ToolChoice::Tool(t)) => ToolChoice::Tool(t.name.clone()),
        };
    }
    Ok(prompt)
}

fn push_line(out: &mut String, text: &str) {
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(text);
}

fn media_source(s: &cv::MediaSource) -> Source {
    match s {
        cv::MediaSource::Bytes(b) => Source::Bytes(b.0.clone()),
        cv::MediaSource::S3Location(l) => Source::S3(l.uri.clone()),
    }
}

fn image(i: &cv::ImageBlock) -> Part {
    Part::Image(Media {
        format: i.format.as_str().to_string(),
        source: media_source(&i.source),
    })
}

fn video(v: &cv::VideoBlock) -> Part {
    let format = serde_json::to_value(v.format)
        .ok()
        .and_then(|f| f.as_str().map(str::to_string))
        .unwrap_or_default();
    Part::Video(Media {
        format,
        source: media_source(&v.source),
    })
}

fn document(d: &cv::DocumentBlock) -> Part {
    let source = match &d.source {
        cv::DocumentSource::Bytes(b) => Source::Bytes(b.0.clone()),
        cv::DocumentSource::S3Location(l) => Source::S3(l.uri.clone()),
        cv::DocumentSource::Text(t) => Source::Text(t.clone()),
        cv::DocumentSource::Content(c) => Source::Text(
            c.iter()
                .map(|t| t.text.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    };
    Part::Document(Document {
        name: d.name.clone(),
        format: d.format.map(|f| f.as_str().to_string()),
        source,
    })
}

fn part(block: &cv::ContentBlock, at: &str) -> Result<Option<Part>, ValidationError> {
    Ok(Some(match block {
        cv::ContentBlock::Text(t) => Part::Text(t.clone()),
        cv::ContentBlock::Image(i) => image(i),
        cv::ContentBlock::Document(d) => document(d),
        cv::ContentBlock::Video(v) => video(v),
        cv::ContentBlock::ToolUse(t) => Part::ToolUse(ToolCall {
            id: t.tool_use_id.clone(),
            name: t.name.clone(),
            input: t.input.clone(),
        }),
        cv::ContentBlock::ToolResult(r) => {
            let mut content = Vec::with_capacity(r.content.len());
            for c in &r.content {
                content.push(match c {
                    cv::ToolResultContentBlock::Json(v) => Part::Json(v.clone()),
                    cv::ToolResultContentBlock::Text(t) => Part::Text(t.clone()),
                    cv::ToolResultContentBlock::Image(i) => image(i),
                    cv::ToolResultContentBlock::Document(d) => document(d),
                    cv::ToolResultContentBlock::Video(v) => video(v),
                    cv::ToolResultContentBlock::SearchResult(s) => Part::Text(search_text(s)),
                });
            }
            Part::ToolResult(ToolResult {
                tool_use_id: r.tool_use_id.clone(),
                is_error: r.status == Some(cv::ToolResultStatus::Error),
                content,
            })
        }
        cv::ContentBlock::GuardContent(cv::GuardrailConverseContentBlock::Text(t)) => {
            Part::Text(t.text.clone())
        }
        cv::ContentBlock::GuardContent(cv::GuardrailConverseContentBlock::Image(i)) => {
            let cv::GuardrailImageSource::Bytes(b) = &i.source;
            Part::Image(Media {
                format: i.format.clone(),
                source: Source::Bytes(b.0.clone()),
            })
        }
        cv::ContentBlock::CachePoint(_) => return Ok(None),
        cv::ContentBlock::ReasoningContent(r) => Part::Reasoning(match r {
            cv::ReasoningContentBlock::ReasoningText(t) => Reasoning::Text {
                text: t.text.clone(),
                signature: t.signature.clone(),
            },
            cv::ReasoningContentBlock::RedactedContent(b) => Reasoning::Redacted(b.0.clone()),
        }),
        cv::ContentBlock::CitationsContent(c) => Part::Text(
            c.content
                .iter()
                .flatten()
                .map(|t| t.text.as_str())
                .collect(),
        ),
        cv::ContentBlock::SearchResult(s) => Part::Text(search_text(s)),
        cv::ContentBlock::Audio(_) => {
            return Err(ValidationError::new(format!(
                "{at}.audio: audio content is not supported by this model"
            )))
        }
    }))
}

fn search_text(s: &cv::SearchResultBlock) -> String {
    let mut out = format!("{} ({})\n", s.title, s.source);
    for c in &s.content {
        out.push_str(&c.text);
        out.push('\n');
    }
    out
}

/// Reads a JSON array of Converse messages (Nova bodies), naming the first bad member.
pub(crate) fn messages_from_json(messages: &Value) -> Result<Vec<cv::Message>, ValidationError> {
    let list = messages.as_array().ok_or_else(|| {
        ValidationError::new(
            "Malformed input request: #/messages: expected type: JSONArray, please reformat your input and try again.",
        )
    })?;
    list.iter()
        .enumerate()
        .map(|(i, m)| {
            serde_json::from_value::<cv::Message>(m.clone()).map_err(|e| {
                ValidationError::new(format!(
                    "Malformed input request: #/messages/{i}: {e}, please reformat your input and try again."
                ))
            })
        })
        .collect()
}
