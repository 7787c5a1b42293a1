//! The one way data flows: a Bedrock event stream → the family decoder → typed events → the
//! chosen format → the client. The first upstream event is awaited before the response head is
//! sent, so a failure that arrives first is still a proper HTTP status; afterwards every event
//! is forwarded the moment it arrives, and dropping the body (the client left) drops the
//! upstream call.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::{Duration, Instant};

use aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver;
use aws_sdk_bedrockruntime::types::error::{ConverseStreamOutputError, ResponseStreamError};
use aws_sdk_bedrockruntime::types::{
    ContentBlockDelta, ContentBlockStart, ConverseStreamOutput, ResponseStream,
};
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bedrock_families::Family;
use bytes::Bytes;
use serde_json::Value;

use crate::error::{AppError, ErrorKind};
use crate::format::{EventEncoder, OutEvent, Summary};

/// An upstream Bedrock stream of either operation.
pub(crate) enum Upstream {
    Invoke {
        rx: EventReceiver<ResponseStream, ResponseStreamError>,
        /// The family from the request; `None` until sniffed from the first chunk.
        family: Option<Family>,
    },
    Converse {
        rx: EventReceiver<ConverseStreamOutput, ConverseStreamOutputError>,
        tool: Option<(Option<String>, Option<String>)>,
    },
}

/// What one upstream event adds to the answer: at most one event (no allocation per chunk).
#[derive(Default)]
struct Step {
    event: Option<OutEvent>,
    end: bool,
}

impl Upstream {
    async fn next(&mut self, summary: &mut Summary) -> Result<Step, AppError> {
        match self {
            Upstream::Invoke { rx, family } => match rx.recv().await {
                Ok(Some(ResponseStream::Chunk(part))) => {
                    let bytes = part.bytes().map(|b| b.as_ref()).unwrap_or_default();
                    Ok(Step {
                        event: decode_invoke_chunk(bytes, family, summary),
                        end: false,
                    })
                }
                Ok(Some(_)) => Ok(Step::default()),
                Ok(None) => Ok(Step {
                    event: None,
                    end: true,
                }),
                Err(e) => Err(AppError::from_stream(&e, invoke_stream_code)),
            },
            Upstream::Converse { rx, tool } => match rx.recv().await {
                Ok(Some(event)) => Ok(Step {
                    event: decode_converse_event(event, tool, summary),
                    end: false,
                }),
                Ok(None) => Ok(Step {
                    event: None,
                    end: true,
                }),
                Err(e) => Err(AppError::from_stream(&e, converse_stream_code)),
            },
        }
    }
}

fn invoke_stream_code(e: &ResponseStreamError) -> Option<&'static str> {
    Some(match e {
        ResponseStreamError::InternalServerException(_) => "InternalServerException",
        ResponseStreamError::ModelStreamErrorException(_) => "ModelStreamErrorException",
        ResponseStreamError::ValidationException(_) => "ValidationException",
        ResponseStreamError::ThrottlingException(_) => "ThrottlingException",
        ResponseStreamError::ModelTimeoutException(_) => "ModelTimeoutException",
        ResponseStreamError::ServiceUnavailableException(_) => "ServiceUnavailableException",
        _ => return None,
    })
}

fn converse_stream_code(e: &ConverseStreamOutputError) -> Option<&'static str> {
    Some(match e {
        ConverseStreamOutputError::InternalServerException(_) => "InternalServerException",
        ConverseStreamOutputError::ModelStreamErrorException(_) => "ModelStreamErrorException",
        ConverseStreamOutputError::ValidationException(_) => "ValidationException",
        ConverseStreamOutputError::ThrottlingException(_) => "ThrottlingException",
        ConverseStreamOutputError::ServiceUnavailableException(_) => "ServiceUnavailableException",
        _ => return None,
    })
}

/// Decodes one `chunk` payload: the family's text and metadata, or the raw JSON when the shape
/// is unknown.
pub(crate) fn decode_invoke_chunk(
    bytes: &[u8],
    family: &mut Option<Family>,
    summary: &mut Summary,
) -> Option<OutEvent> {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(_) => {
            return Some(OutEvent::Raw(Value::String(
                String::from_utf8_lossy(bytes).into_owned(),
            )))
        }
    };
    if family.is_none() {
        *family = Family::from_chunk(&value);
    }
    let Some(f) = *family else {
        return Some(OutEvent::Raw(value));
    };
    let info = f.decode_chunk(&value);
    if let Some(reason) = info.stop_reason {
        summary.stop_reason = Some(reason);
    }
    if info.input_tokens.is_some() {
        summary.input_tokens = info.input_tokens;
    }
    if info.output_tokens.is_some() {
        summary.output_tokens = info.output_tokens;
    }
    if let Some(m) = info.metrics {
        summary.bedrock_latency_ms = Some(m.invocation_latency);
        summary.bedrock_first_byte_ms = Some(m.first_byte_latency);
        summary.input_tokens = Some(m.input_token_count);
        summary.output_tokens = Some(m.output_token_count);
    }
    match (info.text, info.recognised) {
        (Some(t), _) if !t.is_empty() => Some(OutEvent::Text(t)),
        (_, false) => Some(OutEvent::Raw(value)),
        _ => None,
    }
}

fn decode_converse_event(
    event: ConverseStreamOutput,
    tool: &mut Option<(Option<String>, Option<String>)>,
    summary: &mut Summary,
) -> Option<OutEvent> {
    match event {
        ConverseStreamOutput::ContentBlockStart(s) => {
            if let Some(ContentBlockStart::ToolUse(t)) = s.start() {
                *tool = Some((
                    Some(t.tool_use_id().to_string()),
                    Some(t.name().to_string()),
                ));
            }
            None
        }
        ConverseStreamOutput::ContentBlockDelta(d) => match d.delta() {
            Some(ContentBlockDelta::Text(t)) if !t.is_empty() => Some(OutEvent::Text(t.clone())),
            Some(ContentBlockDelta::ReasoningContent(r)) => match r.as_text() {
                Ok(t) => Some(OutEvent::Reasoning(t.clone())),
                Err(_) => None,
            },
            Some(ContentBlockDelta::ToolUse(t)) => {
                let (id, name) = tool.clone().unwrap_or((None, None));
                Some(OutEvent::ToolUse {
                    id,
                    name,
                    input: t.input().to_string(),
                })
            }
            _ => None,
        },
        ConverseStreamOutput::ContentBlockStop(_) => {
            *tool = None;
            None
        }
        ConverseStreamOutput::MessageStop(s) => {
            summary.stop_reason = Some(s.stop_reason().as_str().to_string());
            None
        }
        ConverseStreamOutput::Metadata(m) => {
            if let Some(u) = m.usage() {
                summary.input_tokens = u64::try_from(u.input_tokens()).ok();
                summary.output_tokens = u64::try_from(u.output_tokens()).ok();
            }
            if let Some(metrics) = m.metrics() {
                summary.bedrock_latency_ms = u64::try_from(metrics.latency_ms()).ok();
            }
            None
        }
        _ => None,
    }
}

/// Per-request facts for the log line written when the stream ends (never holds text), and
/// the request's place among the concurrent streams, held until the stream is over.
#[derive(Debug)]
pub(crate) struct RequestLog {
    pub request_id: String,
    pub route: &'static str,
    pub model_id: String,
    /// Held, never read: dropping it frees the place.
    #[allow(dead_code)]
    pub admission: crate::Admission,
}

impl RequestLog {
    pub(crate) fn finished(&self, summary: &Summary, error: Option<&AppError>) {
        match error {
            None => tracing::info!(
                request_id = %self.request_id, route = self.route, model_id = %self.model_id,
                status = "ok", stop_reason = summary.stop_reason.as_deref().unwrap_or(""),
                input_tokens = summary.input_tokens, output_tokens = summary.output_tokens,
                first_byte_ms = summary.first_byte_ms, total_ms = summary.total_ms,
                "stream finished"
            ),
            Some(e) => tracing::warn!(
                request_id = %self.request_id, route = self.route, model_id = %self.model_id,
                status = e.kind.as_str(), error = %e.message,
                output_tokens = summary.output_tokens,
                first_byte_ms = summary.first_byte_ms, total_ms = summary.total_ms,
                "stream failed"
            ),
        }
    }
}

/// Limits on waiting for upstream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub started: Instant,
    pub idle: Duration,
    pub deadline: Instant,
}

impl Timing {
    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// Marks a stream that failed after it started: the body's last item, after the in-band error
/// event, so that a Lambda adapter can also report it as trailers. Local servers end the body
/// cleanly instead (see [`crate::body::EndOnError`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StreamFailure(pub AppError);

struct State {
    upstream: Option<Upstream>,
    encoder: Box<dyn EventEncoder>,
    closed: bool,
    pending: VecDeque<OutEvent>,
    summary: Summary,
    timing: Timing,
    log: RequestLog,
    failure: Option<AppError>,
    finished: bool,
    /// One timer for the whole stream, moved forward before each wait (not a new timer per
    /// chunk).
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl State {
    /// Waits for the next upstream step within the idle and total limits.
    async fn pull(&mut self) -> Result<Step, AppError> {
        let Some(upstream) = self.upstream.as_mut() else {
            return Ok(Step {
                event: None,
                end: true,
            });
        };
        let idle_deadline = tokio::time::Instant::now() + self.timing.idle;
        let deadline = tokio::time::Instant::from_std(self.timing.deadline).min(idle_deadline);
        self.timer.as_mut().reset(deadline);
        let timed_out = tokio::select! {
            biased;
            r = upstream.next(&mut self.summary) => Ok(r),
            () = self.timer.as_mut() => Err(()),
        };
        match timed_out {
            Ok(r) => r,
            Err(()) if deadline == idle_deadline => Err(AppError::new(
                ErrorKind::IdleTimeout,
                format!(
                    "Bedrock sent nothing for {} s; the call was cancelled",
                    self.timing.idle.as_secs()
                ),
            )),
            Err(()) => Err(AppError::new(
                ErrorKind::UpstreamTimeout,
                "the request took longer than the configured total timeout; the call was cancelled",
            )),
        }
    }

    fn absorb(&mut self, step: Result<Step, AppError>) {
        match step {
            Ok(step) => {
                if let Some(e) = step.event {
                    if matches!(e, OutEvent::Text(_)) && self.summary.first_byte_ms.is_none() {
                        self.summary.first_byte_ms = Some(self.timing.elapsed_ms());
                    }
                    self.pending.push_back(e);
                }
                if step.end {
                    self.upstream = None;
                    self.summary.total_ms = self.timing.elapsed_ms();
                    self.log.finished(&self.summary, None);
                    self.pending.push_back(OutEvent::Done(self.summary.clone()));
                    self.finished = true;
                }
            }
            Err(e) => {
                // Drop the upstream call at once: nothing more will be read from it.
                self.upstream = None;
                self.summary.total_ms = self.timing.elapsed_ms();
                self.log.finished(&self.summary, Some(&e));
                self.pending.push_back(OutEvent::Error(e.clone()));
                self.failure = Some(e);
                self.finished = true;
            }
        }
    }
}

/// Streams an upstream answer to the client through `encoder`.
pub(crate) async fn respond(
    upstream: Upstream,
    encoder: Box<dyn EventEncoder>,
    timing: Timing,
    log: RequestLog,
) -> Response {
    let content_type = encoder.content_type();
    let mut state = State {
        upstream: Some(upstream),
        encoder,
        closed: false,
        pending: VecDeque::new(),
        summary: Summary::default(),
        timing,
        log,
        failure: None,
        finished: false,
        timer: Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(
            timing.deadline,
        ))),
    };
    // Wait for the first event that says something before committing to a status.
    while state.pending.is_empty() && !state.finished {
        let step = state.pull().await;
        if let Err(e) = step {
            state.summary.total_ms = state.timing.elapsed_ms();
            state.log.finished(&state.summary, Some(&e));
            return state.encoder.error_response(e);
        }
        state.absorb(step);
    }
    let body = futures::stream::unfold(state, |mut s| async move {
        loop {
            if let Some(event) = s.pending.pop_front() {
                match s.encoder.encode(event) {
                    Some(bytes) => return Some((Ok::<Bytes, StreamFailure>(bytes), s)),
                    None => continue,
                }
            }
            if s.finished && !s.closed {
                s.closed = true;
                if let Some(bytes) = s.encoder.close() {
                    return Some((Ok(bytes), s));
                }
            }
            if let Some(e) = s.failure.take() {
                return Some((Err(StreamFailure(e)), s));
            }
            if s.finished {
                return None;
            }
            let step = s.pull().await;
            s.absorb(step);
        }
    });
    let mut response = (StatusCode::OK, Body::from_stream(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Tell proxies (and nginx-style buffers) not to hold chunks back.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_shapes_pass_through_raw_and_known_ones_are_sniffed() {
        let mut summary = Summary::default();
        let mut family = None;
        let ev = decode_invoke_chunk(br#"{"weird": 1}"#, &mut family, &mut summary);
        assert_eq!(ev, Some(OutEvent::Raw(serde_json::json!({"weird": 1}))));
        assert_eq!(family, None);
        let ev = decode_invoke_chunk(
            br#"{"generation": "hi", "stop_reason": null}"#,
            &mut family,
            &mut summary,
        );
        assert_eq!(ev, Some(OutEvent::Text("hi".into())));
        assert_eq!(family, Some(Family::Llama));
        let ev = decode_invoke_chunk(b"not json", &mut family, &mut summary);
        assert_eq!(ev, Some(OutEvent::Raw(Value::String("not json".into()))));
        let ev = decode_invoke_chunk(
            br#"{"generation": "", "stop_reason": "stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 3, "outputTokenCount": 9, "invocationLatency": 100, "firstByteLatency": 20}}"#,
            &mut family, &mut summary);
        assert!(ev.is_none());
        assert_eq!(summary.stop_reason.as_deref(), Some("stop"));
        assert_eq!(summary.output_tokens, Some(9));
        assert_eq!(summary.bedrock_first_byte_ms, Some(20));
    }
}
