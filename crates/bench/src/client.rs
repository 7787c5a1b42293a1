//! The HTTP client side: a pooled hyper client (HTTP/1.1, TCP_NODELAY) that posts a body and
//! reads the streamed answer, timing the first byte and every body frame; and an AWS SDK client
//! for calling the local Bedrock endpoint directly.

use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A client whose pool keeps up to `pool` idle connections to one host, so `pool` workers
/// each keep their own connection.
pub fn http_client(pool: usize) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(10)));
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(pool.max(1))
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
}

/// An SDK client for the local endpoint: no retries (an injected fault surfaces at once), dummy
/// keys (the local endpoint checks no signature, but the SDK signs anyway, as against AWS).
pub fn sdk_client(endpoint: &str) -> aws_sdk_bedrockruntime::Client {
    let conf = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "AKIDBENCH",
            "bench-secret",
            None,
            None,
            "bench",
        ))
        .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_bedrockruntime::Client::from_conf(conf)
}

/// A streamed response as the client saw it.
#[derive(Debug, Clone)]
pub struct Streamed {
    pub status: u16,
    /// When the request was sent.
    pub start: Instant,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// When each non-empty body frame arrived, relative to the request start.
    pub frames: Vec<Duration>,
    /// Response headers arrived.
    pub head: Duration,
    /// Body finished (or failed).
    pub total: Duration,
    /// The body failed after the headers (connection reset, …): what we got is in `body`.
    pub body_error: Option<String>,
}

impl Streamed {
    pub fn first_byte(&self) -> Option<Duration> {
        self.frames.first().copied()
    }

    /// The body frames' arrival instants.
    pub fn arrivals(&self) -> Vec<Instant> {
        self.frames.iter().map(|d| self.start + *d).collect()
    }
}

/// Posts `body` to `url` and reads the whole answer. Errors before the response head are
/// returned as `Err`; errors while reading the body are kept in `body_error`.
pub async fn post_streamed(
    client: &HttpClient,
    url: &str,
    body: Bytes,
    capacity: usize,
) -> anyhow::Result<Streamed> {
    let req = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .context("building the request")?;
    let t0 = Instant::now();
    let resp = client.request(req).await.context("sending the request")?;
    let head = t0.elapsed();
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = resp.into_body();
    let mut out = Vec::with_capacity(capacity);
    let mut frames = Vec::with_capacity(32);
    let mut body_error = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    if !data.is_empty() {
                        frames.push(t0.elapsed());
                        out.extend_from_slice(&data);
                    }
                }
            }
            Err(e) => {
                body_error = Some(e.to_string());
                break;
            }
        }
    }
    Ok(Streamed {
        status,
        start: t0,
        content_type,
        body: out,
        frames,
        head,
        total: t0.elapsed(),
        body_error,
    })
}

/// `GET url`, returning the status and body (for `/_emulator/stats`, `/healthz`).
pub async fn get(client: &HttpClient, url: &str) -> anyhow::Result<(u16, Bytes)> {
    let req = http::Request::get(url)
        .body(Full::new(Bytes::new()))
        .context("building the request")?;
    let resp = client.request(req).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// `POST url` with a JSON body, returning the status.
pub async fn post_json(
    client: &HttpClient,
    url: &str,
    body: &serde_json::Value,
) -> anyhow::Result<u16> {
    let req = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(body)?)))
        .context("building the request")?;
    let resp = client.request(req).await?;
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await?;
    Ok(status)
}
