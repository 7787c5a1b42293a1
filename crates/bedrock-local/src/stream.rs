//! Turns an engine's events into the frames of one streaming response, in the family's chunk
//! shapes (InvokeModelWithResponseStream) or as Converse events (ConverseStream), applying any
//! injected stream fault. Each frame is yielded the moment its event exists.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bedrock_families::{
    attach_invocation_metrics, BlockStart, ChunkEncoder, Delta, InvocationMetrics, StopReason,
    Usage,
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
    blocks: BlockCounter,
    /// `additionalModelResponseFieldPaths` (ConverseStream).
    response_paths: Vec<String>,
}

/// The kind of content block an engine event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockKind {
    Text,
    Reasoning,
    ToolUse,
}

impl BlockKind {
    /// The block an event continues or opens; `None` for events outside blocks. A `ToolUse`
    /// event always opens a new block.
    pub(crate) fn of(event: &EngineEvent) -> Option<BlockKind> {
        match event {
            EngineEvent::Text { .. } => Some(BlockKind::Text),
            EngineEvent::Reasoning { .. } | EngineEvent::ReasoningSignature { .. } => {
                Some(BlockKind::Reasoning)
            }
            EngineEvent::ToolUse { .. } | EngineEvent::ToolInput { .. } => Some(BlockKind::ToolUse),
            _ => None,
        }
    }
}

/// Numbers content blocks as Converse does: a new block when the kind changes or a tool call
/// starts, counting from 0.
#[derive(Debug, Default)]
pub(crate) struct BlockCounter {
    open: Option<(u32, BlockKind)>,
    next: u32,
}

/// What one event does to the block sequence.
pub(crate) struct BlockStep {
    /// The block to close first.
    pub close: Option<u32>,
    /// The block the event belongs to, and whether it opens it.
    pub index: u32,
    pub opens: bool,
}

impl BlockCounter {
    pub(crate) fn step(&mut self, event: &EngineEvent) -> Option<BlockStep> {
        let kind = BlockKind::of(event)?;
        let new_tool = matches!(event, EngineEvent::ToolUse { .. });
        match self.open {
            Some((index, open)) if open == kind && !new_tool => Some(BlockStep {
                close: None,
                index,
                opens: false,
            }),
            previous => {
                let index = self.next;
                self.next += 1;
                self.open = Some((index, kind));
                Some(BlockStep {
                    close: previous.map(|(i, _)| i),
                    index,
                    opens: true,
                })
            }
        }
    }

    /// Closes the open block, if any (at the end of the answer).
    pub(crate) fn finish(&mut self) -> Option<u32> {
        self.open.take().map(|(i, _)| i)
    }
}

/// `additionalModelResponseFields` for the requested JSON Pointers, read from what a native
/// response would hold: `/stop_sequence` (the matched stop sequence, or null). Paths a response
/// does not have are left out, as Bedrock leaves them out; `None` when nothing was asked or found.
pub(crate) fn response_fields(paths: &[String], stop: &StopReason) -> Option<Value> {
    let mut out = serde_json::Map::new();
    for p in paths {
        if p == "/stop_sequence" {
            let v = match stop {
                StopReason::StopSequence(s) => Value::String(s.clone()),
                _ => Value::Null,
            };
            out.insert("stop_sequence".into(), v);
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// Converse's `usage`: `inputTokens` counts the uncached prompt tokens only and `totalTokens`
/// adds the cached ones (FACTS.md §4: 11 + 264 + 1028 = 1303).
pub(crate) fn converse_usage(usage: &Usage) -> Value {
    let total = u64::from(usage.input_tokens)
        + u64::from(usage.output_tokens)
        + u64::from(usage.cache_read_input_tokens)
        + u64::from(usage.cache_write_input_tokens);
    let mut u = json!({
        "inputTokens": usage.input_tokens,
        "outputTokens": usage.output_tokens,
        "totalTokens": total,
    });
    if usage.cache_read_input_tokens > 0 || usage.cache_write_input_tokens > 0 {
        u["cacheReadInputTokens"] = json!(usage.cache_read_input_tokens);
        u["cacheWriteInputTokens"] = json!(usage.cache_write_input_tokens);
    }
    u
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

    fn close_block(&mut self, index: u32) {
        match &mut self.shape {
            Shape::Invoke(enc) => {
                let chunks = enc.block_stop(index);
                self.push_chunks(chunks);
            }
            Shape::Converse => {
                self.push_converse("contentBlockStop", json!({"contentBlockIndex": index}))
            }
        }
    }

    /// Writes one piece of content: closes the previous block and opens this one as needed,
    /// then the delta, in the operation's shape.
    fn on_content(&mut self, event: EngineEvent) {
        let Some(step) = self.blocks.step(&event) else {
            return;
        };
        self.first_byte
            .get_or_insert_with(|| self.started.elapsed());
        if let Some(i) = step.close {
            self.close_block(i);
        }
        let index = step.index;
        if step.opens {
            let start = match &event {
                EngineEvent::ToolUse { id, name } => BlockStart::ToolUse {
                    id: id.clone(),
                    name: name.clone(),
                },
                EngineEvent::Reasoning { .. } | EngineEvent::ReasoningSignature { .. } => {
                    BlockStart::Reasoning
                }
                _ => BlockStart::Text,
            };
            match &mut self.shape {
                Shape::Invoke(enc) => {
                    let chunks = enc.block_start(index, &start);
                    self.push_chunks(chunks);
                }
                Shape::Converse => {
                    // FACTS.md §5: contentBlockStart only for toolUse, and the first input
                    // fragment is "".
                    if let BlockStart::ToolUse { id, name } = &start {
                        self.push_converse(
                            "contentBlockStart",
                            json!({"contentBlockIndex": index,
                                   "start": {"toolUse": {"toolUseId": id, "name": name}}}),
                        );
                        self.push_converse(
                            "contentBlockDelta",
                            json!({"contentBlockIndex": index, "delta": {"toolUse": {"input": ""}}}),
                        );
                    }
                }
            }
        }
        let (delta, tokens) = match event {
            EngineEvent::Text { text, tokens } => (Delta::Text(text), tokens),
            EngineEvent::Reasoning { text, tokens } => (Delta::Reasoning(text), tokens),
            EngineEvent::ReasoningSignature { signature } => {
                (Delta::ReasoningSignature(signature), 0)
            }
            EngineEvent::ToolInput { json, tokens } => (Delta::ToolInput(json), tokens),
            _ => return,
        };
        match &mut self.shape {
            Shape::Invoke(enc) => {
                let chunks = enc.block_delta(index, &delta, tokens);
                self.push_chunks(chunks);
            }
            Shape::Converse => {
                let d = match delta {
                    Delta::Text(t) => json!({"text": t}),
                    Delta::Reasoning(t) => json!({"reasoningContent": {"text": t}}),
                    Delta::ReasoningSignature(sig) => {
                        // FACTS.md §5 (Claude): the reasoning text ends with an empty piece,
                        // then one signature delta.
                        self.push_converse(
                            "contentBlockDelta",
                            json!({"contentBlockIndex": index,
                                   "delta": {"reasoningContent": {"text": ""}}}),
                        );
                        json!({"reasoningContent": {"signature": sig}})
                    }
                    Delta::ToolInput(j) => json!({"toolUse": {"input": j}}),
                    Delta::RedactedReasoning(_) | Delta::Citation(_) => return,
                };
                self.push_converse(
                    "contentBlockDelta",
                    json!({"contentBlockIndex": index, "delta": d}),
                );
            }
        }
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
            Some(EngineEvent::Finished { stop, usage }) => {
                if let Some(i) = self.blocks.finish() {
                    self.close_block(i);
                }
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
            Some(content) => self.on_content(content),
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
                attach_invocation_metrics(enc.as_ref(), &mut chunks, &metrics, usage);
                self.push_chunks(chunks);
            }
            Shape::Converse => {
                let mut stop_event = json!({"stopReason": stop.converse_name()});
                if let Some(fields) = response_fields(&self.response_paths, stop) {
                    stop_event["additionalModelResponseFields"] = fields;
                }
                self.push_converse("messageStop", stop_event);
                self.push_converse(
                    "metadata",
                    json!({
                        "usage": converse_usage(&usage),
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
    response_paths: Vec<String>,
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
        blocks: BlockCounter::default(),
        response_paths,
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
