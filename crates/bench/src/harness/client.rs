//! The client side: a pooled hyper client (HTTP/1.1, TCP_NODELAY) that posts a body and reads
//! the streamed answer, timing every body frame; and the AWS SDK calling the local Bedrock
//! endpoint directly (InvokeModelWithResponseStream, ConverseStream).

use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ConversationRole, ConverseStreamOutput,
    InferenceConfiguration, Message, ResponseStream,
};
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
    /// Per non-empty body frame: its arrival after the request start, and the body bytes
    /// received up to and including it.
    pub frames: Vec<(Duration, usize)>,
    /// Body finished (or failed).
    pub total: Duration,
    /// The body failed after the headers (connection reset, …): what we got is in `body`.
    pub body_error: Option<String>,
}

impl Streamed {
    pub fn first_byte(&self) -> Option<Duration> {
        self.frames.first().map(|f| f.0)
    }

    /// The body frames' arrival instants.
    pub fn arrivals(&self) -> Vec<Instant> {
        self.frames.iter().map(|f| self.start + f.0).collect()
    }

    /// When the frame holding body byte `at` (an offset) arrived.
    pub fn arrival_of(&self, at: usize) -> Option<Duration> {
        self.frames.iter().find(|f| f.1 >= at).map(|f| f.0)
    }
}

/// Posts a JSON `body` to `url` with extra `headers` and reads the whole answer. Errors before
/// the response head are `Err`; errors while reading the body are kept in `body_error`.
pub async fn post_streamed(
    client: &HttpClient,
    url: &str,
    body: Bytes,
    headers: &[(&str, &str)],
) -> anyhow::Result<Streamed> {
    let mut req = http::Request::post(url).header(http::header::CONTENT_TYPE, "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(body)).context("building the request")?;
    let t0 = Instant::now();
    let resp = client.request(req).await.context("sending the request")?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = resp.into_body();
    let (mut out, mut frames, mut body_error) =
        (Vec::with_capacity(4096), Vec::with_capacity(32), None);
    // Bounded by the server's answer; callers wrap the call in a timeout.
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref().filter(|d| !d.is_empty()) {
                    out.extend_from_slice(data);
                    frames.push((t0.elapsed(), out.len()));
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
        total: t0.elapsed(),
        body_error,
    })
}

/// `POST url` with a JSON body, returning the status.
pub async fn post_json(
    client: &HttpClient,
    url: &str,
    body: &serde_json::Value,
) -> anyhow::Result<u16> {
    let r = post_streamed(client, url, Bytes::from(serde_json::to_vec(body)?), &[]).await?;
    Ok(r.status)
}

/// A direct answer through the SDK: first text chunk, whole stream, every text chunk's
/// arrival, the text.
pub struct Direct {
    pub first: Duration,
    pub total: Duration,
    pub arrivals: Vec<Instant>,
    pub text: String,
}

impl Direct {
    fn new(t0: Instant, arrivals: Vec<Instant>, text: String) -> Direct {
        let total = t0.elapsed();
        let first = arrivals.first().map_or(total, |a| *a - t0);
        Direct {
            first,
            total,
            arrivals,
            text,
        }
    }
}

/// InvokeModelWithResponseStream of `body` (a Claude v2 text-completions body).
pub async fn invoke_stream(
    sdk: &aws_sdk_bedrockruntime::Client,
    model_id: &str,
    body: &[u8],
) -> anyhow::Result<Direct> {
    let t0 = Instant::now();
    let mut out = sdk
        .invoke_model_with_response_stream()
        .model_id(model_id)
        .content_type("application/json")
        .accept("application/json")
        .body(Blob::new(body.to_vec()))
        .send()
        .await
        .context("direct InvokeModelWithResponseStream")?;
    let (mut arrivals, mut text) = (Vec::with_capacity(32), String::new());
    // Bounded by the endpoint's answer; the caller wraps the whole call in a timeout.
    while let Some(event) = out.body.recv().await.context("reading the event stream")? {
        let ResponseStream::Chunk(part) = event else {
            continue;
        };
        let Some(bytes) = part.bytes() else { continue };
        let v: serde_json::Value = serde_json::from_slice(bytes.as_ref())?;
        if let Some(t) = v["completion"].as_str().filter(|t| !t.is_empty()) {
            arrivals.push(Instant::now());
            text.push_str(t);
        }
    }
    Ok(Direct::new(t0, arrivals, text))
}

/// ConverseStream of one user message with `maxTokens` = `max_tokens`.
pub async fn converse_stream(
    sdk: &aws_sdk_bedrockruntime::Client,
    model_id: &str,
    prompt: &str,
    max_tokens: u32,
) -> anyhow::Result<Direct> {
    let msg = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(prompt.to_string()))
        .build()
        .context("building the message")?;
    let limit = InferenceConfiguration::builder()
        .max_tokens(i32::try_from(max_tokens).unwrap_or(i32::MAX))
        .build();
    let t0 = Instant::now();
    let mut out = sdk
        .converse_stream()
        .model_id(model_id)
        .messages(msg)
        .inference_config(limit)
        .send()
        .await
        .context("direct ConverseStream")?;
    let (mut arrivals, mut text) = (Vec::with_capacity(32), String::new());
    // Bounded by the endpoint's answer; the caller wraps the call in a timeout.
    while let Some(ev) = out
        .stream
        .recv()
        .await
        .context("reading the event stream")?
    {
        if let ConverseStreamOutput::ContentBlockDelta(d) = ev {
            if let Some(ContentBlockDelta::Text(t)) = d.delta() {
                if !t.is_empty() {
                    arrivals.push(Instant::now());
                    text.push_str(t);
                }
            }
        }
    }
    Ok(Direct::new(t0, arrivals, text))
}
