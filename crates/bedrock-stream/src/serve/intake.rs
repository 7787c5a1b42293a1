//! How `serve` takes in a request before the handler sees it: SigV4 (with `--auth sigv4`), and
//! the body read under limits a slow or hostile client cannot stretch.
//!
//! - CORS preflights (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) go straight
//!   to the router's CORS layer, before authentication, as a function URL answers them.
//! - Everything the head can tell is checked before a byte of the body is read. A request that
//!   declares its payload hash (`x-amz-content-sha256`) has its signature checked then too; its
//!   body is hashed as it arrives and refused (403) if it does not match.
//! - A body whose request is not yet authenticated (no declared hash: the signature needs the
//!   whole body; or `--auth none`) counts against `MAX_UNAUTHENTICATED_BYTES`, shared by all
//!   connections; past it the request gets 503 `server_busy`.
//! - The whole body must arrive within `BODY_READ_TIMEOUT_SECS` (408 `request_timeout`) and be
//!   at most `MAX_BODY_BYTES` (413).
//! - An accepted request goes on with its body in memory and, when signed, with the canonical
//!   query that was verified in place of the one sent (so the handler reads what was signed).
//!
//! Every refusal of the signature is the same 403; the reason goes to the log.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, request::Parts, HeaderMap, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bedrock_stream_handler::{AppError, ErrorKind};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use sigv4_verifier::{Rejection, Verifier};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The intake's settings and shared budget.
pub(crate) struct Intake {
    verifier: Option<Verifier>,
    max_body_bytes: usize,
    body_read_timeout: Duration,
    /// One permit per byte of unauthenticated body held.
    unauthenticated: Arc<Semaphore>,
}

impl Intake {
    pub(crate) fn new(
        verifier: Option<Verifier>,
        max_body_bytes: usize,
        body_read_timeout: Duration,
        max_unauthenticated_bytes: usize,
    ) -> Self {
        Intake {
            verifier,
            max_body_bytes,
            body_read_timeout,
            unauthenticated: Arc::new(Semaphore::new(
                max_unauthenticated_bytes.min(Semaphore::MAX_PERMITS),
            )),
        }
    }
}

/// Puts the intake in front of every route of `router` (the fallback too).
pub(crate) fn layer(router: axum::Router, intake: Intake) -> axum::Router {
    router.layer(axum::middleware::from_fn_with_state(
        Arc::new(intake),
        take_in,
    ))
}

fn is_preflight(parts: &Parts) -> bool {
    parts.method == Method::OPTIONS
        && parts.headers.contains_key(header::ORIGIN)
        && parts
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

async fn take_in(State(intake): State<Arc<Intake>>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    if is_preflight(&parts) {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let deadline = Instant::now() + intake.body_read_timeout;
    let Some(verifier) = &intake.verifier else {
        return match read_body(&intake, body, &parts.headers, deadline, true).await {
            Ok((bytes, _, permit)) => {
                // In the handler's hands now: no longer held against the budget.
                drop(permit);
                next.run(Request::from_parts(parts, Body::from(bytes)))
                    .await
            }
            Err(e) => e.into_response(),
        };
    };

    let claim = match verifier.check_head(&parts, SystemTime::now()) {
        Ok(c) => c,
        Err(r) => return reject(&parts, &r),
    };
    let (bytes, verified) = if let Some(declared) = claim.declared_payload_sha256() {
        // Signed headers and declared payload hash: the signature is checked now, the body as
        // it arrives, outside the unauthenticated budget (the signer holds the secret).
        let verified = match claim.verify_declared() {
            Ok(v) => v,
            Err(r) => return reject(&parts, &r),
        };
        let (bytes, digest, _) =
            match read_body(&intake, body, &parts.headers, deadline, false).await {
                Ok(read) => read,
                Err(e) => return e.into_response(),
            };
        if digest != declared {
            tracing::warn!(
                method = %parts.method, path = %parts.uri.path(),
                access_key_id = %verified.caller.access_key_id,
                reason = "x-amz-content-sha256 does not match the SHA-256 of the body (changed after signing)",
                "SigV4 authentication failed"
            );
            return forbidden();
        }
        (bytes, verified)
    } else {
        let (bytes, digest, permit) =
            match read_body(&intake, body, &parts.headers, deadline, true).await {
                Ok(read) => read,
                Err(e) => return e.into_response(),
            };
        let verified = match claim.verify_body_sha256(&digest) {
            Ok(v) => v,
            Err(r) => return reject(&parts, &r),
        };
        drop(permit);
        (bytes, verified)
    };
    if let Some(query) = &verified.query {
        match with_query(&parts.uri, query) {
            Some(uri) => parts.uri = uri,
            None => {
                return AppError::bad_request("the signed query cannot be rebuilt").into_response()
            }
        }
    }
    tracing::debug!(
        access_key_id = %verified.caller.access_key_id,
        profile = %verified.caller.profile,
        "SigV4 verified"
    );
    let mut request = Request::from_parts(parts, Body::from(bytes));
    request.extensions_mut().insert(verified.caller);
    next.run(request).await
}

/// `uri` with its query replaced.
fn with_query(uri: &Uri, query: &str) -> Option<Uri> {
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(format!("{}?{query}", uri.path()).parse().ok()?);
    Uri::from_parts(parts).ok()
}

fn forbidden() -> Response {
    AppError::new(ErrorKind::Unauthorized, sigv4_verifier::FORBIDDEN_MESSAGE).into_response()
}

fn reject(parts: &Parts, r: &Rejection) -> Response {
    tracing::warn!(
        method = %parts.method,
        path = %parts.uri.path(),
        status = r.status(),
        reason = %r.reason(),
        "SigV4 authentication failed"
    );
    if r.status() == 400 {
        AppError::bad_request(r.public_message()).into_response()
    } else {
        forbidden()
    }
}

fn too_large() -> AppError {
    AppError::new(
        ErrorKind::PayloadTooLarge,
        "request body is larger than MAX_BODY_BYTES",
    )
}

fn busy() -> AppError {
    AppError::new(
        ErrorKind::ServerBusy,
        "this server holds as many unauthenticated request bytes as MAX_UNAUTHENTICATED_BYTES allows; retry shortly",
    )
}

fn permits(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Reads the whole body by `deadline`, at most `MAX_BODY_BYTES`, hashing it as it arrives.
/// With `budgeted`, its bytes are held against the unauthenticated budget (the permit is
/// returned: dropping it gives them back).
async fn read_body(
    intake: &Intake,
    body: Body,
    headers: &HeaderMap,
    deadline: Instant,
    budgeted: bool,
) -> Result<(Bytes, [u8; 32], Option<OwnedSemaphorePermit>), AppError> {
    let max = intake.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut permit: Option<OwnedSemaphorePermit> = None;
    if budgeted {
        if let Some(n) = declared.filter(|n| *n > 0) {
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            permit = Some(
                Arc::clone(&intake.unauthenticated)
                    .try_acquire_many_owned(permits(n))
                    .map_err(|_| busy())?,
            );
        }
    }
    let mut buf = BytesMut::with_capacity(declared.map_or(0, |n| n as usize));
    let mut hasher = Sha256::new();
    let mut stream = body.into_data_stream();
    loop {
        let next = match tokio::time::timeout_at(deadline.into(), stream.next()).await {
            Ok(next) => next,
            Err(_) => {
                return Err(AppError::new(
                    ErrorKind::RequestTimeout,
                    "the request body did not arrive within BODY_READ_TIMEOUT_SECS",
                ))
            }
        };
        let Some(chunk) = next else { break };
        let chunk = chunk
            .map_err(|e| AppError::bad_request(format!("cannot read the request body: {e}")))?;
        if buf.len() + chunk.len() > max {
            return Err(too_large());
        }
        let held = permit.as_ref().map_or(0, |p| p.num_permits());
        if budgeted && buf.len() + chunk.len() > held {
            // No Content-Length (chunked): take the budget as bytes arrive.
            let more = Arc::clone(&intake.unauthenticated)
                .try_acquire_many_owned(permits(buf.len() + chunk.len() - held))
                .map_err(|_| busy())?;
            match &mut permit {
                Some(p) => p.merge(more),
                None => permit = Some(more),
            }
        }
        hasher.update(&chunk);
        buf.extend_from_slice(&chunk);
    }
    Ok((buf.freeze(), hasher.finalize().into(), permit))
}
