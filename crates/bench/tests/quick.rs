//! The load driver at small scale, in process: the local Bedrock endpoint (scripted engine)
//! and the handler's router on real loopback sockets, the handler calling the endpoint through
//! the real SDK, faults mixed in. Nothing may be lost or corrupted.

use std::sync::Arc;
use std::time::Duration;

use bedrock_local::{LocalBedrock, RunningServer, ScriptedConfig, ScriptedEngine};
use bedrock_stream_handler::{body::end_streams_cleanly, router, App, Config};
use bench::scenario::load::{self, LoadConfig};
use tokio::net::TcpListener;

struct Stack {
    bedrock: RunningServer,
    url: String,
    server: tokio::task::JoinHandle<()>,
}

async fn stack(chunk_delay: Duration) -> anyhow::Result<Stack> {
    let engine = Arc::new(ScriptedEngine::new(ScriptedConfig {
        chunk_delay,
        tokens_per_chunk: 1,
        default_max_tokens: 256,
    }));
    let bedrock = LocalBedrock::new(engine)
        .spawn("127.0.0.1:0".parse()?)
        .await?;
    // As `serve` with AWS_MAX_ATTEMPTS=1: no retries, so each fault fails exactly one stream.
    let client = bench::harness::client::sdk_client(&bedrock.url());
    let app = end_streams_cleanly(router(App::new(client, Config::default())));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Stack {
        bedrock,
        url,
        server,
    })
}

fn config(url: &str, streams: usize, concurrency: usize, faults_every: usize) -> LoadConfig {
    LoadConfig {
        url: url.to_string(),
        streams,
        concurrency,
        faults_every,
        words: 20,
        stream_timeout: Duration::from_secs(15),
        time_budget: Duration::from_secs(15),
        variant: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_streams_with_faults_injected_over_http_lose_nothing() {
    let s = stack(Duration::from_millis(1)).await.unwrap();
    let cfg = config(&s.url, 300, 100, 25);
    let report = load::run(&cfg, Some(s.bedrock.url())).await.unwrap();
    let summary = report.summary();
    assert!(report.passed(), "{summary}");
    assert_eq!(report.started, 300, "{summary}");
    assert_eq!(report.faults_injected, 12, "{summary}");
    // Each fault fails exactly one stream, with the documented error; the rest are exact.
    assert_eq!(report.documented_errors(), 12, "{summary}");
    assert_eq!(report.ok, 288, "{summary}");
    assert_eq!(report.errors.get("429 throttled"), Some(&4), "{summary}");
    assert_eq!(
        report.errors.get("502 bedrock_internal_error"),
        Some(&4),
        "{summary}"
    );
    assert_eq!(
        report.errors.get("200+marker model_stream_error"),
        Some(&4),
        "{summary}"
    );
    assert_eq!(report.chunks_ok, 288 * 20, "{summary}");
    assert_eq!(report.ttfb_ms.len(), 288);
    let activity = s.bedrock.server.activity();
    assert_eq!(activity.in_flight, 0, "{activity:?}");
    s.server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_drops_bytes_is_caught() {
    // A fake "serve" that answers 200 with the first half of every expected text, silently.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(|body: axum::body::Bytes| async move {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let prompt = v["modelParams"]["prompt"].as_str().unwrap().to_string();
            // Recover the stream index from the prompt ("Stream {i}.{variant}: ...").
            let i: usize = prompt
                .trim_start_matches("Stream ")
                .split('.')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let expected = bench::scenario::cases::case(i, 1, 20).unwrap().expected;
            let half = expected.len() / 2;
            let cut = (0..=half)
                .rev()
                .find(|n| expected.is_char_boundary(*n))
                .unwrap();
            expected[..cut].to_string()
        }),
    );
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let report = load::run(&config(&url, 20, 5, 0), None).await.unwrap();
    assert!(!report.passed());
    assert_eq!(report.count("lost"), 20, "{}", report.summary());
    server.abort();
}
