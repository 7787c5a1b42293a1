//! `bedrock-stream serve` as the quick start runs it: the default engine (the embedded model)
//! behind the in-process local endpoint, the handler calling it through the real AWS SDK. Real
//! text on the three routes, streamed token by token; the model's queue full → 429 `throttled`
//! with Retry-After; clients that leave → their generations are cancelled (the endpoint's
//! `GET /_emulator/stats`) and the model is free at once for the next request.
//!
//! The model file comes from `fetch::resolve_model(None, false)` (the user cache; scripts/test
//! fetches it first). Short greedy generations: CI has 2 cores.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};

const QUESTION: &str = "What is the capital of France? Answer in one word.";
/// The requests that may wait for the model in `serve` (crates/bedrock-stream/src/engines.rs).
const QUEUE_BOUND: usize = 64;
/// Tokens of the long answer that keeps the model busy (counting to 1000 runs past 700 tokens
/// greedily); it is abandoned after a few, so it costs little, but on a fast quiet machine it
/// outlasts filling the queue.
const LONG: u32 = 1000;

fn seed(question: &str, max: u32) -> String {
    json!({"bedrockParams": {"modelId": "meta.llama3-8b-instruct-v1:0"},
           "modelParams": {"prompt": format!("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n{question}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
                           "max_gen_len": max, "temperature": 0}})
    .to_string()
}

async fn stats(p: &support::Proc) -> Value {
    let url = format!("{}/_emulator/stats", p.bedrock_url.as_ref().unwrap());
    serde_json::from_str(&reqwest::get(url).await.unwrap().text().await.unwrap()).unwrap()
}

/// Waits, bounded, until the endpoint's `stats` satisfy `done`.
async fn wait_stats(p: &support::Proc, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = stats(p).await;
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what}: not within 30 s: {s}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap()
}

/// An NDJSON answer: the text events with their arrival times, and the last event.
async fn ndjson(url: &str, body: String) -> (Vec<(Instant, String)>, Value) {
    let r = reqwest::Client::new()
        .post(url)
        .header("accept", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let (mut buf, mut texts, mut last) = (String::new(), Vec::new(), Value::Null);
    let deadline = Instant::now() + Duration::from_secs(120);
    while let Some(chunk) = tokio::time::timeout_at(deadline.into(), stream.next())
        .await
        .expect("the answer took over 120 s")
    {
        buf.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        while let Some(i) = buf.find('\n') {
            let line: String = buf.drain(..=i).collect();
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["type"] == "text" {
                texts.push((Instant::now(), v["text"].as_str().unwrap().to_string()));
            }
            last = v;
        }
    }
    (texts, last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_the_embedded_model_streams_throttles_and_cancels() {
    let model =
        tokio::task::spawn_blocking(|| bedrock_local_model::fetch::resolve_model(None, false))
            .await
            .unwrap()
            .expect("the default model");
    let p = support::start(
        &["serve", "--listen", "127.0.0.1:0"],
        &[
            ("BEDROCK_STREAM_MODEL", model.to_str().unwrap()),
            // One attempt: a 429 from the model's queue reaches the client as it is.
            ("AWS_MAX_ATTEMPTS", "1"),
            ("RUST_LOG", "warn"),
        ],
        &["BEDROCK_ENDPOINT_URL", "LOG_PROMPTS"],
        Duration::from_secs(120),
    );
    assert!(
        p.bedrock_url.is_some(),
        "no local endpoint in the banner: {}",
        p.stderr()
    );
    assert!(p.stderr().contains("embedded model"), "{}", p.stderr());
    let http = reqwest::Client::new();

    // --- Real text, streamed token by token, on the seed route.
    let (texts, done) = ndjson(&p.url, seed(QUESTION, 8)).await;
    let text: String = texts.iter().map(|(_, t)| t.as_str()).collect();
    assert!(text.contains("Paris"), "{text:?}");
    assert_eq!(done["type"], "done", "{done}");
    let out = n(&done, "output_tokens");
    assert!((1..=8).contains(&out), "{done}");
    assert!(n(&done, "input_tokens") > 10, "{done}");
    assert!(done["stop_reason"].is_string(), "{done}");
    assert!(texts.len() >= 3, "{texts:?}");
    let spread = texts.last().unwrap().0 - texts[0].0;
    assert!(
        spread >= Duration::from_millis(5),
        "the words arrived together: {spread:?}"
    );

    // The same question through the OpenAI route and /converse: the same greedy words.
    let r = http
        .post(format!("{}/v1/chat/completions", p.url))
        .body(
            json!({"model": "us.amazon.nova-lite-v1:0", "max_tokens": 8, "temperature": 0,
                   "messages": [{"role": "user", "content": QUESTION}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], text.as_str(), "{v}");
    assert_eq!(v["usage"]["completion_tokens"], out, "{v}");
    let r = http
        .post(format!("{}/converse", p.url))
        .body(
            json!({"modelId": "us.amazon.nova-lite-v1:0",
                   "messages": [{"role": "user", "content": [{"text": QUESTION}]}],
                   "inferenceConfig": {"maxTokens": 8, "temperature": 0}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), text);

    // --- The queue: one long answer running, QUEUE_BOUND waiting, the next one refused.
    let base = stats(&p).await;
    let running = http
        .post(&p.url)
        .body(seed("Count from 1 to 1000, separated by commas.", LONG))
        .send()
        .await
        .unwrap();
    assert_eq!(running.status(), 200);
    let mut running = running.bytes_stream();
    running.next().await.unwrap().unwrap();
    let t0 = Instant::now();
    for _ in 0..4 {
        running.next().await.unwrap().unwrap();
    }
    let per_token = t0.elapsed() / 4;
    let waiting: Vec<_> = (0..QUEUE_BOUND)
        .map(|_| {
            let req = http.post(&p.url).body(seed(QUESTION, 8)).send();
            tokio::spawn(req)
        })
        .collect();
    wait_stats(&p, "all queued", |s| {
        n(s, "started") == n(&base, "started") + 1 + QUEUE_BOUND as u64
    })
    .await;
    let refused = http
        .post(&p.url)
        .body(seed(QUESTION, 8))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1");
    let v: Value = serde_json::from_str(&refused.text().await.unwrap()).unwrap();
    assert_eq!(v["error"]["type"], "throttled", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("waiting for the embedded model"),
        "{v}"
    );
    // The long answer was being written all along.
    running.next().await.unwrap().unwrap();
    assert!(waiting.iter().all(|w| !w.is_finished()));

    // --- Everybody leaves: every call is cancelled, the running generation stops.
    for w in &waiting {
        w.abort();
    }
    drop(running);
    let left = Instant::now();
    let s = wait_stats(&p, "all cancelled", |s| {
        n(s, "cancelled") == n(&base, "cancelled") + 1 + QUEUE_BOUND as u64
    })
    .await;
    assert_eq!(n(&s, "completed"), n(&base, "completed"), "{s}");
    assert_eq!(n(&s, "in_flight"), 0, "{s}");
    let cancelled_after = left.elapsed();
    // The model is free: the next answer starts long before the abandoned one (~990 tokens
    // to go) or the 64 waiting ones could have been written.
    let t = Instant::now();
    let (texts, done) = ndjson(&p.url, seed(QUESTION, 8)).await;
    let first_word = texts[0].0 - t;
    eprintln!(
        "cancelled {cancelled_after:?} after the clients left; next first word after \
         {first_word:?}; {per_token:?} per token"
    );
    assert_eq!(done["type"], "done");
    assert!(
        first_word < per_token * (LONG - 10) / 3,
        "the model was still busy: first word after {first_word:?}, {per_token:?} per token"
    );
    let s = stats(&p).await;
    assert_eq!(n(&s, "completed"), n(&base, "completed") + 1, "{s}");
    let logs = p.stop();
    assert!(!logs.contains("panicked"), "{logs}");
}
