//! The `model` engine: the embedded open model writes the words. The model is loaded once and
//! shared; generations run on dedicated threads off the async runtime, one at a time in arrival
//! order (the forward pass already uses every core), behind a bounded queue: past the bound a
//! request is refused at once (ThrottlingException) rather than left waiting unboundedly. A
//! request whose client left is skipped if still queued, and stopped within one token if running;
//! it no longer counts against the bound once its client has left.
//!
//! Tools and structured output are served by constrained decoding
//! ([`EmbeddedModel::generate_events`]): `toolChoice` `any`/`tool` make a call whose input is
//! constrained to the tool's `inputSchema` and streams as `toolUse` input fragments (stop reason
//! `tool_use`); `auto` is a constrained choice between a text answer and a call; an
//! `outputConfig.textFormat` JSON schema constrains the text answer (the OpenAI API's
//! `response_format` reaches this endpoint as a forced tool, served as a call). Tool calls and
//! results in the history are written into the prompt in the chat template's tool format. What
//! the model cannot read or do (images, video, binary documents, reasoning, schema keywords
//! outside the supported subset) is refused with a 400 naming it.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::sync::{Arc, Condvar, Mutex};

use bedrock_families::{Part, Prompt, Source, Usage};
use bedrock_local_model::{EmbeddedModel, Piece, DEFAULT_SEED};
use tokio::sync::mpsc;

use crate::engine::{Engine, EngineError, EngineEvent, GenerationRequest};

struct Job {
    request: GenerationRequest,
    tx: mpsc::Sender<EngineEvent>,
}

/// The requests waiting for a worker, in arrival order.
#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Default)]
struct QueueState {
    jobs: VecDeque<Job>,
    /// The engine was dropped: workers finish what is queued, then stop.
    closed: bool,
}

pub struct ModelEngine {
    model: Arc<EmbeddedModel>,
    queue: Arc<Queue>,
    queue_bound: usize,
}

impl ModelEngine {
    /// Starts `workers` generation threads (1 is right for a CPU model that uses every core)
    /// with room for `queue_bound` waiting requests (at least 1).
    pub fn new(model: EmbeddedModel, workers: usize, queue_bound: usize) -> std::io::Result<Self> {
        let model = Arc::new(model);
        let queue = Arc::new(Queue::default());
        for i in 0..workers.max(1) {
            let model = Arc::clone(&model);
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("model-worker-{i}"))
                .spawn(move || worker(&model, &queue))?;
        }
        Ok(ModelEngine {
            model,
            queue,
            queue_bound: queue_bound.max(1),
        })
    }
}

impl Drop for ModelEngine {
    fn drop(&mut self) {
        if let Ok(mut state) = self.queue.state.lock() {
            state.closed = true;
        }
        self.queue.ready.notify_all();
    }
}

fn worker(model: &EmbeddedModel, queue: &Queue) {
    loop {
        let job = {
            let Ok(mut state) = queue.state.lock() else {
                return;
            };
            loop {
                if let Some(job) = state.jobs.pop_front() {
                    break job;
                }
                if state.closed {
                    return;
                }
                state = match queue.ready.wait(state) {
                    Ok(s) => s,
                    Err(_) => return,
                };
            }
        };
        run(model, job);
    }
}

fn run(model: &EmbeddedModel, job: Job) {
    let Job { request, tx } = job;
    if tx.is_closed() {
        return; // The client left while the request waited.
    }
    let input_tokens = model
        .structured_prompt_tokens(&request.prompt)
        .map_or(0, |t| u32::try_from(t.len()).unwrap_or(u32::MAX));
    if tx
        .blocking_send(EngineEvent::Started { input_tokens })
        .is_err()
    {
        return;
    }
    let mut on_piece = |piece: Piece<'_>| {
        let event = match piece {
            Piece::Text(text) => EngineEvent::Text {
                text: text.to_string(),
                tokens: 1,
            },
            Piece::ToolUse { name } => EngineEvent::ToolUse {
                id: bedrock_families::new_tool_use_id(None),
                name: name.to_string(),
            },
            Piece::ToolInput(json) => EngineEvent::ToolInput {
                json: json.to_string(),
                tokens: 1,
            },
        };
        match tx.blocking_send(event) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    };
    let outcome = model.generate_events(
        &request.prompt,
        &request.sampling,
        DEFAULT_SEED,
        &mut on_piece,
    );
    let event = match outcome {
        Ok(g) if g.cancelled => return,
        Ok(g) => EngineEvent::Finished {
            stop: g.stop,
            usage: Usage {
                input_tokens: g.input_tokens,
                output_tokens: g.output_tokens,
                ..Usage::default()
            },
        },
        Err(e) => EngineEvent::Failed {
            message: format!("the embedded model failed: {e:#}"),
        },
    };
    let _ = tx.blocking_send(event);
}

/// What the embedded model cannot serve in `prompt`, named as the request names it. It reads
/// text, tool calls and tool results (text, JSON and text documents inside them), and follows
/// tools and output schemas; it does not see images or video, read binary documents, or reason.
/// Reasoning kept in history is dropped: it never changes this model's answer.
fn refusal(prompt: &Prompt) -> Option<&'static str> {
    if prompt.thinking.is_some() {
        return Some("reasoning (thinking / reasoning fields)");
    }
    for part in prompt.turns.iter().flat_map(|t| t.content.iter()) {
        match part {
            Part::Text(_) | Part::Reasoning(_) | Part::ToolUse(_) => {}
            Part::Image(_) => return Some("image content"),
            Part::Video(_) => return Some("video content"),
            Part::Document(_) => return Some("document content"),
            Part::Json(_) => return Some("JSON content outside a toolResult"),
            Part::ToolResult(r) => {
                for p in &r.content {
                    match p {
                        Part::Text(_) | Part::Json(_) => {}
                        Part::Document(d) if matches!(d.source, Source::Text(_)) => {}
                        Part::Image(_) => return Some("image content in a toolResult"),
                        Part::Video(_) => return Some("video content in a toolResult"),
                        Part::Document(_) => {
                            return Some("non-text document content in a toolResult")
                        }
                        Part::ToolUse(_) | Part::ToolResult(_) | Part::Reasoning(_) => {
                            return Some(
                                "nested toolUse/toolResult/reasoning content in a toolResult",
                            )
                        }
                    }
                }
            }
        }
    }
    None
}

impl Engine for ModelEngine {
    fn describe(&self) -> String {
        format!(
            "embedded model {} ({} threads, {} kernel, context {}, queue {})",
            self.model.name(),
            self.model.threads(),
            self.model.kernel(),
            self.model.max_context(),
            self.queue_bound
        )
    }

    fn generate(
        &self,
        request: GenerationRequest,
    ) -> Result<mpsc::Receiver<EngineEvent>, EngineError> {
        // What the model cannot read or do is refused rather than answered as if not asked.
        if let Some(what) = refusal(&request.prompt) {
            return Err(EngineError::Validation(format!(
                "The embedded model (local-bedrock --engine model) does not support {what}. Use --engine scripted for images, documents and reasoning, or remove it from the request."
            )));
        }
        // Tool and output schemas outside the subset constrained decoding follows, and a
        // toolChoice naming no tool, are refused before generating.
        let prompt_len = match self.model.structured_prompt_tokens(&request.prompt) {
            Ok(tokens) => tokens.len(),
            Err(e) => {
                return Err(EngineError::Validation(format!(
                    "The embedded model (local-bedrock --engine model) cannot follow {e:#}."
                )))
            }
        };
        if prompt_len >= self.model.max_context() {
            return Err(EngineError::Validation(format!(
                "Input is too long for requested model: {prompt_len} prompt tokens, the context holds {}.",
                self.model.max_context()
            )));
        }
        let (tx, rx) = mpsc::channel(32);
        let Ok(mut state) = self.queue.state.lock() else {
            return Err(EngineError::Internal(
                "the embedded model's workers have stopped".into(),
            ));
        };
        // A waiting request whose client left holds no place: it would only be skipped.
        state.jobs.retain(|job| !job.tx.is_closed());
        if state.jobs.len() >= self.queue_bound {
            return Err(EngineError::Busy(format!(
                "Too many requests: {} are already waiting for the embedded model.",
                self.queue_bound
            )));
        }
        state.jobs.push_back(Job { request, tx });
        drop(state);
        self.queue.ready.notify_one();
        Ok(rx)
    }
}
