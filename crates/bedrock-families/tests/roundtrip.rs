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

// ---------------------------------------------------------------------------------------------
// Tool use and reasoning, both directions
// ---------------------------------------------------------------------------------------------

mod agents {
    use super::*;
    use bedrock_families::{
        BlockEvent, BlockStart, Delta, Part, Reasoning, Role, Source, ToolChoice,
    };

    #[derive(Default, Debug)]
    struct Answer {
        text: String,
        reasoning: String,
        signature: String,
        redacted: Vec<Vec<u8>>,
        tools: Vec<(String, String, String)>,
        stop: Option<String>,
        stops: usize,
    }

    fn decode_all(f: Family, chunks: &[Value]) -> Answer {
        let mut d = ChunkDecoder::new(f);
        let mut a = Answer::default();
        let mut tool_index = Vec::new();
        for c in chunks {
            let info = d.decode(c);
            assert!(info.recognised, "{f:?}: {c}");
            if let Some(t) = &info.text {
                a.text.push_str(t);
            }
            for e in info.events {
                match e {
                    BlockEvent::Start {
                        index,
                        start: BlockStart::ToolUse { id, name },
                    } => {
                        tool_index.push(index);
                        a.tools.push((id, name, String::new()));
                    }
                    BlockEvent::Start { .. } => {}
                    BlockEvent::Delta { index, delta } => match delta {
                        Delta::Text(t) => a.text.push_str(&t),
                        Delta::ToolInput(s) => {
                            let k = tool_index.iter().position(|i| *i == index).unwrap();
                            a.tools[k].2.push_str(&s);
                        }
                        Delta::Reasoning(t) => a.reasoning.push_str(&t),
                        Delta::ReasoningSignature(s) => a.signature.push_str(&s),
                        Delta::RedactedReasoning(b) => a.redacted.push(b),
                        Delta::Citation(_) => {}
                    },
                    BlockEvent::Stop { .. } => a.stops += 1,
                }
            }
            if info.stop_reason.is_some() {
                a.stop = info.stop_reason;
            }
        }
        a
    }

    /// Reasoning (when the family carries it), text in pieces, then two tool calls whose input
    /// arrives in fragments.
    fn encode(f: Family, reasoning: bool) -> Vec<Value> {
        let mut enc = f.encoder("us.anthropic.claude-sonnet-4-20250514-v1:0");
        let mut out = enc.start(11);
        let mut index = 0;
        if reasoning {
            out.extend(enc.block_start(index, &BlockStart::Reasoning));
            for piece in ["Let me ", "think."] {
                out.extend(enc.block_delta(index, &Delta::Reasoning(piece.into()), 1));
            }
            if f == Family::AnthropicMessages {
                out.extend(enc.block_delta(index, &Delta::ReasoningSignature("c2ln".into()), 0));
            }
            out.extend(enc.block_stop(index));
            index += 1;
            if f == Family::AnthropicMessages {
                out.extend(enc.block_start(index, &BlockStart::Reasoning));
                out.extend(enc.block_delta(
                    index,
                    &Delta::RedactedReasoning(b"EtMFCkgI".to_vec()),
                    0,
                ));
                out.extend(enc.block_stop(index));
                index += 1;
            }
        }
        out.extend(enc.block_start(index, &BlockStart::Text));
        for piece in ["I'll check ", "the weather."] {
            out.extend(enc.block_delta(index, &Delta::Text(piece.into()), 1));
        }
        out.extend(enc.block_stop(index));
        for (k, city) in ["Paris", "Oslo"].into_iter().enumerate() {
            index += 1;
            let id = bedrock_families::new_tool_use_id(Some(f));
            out.extend(enc.block_start(
                index,
                &BlockStart::ToolUse {
                    id,
                    name: format!("weather_{k}"),
                },
            ));
            for frag in ["{\"ci", "ty\": \"", city, "\"}"] {
                out.extend(enc.block_delta(index, &Delta::ToolInput(frag.into()), 1));
            }
            out.extend(enc.block_stop(index));
        }
        out.extend(enc.finish(
            &StopReason::ToolUse,
            Usage {
                input_tokens: 11,
                output_tokens: 30,
                ..Usage::default()
            },
        ));
        out
    }

    #[test]
    fn tool_calls_round_trip_in_every_family_that_carries_them() {
        for f in [
            Family::AnthropicMessages,
            Family::Nova,
            Family::OpenAiChat,
            Family::MistralChat,
            Family::CohereChat,
        ] {
            let chunks = encode(f, false);
            let a = decode_all(f, &chunks);
            assert_eq!(a.text, "I'll check the weather.", "{f:?}");
            assert_eq!(a.tools.len(), 2, "{f:?}: {chunks:#?}");
            for (k, city) in ["Paris", "Oslo"].into_iter().enumerate() {
                assert_eq!(a.tools[k].1, format!("weather_{k}"), "{f:?}");
                let input: Value = serde_json::from_str(&a.tools[k].2).unwrap();
                assert_eq!(input, json!({"city": city}), "{f:?}");
            }
            assert_ne!(a.tools[0].0, a.tools[1].0, "{f:?}: ids differ");
            assert_eq!(a.stops, 3, "{f:?}: text and two tool blocks stop");
            let stop = a.stop.unwrap();
            assert!(
                ["tool_use", "tool_calls", "COMPLETE"].contains(&stop.as_str()),
                "{f:?}: {stop}"
            );
        }
    }

    #[test]
    fn reasoning_round_trips_where_the_family_carries_it() {
        for f in [Family::AnthropicMessages, Family::Nova, Family::OpenAiChat] {
            let chunks = encode(f, true);
            let a = decode_all(f, &chunks);
            assert_eq!(a.reasoning, "Let me think.", "{f:?}: {chunks:#?}");
            assert_eq!(a.text, "I'll check the weather.", "{f:?}");
            assert_eq!(a.tools.len(), 2, "{f:?}");
        }
        let a = decode_all(
            Family::AnthropicMessages,
            &encode(Family::AnthropicMessages, true),
        );
        assert_eq!(a.signature, "c2ln");
        assert_eq!(a.redacted, vec![b"EtMFCkgI".to_vec()]);
        // gpt-oss writes its reasoning into the content, inside tags.
        let chunks = encode(Family::OpenAiChat, true);
        let content: String = chunks
            .iter()
            .filter_map(|c| c.pointer("/choices/0/delta/content")?.as_str())
            .collect();
        assert!(
            content.starts_with("<reasoning>Let me think.</reasoning>I'll check"),
            "{content}"
        );
    }

    #[test]
    fn anthropic_thinking_stream_shape() {
        let chunks = encode(Family::AnthropicMessages, true);
        let types: Vec<String> = chunks
            .iter()
            .map(|c| {
                let t = c["type"].as_str().unwrap();
                let inner = c["content_block"]["type"]
                    .as_str()
                    .or(c["delta"]["type"].as_str())
                    .unwrap_or("");
                format!("{t}/{inner}")
            })
            .collect();
        assert_eq!(
            &types[..8],
            [
                "message_start/",
                "content_block_start/thinking",
                "content_block_delta/thinking_delta",
                "content_block_delta/thinking_delta",
                "content_block_delta/signature_delta",
                "content_block_stop/",
                "content_block_start/redacted_thinking",
                "content_block_stop/",
            ]
        );
        assert_eq!(chunks[6]["content_block"]["data"], "EtMFCkgI");
        assert_eq!(types.last().unwrap(), "message_stop/");
    }

    #[test]
    fn anthropic_requests_carry_images_tools_and_thinking() {
        let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
        let body = json!({
            "anthropic_version": "bedrock-2023-05-31", "max_tokens": 4096,
            "system": [{"type": "text", "text": "be brief"}],
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "tools": [{"name": "weather", "description": "d",
                       "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
            "tool_choice": {"type": "auto"},
            "messages": [
                {"role": "user", "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
                    {"type": "text", "text": "weather here?"}]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]}
            ]
        });
        let (p, s) = Family::AnthropicMessages.parse_request(&body).unwrap();
        assert_eq!(p.system.as_deref(), Some("be brief"));
        assert_eq!(p.thinking.unwrap().budget_tokens, 2048);
        assert_eq!(p.tools[0].name, "weather");
        assert_eq!(p.tool_choice, ToolChoice::Auto);
        assert_eq!(s.max_tokens, Some(4096));
        assert!(matches!(&p.turns[0].content[0],
            Part::Image(m) if m.format == "png"
                && matches!(&m.source, Source::Bytes(b) if b.starts_with(b"\x89PNG"))));
        assert!(matches!(&p.turns[1].content[0],
            Part::Reasoning(Reasoning::Text { text, signature: Some(s) }) if text == "hmm" && s == "sig"));
        assert!(matches!(&p.turns[1].content[1],
            Part::ToolUse(c) if c.id == "toolu_1" && c.input == json!({"city": "Paris"})));
        assert!(matches!(&p.turns[2].content[0],
            Part::ToolResult(r) if r.tool_use_id == "toolu_1"
                && r.content == vec![Part::Text("sunny".into())]));
        let mut bad = body.clone();
        bad["messages"][0]["content"][0]["type"] = json!("audio");
        let e = Family::AnthropicMessages.parse_request(&bad).unwrap_err();
        assert!(
            e.0.contains("messages.0.content.0.type") && e.0.contains("audio"),
            "{e}"
        );
        let mut bad = body.clone();
        bad["messages"][0]["content"][0]["source"]["data"] = json!("%%%");
        let e = Family::AnthropicMessages.parse_request(&bad).unwrap_err();
        assert!(e.0.contains("base64"), "{e}");
    }

    #[test]
    fn nova_requests_carry_images_tools_and_reasoning() {
        let body = json!({
            "schemaVersion": "messages-v1",
            "system": [{"text": "be brief"}],
            "toolConfig": {"tools": [{"toolSpec": {"name": "weather",
                "inputSchema": {"json": {"type": "object"}}}}], "toolChoice": {"any": {}}},
            "reasoningConfig": {"type": "enabled", "maxReasoningEffort": "medium"},
            "messages": [
                {"role": "user", "content": [
                    {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}},
                    {"text": "weather?"}]},
                {"role": "assistant", "content": [
                    {"toolUse": {"toolUseId": "t1", "name": "weather", "input": {"city": "Oslo"}}}]},
                {"role": "user", "content": [
                    {"toolResult": {"toolUseId": "t1", "content": [{"json": {"temp": 3}}], "status": "error"}}]}
            ],
            "inferenceConfig": {"max_new_tokens": 300}
        });
        let (p, s) = Family::Nova.parse_request(&body).unwrap();
        assert_eq!(p.system.as_deref(), Some("be brief"));
        assert_eq!(p.tool_choice, ToolChoice::Any);
        assert_eq!(p.thinking.unwrap().budget_tokens, 4096);
        assert_eq!(s.max_tokens, Some(300));
        assert!(matches!(&p.turns[0].content[0], Part::Image(m) if m.format == "png"));
        assert!(matches!(&p.turns[2].content[0],
            Part::ToolResult(r) if r.is_error && r.content == vec![Part::Json(json!({"temp": 3}))]));
        let mut bad = body.clone();
        bad["messages"][0]["content"][0] = json!({"picture": {}});
        let e = Family::Nova.parse_request(&bad).unwrap_err();
        assert!(e.0.contains("extraneous key [picture]"), "{e}");
    }

    #[test]
    fn openai_and_mistral_chat_requests_carry_tools_history_and_reasoning() {
        let body = json!({
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [
                    {"type": "text", "text": "weather?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "hot"},
                {"role": "user", "content": "thanks; and tomorrow?"}
            ],
            "tools": [{"type": "function", "function": {"name": "weather",
                       "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "weather"}},
            "reasoning_effort": "high",
            "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}},
            "max_completion_tokens": 99
        });
        for f in [Family::OpenAiChat, Family::MistralChat] {
            let (p, s) = f.parse_request(&body).unwrap();
            assert_eq!(p.system.as_deref(), Some("be brief"));
            assert_eq!(
                p.turns.len(),
                3,
                "{f:?}: user, assistant, user (results + text)"
            );
            assert_eq!(p.turns[1].role, Role::Assistant);
            assert!(matches!(&p.turns[0].content[1], Part::Image(m) if m.format == "png"));
            assert!(matches!(&p.turns[1].content[0],
                Part::ToolUse(c) if c.id == "call_1" && c.input == json!({"city": "Rome"})));
            assert!(matches!(&p.turns[2].content[0],
                Part::ToolResult(r) if r.tool_use_id == "call_1"));
            assert_eq!(
                p.turns[2].content[1],
                Part::Text("thanks; and tomorrow?".into())
            );
            assert_eq!(p.tool_choice, ToolChoice::Tool("weather".into()));
            assert_eq!(p.thinking.unwrap().budget_tokens, 16_384);
            assert_eq!(p.output_schema, Some(json!({"type": "object"})));
            assert_eq!(s.max_tokens, Some(99));
        }
        let mut bad = body.clone();
        bad["messages"][1]["content"][1]["image_url"]["url"] = json!("https://example.com/x.png");
        let e = Family::OpenAiChat.parse_request(&bad).unwrap_err();
        assert!(e.0.contains("data URLs"), "{e}");
        let mut bad = body;
        bad["n"] = json!(2);
        assert!(Family::OpenAiChat
            .parse_request(&bad)
            .unwrap_err()
            .0
            .contains('n'));
    }

    #[test]
    fn cohere_and_llama_requests_carry_tools_and_images() {
        let body = json!({
            "message": "",
            "preamble": "be brief",
            "chat_history": [{"role": "USER", "message": "weather in Rome?"},
                             {"role": "CHATBOT", "message": "checking"}],
            "tools": [{"name": "weather", "description": "d",
                       "parameter_definitions": {"city": {"type": "str", "required": true}}}],
            "tool_results": [{"call": {"name": "weather", "parameters": {"city": "Rome"}},
                              "outputs": [{"temp": 30}]}]
        });
        let (p, _) = Family::CohereChat.parse_request(&body).unwrap();
        assert_eq!(
            p.tools[0].input_schema["properties"]["city"]["type"],
            "string"
        );
        assert_eq!(p.tools[0].input_schema["required"], json!(["city"]));
        let calls = &p.turns[2];
        assert!(matches!(&calls.content[0],
            Part::ToolUse(c) if c.name == "weather" && c.input == json!({"city": "Rome"})));
        let id = match &calls.content[0] {
            Part::ToolUse(c) => c.id.clone(),
            _ => unreachable!(),
        };
        assert!(matches!(&p.turns[3].content[0],
            Part::ToolResult(r) if r.tool_use_id == id
                && r.content == vec![Part::Json(json!({"temp": 30}))]));

        let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
        let body = json!({"prompt": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<|image|>What is this?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
                          "images": [png], "max_gen_len": 50});
        let (p, _) = Family::Llama.parse_request(&body).unwrap();
        assert!(matches!(&p.turns[0].content[0], Part::Image(m) if m.format == "png"));
        let e = Family::Llama
            .parse_request(&json!({"prompt": "x", "images": ["aGVsbG8="]}))
            .unwrap_err();
        assert!(e.0.contains("images.0"), "{e}");
    }

    #[test]
    fn metrics_join_the_last_chunk_with_nova_cache_counts() {
        let m = bedrock_families::InvocationMetrics {
            input_token_count: 3,
            output_token_count: 4,
            invocation_latency: 50,
            first_byte_latency: 10,
        };
        let usage = Usage {
            input_tokens: 3,
            output_tokens: 4,
            cache_read_input_tokens: 7,
            cache_write_input_tokens: 0,
        };
        let enc = Family::Nova.encoder("amazon.nova-micro-v1:0");
        let mut chunks = vec![json!({"metadata": {}})];
        bedrock_families::attach_invocation_metrics(enc.as_ref(), &mut chunks, &m, usage);
        assert_eq!(
            chunks[0]["amazon-bedrock-invocationMetrics"],
            json!({"inputTokenCount": 3, "outputTokenCount": 4, "invocationLatency": 50,
                   "firstByteLatency": 10, "cacheReadInputTokenCount": 7,
                   "cacheWriteInputTokenCount": 0})
        );
        let enc = Family::Llama.encoder("meta.llama3-8b-instruct-v1:0");
        let mut none = Vec::new();
        bedrock_families::attach_invocation_metrics(enc.as_ref(), &mut none, &m, usage);
        assert_eq!(none.len(), 1);
        assert!(none[0]["amazon-bedrock-invocationMetrics"]
            .get("cacheReadInputTokenCount")
            .is_none());
    }
}

#[test]
fn whole_answers_with_tools_and_reasoning_decode_back() {
    use bedrock_families::{AnswerBlock, BlockEvent, BlockStart, Delta, ToolCall};
    let blocks = [
        AnswerBlock::Reasoning {
            text: "mull".into(),
            signature: Some("c2ln".into()),
        },
        AnswerBlock::Text("Checking.".into()),
        AnswerBlock::ToolUse(ToolCall {
            id: "call_7".into(),
            name: "weather".into(),
            input: json!({"city": "Lima"}),
        }),
    ];
    for f in [
        Family::AnthropicMessages,
        Family::Nova,
        Family::OpenAiChat,
        Family::MistralChat,
        Family::CohereChat,
    ] {
        let body = f.response_body_blocks("m", &blocks, &StopReason::ToolUse, Usage::default());
        let info = f.decode_response(&body);
        assert_eq!(info.all_text(), "Checking.", "{f:?} {body}");
        let name = info.events.iter().find_map(|e| match e {
            BlockEvent::Start {
                start: BlockStart::ToolUse { name, .. },
                ..
            } => Some(name.clone()),
            _ => None,
        });
        assert_eq!(name.as_deref(), Some("weather"), "{f:?} {body}");
        let input: String = info
            .events
            .iter()
            .filter_map(|e| match e {
                BlockEvent::Delta {
                    delta: Delta::ToolInput(s),
                    ..
                } => Some(s.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            serde_json::from_str::<Value>(&input).unwrap(),
            json!({"city": "Lima"}),
            "{f:?}"
        );
        let reasoning: String = info
            .events
            .iter()
            .filter_map(|e| match e {
                BlockEvent::Delta {
                    delta: Delta::Reasoning(s),
                    ..
                } => Some(s.as_str()),
                _ => None,
            })
            .collect();
        let carries_reasoning = matches!(
            f,
            Family::AnthropicMessages | Family::Nova | Family::OpenAiChat
        );
        assert_eq!(reasoning == "mull", carries_reasoning, "{f:?} {body}");
    }
}
