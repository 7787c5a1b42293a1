//! The HTTP routes: the four Bedrock runtime operations and the emulator's control endpoints.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bedrock_families::{Family, ModelId, Prompt, Sampling, StopReason, Usage};
use serde_json::{json, Value};

use crate::activity::Outcome;
use crate::converse;
use crate::engine::{EngineError, EngineEvent, GenerationRequest};
use crate::error::BedrockError;
use crate::faults::{Fault, FaultKind};
use crate::server::AppState;
use crate::stream::{self, Shape};
use crate::wire::EVENT_STREAM_CONTENT_TYPE;

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/model/{model_id}/invoke", post(invoke))
        .route(
            "/model/{model_id}/invoke-with-response-stream",
            post(invoke_with_response_stream),
        )
        .route("/model/{model_id}/converse", post(converse))
        .route("/model/{model_id}/converse-stream", post(converse_stream))
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

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
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

/// An InvokeModel body read as Bedrock reads it: JSON, the model's family, its fields.
fn read_invoke_body(
    model_id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Family, Prompt, Sampling), BedrockError> {
    let json = json_body(headers, body)?;
    let family = resolve_family(model_id, &json)?;
    let (prompt, sampling) = family
        .parse_request(&json)
        .map_err(|e| BedrockError::Validation(e.0))?;
    Ok((family, prompt, sampling))
}

fn resolve_family(model_id: &str, body: &Value) -> Result<Family, BedrockError> {
    Family::for_request(model_id, body).ok_or_else(|| not_found(model_id))
}

fn not_found(model_id: &str) -> BedrockError {
    let id = ModelId::parse(model_id);
    if id.base().is_none() && id.kind == bedrock_families::ModelIdKind::FoundationModel {
        return BedrockError::Validation("The provided model identifier is invalid.".into());
    }
    BedrockError::ResourceNotFound(format!(
        "Could not resolve the foundation model from the provided model identifier {model_id}."
    ))
}

/// Checks a Converse request's model id: any family the local endpoint knows can converse.
fn resolve_converse_model(model_id: &str) -> Result<(), BedrockError> {
    match Family::from_model_id(model_id) {
        Some(_) => Ok(()),
        None => match ModelId::parse(model_id).kind {
            bedrock_families::ModelIdKind::ApplicationInferenceProfile
            | bedrock_families::ModelIdKind::Opaque
                if model_id.starts_with("arn:") =>
            {
                Ok(())
            }
            _ => Err(not_found(model_id)),
        },
    }
}

/// Starts the model call: takes a pending fault, then asks the engine.
fn start(
    state: &AppState,
    model_id: &str,
    prompt: Prompt,
    sampling: Sampling,
) -> Result<(tokio::sync::mpsc::Receiver<EngineEvent>, Option<Fault>), BedrockError> {
    let fault = state.faults.take();
    if let Some(err) = fault.as_ref().and_then(Fault::pre_stream_error) {
        return Err(err);
    }
    let rx = state
        .engine
        .generate(GenerationRequest {
            model_id: model_id.to_string(),
            prompt,
            sampling,
        })
        .map_err(|e| match e {
            EngineError::Validation(m) => BedrockError::Validation(m),
            EngineError::Busy(m) => BedrockError::Throttling(m),
            EngineError::Internal(m) => BedrockError::Internal(m),
        })?;
    Ok((rx, fault))
}

fn with_request_id(mut response: Response, id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(id) {
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
    bedrock_content_type: bool,
) -> Response {
    let guard = state.activity.begin();
    let body = Body::from_stream(stream::frames(rx, shape, fault, guard, started));
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(EVENT_STREAM_CONTENT_TYPE),
    );
    if bedrock_content_type {
        headers.insert(
            "x-amzn-bedrock-content-type",
            HeaderValue::from_static("application/json"),
        );
    }
    response
}

async fn invoke_with_response_stream(
    State(state): State<Arc<AppState>>,
    Path(model_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = request_id();
    let started = Instant::now();
    let result = (|| {
        let (family, prompt, sampling) = read_invoke_body(&model_id, &headers, &body)?;
        let (rx, fault) = start(&state, &model_id, prompt, sampling)?;
        Ok::<_, BedrockError>((family, rx, fault))
    })();
    let response = match result {
        Ok((family, rx, fault)) => streaming_response(
            &state,
            rx,
            Shape::Invoke(family.encoder(&model_id)),
            fault,
            started,
            true,
        ),
        Err(e) => e.into_response(),
    };
    with_request_id(response, &id)
}

async fn converse_stream(
    State(state): State<Arc<AppState>>,
    Path(model_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = request_id();
    let started = Instant::now();
    let result = (|| {
        let json = json_body(&headers, &body)?;
        resolve_converse_model(&model_id)?;
        let (prompt, sampling) = converse::parse(&json)?;
        start(&state, &model_id, prompt, sampling)
    })();
    let response = match result {
        Ok((rx, fault)) => streaming_response(&state, rx, Shape::Converse, fault, started, false),
        Err(e) => e.into_response(),
    };
    with_request_id(response, &id)
}

/// A whole answer, collected for the non-streaming operations.
struct Answer {
    text: String,
    stop: StopReason,
    usage: Usage,
    first_byte_ms: u64,
}

async fn collect(
    state: &AppState,
    mut rx: tokio::sync::mpsc::Receiver<EngineEvent>,
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
    let mut text = String::new();
    let mut first_byte_ms = None;
    loop {
        match rx.recv().await {
            Some(EngineEvent::Started { .. }) => {}
            Some(EngineEvent::Text { text: t, .. }) => {
                first_byte_ms.get_or_insert_with(|| started.elapsed().as_millis() as u64);
                text.push_str(&t);
            }
            Some(EngineEvent::Finished { stop, usage }) => {
                guard.finish(Outcome::Completed);
                let first_byte_ms =
                    first_byte_ms.unwrap_or_else(|| started.elapsed().as_millis() as u64);
                return Ok(Answer {
                    text,
                    stop,
                    usage,
                    first_byte_ms,
                });
            }
            Some(EngineEvent::Failed { message }) => {
                guard.finish(Outcome::Failed);
                return Err(BedrockError::ModelError(message));
            }
            None => {
                guard.finish(Outcome::Failed);
                return Err(BedrockError::Internal(
                    "The model stopped without finishing its answer".into(),
                ));
            }
        }
    }
}

async fn invoke(
    State(state): State<Arc<AppState>>,
    Path(model_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = request_id();
    let started = Instant::now();
    let result = async {
        let (family, prompt, sampling) = read_invoke_body(&model_id, &headers, &body)?;
        let (rx, fault) = start(&state, &model_id, prompt, sampling)?;
        let answer = collect(&state, rx, fault, started).await?;
        Ok::<_, BedrockError>((family, answer))
    }
    .await;
    let response = match result {
        Ok((family, a)) => {
            let body = family.response_body(&model_id, &a.text, &a.stop, a.usage);
            let mut r = Json(body).into_response();
            let h = r.headers_mut();
            let latency = started.elapsed().as_millis().to_string();
            for (k, v) in [
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
            ] {
                if let Ok(v) = HeaderValue::from_str(&v) {
                    h.insert(k, v);
                }
            }
            r
        }
        Err(e) => e.into_response(),
    };
    with_request_id(response, &id)
}

async fn converse(
    State(state): State<Arc<AppState>>,
    Path(model_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = request_id();
    let started = Instant::now();
    let result = async {
        let json = json_body(&headers, &body)?;
        resolve_converse_model(&model_id)?;
        let (prompt, sampling) = converse::parse(&json)?;
        let (rx, fault) = start(&state, &model_id, prompt, sampling)?;
        collect(&state, rx, fault, started).await
    }
    .await;
    let response = match result {
        Ok(a) => Json(json!({
            "output": {"message": {"role": "assistant", "content": [{"text": a.text}]}},
            "stopReason": a.stop.converse_name(),
            "usage": {"inputTokens": a.usage.input_tokens, "outputTokens": a.usage.output_tokens,
                      "totalTokens": a.usage.input_tokens + a.usage.output_tokens},
            "metrics": {"latencyMs": started.elapsed().as_millis() as u64}
        }))
        .into_response(),
        Err(e) => e.into_response(),
    };
    with_request_id(response, &id)
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
