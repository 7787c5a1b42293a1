//! The `openai=URL` engine end to end: the local endpoint, with its words written by a small
//! OpenAI-compatible streaming server that this test starts (axum, `POST /v1/chat/completions`,
//! SSE), called through the real AWS SDK. Checks the text, the stop reason, the usage, what is
//! sent upstream, an upstream error status, a stream that breaks, an unreachable upstream, and
//! that a client that leaves cancels the upstream request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseStreamOutput, InferenceConfiguration, Message,
    ResponseStream, SystemContentBlock,
};
use aws_sdk_bedrockruntime::Client;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bedrock_families::Family;
use bedrock_local::engines::openai::OpenAiEngine;
use bedrock_local::{LocalBedrock, RunningServer};
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::net::TcpListener;

mod support;
use support::client;

/// What the upstream server saw and did.
#[derive(Default)]
struct Upstream {
    requests: Mutex<Vec<Value>>,
    /// Streams whose body was dropped before it ended (the client went away).
    dropped: AtomicUsize,
    /// Chunks written by the endless `slow` stream.
    slow_sent: AtomicUsize,
}

/// Counts a stream as dropped unless it ran to its end.
struct DropGuard {
    upstream: Arc<Upstream>,
    finished: bool,
}

impl DropGuard {
    fn ran_to_its_end(&mut self) {
        self.finished = true;
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.upstream.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let v = json!({"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1,
                   "model": "upstream-model",
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    format!("data: {v}\n\n")
}

fn usage_chunk(prompt: u64, completion: u64) -> String {
    let v = json!({"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1,
                   "model": "upstream-model", "choices": [],
                   "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": prompt + completion}});
    format!("data: {v}\n\n")
}

/// A server that speaks `POST /v1/chat/completions` with `stream: true`. The last user message
/// picks the behaviour: `normal`, `length`, `error`, `broken`, `slow`.
async fn upstream_server() -> (String, Arc<Upstream>) {
    let state = Arc::new(Upstream::default());
    let s = Arc::clone(&state);
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |body: Bytes| {
            let state = Arc::clone(&s);
            async move { answer(state, body) }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, state)
}

fn answer(state: Arc<Upstream>, body: Bytes) -> Response {
    let req: Value = serde_json::from_slice(&body).unwrap();
    state.requests.lock().unwrap().push(req.clone());
    let last = req["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_string();
    let mode = last
        .split_whitespace()
        .next()
        .unwrap_or("normal")
        .to_string();
    if mode == "error" {
        return (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            [("content-type", "application/json")],
            r#"{"error":{"message":"the upstream model crashed","type":"server_error"}}"#,
        )
            .into_response();
    }
    // Each item is written on its own, 10 ms apart (20 ms for `slow`); a line may be split
    // across two writes, as TCP may do.
    let mut items: Vec<Result<String, &'static str>> = Vec::new();
    match mode.as_str() {
        "slow" => {}
        "broken" => {
            items.push(Ok(chunk(json!({"role": "assistant", "content": ""}), None)));
            items.push(Ok(chunk(json!({"content": "Half"}), None)));
            items.push(Err("upstream died"));
        }
        _ => {
            let finish = if mode == "length" { "length" } else { "stop" };
            let first = chunk(json!({"role": "assistant", "content": "Hello"}), None);
            let (a, b) = first.split_at(first.len() / 2);
            items.push(Ok(a.to_string()));
            items.push(Ok(b.to_string()));
            items.push(Ok(chunk(json!({"content": " from"}), None)));
            items.push(Ok(": keep-alive comment\n\n".to_string()));
            items.push(Ok(chunk(json!({"content": " upstream"}), None)));
            items.push(Ok(chunk(json!({}), Some(finish))));
            items.push(Ok(usage_chunk(11, 3)));
            items.push(Ok("data: [DONE]\n\n".to_string()));
        }
    }
    let guard = DropGuard {
        upstream: Arc::clone(&state),
        finished: false,
    };
    let slow = mode == "slow";
    let stream = futures::stream::unfold(
        (items.into_iter(), guard, 0usize),
        move |(mut it, mut guard, n)| async move {
            if slow {
                // Bounded: 500 chunks at most, one every 20 ms.
                if n >= 500 {
                    guard.ran_to_its_end();
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                guard.upstream.slow_sent.fetch_add(1, Ordering::SeqCst);
                let c = chunk(json!({"content": format!(" w{n}")}), None);
                return Some((Ok(Bytes::from(c)), (it, guard, n + 1)));
            }
            let Some(item) = it.next() else {
                guard.ran_to_its_end();
                return None;
            };
            tokio::time::sleep(Duration::from_millis(10)).await;
            let item = item.map(Bytes::from).map_err(std::io::Error::other);
            Some((item, (it, guard, n + 1)))
        },
    );
    (
        [("content-type", "text/event-stream")],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn endpoint(upstream_url: &str) -> RunningServer {
    let engine = OpenAiEngine::new(&format!("{upstream_url}/v1"), None).unwrap();
    LocalBedrock::new(Arc::new(engine))
        .spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

const CLAUDE3: &str = "us.anthropic.claude-3-5-haiku-20241022-v1:0";

fn claude3_body(user: &str) -> Value {
    json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
           "system": "You are terse.", "stop_sequences": ["###"],
           "messages": [{"role": "user", "content": [{"type": "text", "text": user}]}]})
}

/// Streams one InvokeModelWithResponseStream call: the decoded chunks, or the stream's error.
async fn invoke(c: &Client, user: &str) -> (Vec<Value>, Option<String>) {
    let body = claude3_body(user);
    let mut out = c
        .invoke_model_with_response_stream()
        .model_id(CLAUDE3)
        .body(Blob::new(serde_json::to_vec(&body).unwrap()))
        .send()
        .await
        .unwrap();
    let mut chunks = Vec::new();
    loop {
        match out.body.recv().await {
            Ok(Some(ResponseStream::Chunk(p))) => {
                chunks.push(serde_json::from_slice(p.bytes().unwrap().as_ref()).unwrap())
            }
            Ok(Some(other)) => panic!("unexpected {other:?}"),
            Ok(None) => return (chunks, None),
            Err(e) => {
                let e = e.into_service_error();
                return (chunks, Some(format!("{e:?}")));
            }
        }
    }
}

fn text_of(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| Family::AnthropicMessages.decode_chunk(c).text)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_stop_reason_usage_and_the_upstream_request() {
    let (up_url, up) = upstream_server().await;
    let srv = endpoint(&up_url).await;
    let c = client(&srv.url());

    let (chunks, err) = invoke(&c, "normal please").await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text_of(&chunks), "Hello from upstream");
    let stops: Vec<String> = chunks
        .iter()
        .filter_map(|c| Family::AnthropicMessages.decode_chunk(c).stop_reason)
        .collect();
    assert_eq!(stops, vec!["end_turn".to_string()], "{chunks:?}");
    let metrics = &chunks.last().unwrap()["amazon-bedrock-invocationMetrics"];
    assert_eq!(metrics["inputTokenCount"], 11, "{metrics}");
    assert_eq!(metrics["outputTokenCount"], 3, "{metrics}");

    // What went upstream: the Bedrock model id as the model, the system prompt and the turn,
    // the sampling fields, streaming with usage.
    let sent = up.requests.lock().unwrap().last().cloned().unwrap();
    assert_eq!(sent["model"], CLAUDE3, "{sent}");
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);
    assert_eq!(sent["max_tokens"], 50);
    assert_eq!(sent["stop"], json!(["###"]));
    assert_eq!(
        sent["messages"],
        json!([{"role": "system", "content": "You are terse."},
               {"role": "user", "content": "normal please"}]),
        "{sent}"
    );

    // finish_reason "length" is Bedrock's max_tokens.
    let (chunks, err) = invoke(&c, "length please").await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text_of(&chunks), "Hello from upstream");
    let stop = chunks
        .iter()
        .find_map(|c| Family::AnthropicMessages.decode_chunk(c).stop_reason);
    assert_eq!(stop.as_deref(), Some("max_tokens"));

    // ConverseStream: the same words as Converse events, its stop reason and usage.
    let msg = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text("length again".into()))
        .build()
        .unwrap();
    let mut out = c
        .converse_stream()
        .model_id("us.amazon.nova-lite-v1:0")
        .system(SystemContentBlock::Text("Be brief.".into()))
        .messages(msg)
        .inference_config(InferenceConfiguration::builder().max_tokens(7).build())
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    let mut stop = None;
    let mut usage = None;
    while let Some(ev) = out.stream.recv().await.unwrap() {
        match ev {
            ConverseStreamOutput::ContentBlockDelta(d) => {
                text.push_str(d.delta().unwrap().as_text().unwrap())
            }
            ConverseStreamOutput::MessageStop(s) => {
                stop = Some(s.stop_reason().as_str().to_string())
            }
            ConverseStreamOutput::Metadata(m) => usage = m.usage().cloned(),
            _ => {}
        }
    }
    assert_eq!(text, "Hello from upstream");
    assert_eq!(stop.as_deref(), Some("max_tokens"));
    let usage = usage.unwrap();
    assert_eq!((usage.input_tokens(), usage.output_tokens()), (11, 3));
    let sent = up.requests.lock().unwrap().last().cloned().unwrap();
    assert_eq!(sent["model"], "us.amazon.nova-lite-v1:0");
    assert_eq!(sent["max_tokens"], 7);
    assert_eq!(sent["messages"][0]["content"], "Be brief.");
    assert_eq!(srv.server.activity().completed, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_failures_are_bedrock_stream_errors() {
    let (up_url, _up) = upstream_server().await;
    let srv = endpoint(&up_url).await;
    let c = client(&srv.url());

    // An error status upstream: no text, a model stream error that names the status.
    let (chunks, err) = invoke(&c, "error please").await;
    assert_eq!(text_of(&chunks), "");
    let err = err.expect("an upstream 500 became a successful stream");
    assert!(err.contains("ModelStreamErrorException"), "{err}");
    assert!(err.contains("500"), "{err}");

    // A stream that breaks after some text: the text, then the error, never a clean end.
    let (chunks, err) = invoke(&c, "broken please").await;
    assert_eq!(text_of(&chunks), "Half");
    let err = err.expect("a broken upstream stream ended cleanly");
    assert!(err.contains("ModelStreamErrorException"), "{err}");
    assert!(
        !chunks
            .iter()
            .any(|c| c.get("amazon-bedrock-invocationMetrics").is_some()),
        "{chunks:?}"
    );

    // Nothing listening upstream.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = endpoint(&format!("http://127.0.0.1:{port}")).await;
    let (chunks, err) = invoke(&client(&dead.url()), "normal").await;
    assert!(chunks.is_empty() || text_of(&chunks).is_empty());
    let err = err.expect("an unreachable upstream became a successful stream");
    assert!(err.contains("unreachable"), "{err}");
    let a = srv.server.activity();
    assert_eq!((a.completed, a.failed), (0, 2), "{a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_cancels_the_upstream_request() {
    let (up_url, up) = upstream_server().await;
    let srv = endpoint(&up_url).await;
    let c = client(&srv.url());
    let body = claude3_body("slow please");
    let mut out = c
        .invoke_model_with_response_stream()
        .model_id(CLAUDE3)
        .body(Blob::new(serde_json::to_vec(&body).unwrap()))
        .send()
        .await
        .unwrap();
    // Words arrive as the upstream writes them, 20 ms apart: streamed, not collected.
    let mut times = Vec::new();
    let mut text = String::new();
    while times.len() < 6 {
        if let Some(ResponseStream::Chunk(p)) = out.body.recv().await.unwrap() {
            let v: Value = serde_json::from_slice(p.bytes().unwrap().as_ref()).unwrap();
            if let Some(t) = Family::AnthropicMessages.decode_chunk(&v).text {
                text.push_str(&t);
                times.push(Instant::now());
            }
        }
    }
    assert!(text.starts_with(" w0 w1 w2"), "{text}");
    let spread = *times.last().unwrap() - times[0];
    assert!(spread >= Duration::from_millis(50), "{spread:?}");
    assert_eq!(up.dropped.load(Ordering::SeqCst), 0);

    drop(out);
    let left = Instant::now();
    let deadline = left + Duration::from_secs(10);
    while up.dropped.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the upstream request was not cancelled ({} chunks sent)",
            up.slow_sent.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let cancel_ms = left.elapsed().as_secs_f64() * 1000.0;
    // The upstream stopped writing: far fewer than its 500 chunks, and no more after the drop.
    let sent = up.slow_sent.load(Ordering::SeqCst);
    assert!(sent < 100, "{sent} chunks written upstream");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(up.slow_sent.load(Ordering::SeqCst), sent);
    let deadline = Instant::now() + Duration::from_secs(5);
    while srv.server.activity().cancelled == 0 {
        assert!(Instant::now() < deadline, "{:?}", srv.server.activity());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!("upstream cancelled {cancel_ms:.1} ms after the client left, after {sent} chunks");
}
