//! The chat-completions mapping, field by field, at the Converse-request level.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use serde_json::json;

const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

fn call(body: Value) -> Result<ChatCall, AppError> {
    parse(body.to_string().as_bytes(), ParseOptions::default())
}

fn ok(body: Value) -> ChatCall {
    call(body).unwrap_or_else(|e| panic!("refused: {}", e.message))
}

fn err(body: Value) -> String {
    match call(body) {
        Ok(c) => panic!("accepted: {:?}", c.converse),
        Err(e) => {
            assert_eq!(e.kind, crate::error::ErrorKind::BadRequest);
            e.message
        }
    }
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

/// The Converse request as Bedrock's JSON.
fn converse(c: &ChatCall) -> Value {
    serde_json::to_value(&c.converse).unwrap()
}

#[test]
fn plain_chat_maps_onto_converse() {
    let c = ok(json!({
        "model": "m", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": [{"type": "text", "text": "and kind"}]},
            user("hi"),
            {"role": "assistant", "content": "hello"},
            user("again"),
        ],
        "max_completion_tokens": 50, "max_tokens": 10, "temperature": 0.5, "top_p": 0.25,
        "stop": "END", "stream": true, "stream_options": {"include_usage": true},
        "n": 1, "logprobs": false, "presence_penalty": 0, "frequency_penalty": 0.0,
        "logit_bias": {}, "user": "u1", "metadata": {"a": "b"}, "store": false,
        "safety_identifier": "s", "prompt_cache_key": "k", "modalities": ["text"],
        "verbosity": "medium", "prediction": {"type": "content", "content": "x"},
    }));
    assert_eq!(
        converse(&c),
        json!({
            "modelId": "m",
            "system": [{"text": "be brief"}, {"text": "and kind"}],
            "messages": [
                {"role": "user", "content": [{"text": "hi"}]},
                {"role": "assistant", "content": [{"text": "hello"}]},
                {"role": "user", "content": [{"text": "again"}]},
            ],
            "inferenceConfig": {"maxTokens": 50, "temperature": 0.5, "topP": 0.25, "stopSequences": ["END"]},
        })
    );
    assert!(c.stream && c.include_usage);
    assert!(c.json_tool.is_none() && !c.single_tool_call && c.remote_images.is_empty());
}

#[test]
fn include_usage_only_counts_when_streaming() {
    let c = ok(json!({"messages": [user("x")], "stream_options": {"include_usage": true}}));
    assert!(!c.stream && !c.include_usage);
}

#[test]
fn tools_and_every_tool_choice() {
    let tools = json!([
        {"type": "function", "function": {"name": "weather", "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            "strict": true}},
        {"type": "function", "function": {"name": "now"}},
    ]);
    let with = |choice: Value| {
        let mut body = json!({"messages": [user("x")], "tools": tools});
        if !choice.is_null() {
            body["tool_choice"] = choice;
        }
        converse(&ok(body))["toolConfig"].clone()
    };
    let specs = json!([
        {"toolSpec": {"name": "weather", "description": "Weather in a city",
            "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
            "strict": true}},
        {"toolSpec": {"name": "now", "inputSchema": {"json": {"type": "object", "properties": {}}}}},
    ]);
    assert_eq!(with(Value::Null), json!({"tools": specs}));
    assert_eq!(with(json!("auto")), json!({"tools": specs}));
    assert_eq!(
        with(json!("required")),
        json!({"tools": specs, "toolChoice": {"any": {}}})
    );
    assert_eq!(
        with(json!({"type": "function", "function": {"name": "now"}})),
        json!({"tools": specs, "toolChoice": {"tool": {"name": "now"}}})
    );
    // none: the model is not told about the tools at all.
    assert_eq!(with(json!("none")), Value::Null);
}

#[test]
fn tool_choice_errors_name_the_problem() {
    let tools = json!([{"type": "function", "function": {"name": "a"}}]);
    let m = err(json!({"messages": [user("x")], "tools": tools,
                       "tool_choice": {"type": "function", "function": {"name": "b"}}}));
    assert!(
        m.contains("`b`") && m.contains("not among the tools"),
        "{m}"
    );
    let m = err(json!({"messages": [user("x")], "tool_choice": "required"}));
    assert!(m.contains("required") && m.contains("needs tools"), "{m}");
    let m = err(json!({"messages": [user("x")], "tools": tools, "tool_choice": "sometimes"}));
    assert!(m.contains("sometimes"), "{m}");
    let m = err(json!({"messages": [user("x")], "tools": tools,
        "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}}}));
    assert!(m.contains("allowed_tools"), "{m}");
    let m = err(json!({"messages": [user("x")],
        "tools": [{"type": "custom", "custom": {"name": "c"}}]}));
    assert!(m.contains("custom"), "{m}");
    let m = err(json!({"messages": [user("x")],
        "tools": [{"type": "function", "function": {"name": "a"}}, {"type": "function", "function": {"name": "a"}}]}));
    assert!(m.contains("two tools are named `a`"), "{m}");
    let m = err(json!({"messages": [user("x")],
        "tools": [{"type": "function", "function": {"name": "a", "parmeters": {}}}]}));
    assert!(m.contains("tools[0]") && m.contains("parmeters"), "{m}");
}

fn tool_round_trip() -> Value {
    json!([
        user("weather in Paris and Rome?"),
        {"role": "assistant", "content": "Let me look.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Rome\"}"}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "21 C"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "25 "}, {"type": "text", "text": "C"}]},
        user("thanks; which is warmer?"),
    ])
}

#[test]
fn tool_history_becomes_tool_use_and_merged_tool_results() {
    let c = ok(json!({"messages": tool_round_trip(),
        "tools": [{"type": "function", "function": {"name": "weather"}}]}));
    assert_eq!(
        converse(&c)["messages"],
        json!([
            {"role": "user", "content": [{"text": "weather in Paris and Rome?"}]},
            {"role": "assistant", "content": [
                {"text": "Let me look."},
                {"toolUse": {"toolUseId": "call_1", "name": "weather", "input": {"city": "Paris"}}},
                {"toolUse": {"toolUseId": "call_2", "name": "weather", "input": {"city": "Rome"}}},
            ]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "call_1", "content": [{"text": "21 C"}]}},
                {"toolResult": {"toolUseId": "call_2", "content": [{"text": "25 C"}]}},
                {"text": "thanks; which is warmer?"},
            ]},
        ])
    );
}

#[test]
fn tool_call_arguments_must_be_json() {
    let m = err(json!({"messages": [user("x"),
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{city: Paris}"}}]},
        {"role": "tool", "tool_call_id": "c", "content": "ok"}],
        "tools": [{"type": "function", "function": {"name": "f"}}]}));
    assert!(
        m.contains("messages[1].tool_calls[0].function.arguments is not valid JSON"),
        "{m}"
    );
    // Empty arguments are a call without arguments; blank text beside calls is left out.
    let c = ok(json!({"messages": [user("x"),
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": "c", "content": "ok"}],
        "tools": [{"type": "function", "function": {"name": "f"}}]}));
    assert_eq!(
        converse(&c)["messages"][1]["content"],
        json!([{"toolUse": {"toolUseId": "c", "name": "f", "input": {}}}])
    );
}

#[test]
fn tool_choice_none_with_tool_history_is_refused() {
    let m = err(json!({"messages": tool_round_trip(), "tool_choice": "none",
        "tools": [{"type": "function", "function": {"name": "weather"}}]}));
    assert!(m.contains("tool_choice `none`"), "{m}");
}

#[test]
fn messages_are_checked_by_role() {
    let m = err(json!({"messages": [{"role": "tool", "content": "hi"}]}));
    assert!(
        m.contains("messages[0]") && m.contains("tool_call_id"),
        "{m}"
    );
    let m = err(json!({"messages": [{"role": "function", "name": "f", "content": "x"}]}));
    assert!(m.contains("role function"), "{m}");
    let m = err(json!({"messages": [{"role": "robot", "content": "x"}]}));
    assert!(m.contains("robot"), "{m}");
    let m = err(json!({"messages": [{"role": "user", "content": "x", "mood": "happy"}]}));
    assert!(m.contains("messages[0]") && m.contains("mood"), "{m}");
    let m = err(json!({"messages": [{"role": "system", "content": "x"}]}));
    assert!(m.contains("at least one user message"), "{m}");
    let m = err(
        json!({"messages": [user("x"), {"role": "assistant", "content": "y",
        "function_call": {"name": "f", "arguments": "{}"}}]}),
    );
    assert!(m.contains("messages[1].function_call"), "{m}");
    let m = err(
        json!({"messages": [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}, user("x")]}),
    );
    assert!(
        m.contains("messages[0].content[0]") && m.contains("image_url"),
        "{m}"
    );
    // An assistant message echoed back whole, as the SDK returns it, is accepted.
    ok(
        json!({"messages": [user("x"), {"role": "assistant", "content": "y", "refusal": null,
        "annotations": [], "audio": null, "function_call": null, "tool_calls": null,
        "reasoning_content": "thought"}, user("z")]}),
    );
    // Names are accepted (Converse has no participant names); refusals are assistant text.
    let c = ok(
        json!({"messages": [{"role": "user", "content": "x", "name": "bob"},
        {"role": "assistant", "content": null, "refusal": "I can't help with that", "name": "bot"},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]}, user("y")]}),
    );
    assert_eq!(
        converse(&c)["messages"][1],
        json!({"role": "assistant", "content": [{"text": "I can't help with that"}, {"text": "No."}]})
    );
}

#[test]
fn image_data_urls_become_image_blocks() {
    let c = ok(json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG_1X1}"), "detail": "low"}},
    ]}]}));
    let v = converse(&c);
    assert_eq!(v["messages"][0]["content"][1]["image"]["format"], "png");
    let b64 = v["messages"][0]["content"][1]["image"]["source"]["bytes"]
        .as_str()
        .unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
        base64::engine::general_purpose::STANDARD
            .decode(PNG_1X1)
            .unwrap()
    );
}

#[test]
fn bad_images_are_refused_with_the_reason() {
    let part = |url: String| json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]});
    let m = err(part(format!("data:image/jpeg;base64,{PNG_1X1}")));
    assert!(m.contains("image/jpeg") && m.contains("png"), "{m}");
    let m = err(part(format!("data:image/tiff;base64,{PNG_1X1}")));
    assert!(m.contains("image/tiff"), "{m}");
    let m = err(part("data:image/png;base64,%%%".into()));
    assert!(m.contains("base64"), "{m}");
    let m = err(part("data:image/png,rawdata".into()));
    assert!(m.contains("base64"), "{m}");
    let m = err(part("data:image/png;base64,aGVsbG8=".into()));
    assert!(m.contains("not a png image"), "{m}");
    // URLs: a clear 400 that names the setting while it is off.
    let m = err(part("https://example.com/cat.png".into()));
    assert!(
        m.contains("ALLOW_IMAGE_URLS") && m.contains("messages[0].content[0].image_url.url"),
        "{m}"
    );
    let m = err(part("http://example.com/cat.png".into()));
    assert!(m.contains("ALLOW_IMAGE_URLS"), "{m}");
    // Too big for Bedrock.
    let mut big = b"\x89PNG\r\n\x1a\n".to_vec();
    big.resize(MAX_IMAGE_BYTES + 1, 0);
    let url = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&big)
    );
    let m = err(part(url));
    assert!(m.contains("3.75 MB"), "{m}");
}

#[test]
fn image_urls_become_placeholders_when_allowed() {
    let body = json!({"messages": [user("first"), {"role": "user", "content": [
        {"type": "text", "text": "and this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]}]});
    let c = parse(
        body.to_string().as_bytes(),
        ParseOptions {
            allow_image_urls: true,
        },
    )
    .unwrap();
    assert_eq!(
        c.remote_images,
        vec![RemoteImage {
            message: 0,
            block: 2,
            url: "https://example.com/cat.png".into(),
            field: "messages[1].content[1].image_url.url".into(),
        }]
    );
    let m = parse(
        json!({"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "http://example.com/cat.png"}}]}]})
        .to_string()
        .as_bytes(),
        ParseOptions {
            allow_image_urls: true,
        },
    )
    .unwrap_err()
    .message;
    assert!(m.contains("only https"), "{m}");
}

#[test]
fn files_become_documents() {
    let pdf = base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.4 hello");
    let c = ok(json!({"messages": [{"role": "user", "content": [
        {"type": "file", "file": {"file_data": format!("data:application/pdf;base64,{pdf}"), "filename": "Q3 report_final.v2.pdf"}},
        {"type": "file", "file": {"file_data": base64::engine::general_purpose::STANDARD.encode(b"a,b\n1,2"), "filename": "Q3 report_final.v2.csv"}},
        {"type": "file", "file": {"file_data": format!("data:text/markdown;base64,{}", base64::engine::general_purpose::STANDARD.encode(b"# hi"))}},
        {"type": "text", "text": "summarise"},
    ]}]}));
    let content = converse(&c)["messages"][0]["content"].clone();
    assert_eq!(content[0]["document"]["format"], "pdf");
    assert_eq!(content[0]["document"]["name"], "Q3 report final v2");
    assert_eq!(content[1]["document"]["format"], "csv");
    assert_eq!(content[1]["document"]["name"], "Q3 report final v2 (2)");
    assert_eq!(content[2]["document"]["format"], "md");
    assert_eq!(content[2]["document"]["name"], "document");
    let m = err(json!({"messages": [{"role": "user", "content": [
        {"type": "file", "file": {"file_id": "file-abc"}}]}]}));
    assert!(m.contains("file_id"), "{m}");
    let m = err(json!({"messages": [{"role": "user", "content": [
        {"type": "file", "file": {"file_data": "aGk=", "filename": "x.exe"}}]}]}));
    assert!(m.contains("format") && m.contains("x.exe"), "{m}");
}

#[test]
fn input_audio_becomes_an_audio_block() {
    let c = ok(json!({"messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]}]}));
    assert_eq!(
        converse(&c)["messages"][0]["content"][0],
        json!({"audio": {"format": "wav", "source": {"bytes": "UklGRg=="}}})
    );
    let m = err(json!({"messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "ogg"}}]}]}));
    assert!(m.contains("ogg"), "{m}");
}

#[test]
fn response_format_json_schema_is_a_forced_answer_tool() {
    let schema = json!({"type": "object", "properties": {"answer": {"type": "integer"}},
                        "required": ["answer"], "additionalProperties": false});
    let c = ok(
        json!({"messages": [user("2+2?")], "response_format": {"type": "json_schema",
        "json_schema": {"name": "math", "schema": schema, "strict": true}}}),
    );
    assert_eq!(c.json_tool.as_deref(), Some("math"));
    let tc = converse(&c)["toolConfig"].clone();
    assert_eq!(tc["toolChoice"], json!({"tool": {"name": "math"}}));
    assert_eq!(tc["tools"][0]["toolSpec"]["inputSchema"]["json"], schema);
    assert_eq!(tc["tools"][0]["toolSpec"]["strict"], true);
    assert!(tc["tools"][0]["toolSpec"]["description"]
        .as_str()
        .unwrap()
        .contains("answer"));

    // With tools of its own the model must call one of them or answer: `any`.
    let c = ok(json!({"messages": [user("x")],
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "response_format": {"type": "json_object"}}));
    let tc = converse(&c)["toolConfig"].clone();
    assert_eq!(tc["toolChoice"], json!({"any": {}}));
    assert_eq!(tc["tools"][1]["toolSpec"]["name"], "json_object");
    assert_eq!(c.json_tool.as_deref(), Some("json_object"));

    // text is the default: nothing changes.
    let c = ok(json!({"messages": [user("x")], "response_format": {"type": "text"}}));
    assert!(c.converse.tool_config.is_none() && c.json_tool.is_none());

    let m = err(
        json!({"messages": [user("x")], "response_format": {"type": "json_schema",
        "json_schema": {"name": "list", "schema": {"type": "array"}}}}),
    );
    assert!(m.contains("root must be"), "{m}");
    let m = err(
        json!({"messages": [user("x")], "response_format": {"type": "json_schema",
        "json_schema": {"name": "bad name!", "schema": {"type": "object"}}}}),
    );
    assert!(m.contains("json_schema.name"), "{m}");
    let m = err(json!({"messages": [user("x")], "response_format": {"type": "yaml"}}));
    assert!(m.contains("yaml"), "{m}");
    let m = err(json!({"messages": [user("x")],
        "tools": [{"type": "function", "function": {"name": "math"}}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "math"}}}));
    assert!(m.contains("also a tool's name"), "{m}");
}

#[test]
fn parallel_tool_calls_false_asks_for_one_call() {
    let c = ok(
        json!({"messages": [user("x")], "parallel_tool_calls": false,
        "tools": [{"type": "function", "function": {"name": "f"}}]}),
    );
    assert!(c.single_tool_call);
    let c = ok(json!({"messages": [user("x")], "parallel_tool_calls": true}));
    assert!(!c.single_tool_call);
}

#[test]
fn fields_that_would_change_the_answer_are_refused_by_name() {
    for (field, value) in [
        ("n", json!(2)),
        ("logprobs", json!(true)),
        ("top_logprobs", json!(3)),
        ("logit_bias", json!({"50256": -100})),
        ("presence_penalty", json!(0.5)),
        ("frequency_penalty", json!(-1)),
        ("seed", json!(42)),
        ("audio", json!({"voice": "alloy", "format": "mp3"})),
        ("modalities", json!(["text", "audio"])),
        ("verbosity", json!("low")),
        ("web_search_options", json!({})),
        ("moderation", json!({"model": "omni-moderation-latest"})),
        ("functions", json!([{"name": "f"}])),
        ("function_call", json!("auto")),
        ("made_up_field", json!(1)),
    ] {
        let mut body = json!({"messages": [user("x")]});
        body[field] = value;
        let m = err(body);
        assert!(m.contains(&format!("`{field}`")), "{field}: {m}");
    }
}

#[test]
fn unknown_fields_are_named_without_the_whole_field_list() {
    let m = err(json!({"messages": [user("x")], "temprature": 0.2}));
    assert!(m.contains("unknown field `temprature`"), "{m}");
    assert!(!m.contains("expected one of"), "{m}");
}

#[test]
fn service_tier_maps_onto_bedrock_tiers() {
    let tier = |t: &str| {
        converse(&ok(json!({"messages": [user("x")], "service_tier": t})))["serviceTier"].clone()
    };
    assert_eq!(tier("flex"), json!({"type": "flex"}));
    assert_eq!(tier("priority"), json!({"type": "priority"}));
    assert_eq!(tier("auto"), Value::Null);
    assert_eq!(tier("default"), Value::Null);
    assert!(err(json!({"messages": [user("x")], "service_tier": "gold"})).contains("gold"));
}

#[test]
fn max_tokens_must_be_positive() {
    let m = err(json!({"messages": [user("x")], "max_tokens": 0}));
    assert!(m.contains("max_tokens"), "{m}");
}

fn effort(body: Value, model: &str) -> Result<ChatCall, String> {
    let mut c = ok(body);
    c.apply_reasoning(model, None).map_err(|e| e.message)?;
    Ok(c)
}

#[test]
fn reasoning_effort_becomes_the_family_field() {
    // Anthropic (in the catalog, budget reasoning): thinking with a budget, room to answer.
    let c = effort(
        json!({"messages": [user("x")], "reasoning_effort": "medium"}),
        "us.anthropic.claude-sonnet-4-20250514-v1:0",
    )
    .unwrap();
    let v = converse(&c);
    assert_eq!(
        v["additionalModelRequestFields"],
        json!({"thinking": {"type": "enabled", "budget_tokens": 4096}})
    );
    assert_eq!(v["inferenceConfig"]["maxTokens"], 4096 + 4096);
    // A caller's max_tokens must leave room above the budget.
    let m = effort(
        json!({"messages": [user("x")], "reasoning_effort": "high", "max_tokens": 1000}),
        "us.anthropic.claude-sonnet-4-20250514-v1:0",
    )
    .unwrap_err();
    assert!(m.contains("max_tokens (1000)") && m.contains("8192"), "{m}");
    // So must the server's output cap.
    let mut c = ok(json!({"messages": [user("x")], "reasoning_effort": "medium"}));
    let m = c
        .apply_reasoning("us.anthropic.claude-sonnet-4-20250514-v1:0", Some(4096))
        .unwrap_err()
        .message;
    assert!(m.contains("MAX_OUTPUT_TOKENS"), "{m}");
    // Forcing a tool and thinking do not mix on Anthropic.
    let m = effort(
        json!({"messages": [user("x")], "reasoning_effort": "low",
               "response_format": {"type": "json_object"}}),
        "us.anthropic.claude-sonnet-4-20250514-v1:0",
    )
    .unwrap_err();
    assert!(m.contains("forces tool use"), "{m}");
    // gpt-oss (not in the catalog; by family): its own reasoning_effort.
    let c = effort(
        json!({"messages": [user("x")], "reasoning_effort": "low"}),
        "openai.gpt-oss-120b-1:0",
    )
    .unwrap();
    assert_eq!(
        converse(&c)["additionalModelRequestFields"],
        json!({"reasoning_effort": "low"})
    );
    let m = effort(
        json!({"messages": [user("x")], "reasoning_effort": "minimal"}),
        "openai.gpt-oss-120b-1:0",
    )
    .unwrap_err();
    assert!(m.contains("low, medium or high"), "{m}");
    // Nova 2: reasoningConfig.
    let c = effort(
        json!({"messages": [user("x")], "reasoning_effort": "high"}),
        "us.amazon.nova-2-lite-v1:0",
    )
    .unwrap();
    assert_eq!(
        converse(&c)["additionalModelRequestFields"],
        json!({"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "high"}})
    );
}

#[test]
fn reasoning_effort_is_refused_where_it_cannot_be_carried() {
    // The catalog says Claude 3 Haiku and Titan do not reason.
    for model in [
        "anthropic.claude-3-haiku-20240307-v1:0",
        "amazon.titan-text-express-v1",
        "us.meta.llama3-1-8b-instruct-v1:0",
    ] {
        let m = effort(
            json!({"messages": [user("x")], "reasoning_effort": "low"}),
            model,
        )
        .unwrap_err();
        assert!(
            m.contains("not a reasoning model") && m.contains(model),
            "{m}"
        );
        // `none` asks for what these models do anyway.
        effort(
            json!({"messages": [user("x")], "reasoning_effort": "none"}),
            model,
        )
        .unwrap();
    }
    let m = effort(
        json!({"messages": [user("x")], "reasoning_effort": "extreme"}),
        "us.anthropic.claude-sonnet-4-20250514-v1:0",
    )
    .unwrap_err();
    assert!(m.contains("extreme"), "{m}");
    // No effort: nothing is added.
    let c = effort(
        json!({"messages": [user("x")]}),
        "amazon.titan-text-express-v1",
    )
    .unwrap();
    assert!(c.converse.additional_model_request_fields.is_none());
}

#[test]
fn data_urls_parse_leniently_but_only_as_base64() {
    let d = parse_data_url("DATA:Image/PNG;name=x.png;base64,aGk", "f").unwrap();
    assert_eq!(d.media_type, "image/png");
    assert_eq!(d.bytes, b"hi");
    let d = parse_data_url("data:image/png;base64,aG\nk=", "f").unwrap();
    assert_eq!(d.bytes, b"hi");
    assert!(parse_data_url("https://x", "f").is_err());
    assert!(parse_data_url("data:image/png;base64", "f").is_err());
}

#[test]
fn image_signatures() {
    assert_eq!(
        sniff_image(b"\x89PNG\r\n\x1a\nrest"),
        Some(ImageFormat::Png)
    );
    assert_eq!(
        sniff_image(&[0xFF, 0xD8, 0xFF, 0xE0]),
        Some(ImageFormat::Jpeg)
    );
    assert_eq!(sniff_image(b"GIF89a..."), Some(ImageFormat::Gif));
    assert_eq!(
        sniff_image(b"RIFF\0\0\0\0WEBPVP8 "),
        Some(ImageFormat::Webp)
    );
    assert_eq!(sniff_image(b"RIFF\0\0\0\0WAVE"), None);
    assert_eq!(sniff_image(b""), None);
}
