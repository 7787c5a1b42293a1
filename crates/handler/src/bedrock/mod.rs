//! The one place that builds Bedrock calls: it resolves the model id (request, default,
//! allowlist), applies the output-token cap, turns contracts into SDK requests, sends them
//! within the request's deadline and maps their failures.

pub(crate) mod convert;
mod errors;

use std::time::Instant;

use aws_sdk_bedrockruntime::operation::converse::ConverseOutput;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{PerformanceConfigLatency, ServiceTierType, Trace};
use bedrock_families::converse::ConverseRequest;
use bedrock_families::{wrap_text_prompt, Family};
use serde_json::Value;

use crate::contract::seed::SeedRequest;
use crate::decode::Upstream;
use crate::error::{AppError, ErrorKind};
use crate::App;

use errors::send_by;
pub(crate) use errors::{converse_stream_code, from_stream, invoke_stream_code};

/// Resolves the model id (request or default) and checks the allowlist.
pub(crate) fn resolve_model(app: &App, requested: Option<String>) -> Result<String, AppError> {
    let model_id = requested
        .filter(|m| !m.trim().is_empty())
        .or_else(|| app.config().default_model_id.clone())
        .ok_or_else(|| {
            AppError::bad_request(
                "no model: name one in the request (or configure DEFAULT_MODEL_ID)",
            )
        })?;
    if model_id.len() > 2048 {
        return Err(AppError::bad_request(
            "model id is longer than 2048 characters",
        ));
    }
    crate::model_shape::check(&model_id)?;
    if !app.config().model_allowed(&model_id) {
        return Err(AppError::new(
            ErrorKind::ModelNotAllowed,
            format!("model `{model_id}` is not in this function's ALLOWED_MODELS"),
        ));
    }
    Ok(model_id)
}

/// Shapes an InvokeModel body: fixes Claude text prompts, applies the output-token cap.
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
    if let Some(limit) = app.config().max_output_tokens {
        // The family comes from the id alone: a body cannot choose which field is capped. Ids
        // that do not say (application inference profiles, provisioned, custom and imported
        // models) are refused rather than guessed from the body.
        let by_id = Family::from_model_id(model_id).ok_or_else(|| {
            AppError::bad_request(format!(
                "MAX_OUTPUT_TOKENS is set, and the model family of `{model_id}` cannot be known from the id (application inference profile, provisioned, custom or imported model), so the cap cannot be applied: use a foundation-model or inference-profile id"
            ))
        })?;
        let capped = |e: bedrock_families::ValidationError| {
            AppError::bad_request(format!("modelParams: {e}"))
        };
        let f = family.unwrap_or(by_id);
        f.cap_max_tokens(params, limit).map_err(capped)?;
        if f != by_id {
            by_id
                .cap_present_max_tokens(params, limit)
                .map_err(capped)?;
        }
    }
    Ok(family)
}

const NOT_STARTED: &str = "Bedrock did not start answering within the request timeout";

/// `InvokeModelWithResponseStream` for a seed request.
pub(crate) async fn invoke_stream(
    app: &App,
    model_id: &str,
    req: SeedRequest,
    request_id: &str,
    deadline: Instant,
) -> Result<Upstream, AppError> {
    let p = req.bedrock_params;
    let mut params = req.model_params;
    let family = prepare_model_params(app, model_id, &mut params)?;
    if app.config().log_prompts {
        tracing::info!(request_id = %request_id, model_id = %model_id, model_params = %params, "prompt");
    }
    let body = serde_json::to_vec(&params)
        .map_err(|e| AppError::bad_request(format!("modelParams: {e}")))?;
    let call = app
        .client
        .invoke_model_with_response_stream()
        .model_id(model_id)
        .body(Blob::new(body))
        .content_type(p.content_type.unwrap_or_else(|| "application/json".into()))
        .accept(p.accept.unwrap_or_else(|| "application/json".into()))
        .set_guardrail_identifier(p.guardrail_identifier)
        .set_guardrail_version(p.guardrail_version)
        .set_trace(p.trace.as_deref().map(Trace::from))
        .set_performance_config_latency(
            p.performance_config_latency
                .as_deref()
                .map(PerformanceConfigLatency::from),
        )
        .set_service_tier(p.service_tier.as_deref().map(ServiceTierType::from));
    let output = send_by(deadline, call.send(), NOT_STARTED).await?;
    Ok(Upstream::invoke(output.body, family))
}

/// Applies the output-token cap to a Converse request.
fn cap_converse(app: &App, req: &mut ConverseRequest) {
    if let Some(cap) = app.config().max_output_tokens {
        let cap = i32::try_from(cap).unwrap_or(i32::MAX);
        let cfg = req.inference_config.get_or_insert_with(Default::default);
        cfg.max_tokens = Some(cfg.max_tokens.map_or(cap, |m| m.min(cap)));
    }
}

/// `ConverseStream` for a Converse request.
pub(crate) async fn converse_stream(
    app: &App,
    model_id: &str,
    mut req: ConverseRequest,
    request_id: &str,
    deadline: Instant,
) -> Result<Upstream, AppError> {
    cap_converse(app, &mut req);
    log_prompt(app, model_id, &req, request_id);
    let parts = convert::request(&req)?;
    let call = app
        .client
        .converse_stream()
        .model_id(model_id)
        .set_messages(parts.messages)
        .set_system(parts.system)
        .set_inference_config(parts.inference_config)
        .set_tool_config(parts.tool_config)
        .set_guardrail_config(parts.guardrail_stream_config)
        .set_additional_model_request_fields(parts.additional_model_request_fields)
        .set_prompt_variables(parts.prompt_variables)
        .set_additional_model_response_field_paths(parts.additional_model_response_field_paths)
        .set_request_metadata(parts.request_metadata)
        .set_performance_config(parts.performance_config)
        .set_service_tier(parts.service_tier)
        .set_output_config(parts.output_config);
    let out = send_by(deadline, call.send(), NOT_STARTED).await?;
    Ok(Upstream::converse(out.stream))
}

/// `Converse` (not streaming) for a Converse request.
pub(crate) async fn converse(
    app: &App,
    model_id: &str,
    mut req: ConverseRequest,
    request_id: &str,
    deadline: Instant,
) -> Result<ConverseOutput, AppError> {
    cap_converse(app, &mut req);
    log_prompt(app, model_id, &req, request_id);
    let parts = convert::request(&req)?;
    let call = app
        .client
        .converse()
        .model_id(model_id)
        .set_messages(parts.messages)
        .set_system(parts.system)
        .set_inference_config(parts.inference_config)
        .set_tool_config(parts.tool_config)
        .set_guardrail_config(parts.guardrail_config)
        .set_additional_model_request_fields(parts.additional_model_request_fields)
        .set_prompt_variables(parts.prompt_variables)
        .set_additional_model_response_field_paths(parts.additional_model_response_field_paths)
        .set_request_metadata(parts.request_metadata)
        .set_performance_config(parts.performance_config)
        .set_service_tier(parts.service_tier)
        .set_output_config(parts.output_config);
    send_by(
        deadline,
        call.send(),
        "Bedrock did not answer within the request timeout",
    )
    .await
}

fn log_prompt(app: &App, model_id: &str, req: &ConverseRequest, request_id: &str) {
    if app.config().log_prompts {
        let json = serde_json::to_string(req).unwrap_or_default();
        tracing::info!(request_id = %request_id, model_id = %model_id, request = %json, "prompt");
    }
}
