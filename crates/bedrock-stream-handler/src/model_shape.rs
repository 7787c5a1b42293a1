//! Model ids are checked for shape before any Bedrock call: a base model id
//! (`anthropic.claude-v2:1`), an inference-profile id (`us.anthropic.claude-…`), an ARN
//! (foundation model, inference profile, application inference profile, provisioned, custom or
//! imported model, prompt, prompt router, SageMaker endpoint), or a plain name.
//!
//! The pattern is `InvokeModelIdentifier.pattern` verbatim from botocore 1.43.11
//! (`botocore/data/bedrock-runtime/2023-09-30/service-2.json`; `ConversationalModelId` differs
//! only by one `$`, which a whole-value match makes moot), matched against the whole id, as the
//! service does (it refuses `anthropic.claude-v2:1:200k` under an older version of the pattern
//! whose alternatives match parts of it: crates/bedrock-families/tests/fixtures/errors/model-id-pattern.json).
//! Length 1 to 2048, as the shape says.

use std::sync::OnceLock;

use crate::error::AppError;

const INVOKE_MODEL_IDENTIFIER: &str = r"(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:(([0-9]{12}:custom-model/[a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}/[a-z0-9]{12})|(:foundation-model/[a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.:]?[a-z0-9-]{1,63}))|([0-9]{12}:imported-model/[a-z0-9]{12})|([0-9]{12}:provisioned-model/[a-z0-9]{12})|([0-9]{12}:custom-model-deployment/[a-z0-9]{12})|([0-9]{12}:(inference-profile|application-inference-profile)/[a-zA-Z0-9-:.]+)))|([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.:]?[a-z0-9-]{1,63}))|(([0-9a-zA-Z][_-]?)+)|([a-zA-Z0-9-:.]+)$|(^(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:prompt/[0-9a-zA-Z]{10}(?::[0-9]{1,5})?))$|(^arn:aws:sagemaker:[a-z0-9-]+:[0-9]{12}:endpoint/[a-zA-Z0-9-]+$)|(^arn:aws(-[^:]+)?:bedrock:([0-9a-z-]{1,20}):([0-9]{12}):(default-)?prompt-router/[a-zA-Z0-9-:.]+$)";

const MAX_LEN: usize = 2048;

fn pattern() -> Option<&'static regex_lite::Regex> {
    static RE: OnceLock<Option<regex_lite::Regex>> = OnceLock::new();
    RE.get_or_init(|| regex_lite::Regex::new(&format!("^(?:{INVOKE_MODEL_IDENTIFIER})$")).ok())
        .as_ref()
}

/// Whether `id` has the shape of a Bedrock model identifier.
pub(crate) fn is_model_id(id: &str) -> bool {
    // The pattern is a constant checked by the tests; were it ever to fail to compile, the
    // length check still stands and Bedrock checks the rest.
    !id.is_empty() && id.len() <= MAX_LEN && pattern().is_none_or(|re| re.is_match(id))
}

/// A 400 naming what is wrong, before anything is sent to Bedrock.
pub(crate) fn check(id: &str) -> Result<(), AppError> {
    if is_model_id(id) {
        return Ok(());
    }
    let shown: String = id.chars().take(100).collect();
    Err(AppError::bad_request(format!(
        "model id `{}` is not a Bedrock model id: expected a base model id (anthropic.claude-3-haiku-20240307-v1:0), an inference-profile id (us.anthropic.claude-3-haiku-20240307-v1:0) or an ARN",
        shown.escape_default()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_compiles() {
        assert!(pattern().is_some());
    }

    #[test]
    fn real_ids_pass() {
        for id in [
            "anthropic.claude-v2",
            "anthropic.claude-v2:1",
            "anthropic.claude-3-5-haiku-20241022-v1:0",
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "global.anthropic.claude-sonnet-4-20250514-v1:0",
            "us-gov.anthropic.claude-3-haiku-20240307-v1:0",
            "amazon.titan-text-express-v1",
            "amazon.nova-2-lite-v1:0",
            "meta.llama3-1-8b-instruct-v1:0",
            "mistral.mistral-7b-instruct-v0:2",
            "openai.gpt-oss-120b-1:0",
            "arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-8b-instruct-v1:0",
            "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.mistral.pixtral-large-2502-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6",
            "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdefghijkl",
            "arn:aws:bedrock:us-east-1:123456789012:imported-model/abcdefghijkl",
            "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:inference-profile/us-gov.x.y:0",
            "arn:aws:sagemaker:us-east-1:123456789012:endpoint/my-endpoint",
            "my_provisioned-name",
        ] {
            assert!(is_model_id(id), "{id}");
            assert!(check(id).is_ok());
        }
    }

    #[test]
    fn other_shapes_are_refused() {
        for id in [
            "",
            " anthropic.claude-v2",
            "anthropic.claude-v2\n",
            "anthropic/claude",
            "../../model/x/invoke",
            "anthropic.claude-v2?x=1",
            "anthropic.claude-v2#",
            "anthropic claude",
            "arn:aws:bedrock:us-east-1:123456789012:unknown-type/x",
            "arn:aws:iam::123456789012:role/x",
            "modèle",
            "a.b%2Fc",
        ] {
            assert!(!is_model_id(id), "{id:?}");
            let e = check(id).unwrap_err();
            assert_eq!(e.kind.status(), 400);
            assert!(
                e.message.contains("is not a Bedrock model id"),
                "{}",
                e.message
            );
        }
        assert!(!is_model_id(&"a".repeat(2049)));
    }
}
