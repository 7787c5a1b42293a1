//! Turns an engine's events into the frames of one streaming response, in the family's chunk
//! shapes (InvokeModelWithResponseStream) or as Converse events (ConverseStream), applying any
//! injected stream fault. Each frame is yielded the moment its event exists.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bedrock_families::{
    ChunkEncoder, InvocationMetrics, StopReason, Usage, INVOCATION_METRICS_KEY,
};
use bytes::Bytes;
use futures::Stream;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::activity::{GenerationGuard, Outcome};
use crate::engine::EngineEvent;
use crate::error::BedrockError;
use crate::faults::{Fault, FaultKind};
use crate::wire;

/// How long a `stall` fault holds the connection open before giving up.
const STALL_LIMIT: Duration = Duration::from_secs(600);

/// Which response shape the frames take.
pub(crate) enum Shape {
    Invoke(Box<dyn ChunkEncoder>),
    Converse,
}

type FrameStream = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

struct State {
    rx: mpsc::Receiver<EngineEvent>,
    shape: Shape,
    fault: Option<Fault>,
    guard: GenerationGuard,
    started: Instant,
    first_byte: Option<Duration>,
    pending: VecDeque<Bytes>,
    sent: usize,
    seq: usize,
    done: bool,
    /// The rest of a `truncate` fault's body: half a frame, then an error.
    truncated: Option<FrameStream>,
}

impl State {
    fn push_chunks(&mut self, chunks: Vec<Value>) {
        for c in chunks {
            self.seq += 1;
            self.pending.push_back(wire::chunk_frame(&c, self.seq));
        }
    }

    fn push_converse(&mut self, event_type: &str, members: Value) {
        self.seq += 1;
        self.pending
            .push_back(wire::converse_event_frame(event_type, members, self.seq));
    }

    fn on_event(&mut self, event: Option<EngineEvent>) {
        match event {
            Some(EngineEvent::Started { input_tokens }) => match &mut self.shape {
                Shape::Invoke(enc) => {
                    let chunks = enc.start(input_tokens);
                    self.push_chunks(chunks);
                }
                Shape::Converse => self.push_converse("messageStart", json!({"role": "assistant"})),
            },
            Some(EngineEvent::Text { text, tokens }) => {
                self.first_byte
                    .get_or_insert_with(|| self.started.elapsed());
                match &mut self.shape {
                    Shape::Invoke(enc) => {
                        let chunks = enc.delta(&text, tokens);
                        self.push_chunks(chunks);
                    }
                    Shape::Converse => self.push_converse(
                        "contentBlockDelta",
                        json!({"contentBlockIndex": 0, "delta": {"text": text}}),
                    ),
                }
            }
            Some(EngineEvent::Finished { stop, usage }) => {
                self.finish(&stop, usage);
                self.guard.finish(Outcome::Completed);
                self.done = true;
            }
            Some(EngineEvent::Failed { message }) => {
                self.pending
                    .push_back(wire::exception_frame(&BedrockError::ModelStreamError(
                        message,
                    )));
                self.guard.finish(Outcome::Failed);
                self.done = true;
            }
            None => {
                self.pending
                    .push_back(wire::exception_frame(&BedrockError::Internal(
                        "The model stopped without finishing its answer".into(),
                    )));
                self.guard.finish(Outcome::Failed);
                self.done = true;
            }
        }
    }

    fn finish(&mut self, stop: &StopReason, usage: Usage) {
        let total = self.started.elapsed();
        let latency_ms = u64::try_from(total.as_millis()).unwrap_or(u64::MAX);
        let first_ms = self
            .first_byte
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(latency_ms);
        match &mut self.shape {
            Shape::Invoke(enc) => {
                let mut chunks = enc.finish(stop, usage);
                let metrics = InvocationMetrics {
                    input_token_count: u64::from(usage.input_tokens),
                    output_token_count: u64::from(usage.output_tokens),
                    invocation_latency: latency_ms,
                    first_byte_latency: first_ms,
                };
                if chunks.is_empty() {
                    chunks.push(json!({}));
                }
                if let Some(Value::Object(last)) = chunks.last_mut() {
                    last.insert(
                        INVOCATION_METRICS_KEY.into(),
                        serde_json::to_value(metrics).unwrap_or(Value::Null),
                    );
                }
                self.push_chunks(chunks);
            }
            Shape::Converse => {
                self.push_converse("contentBlockStop", json!({"contentBlockIndex": 0}));
                self.push_converse("messageStop", json!({"stopReason": stop.converse_name()}));
                self.push_converse(
                    "metadata",
                    json!({
                        "usage": {"inputTokens": usage.input_tokens, "outputTokens": usage.output_tokens,
                                  "totalTokens": usage.input_tokens + usage.output_tokens},
                        "metrics": {"latencyMs": latency_ms}
                    }),
                );
            }
        }
    }
}

/// The response body of a streaming call.
pub(crate) fn frames(
    rx: mpsc::Receiver<EngineEvent>,
    shape: Shape,
    fault: Option<Fault>,
    guard: GenerationGuard,
    started: Instant,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let state = State {
        rx,
        shape,
        fault,
        guard,
        started,
        first_byte: None,
        pending: VecDeque::new(),
        sent: 0,
        seq: 0,
        done: false,
        truncated: None,
    };
    futures::stream::unfold(Some(state), |state| async move {
        let mut s = state?;
        if s.truncated.is_some() {
            return next_truncated(s).await;
        }
        loop {
            if let Some(frame) = s.pending.pop_front() {
                if let Some(fault) = s.fault.clone() {
                    if s.sent >= fault.frames_before() {
                        return apply_fault(s, fault, frame).await;
                    }
                }
                s.sent += 1;
                return Some((Ok(frame), Some(s)));
            }
            if s.done {
                // A stream fault that found no frame to act on still acts, at the end.
                if let Some(fault) = s.fault.take() {
                    if fault.kind == FaultKind::Midstream {
                        s.guard.finish(Outcome::Failed);
                        let err = midstream_error(&s.shape, &fault);
                        return Some((Ok(wire::exception_frame(&err)), None));
                    }
                }
                return None;
            }
            let event = s.rx.recv().await;
            s.on_event(event);
        }
    })
}

use futures::StreamExt as _;

/// The exception a `midstream` fault sends on this operation: ConverseStream has no
/// modelTimeoutException member, so there it is a modelStreamErrorException.
fn midstream_error(shape: &Shape, fault: &Fault) -> BedrockError {
    match (shape, fault.midstream_error()) {
        (Shape::Converse, BedrockError::ModelTimeout(m)) => BedrockError::ModelStreamError(m),
        (_, e) => e,
    }
}

async fn next_truncated(mut s: State) -> Option<(Result<Bytes, std::io::Error>, Option<State>)> {
    use futures::StreamExt;
    let item = s.truncated.as_mut()?.next().await?;
    Some((item, Some(s)))
}

async fn apply_fault(
    mut s: State,
    fault: Fault,
    frame: Bytes,
) -> Option<(Result<Bytes, std::io::Error>, Option<State>)> {
    s.guard.finish(Outcome::Failed);
    match fault.kind {
        FaultKind::Midstream => {
            let err = midstream_error(&s.shape, &fault);
            Some((Ok(wire::exception_frame(&err)), None))
        }
        FaultKind::BadCrc => Some((Ok(wire::corrupt_crc(&frame)), None)),
        FaultKind::Truncate => {
            // Half a frame, then a broken connection (no clean end of body), as when a
            // network path dies mid-stream.
            let half = frame.slice(..frame.len() / 2);
            // The pause lets the server flush what was written before the connection breaks.
            let rest = futures::stream::iter([Ok(half)]).chain(futures::stream::once(async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err(std::io::Error::other(
                    "stream truncated (injected by local-bedrock)",
                ))
            }));
            s.pending.clear();
            s.done = true;
            s.fault = None;
            s.truncated = Some(Box::pin(rest));
            next_truncated(s).await
        }
        FaultKind::Stall => {
            // Hold the connection open with nothing more to say. Dropping the receiver first
            // tells the engine to stop.
            drop(s.rx);
            tokio::time::sleep(STALL_LIMIT).await;
            None
        }
        _ => None,
    }
}
