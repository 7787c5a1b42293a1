//! Request contracts: each module parses and validates one API's request body into what the
//! Bedrock call needs, and nothing else (no I/O, no SDK types).

pub(crate) mod converse;
pub(crate) mod openai;
pub(crate) mod seed;

use crate::error::AppError;

/// Parses a JSON body into `T`, with messages that say what is wrong (serde names the field).
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
