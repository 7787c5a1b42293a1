//! `bedrock-stream serve --engine openai=URL`: the words come from an OpenAI-compatible server
//! (here a small one in this test, speaking `POST /v1/chat/completions` with SSE), through the
//! in-process local Bedrock endpoint and the real SDK to the client. Text, stop reason and
//! usage arrive; a client that leaves cancels the upstream request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::IntoResponse;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::net::TcpListener;

#[derive(Default)]
struct Upstream {
    requests: AtomicUsize,
    /// Streams dropped before their end: the client went away.
    dropped: AtomicUsize,
}

struct Guard(Arc<Upstream>, bool);

impl Guard {
    fn ran_to_its_end(&mut self) {
        self.1 = true;
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.1 {
            self.0.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn sse(v: Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

/// `slow` in the last message: 20 ms between words, up to 500. Otherwise three words, `stop`,
/// then usage.
async fn upstream() -> (String, Arc<Upstream>) {
    let state = Arc::new(Upstream::default());
    let s = Arc::clone(&state);
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |body: Bytes| {
            let state = Arc::clone(&s);
            async move {
                state.requests.fetch_add(1, Ordering::SeqCst);
                let req: Value = serde_json::from_slice(&body).unwrap();
                let last = req["messages"].as_array().unwrap().last().unwrap()["content"]
                    .as_str()
                    .unwrap()
                    .to_string();
                let slow = last.contains("slow");
                let words: Vec<Bytes> = if slow {
                    (0..500)
                        .map(|i| sse(json!({"choices": [{"index": 0, "delta": {"content": format!(" w{i}")}}]})))
                        .collect()
                } else {
                    vec![
                        sse(json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hello"}}]})),
                        sse(json!({"choices": [{"index": 0, "delta": {"content": " from"}}]})),
                        sse(json!({"choices": [{"index": 0, "delta": {"content": " upstream"}}]})),
                        sse(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})),
                        sse(json!({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 3}})),
                        Bytes::from_static(b"data: [DONE]\n\n"),
                    ]
                };
                let guard = Guard(Arc::clone(&state), false);
                let stream = futures::stream::unfold(
                    (words.into_iter(), guard),
                    move |(mut it, mut guard)| async move {
                        tokio::time::sleep(Duration::from_millis(if slow { 20 } else { 5 })).await;
                        match it.next() {
                            Some(b) => Some((Ok::<_, std::io::Error>(b), (it, guard))),
                            None => {
                                guard.ran_to_its_end();
                                None
                            }
                        }
                    },
                );
                ([("content-type", "text/event-stream")], Body::from_stream(stream)).into_response()
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, state)
}

fn claude3(text: &str) -> String {
    json!({"bedrockParams": {"modelId": "anthropic.claude-3-haiku-20240307-v1:0"},
           "modelParams": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
                           "messages": [{"role": "user", "content": text}]}})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_the_openai_engine() {
    let (up_url, up) = upstream().await;
    let engine = format!("--engine=openai={up_url}/v1");
    let p = support::start(
        &["serve", "--listen", "127.0.0.1:0", &engine],
        &[("AWS_MAX_ATTEMPTS", "1"), ("RUST_LOG", "warn")],
        &["BEDROCK_ENDPOINT_URL"],
        Duration::from_secs(60),
    );
    assert!(p.stderr().contains("openai engine"), "{}", p.stderr());
    let http = reqwest::Client::new();

    // Seed route, NDJSON: the upstream's words, its stop reason and usage.
    let r = http
        .post(&p.url)
        .header("accept", "application/x-ndjson")
        .body(claude3("hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let text: String = lines
        .iter()
        .filter(|l| l["type"] == "text")
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Hello from upstream");
    let done = lines.last().unwrap();
    assert_eq!(done["type"], "done", "{body}");
    assert_eq!(done["stop_reason"], "end_turn", "{body}");
    assert_eq!(
        (
            done["input_tokens"].as_u64(),
            done["output_tokens"].as_u64()
        ),
        (Some(11), Some(3)),
        "{body}"
    );

    // OpenAI route, not streaming.
    let r = http
        .post(format!("{}/v1/chat/completions", p.url))
        .body(
            json!({"model": "us.amazon.nova-lite-v1:0",
                   "messages": [{"role": "user", "content": "hello"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "Hello from upstream");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 11);
    assert_eq!(up.requests.load(Ordering::SeqCst), 2);

    // The client leaves mid-answer: the upstream request is cancelled.
    let r = http
        .post(&p.url)
        .body(claude3("slow"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let mut got = String::new();
    while !got.contains(" w3") {
        got.push_str(std::str::from_utf8(&stream.next().await.unwrap().unwrap()).unwrap());
    }
    assert_eq!(up.dropped.load(Ordering::SeqCst), 0);
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(10);
    while up.dropped.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the upstream request was not cancelled"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stats: Value = serde_json::from_str(
        &reqwest::get(format!(
            "{}/_emulator/stats",
            p.bedrock_url.as_ref().unwrap()
        ))
        .await
        .unwrap()
        .text()
        .await
        .unwrap(),
    )
    .unwrap();
    assert_eq!(stats["cancelled"], 1, "{stats}");
    assert_eq!(stats["completed"], 2, "{stats}");
}
