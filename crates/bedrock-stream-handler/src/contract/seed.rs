//! `POST /`: the seed pattern's request contract, `{"bedrockParams": {...}, "modelParams":
//! {...}}`: the model's own InvokeModel body plus the call's parameters.

use serde::Deserialize;
use serde_json::Value;

use super::parse_json;
use crate::error::AppError;

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
    pub service_tier: Option<String>,
}

/// Reads and checks a seed request body.
pub(crate) fn parse(body: &[u8]) -> Result<SeedRequest, AppError> {
    let req: SeedRequest = parse_json(body)?;
    if !req.model_params.is_object() {
        return Err(AppError::bad_request("modelParams must be a JSON object"));
    }
    Ok(req)
}
