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

/// Applies the output-token cap to a Converse request: `inferenceConfig.maxTokens`, and the
/// max-tokens keys of the model's family in `additionalModelRequestFields` (a family's native
/// name such as Nova's `inferenceConfig.max_new_tokens` would otherwise slip past the cap).
/// Keys that are absent are not added: Bedrock refuses fields a model does not know.
fn cap_converse(app: &App, model_id: &str, req: &mut ConverseRequest) -> Result<(), AppError> {
    let Some(cap) = app.config().max_output_tokens else {
        return Ok(());
    };
    let cap32 = i32::try_from(cap).unwrap_or(i32::MAX);
    let cfg = req.inference_config.get_or_insert_with(Default::default);
    cfg.max_tokens = Some(cfg.max_tokens.map_or(cap32, |m| m.min(cap32)));
    if let Some(fields) = req.additional_model_request_fields.as_mut() {
        cap_additional_fields(model_id, fields, cap)?;
    }
    Ok(())
}

/// Lowers every max-tokens key the model's family knows (every family's, when the model id
/// names none) that `fields` carries above `cap`.
pub(crate) fn cap_additional_fields(
    model_id: &str,
    fields: &mut Value,
    cap: u64,
) -> Result<(), AppError> {
    let families: Vec<Family> = match Family::from_model_id(model_id) {
        Some(f) => vec![f],
        None => bedrock_families::ALL_FAMILIES.to_vec(),
    };
    let mut paths: Vec<&[&str]> = families.iter().map(|f| f.max_tokens_path()).collect();
    // OpenAI-shaped bodies may use the newer name (`Family::cap_max_tokens` does the same).
    if families
        .iter()
        .any(|f| matches!(f, Family::OpenAiChat | Family::MistralChat))
    {
        paths.push(&["max_completion_tokens"]);
    }
    for path in paths {
        let Some((last, parents)) = path.split_last() else {
            continue;
        };
        let mut node = Some(&mut *fields);
        for key in parents {
            node = node.and_then(|n| n.get_mut(*key));
        }
        let Some(slot) = node.and_then(|n| n.get_mut(*last)) else {
            continue;
        };
        if slot.is_null() {
            continue;
        }
        let current = slot.as_f64().ok_or_else(|| {
            AppError::bad_request(format!(
                "additionalModelRequestFields.{}: must be a number",
                path.join(".")
            ))
        })?;
        if current > cap as f64 {
            *slot = Value::from(cap);
        }
    }
    Ok(())
}

/// `ConverseStream` for a Converse request.
pub(crate) async fn converse_stream(
    app: &App,
    model_id: &str,
    mut req: ConverseRequest,
    request_id: &str,
    deadline: Instant,
) -> Result<Upstream, AppError> {
    cap_converse(app, model_id, &mut req)?;
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
    cap_converse(app, model_id, &mut req)?;
    if req
        .guardrail_config
        .as_ref()
        .is_some_and(|g| g.stream_processing_mode.is_some())
    {
        // Converse's GuardrailConfiguration has no such member; it only means something to
        // ConverseStream.
        return Err(AppError::bad_request(
            "guardrailConfig.streamProcessingMode applies to streamed answers only; remove it or ask for a stream (format=sse, ndjson or text)",
        ));
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use serde_json::json;

    #[test]
    fn additional_fields_max_tokens_keys_are_capped_for_the_family() {
        let mut f = json!({"inferenceConfig": {"max_new_tokens": 5000, "topK": 20}});
        cap_additional_fields("us.amazon.nova-pro-v1:0", &mut f, 100).unwrap();
        assert_eq!(
            f,
            json!({"inferenceConfig": {"max_new_tokens": 100, "topK": 20}})
        );

        let mut f =
            json!({"max_tokens": 50, "thinking": {"type": "enabled", "budget_tokens": 2000}});
        cap_additional_fields("us.anthropic.claude-sonnet-4-20250514-v1:0", &mut f, 100).unwrap();
        assert_eq!(f["max_tokens"], 50, "below the cap: left alone");

        let mut f = json!({"max_tokens": 5000});
        cap_additional_fields("us.anthropic.claude-sonnet-4-20250514-v1:0", &mut f, 100).unwrap();
        assert_eq!(f, json!({"max_tokens": 100}));

        // Absent keys are not added (Bedrock refuses fields a model does not take).
        let mut f = json!({"top_k": 3});
        cap_additional_fields("meta.llama3-8b-instruct-v1:0", &mut f, 100).unwrap();
        assert_eq!(f, json!({"top_k": 3}));

        let mut f = json!({"max_completion_tokens": 900});
        cap_additional_fields("openai.gpt-oss-120b-1:0", &mut f, 100).unwrap();
        assert_eq!(f, json!({"max_completion_tokens": 100}));

        // An id that names no family: every family's keys are checked.
        let mut f = json!({"max_gen_len": 900, "max_tokens": 1});
        cap_additional_fields("arn:aws:bedrock:us-east-1:1:imported-model/x", &mut f, 100).unwrap();
        assert_eq!(f, json!({"max_gen_len": 100, "max_tokens": 1}));

        let mut f = json!({"max_tokens": "lots"});
        let e = cap_additional_fields("us.anthropic.claude-sonnet-4-20250514-v1:0", &mut f, 100)
            .unwrap_err();
        assert_eq!(
            e.message,
            "additionalModelRequestFields.max_tokens: must be a number"
        );
    }
}
