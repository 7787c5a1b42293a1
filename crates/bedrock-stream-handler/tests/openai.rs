//! `/v1/chat/completions` and `/v1/models` end to end: handler → real SDK → local Bedrock
//! endpoint (scripted engine). What is refused is refused before Bedrock is called, in OpenAI's
//! error shape, naming the field. (Tool calls, images and reasoning through the endpoint are in
//! `tests/pending/openai_e2e.rs`, which needs the Converse mapping of every block and the
//! endpoint's tool and reasoning support.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bedrock_local::ScriptedConfig;
use bedrock_stream_handler::Config;
use common::*;
use serde_json::{json, Value};

const MODEL: &str = "us.anthropic.claude-3-5-haiku-20241022-v1:0";

async fn chat(url: &str, body: Value) -> (u16, Value) {
    let (status, text, _, _) = post(
        &format!("{url}/v1/chat/completions"),
        body.to_string(),
        None,
    )
    .await;
    let v = serde_json::from_str(&text).unwrap_or_else(|_| json!({"raw": text}));
    (status, v)
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

#[tokio::test]
async fn what_is_not_carried_is_a_400_naming_it() {
    let h = harness(ScriptedConfig::default(), Config::default()).await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"n": 3}), "`n`"),
        (json!({"seed": 7}), "`seed`"),
        (json!({"logprobs": true}), "`logprobs`"),
        (json!({"presence_penalty": 0.4}), "`presence_penalty`"),
        (json!({"functions": [{"name": "f"}]}), "`functions`"),
        (json!({"temprature": 0.1}), "`temprature`"),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image_url",
                "image_url": {"url": "https://example.com/cat.png"}}]}]}),
            "ALLOW_IMAGE_URLS",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "file",
                "file": {"file_id": "file-123"}}]}]}),
            "file_id",
        ),
        (
            json!({"messages": [user("x"), {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "r"}],
                "tools": [{"type": "function", "function": {"name": "f"}}]}),
            "arguments is not valid JSON",
        ),
        (
            json!({"reasoning_effort": "high", "model": "amazon.titan-text-express-v1"}),
            "not a reasoning model",
        ),
    ];
    for (extra, want) in cases {
        let mut body = json!({"model": MODEL, "messages": [user("hi")]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, v) = chat(&h.url, body).await;
        assert_eq!(status, 400, "{want}: {v}");
        assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
        let m = v["error"]["message"].as_str().unwrap();
        assert!(m.contains(want), "{want}: {m}");
    }
    // None of them reached Bedrock.
    assert_eq!(h.bedrock.server.activity().started, 0);
}

#[tokio::test]
async fn accepted_fields_that_cannot_change_the_answer_leave_it_as_it_is() {
    let h = harness(ScriptedConfig::default(), Config::default()).await;
    let plain =
        json!({"model": MODEL, "messages": [user("Explain serverless.")], "max_tokens": 12});
    let (status, base) = chat(&h.url, plain.clone()).await;
    assert_eq!(status, 200, "{base}");
    let mut decorated = plain;
    for (k, v) in [
        ("n", json!(1)),
        ("user", json!("u-1")),
        ("metadata", json!({"k": "v"})),
        ("store", json!(false)),
        ("presence_penalty", json!(0)),
        ("frequency_penalty", json!(0.0)),
        ("logprobs", json!(false)),
        ("logit_bias", json!({})),
        ("parallel_tool_calls", json!(true)),
        ("response_format", json!({"type": "text"})),
        ("modalities", json!(["text"])),
        ("prompt_cache_key", json!("k")),
        ("safety_identifier", json!("s")),
    ] {
        decorated[k] = v;
    }
    let (status, v) = chat(&h.url, decorated).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        base["choices"][0]["message"]["content"]
    );
    assert_eq!(v["usage"], base["usage"]);
}

#[tokio::test]
async fn consecutive_user_messages_share_a_turn() {
    // Converse refuses two user turns in a row; OpenAI clients send them.
    let h = harness(ScriptedConfig::default(), Config::default()).await;
    let (status, v) = chat(
        &h.url,
        json!({"model": MODEL, "messages": [user("first part."), user("second part.")], "max_tokens": 8}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn image_urls_reach_only_public_addresses() {
    let config = Config {
        allow_image_urls: true,
        ..Config::default()
    };
    let h = harness(ScriptedConfig::default(), config).await;
    for url in [
        "https://127.0.0.1/cat.png",
        "https://169.254.169.254/latest/meta-data/",
        "https://localhost:9/cat.png",
        "http://example.com/cat.png",
    ] {
        let (status, v) = chat(
            &h.url,
            json!({"model": MODEL, "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": url}}]}]}),
        )
        .await;
        assert_eq!(status, 400, "{url}: {v}");
        let m = v["error"]["message"].as_str().unwrap();
        assert!(m.contains("messages[0].content[1].image_url.url"), "{m}");
        assert!(m.contains("public") || m.contains("https"), "{url}: {m}");
    }
    assert_eq!(h.bedrock.server.activity().started, 0);
}

#[tokio::test]
async fn models_are_listed_and_looked_up() {
    let config = Config {
        allowed_models: vec!["us.anthropic.*".into(), "openai.gpt-oss-120b-1:0".into()],
        ..Config::default()
    };
    let h = harness(ScriptedConfig::default(), config).await;
    let base = h.url.clone();
    let get = |path: String| {
        let url = format!("{base}{path}");
        async move {
            let r = reqwest::get(url).await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, list) = get("/v1/models".into()).await;
    assert_eq!(status, 200);
    assert_eq!(list["object"], "list");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&MODEL) && ids.contains(&"openai.gpt-oss-120b-1:0"),
        "{ids:?}"
    );
    assert!(ids
        .iter()
        .all(|i| i.starts_with("us.anthropic.") || *i == "openai.gpt-oss-120b-1:0"));

    let (status, m) = get(format!("/v1/models/{MODEL}")).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(
        m,
        json!({"id": MODEL, "object": "model", "created": 0, "owned_by": "anthropic"})
    );
    let arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0";
    // An ARN is allowed only when the allowlist admits it.
    let (status, m) = get(format!("/v1/models/{arn}")).await;
    assert_eq!(status, 403, "{m}");
    let (status, m) = get("/v1/models/amazon.titan-text-express-v1".into()).await;
    assert_eq!(status, 403, "{m}");
    assert_eq!(m["error"]["code"], "model_not_allowed");
    for bad in [
        "us.anthropic.%2E%2E%2Fadmin",
        "us.anthropic.a%20b",
        "us.anthropic.x%3Fy",
    ] {
        let (status, m) = get(format!("/v1/models/{bad}")).await;
        assert_eq!(status, 404, "{bad}: {m}");
        assert_eq!(m["error"]["type"], "invalid_request_error");
    }
}
