//! Rows of the error table that `seed.rs` does not reach: `ServiceQuotaExceededException` (from a
//! tiny Bedrock server that answers with it, in local-bedrock's own error encoding),
//! `upstream_timeout` before and after the first byte, an in-stream exception before any text on
//! every route and format (a status, never a 200), the exact `Retry-After` values, and what
//! happens to request content types (`unsupported_media_type`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use axum::response::IntoResponse;
use bedrock_local::{BedrockError, Fault, FaultKind, ScriptedConfig};
use bedrock_stream_handler::{Config, ErrorKind};
use common::*;
use serde_json::{json, Value};
use tokio::net::TcpListener;

const LLAMA: &str = r#"{"bedrockParams":{"modelId":"meta.llama3-8b-instruct-v1:0"},"modelParams":{"prompt":"hi there","max_gen_len":40}}"#;

fn claude3() -> String {
    let body = std::fs::read(repo_root().join("events/event-claude-3.json")).unwrap();
    String::from_utf8(body).unwrap()
}

fn converse_body() -> String {
    let body = std::fs::read(repo_root().join("events/converse.json")).unwrap();
    String::from_utf8(body).unwrap()
}

fn openai_body(stream: bool) -> String {
    json!({"model": "us.amazon.nova-lite-v1:0", "stream": stream, "max_tokens": 30,
           "messages": [{"role": "user", "content": "hello there"}]})
    .to_string()
}

/// A Bedrock that answers every call with `error`, written by local-bedrock's own encoder
/// (status, `X-Amzn-ErrorType`, JSON body): the rows the emulator has no fault for.
async fn bedrock_that_fails_with(error: BedrockError) -> (String, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().fallback(move || {
        let e = error.clone();
        async move { e.into_response() }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, task)
}

/// A Bedrock that accepts connections and requests and never answers.
async fn bedrock_that_never_answers() -> (String, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().fallback(|| async {
        tokio::time::sleep(Duration::from_secs(600)).await;
        "late"
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, task)
}

fn error_type(text: &str) -> String {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    v["error"]["type"].as_str().unwrap_or_default().to_string()
}

#[test]
fn the_error_table_statuses_types_and_retry_after() {
    // The README's table, row by row, as the public API states it.
    let table: &[(ErrorKind, u16, &str, Option<u32>)] = &[
        (ErrorKind::BadRequest, 400, "bad_request", None),
        (ErrorKind::PayloadTooLarge, 413, "payload_too_large", None),
        (
            ErrorKind::UnsupportedMediaType,
            415,
            "unsupported_media_type",
            None,
        ),
        (ErrorKind::ModelNotAllowed, 403, "model_not_allowed", None),
        (ErrorKind::TooManyStreams, 429, "too_many_streams", Some(1)),
        (ErrorKind::Validation, 400, "validation_error", None),
        (ErrorKind::AccessDenied, 403, "access_denied", None),
        (ErrorKind::ModelNotFound, 404, "model_not_found", None),
        (ErrorKind::Throttled, 429, "throttled", Some(1)),
        (ErrorKind::ModelNotReady, 503, "model_not_ready", Some(5)),
        (
            ErrorKind::ServiceUnavailable,
            503,
            "service_unavailable",
            Some(5),
        ),
        (ErrorKind::ModelTimeout, 504, "model_timeout", None),
        (ErrorKind::ModelError, 502, "model_error", None),
        (ErrorKind::ModelStreamError, 502, "model_stream_error", None),
        (
            ErrorKind::BedrockInternal,
            502,
            "bedrock_internal_error",
            None,
        ),
        (ErrorKind::Network, 502, "network_error", None),
        (ErrorKind::IdleTimeout, 504, "idle_timeout", None),
        (ErrorKind::UpstreamTimeout, 504, "upstream_timeout", None),
    ];
    for &(kind, status, ty, retry) in table {
        assert_eq!(kind.status().as_u16(), status, "{kind:?}");
        assert_eq!(kind.as_str(), ty, "{kind:?}");
        assert_eq!(kind.retry_after(), retry, "{kind:?}");
    }
}

#[tokio::test]
async fn service_quota_exceeded_is_429_throttled_with_retry_after_on_every_route() {
    let (bedrock, _b) = bedrock_that_fails_with(BedrockError::ServiceQuotaExceeded(
        "Your account has reached its quota of tokens per day (test server).".into(),
    ))
    .await;
    let (url, _s) = serve_handler(sdk_client(&bedrock), Config::default()).await;
    for (path, body, accept) in [
        ("/", LLAMA.to_string(), None),
        ("/", LLAMA.to_string(), Some("application/x-ndjson")),
        ("/converse", converse_body(), None),
    ] {
        let (s, text, _, headers) = post(&format!("{url}{path}"), body, accept).await;
        assert_eq!(s, 429, "{path}: {text}");
        assert_eq!(headers["retry-after"], "1", "{path}");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(error_type(&text), "throttled", "{path}");
        assert!(text.contains("quota of tokens"), "{text}");
    }
    // OpenAI's shape for the same row, streaming and not.
    for stream in [true, false] {
        let (s, text, _, headers) = post(
            &format!("{url}/v1/chat/completions"),
            openai_body(stream),
            None,
        )
        .await;
        assert_eq!(s, 429, "{text}");
        assert_eq!(headers["retry-after"], "1");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["type"], "rate_limit_error", "{text}");
        assert_eq!(v["error"]["code"], "throttled", "{text}");
    }
}

#[tokio::test]
async fn retry_after_values_for_every_retryable_row() {
    let h = harness(ScriptedConfig::default(), Config::default()).await;
    for (kind, status, ty, retry) in [
        (FaultKind::Throttle, 429, "throttled", "1"),
        (
            FaultKind::ServiceUnavailable,
            503,
            "service_unavailable",
            "5",
        ),
        (FaultKind::ModelNotReady, 503, "model_not_ready", "5"),
    ] {
        for path in ["/", "/converse", "/v1/chat/completions"] {
            h.bedrock.server.inject(Fault {
                kind,
                count: 1,
                exception: None,
                after: None,
            });
            let body = match path {
                "/" => LLAMA.to_string(),
                "/converse" => converse_body(),
                _ => openai_body(true),
            };
            let (s, text, _, headers) = post(&format!("{}{path}", h.url), body, None).await;
            assert_eq!(s, status, "{kind:?} {path}: {text}");
            assert_eq!(headers["retry-after"], retry, "{kind:?} {path}");
            let v: Value = serde_json::from_str(&text).unwrap();
            let got = v["error"]["code"].as_str().or(v["error"]["type"].as_str());
            assert_eq!(got, Some(ty), "{kind:?} {path}: {text}");
        }
    }
    // Rows that retrying does not help carry no Retry-After.
    for kind in [
        FaultKind::Validation,
        FaultKind::AccessDenied,
        FaultKind::ModelTimeout,
        FaultKind::Internal,
    ] {
        h.bedrock.server.inject(Fault {
            kind,
            count: 1,
            exception: None,
            after: None,
        });
        let (s, text, _, headers) = post(&h.url, LLAMA, None).await;
        assert!(s >= 400, "{kind:?}: {text}");
        assert!(
            !headers.contains_key("retry-after"),
            "{kind:?}: {headers:?}"
        );
    }
}

#[tokio::test]
async fn an_exception_before_any_text_is_a_status_on_every_route_and_format() {
    let h = harness(ScriptedConfig::default(), Config::default()).await;
    // `after: 1`: the first frame (Claude 3's message_start, Converse's messageStart) goes out,
    // then the exception: still no text, so still a status. `after: 0`: the exception first.
    // (path, body, accept, frames before the exception, exception, status, type)
    type Case = (
        &'static str,
        String,
        Option<&'static str>,
        u32,
        &'static str,
        u16,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "/",
            claude3(),
            None,
            1,
            "modelStreamErrorException",
            502,
            "model_stream_error",
        ),
        (
            "/",
            claude3(),
            Some("text/event-stream"),
            1,
            "validationException",
            400,
            "validation_error",
        ),
        (
            "/",
            LLAMA.to_string(),
            Some("application/x-ndjson"),
            0,
            "internalServerException",
            502,
            "bedrock_internal_error",
        ),
        (
            "/",
            LLAMA.to_string(),
            None,
            0,
            "modelTimeoutException",
            504,
            "model_timeout",
        ),
        (
            "/converse",
            converse_body(),
            None,
            1,
            "modelStreamErrorException",
            502,
            "model_stream_error",
        ),
        (
            "/converse",
            converse_body(),
            Some("application/x-ndjson"),
            0,
            "serviceUnavailableException",
            503,
            "service_unavailable",
        ),
        (
            "/v1/chat/completions",
            openai_body(true),
            None,
            1,
            "throttlingException",
            429,
            "throttled",
        ),
    ];
    for (path, body, accept, after, exception, status, ty) in cases {
        h.bedrock.server.inject(Fault {
            kind: FaultKind::Midstream,
            count: 1,
            exception: Some(exception.into()),
            after: Some(after),
        });
        let (s, text, _, headers) = post(&format!("{}{path}", h.url), body, accept).await;
        let what = format!("{path} {accept:?} {exception} after {after}");
        assert_eq!(s, status, "{what}: {text}");
        assert_eq!(headers["content-type"], "application/json", "{what}");
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}"));
        let got = v["error"]["code"].as_str().or(v["error"]["type"].as_str());
        assert_eq!(got, Some(ty), "{what}: {text}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("injected"),
            "{what}: {text}"
        );
    }
}

#[tokio::test]
async fn a_bedrock_that_never_answers_is_upstream_timeout_504() {
    let (bedrock, _b) = bedrock_that_never_answers().await;
    let config = Config {
        request_timeout: Duration::from_millis(700),
        ..Config::default()
    };
    let (url, _s) = serve_handler(sdk_client(&bedrock), config).await;
    for path in ["/", "/converse"] {
        let body = if path == "/" {
            LLAMA.to_string()
        } else {
            converse_body()
        };
        let t = Instant::now();
        let (s, text, _, _) = post(&format!("{url}{path}"), body, None).await;
        let took = t.elapsed();
        assert_eq!(s, 504, "{path}: {text}");
        assert_eq!(error_type(&text), "upstream_timeout", "{path}: {text}");
        // Not before the limit; well before the test server's 600 s.
        assert!(
            took >= Duration::from_millis(650) && took < Duration::from_secs(20),
            "{path}: {took:?}"
        );
    }
}

#[tokio::test]
async fn the_total_timeout_ends_a_silent_stream_before_its_first_byte() {
    // Bedrock answers the call, then sends nothing: the total limit (shorter than the idle one)
    // is a 504 `upstream_timeout`, not a 200.
    let config = Config {
        request_timeout: Duration::from_millis(800),
        idle_timeout: Duration::from_secs(60),
        ..Config::default()
    };
    let h = harness(ScriptedConfig::default(), config).await;
    h.bedrock.server.inject(Fault {
        kind: FaultKind::Stall,
        count: 1,
        exception: None,
        after: Some(0),
    });
    let t = Instant::now();
    let (s, text, _, _) = post(&h.url, LLAMA, Some("application/x-ndjson")).await;
    assert_eq!(s, 504, "{text}");
    assert_eq!(error_type(&text), "upstream_timeout", "{text}");
    assert!(
        t.elapsed() >= Duration::from_millis(750),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn the_total_timeout_mid_stream_is_a_typed_error_event() {
    // 40 chunks 50 ms apart take 2 s; the total limit is 1.2 s: some text, then the error
    // event, no `done`, and the Bedrock call is dropped.
    let config = Config {
        request_timeout: Duration::from_millis(1200),
        ..Config::default()
    };
    let h = harness(
        ScriptedConfig {
            chunk_delay: Duration::from_millis(50),
            ..Default::default()
        },
        config,
    )
    .await;
    let t = Instant::now();
    let (s, body, pieces, _) = post(&h.url, LLAMA, Some("application/x-ndjson")).await;
    let took = t.elapsed();
    assert_eq!(s, 200, "{body}");
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let texts = lines.iter().filter(|l| l["type"] == "text").count();
    assert!((2..40).contains(&texts), "{texts} text events: {body}");
    let last = lines.last().unwrap();
    assert_eq!(last["type"], "error", "{body}");
    assert_eq!(last["error"]["type"], "upstream_timeout", "{body}");
    assert!(!body.contains("\"type\":\"done\""), "{body}");
    assert!(
        took >= Duration::from_millis(1150) && took < Duration::from_secs(10),
        "{took:?}"
    );
    // It streamed: the text arrived over time, not at the end.
    let spread = pieces.last().unwrap().0 - pieces.first().unwrap().0;
    assert!(spread >= Duration::from_millis(200), "{spread:?}");
    // The endpoint saw the call dropped, not finished.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let a = h.bedrock.server.activity();
        if a.cancelled + a.failed >= 1 {
            assert_eq!(a.completed, 0, "{a:?}");
            break;
        }
        assert!(Instant::now() < deadline, "call not dropped: {a:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn request_content_types_are_not_refused() {
    // `unsupported_media_type` (415) is in the error kinds, but no route refuses a body for its
    // Content-Type: the seed's own `curl -d @events/event.json` sends
    // application/x-www-form-urlencoded, and it must keep working. This pins that down.
    let h = harness(ScriptedConfig::default(), Config::default()).await;
    let http = reqwest::Client::new();
    let mut answers = Vec::new();
    for ct in [
        None,
        Some("application/x-www-form-urlencoded"),
        Some("text/plain"),
        Some("application/json; charset=utf-8"),
        Some("application/octet-stream"),
    ] {
        let mut req = http.post(&h.url).body(LLAMA);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200, "{ct:?}");
        let text = r.text().await.unwrap();
        assert!(
            text.starts_with("Scripted answer to: hi there"),
            "{ct:?}: {text}"
        );
        answers.push(text);
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
}

#[tokio::test]
async fn an_endpoint_the_sdk_cannot_use_never_echoes_the_prompt() {
    // The SDK's error for an endpoint it cannot apply prints the whole request it was about to
    // send, body included. Config::from_env refuses such a BEDROCK_ENDPOINT_URL at start; a
    // client built with one anyway must still not put the prompt in the error (or the log).
    let (url, _s) = serve_handler(sdk_client("not a url"), Config::default()).await;
    let secret = "kumquat-4471-meadowlark";
    let body = json!({"bedrockParams": {"modelId": "meta.llama3-8b-instruct-v1:0"},
                      "modelParams": {"prompt": format!("Tell me about {secret}"), "max_gen_len": 5}});
    let (s, text, _, _) = post(&url, body.to_string(), None).await;
    assert_eq!(s, 502, "{text}");
    assert_eq!(error_type(&text), "network_error", "{text}");
    assert!(!text.contains(secret), "the prompt is in the error: {text}");
    assert!(!text.contains("SdkBody"), "{text}");
    // The cause (which names the endpoint) goes to the log under the id the caller gets.
    assert!(!text.contains("not a valid URI"), "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let id = v["error"]["request_id"].as_str().unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains(id),
        "{text}"
    );
}
