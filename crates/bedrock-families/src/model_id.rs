//! Model identifiers as Bedrock accepts them: base model ids, cross-region inference-profile ids
//! (`us.`, `eu.`, `apac.`, `global.` …) and ARNs of foundation models, inference profiles,
//! application inference profiles, provisioned, custom and imported models.

/// Geography prefixes of system-defined (cross-region) inference profiles.
pub const PROFILE_PREFIXES: [&str; 8] = ["us", "us-gov", "eu", "apac", "global", "jp", "au", "ca"];

/// What kind of resource a model identifier names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelIdKind {
    /// `anthropic.claude-v2`, or its `foundation-model/` ARN.
    FoundationModel,
    /// `us.anthropic.claude-3-haiku-…`, or its `inference-profile/` ARN.
    InferenceProfile,
    /// `application-inference-profile/…`: the id says nothing about the model.
    ApplicationInferenceProfile,
    /// Provisioned throughput, custom, imported models, or anything else opaque.
    Opaque,
}

/// A parsed model identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelId<'a> {
    pub raw: &'a str,
    pub kind: ModelIdKind,
    /// The ARN's region, when the id is an ARN.
    pub region: Option<&'a str>,
    /// The geography prefix of a cross-region inference profile.
    pub geo: Option<&'a str>,
    base: Option<&'a str>,
}

impl<'a> ModelId<'a> {
    pub fn parse(raw: &'a str) -> ModelId<'a> {
        let raw_trimmed = raw.trim();
        let (region, resource) = match raw_trimmed.strip_prefix("arn:") {
            Some(rest) => {
                // partition:service:region:account:resource-type/resource-id
                let mut parts = rest.splitn(5, ':');
                let _partition = parts.next();
                let _service = parts.next();
                let region = parts.next().filter(|r| !r.is_empty());
                let _account = parts.next();
                match parts.next() {
                    Some(resource) => (region, Some(resource)),
                    None => (region, None),
                }
            }
            None => (None, None),
        };
        let (kind, id) = match resource {
            None if region.is_some() || raw_trimmed.starts_with("arn:") => {
                (ModelIdKind::Opaque, None)
            }
            None => (ModelIdKind::FoundationModel, Some(raw_trimmed)),
            Some(res) => match res.split_once('/') {
                Some(("foundation-model", id)) => (ModelIdKind::FoundationModel, Some(id)),
                Some(("inference-profile", id)) => (ModelIdKind::InferenceProfile, Some(id)),
                Some(("application-inference-profile", _)) => {
                    (ModelIdKind::ApplicationInferenceProfile, None)
                }
                _ => (ModelIdKind::Opaque, None),
            },
        };
        let mut parsed = ModelId {
            raw,
            kind,
            region,
            geo: None,
            base: None,
        };
        if let Some(id) = id {
            match id.split_once('.') {
                Some((prefix, rest)) if PROFILE_PREFIXES.contains(&prefix) => {
                    parsed.kind = ModelIdKind::InferenceProfile;
                    parsed.geo = Some(prefix);
                    parsed.base = Some(rest);
                }
                _ => parsed.base = Some(id),
            }
        }
        parsed
    }

    /// The foundation model id this identifier resolves to (`anthropic.claude-v2:1`), if the
    /// identifier says.
    pub fn base(&self) -> Option<&'a str> {
        self.base.filter(|b| b.contains('.'))
    }

    /// The provider (`anthropic`, `meta`, …), if the identifier says.
    pub fn provider(&self) -> Option<&'a str> {
        self.base().and_then(|b| b.split('.').next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let cases: [(&str, ModelIdKind, Option<&str>, Option<&str>); 9] = [
            (
                "anthropic.claude-v2",
                ModelIdKind::FoundationModel,
                Some("anthropic.claude-v2"),
                None,
            ),
            (
                "anthropic.claude-v2:1",
                ModelIdKind::FoundationModel,
                Some("anthropic.claude-v2:1"),
                None,
            ),
            (
                "us.anthropic.claude-3-5-haiku-20241022-v1:0",
                ModelIdKind::InferenceProfile,
                Some("anthropic.claude-3-5-haiku-20241022-v1:0"),
                Some("us"),
            ),
            (
                "global.anthropic.claude-sonnet-4-20250514-v1:0",
                ModelIdKind::InferenceProfile,
                Some("anthropic.claude-sonnet-4-20250514-v1:0"),
                Some("global"),
            ),
            (
                "apac.amazon.nova-lite-v1:0",
                ModelIdKind::InferenceProfile,
                Some("amazon.nova-lite-v1:0"),
                Some("apac"),
            ),
            (
                "arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-8b-instruct-v1:0",
                ModelIdKind::FoundationModel,
                Some("meta.llama3-8b-instruct-v1:0"),
                None,
            ),
            (
                "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.mistral.pixtral-large-2502-v1:0",
                ModelIdKind::InferenceProfile,
                Some("mistral.pixtral-large-2502-v1:0"),
                Some("eu"),
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3",
                ModelIdKind::ApplicationInferenceProfile,
                None,
                None,
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:imported-model/abc",
                ModelIdKind::Opaque,
                None,
                None,
            ),
        ];
        for (raw, kind, base, geo) in cases {
            let id = ModelId::parse(raw);
            assert_eq!(id.kind, kind, "{raw}");
            assert_eq!(id.base(), base, "{raw}");
            assert_eq!(id.geo, geo, "{raw}");
        }
        assert_eq!(
            ModelId::parse("arn:aws:bedrock:us-east-1::foundation-model/a.b").region,
            Some("us-east-1")
        );
    }

    #[test]
    fn garbage_is_opaque_not_a_panic() {
        for raw in [
            "",
            "arn:",
            "arn:aws",
            ":::",
            "nodot",
            "us.",
            "arn:aws:bedrock:x:y:z",
        ] {
            let id = ModelId::parse(raw);
            assert!(id.base().is_none() || id.base() == Some(raw), "{raw}");
        }
    }
}
