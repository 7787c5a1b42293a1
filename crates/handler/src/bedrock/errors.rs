//! Bedrock's failures as the handler's errors: service errors by their Bedrock code, in-stream
//! exceptions by their event-stream variant, transport failures as network errors or timeouts.

use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::types::error::{ConverseStreamOutputError, ResponseStreamError};

use crate::error::{error_chain, AppError, ErrorKind};

/// Maps a Bedrock error code (`ThrottlingException`, …) to a kind.
pub(crate) fn kind_of(code: Option<&str>) -> ErrorKind {
    match code.unwrap_or("") {
        "ValidationException" | "ConflictException" => ErrorKind::Validation,
        "AccessDeniedException"
        | "UnrecognizedClientException"
        | "ExpiredTokenException"
        | "InvalidSignatureException" => ErrorKind::AccessDenied,
        "ResourceNotFoundException" => ErrorKind::ModelNotFound,
        "ThrottlingException" | "ServiceQuotaExceededException" | "TooManyRequestsException" => {
            ErrorKind::Throttled
        }
        "ModelNotReadyException" => ErrorKind::ModelNotReady,
        "ModelTimeoutException" => ErrorKind::ModelTimeout,
        "ModelErrorException" => ErrorKind::ModelError,
        "ModelStreamErrorException" => ErrorKind::ModelStreamError,
        "ServiceUnavailableException" => ErrorKind::ServiceUnavailable,
        _ => ErrorKind::BedrockInternal,
    }
}

/// Classifies any SDK error.
pub(crate) fn from_sdk<E, R>(err: &SdkError<E, R>) -> AppError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            // Bedrock answers an unknown model id with a ValidationException of this text
            // (crates/families/tests/fixtures/errors/invalid-model-identifier-*.json).
            let kind = match (e.code(), e.message()) {
                (
                    Some("ValidationException"),
                    Some("The provided model identifier is invalid."),
                ) => ErrorKind::ModelNotFound,
                (code, _) => kind_of(code),
            };
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

/// Classifies an error that arrived inside a stream. The SDK reads in-stream exceptions into
/// typed variants but leaves their error code empty, so the variant decides.
pub(crate) fn from_stream<E, R>(
    err: &SdkError<E, R>,
    code_of: impl Fn(&E) -> Option<&'static str>,
) -> AppError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let mut app = from_sdk(err);
    if let SdkError::ServiceError(se) = err {
        if let Some(code) = code_of(se.err()) {
            app.kind = kind_of(Some(code));
        }
    }
    app
}

pub(crate) fn invoke_stream_code(e: &ResponseStreamError) -> Option<&'static str> {
    Some(match e {
        ResponseStreamError::InternalServerException(_) => "InternalServerException",
        ResponseStreamError::ModelStreamErrorException(_) => "ModelStreamErrorException",
        ResponseStreamError::ValidationException(_) => "ValidationException",
        ResponseStreamError::ThrottlingException(_) => "ThrottlingException",
        ResponseStreamError::ModelTimeoutException(_) => "ModelTimeoutException",
        ResponseStreamError::ServiceUnavailableException(_) => "ServiceUnavailableException",
        _ => return None,
    })
}

pub(crate) fn converse_stream_code(e: &ConverseStreamOutputError) -> Option<&'static str> {
    Some(match e {
        ConverseStreamOutputError::InternalServerException(_) => "InternalServerException",
        ConverseStreamOutputError::ModelStreamErrorException(_) => "ModelStreamErrorException",
        ConverseStreamOutputError::ValidationException(_) => "ValidationException",
        ConverseStreamOutputError::ThrottlingException(_) => "ThrottlingException",
        ConverseStreamOutputError::ServiceUnavailableException(_) => "ServiceUnavailableException",
        _ => return None,
    })
}

/// Awaits one SDK call until `deadline`: a service or transport failure is classified by
/// [`from_sdk`], running out of time is `UpstreamTimeout` with `timeout_message`.
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
        Ok(Err(e)) => Err(from_sdk(&e)),
        Err(_) => Err(AppError::new(ErrorKind::UpstreamTimeout, timeout_message)),
    }
}
