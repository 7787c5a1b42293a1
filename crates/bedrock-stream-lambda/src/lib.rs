//! Runs an axum `Router` (any `tower::Service` of HTTP requests) as a Lambda function behind a
//! function URL with `RESPONSE_STREAM`, through a streaming Runtime API client of our own.
//!
//! Why not `lambda_runtime`: its client connects without `TCP_NODELAY`, so the first chunk after
//! the prelude waits ~40 ms for the peer's delayed ACK and later chunks merge, and it writes a
//! mid-stream error into the body as text instead of sending HTTP trailers. This crate does
//! neither: every body frame leaves as its own chunk at once, and a body error after the first
//! byte ends the stream with `Lambda-Runtime-Function-Error-Type`/`-Body` trailers.

mod event;
mod logging;
mod runtime_api;
mod stream;

use std::convert::Infallible;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::body::Body;
use http::{Request, Response};
use tower::{Service, ServiceExt as _};
use tracing::Instrument as _;

pub use event::InvocationContext;
pub use logging::init_tracing;

use runtime_api::{Invocation, RuntimeApiClient};
use stream::{ErrorDocument, ResponseStream};

/// The environment variable Lambda sets to the Runtime API's `host:port`.
pub const RUNTIME_API_ENV: &str = "AWS_LAMBDA_RUNTIME_API";

/// Time kept back before an invocation's deadline when none is configured: enough to write the
/// marked error and the error trailers (`DEADLINE_MARGIN_MS`).
pub const DEFAULT_DEADLINE_MARGIN: Duration = Duration::from_millis(2000);

/// Serves invocations from the Runtime API named by `AWS_LAMBDA_RUNTIME_API`, forever.
///
/// Returns only when the Runtime API cannot be reached (Lambda then restarts the sandbox).
///
/// Each request runs under the invocation's deadline less `deadline_margin` (see
/// [`bedrock_stream_handler::with_deadline`]): a request that would outlive the invocation ends
/// with its marked `upstream_timeout` error while there is still time to send it.
pub async fn run<S>(service: S, deadline_margin: Duration) -> anyhow::Result<()>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    let runtime_api = std::env::var(RUNTIME_API_ENV)
        .with_context(|| format!("{RUNTIME_API_ENV} is not set: not running in Lambda?"))?;
    run_on_with(&runtime_api, service, deadline_margin).await
}

/// Like [`run`], against the Runtime API at `runtime_api` (`host:port`), with the default
/// deadline margin.
pub async fn run_on<S>(runtime_api: &str, service: S) -> anyhow::Result<()>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    run_on_with(runtime_api, service, DEFAULT_DEADLINE_MARGIN).await
}

/// Like [`run`], against the Runtime API at `runtime_api` (`host:port`).
pub async fn run_on_with<S>(
    runtime_api: &str,
    service: S,
    deadline_margin: Duration,
) -> anyhow::Result<()>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    let mut client = RuntimeApiClient::new(runtime_api)?;
    loop {
        let Some(invocation) = client.next_invocation().await? else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let span = tracing::info_span!(
            "invocation",
            request_id = %invocation.request_id,
            xray_trace_id = invocation.trace_id.as_deref().unwrap_or_default(),
        );
        invoke(&mut client, service.clone(), invocation, deadline_margin)
            .instrument(span)
            .await;
    }
}

/// Reports an initialisation failure to the Runtime API named by `AWS_LAMBDA_RUNTIME_API`.
pub async fn report_init_error(error: &anyhow::Error) -> anyhow::Result<()> {
    let runtime_api = std::env::var(RUNTIME_API_ENV)
        .with_context(|| format!("{RUNTIME_API_ENV} is not set: not running in Lambda?"))?;
    report_init_error_on(&runtime_api, error).await
}

/// Like [`report_init_error`], against the Runtime API at `runtime_api` (`host:port`).
pub async fn report_init_error_on(runtime_api: &str, error: &anyhow::Error) -> anyhow::Result<()> {
    let document = ErrorDocument::new("Runtime.InitError", format!("{error:#}"));
    RuntimeApiClient::new(runtime_api)?
        .send_init_error(&document)
        .await
}

/// One invocation: event → request → router → streamed response. Failures here are the
/// invocation's own (reported and logged); the loop goes on with the next one.
async fn invoke<S>(
    client: &mut RuntimeApiClient,
    service: S,
    invocation: Invocation,
    deadline_margin: Duration,
) where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    let started = Instant::now();
    let deadline = request_deadline(invocation.deadline_ms, deadline_margin, started);
    set_trace_env(invocation.trace_id.as_deref());
    let context = InvocationContext {
        aws_request_id: invocation.request_id.clone(),
        deadline_ms: invocation.deadline_ms,
        invoked_function_arn: invocation.invoked_function_arn,
        trace_id: invocation.trace_id,
        ..InvocationContext::default()
    };
    let request = match event::into_request(&invocation.event, context) {
        Ok(request) => request,
        Err(error) => {
            tracing::error!(%error, "rejected the event");
            let document = ErrorDocument::new(error.error_type(), error.to_string());
            if let Err(report) = client.send_error(&invocation.request_id, &document).await {
                tracing::error!(error = %format!("{report:#}"), "could not report the invocation error");
            }
            return;
        }
    };

    let call = service.oneshot(request);
    let response = match deadline {
        Some(deadline) => bedrock_stream_handler::with_deadline(deadline, call).await,
        None => call.await,
    };
    let response = match response {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let (parts, body) = response.into_parts();
    let status = parts.status.as_u16();
    let head_ms = started.elapsed().as_millis();
    let (stream, outcome) = ResponseStream::new(stream::prelude(&parts), body);

    if let Err(error) = client.send_response(&invocation.request_id, stream).await {
        tracing::error!(error = %format!("{error:#}"), status, "could not stream the response");
        return;
    }
    let outcome = outcome.await.unwrap_or_default();
    let total_ms = started.elapsed().as_millis();
    let first_byte_ms = outcome.first_byte.map(|d| d.as_millis());
    match (&outcome.error, outcome.completed) {
        (Some(error), _) => tracing::warn!(
            status, head_ms, ?first_byte_ms, total_ms, bytes = outcome.bytes, chunks = outcome.chunks,
            %error, "response body failed mid-stream; sent error trailers"
        ),
        (None, false) => tracing::warn!(
            status,
            head_ms,
            ?first_byte_ms,
            total_ms,
            bytes = outcome.bytes,
            chunks = outcome.chunks,
            "the Runtime API stopped taking the response"
        ),
        (None, true) => tracing::debug!(
            status,
            head_ms,
            ?first_byte_ms,
            total_ms,
            bytes = outcome.bytes,
            chunks = outcome.chunks,
            "response streamed"
        ),
    }
}

/// When a request must be over: the invocation's deadline (`Lambda-Runtime-Deadline-Ms`, ms
/// since the epoch) less `margin`, as an `Instant` (now, when less than `margin` is left).
///
/// A deadline that is not in the future when the invocation arrives is not one Lambda sends
/// (its shortest timeout is 1 s): local emulators such as `cargo lambda watch` send the invoke
/// time or 0. It is ignored, and `REQUEST_TIMEOUT_SECS` alone bounds the request.
fn request_deadline(deadline_ms: Option<u64>, margin: Duration, now: Instant) -> Option<Instant> {
    let deadline_ms = deadline_ms?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis();
    let left_ms = u128::from(deadline_ms)
        .checked_sub(now_ms)
        .filter(|&ms| ms > 0)?;
    let left = Duration::from_millis(u64::try_from(left_ms).unwrap_or(u64::MAX));
    Some(now + left.saturating_sub(margin))
}

/// The AWS SDK (recursion detection) and X-Ray read the current trace from `_X_AMZN_TRACE_ID`.
///
/// Changed between invocations only, when none of our own work runs. Lambda always sends a
/// trace id, so after the first invocation the variable is replaced in place, never added or
/// removed (which is what can race with C code reading the environment).
fn set_trace_env(trace_id: Option<&str>) {
    const TRACE_ENV: &str = "_X_AMZN_TRACE_ID";
    match trace_id {
        Some(trace_id) => std::env::set_var(TRACE_ENV, trace_id),
        None if std::env::var_os(TRACE_ENV).is_some() => std::env::remove_var(TRACE_ENV),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_deadline_keeps_the_margin_back() {
        let now = Instant::now();
        let epoch_ms = |d: Duration| {
            u64::try_from(
                (std::time::SystemTime::now() + d)
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|t| t.as_millis())
                    .unwrap_or(0),
            )
            .unwrap_or(0)
        };
        let margin = Duration::from_secs(2);
        let d = request_deadline(Some(epoch_ms(Duration::from_secs(10))), margin, now);
        let left = d.map(|d| d.duration_since(now)).unwrap_or_default();
        assert!(
            left > Duration::from_millis(7800) && left <= Duration::from_secs(8),
            "{left:?}"
        );
        // Less than the margin left: the deadline is now.
        let d = request_deadline(Some(epoch_ms(Duration::from_secs(1))), margin, now);
        assert_eq!(d, Some(now));
        // A deadline that is not in the future (an emulator's invoke time, or 0): not used.
        assert_eq!(request_deadline(Some(1), margin, now), None);
        assert_eq!(
            request_deadline(Some(epoch_ms(Duration::ZERO)), margin, now),
            None
        );
        assert_eq!(request_deadline(None, margin, now), None);
    }
}
