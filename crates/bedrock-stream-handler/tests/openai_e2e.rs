//! `/v1/chat/completions` with tools, images, JSON answers and reasoning, end to end: handler →
//! real SDK → local Bedrock endpoint (scripted engine).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bedrock_local::ScriptedConfig;
use bedrock_stream_handler::Config;
use common::*;
use serde_json::{json, Value};

/// In the model catalog with tool use, tool choice any/tool, images and documents.
const TOOLS_MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";
/// In the model catalog with budget reasoning.
const REASONING_MODEL: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
/// A 3×2 PNG.
const PNG_3X2: &str = "iVBORw0KGgoAAAANSUhEUgAAAAMAAAACCAIAAAASFvFNAAAAEElEQVR4nGM4IScHQQxwFgBBAAYZPEVBlgAAAABJRU5ErkJggg==";

fn weather_tool() -> Value {
    json!({"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})
}

/// The `data:` payloads of an SSE body, without `[DONE]`.
fn chunks(body: &str) -> Vec<Value> {
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    body.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

async fn stream(url: &str, body: Value) -> Vec<Value> {
    let (status, text, _, headers) = post(
        &format!("{url}/v1/chat/completions"),
        body.to_string(),
        None,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["content-type"], "text/event-stream");
    chunks(&text)
}

async fn complete(url: &str, body: Value) -> Value {
    let (status, text, _, _) = post(
        &format!("{url}/v1/chat/completions"),
        body.to_string(),
        None,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

fn finish(chunks: &[Value]) -> String {
    chunks
        .iter()
        .rev()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str())
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_forced_tool_call_streams_as_openai_streams_it_and_round_trips() {
    let h = harness(ScriptedConfig::default(), Config::default()).await;
    let question = json!({"role": "user", "content": "What is the weather in Paris?"});
    let chunks = stream(
        &h.url,
        json!({"model": TOOLS_MODEL, "stream": true, "messages": [question],
               "tools": [weather_tool()],
               "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}),
    )
    .await;
    let deltas: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
        .collect();
    // Index, id, type and name first; then argument fragments only.
    let first = &deltas[0][0];
    assert_eq!(first["index"], 0);
    assert_eq!(first["type"], "function");
    assert_eq!(first["function"]["name"], "get_weather");
    let id = first["id"].as_str().unwrap().to_string();
    assert!(!id.is_empty());
    let fragments: Vec<&str> = deltas[1..]
        .iter()
        .map(|d| {
            assert!(d[0].get("id").is_none(), "{d}");
            d[0]["function"]["arguments"].as_str().unwrap()
        })
        .collect();
    assert!(fragments.len() >= 2, "{fragments:?}");
    let arguments = format!(
        "{}{}",
        first["function"]["arguments"].as_str().unwrap_or(""),
        fragments.concat()
    );
    let args: Value = serde_json::from_str(&arguments).unwrap();
    assert!(args["city"].is_string(), "{args}");
    assert_eq!(finish(&chunks), "tool_calls");

    // The result goes back as role tool; the answer quotes it.
    let answer = complete(
        &h.url,
        json!({"model": TOOLS_MODEL, "tools": [weather_tool()], "messages": [
            {"role": "user", "content": "What is the weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": id, "type": "function", "function": {"name": "get_weather", "arguments": arguments}}]},
            {"role": "tool", "tool_call_id": id, "content": "18 C and sunny"},
        ]}),
    )
    .await;
    let choice = &answer["choices"][0];
    assert_eq!(choice["finish_reason"], "stop");
    assert!(
        choice["message"]["content"]
            .as_str()
            .unwrap()
            .contains("18 C and sunny"),
        "{answer}"
    );
}

#[tokio::test]
async fn an_image_data_url_arrives_intact() {
    let h = harness(ScriptedConfig::default(), Config::default()).await;
    let answer = complete(
        &h.url,
        json!({"model": TOOLS_MODEL, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "Describe the image."},
            {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG_3X2}")}}]}]}),
    )
    .await;
    let text = answer["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(
        text.contains("png") && text.contains('3') && text.contains('2'),
        "{text}"
    );
}

#[tokio::test]
async fn a_json_schema_answer_parses_and_validates() {
    let h = harness(ScriptedConfig::default(), Config::default()).await;
    let format = json!({"type": "json_schema", "json_schema": {"name": "city_facts", "schema": {
        "type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"], "additionalProperties": false}}});
    let messages = json!([{"role": "user", "content": "Facts about Paris, as JSON."}]);
    let check = |content: &str| {
        let v: Value = serde_json::from_str(content).unwrap();
        assert!(v["city"].is_string() && v["population"].is_i64(), "{v}");
        assert_eq!(v.as_object().unwrap().len(), 2, "{v}");
    };
    let answer = complete(
        &h.url,
        json!({"model": TOOLS_MODEL, "messages": messages, "response_format": format}),
    )
    .await;
    let choice = &answer["choices"][0];
    assert_eq!(choice["finish_reason"], "stop");
    assert!(choice["message"].get("tool_calls").is_none());
    check(choice["message"]["content"].as_str().unwrap());

    let chunks = stream(
        &h.url,
        json!({"model": TOOLS_MODEL, "stream": true, "messages": messages, "response_format": format}),
    )
    .await;
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    check(&content);
    assert_eq!(finish(&chunks), "stop");
}

#[tokio::test]
async fn reasoning_streams_before_the_answer() {
    let h = harness(ScriptedConfig::default(), Config::default()).await;
    let body = json!({"model": REASONING_MODEL, "stream": true, "reasoning_effort": "low",
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "Why is the sky blue?"}]});
    let chunks = stream(&h.url, body).await;
    let first_reasoning = chunks
        .iter()
        .position(|c| c["choices"][0]["delta"]["reasoning_content"].is_string())
        .expect("no reasoning_content");
    let first_text = chunks
        .iter()
        .position(|c| c["choices"][0]["delta"]["content"].is_string())
        .expect("no content");
    assert!(first_reasoning < first_text);
    assert_eq!(finish(&chunks), "stop");
    assert!(
        chunks.last().unwrap()["usage"]["completion_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );

    let answer = complete(
        &h.url,
        json!({"model": REASONING_MODEL, "reasoning_effort": "low",
               "messages": [{"role": "user", "content": "Why is the sky blue?"}]}),
    )
    .await;
    let message = &answer["choices"][0]["message"];
    assert!(!message["reasoning_content"].as_str().unwrap().is_empty());
    assert!(!message["content"].as_str().unwrap().is_empty());
}
