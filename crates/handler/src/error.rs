//! One error type for the whole handler: it knows its HTTP status and writes the documented
//! JSON body `{"error": {"type": "...", "message": "..."}}`.

use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
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
            ErrorKind::ModelNotReady | ErrorKind::ServiceUnavailable => {
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
            ErrorKind::Throttled | ErrorKind::TooManyStreams => Some(1),
            ErrorKind::ModelNotReady | ErrorKind::ServiceUnavailable => Some(5),
            _ => None,
        }
    }

    /// Maps a Bedrock error code (`ThrottlingException`, …) to a kind.
    pub fn from_bedrock_code(code: Option<&str>) -> ErrorKind {
        match code.unwrap_or("") {
            "ValidationException" | "ConflictException" => ErrorKind::Validation,
            "AccessDeniedException"
            | "UnrecognizedClientException"
            | "ExpiredTokenException"
            | "InvalidSignatureException" => ErrorKind::AccessDenied,
            "ResourceNotFoundException" => ErrorKind::ModelNotFound,
            "ThrottlingException"
            | "ServiceQuotaExceededException"
            | "TooManyRequestsException" => ErrorKind::Throttled,
            "ModelNotReadyException" => ErrorKind::ModelNotReady,
            "ModelTimeoutException" => ErrorKind::ModelTimeout,
            "ModelErrorException" => ErrorKind::ModelError,
            "ModelStreamErrorException" => ErrorKind::ModelStreamError,
            "ServiceUnavailableException" => ErrorKind::ServiceUnavailable,
            _ => ErrorKind::BedrockInternal,
        }
    }
}

/// An error with a message the client may read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct AppError {
    pub kind: ErrorKind,
    pub message: String,
}

impl AppError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        AppError {
            kind,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        AppError::new(ErrorKind::BadRequest, message)
    }

    /// Classifies any SDK error: service errors by their Bedrock code, transport failures as
    /// network errors or timeouts.
    pub fn from_sdk<E, R>(err: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        match err {
            SdkError::ServiceError(se) => {
                let e = se.err();
                let kind = ErrorKind::from_bedrock_code(e.code());
                let message = e
                    .message()
                    .map(str::to_string)
                    .unwrap_or_else(|| e.code().unwrap_or("Bedrock error").to_string());
                AppError::new(kind, message)
            }
            SdkError::TimeoutError(_) => {
                AppError::new(ErrorKind::UpstreamTimeout, "Bedrock did not answer in time")
            }
            SdkError::DispatchFailure(d) => {
                let what = if d.is_timeout() {
                    ErrorKind::UpstreamTimeout
                } else {
                    ErrorKind::Network
                };
                AppError::new(what, format!("cannot reach Bedrock: {}", error_chain(err)))
            }
            SdkError::ResponseError(_) => AppError::new(
                ErrorKind::Network,
                format!("unreadable response from Bedrock: {}", error_chain(err)),
            ),
            SdkError::ConstructionFailure(_) => AppError::new(
                ErrorKind::Internal,
                format!("cannot build the Bedrock request: {}", error_chain(err)),
            ),
            _ => AppError::new(ErrorKind::BedrockInternal, error_chain(err)),
        }
    }

    /// Classifies an error that arrived inside a stream. The SDK reads in-stream exceptions
    /// into typed variants but leaves their error code empty, so the variant decides.
    pub fn from_stream<E, R>(
        err: &SdkError<E, R>,
        code_of: impl Fn(&E) -> Option<&'static str>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let mut app = AppError::from_sdk(err);
        if let SdkError::ServiceError(se) = err {
            if let Some(code) = code_of(se.err()) {
                app.kind = ErrorKind::from_bedrock_code(Some(code));
            }
        }
        app
    }

    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"type": self.kind.as_str(), "message": self.message}})
    }
}

/// Awaits one SDK call until `deadline`: a service or transport failure is classified by
/// [`AppError::from_sdk`], running out of time is `UpstreamTimeout` with `timeout_message`.
pub(crate) async fn send_by<T, E, R>(
    deadline: std::time::Instant,
    call: impl std::future::Future<Output = Result<T, SdkError<E, R>>>,
    timeout_message: &str,
) -> Result<T, AppError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match tokio::time::timeout_at(deadline.into(), call).await {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(AppError::from_sdk(&e)),
        Err(_) => Err(AppError::new(ErrorKind::UpstreamTimeout, timeout_message)),
    }
}

/// The error and its sources, joined, for messages that must say why.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let s_str = s.to_string();
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
