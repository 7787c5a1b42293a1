//! `bedrock-stream invoke`'s exit code against servers that end streams in every way: with the
//! final event (success), without it (a cut answer), with a broken connection, with an error
//! event, with a marked text error line, with an error status. A cut stream must never look like
//! a complete answer. The servers are axum routers in this test, on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use tokio::net::TcpListener;

const BIN: &str = env!("CARGO_BIN_EXE_bedrock-stream");

/// A body written in pieces 20 ms apart; `Err` pieces break the connection.
fn paced(pieces: Vec<Result<&'static str, &'static str>>) -> Body {
    let stream = futures::stream::unfold(pieces.into_iter(), |mut it| async move {
        let next = it.next()?;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let item = next
            .map(|s| Bytes::from_static(s.as_bytes()))
            .map_err(std::io::Error::other);
        Some((item, it))
    });
    Body::from_stream(stream)
}

fn typed(content_type: &'static str, body: Body) -> Response {
    ([("content-type", content_type)], body).into_response()
}

const TEXT1: &str = "{\"type\":\"text\",\"text\":\"Hello \"}\n";
const TEXT2: &str = "{\"type\":\"text\",\"text\":\"world\"}\n";
const DONE: &str = "{\"type\":\"done\",\"stop_reason\":\"end_turn\",\"input_tokens\":3,\"output_tokens\":2,\"total_ms\":9}\n";
const NDJSON: &str = "application/x-ndjson";

async fn server() -> String {
    let app = axum::Router::new()
        .route(
            "/complete",
            post(|| async { typed(NDJSON, paced(vec![Ok(TEXT1), Ok(TEXT2), Ok(DONE)])) }),
        )
        .route(
            "/cut",
            post(|| async { typed(NDJSON, paced(vec![Ok(TEXT1), Ok(TEXT2)])) }),
        )
        .route(
            "/broken",
            post(|| async {
                typed(
                    NDJSON,
                    paced(vec![Ok(TEXT1), Ok(TEXT2), Err("connection reset")]),
                )
            }),
        )
        .route(
            "/half-line",
            post(|| async {
                typed(
                    NDJSON,
                    paced(vec![Ok(TEXT1), Ok("{\"type\":\"done\",\"stop_re")]),
                )
            }),
        )
        .route(
            "/error-event",
            post(|| async {
                typed(
                    NDJSON,
                    paced(vec![
                        Ok(TEXT1),
                        Ok("{\"type\":\"error\",\"error\":{\"type\":\"model_stream_error\",\"message\":\"boom\"}}\n"),
                    ]),
                )
            }),
        )
        .route(
            "/sse-cut",
            post(|| async {
                typed(
                    "text/event-stream",
                    paced(vec![Ok("event: text\ndata: {\"text\":\"Hello\"}\n\n")]),
                )
            }),
        )
        .route(
            "/sse-complete",
            post(|| async {
                typed(
                    "text/event-stream",
                    paced(vec![
                        Ok("event: text\ndata: {\"text\":\"Hello\"}\n\n"),
                        Ok("event: done\ndata: {\"stop_reason\":\"end_turn\",\"output_tokens\":1}\n\n"),
                    ]),
                )
            }),
        )
        .route(
            "/plain",
            post(|| async {
                typed(
                    "text/plain; charset=utf-8",
                    paced(vec![Ok("Hello "), Ok("world")]),
                )
            }),
        )
        .route(
            "/plain-error",
            post(|| async {
                typed(
                    "text/plain; charset=utf-8",
                    paced(vec![
                        Ok("Hello "),
                        Ok("\n[bedrock-stream error] throttled: slow down\n"),
                    ]),
                )
            }),
        )
        .route(
            "/unavailable",
            post(|| async {
                (
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    [("content-type", "application/json")],
                    "{\"error\":{\"type\":\"service_unavailable\",\"message\":\"later\"}}",
                )
                    .into_response()
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    url
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

async fn invoke(url: &str, format: &str) -> Run {
    let child = tokio::process::Command::new(BIN)
        .args(["invoke", url, "-p", "hi", "--format", format])
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .expect("invoke hung")
        .unwrap();
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoke_fails_unless_the_stream_ends_with_its_final_event() {
    let base = server().await;

    // The control: a complete stream exits 0 and prints the text and the summary.
    let r = invoke(&format!("{base}/complete"), "text").await;
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(r.stdout, "Hello world");
    assert!(r.stderr.contains("stop end_turn"), "{}", r.stderr);
    assert!(r.stderr.contains("tokens in 3, out 2"), "{}", r.stderr);

    // Cut cleanly before `done`: what came is printed, and the exit code says it is not all.
    for format in ["text", "ndjson"] {
        let r = invoke(&format!("{base}/cut"), format).await;
        assert!(!r.ok, "{format}: a cut stream exited 0: {}", r.stderr);
        assert!(r.stdout.contains("Hello "), "{format}: {}", r.stdout);
        assert!(
            r.stderr.contains("without its final `done` event"),
            "{format}: {}",
            r.stderr
        );
    }
    // A final event cut in half is no final event.
    let r = invoke(&format!("{base}/half-line"), "text").await;
    assert!(!r.ok, "{}", r.stderr);
    assert!(r.stderr.contains("without its final"), "{}", r.stderr);

    // The connection breaks mid-stream.
    let r = invoke(&format!("{base}/broken"), "text").await;
    assert!(!r.ok, "{}", r.stderr);
    assert_eq!(r.stdout, "Hello world");
    assert!(
        r.stderr.contains("connection broke mid-stream") || r.stderr.contains("without its final"),
        "{}",
        r.stderr
    );

    // An error event after text.
    let r = invoke(&format!("{base}/error-event"), "text").await;
    assert!(!r.ok);
    assert!(
        r.stderr
            .contains("failed after it started: model_stream_error: boom"),
        "{}",
        r.stderr
    );

    // SSE: without `done`, a failure; with it, a success.
    let r = invoke(&format!("{base}/sse-cut"), "sse").await;
    assert!(!r.ok, "{}", r.stderr);
    assert!(r.stderr.contains("without its final"), "{}", r.stderr);
    let r = invoke(&format!("{base}/sse-complete"), "sse").await;
    assert!(r.ok, "{}", r.stderr);
    assert!(r.stdout.contains("event: done"), "{}", r.stdout);

    // Plain text (a server that ignores Accept, like the Node.js seed) has no final event to
    // wait for; its marked error line is still an error.
    let r = invoke(&format!("{base}/plain"), "text").await;
    assert!(r.ok, "{}", r.stderr);
    assert_eq!(r.stdout, "Hello world");
    let r = invoke(&format!("{base}/plain-error"), "text").await;
    assert!(!r.ok, "{}", r.stderr);
    assert!(r.stderr.contains("throttled: slow down"), "{}", r.stderr);

    // An error status.
    let r = invoke(&format!("{base}/unavailable"), "text").await;
    assert!(!r.ok);
    assert!(r.stderr.contains("HTTP 503"), "{}", r.stderr);
    assert!(r.stderr.contains("service_unavailable"), "{}", r.stderr);
}
