//! Model identifiers checked as Bedrock checks them: the service model's length and pattern
//! constraints on the `modelId` path parameter, then the catalog (unknown ids, ids served only
//! through an inference profile, models that cannot converse or stream).

use std::sync::OnceLock;

use bedrock_families::catalog::{self, ModelInfo};
use bedrock_families::{ModelId, ModelIdKind};

use crate::error::BedrockError;

/// The four runtime operations, as far as model checks differ between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Invoke,
    InvokeStream,
    Converse,
    ConverseStream,
}

impl Operation {
    pub(crate) fn streaming(self) -> bool {
        matches!(self, Operation::InvokeStream | Operation::ConverseStream)
    }

    pub(crate) fn converse(self) -> bool {
        matches!(self, Operation::Converse | Operation::ConverseStream)
    }
}

/// `ConversationalModelId.pattern` (Converse, ConverseStream), verbatim from botocore's
/// `data/bedrock-runtime/2023-09-30/service-2.json` (botocore 1.43.11).
const CONVERSATIONAL_MODEL_ID: &str = r"(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:(([0-9]{12}:custom-model/[a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}/[a-z0-9]{12})|(:foundation-model/[a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.:]?[a-z0-9-]{1,63}))|([0-9]{12}:imported-model/[a-z0-9]{12})|([0-9]{12}:provisioned-model/[a-z0-9]{12})|([0-9]{12}:custom-model-deployment/[a-z0-9]{12})|([0-9]{12}:(inference-profile|application-inference-profile)/[a-zA-Z0-9-:.]+)))|([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.:]?[a-z0-9-]{1,63}))|(([0-9a-zA-Z][_-]?)+)|([a-zA-Z0-9-:.]+)|(^(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:prompt/[0-9a-zA-Z]{10}(?::[0-9]{1,5})?))$|(^arn:aws:sagemaker:[a-z0-9-]+:[0-9]{12}:endpoint/[a-zA-Z0-9-]+$)|(^arn:aws(-[^:]+)?:bedrock:([0-9a-z-]{1,20}):([0-9]{12}):(default-)?prompt-router/[a-zA-Z0-9-:.]+$)";

/// `InvokeModelIdentifier.pattern` (InvokeModel, InvokeModelWithResponseStream), same source.
const INVOKE_MODEL_IDENTIFIER: &str = r"(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:(([0-9]{12}:custom-model/[a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}/[a-z0-9]{12})|(:foundation-model/[a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.:]?[a-z0-9-]{1,63}))|([0-9]{12}:imported-model/[a-z0-9]{12})|([0-9]{12}:provisioned-model/[a-z0-9]{12})|([0-9]{12}:custom-model-deployment/[a-z0-9]{12})|([0-9]{12}:(inference-profile|application-inference-profile)/[a-zA-Z0-9-:.]+)))|([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.:]?[a-z0-9-]{1,63}))|(([0-9a-zA-Z][_-]?)+)|([a-zA-Z0-9-:.]+)$|(^(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:prompt/[0-9a-zA-Z]{10}(?::[0-9]{1,5})?))$|(^arn:aws:sagemaker:[a-z0-9-]+:[0-9]{12}:endpoint/[a-zA-Z0-9-]+$)|(^arn:aws(-[^:]+)?:bedrock:([0-9a-z-]{1,20}):([0-9]{12}):(default-)?prompt-router/[a-zA-Z0-9-:.]+$)";

/// Both shapes: `"min": 1, "max": 2048`.
const MAX_MODEL_ID_LEN: usize = 2048;

/// The pattern compiled for a whole-value match: the service rejects `anthropic.claude-v2:1:200k`
/// under an older pattern whose alternatives match substrings of it
/// (tests/fixtures/errors/model-id-pattern.json), so the constraint holds for the whole value.
fn full_match(
    pattern: &'static str,
    cell: &'static OnceLock<Option<fancy_regex::Regex>>,
) -> Option<&'static fancy_regex::Regex> {
    cell.get_or_init(|| fancy_regex::Regex::new(&format!("^(?:{pattern})$")).ok())
        .as_ref()
}

fn matches_pattern(model_id: &str, op: Operation) -> bool {
    static CONVERSE: OnceLock<Option<fancy_regex::Regex>> = OnceLock::new();
    static INVOKE: OnceLock<Option<fancy_regex::Regex>> = OnceLock::new();
    let re = if op.converse() {
        full_match(CONVERSATIONAL_MODEL_ID, &CONVERSE)
    } else {
        full_match(INVOKE_MODEL_IDENTIFIER, &INVOKE)
    };
    // A pattern that failed to compile would be a bug caught by the tests; refuse nothing then.
    re.is_none_or(|re| re.is_match(model_id).unwrap_or(false))
}

fn pattern_of(op: Operation) -> &'static str {
    if op.converse() {
        CONVERSATIONAL_MODEL_ID
    } else {
        INVOKE_MODEL_IDENTIFIER
    }
}

/// Coral's constraint message, as in tests/fixtures/errors/model-id-pattern.json.
fn constraint(model_id: &str, what: &str) -> BedrockError {
    BedrockError::Validation(format!(
        "1 validation error detected: Value '{model_id}' at 'modelId' failed to satisfy constraint: {what}"
    ))
}

/// tests/fixtures/errors/invalid-model-identifier-*.json.
pub(crate) fn invalid_identifier() -> BedrockError {
    BedrockError::Validation("The provided model identifier is invalid.".into())
}

/// Checks a model id for an operation. `Ok(Some(model))` for a catalog model, `Ok(None)` for an
/// identifier that names no model by itself (application inference profiles, provisioned,
/// custom and imported models, prompts): their family comes from the request body.
pub(crate) fn resolve(
    model_id: &str,
    op: Operation,
) -> Result<Option<&'static ModelInfo>, BedrockError> {
    if model_id.is_empty() {
        return Err(constraint(
            model_id,
            "Member must have length greater than or equal to 1",
        ));
    }
    if model_id.chars().count() > MAX_MODEL_ID_LEN {
        return Err(constraint(
            model_id,
            "Member must have length less than or equal to 2048",
        ));
    }
    if !matches_pattern(model_id, op) {
        return Err(constraint(
            model_id,
            &format!(
                "Member must satisfy regular expression pattern: {}",
                pattern_of(op)
            ),
        ));
    }
    let id = ModelId::parse(model_id);
    let info = match id.kind {
        ModelIdKind::ApplicationInferenceProfile | ModelIdKind::Opaque => {
            return if model_id.starts_with("arn:") {
                Ok(None)
            } else {
                Err(invalid_identifier())
            };
        }
        ModelIdKind::FoundationModel | ModelIdKind::InferenceProfile => {
            catalog::lookup(model_id).ok_or_else(invalid_identifier)?
        }
    };
    if info.profile_only && id.kind == ModelIdKind::FoundationModel {
        // tests/fixtures/errors/on-demand-throughput-not-supported.json (U+2019 in isn’t).
        return Err(BedrockError::Validation(format!(
            "Invocation of model ID {} with on-demand throughput isn\u{2019}t supported. Retry your request with the ID or ARN of an inference profile that contains this model.",
            info.id
        )));
    }
    if op.converse() && !info.capabilities.converse {
        // Approximation: the message Bedrock gives when Converse is called with a model that
        // does not chat (not in the recorded fixtures).
        return Err(BedrockError::Validation(
            "This action doesn't support the model that you provided. Try again with a supported text or chat model.".into(),
        ));
    }
    if op.streaming() && !info.capabilities.streaming {
        // tests/fixtures/errors/model-unsupported-for-streaming.json.
        return Err(BedrockError::Validation(
            "The model is unsupported for streaming.".into(),
        ));
    }
    Ok(Some(info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_compile_and_match_whole_values() {
        for op in [Operation::Invoke, Operation::Converse] {
            for good in [
                "anthropic.claude-v2",
                "us.anthropic.claude-3-5-haiku-20241022-v1:0",
                "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123def",
                "acme.unknown-model-v1",
            ] {
                assert!(matches_pattern(good, op), "{good}");
            }
            for bad in ["../../admin", "a b", "x/y", "anthropic.claude-v2?x=1", "é"] {
                assert!(!matches_pattern(bad, op), "{bad}");
            }
        }
    }

    #[test]
    fn ids_resolve_as_bedrock_resolves_them() {
        let msg =
            |r: Result<Option<&ModelInfo>, BedrockError>| r.unwrap_err().message().to_string();
        assert!(msg(resolve("../../admin", Operation::Converse)).starts_with(
            "1 validation error detected: Value '../../admin' at 'modelId' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:aws(-[^:]+)?:bedrock:"
        ));
        assert_eq!(
            msg(resolve("acme.unknown-model-v1", Operation::Invoke)),
            "The provided model identifier is invalid."
        );
        assert_eq!(
            msg(resolve("admin", Operation::Converse)),
            "The provided model identifier is invalid."
        );
        assert!(msg(resolve(
            "anthropic.claude-sonnet-4-20250514-v1:0",
            Operation::ConverseStream
        ))
        .contains("with on-demand throughput isn\u{2019}t supported"));
        assert!(resolve(
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            Operation::ConverseStream
        )
        .unwrap()
        .is_some());
        assert!(resolve(
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc",
            Operation::Converse
        )
        .unwrap()
        .is_none());
        assert!(resolve("anthropic.claude-v2", Operation::InvokeStream)
            .unwrap()
            .is_some());
        let long = "a".repeat(2049);
        assert!(msg(resolve(&long, Operation::Invoke))
            .ends_with("Member must have length less than or equal to 2048"));
    }
}
