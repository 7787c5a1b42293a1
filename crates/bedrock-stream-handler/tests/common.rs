//! A handler served on a real socket in front of the local Bedrock endpoint (scripted engine),
//! talking to it through the real AWS SDK, as `bedrock-stream serve` runs it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region};
use bedrock_local::{LocalBedrock, RunningServer, ScriptedConfig, ScriptedEngine};
use bedrock_stream_handler::{body::end_streams_cleanly, router, App, Config};
use futures::StreamExt;
use tokio::net::TcpListener;

pub struct Harness {
    pub bedrock: RunningServer,
    pub url: String,
    _server: tokio::task::JoinHandle<()>,
}

pub fn sdk_client(endpoint: &str) -> aws_sdk_bedrockruntime::Client {
    let conf = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
        .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_bedrockruntime::Client::from_conf(conf)
}

pub async fn serve_handler(
    client: aws_sdk_bedrockruntime::Client,
    config: Config,
) -> (String, tokio::task::JoinHandle<()>) {
    let app = end_streams_cleanly(router(App::new(client, config)));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, task)
}

pub async fn harness(scripted: ScriptedConfig, config: Config) -> Harness {
    let engine = Arc::new(ScriptedEngine::new(scripted));
    let bedrock = LocalBedrock::new(engine)
        .spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (url, task) = serve_handler(sdk_client(&bedrock.url()), config).await;
    Harness {
        bedrock,
        url,
        _server: task,
    }
}

/// Sends a POST and collects the body pieces with their arrival times.
pub async fn post(
    url: &str,
    body: impl Into<reqwest::Body>,
    accept: Option<&str>,
) -> (
    u16,
    String,
    Vec<(Instant, Vec<u8>)>,
    reqwest::header::HeaderMap,
) {
    let mut req = reqwest::Client::new().post(url).body(body);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let mut pieces = Vec::new();
    let mut stream = resp.bytes_stream();
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Some(chunk) = tokio::time::timeout_at(deadline.into(), stream.next())
        .await
        .expect("body took too long")
    {
        pieces.push((Instant::now(), chunk.unwrap().to_vec()));
    }
    let all: Vec<u8> = pieces.iter().flat_map(|(_, b)| b.clone()).collect();
    (
        status,
        String::from_utf8(all).expect("UTF-8 body"),
        pieces,
        headers,
    )
}

pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// How late this machine wakes a thread that asked to sleep 1 ms, measured while a test runs:
/// the baseline for timing bounds, so that a busy shared CI box widens them by what it actually
/// delayed, and a quiet one keeps them tight.
pub struct LatenessProbe {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<f64>,
}

impl LatenessProbe {
    pub fn start() -> Self {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut max: f64 = 0.0;
            // Bounded: at most 60 s.
            let until = Instant::now() + Duration::from_secs(60);
            while !flag.load(Ordering::Relaxed) && Instant::now() < until {
                let t = Instant::now();
                std::thread::sleep(Duration::from_millis(1));
                max = max.max(t.elapsed().as_secs_f64() * 1000.0 - 1.0);
            }
            max
        });
        LatenessProbe { stop, thread }
    }

    /// The largest lateness seen, in ms.
    pub fn max_ms(self) -> f64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap_or(0.0)
    }
}
