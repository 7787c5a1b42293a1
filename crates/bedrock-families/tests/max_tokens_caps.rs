//! `MAX_OUTPUT_TOKENS` with no gap: every max-tokens field a family reads is capped, not only
//! the first one found (issue 13 item 3).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bedrock_families::Family;
use serde_json::json;

#[test]
fn both_openai_names_are_capped_and_none_is_added_beside_one() {
    for f in [Family::OpenAiChat, Family::MistralChat] {
        let mut body = json!({"messages": [{"role": "user", "content": "hi"}],
            "max_completion_tokens": 5000, "max_tokens": 4000});
        f.cap_max_tokens(&mut body, 100).unwrap();
        assert_eq!(body["max_completion_tokens"], 100, "{f:?}");
        assert_eq!(body["max_tokens"], 100, "{f:?}");
        // What the family's own parser reads is capped too.
        assert_eq!(f.parse_request(&body).unwrap().1.max_tokens, Some(100));

        // Only the newer name: capped, and the older one is not added (OpenAI-shaped APIs
        // refuse both at once).
        let mut body = json!({"messages": [{"role": "user", "content": "hi"}],
            "max_completion_tokens": 5000});
        f.cap_max_tokens(&mut body, 100).unwrap();
        assert_eq!(body["max_completion_tokens"], 100);
        assert!(body.get("max_tokens").is_none(), "{body}");

        // Neither: the first name is set.
        let mut body = json!({"messages": [{"role": "user", "content": "hi"}]});
        f.cap_max_tokens(&mut body, 100).unwrap();
        assert_eq!(body["max_tokens"], 100);
        assert!(body.get("max_completion_tokens").is_none());
    }
}

#[test]
fn nova_caps_both_of_its_names() {
    let mut body = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "inferenceConfig": {"maxTokens": 9000, "max_new_tokens": 8000}});
    Family::Nova.cap_max_tokens(&mut body, 50).unwrap();
    assert_eq!(body["inferenceConfig"]["maxTokens"], 50);
    assert_eq!(body["inferenceConfig"]["max_new_tokens"], 50);
    // Only `maxTokens`: capped in place.
    let mut body = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "inferenceConfig": {"maxTokens": 9000}});
    Family::Nova.cap_max_tokens(&mut body, 50).unwrap();
    assert_eq!(body["inferenceConfig"], json!({"maxTokens": 50}));
    assert_eq!(
        Family::Nova.parse_request(&body).unwrap().1.max_tokens,
        Some(50)
    );
    // Lower values are kept.
    let mut body = json!({"inferenceConfig": {"maxTokens": 7}});
    Family::Nova.cap_max_tokens(&mut body, 50).unwrap();
    assert_eq!(body["inferenceConfig"]["maxTokens"], 7);
}

#[test]
fn a_cap_that_cannot_be_applied_is_an_error_not_a_gap() {
    // Nova's high reasoning effort needs maxTokens unset: a cap cannot be written.
    let mut body = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "reasoningConfig": {"type": "enabled", "maxReasoningEffort": "high"}});
    let e = Family::Nova.cap_max_tokens(&mut body, 50).unwrap_err();
    assert!(e.to_string().contains("MAX_OUTPUT_TOKENS"), "{e}");
    // A max-tokens field that is not a number.
    let mut body = json!({"max_completion_tokens": "lots"});
    assert!(Family::OpenAiChat.cap_max_tokens(&mut body, 5).is_err());
    // A body that is not an object.
    assert!(Family::Llama.cap_max_tokens(&mut json!([1]), 5).is_err());
}
