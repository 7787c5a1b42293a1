//! `ConverseTrace` / `ConverseStreamTrace` (guardrail assessments, prompt router) → Bedrock's
//! JSON. Member names as botocore's `bedrock-runtime` 2023-09-30 model spells them
//! (`GuardrailTraceAssessment`: `modelOutput`, `inputAssessment`, `outputAssessments`,
//! `actionReason`; `GuardrailAssessment` and every nested policy assessment).

use std::collections::HashMap;

use aws_sdk_bedrockruntime::types as sdk;
use serde_json::{json, Map, Value};

use crate::bedrock::convert::object;

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

fn opt_s(v: &Option<String>) -> Option<Value> {
    v.as_deref().map(s)
}

fn list<T>(items: &[T], f: impl Fn(&T) -> Value) -> Value {
    Value::Array(items.iter().map(f).collect())
}

fn opt_list<T>(items: &Option<Vec<T>>, f: impl Fn(&T) -> Value) -> Option<Value> {
    items.as_deref().map(|i| list(i, f))
}

fn topic(t: &sdk::GuardrailTopic) -> Value {
    object([
        ("name", Some(s(&t.name))),
        ("type", Some(s(t.r#type.as_str()))),
        ("action", Some(s(t.action.as_str()))),
        ("detected", t.detected.map(Value::Bool)),
    ])
}

fn content_filter(f: &sdk::GuardrailContentFilter) -> Value {
    object([
        ("type", Some(s(f.r#type.as_str()))),
        ("confidence", Some(s(f.confidence.as_str()))),
        (
            "filterStrength",
            f.filter_strength.as_ref().map(|x| s(x.as_str())),
        ),
        ("action", Some(s(f.action.as_str()))),
        ("detected", f.detected.map(Value::Bool)),
    ])
}

fn custom_word(w: &sdk::GuardrailCustomWord) -> Value {
    object([
        ("match", Some(s(&w.r#match))),
        ("action", Some(s(w.action.as_str()))),
        ("detected", w.detected.map(Value::Bool)),
    ])
}

fn managed_word(w: &sdk::GuardrailManagedWord) -> Value {
    object([
        ("match", Some(s(&w.r#match))),
        ("type", Some(s(w.r#type.as_str()))),
        ("action", Some(s(w.action.as_str()))),
        ("detected", w.detected.map(Value::Bool)),
    ])
}

fn pii(p: &sdk::GuardrailPiiEntityFilter) -> Value {
    object([
        ("match", Some(s(&p.r#match))),
        ("type", Some(s(p.r#type.as_str()))),
        ("action", Some(s(p.action.as_str()))),
        ("detected", p.detected.map(Value::Bool)),
    ])
}

fn regex(r: &sdk::GuardrailRegexFilter) -> Value {
    object([
        ("name", opt_s(&r.name)),
        ("match", opt_s(&r.r#match)),
        ("regex", opt_s(&r.regex)),
        ("action", Some(s(r.action.as_str()))),
        ("detected", r.detected.map(Value::Bool)),
    ])
}

fn grounding(f: &sdk::GuardrailContextualGroundingFilter) -> Value {
    object([
        ("type", Some(s(f.r#type.as_str()))),
        ("threshold", Some(json!(f.threshold))),
        ("score", Some(json!(f.score))),
        ("action", Some(s(f.action.as_str()))),
        ("detected", f.detected.map(Value::Bool)),
    ])
}

fn statement(st: &sdk::GuardrailAutomatedReasoningStatement) -> Value {
    object([
        ("logic", opt_s(&st.logic)),
        ("naturalLanguage", opt_s(&st.natural_language)),
    ])
}

fn translation(t: &sdk::GuardrailAutomatedReasoningTranslation) -> Value {
    let text_ref =
        |r: &sdk::GuardrailAutomatedReasoningInputTextReference| object([("text", opt_s(&r.text))]);
    object([
        ("premises", opt_list(&t.premises, statement)),
        ("claims", opt_list(&t.claims, statement)),
        (
            "untranslatedPremises",
            opt_list(&t.untranslated_premises, text_ref),
        ),
        (
            "untranslatedClaims",
            opt_list(&t.untranslated_claims, text_ref),
        ),
        ("confidence", t.confidence.map(|c| json!(c))),
    ])
}

fn scenario(sc: &sdk::GuardrailAutomatedReasoningScenario) -> Value {
    object([("statements", opt_list(&sc.statements, statement))])
}

fn rule(r: &sdk::GuardrailAutomatedReasoningRule) -> Value {
    object([
        ("identifier", opt_s(&r.identifier)),
        ("policyVersionArn", opt_s(&r.policy_version_arn)),
    ])
}

fn logic_warning(w: &sdk::GuardrailAutomatedReasoningLogicWarning) -> Value {
    object([
        ("type", w.r#type.as_ref().map(|t| s(t.as_str()))),
        ("premises", opt_list(&w.premises, statement)),
        ("claims", opt_list(&w.claims, statement)),
    ])
}

fn finding(f: &sdk::GuardrailAutomatedReasoningFinding) -> Value {
    use sdk::GuardrailAutomatedReasoningFinding as F;
    match f {
        F::Valid(v) => json!({"valid": object([
            ("translation", v.translation.as_ref().map(translation)),
            ("claimsTrueScenario", v.claims_true_scenario.as_ref().map(scenario)),
            ("supportingRules", opt_list(&v.supporting_rules, rule)),
            ("logicWarning", v.logic_warning.as_ref().map(logic_warning)),
        ])}),
        F::Invalid(v) => json!({"invalid": object([
            ("translation", v.translation.as_ref().map(translation)),
            ("contradictingRules", opt_list(&v.contradicting_rules, rule)),
            ("logicWarning", v.logic_warning.as_ref().map(logic_warning)),
        ])}),
        F::Satisfiable(v) => json!({"satisfiable": object([
            ("translation", v.translation.as_ref().map(translation)),
            ("claimsTrueScenario", v.claims_true_scenario.as_ref().map(scenario)),
            ("claimsFalseScenario", v.claims_false_scenario.as_ref().map(scenario)),
            ("logicWarning", v.logic_warning.as_ref().map(logic_warning)),
        ])}),
        F::Impossible(v) => json!({"impossible": object([
            ("translation", v.translation.as_ref().map(translation)),
            ("contradictingRules", opt_list(&v.contradicting_rules, rule)),
            ("logicWarning", v.logic_warning.as_ref().map(logic_warning)),
        ])}),
        F::TranslationAmbiguous(v) => json!({"translationAmbiguous": object([
            ("options", opt_list(&v.options, |o| object([
                ("translations", opt_list(&o.translations, translation)),
            ]))),
            ("differenceScenarios", opt_list(&v.difference_scenarios, scenario)),
        ])}),
        F::TooComplex(_) => json!({"tooComplex": {}}),
        F::NoTranslations(_) => json!({"noTranslations": {}}),
        _ => json!({"unknown": "GuardrailAutomatedReasoningFinding"}),
    }
}

fn invocation_metrics(m: &sdk::GuardrailInvocationMetrics) -> Value {
    let usage = m.usage.as_ref().map(|u| {
        object([
            ("topicPolicyUnits", Some(json!(u.topic_policy_units))),
            ("contentPolicyUnits", Some(json!(u.content_policy_units))),
            ("wordPolicyUnits", Some(json!(u.word_policy_units))),
            (
                "sensitiveInformationPolicyUnits",
                Some(json!(u.sensitive_information_policy_units)),
            ),
            (
                "sensitiveInformationPolicyFreeUnits",
                Some(json!(u.sensitive_information_policy_free_units)),
            ),
            (
                "contextualGroundingPolicyUnits",
                Some(json!(u.contextual_grounding_policy_units)),
            ),
            (
                "contentPolicyImageUnits",
                u.content_policy_image_units.map(Value::from),
            ),
            (
                "automatedReasoningPolicyUnits",
                u.automated_reasoning_policy_units.map(Value::from),
            ),
            (
                "automatedReasoningPolicies",
                u.automated_reasoning_policies.map(Value::from),
            ),
        ])
    });
    let coverage = m.guardrail_coverage.as_ref().map(|c| {
        object([
            (
                "textCharacters",
                c.text_characters.as_ref().map(|t| {
                    object([
                        ("guarded", t.guarded.map(Value::from)),
                        ("total", t.total.map(Value::from)),
                    ])
                }),
            ),
            (
                "images",
                c.images.as_ref().map(|t| {
                    object([
                        ("guarded", t.guarded.map(Value::from)),
                        ("total", t.total.map(Value::from)),
                    ])
                }),
            ),
        ])
    });
    object([
        (
            "guardrailProcessingLatency",
            m.guardrail_processing_latency.map(Value::from),
        ),
        ("usage", usage),
        ("guardrailCoverage", coverage),
    ])
}

fn applied(d: &sdk::AppliedGuardrailDetails) -> Value {
    object([
        ("guardrailId", opt_s(&d.guardrail_id)),
        ("guardrailVersion", opt_s(&d.guardrail_version)),
        ("guardrailArn", opt_s(&d.guardrail_arn)),
        (
            "guardrailOrigin",
            opt_list(&d.guardrail_origin, |o| s(o.as_str())),
        ),
        (
            "guardrailOwnership",
            d.guardrail_ownership.as_ref().map(|o| s(o.as_str())),
        ),
    ])
}

/// One `GuardrailAssessment`.
pub(crate) fn assessment(a: &sdk::GuardrailAssessment) -> Value {
    object([
        (
            "topicPolicy",
            a.topic_policy
                .as_ref()
                .map(|p| json!({"topics": list(&p.topics, topic)})),
        ),
        (
            "contentPolicy",
            a.content_policy
                .as_ref()
                .map(|p| json!({"filters": list(&p.filters, content_filter)})),
        ),
        (
            "wordPolicy",
            a.word_policy.as_ref().map(|p| {
                json!({
                    "customWords": list(&p.custom_words, custom_word),
                    "managedWordLists": list(&p.managed_word_lists, managed_word),
                })
            }),
        ),
        (
            "sensitiveInformationPolicy",
            a.sensitive_information_policy.as_ref().map(|p| {
                json!({
                    "piiEntities": list(&p.pii_entities, pii),
                    "regexes": list(&p.regexes, regex),
                })
            }),
        ),
        (
            "contextualGroundingPolicy",
            a.contextual_grounding_policy
                .as_ref()
                .map(|p| object([("filters", opt_list(&p.filters, grounding))])),
        ),
        (
            "automatedReasoningPolicy",
            a.automated_reasoning_policy
                .as_ref()
                .map(|p| object([("findings", opt_list(&p.findings, finding))])),
        ),
        (
            "invocationMetrics",
            a.invocation_metrics.as_ref().map(invocation_metrics),
        ),
        (
            "appliedGuardrailDetails",
            a.applied_guardrail_details.as_ref().map(applied),
        ),
    ])
}

fn assessment_map(m: &HashMap<String, sdk::GuardrailAssessment>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), assessment(v)))
            .collect::<Map<_, _>>(),
    )
}

/// `GuardrailTraceAssessment`.
pub(crate) fn guardrail(g: &sdk::GuardrailTraceAssessment) -> Value {
    object([
        ("modelOutput", opt_list(&g.model_output, |o| s(o))),
        (
            "inputAssessment",
            g.input_assessment.as_ref().map(assessment_map),
        ),
        (
            "outputAssessments",
            g.output_assessments.as_ref().map(|m| {
                Value::Object(
                    m.iter()
                        .map(|(k, v)| (k.clone(), list(v, assessment)))
                        .collect::<Map<_, _>>(),
                )
            }),
        ),
        ("actionReason", opt_s(&g.action_reason)),
    ])
}

fn prompt_router(p: &sdk::PromptRouterTrace) -> Value {
    object([("invokedModelId", opt_s(&p.invoked_model_id))])
}

/// `ConverseStreamTrace` (metadata event).
pub(crate) fn stream_trace(t: &sdk::ConverseStreamTrace) -> Value {
    object([
        ("guardrail", t.guardrail.as_ref().map(guardrail)),
        ("promptRouter", t.prompt_router.as_ref().map(prompt_router)),
    ])
}

/// `ConverseTrace` (Converse response).
pub(crate) fn converse_trace(t: &sdk::ConverseTrace) -> Value {
    object([
        ("guardrail", t.guardrail.as_ref().map(guardrail)),
        ("promptRouter", t.prompt_router.as_ref().map(prompt_router)),
    ])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn a_guardrail_trace_with_every_policy() {
        let a = sdk::GuardrailAssessment::builder()
            .topic_policy(
                sdk::GuardrailTopicPolicyAssessment::builder()
                    .topics(
                        sdk::GuardrailTopic::builder()
                            .name("investing")
                            .r#type(sdk::GuardrailTopicType::Deny)
                            .action(sdk::GuardrailTopicPolicyAction::Blocked)
                            .detected(true)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .content_policy(
                sdk::GuardrailContentPolicyAssessment::builder()
                    .filters(
                        sdk::GuardrailContentFilter::builder()
                            .r#type(sdk::GuardrailContentFilterType::Insults)
                            .confidence(sdk::GuardrailContentFilterConfidence::High)
                            .filter_strength(sdk::GuardrailContentFilterStrength::Medium)
                            .action(sdk::GuardrailContentPolicyAction::Blocked)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .word_policy(
                sdk::GuardrailWordPolicyAssessment::builder()
                    .custom_words(
                        sdk::GuardrailCustomWord::builder()
                            .r#match("darn")
                            .action(sdk::GuardrailWordPolicyAction::Blocked)
                            .build()
                            .unwrap(),
                    )
                    .managed_word_lists(
                        sdk::GuardrailManagedWord::builder()
                            .r#match("heck")
                            .r#type(sdk::GuardrailManagedWordType::Profanity)
                            .action(sdk::GuardrailWordPolicyAction::None)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .sensitive_information_policy(
                sdk::GuardrailSensitiveInformationPolicyAssessment::builder()
                    .pii_entities(
                        sdk::GuardrailPiiEntityFilter::builder()
                            .r#match("a@b.c")
                            .r#type(sdk::GuardrailPiiEntityType::Email)
                            .action(sdk::GuardrailSensitiveInformationPolicyAction::Anonymized)
                            .build()
                            .unwrap(),
                    )
                    .regexes(
                        sdk::GuardrailRegexFilter::builder()
                            .name("order")
                            .r#match("#123")
                            .regex("#\\d+")
                            .action(sdk::GuardrailSensitiveInformationPolicyAction::Blocked)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .contextual_grounding_policy(
                sdk::GuardrailContextualGroundingPolicyAssessment::builder()
                    .filters(
                        sdk::GuardrailContextualGroundingFilter::builder()
                            .r#type(sdk::GuardrailContextualGroundingFilterType::Grounding)
                            .threshold(0.75)
                            .score(0.5)
                            .action(sdk::GuardrailContextualGroundingPolicyAction::Blocked)
                            .detected(true)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .automated_reasoning_policy(
                sdk::GuardrailAutomatedReasoningPolicyAssessment::builder()
                    .findings(sdk::GuardrailAutomatedReasoningFinding::Invalid(
                        sdk::GuardrailAutomatedReasoningInvalidFinding::builder()
                            .translation(
                                sdk::GuardrailAutomatedReasoningTranslation::builder()
                                    .claims(
                                        sdk::GuardrailAutomatedReasoningStatement::builder()
                                            .logic("(= x 1)")
                                            .natural_language("x is one")
                                            .build(),
                                    )
                                    .confidence(0.9)
                                    .build(),
                            )
                            .contradicting_rules(
                                sdk::GuardrailAutomatedReasoningRule::builder()
                                    .identifier("r1")
                                    .build(),
                            )
                            .build(),
                    ))
                    .findings(sdk::GuardrailAutomatedReasoningFinding::TooComplex(
                        sdk::GuardrailAutomatedReasoningTooComplexFinding::builder().build(),
                    ))
                    .build(),
            )
            .invocation_metrics(
                sdk::GuardrailInvocationMetrics::builder()
                    .guardrail_processing_latency(120)
                    .usage(
                        sdk::GuardrailUsage::builder()
                            .topic_policy_units(1)
                            .content_policy_units(2)
                            .word_policy_units(3)
                            .sensitive_information_policy_units(4)
                            .sensitive_information_policy_free_units(5)
                            .contextual_grounding_policy_units(6)
                            .build()
                            .unwrap(),
                    )
                    .guardrail_coverage(
                        sdk::GuardrailCoverage::builder()
                            .text_characters(
                                sdk::GuardrailTextCharactersCoverage::builder()
                                    .guarded(10)
                                    .total(12)
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .applied_guardrail_details(
                sdk::AppliedGuardrailDetails::builder()
                    .guardrail_id("gr-1")
                    .guardrail_version("2")
                    .guardrail_origin(sdk::GuardrailOrigin::Request)
                    .guardrail_ownership(sdk::GuardrailOwnership::SelfValue)
                    .build(),
            )
            .build();
        let trace = sdk::ConverseStreamTrace::builder()
            .guardrail(
                sdk::GuardrailTraceAssessment::builder()
                    .model_output("raw model text")
                    .input_assessment("gr-1", a.clone())
                    .output_assessments("gr-1", vec![a])
                    .action_reason("Guardrail blocked.")
                    .build(),
            )
            .prompt_router(
                sdk::PromptRouterTrace::builder()
                    .invoked_model_id("arn:aws:bedrock:us-east-1::foundation-model/x")
                    .build(),
            )
            .build();
        let j = stream_trace(&trace);
        let want_assessment = json!({
            "topicPolicy": {"topics": [{"name": "investing", "type": "DENY",
                                         "action": "BLOCKED", "detected": true}]},
            "contentPolicy": {"filters": [{"type": "INSULTS", "confidence": "HIGH",
                                           "filterStrength": "MEDIUM", "action": "BLOCKED"}]},
            "wordPolicy": {
                "customWords": [{"match": "darn", "action": "BLOCKED"}],
                "managedWordLists": [{"match": "heck", "type": "PROFANITY", "action": "NONE"}]},
            "sensitiveInformationPolicy": {
                "piiEntities": [{"match": "a@b.c", "type": "EMAIL", "action": "ANONYMIZED"}],
                "regexes": [{"name": "order", "match": "#123", "regex": "#\\d+",
                             "action": "BLOCKED"}]},
            "contextualGroundingPolicy": {"filters": [{"type": "GROUNDING", "threshold": 0.75,
                "score": 0.5, "action": "BLOCKED", "detected": true}]},
            "automatedReasoningPolicy": {"findings": [
                {"invalid": {
                    "translation": {"claims": [{"logic": "(= x 1)", "naturalLanguage": "x is one"}],
                                    "confidence": 0.9},
                    "contradictingRules": [{"identifier": "r1"}]}},
                {"tooComplex": {}}]},
            "invocationMetrics": {
                "guardrailProcessingLatency": 120,
                "usage": {"topicPolicyUnits": 1, "contentPolicyUnits": 2, "wordPolicyUnits": 3,
                          "sensitiveInformationPolicyUnits": 4,
                          "sensitiveInformationPolicyFreeUnits": 5,
                          "contextualGroundingPolicyUnits": 6},
                "guardrailCoverage": {"textCharacters": {"guarded": 10, "total": 12}}},
            "appliedGuardrailDetails": {"guardrailId": "gr-1", "guardrailVersion": "2",
                                        "guardrailOrigin": ["REQUEST"],
                                        "guardrailOwnership": "SELF"}
        });
        assert_eq!(
            j,
            json!({
                "guardrail": {
                    "modelOutput": ["raw model text"],
                    "inputAssessment": {"gr-1": want_assessment},
                    "outputAssessments": {"gr-1": [want_assessment]},
                    "actionReason": "Guardrail blocked."
                },
                "promptRouter": {"invokedModelId": "arn:aws:bedrock:us-east-1::foundation-model/x"}
            })
        );
        let ct = sdk::ConverseTrace::builder()
            .prompt_router(
                sdk::PromptRouterTrace::builder()
                    .invoked_model_id("m")
                    .build(),
            )
            .build();
        assert_eq!(
            converse_trace(&ct),
            json!({"promptRouter": {"invokedModelId": "m"}})
        );
    }
}
