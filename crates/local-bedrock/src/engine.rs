//! The engine trait: what writes the words behind the local endpoint.

use bedrock_families::{Prompt, Sampling, StopReason, Usage};
use tokio::sync::mpsc;

/// One model call, in family-neutral terms.
#[derive(Debug, Clone)]
pub struct GenerationRequest {
    pub model_id: String,
    pub prompt: Prompt,
    pub sampling: Sampling,
}

/// What an engine reports while it generates, in order: `Started`, any number of `Text`, then
/// `Finished` or `Failed`.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    Started { input_tokens: u32 },
    Text { text: String, tokens: u32 },
    Finished { stop: StopReason, usage: Usage },
    Failed { message: String },
}

/// Why an engine refused a request before generating.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// The request cannot be served as given (prompt too long, bad parameter).
    #[error("{0}")]
    Validation(String),
    /// Too many requests are queued; the caller should retry.
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Internal(String),
}

/// Writes the text of an answer. `generate` returns at once with a receiver; the engine produces
/// events on its own task or thread, sends each the moment it exists, and stops producing as
/// soon as the receiver is dropped (the client left).
pub trait Engine: Send + Sync + 'static {
    /// A one-line description for the startup banner.
    fn describe(&self) -> String;
    fn generate(
        &self,
        request: GenerationRequest,
    ) -> Result<mpsc::Receiver<EngineEvent>, EngineError>;
}
