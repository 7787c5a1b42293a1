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

/// Classifies any SDK error. What reaches the caller:
/// - Bedrock's validation messages, word for word: they say how to fix the request;
/// - for access-denied and credential errors (their messages name roles, users and account ids)
///   and for transport failures (their error chains name hosts, addresses and proxies), a
///   message of our own with the stable error type and an id under which the original is
///   logged ([`withheld`]);
/// - other service messages (throttling, model errors, …) with any ARN or 12-digit account id
///   replaced ([`scrub`]).
pub(crate) fn from_sdk<E, R>(err: &SdkError<E, R>) -> AppError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            // Bedrock answers an unknown model id with a ValidationException of this text
            // (crates/bedrock-families/tests/fixtures/errors/invalid-model-identifier-*.json).
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
            match kind {
                ErrorKind::Validation => AppError::new(kind, message),
                ErrorKind::AccessDenied => withheld(
                    kind,
                    "Bedrock refused the server's AWS credentials or permissions for this call",
                    e.code(),
                    &message,
                ),
                _ => {
                    let scrubbed = scrub(&message);
                    if scrubbed != message {
                        withheld(kind, &scrubbed, e.code(), &message)
                    } else {
                        AppError::new(kind, message)
                    }
                }
            }
        }
        SdkError::TimeoutError(_) => {
            AppError::new(ErrorKind::UpstreamTimeout, "Bedrock did not answer in time")
        }
        SdkError::DispatchFailure(d) => {
            let (kind, public) = if d.is_timeout() {
                (ErrorKind::UpstreamTimeout, "Bedrock did not answer in time")
            } else {
                (ErrorKind::Network, "cannot reach Bedrock")
            };
            withheld(kind, public, None, &error_chain(err))
        }
        SdkError::ResponseError(_) => withheld(
            ErrorKind::Network,
            "unreadable response from Bedrock",
            None,
            &error_chain(err),
        ),
        SdkError::ConstructionFailure(_) => withheld(
            ErrorKind::Internal,
            "cannot build the Bedrock request",
            None,
            &error_chain(err),
        ),
        _ => withheld(
            ErrorKind::BedrockInternal,
            "the Bedrock call failed",
            None,
            &error_chain(err),
        ),
    }
}

/// Our own message in place of one that may name accounts, roles, hosts or addresses: the
/// original goes to the log (error chains never include the request body: see
/// [`error_chain`]) under a fresh id, which the caller gets too.
pub(crate) fn withheld(
    kind: ErrorKind,
    public: &str,
    code: Option<&str>,
    original: &str,
) -> AppError {
    let id = uuid::Uuid::new_v4().to_string();
    tracing::warn!(
        error_id = %id,
        error_type = kind.as_str(),
        bedrock_code = code.unwrap_or(""),
        original = %original,
        "Bedrock call failed; the details are withheld from the caller"
    );
    AppError::new(
        kind,
        format!("{public} (details in the server log under request id {id})"),
    )
    .with_request_id(id)
}

/// Replaces ARNs (`arn:…` up to a quote, space or comma) and 12-digit account ids.
pub(crate) fn scrub(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("arn:") {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | ',' | ')' | ']'))
            .unwrap_or(tail.len());
        out.push_str("<arn>");
        rest = &tail[end..];
    }
    out.push_str(rest);
    // 12 digits standing alone (an account id).
    let bytes = out.as_bytes();
    let mut result = String::with_capacity(out.len());
    let mut i = 0;
    while i < bytes.len() {
        let run = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if run == 0 {
            let ch_len = out[i..].chars().next().map_or(1, char::len_utf8);
            result.push_str(&out[i..i + ch_len]);
            i += ch_len;
        } else {
            if run == 12 {
                result.push_str("<account>");
            } else {
                result.push_str(&out[i..i + run]);
            }
            i += run;
        }
    }
    result
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_arns_and_account_ids() {
        assert_eq!(
            scrub("User: arn:aws:sts::123456789012:assumed-role/r/s is not authorized"),
            "User: <arn> is not authorized"
        );
        assert_eq!(
            scrub("account 123456789012, not 1234567890123 nor 12345"),
            "account <account>, not 1234567890123 nor 12345"
        );
        assert_eq!(
            scrub("Too many requests, please wait before trying your request again."),
            "Too many requests, please wait before trying your request again."
        );
        assert_eq!(scrub("profile 'arn:aws:bedrock:x'"), "profile '<arn>'");
    }
}
