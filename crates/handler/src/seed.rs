//! `POST /`: the seed's request contract, `{"bedrockParams": {...}, "modelParams": {...}}`, sent
//! to `InvokeModelWithResponseStream` with the model's own body.

use std::time::Instant;

use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{PerformanceConfigLatency, Trace};
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use bedrock_families::{wrap_text_prompt, Family};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{send_by, AppError};
use crate::format::Format;
use crate::pipeline::{self, RequestLog, Upstream};
use crate::App;

/// The seed's body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedRequest {
    #[serde(default)]
    pub bedrock_params: BedrockParams,
    pub model_params: Value,
}

/// `bedrockParams`: what goes to the SDK besides the body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BedrockParams {
    pub model_id: Option<String>,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub guardrail_identifier: Option<String>,
    pub guardrail_version: Option<String>,
    pub trace: Option<String>,
    pub performance_config_latency: Option<String>,
}

/// Parses a JSON body into `T`, with messages that say what is wrong.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    if body.is_empty() {
        return Err(AppError::bad_request(
            "request body is empty; send a JSON object",
        ));
    }
    if std::str::from_utf8(body).is_err() {
        return Err(AppError::bad_request("request body is not valid UTF-8"));
    }
    serde_json::from_slice(body).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "request body is not valid JSON"
            }
            _ => "request body does not match the contract",
        };
        AppError::bad_request(format!("{what}: {e}"))
    })
}

/// Resolves the model id (request or default) and checks the allowlist.
pub(crate) fn resolve_model(app: &App, requested: Option<String>) -> Result<String, AppError> {
    let model_id = requested
        .filter(|m| !m.trim().is_empty())
        .or_else(|| app.config.default_model_id.clone())
        .ok_or_else(|| {
            AppError::bad_request(
                "no model: set bedrockParams.modelId (or configure DEFAULT_MODEL_ID)",
            )
        })?;
    if model_id.len() > 2048 {
        return Err(AppError::bad_request(
            "model id is longer than 2048 characters",
        ));
    }
    if !app.config.model_allowed(&model_id) {
        return Err(AppError::new(
            crate::error::ErrorKind::ModelNotAllowed,
            format!("model `{model_id}` is not in this function's ALLOWED_MODELS"),
        ));
    }
    Ok(model_id)
}

/// Shapes the model body: fixes Claude text prompts, applies the output-token cap.
pub(crate) fn prepare_model_params(
    app: &App,
    model_id: &str,
    params: &mut Value,
) -> Result<Option<Family>, AppError> {
    if !params.is_object() {
        return Err(AppError::bad_request("modelParams must be a JSON object"));
    }
    let family = Family::for_request(model_id, params);
    if family == Some(Family::AnthropicText) {
        if let Some(Value::String(p)) = params.get("prompt") {
            let wrapped = wrap_text_prompt(p).into_owned();
            params["prompt"] = Value::String(wrapped);
        }
    }
    if let Some(limit) = app.config.max_output_tokens {
        let f = family.ok_or_else(|| {
            AppError::bad_request(format!(
                "cannot apply MAX_OUTPUT_TOKENS: the model family of `{model_id}` is unknown and the body names no known max-tokens field"
            ))
        })?;
        f.cap_max_tokens(params, limit)
            .map_err(|e| AppError::bad_request(format!("modelParams: {e}")))?;
    }
    Ok(family)
}

pub(crate) async fn handle(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    match run(&app, &headers, &uri, &body, started, request_id).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn run(
    app: &App,
    headers: &HeaderMap,
    uri: &Uri,
    body: &[u8],
    started: Instant,
    request_id: String,
) -> Result<Response, AppError> {
    let format = Format::negotiate(headers, uri.query())?;
    let req: SeedRequest = parse_json(body)?;
    let p = req.bedrock_params;
    let model_id = resolve_model(app, p.model_id)?;
    let mut params = req.model_params;
    let family = prepare_model_params(app, &model_id, &mut params)?;
    if app.config.log_prompts {
        tracing::info!(request_id = %request_id, model_id = %model_id, model_params = %params, "prompt");
    }
    let body = serde_json::to_vec(&params)
        .map_err(|e| AppError::bad_request(format!("modelParams: {e}")))?;
    let mut call = app
        .client
        .invoke_model_with_response_stream()
        .model_id(&model_id)
        .body(Blob::new(body))
        .content_type(p.content_type.unwrap_or_else(|| "application/json".into()))
        .accept(p.accept.unwrap_or_else(|| "application/json".into()));
    if let Some(g) = p.guardrail_identifier {
        call = call.guardrail_identifier(g);
    }
    if let Some(v) = p.guardrail_version {
        call = call.guardrail_version(v);
    }
    if let Some(t) = p.trace {
        call = call.trace(Trace::from(t.as_str()));
    }
    if let Some(l) = p.performance_config_latency {
        call = call.performance_config_latency(PerformanceConfigLatency::from(l.as_str()));
    }
    let timing = app.timing(started);
    let log = RequestLog {
        admission: app.admit()?,
        request_id,
        route: "seed",
        model_id,
    };
    let output = match send_by(
        timing.deadline,
        call.send(),
        "Bedrock did not start answering within the request timeout",
    )
    .await
    {
        Ok(o) => o,
        Err(err) => {
            log.finished(&Default::default(), Some(&err));
            return Err(err);
        }
    };
    let upstream = Upstream::Invoke {
        rx: output.body,
        family,
    };
    Ok(pipeline::respond(upstream, Box::new(format), timing, log).await)
}
