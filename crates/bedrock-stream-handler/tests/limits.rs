//! Concurrency limit and CORS.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use bedrock_local::ScriptedConfig;
use bedrock_stream_handler::Config;
use common::*;
use futures::StreamExt;

const BODY: &str = r#"{"bedrockParams":{"modelId":"meta.llama3-8b-instruct-v1:0"},"modelParams":{"prompt":"hi","max_gen_len":20}}"#;

#[tokio::test]
async fn streams_past_the_limit_get_429_with_retry_after() {
    let config = Config {
        max_concurrent_streams: 2,
        ..Config::default()
    };
    let h = harness(
        ScriptedConfig {
            chunk_delay: Duration::from_millis(40),
            ..Default::default()
        },
        config,
    )
    .await;
    let http = reqwest::Client::new();
    let a = http.post(&h.url).body(BODY).send().await.unwrap();
    let b = http.post(&h.url).body(BODY).send().await.unwrap();
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let c = http.post(&h.url).body(BODY).send().await.unwrap();
    assert_eq!(c.status(), 429);
    assert_eq!(c.headers()["retry-after"], "1");
    let v: serde_json::Value = c.json().await.unwrap();
    assert_eq!(v["error"]["type"], "too_many_streams");
    // A finished stream frees its place; so does a client that leaves. The server lets go of a
    // place a moment after the client saw the end (or left), so wait for it, bounded: both
    // places must come back, and be usable at the same time.
    let text = a.text().await.unwrap();
    assert_eq!(text.split_whitespace().count(), 20);
    drop(b.bytes_stream().next().await);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut open = Vec::new();
    let mut refused = 0;
    while open.len() < 2 {
        let r = http.post(&h.url).body(BODY).send().await.unwrap();
        match r.status().as_u16() {
            200 => open.push(r),
            429 => {
                refused += 1;
                assert!(
                    Instant::now() < deadline,
                    "only {} of 2 places came back after 10 s ({refused} refusals)",
                    open.len()
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            s => panic!("unexpected status {s}"),
        }
    }
    // With both places taken again, a third is refused.
    let c = http.post(&h.url).body(BODY).send().await.unwrap();
    assert_eq!(c.status(), 429);
    for r in open {
        assert_eq!(r.text().await.unwrap().split_whitespace().count(), 20);
    }
}

#[tokio::test]
async fn cors_admits_only_configured_origins() {
    let config = Config {
        cors_origins: vec!["https://app.example".into()],
        ..Config::default()
    };
    let h = harness(ScriptedConfig::default(), config).await;
    let http = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        http.request(reqwest::Method::OPTIONS, &h.url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let ok = preflight("https://app.example").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let no = preflight("https://evil.example").await.unwrap();
    assert!(!no.headers().contains_key("access-control-allow-origin"));
    let r = http
        .post(&h.url)
        .header("origin", "https://app.example")
        .body(BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example"
    );
}
