//! Bedrock's model catalog, as data: which model ids exist, their family, and what each model
//! supports through Converse and InvokeModel (tool use and tool choice, images, documents,
//! video, reasoning, prompt caching, streaming). The local endpoint validates requests against
//! it as Bedrock does; the handler uses it to list models.
//!
//! Sources (each entry names the ones it rests on):
//! - [FEATURES] Bedrock user guide, "Supported models and model features" (Converse,
//!   ConverseStream, system prompts, document chat, vision, tool use, streaming tool use):
//!   <https://docs.aws.amazon.com/bedrock/latest/userguide/conversation-inference-supported-models-features.html>
//! - [TOOLCHOICE] API reference `ToolChoice` ("`tool` … only supported by Anthropic Claude 3 and
//!   Amazon Nova models"; older revisions: "ToolChoice is only supported by Anthropic Claude 3
//!   models and by Mistral AI Mistral Large"):
//!   <https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolChoice.html>, the
//!   Nova user guide "Choosing a tool" (tool, any, auto):
//!   <https://docs.aws.amazon.com/nova/latest/userguide/tool-choice.html>, and langchain-aws
//!   `ChatBedrockConverse.supports_tool_choice_values` (langchain-ai/langchain-aws
//!   libs/aws/langchain_aws/chat_models/bedrock_converse.py @0434c7f9, Aug 2026: Claude →
//!   auto/any/tool; Llama 3.1/3.2 11b+90b/3.3/4 → auto; Mistral Large → auto/any; Nova →
//!   auto/any/tool; DeepSeek V3 → any; DeepSeek R1 → none).
//! - [STREAMTOOLS] the same langchain-aws file, `_get_streaming_support`: tools stream with
//!   Jamba 1.5, Nova, Claude 3+, gpt-oss, Command R, DeepSeek V3, Qwen3; stream only without
//!   tools for Titan, Claude 2/instant, Command, all Llama, all Mistral, DeepSeek R1, Palmyra.
//!   Confirmed for Llama 4 by the real error in tests/fixtures/errors/tool-use-not-supported-in-streaming.json.
//! - [THINKING] Bedrock user guide "Extended thinking" (claude-messages-extended-thinking.html)
//!   and Anthropic's list of extended-thinking models (3.7 Sonnet, Sonnet 4/4.5, Haiku 4.5,
//!   Opus 4/4.1); `budget_tokens` ≥ 1024 and < `max_tokens` (real errors in
//!   tests/fixtures/errors/thinking-*.json). gpt-oss `reasoning_effort` and Nova 2
//!   `reasoningConfig.maxReasoningEffort` (low/medium/high): langchain-aws
//!   `reasoning_effort_additional_fields` (libs/aws/langchain_aws/utils.py @0434c7f9).
//! - [CACHING] Bedrock user guide "Prompt caching" (prompt-caching.html): Claude 3.7 Sonnet,
//!   3.5 Haiku, Claude 4.x, Nova Micro/Lite/Pro/Premier.
//! - [LIMITS] API reference `Message`: "up to 20 images. Each image's size, height, and width
//!   must be no more than 3.75 MB, 8000 px, and 8000 px … up to five documents. Each
//!   document's size must be no more than 4.5 MB … images and documents only if the role is
//!   user" (API_runtime_Message.html).
//! - [IDS] model ids, modalities and output limits of newer models: the models.dev catalog
//!   (anomalyco/models.dev providers/amazon-bedrock/models/*.toml @f3fc6922, Jul 2026); models it
//!   dropped on 2026-03-13 or 2026-05-09 are marked legacy here.
//! - [PROFILE] on-demand refusals: tests/fixtures/errors/on-demand-throughput-not-supported.json
//!   (Claude 3.5 Sonnet v2, 3.7 Sonnet) and the user guide's "Supported foundation models" note
//!   that marked models are reachable only through cross-region inference (Claude 3.7+ and 4.x,
//!   Llama 3.2/3.3/4, Nova Premier, DeepSeek R1, Pixtral Large, Writer Palmyra).

use crate::model_id::{ModelId, ModelIdKind};
use crate::Family;

/// How a model reasons before it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reasoning {
    /// No reasoning support: a `thinking`/reasoning request field is an error.
    None,
    /// Reasoning on request with a token budget (Anthropic `thinking: {type: enabled,
    /// budget_tokens}`; the budget is at least [`MIN_THINKING_BUDGET`] and below `max_tokens`,
    /// `temperature` may only be 1, `top_p` must be unset, and `tool_choice` may not force a
    /// tool while thinking: see tests/fixtures/errors/thinking-*.json).
    Budget,
    /// Reasoning on request with an effort level `low`/`medium`/`high` (gpt-oss
    /// `reasoning_effort`, Nova 2 `reasoningConfig.maxReasoningEffort`).
    Effort,
    /// Always reasons (DeepSeek R1): reasoning content comes back without being asked for.
    Always,
}

/// Anthropic's smallest `thinking.budget_tokens` ("Input should be greater than or equal to
/// 1024", tests/fixtures/errors/thinking-budget-below-1024.json).
pub const MIN_THINKING_BUDGET: u32 = 1024;

/// What a model supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Usable through Converse / ConverseStream.
    pub converse: bool,
    /// Answers through the streaming operations at all.
    pub streaming: bool,
    /// Tool use (toolConfig) through Converse.
    pub tool_use: bool,
    /// Tool use through ConverseStream as well ("This model doesn't support tool use in
    /// streaming mode." otherwise).
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
    /// Most images one request may carry (0 when the model takes none) [LIMITS].
    pub max_images: u16,
    /// Largest image, in bytes of the decoded image [LIMITS]: 3.75 MB.
    pub max_image_bytes: u32,
    /// Largest image side, in pixels [LIMITS].
    pub max_image_px: u32,
    /// Most documents one request may carry (0 when the model takes none) [LIMITS].
    pub max_documents: u16,
    /// Largest document, in bytes [LIMITS]: 4.5 MB.
    pub max_document_bytes: u32,
    /// The largest `maxTokens` the model accepts, when known (0: unknown) [IDS].
    pub max_output_tokens: u32,
}

/// 3.75 MB, as the API reference's `Message` states it (3.75 × 1024 × 1024).
const IMAGE_BYTES: u32 = 3_932_160;
/// 4.5 MB (4.5 × 1024 × 1024).
const DOCUMENT_BYTES: u32 = 4_718_592;

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
        max_images: 0,
        max_image_bytes: IMAGE_BYTES,
        max_image_px: 8000,
        max_documents: 0,
        max_document_bytes: DOCUMENT_BYTES,
        max_output_tokens: 0,
    };

    /// [`Capabilities::TEXT`] plus document chat.
    pub const TEXT_DOCS: Capabilities = Capabilities {
        documents: true,
        max_documents: 5,
        ..Capabilities::TEXT
    };

    /// Claude 3 and later [FEATURES] [TOOLCHOICE] [STREAMTOOLS]: vision, documents, tools
    /// with every tool choice, streamed.
    const CLAUDE: Capabilities = Capabilities {
        tool_use: true,
        tool_use_streaming: true,
        tool_choice_any: true,
        tool_choice_tool: true,
        images: true,
        max_images: 20,
        ..Capabilities::TEXT_DOCS
    };

    /// Claude 3.7 and 4.x: [`Capabilities::CLAUDE`] with extended thinking [THINKING] and
    /// prompt caching [CACHING].
    const CLAUDE_THINKING: Capabilities = Capabilities {
        reasoning: Reasoning::Budget,
        prompt_caching: true,
        ..Capabilities::CLAUDE
    };

    /// Nova Lite / Pro / Premier [FEATURES] [TOOLCHOICE] [CACHING]: vision, video, documents,
    /// tools with every tool choice, streamed.
    const NOVA_MULTIMODAL: Capabilities = Capabilities {
        tool_use: true,
        tool_use_streaming: true,
        tool_choice_any: true,
        tool_choice_tool: true,
        images: true,
        max_images: 20,
        video: true,
        prompt_caching: true,
        ..Capabilities::TEXT_DOCS
    };

    /// Tools chosen automatically only, not while streaming (Llama 3.1+, Mistral)
    /// [FEATURES] [TOOLCHOICE] [STREAMTOOLS].
    const TOOLS_AUTO_NO_STREAM: Capabilities = Capabilities {
        tool_use: true,
        ..Capabilities::TEXT_DOCS
    };

    /// Tools with automatic choice, streamed (Command R, Jamba 1.5) [FEATURES].
    const TOOLS_AUTO: Capabilities = Capabilities {
        tool_use: true,
        tool_use_streaming: true,
        ..Capabilities::TEXT_DOCS
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

const fn model(id: &'static str, family: Family, capabilities: Capabilities) -> ModelInfo {
    ModelInfo {
        id,
        family,
        capabilities,
        legacy: false,
        profile_only: false,
    }
}

const fn legacy(id: &'static str, family: Family, capabilities: Capabilities) -> ModelInfo {
    ModelInfo {
        legacy: true,
        ..model(id, family, capabilities)
    }
}

const fn profile(id: &'static str, family: Family, capabilities: Capabilities) -> ModelInfo {
    ModelInfo {
        profile_only: true,
        ..model(id, family, capabilities)
    }
}

const fn legacy_profile(id: &'static str, family: Family, caps: Capabilities) -> ModelInfo {
    ModelInfo {
        legacy: true,
        profile_only: true,
        ..model(id, family, caps)
    }
}

const fn out(caps: Capabilities, max_output_tokens: u32) -> Capabilities {
    Capabilities {
        max_output_tokens,
        ..caps
    }
}

use Family::{
    AnthropicMessages as AM, AnthropicText as AT, CohereChat, Llama, Mistral, MistralChat, Nova,
    OpenAiChat, OpenAiText, Titan,
};

/// Every model the local endpoint knows.
pub static MODELS: &[ModelInfo] = &[
    // --- Anthropic -------------------------------------------------------------------------
    // Claude 2.x / Instant [FEATURES] "Anthropic Claude 2.x and earlier": Converse, system
    // prompts, document chat; no vision, no tools. Legacy (retired from models.dev 2026-03-13).
    legacy(
        "anthropic.claude-v2",
        AT,
        out(Capabilities::TEXT_DOCS, 4096),
    ),
    legacy(
        "anthropic.claude-v2:1",
        AT,
        out(Capabilities::TEXT_DOCS, 4096),
    ),
    legacy(
        "anthropic.claude-instant-v1",
        AT,
        out(Capabilities::TEXT_DOCS, 4096),
    ),
    // Claude 3 [FEATURES] "Anthropic Claude 3 models": everything but reasoning.
    model(
        "anthropic.claude-3-haiku-20240307-v1:0",
        AM,
        out(Capabilities::CLAUDE, 4096),
    ),
    legacy(
        "anthropic.claude-3-sonnet-20240229-v1:0",
        AM,
        out(Capabilities::CLAUDE, 4096),
    ),
    legacy(
        "anthropic.claude-3-opus-20240229-v1:0",
        AM,
        out(Capabilities::CLAUDE, 4096),
    ),
    // Claude 3.5 [FEATURES]: 3.5 Haiku has no vision; it caches prompts [CACHING].
    legacy(
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        AM,
        out(Capabilities::CLAUDE, 8192),
    ),
    // Refused on demand ([PROFILE]: the on-demand-throughput fixture names this id).
    legacy_profile(
        "anthropic.claude-3-5-sonnet-20241022-v2:0",
        AM,
        out(Capabilities::CLAUDE, 8192),
    ),
    model(
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        AM,
        Capabilities {
            images: false,
            max_images: 0,
            prompt_caching: true,
            max_output_tokens: 8192,
            ..Capabilities::CLAUDE
        },
    ),
    // Claude 3.7 and 4.x: extended thinking [THINKING], caching [CACHING], profile only
    // [PROFILE]; output limits [IDS].
    profile(
        "anthropic.claude-3-7-sonnet-20250219-v1:0",
        AM,
        out(Capabilities::CLAUDE_THINKING, 64_000),
    ),
    profile(
        "anthropic.claude-sonnet-4-20250514-v1:0",
        AM,
        out(Capabilities::CLAUDE_THINKING, 64_000),
    ),
    profile(
        "anthropic.claude-opus-4-20250514-v1:0",
        AM,
        out(Capabilities::CLAUDE_THINKING, 32_000),
    ),
    profile(
        "anthropic.claude-opus-4-1-20250805-v1:0",
        AM,
        out(Capabilities::CLAUDE_THINKING, 32_000),
    ),
    profile(
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        AM,
        out(Capabilities::CLAUDE_THINKING, 64_000),
    ),
    profile(
        "anthropic.claude-haiku-4-5-20251001-v1:0",
        AM,
        out(Capabilities::CLAUDE_THINKING, 64_000),
    ),
    profile(
        "anthropic.claude-opus-4-5-20251101-v1:0",
        AM,
        out(Capabilities::CLAUDE_THINKING, 64_000),
    ),
    // Claude 4.6 ids have no date [IDS] (budget_tokens still accepted there).
    profile(
        "anthropic.claude-opus-4-6-v1",
        AM,
        out(Capabilities::CLAUDE_THINKING, 128_000),
    ),
    profile(
        "anthropic.claude-sonnet-4-6",
        AM,
        out(Capabilities::CLAUDE_THINKING, 64_000),
    ),
    // --- Amazon Nova ------------------------------------------------------------------------
    // Nova Micro [FEATURES]: text only (no document chat, no vision); tools [TOOLCHOICE].
    model(
        "amazon.nova-micro-v1:0",
        Nova,
        Capabilities {
            documents: false,
            max_documents: 0,
            images: false,
            max_images: 0,
            video: false,
            ..Capabilities::NOVA_MULTIMODAL
        },
    ),
    model("amazon.nova-lite-v1:0", Nova, Capabilities::NOVA_MULTIMODAL),
    model("amazon.nova-pro-v1:0", Nova, Capabilities::NOVA_MULTIMODAL),
    profile(
        "amazon.nova-premier-v1:0",
        Nova,
        Capabilities::NOVA_MULTIMODAL,
    ),
    // Nova 2 Lite: reasoningConfig with an effort level [THINKING]; image and video input [IDS].
    model(
        "amazon.nova-2-lite-v1:0",
        Nova,
        Capabilities {
            reasoning: Reasoning::Effort,
            ..Capabilities::NOVA_MULTIMODAL
        },
    ),
    // --- Amazon Titan Text [FEATURES] "Amazon Titan models": no system prompts, document chat
    // except Premier, no vision, no tools. ------------------------------------------------
    legacy(
        "amazon.titan-text-express-v1",
        Titan,
        Capabilities {
            system: false,
            max_output_tokens: 8192,
            ..Capabilities::TEXT_DOCS
        },
    ),
    legacy(
        "amazon.titan-text-lite-v1",
        Titan,
        Capabilities {
            system: false,
            max_output_tokens: 4096,
            ..Capabilities::TEXT_DOCS
        },
    ),
    legacy(
        "amazon.titan-text-premier-v1:0",
        Titan,
        Capabilities {
            system: false,
            max_output_tokens: 3072,
            ..Capabilities::TEXT
        },
    ),
    // The first Titan text id (the real stream in tests/fixtures/invoke-stream/titan-text-tg1-large.json).
    legacy(
        "amazon.titan-tg1-large",
        Titan,
        Capabilities {
            system: false,
            ..Capabilities::TEXT_DOCS
        },
    ),
    // --- Meta Llama [FEATURES]: Llama 2 and 3 no tools; 3.1 tools not streamed; 3.2 1b/3b no
    // tools, 11b/90b vision + tools; auto tool choice only [TOOLCHOICE]. `max_gen_len` at most
    // 2048 (Bedrock's Meta Llama parameters page) for Llama 2 and 3.x. ----------------------
    legacy(
        "meta.llama2-13b-chat-v1",
        Llama,
        out(Capabilities::TEXT_DOCS, 2048),
    ),
    legacy(
        "meta.llama2-70b-chat-v1",
        Llama,
        out(Capabilities::TEXT_DOCS, 2048),
    ),
    legacy(
        "meta.llama3-8b-instruct-v1:0",
        Llama,
        out(Capabilities::TEXT_DOCS, 2048),
    ),
    legacy(
        "meta.llama3-70b-instruct-v1:0",
        Llama,
        out(Capabilities::TEXT_DOCS, 2048),
    ),
    model(
        "meta.llama3-1-8b-instruct-v1:0",
        Llama,
        out(Capabilities::TOOLS_AUTO_NO_STREAM, 2048),
    ),
    model(
        "meta.llama3-1-70b-instruct-v1:0",
        Llama,
        out(Capabilities::TOOLS_AUTO_NO_STREAM, 2048),
    ),
    legacy(
        "meta.llama3-1-405b-instruct-v1:0",
        Llama,
        out(Capabilities::TOOLS_AUTO_NO_STREAM, 4096),
    ),
    legacy_profile(
        "meta.llama3-2-1b-instruct-v1:0",
        Llama,
        out(Capabilities::TEXT_DOCS, 2048),
    ),
    legacy_profile(
        "meta.llama3-2-3b-instruct-v1:0",
        Llama,
        out(Capabilities::TEXT_DOCS, 2048),
    ),
    legacy_profile(
        "meta.llama3-2-11b-instruct-v1:0",
        Llama,
        Capabilities {
            images: true,
            max_images: 20,
            max_output_tokens: 2048,
            ..Capabilities::TOOLS_AUTO_NO_STREAM
        },
    ),
    legacy_profile(
        "meta.llama3-2-90b-instruct-v1:0",
        Llama,
        Capabilities {
            images: true,
            max_images: 20,
            max_output_tokens: 2048,
            ..Capabilities::TOOLS_AUTO_NO_STREAM
        },
    ),
    profile(
        "meta.llama3-3-70b-instruct-v1:0",
        Llama,
        out(Capabilities::TOOLS_AUTO_NO_STREAM, 2048),
    ),
    // Llama 4: vision [IDS]; "doesn't support tool use in streaming mode" (real error).
    profile(
        "meta.llama4-scout-17b-instruct-v1:0",
        Llama,
        Capabilities {
            images: true,
            max_images: 20,
            ..Capabilities::TOOLS_AUTO_NO_STREAM
        },
    ),
    profile(
        "meta.llama4-maverick-17b-instruct-v1:0",
        Llama,
        Capabilities {
            images: true,
            max_images: 20,
            ..Capabilities::TOOLS_AUTO_NO_STREAM
        },
    ),
    // --- Mistral [FEATURES]: "Mistral AI Instruct" (7B, Mixtral) no system prompts, no tools;
    // Mistral Large / Large 2 / Small tools (not streamed), tool choice any [TOOLCHOICE];
    // Pixtral Large vision [IDS]. --------------------------------------------------------------
    legacy(
        "mistral.mistral-7b-instruct-v0:2",
        Mistral,
        Capabilities {
            system: false,
            max_output_tokens: 8192,
            ..Capabilities::TEXT_DOCS
        },
    ),
    legacy(
        "mistral.mixtral-8x7b-instruct-v0:1",
        Mistral,
        Capabilities {
            system: false,
            max_output_tokens: 4096,
            ..Capabilities::TEXT_DOCS
        },
    ),
    legacy(
        "mistral.mistral-large-2402-v1:0",
        Mistral,
        Capabilities {
            tool_choice_any: true,
            max_output_tokens: 8192,
            ..Capabilities::TOOLS_AUTO_NO_STREAM
        },
    ),
    legacy(
        "mistral.mistral-small-2402-v1:0",
        Mistral,
        out(Capabilities::TOOLS_AUTO_NO_STREAM, 8192),
    ),
    model(
        "mistral.mistral-large-2407-v1:0",
        MistralChat,
        Capabilities {
            tool_choice_any: true,
            max_output_tokens: 8192,
            ..Capabilities::TOOLS_AUTO_NO_STREAM
        },
    ),
    profile(
        "mistral.pixtral-large-2502-v1:0",
        MistralChat,
        Capabilities {
            tool_choice_any: true,
            images: true,
            max_images: 20,
            max_output_tokens: 8192,
            ..Capabilities::TOOLS_AUTO_NO_STREAM
        },
    ),
    // --- Cohere [FEATURES]: Command / Light "Limited. No chat support", no system prompts;
    // Command R / R+ tools, streamed. Legacy (retired from models.dev 2026-03-13). -------------
    legacy(
        "cohere.command-text-v14",
        Family::Cohere,
        Capabilities {
            system: false,
            max_output_tokens: 4096,
            ..Capabilities::TEXT_DOCS
        },
    ),
    legacy(
        "cohere.command-light-text-v14",
        Family::Cohere,
        Capabilities {
            system: false,
            max_output_tokens: 4096,
            ..Capabilities::TEXT
        },
    ),
    legacy(
        "cohere.command-r-v1:0",
        CohereChat,
        out(Capabilities::TOOLS_AUTO, 4096),
    ),
    legacy(
        "cohere.command-r-plus-v1:0",
        CohereChat,
        out(Capabilities::TOOLS_AUTO, 4096),
    ),
    // --- AI21 [FEATURES]: Jamba-Instruct text only; Jamba 1.5 documents and streamed tools. -
    legacy(
        "ai21.jamba-instruct-v1:0",
        OpenAiChat,
        out(Capabilities::TEXT, 4096),
    ),
    legacy(
        "ai21.jamba-1-5-mini-v1:0",
        OpenAiChat,
        out(Capabilities::TOOLS_AUTO, 4096),
    ),
    legacy(
        "ai21.jamba-1-5-large-v1:0",
        OpenAiChat,
        out(Capabilities::TOOLS_AUTO, 4096),
    ),
    // --- DeepSeek: R1 always reasons, no tool use (tests/fixtures/errors/tool-use-not-supported.json;
    // real Converse answer converse/deepseek-r1-text-then-reasoning.json), profile only;
    // V3 tools streamed, tool choice `any` only [TOOLCHOICE] [STREAMTOOLS]. --------------------
    profile(
        "deepseek.r1-v1:0",
        OpenAiText,
        Capabilities {
            reasoning: Reasoning::Always,
            max_output_tokens: 32_768,
            ..Capabilities::TEXT_DOCS
        },
    ),
    model(
        "deepseek.v3-v1:0",
        OpenAiChat,
        Capabilities {
            tool_choice_any: true,
            max_output_tokens: 81_920,
            ..Capabilities::TOOLS_AUTO
        },
    ),
    // --- OpenAI gpt-oss: tools streamed [STREAMTOOLS], reasoning_effort [THINKING] (real
    // Converse answer converse/gpt-oss-120b-reasoning-no-signature.json), output 16384 [IDS].
    model(
        "openai.gpt-oss-20b-1:0",
        OpenAiChat,
        Capabilities {
            reasoning: Reasoning::Effort,
            max_output_tokens: 16_384,
            ..Capabilities::TOOLS_AUTO
        },
    ),
    model(
        "openai.gpt-oss-120b-1:0",
        OpenAiChat,
        Capabilities {
            reasoning: Reasoning::Effort,
            max_output_tokens: 16_384,
            ..Capabilities::TOOLS_AUTO
        },
    ),
    // --- Qwen3: tools streamed [STREAMTOOLS]; text only [IDS]. Qwen3 32B's reasoning is
    // listed without any request option [IDS]: not modelled (reasoning None). -----------------
    model(
        "qwen.qwen3-32b-v1:0",
        OpenAiChat,
        out(Capabilities::TOOLS_AUTO, 16_384),
    ),
    model(
        "qwen.qwen3-235b-a22b-2507-v1:0",
        OpenAiChat,
        out(Capabilities::TOOLS_AUTO, 131_072),
    ),
    model(
        "qwen.qwen3-coder-30b-a3b-v1:0",
        OpenAiChat,
        out(Capabilities::TOOLS_AUTO, 131_072),
    ),
    model(
        "qwen.qwen3-coder-480b-a35b-v1:0",
        OpenAiChat,
        out(Capabilities::TOOLS_AUTO, 65_536),
    ),
    // --- Writer Palmyra: tools, not streamed [STREAMTOOLS]; profile only [PROFILE]. ----------
    profile(
        "writer.palmyra-x4-v1:0",
        OpenAiChat,
        out(Capabilities::TOOLS_AUTO_NO_STREAM, 8192),
    ),
    profile(
        "writer.palmyra-x5-v1:0",
        OpenAiChat,
        out(Capabilities::TOOLS_AUTO_NO_STREAM, 8192),
    ),
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

impl ModelInfo {
    /// Whether a call with this identifier is refused for lack of an inference profile:
    /// the model is profile-only and the identifier names the base model itself.
    pub fn needs_profile(&self, model_id: &str) -> bool {
        self.profile_only && ModelId::parse(model_id).kind == ModelIdKind::FoundationModel
    }
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

    #[test]
    fn entries_are_unique_and_consistent() {
        for (i, m) in MODELS.iter().enumerate() {
            assert!(
                MODELS[i + 1..].iter().all(|o| o.id != m.id),
                "{} twice",
                m.id
            );
            let c = m.capabilities;
            assert!(!c.tool_use_streaming || c.tool_use, "{}", m.id);
            assert!(
                !(c.tool_choice_any || c.tool_choice_tool) || c.tool_use,
                "{}",
                m.id
            );
            assert_eq!(c.images, c.max_images > 0, "{}", m.id);
            assert_eq!(c.documents, c.max_documents > 0, "{}", m.id);
        }
    }

    #[test]
    fn what_the_real_errors_say() {
        // tests/fixtures/errors/on-demand-throughput-not-supported.json
        let v2 = lookup("anthropic.claude-3-5-sonnet-20241022-v2:0").unwrap();
        assert!(v2.needs_profile("anthropic.claude-3-5-sonnet-20241022-v2:0"));
        assert!(!v2.needs_profile("us.anthropic.claude-3-5-sonnet-20241022-v2:0"));
        // tool-use-not-supported-in-streaming.json (Llama 4), tool-use-not-supported.json (R1).
        let l4 = lookup("us.meta.llama4-scout-17b-instruct-v1:0").unwrap();
        assert!(l4.capabilities.tool_use && !l4.capabilities.tool_use_streaming);
        assert!(!lookup("us.deepseek.r1-v1:0").unwrap().capabilities.tool_use);
        // The seed's model stays known, and legacy.
        let seed = lookup("anthropic.claude-v2").unwrap();
        assert!(seed.legacy && seed.family == Family::AnthropicText);
        // Titan takes no system prompt; Nova Micro no images.
        assert!(
            !lookup("amazon.titan-text-express-v1")
                .unwrap()
                .capabilities
                .system
        );
        assert!(
            !lookup("amazon.nova-micro-v1:0")
                .unwrap()
                .capabilities
                .images
        );
    }
}
