//! Added latency: the same request through `serve` and straight to the local Bedrock endpoint
//! through the Rust SDK, alternating, so the difference is what serve adds; and per-chunk
//! forwarding delay with chunks paced by the engine, measured at a tap in front of the
//! endpoint.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;

use super::cases::{self, Case, MODEL_ID};
use super::Size;
use crate::harness::bedrock_stream::{self, ServeOptions};
use crate::harness::client::{self, Direct, HttpClient, Streamed};
use crate::harness::system::{own_cpu, Window};
use crate::harness::tap::{self, Tap};
use crate::harness::Proc;
use crate::stats::ms;

/// What the latency benchmark does.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LatencyConfig {
    /// Sequential requests each way for the first-byte comparison.
    pub n: usize,
    pub warmup: usize,
    /// Streams each way for the per-chunk comparison.
    pub chunk_streams: usize,
    /// The engine's pause between chunks in the per-chunk comparison.
    pub chunk_delay_ms: u64,
    pub words: u32,
    pub serve: ServeOptions,
}

impl LatencyConfig {
    pub fn for_size(size: Size, serve: &ServeOptions) -> LatencyConfig {
        LatencyConfig {
            n: size.pick(100, 500),
            warmup: size.pick(10, 50),
            chunk_streams: size.pick(3, 20),
            chunk_delay_ms: 20,
            words: 20,
            serve: serve.clone(),
        }
    }
}

impl Default for LatencyConfig {
    fn default() -> Self {
        LatencyConfig::for_size(Size::Full, &ServeOptions::default())
    }
}

/// What it measured (all in ms).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct LatencyReport {
    pub config: LatencyConfig,
    pub direct_ttfb_ms: Vec<f64>,
    pub serve_ttfb_ms: Vec<f64>,
    /// Paired: serve minus direct, request by request.
    pub added_ttfb_ms: Vec<f64>,
    pub direct_total_ms: Vec<f64>,
    pub serve_total_ms: Vec<f64>,
    /// Gaps between successive text chunks at the client.
    pub direct_gap_ms: Vec<f64>,
    pub serve_gap_ms: Vec<f64>,
    /// Tap: each body frame's arrival at the client minus the endpoint's chunk passing the tap.
    pub forward_ms: Vec<f64>,
    /// Answers whose text was not the expected one (must be 0).
    pub mismatches: usize,
    /// Cores other processes on the machine kept busy during the first-byte runs.
    pub other_cores: f64,
    /// The same during the per-chunk runs.
    pub other_cores_chunks: f64,
}

const CALL_LIMIT: Duration = Duration::from_secs(30);

async fn direct(sdk: &aws_sdk_bedrockruntime::Client, case: &Case) -> anyhow::Result<Direct> {
    tokio::time::timeout(
        CALL_LIMIT,
        client::invoke_stream(sdk, MODEL_ID, &case.model_body),
    )
    .await?
}

async fn through_serve(http: &HttpClient, url: &str, case: &Case) -> anyhow::Result<Streamed> {
    let r = tokio::time::timeout(
        CALL_LIMIT,
        client::post_streamed(http, url, case.seed_body.clone(), &[]),
    )
    .await??;
    if r.status != 200 {
        bail!(
            "serve answered {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    Ok(r)
}

fn gaps(arrivals: &[Instant]) -> impl Iterator<Item = f64> + '_ {
    arrivals.windows(2).map(|w| ms(w[1] - w[0]))
}

/// CPU seconds of the endpoint, serve and this process.
fn ours(a: &Proc, b: &Proc) -> f64 {
    a.cpu_seconds() + b.cpu_seconds() + own_cpu()
}

/// Runs both parts, starting and stopping its own children of `bin`.
pub async fn run(bin: &Path, cfg: &LatencyConfig) -> anyhow::Result<LatencyReport> {
    let mut r = LatencyReport {
        config: cfg.clone(),
        ..Default::default()
    };
    let cases = cases::cases(cfg.n.max(cfg.chunk_streams) + cfg.warmup, 7, cfg.words)?;

    // First byte: an unpaced endpoint, serve in front of it.
    let bedrock = bedrock_stream::local_bedrock(bin, 0, 1).await?;
    let serve = bedrock_stream::serve(bin, &bedrock.url, &cfg.serve).await?;
    let (sdk, http, url) = (
        client::sdk_client(&bedrock.url),
        client::http_client(4),
        format!("{}/", serve.url),
    );
    for case in cases.iter().take(cfg.warmup) {
        direct(&sdk, case).await?;
        through_serve(&http, &url, case).await?;
    }
    let window = Window::open(|| ours(&bedrock, &serve));
    for (i, case) in cases.iter().skip(cfg.warmup).take(cfg.n).enumerate() {
        // Alternate which goes first, so neither always finds the machine warmer.
        let (d, s) = if i % 2 == 0 {
            let d = direct(&sdk, case).await?;
            (d, through_serve(&http, &url, case).await?)
        } else {
            let s = through_serve(&http, &url, case).await?;
            (direct(&sdk, case).await?, s)
        };
        let sfirst = s.first_byte().unwrap_or(s.total);
        if d.text != case.expected || s.body != case.expected.as_bytes() {
            r.mismatches += 1;
        }
        r.direct_ttfb_ms.push(ms(d.first));
        r.serve_ttfb_ms.push(ms(sfirst));
        r.added_ttfb_ms.push(ms(sfirst) - ms(d.first));
        r.direct_total_ms.push(ms(d.total));
        r.serve_total_ms.push(ms(s.total));
    }
    r.other_cores = window.others();
    serve.stop().await;
    bedrock.stop().await;

    // Per chunk: a paced endpoint, a tap in front of it, serve behind the tap.
    let paced = bedrock_stream::local_bedrock(bin, cfg.chunk_delay_ms, 1).await?;
    let tap = Tap::start(paced.url.trim_start_matches("http://").to_string()).await?;
    let serve = bedrock_stream::serve(bin, &tap.url, &cfg.serve).await?;
    let (sdk, url) = (client::sdk_client(&paced.url), format!("{}/", serve.url));
    // Warm both connections.
    if let Some(case) = cases.first() {
        direct(&sdk, case).await?;
        through_serve(&http, &url, case).await?;
    }
    let window = Window::open(|| ours(&paced, &serve));
    for case in cases.iter().skip(1).take(cfg.chunk_streams) {
        let d = direct(&sdk, case).await?;
        r.direct_gap_ms.extend(gaps(&d.arrivals));
        tap.clear();
        let s = through_serve(&http, &url, case).await?;
        let arrivals = s.arrivals();
        r.serve_gap_ms.extend(gaps(&arrivals));
        r.forward_ms.extend(
            tap::forwarding_delays(&tap.reads(), &arrivals)
                .into_iter()
                .map(ms),
        );
        if d.text != case.expected || s.body != case.expected.as_bytes() {
            r.mismatches += 1;
        }
    }
    r.other_cores_chunks = window.others();
    serve.stop().await;
    paced.stop().await;
    Ok(r)
}
