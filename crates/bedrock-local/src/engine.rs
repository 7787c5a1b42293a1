//! The engine trait: what writes the answer behind the local endpoint — text, reasoning and
//! tool calls.

use bedrock_families::{Prompt, Sampling, StopReason, Usage};
use tokio::sync::mpsc;

/// One model call, in family-neutral terms.
#[derive(Debug, Clone)]
pub struct GenerationRequest {
    pub model_id: String,
    pub prompt: Prompt,
    pub sampling: Sampling,
    /// Where the request put prompt-cache checkpoints (`cachePoint` blocks), in prompt order.
    pub cache_points: Vec<CachePoint>,
}

impl GenerationRequest {
    pub fn new(model_id: impl Into<String>, prompt: Prompt, sampling: Sampling) -> Self {
        GenerationRequest {
            model_id: model_id.into(),
            prompt,
            sampling,
            cache_points: Vec::new(),
        }
    }
}

/// A prompt-cache checkpoint: everything of the prompt before this point is the cached prefix.
/// The prefix order is Bedrock's: tool definitions, then the system prompt, then the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CachePoint {
    /// After the first `count` tool definitions.
    Tools { count: usize },
    /// After the first `chars` bytes of the system prompt (all tools included).
    System { chars: usize },
    /// After the first `parts` parts of turn `turn` (tools and system included).
    Message { turn: usize, parts: usize },
}

/// What an engine reports while it generates, in order: `Started`, then the content, then
/// `Finished` or `Failed`.
///
/// Content comes as blocks, in the order the answer has them: a run of `Reasoning` pieces
/// (optionally closed by one `ReasoningSignature`) is one reasoning block; a run of `Text` is
/// one text block; `ToolUse` opens a tool-use block whose input follows as `ToolInput`
/// fragments (they concatenate to the input's JSON). A change of kind, or a new `ToolUse`,
/// starts the next block; the stream layer numbers them.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    Started {
        input_tokens: u32,
    },
    Text {
        text: String,
        tokens: u32,
    },
    Reasoning {
        text: String,
        tokens: u32,
    },
    /// Closes the current reasoning block with its signature (models that sign reasoning).
    ReasoningSignature {
        signature: String,
    },
    /// Opens a tool-use block.
    ToolUse {
        id: String,
        name: String,
    },
    /// A fragment of the current tool-use block's input JSON.
    ToolInput {
        json: String,
        tokens: u32,
    },
    /// `usage` carries the cache read/write token counts; `input_tokens` there counts only the
    /// uncached prompt tokens (as Bedrock's Converse usage does).
    Finished {
        stop: StopReason,
        usage: Usage,
    },
    Failed {
        message: String,
    },
}

/// Why an engine refused a request before generating.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// The request cannot be served as given (prompt too long, bad parameter, a kind of content
    /// this engine cannot produce).
    #[error("{0}")]
    Validation(String),
    /// Too many requests are queued; the caller should retry.
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Internal(String),
}

/// Writes an answer. `generate` returns at once with a receiver; the engine produces events on
/// its own task or thread, sends each the moment it exists, and stops producing as soon as the
/// receiver is dropped (the client left).
pub trait Engine: Send + Sync + 'static {
    /// A one-line description for the startup banner.
    fn describe(&self) -> String;
    fn generate(
        &self,
        request: GenerationRequest,
    ) -> Result<mpsc::Receiver<EngineEvent>, EngineError>;
}
