//! Issue 13, in the handler: errors that leak nothing (access denied and transport failures
//! replaced by our own message with a request id), output caps with no gap (every max-tokens
//! field; ids whose family cannot be known refused while a cap is set), model ids checked for
//! shape before any Bedrock call, and the per-request deadline hook the Lambda adapter uses.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use bedrock_local::{Fault, FaultKind, ScriptedConfig};
use bedrock_stream_handler::{body::end_streams_cleanly, router, with_deadline, App, Config};
use common::{harness, post, sdk_client, serve_handler};
use serde_json::{json, Value};

fn error_of(text: &str) -> Value {
    serde_json::from_str::<Value>(text).unwrap()["error"].clone()
}

/// A withheld error: our message, the stable type, and the id under which it was logged.
fn assert_withheld(text: &str, ty: &str, must_not: &[&str]) {
    let e = error_of(text);
    assert_eq!(e["type"], ty, "{text}");
    let id = e["request_id"].as_str().expect("no request_id");
    assert_eq!(id.len(), 36, "{text}");
    let message = e["message"].as_str().unwrap();
    assert!(message.contains(id), "{text}");
    for word in must_not {
        assert!(!message.contains(word), "`{word}` leaked: {text}");
    }
}

#[tokio::test]
async fn access_denied_and_transport_errors_are_replaced_with_a_request_id() {
    let h = harness(ScriptedConfig::default(), Config::default()).await;
    h.bedrock.server.inject(Fault {
        kind: FaultKind::AccessDenied,
        count: 1,
        exception: None,
        after: None,
    });
    let body = json!({"bedrockParams": {"modelId": "meta.llama3-8b-instruct-v1:0"},
                      "modelParams": {"prompt": "hi", "max_gen_len": 5}});
    let (s, text, _, _) = post(&h.url, body.to_string(), None).await;
    assert_eq!(s, 403, "{text}");
    assert_withheld(&text, "access_denied", &["You don't have access"]);

    // Nothing listens on this port: the transport error names the address and the OS error.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (url, _task) = serve_handler(
        sdk_client(&format!("http://127.0.0.1:{port}")),
        Config::default(),
    )
    .await;
    for (path, body) in [
        ("/", body.to_string()),
        (
            "/converse?format=ndjson",
            json!({"modelId": "meta.llama3-8b-instruct-v1:0",
                   "messages": [{"role": "user", "content": [{"text": "hi"}]}]})
            .to_string(),
        ),
    ] {
        let (s, text, _, _) = post(&format!("{url}{path}"), body, None).await;
        assert_eq!(s, 502, "{path}: {text}");
        assert_withheld(
            &text,
            "network_error",
            &[
                "127.0.0.1",
                &port.to_string(),
                "refused",
                "dispatch",
                "io error",
            ],
        );
    }
}

#[tokio::test]
async fn bedrock_validation_messages_stay_word_for_word() {
    let h = harness(ScriptedConfig::default(), Config::default()).await;
    h.bedrock.server.inject(Fault {
        kind: FaultKind::Validation,
        count: 1,
        exception: None,
        after: None,
    });
    let body = json!({"bedrockParams": {"modelId": "meta.llama3-8b-instruct-v1:0"},
                      "modelParams": {"prompt": "hi", "max_gen_len": 5}});
    let (s, text, _, _) = post(&h.url, body.to_string(), None).await;
    assert_eq!(s, 400, "{text}");
    let e = error_of(&text);
    assert_eq!(e["type"], "validation_error");
    assert!(e.get("request_id").is_none(), "{text}");
    assert!(
        !e["message"].as_str().unwrap().contains("request id"),
        "{text}"
    );
}

fn done_tokens(ndjson: &str) -> u64 {
    let last: Value = serde_json::from_str(ndjson.trim_end().lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "done", "{ndjson}");
    last["output_tokens"].as_u64().unwrap()
}

#[tokio::test]
async fn every_max_tokens_field_is_capped_and_unknown_families_are_refused() {
    let capped = Config {
        max_output_tokens: Some(3),
        ..Config::default()
    };
    let h = harness(ScriptedConfig::default(), capped).await;
    let url = format!("{}/?format=ndjson", h.url);

    // Both OpenAI names, both far above the cap: the model reads at most 3.
    let body = json!({"bedrockParams": {"modelId": "openai.gpt-oss-120b-1:0"},
        "modelParams": {"messages": [{"role": "user", "content": "Explain serverless to a 5th grader."}],
                        "max_completion_tokens": 500, "max_tokens": 400}});
    let (s, text, _, _) = post(&url, body.to_string(), None).await;
    assert_eq!(s, 200, "{text}");
    assert!(done_tokens(&text) <= 3, "{text}");

    // A decoy key of another family does not move the cap: the id says Claude 3 (Messages).
    let body = json!({"bedrockParams": {"modelId": "anthropic.claude-3-haiku-20240307-v1:0"},
        "modelParams": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 500,
                        "messages": [{"role": "user", "content": "Explain serverless to a 5th grader."}]}});
    let (s, text, _, _) = post(&url, body.to_string(), None).await;
    assert_eq!(s, 200, "{text}");
    assert!(done_tokens(&text) <= 3, "{text}");

    // An application inference profile names no family: refused, naming why.
    let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6";
    let body = json!({"bedrockParams": {"modelId": arn},
        "modelParams": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 500,
                        "messages": [{"role": "user", "content": "hi"}]}});
    let (s, text, _, _) = post(&url, body.to_string(), None).await;
    assert_eq!(s, 400, "{text}");
    let m = error_of(&text)["message"].as_str().unwrap().to_string();
    assert!(
        m.contains("MAX_OUTPUT_TOKENS") && m.contains("cannot be known"),
        "{m}"
    );
}

#[tokio::test]
async fn model_ids_are_checked_for_shape_before_any_bedrock_call() {
    // Nothing listens behind this handler: a call that reached the SDK would be a 502.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (url, _task) = serve_handler(
        sdk_client(&format!("http://127.0.0.1:{port}")),
        Config::default(),
    )
    .await;
    for id in [
        "anthropic/claude",
        "../../model/x/invoke",
        "anthropic.claude-v2?x=1",
        "modèle",
    ] {
        let body = json!({"bedrockParams": {"modelId": id},
                          "modelParams": {"prompt": "hi", "max_tokens_to_sample": 5}});
        let (s, text, _, _) = post(&url, body.to_string(), None).await;
        assert_eq!(s, 400, "{id}: {text}");
        assert!(
            error_of(&text)["message"]
                .as_str()
                .unwrap()
                .contains("is not a Bedrock model id"),
            "{id}: {text}"
        );
        let converse = json!({"modelId": id,
            "messages": [{"role": "user", "content": [{"text": "hi"}]}]});
        let (s, text, _, _) = post(&format!("{url}/converse"), converse.to_string(), None).await;
        assert_eq!(s, 400, "converse {id}: {text}");
    }
}

#[tokio::test]
async fn a_request_deadline_ends_the_stream_with_its_marked_error() {
    let h = harness(
        ScriptedConfig {
            chunk_delay: Duration::from_millis(200),
            ..Default::default()
        },
        Config::default(),
    )
    .await;
    // The handler behind a layer that gives each request 1.2 s, as the Lambda adapter gives
    // each request the invocation's deadline less the margin.
    let app = end_streams_cleanly(router(App::new(
        sdk_client(&h.bedrock.url()),
        Config::default(),
    )))
    .layer(axum::middleware::from_fn(
        |req: axum::extract::Request, next: axum::middleware::Next| async move {
            with_deadline(Instant::now() + Duration::from_millis(1200), next.run(req)).await
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let _task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let body = json!({"bedrockParams": {"modelId": "meta.llama3-8b-instruct-v1:0"},
                      "modelParams": {"prompt": "Explain serverless to a 5th grader.", "max_gen_len": 200}});
    let started = Instant::now();
    let (s, text, _, _) = post(&format!("{url}/?format=ndjson"), body.to_string(), None).await;
    let took = started.elapsed();
    assert_eq!(s, 200, "{text}");
    let last: Value = serde_json::from_str(text.trim_end().lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "error", "{text}");
    assert_eq!(last["error"]["type"], "upstream_timeout", "{text}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(took >= Duration::from_millis(1100), "{took:?}");
}
