//! Bedrock's errors, as the service sends them: the HTTP status, `X-Amzn-ErrorType`, a JSON body
//! with `message`, and, inside a stream, the exception frame's `:exception-type`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BedrockError {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    Throttling(String),
    #[error("{0}")]
    ModelTimeout(String),
    #[error("{0}")]
    ModelNotReady(String),
    #[error("{0}")]
    ModelError(String),
    #[error("{0}")]
    ModelStreamError(String),
    #[error("{0}")]
    ServiceQuotaExceeded(String),
    #[error("{0}")]
    ServiceUnavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl BedrockError {
    /// The shape name (`ValidationException`).
    pub fn type_name(&self) -> &'static str {
        match self {
            BedrockError::Validation(_) => "ValidationException",
            BedrockError::AccessDenied(_) => "AccessDeniedException",
            BedrockError::ResourceNotFound(_) => "ResourceNotFoundException",
            BedrockError::Throttling(_) => "ThrottlingException",
            BedrockError::ModelTimeout(_) => "ModelTimeoutException",
            BedrockError::ModelNotReady(_) => "ModelNotReadyException",
            BedrockError::ModelError(_) => "ModelErrorException",
            BedrockError::ModelStreamError(_) => "ModelStreamErrorException",
            BedrockError::ServiceQuotaExceeded(_) => "ServiceQuotaExceededException",
            BedrockError::ServiceUnavailable(_) => "ServiceUnavailableException",
            BedrockError::Internal(_) => "InternalServerException",
        }
    }

    /// The event-stream member name (`validationException`), used as `:exception-type`.
    pub fn stream_name(&self) -> &'static str {
        match self {
            BedrockError::Validation(_) => "validationException",
            BedrockError::AccessDenied(_) => "accessDeniedException",
            BedrockError::ResourceNotFound(_) => "resourceNotFoundException",
            BedrockError::Throttling(_) => "throttlingException",
            BedrockError::ModelTimeout(_) => "modelTimeoutException",
            BedrockError::ModelNotReady(_) => "modelNotReadyException",
            BedrockError::ModelError(_) => "modelErrorException",
            BedrockError::ModelStreamError(_) => "modelStreamErrorException",
            BedrockError::ServiceQuotaExceeded(_) => "serviceQuotaExceededException",
            BedrockError::ServiceUnavailable(_) => "serviceUnavailableException",
            BedrockError::Internal(_) => "internalServerException",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            BedrockError::Validation(_) | BedrockError::ServiceQuotaExceeded(_) => {
                StatusCode::BAD_REQUEST
            }
            BedrockError::AccessDenied(_) => StatusCode::FORBIDDEN,
            BedrockError::ResourceNotFound(_) => StatusCode::NOT_FOUND,
            BedrockError::ModelTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            BedrockError::Throttling(_) | BedrockError::ModelNotReady(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            BedrockError::ModelError(_) | BedrockError::ModelStreamError(_) => {
                StatusCode::FAILED_DEPENDENCY
            }
            BedrockError::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            BedrockError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            BedrockError::Validation(m)
            | BedrockError::AccessDenied(m)
            | BedrockError::ResourceNotFound(m)
            | BedrockError::Throttling(m)
            | BedrockError::ModelTimeout(m)
            | BedrockError::ModelNotReady(m)
            | BedrockError::ModelError(m)
            | BedrockError::ModelStreamError(m)
            | BedrockError::ServiceQuotaExceeded(m)
            | BedrockError::ServiceUnavailable(m)
            | BedrockError::Internal(m) => m,
        }
    }

    /// The JSON payload, as a body or inside an exception frame.
    pub fn payload(&self) -> serde_json::Value {
        match self {
            BedrockError::ModelStreamError(m) => json!({
                "message": m, "originalStatusCode": 500, "originalMessage": m
            }),
            BedrockError::ModelError(m) => json!({
                "message": m, "originalStatusCode": 500, "resourceName": "local-bedrock"
            }),
            other => json!({ "message": other.message() }),
        }
    }
}

impl IntoResponse for BedrockError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), axum::Json(self.payload())).into_response();
        let error_type = format!(
            "{}:http://internal.amazon.com/coral/com.amazon.bedrock/",
            self.type_name()
        );
        if let Ok(v) = HeaderValue::from_str(&error_type) {
            response.headers_mut().insert("x-amzn-errortype", v);
        }
        response
    }
}
