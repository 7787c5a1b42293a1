//! The HTTP routes: the four Bedrock runtime operations and the emulator's control endpoints.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bedrock_families::{Family, Prompt, Sampling};
use serde_json::{json, Value};

use crate::activity::Outcome;
use crate::answer::Answer;
use crate::converse;
use crate::engine::{EngineError, EngineEvent, GenerationRequest};
use crate::error::BedrockError;
use crate::faults::{Fault, FaultKind};
use crate::models::{self, Operation};
use crate::state::AppState;
use crate::stream::{self, Shape};
use crate::validate::{self, Ctx};
use crate::wire::{self, EVENT_STREAM_CONTENT_TYPE};

pub(crate) fn router(state: Arc<AppState>) -> Router {
    let operations = Router::new()
        .route("/model/{model_id}/invoke", post(invoke))
        .route(
            "/model/{model_id}/invoke-with-response-stream",
            post(invoke_with_response_stream),
        )
        .route("/model/{model_id}/converse", post(converse))
        .route("/model/{model_id}/converse-stream", post(converse_stream))
        .layer(axum::middleware::map_response(with_request_id));
    Router::new()
        .merge(operations)
        .route(
            "/_emulator/faults",
            post(add_fault).get(list_faults).delete(clear_faults),
        )
        .route("/_emulator/stats", get(stats))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(unknown_operation)
        .layer(axum::extract::DefaultBodyLimit::max(25 * 1024 * 1024))
        .with_state(state)
}

async fn unknown_operation() -> Response {
    BedrockError::ResourceNotFound("Unknown operation: the local Bedrock endpoint serves /model/{modelId}/invoke, /invoke-with-response-stream, /converse and /converse-stream".into())
        .into_response()
}

fn json_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, BedrockError> {
    if let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        let ct = ct.split(';').next().unwrap_or("").trim();
        // The SDKs send application/octet-stream when the caller sets no content type.
        let accepted = ["", "application/json", "*/*", "application/octet-stream"];
        if !accepted.contains(&ct) {
            return Err(BedrockError::Validation(format!(
                "The provided content type {ct} is not supported; use application/json."
            )));
        }
    }
    serde_json::from_slice(body).map_err(|_| {
        BedrockError::Validation(
            "Malformed input request, please reformat your input and try again.".into(),
        )
    })
}

/// An InvokeModel body read as Bedrock reads it: the model id, JSON, the model's family, its
/// fields, then what the prompt asks of the model.
fn read_invoke_body(
    model_id: &str,
    op: Operation,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Family, Prompt, Sampling), BedrockError> {
    let model = models::resolve(model_id, op)?;
    let json = json_body(headers, body)?;
    let family = Family::for_request(model_id, &json).ok_or_else(|| unresolved(model_id))?;
    let (prompt, sampling) = family
        .parse_request(&json)
        .map_err(|e| BedrockError::Validation(e.0))?;
    let ctx = Ctx {
        model,
        family: Some(family),
        op,
    };
    validate::check_media(&ctx, &prompt)?;
    validate::check_prompt(&ctx, &prompt, &sampling)?;
    Ok((family, prompt, sampling))
}

/// The provider's own refusal that Bedrock delivers inside an InvokeModelWithResponseStream
/// stream (and as a 400 from InvokeModel).
fn provider_refusal(family: Family, prompt: &Prompt) -> Option<BedrockError> {
    match family {
        Family::AnthropicMessages => {
            validate::anthropic_tool_results(prompt).map(BedrockError::Validation)
        }
        _ => None,
    }
}

/// An identifier that names no model by itself (an application inference profile, a
/// provisioned or imported model) with a body of no known family.
fn unresolved(model_id: &str) -> BedrockError {
    BedrockError::ResourceNotFound(format!(
        "Could not resolve the foundation model from the provided model identifier {model_id}."
    ))
}

/// A Converse body read and validated for its model.
fn read_converse_body(
    model_id: &str,
    op: Operation,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<converse::ConverseCall, BedrockError> {
    let model = models::resolve(model_id, op)?;
    let json = json_body(headers, body)?;
    let ctx = Ctx {
        model,
        family: model.map(|m| m.family),
        op,
    };
    converse::read(json, model_id, &ctx)
}

/// Starts the model call: takes a pending fault, then asks the engine.
fn start(
    state: &AppState,
    request: GenerationRequest,
) -> Result<(tokio::sync::mpsc::Receiver<EngineEvent>, Option<Fault>), BedrockError> {
    let fault = state.faults.take();
    if let Some(err) = fault.as_ref().and_then(Fault::pre_stream_error) {
        return Err(err);
    }
    let rx = state.engine.generate(request).map_err(|e| match e {
        EngineError::Validation(m) => BedrockError::Validation(m),
        EngineError::Busy(m) => BedrockError::Throttling(m),
        EngineError::Internal(m) => BedrockError::Internal(m),
    })?;
    Ok((rx, fault))
}

/// Every answer of a Bedrock operation, success or error, carries a fresh request id, as Bedrock's do.
async fn with_request_id(mut response: Response) -> Response {
    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        response.headers_mut().insert("x-amzn-requestid", v);
    }
    response
}

fn streaming_response(
    state: &AppState,
    rx: tokio::sync::mpsc::Receiver<EngineEvent>,
    shape: Shape,
    fault: Option<Fault>,
    started: Instant,
    response_paths: Vec<String>,
) -> Response {
    let bedrock_content_type = matches!(shape, Shape::Invoke(_));
    let guard = state.activity.begin();
    let body = Body::from_stream(stream::frames(
        rx,
        shape,
        fault,
        guard,
        started,
        response_paths,
    ));
    let mut response = event_stream(body);
    if bedrock_content_type {
        response.headers_mut().insert(
            "x-amzn-bedrock-content-type",
            HeaderValue::from_static("application/json"),
        );
    }
    response
}

/// HTTP 200 with an event-stream body.
fn event_stream(body: impl Into<Body>) -> Response {
    let mut response = (StatusCode::OK, body.into()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(EVENT_STREAM_CONTENT_TYPE),
    );
    response
}

async fn invoke_with_response_stream(
    State(state): State<Arc<AppState>>,
    Path(model_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, BedrockError> {
    let started = Instant::now();
    let (family, prompt, sampling) =
        read_invoke_body(&model_id, Operation::InvokeStream, &headers, &body)?;
    if let Some(e) = provider_refusal(family, &prompt) {
        // HTTP 200, then one exception frame, as Bedrock relays the provider's refusal.
        return Ok(event_stream(wire::exception_frame(&e)));
    }
    let (rx, fault) = start(&state, GenerationRequest::new(&model_id, prompt, sampling))?;
    let shape = Shape::Invoke(family.encoder(&model_id));
    Ok(streaming_response(
        &state,
        rx,
        shape,
        fault,
        started,
        Vec::new(),
    ))
}

async fn converse_stream(
    State(state): State<Arc<AppState>>,
    Path(model_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, BedrockError> {
    let started = Instant::now();
    let call = read_converse_body(&model_id, Operation::ConverseStream, &headers, &body)?;
    let paths = call.response_field_paths.clone();
    let (rx, fault) = start(&state, generation(&model_id, call))?;
    Ok(streaming_response(
        &state,
        rx,
        Shape::Converse,
        fault,
        started,
        paths,
    ))
}

fn generation(model_id: &str, call: converse::ConverseCall) -> GenerationRequest {
    GenerationRequest {
        model_id: model_id.to_string(),
        prompt: call.prompt,
        sampling: call.sampling,
        cache_points: call.cache_points,
    }
}

async fn collect(
    state: &AppState,
    rx: tokio::sync::mpsc::Receiver<EngineEvent>,
    fault: Option<Fault>,
    started: Instant,
) -> Result<Answer, BedrockError> {
    let mut guard = state.activity.begin();
    if let Some(f) = &fault {
        guard.finish(Outcome::Failed);
        match f.kind {
            FaultKind::Stall => {
                drop(rx);
                tokio::time::sleep(std::time::Duration::from_secs(600)).await;
                return Err(BedrockError::ModelTimeout("Model has timed out in processing the request (stall injected by local-bedrock)".into()));
            }
            _ => {
                return Err(BedrockError::ModelError(
                    "The model returned an error (injected by local-bedrock)".into(),
                ))
            }
        }
    }
    let result = Answer::collect(rx, started).await;
    guard.finish(if result.is_ok() {
        Outcome::Completed
    } else {
        Outcome::Failed
    });
    result
}

async fn invoke(
    State(state): State<Arc<AppState>>,
    Path(model_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, BedrockError> {
    let started = Instant::now();
    let (family, prompt, sampling) =
        read_invoke_body(&model_id, Operation::Invoke, &headers, &body)?;
    if let Some(e) = provider_refusal(family, &prompt) {
        return Err(e);
    }
    let (rx, fault) = start(&state, GenerationRequest::new(&model_id, prompt, sampling))?;
    let a = collect(&state, rx, fault, started).await?;
    let mut r = Json(a.invoke_body(family, &model_id)).into_response();
    let h = r.headers_mut();
    let latency = started.elapsed().as_millis().to_string();
    let mut pairs = vec![
        ("x-amzn-bedrock-invocation-latency", latency),
        (
            "x-amzn-bedrock-input-token-count",
            a.usage.input_tokens.to_string(),
        ),
        (
            "x-amzn-bedrock-output-token-count",
            a.usage.output_tokens.to_string(),
        ),
        (
            "x-amzn-bedrock-first-byte-latency",
            a.first_byte_ms.to_string(),
        ),
    ];
    // FACTS.md §1: the 2026 Nova recording carries the cache counts as headers too.
    if a.usage.cache_read_input_tokens > 0 || a.usage.cache_write_input_tokens > 0 {
        pairs.push((
            "x-amzn-bedrock-cache-read-input-token-count",
            a.usage.cache_read_input_tokens.to_string(),
        ));
        pairs.push((
            "x-amzn-bedrock-cache-write-input-token-count",
            a.usage.cache_write_input_tokens.to_string(),
        ));
    }
    for (k, v) in pairs {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    Ok(r)
}

async fn converse(
    State(state): State<Arc<AppState>>,
    Path(model_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, BedrockError> {
    let started = Instant::now();
    let call = read_converse_body(&model_id, Operation::Converse, &headers, &body)?;
    let paths = call.response_field_paths.clone();
    let (rx, fault) = start(&state, generation(&model_id, call))?;
    let a = collect(&state, rx, fault, started).await?;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(Json(a.converse_body(&paths, latency_ms)).into_response())
}

async fn add_fault(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(fault) => {
            state.faults.push(fault);
            (StatusCode::OK, Json(json!({"pending": state.faults.pending()}))).into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"message": format!("bad fault: {e}; expected {{\"kind\": one of throttle, validation, internal, model-timeout, service-unavailable, model-not-ready, access-denied, model-error, midstream, stall, bad-crc, truncate, \"count\": N}}")})),
        )
            .into_response(),
    }
}

async fn list_faults(State(state): State<Arc<AppState>>) -> Response {
    Json(json!({"pending": state.faults.pending()})).into_response()
}

async fn clear_faults(State(state): State<Arc<AppState>>) -> Response {
    state.faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn stats(State(state): State<Arc<AppState>>) -> Response {
    Json(state.activity.snapshot()).into_response()
}
