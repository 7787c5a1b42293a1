//! Bedrock's model catalog, as data: which model ids exist, their family, and what each model
//! supports through Converse and InvokeModel (tool use and tool choice, images, documents,
//! video, reasoning, prompt caching, streaming). The local endpoint validates requests against
//! it as Bedrock does; the handler uses it to list models.
//!
//! Sources: the Bedrock user guide's "Supported foundation models" and "Supported models and
//! model features" tables, the tool-use, prompt-caching and extended-thinking pages (cited
//! beside the entries).

use crate::model_id::{ModelId, ModelIdKind};
use crate::Family;

/// How a model reasons before it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reasoning {
    /// No reasoning support: a `thinking`/reasoning request field is an error.
    None,
    /// Reasoning on request with a token budget (Anthropic `thinking.budget_tokens`).
    Budget,
    /// Reasoning on request with an effort level (gpt-oss `reasoning_effort`, Nova
    /// `reasoningConfig`).
    Effort,
    /// Always reasons (DeepSeek R1): reasoning content comes back without being asked for.
    Always,
}

/// What a model supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Usable through Converse / ConverseStream.
    pub converse: bool,
    /// Answers through the streaming operations at all.
    pub streaming: bool,
    /// Tool use (toolConfig) through Converse.
    pub tool_use: bool,
    /// Tool use through ConverseStream as well.
    pub tool_use_streaming: bool,
    /// `toolChoice: any`.
    pub tool_choice_any: bool,
    /// `toolChoice: tool`.
    pub tool_choice_tool: bool,
    /// System prompts.
    pub system: bool,
    /// Image content blocks.
    pub images: bool,
    /// Document content blocks.
    pub documents: bool,
    /// Video content blocks.
    pub video: bool,
    pub reasoning: Reasoning,
    /// Prompt caching (`cachePoint` blocks).
    pub prompt_caching: bool,
}

impl Capabilities {
    /// Text chat only: Converse, streaming and system prompts, nothing else.
    pub const TEXT: Capabilities = Capabilities {
        converse: true,
        streaming: true,
        tool_use: false,
        tool_use_streaming: false,
        tool_choice_any: false,
        tool_choice_tool: false,
        system: true,
        images: false,
        documents: false,
        video: false,
        reasoning: Reasoning::None,
        prompt_caching: false,
    };
}

/// One model of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelInfo {
    /// The base model id (`anthropic.claude-3-5-haiku-20241022-v1:0`).
    pub id: &'static str,
    pub family: Family,
    pub capabilities: Capabilities,
    /// Bedrock marks the model Legacy (still callable, scheduled for end of life).
    pub legacy: bool,
    /// On-demand calls with the base id are refused: only an inference profile serves it.
    pub profile_only: bool,
}

/// Every model the local endpoint knows.
pub static MODELS: &[ModelInfo] = &[
    ModelInfo {
        id: "anthropic.claude-v2",
        family: Family::AnthropicText,
        capabilities: Capabilities {
            converse: true,
            ..Capabilities::TEXT
        },
        legacy: true,
        profile_only: false,
    },
    ModelInfo {
        id: "anthropic.claude-3-haiku-20240307-v1:0",
        family: Family::AnthropicMessages,
        capabilities: Capabilities {
            tool_use: true,
            tool_use_streaming: true,
            tool_choice_any: true,
            tool_choice_tool: true,
            images: true,
            documents: true,
            ..Capabilities::TEXT
        },
        legacy: false,
        profile_only: false,
    },
    ModelInfo {
        id: "anthropic.claude-sonnet-4-20250514-v1:0",
        family: Family::AnthropicMessages,
        capabilities: Capabilities {
            tool_use: true,
            tool_use_streaming: true,
            tool_choice_any: true,
            tool_choice_tool: true,
            images: true,
            documents: true,
            reasoning: Reasoning::Budget,
            prompt_caching: true,
            ..Capabilities::TEXT
        },
        legacy: false,
        profile_only: true,
    },
    ModelInfo {
        id: "amazon.titan-text-express-v1",
        family: Family::Titan,
        capabilities: Capabilities {
            system: false,
            ..Capabilities::TEXT
        },
        legacy: true,
        profile_only: false,
    },
];

/// The catalog entry for a model identifier (base id, inference-profile id, or an ARN of
/// either); `None` for ids the catalog does not know and for opaque ids (application inference
/// profiles, provisioned, custom and imported models).
pub fn lookup(model_id: &str) -> Option<&'static ModelInfo> {
    let id = ModelId::parse(model_id);
    if matches!(
        id.kind,
        ModelIdKind::ApplicationInferenceProfile | ModelIdKind::Opaque
    ) {
        return None;
    }
    let base = id.base()?;
    MODELS.iter().find(|m| m.id == base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_resolve_through_profiles_and_arns() {
        let m = lookup("us.anthropic.claude-sonnet-4-20250514-v1:0").unwrap();
        assert_eq!(m.family, Family::AnthropicMessages);
        assert_eq!(m.capabilities.reasoning, Reasoning::Budget);
        assert!(
            lookup("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2").is_some()
        );
        assert!(lookup("anthropic.claude-nonexistent-v9").is_none());
        assert!(lookup("../../admin").is_none());
        for m in MODELS {
            assert_eq!(Family::from_model_id(m.id), Some(m.family), "{}", m.id);
        }
    }
}
