//! Every family in both directions: what the encoder writes, the decoder reads back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bedrock_families::{ChunkDecoder, Family, StopReason, Usage, ALL_FAMILIES};
use serde_json::{json, Value};

fn sample_body(f: Family) -> Value {
    match f {
        Family::AnthropicText => {
            json!({"prompt": "\n\nHuman: hi\n\nAssistant:", "max_tokens_to_sample": 50})
        }
        Family::AnthropicMessages => {
            json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
            "messages": [{"role": "user", "content": "hi"}]})
        }
        Family::Titan => json!({"inputText": "hi", "textGenerationConfig": {"maxTokenCount": 50}}),
        Family::Llama => json!({"prompt": "hi", "max_gen_len": 50}),
        Family::Mistral => json!({"prompt": "<s>[INST] hi [/INST]", "max_tokens": 50}),
        Family::MistralChat | Family::OpenAiChat => {
            json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 50})
        }
        Family::Cohere => json!({"prompt": "hi", "max_tokens": 50}),
        Family::CohereChat => json!({"message": "hi", "max_tokens": 50}),
        Family::Nova => {
            json!({"schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "inferenceConfig": {"max_new_tokens": 50}})
        }
        Family::OpenAiText => json!({"prompt": "hi", "max_tokens": 50}),
    }
}

#[test]
fn encoder_output_decodes_to_the_same_text_for_every_family() {
    let pieces = ["Hello", ", wor", "ld — ünï", "cödé ✓"];
    for f in ALL_FAMILIES {
        for stop in [
            StopReason::EndTurn,
            StopReason::MaxTokens,
            StopReason::StopSequence("END".into()),
        ] {
            let mut enc = f.encoder("test.model-v1");
            let mut chunks = enc.start(7);
            for p in pieces {
                chunks.extend(enc.delta(p, 2));
            }
            chunks.extend(enc.finish(
                &stop,
                Usage {
                    input_tokens: 7,
                    output_tokens: 8,
                    ..Usage::default()
                },
            ));
            let mut text = String::new();
            let mut stop_seen = None;
            let mut decoder = ChunkDecoder::new(f);
            for c in &chunks {
                let sniffed = if f == Family::MistralChat {
                    Family::OpenAiChat
                } else {
                    f
                };
                assert_eq!(Family::from_chunk(c), Some(sniffed), "{f:?} sniff {c}");
                let info = decoder.decode(c);
                assert!(info.recognised, "{f:?} {c}");
                text.push_str(&info.all_text());
                if info.stop_reason.is_some() {
                    stop_seen = info.stop_reason;
                }
            }
            assert_eq!(text, pieces.concat(), "{f:?}");
            assert!(stop_seen.is_some(), "{f:?} has a stop reason");
        }
    }
}

#[test]
fn non_streaming_bodies_decode() {
    for f in ALL_FAMILIES {
        let body = f.response_body(
            "m",
            "answer text",
            &StopReason::MaxTokens,
            Usage {
                input_tokens: 3,
                output_tokens: 2,
                ..Usage::default()
            },
        );
        let info = f.decode_response(&body);
        assert_eq!(info.all_text(), "answer text", "{f:?} {body}");
        assert!(info.stop_reason.is_some(), "{f:?}");
    }
}

#[test]
fn requests_parse_and_max_tokens_cap_applies_where_the_family_reads_it() {
    for f in ALL_FAMILIES {
        let mut body = sample_body(f);
        let (prompt, sampling) = f
            .parse_request(&body)
            .unwrap_or_else(|e| panic!("{f:?}: {e}"));
        assert_eq!(
            prompt.turns.last().map(|t| t.text()).as_deref(),
            Some("hi"),
            "{f:?}"
        );
        assert_eq!(sampling.max_tokens, Some(50), "{f:?}");
        f.cap_max_tokens(&mut body, 10).unwrap();
        assert_eq!(
            f.parse_request(&body).unwrap().1.max_tokens,
            Some(10),
            "{f:?}"
        );
        f.cap_max_tokens(&mut body, 99).unwrap();
        assert_eq!(
            f.parse_request(&body).unwrap().1.max_tokens,
            Some(10),
            "{f:?} never raised"
        );
        // Absent → set.
        let mut bare = json!({});
        f.cap_max_tokens(&mut bare, 5).unwrap();
        let mut node = &bare;
        for k in f.max_tokens_path() {
            node = &node[*k];
        }
        assert_eq!(node, &json!(5), "{f:?}");
    }
}

#[test]
fn validation_errors_are_bedrock_like() {
    let no_max = json!({"prompt": "\n\nHuman: hi\n\nAssistant:"});
    let e = Family::AnthropicText.parse_request(&no_max).unwrap_err();
    assert!(e.0.contains("max_tokens_to_sample"), "{e}");
    let bad_prompt = json!({"prompt": "hi", "max_tokens_to_sample": 5});
    let e = Family::AnthropicText
        .parse_request(&bad_prompt)
        .unwrap_err();
    assert!(e.0.contains("\n\nHuman:"), "{e}");
    let e = Family::Titan
        .parse_request(&json!({"inputText": 5}))
        .unwrap_err();
    assert!(e.0.contains("expected type: String"), "{e}");
    assert!(Family::Llama.parse_request(&json!([1])).is_err());
    assert!(Family::Nova
        .parse_request(&json!({"messages": []}))
        .is_err());
}

#[test]
fn families_from_ids() {
    let cases = [
        ("anthropic.claude-v2", Family::AnthropicText),
        ("anthropic.claude-instant-v1", Family::AnthropicText),
        ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", Family::AnthropicMessages),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", Family::AnthropicMessages),
        ("amazon.titan-text-express-v1", Family::Titan),
        ("amazon.titan-tg1-large", Family::Titan),
        ("eu.amazon.nova-pro-v1:0", Family::Nova),
        ("meta.llama3-70b-instruct-v1:0", Family::Llama),
        ("us.meta.llama3-2-1b-instruct-v1:0", Family::Llama),
        ("mistral.mistral-7b-instruct-v0:2", Family::Mistral),
        ("mistral.mistral-large-2407-v1:0", Family::MistralChat),
        ("cohere.command-text-v14", Family::Cohere),
        ("cohere.command-r-plus-v1:0", Family::CohereChat),
        ("ai21.jamba-1-5-large-v1:0", Family::OpenAiChat),
        ("us.deepseek.r1-v1:0", Family::OpenAiText),
        ("openai.gpt-oss-120b-1:0", Family::OpenAiChat),
        ("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2:1", Family::AnthropicText),
        ("arn:aws:bedrock:us-west-2:111122223333:inference-profile/us.meta.llama3-1-8b-instruct-v1:0", Family::Llama),
    ];
    for (id, f) in cases {
        assert_eq!(Family::from_model_id(id), Some(f), "{id}");
    }
    assert_eq!(
        Family::from_model_id("arn:aws:bedrock:us-east-1:1:application-inference-profile/x"),
        None
    );
    assert_eq!(Family::from_model_id("amazon.titan-embed-text-v2:0"), None);
    // Claude v2 with a Messages body is the Messages family.
    let body = json!({"anthropic_version": "bedrock-2023-05-31", "messages": [], "max_tokens": 1});
    assert_eq!(
        Family::for_request("anthropic.claude-v2", &body),
        Some(Family::AnthropicMessages)
    );
    assert_eq!(
        Family::for_request(
            "arn:aws:bedrock:us-east-1:1:imported-model/x",
            &json!({"prompt": "x", "max_gen_len": 3})
        ),
        Some(Family::Llama)
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Arbitrary JSON, a few levels deep.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            ".{0,40}".prop_map(Value::String),
            Just(json!("\n\nHuman:")),
            Just(json!("max_tokens")),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::hash_map(
                    prop_oneof![
                        Just("prompt".to_string()),
                        Just("messages".to_string()),
                        Just("max_tokens".to_string()),
                        Just("max_tokens_to_sample".to_string()),
                        Just("inputText".to_string()),
                        Just("textGenerationConfig".to_string()),
                        Just("inferenceConfig".to_string()),
                        Just("content".to_string()),
                        Just("role".to_string()),
                        Just("choices".to_string()),
                        ".{0,8}"
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Request parsing, capping and chunk decoding never panic on any JSON, whatever the family.
        #[test]
        fn parsers_take_any_json_without_panicking(v in json_value(), limit in 1u64..100_000) {
            for f in ALL_FAMILIES {
                let _ = f.parse_request(&v);
                let mut capped = v.clone();
                if f.cap_max_tokens(&mut capped, limit).is_ok() {
                    if let Ok((_, s)) = f.parse_request(&capped) {
                        prop_assert!(s.max_tokens.is_none_or(|m| u64::from(m) <= limit), "{f:?}");
                    }
                }
                let _ = f.decode_chunk(&v);
                let _ = f.decode_response(&v);
                let _ = Family::from_chunk(&v);
                let _ = Family::for_request("x", &v);
            }
        }

        #[test]
        fn model_ids_never_panic(id in ".{0,80}") {
            let _ = Family::from_model_id(&id);
            let _ = bedrock_families::ModelId::parse(&id).provider();
        }
    }
}
