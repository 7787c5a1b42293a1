//! Engines that plug into the local endpoint.

#[cfg(feature = "embedded-model")]
pub mod model;
pub mod openai;
pub mod schema_value;
pub mod scripted;

use bedrock_families::{Part, Prompt};

/// What a text-only engine cannot do with a prompt, named as the request named it: tools, tool
/// history, images, documents, video, reasoning, structured output. `None` when the prompt is
/// text (reasoning kept in history is dropped: it never changes a text-only model's answer).
pub fn text_only_refusal(prompt: &Prompt) -> Option<&'static str> {
    if !prompt.tools.is_empty() {
        return Some("tool use (toolConfig)");
    }
    if prompt.thinking.is_some() {
        return Some("reasoning (thinking / reasoning fields)");
    }
    if prompt.output_schema.is_some() {
        return Some("structured output (outputConfig)");
    }
    for part in prompt.turns.iter().flat_map(|t| t.content.iter()) {
        let what = match part {
            Part::Image(_) => "image content",
            Part::Document(_) => "document content",
            Part::Video(_) => "video content",
            Part::ToolUse(_) | Part::ToolResult(_) => "toolUse/toolResult content",
            Part::Json(_) => "JSON content",
            Part::Text(_) | Part::Reasoning(_) => continue,
        };
        return Some(what);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use bedrock_families::{Media, Role, Source, Thinking, ToolSpec, Turn};

    #[test]
    fn text_only_engines_name_what_they_cannot_do() {
        assert_eq!(text_only_refusal(&Prompt::user("hi")), None);
        let mut p = Prompt::user("hi");
        p.turns.push(Turn {
            role: Role::Assistant,
            content: vec![Part::Reasoning(bedrock_families::Reasoning::Redacted(
                vec![1],
            ))],
        });
        assert_eq!(
            text_only_refusal(&p),
            None,
            "reasoning in history is dropped"
        );
        p.turns[0].content.push(Part::Image(Media {
            format: "png".into(),
            source: Source::Bytes(vec![1]),
        }));
        assert_eq!(text_only_refusal(&p), Some("image content"));
        p.thinking = Some(Thinking {
            budget_tokens: 2048,
        });
        assert_eq!(
            text_only_refusal(&p),
            Some("reasoning (thinking / reasoning fields)")
        );
        p.tools.push(ToolSpec {
            name: "t".into(),
            description: None,
            input_schema: serde_json::json!({}),
        });
        assert_eq!(text_only_refusal(&p), Some("tool use (toolConfig)"));
    }
}
