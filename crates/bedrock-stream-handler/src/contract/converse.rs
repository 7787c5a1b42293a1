//! `POST /converse`: the whole Bedrock Converse request, as Bedrock's JSON names it
//! ([`bedrock_families::converse::ConverseRequest`]), with `modelId` in the body. Unknown members
//! are refused by name.

use bedrock_families::converse::ConverseRequest;

use super::parse_json;
use crate::error::AppError;

/// Reads and checks a Converse request body.
pub(crate) fn parse(body: &[u8]) -> Result<ConverseRequest, AppError> {
    let req: ConverseRequest = parse_json(body)?;
    if let Some(m) = req.inference_config.as_ref().and_then(|c| c.max_tokens) {
        if m < 1 {
            return Err(AppError::bad_request(
                "inferenceConfig.maxTokens must be at least 1",
            ));
        }
    }
    Ok(req)
}
