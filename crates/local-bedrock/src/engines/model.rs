//! The `model` engine: the embedded open model writes the words. The model is loaded once and
//! shared; generations run on dedicated threads off the async runtime, one at a time in arrival
//! order (the forward pass already uses every core), behind a bounded queue: past the bound a
//! request is refused at once (ThrottlingException) rather than left waiting unboundedly. A
//! request whose client left is skipped if still queued, and stopped within one token if running;
//! it no longer counts against the bound once its client has left.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::sync::{Arc, Condvar, Mutex};

use bedrock_families::Usage;
use bedrock_local_model::EmbeddedModel;
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
    let input_tokens =
        u32::try_from(model.prompt_tokens(&request.prompt).len()).unwrap_or(u32::MAX);
    if tx
        .blocking_send(EngineEvent::Started { input_tokens })
        .is_err()
    {
        return;
    }
    let mut on_text = |piece: &str| {
        let event = EngineEvent::Text {
            text: piece.to_string(),
            tokens: 1,
        };
        match tx.blocking_send(event) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    };
    let outcome = model.generate(&request.prompt, &request.sampling, &mut on_text);
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
        // The embedded model writes text only; constrained decoding (tool calls, structured
        // output) is future work. Refuse rather than answer as if the rest were not asked.
        if let Some(what) = super::text_only_refusal(&request.prompt) {
            return Err(EngineError::Validation(format!(
                "The embedded model (local-bedrock --engine model) does not support {what}. Use --engine scripted for tools, images, documents and reasoning, or remove it from the request."
            )));
        }
        let prompt_len = self.model.prompt_tokens(&request.prompt).len();
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
