//! Converse requests and responses between Bedrock's JSON shapes
//! ([`bedrock_families::converse`]) and `aws-sdk-bedrockruntime`'s types.

use std::collections::HashMap;

use aws_sdk_bedrockruntime::types as sdk;
use aws_smithy_types::{Document, Number};
use bedrock_families::converse as cv;
use serde_json::Value;

use crate::error::AppError;

/// Every member of a Converse request, as the SDK's builders take them.
#[derive(Default)]
pub(crate) struct Parts {
    pub messages: Option<Vec<sdk::Message>>,
    pub system: Option<Vec<sdk::SystemContentBlock>>,
    pub inference_config: Option<sdk::InferenceConfiguration>,
    pub tool_config: Option<sdk::ToolConfiguration>,
    pub guardrail_config: Option<sdk::GuardrailConfiguration>,
    pub guardrail_stream_config: Option<sdk::GuardrailStreamConfiguration>,
    pub additional_model_request_fields: Option<Document>,
    pub prompt_variables: Option<HashMap<String, sdk::PromptVariableValues>>,
    pub additional_model_response_field_paths: Option<Vec<String>>,
    pub request_metadata: Option<HashMap<String, String>>,
    pub performance_config: Option<sdk::PerformanceConfiguration>,
    pub service_tier: Option<sdk::ServiceTier>,
    pub output_config: Option<sdk::OutputConfig>,
}

fn invalid(what: &str, e: impl std::fmt::Display) -> AppError {
    AppError::bad_request(format!("{what}: {e}"))
}

/// serde_json → Smithy `Document`.
pub(crate) fn to_document(v: &Value) -> Document {
    match v {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => Document::Number(if let Some(u) = n.as_u64() {
            Number::PosInt(u)
        } else if let Some(i) = n.as_i64() {
            Number::NegInt(i)
        } else {
            Number::Float(n.as_f64().unwrap_or(0.0))
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Array(a) => Document::Array(a.iter().map(to_document).collect()),
        Value::Object(o) => Document::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), to_document(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

/// Smithy `Document` → serde_json.
pub(crate) fn from_document(d: &Document) -> Value {
    match d {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        Document::String(s) => Value::String(s.clone()),
        Document::Array(a) => Value::Array(a.iter().map(from_document).collect()),
        Document::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), from_document(v)))
                .collect(),
        ),
    }
}

fn role(r: cv::ConversationRole) -> sdk::ConversationRole {
    match r {
        cv::ConversationRole::User => sdk::ConversationRole::User,
        cv::ConversationRole::Assistant => sdk::ConversationRole::Assistant,
    }
}

fn content_block(b: &cv::ContentBlock) -> Result<sdk::ContentBlock, AppError> {
    match b {
        cv::ContentBlock::Text(t) => Ok(sdk::ContentBlock::Text(t.clone())),
        other => Err(AppError::bad_request(format!(
            "content block `{}` is not supported yet",
            other.member_name()
        ))),
    }
}

fn system_block(b: &cv::SystemContentBlock) -> Result<sdk::SystemContentBlock, AppError> {
    match b {
        cv::SystemContentBlock::Text(t) => Ok(sdk::SystemContentBlock::Text(t.clone())),
        _ => Err(AppError::bad_request(
            "system block is not supported yet: send text",
        )),
    }
}

/// A Converse request's members as SDK values.
pub(crate) fn request(req: &cv::ConverseRequest) -> Result<Parts, AppError> {
    let mut parts = Parts::default();
    if let Some(messages) = &req.messages {
        let mut out = Vec::with_capacity(messages.len());
        for m in messages {
            let content = m
                .content
                .iter()
                .map(content_block)
                .collect::<Result<Vec<_>, _>>()?;
            out.push(
                sdk::Message::builder()
                    .role(role(m.role))
                    .set_content(Some(content))
                    .build()
                    .map_err(|e| invalid("messages", e))?,
            );
        }
        parts.messages = Some(out);
    }
    if let Some(system) = &req.system {
        parts.system = Some(
            system
                .iter()
                .map(system_block)
                .collect::<Result<Vec<_>, _>>()?,
        );
    }
    if let Some(c) = &req.inference_config {
        parts.inference_config = Some(
            sdk::InferenceConfiguration::builder()
                .set_max_tokens(c.max_tokens)
                .set_temperature(c.temperature)
                .set_top_p(c.top_p)
                .set_stop_sequences(c.stop_sequences.clone())
                .build(),
        );
    }
    if req.tool_config.is_some() {
        return Err(AppError::bad_request("toolConfig is not supported yet"));
    }
    if req.output_config.is_some() {
        return Err(AppError::bad_request("outputConfig is not supported yet"));
    }
    if let Some(g) = &req.guardrail_config {
        parts.guardrail_config = Some(
            sdk::GuardrailConfiguration::builder()
                .set_guardrail_identifier(g.guardrail_identifier.clone())
                .set_guardrail_version(g.guardrail_version.clone())
                .set_trace(g.trace.as_deref().map(sdk::GuardrailTrace::from))
                .build(),
        );
        parts.guardrail_stream_config = Some(
            sdk::GuardrailStreamConfiguration::builder()
                .set_guardrail_identifier(g.guardrail_identifier.clone())
                .set_guardrail_version(g.guardrail_version.clone())
                .set_trace(g.trace.as_deref().map(sdk::GuardrailTrace::from))
                .set_stream_processing_mode(
                    g.stream_processing_mode
                        .as_deref()
                        .map(sdk::GuardrailStreamProcessingMode::from),
                )
                .build(),
        );
    }
    parts.additional_model_request_fields = req
        .additional_model_request_fields
        .as_ref()
        .map(to_document);
    if let Some(vars) = &req.prompt_variables {
        parts.prompt_variables = Some(
            vars.iter()
                .map(|(k, cv::PromptVariableValues::Text(t))| {
                    (k.clone(), sdk::PromptVariableValues::Text(t.clone()))
                })
                .collect(),
        );
    }
    parts.additional_model_response_field_paths = req.additional_model_response_field_paths.clone();
    parts.request_metadata = req
        .request_metadata
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    if let Some(p) = &req.performance_config {
        parts.performance_config = Some(
            sdk::PerformanceConfiguration::builder()
                .set_latency(
                    p.latency
                        .as_deref()
                        .map(sdk::PerformanceConfigLatency::from),
                )
                .build(),
        );
    }
    if let Some(t) = &req.service_tier {
        parts.service_tier = Some(
            sdk::ServiceTier::builder()
                .r#type(sdk::ServiceTierType::from(t.kind.as_str()))
                .build()
                .map_err(|e| invalid("serviceTier", e))?,
        );
    }
    Ok(parts)
}
