//! The streaming response: typed events from the upstream decoder → the chosen format → the
//! client. The first upstream event is awaited before the response head is sent, so a failure
//! that arrives first is still a proper HTTP status; afterwards every event is forwarded the
//! moment it arrives, and dropping the body (the client left) drops the upstream call.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::decode::Upstream;
use crate::error::{AppError, ErrorKind};
use crate::format::{EventEncoder, OutEvent, Summary};

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
    pub(crate) fn elapsed_ms(&self) -> u64 {
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
    /// Waits for the next upstream event within the idle and total limits; its events land in
    /// `pending`.
    async fn pull(&mut self) -> Result<bool, AppError> {
        let Some(upstream) = self.upstream.as_mut() else {
            return Ok(true);
        };
        let idle_deadline = tokio::time::Instant::now() + self.timing.idle;
        let deadline = tokio::time::Instant::from_std(self.timing.deadline).min(idle_deadline);
        self.timer.as_mut().reset(deadline);
        let before = self.pending.len();
        let timed_out = tokio::select! {
            biased;
            r = upstream.next(&mut self.summary, &mut self.pending) => Ok(r),
            () = self.timer.as_mut() => Err(()),
        };
        if self.summary.first_byte_ms.is_none()
            && self.pending.iter().skip(before).any(OutEvent::is_content)
        {
            self.summary.first_byte_ms = Some(self.timing.elapsed_ms());
        }
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

    fn absorb(&mut self, step: Result<bool, AppError>) {
        match step {
            Ok(false) => {}
            Ok(true) => {
                self.upstream = None;
                self.summary.total_ms = self.timing.elapsed_ms();
                self.log.finished(&self.summary, None);
                self.pending.push_back(OutEvent::Done(self.summary.clone()));
                self.finished = true;
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
