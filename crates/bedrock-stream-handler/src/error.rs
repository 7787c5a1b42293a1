//! One error type for the whole handler: it knows its HTTP status and writes the documented
//! JSON body `{"error": {"type": "...", "message": "..."}}`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The kinds of failure a client can see, each with one status and one `type` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    NotFound,
    MethodNotAllowed,
    ModelNotAllowed,
    Unauthorized,
    TooManyStreams,
    /// The client did not send its request in time (`serve`'s read timeouts).
    RequestTimeout,
    /// The server holds as many unauthenticated bytes or connections as it allows.
    ServerBusy,
    // Bedrock's errors.
    Validation,
    AccessDenied,
    ModelNotFound,
    Throttled,
    ModelNotReady,
    ModelTimeout,
    ModelError,
    ModelStreamError,
    ServiceUnavailable,
    BedrockInternal,
    Network,
    UpstreamTimeout,
    IdleTimeout,
    Internal,
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::BadRequest | ErrorKind::Validation => StatusCode::BAD_REQUEST,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::NotFound | ErrorKind::ModelNotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::ModelNotAllowed | ErrorKind::AccessDenied | ErrorKind::Unauthorized => {
                StatusCode::FORBIDDEN
            }
            ErrorKind::Throttled | ErrorKind::TooManyStreams => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorKind::ModelNotReady | ErrorKind::ServiceUnavailable | ErrorKind::ServerBusy => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorKind::ModelTimeout | ErrorKind::UpstreamTimeout | ErrorKind::IdleTimeout => {
                StatusCode::GATEWAY_TIMEOUT
            }
            ErrorKind::ModelError
            | ErrorKind::ModelStreamError
            | ErrorKind::BedrockInternal
            | ErrorKind::Network => StatusCode::BAD_GATEWAY,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `type` string clients match on.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::UnsupportedMediaType => "unsupported_media_type",
            ErrorKind::NotFound => "not_found",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::ModelNotAllowed => "model_not_allowed",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::TooManyStreams => "too_many_streams",
            ErrorKind::RequestTimeout => "request_timeout",
            ErrorKind::ServerBusy => "server_busy",
            ErrorKind::Validation => "validation_error",
            ErrorKind::AccessDenied => "access_denied",
            ErrorKind::ModelNotFound => "model_not_found",
            ErrorKind::Throttled => "throttled",
            ErrorKind::ModelNotReady => "model_not_ready",
            ErrorKind::ModelTimeout => "model_timeout",
            ErrorKind::ModelError => "model_error",
            ErrorKind::ModelStreamError => "model_stream_error",
            ErrorKind::ServiceUnavailable => "service_unavailable",
            ErrorKind::BedrockInternal => "bedrock_internal_error",
            ErrorKind::Network => "network_error",
            ErrorKind::UpstreamTimeout => "upstream_timeout",
            ErrorKind::IdleTimeout => "idle_timeout",
            ErrorKind::Internal => "internal_error",
        }
    }

    /// Seconds a client should wait before retrying, where retrying helps.
    pub fn retry_after(self) -> Option<u32> {
        match self {
            ErrorKind::Throttled | ErrorKind::TooManyStreams | ErrorKind::ServerBusy => Some(1),
            ErrorKind::ModelNotReady | ErrorKind::ServiceUnavailable => Some(5),
            _ => None,
        }
    }
}

/// An error with a message the client may read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct AppError {
    pub kind: ErrorKind,
    pub message: String,
    /// Where the message stands in for details kept out of the reply (see
    /// `bedrock::errors`), the id under which the server logged them; sent as
    /// `error.request_id`.
    pub request_id: Option<String>,
}

impl AppError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        AppError {
            kind,
            message: message.into(),
            request_id: None,
        }
    }

    /// The same error, carrying the id its details were logged under.
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        AppError::new(ErrorKind::BadRequest, message)
    }

    pub fn body(&self) -> serde_json::Value {
        match &self.request_id {
            None => json!({"error": {"type": self.kind.as_str(), "message": self.message}}),
            Some(id) => json!({"error": {
                "type": self.kind.as_str(), "message": self.message, "request_id": id
            }}),
        }
    }
}

/// The error and its sources, joined, for messages that must say why.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let s_str = s.to_string();
        // Some SDK errors print the whole request they could not send, body (the prompt)
        // included; that link adds nothing the others do not say, and must reach no client and
        // no log.
        if s_str.contains("SdkBody") {
            source = s.source();
            continue;
        }
        if !out.contains(&s_str) {
            out.push_str(": ");
            out.push_str(&s_str);
        }
        source = s.source();
    }
    out
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut response = (self.kind.status(), axum::Json(self.body())).into_response();
        if let Some(secs) = self.kind.retry_after() {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(secs));
        }
        response
    }
}
