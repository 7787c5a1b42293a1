//! Added latency: the same request through `serve` and straight to the local Bedrock endpoint
//! through the Rust SDK, alternating, so the difference is what serve adds; and per-chunk
//! forwarding delay with chunks paced by the engine, measured at a tap in front of the
//! endpoint.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::ResponseStream;
use serde_json::Value;

use crate::cases::{self, Case, MODEL_ID};
use crate::client::{self, HttpClient};
use crate::procs::{self, ServeOptions};
use crate::stats::ms;
use crate::tap::{self, Tap};

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

impl Default for LatencyConfig {
    fn default() -> Self {
        LatencyConfig {
            n: 500,
            warmup: 50,
            chunk_streams: 20,
            chunk_delay_ms: 20,
            words: 20,
            serve: ServeOptions::default(),
        }
    }
}

/// What it measured (all in ms).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct LatencyReport {
    pub n: usize,
    pub direct_ttfb_ms: Vec<f64>,
    pub serve_ttfb_ms: Vec<f64>,
    /// Paired: serve minus direct, request by request.
    pub added_ttfb_ms: Vec<f64>,
    pub direct_total_ms: Vec<f64>,
    pub serve_total_ms: Vec<f64>,
    pub chunk_delay_ms: u64,
    pub chunk_streams: usize,
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

/// A direct SDK call: first text chunk time, arrival instants of text chunks, and the text.
pub async fn direct(
    sdk: &aws_sdk_bedrockruntime::Client,
    case: &Case,
) -> anyhow::Result<(Duration, Duration, Vec<Instant>, String)> {
    let t0 = Instant::now();
    let mut out = sdk
        .invoke_model_with_response_stream()
        .model_id(MODEL_ID)
        .content_type("application/json")
        .accept("application/json")
        .body(Blob::new(case.model_body.to_vec()))
        .send()
        .await
        .context("direct InvokeModelWithResponseStream")?;
    let mut arrivals = Vec::with_capacity(32);
    let mut text = String::with_capacity(case.expected.len());
    // Bounded by the endpoint's answer; the caller wraps the whole call in a timeout.
    while let Some(event) = out.body.recv().await.context("reading the event stream")? {
        if let ResponseStream::Chunk(part) = event {
            let Some(bytes) = part.bytes() else { continue };
            let v: Value = serde_json::from_slice(bytes.as_ref())?;
            if let Some(t) = v["completion"].as_str() {
                if !t.is_empty() {
                    arrivals.push(Instant::now());
                    text.push_str(t);
                }
            }
        }
    }
    let total = t0.elapsed();
    let first = arrivals.first().map(|a| *a - t0).unwrap_or(total);
    Ok((first, total, arrivals, text))
}

async fn through_serve(
    http: &HttpClient,
    url: &str,
    case: &Case,
) -> anyhow::Result<client::Streamed> {
    let r =
        client::post_streamed(http, url, case.seed_body.clone(), case.expected.len() + 64).await?;
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

const CALL_LIMIT: Duration = Duration::from_secs(30);

/// Runs both parts, starting and stopping its own children of `bin`.
pub async fn run(bin: &Path, cfg: &LatencyConfig) -> anyhow::Result<LatencyReport> {
    let mut report = LatencyReport {
        n: cfg.n,
        chunk_delay_ms: cfg.chunk_delay_ms,
        chunk_streams: cfg.chunk_streams,
        ..Default::default()
    };
    let cases = cases::cases(cfg.n.max(cfg.chunk_streams) + cfg.warmup, 7, cfg.words)?;

    // First byte: an unpaced endpoint, serve in front of it.
    let bedrock = procs::local_bedrock(bin, 0, 1).await?;
    let serve = procs::serve(bin, &bedrock.url, &cfg.serve).await?;
    let sdk = client::sdk_client(&bedrock.url);
    let http = client::http_client(4);
    let url = format!("{}/", serve.url);
    for case in cases.iter().take(cfg.warmup) {
        tokio::time::timeout(CALL_LIMIT, direct(&sdk, case)).await??;
        tokio::time::timeout(CALL_LIMIT, through_serve(&http, &url, case)).await??;
    }
    let ours = |p: &[&procs::Proc]| {
        p.iter().map(|x| x.cpu_seconds()).sum::<f64>() + procs::cpu_seconds(None).unwrap_or(0.0)
    };
    let (m0, c0, t0) = (
        procs::MachineCpu::now(),
        ours(&[&bedrock, &serve]),
        Instant::now(),
    );
    for (i, case) in cases.iter().skip(cfg.warmup).take(cfg.n).enumerate() {
        let mut d = None;
        let mut s = None;
        // Alternate which goes first, so neither always finds the machine warmer.
        for turn in 0..2 {
            if (i + turn) % 2 == 0 {
                d = Some(tokio::time::timeout(CALL_LIMIT, direct(&sdk, case)).await??);
            } else {
                s = Some(
                    tokio::time::timeout(CALL_LIMIT, through_serve(&http, &url, case)).await??,
                );
            }
        }
        let (Some((dfirst, dtotal, _, dtext)), Some(sr)) = (d, s) else {
            bail!("internal: a pair is missing");
        };
        let sfirst = sr.first_byte().unwrap_or(sr.total);
        if dtext != case.expected || sr.body != case.expected.as_bytes() {
            report.mismatches += 1;
        }
        report.direct_ttfb_ms.push(ms(dfirst));
        report.serve_ttfb_ms.push(ms(sfirst));
        report.added_ttfb_ms.push(ms(sfirst) - ms(dfirst));
        report.direct_total_ms.push(ms(dtotal));
        report.serve_total_ms.push(ms(sr.total));
    }
    let secs = t0.elapsed().as_secs_f64();
    let (busy, _) = m0.cores_since(&procs::MachineCpu::now(), secs);
    let used = (ours(&[&bedrock, &serve]) - c0) / secs.max(1e-9);
    if std::env::var_os("BENCH_DEBUG").is_some() {
        eprintln!(
            "first-byte phase: {secs:.3} s, machine busy {busy:.2} cores, ours {used:.2} (serve {:.2} s, endpoint {:.2} s, self {:.2} s)",
            serve.cpu_seconds(),
            bedrock.cpu_seconds(),
            procs::cpu_seconds(None).unwrap_or(0.0)
        );
    }
    report.other_cores = (busy - used).max(0.0);
    serve.stop().await;
    bedrock.stop().await;

    // Per chunk: a paced endpoint, a tap in front of it, serve behind the tap.
    let paced = procs::local_bedrock(bin, cfg.chunk_delay_ms, 1).await?;
    let upstream = paced.url.trim_start_matches("http://").to_string();
    let tap = Tap::start(upstream).await?;
    let serve = procs::serve(bin, &tap.url, &cfg.serve).await?;
    let sdk = client::sdk_client(&paced.url);
    let url = format!("{}/", serve.url);
    // Warm both connections.
    if let Some(case) = cases.first() {
        tokio::time::timeout(CALL_LIMIT, direct(&sdk, case)).await??;
        tokio::time::timeout(CALL_LIMIT, through_serve(&http, &url, case)).await??;
    }
    let (m0, c0, t0) = (
        procs::MachineCpu::now(),
        ours(&[&paced, &serve]),
        Instant::now(),
    );
    for case in cases.iter().skip(1).take(cfg.chunk_streams) {
        let (_, _, arrivals, text) = tokio::time::timeout(CALL_LIMIT, direct(&sdk, case)).await??;
        report.direct_gap_ms.extend(gaps(&arrivals));
        tap.clear();
        let r = tokio::time::timeout(CALL_LIMIT, through_serve(&http, &url, case)).await??;
        let arrivals = r.arrivals();
        report.serve_gap_ms.extend(gaps(&arrivals));
        let delays: Vec<f64> = tap::forwarding_delays(&tap.reads(), &arrivals)
            .into_iter()
            .map(ms)
            .collect();
        if std::env::var_os("BENCH_DEBUG").is_some() {
            eprintln!("forwarding delays, ms: {delays:.3?}");
        }
        report.forward_ms.extend(delays);
        if text != case.expected || r.body != case.expected.as_bytes() {
            report.mismatches += 1;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let (busy, _) = m0.cores_since(&procs::MachineCpu::now(), secs);
    let used = (ours(&[&paced, &serve]) - c0) / secs.max(1e-9);
    report.other_cores_chunks = (busy - used).max(0.0);
    serve.stop().await;
    paced.stop().await;
    Ok(report)
}

impl LatencyReport {
    pub fn summary(&self) -> String {
        use crate::stats::Dist;
        let line = |name: &str, v: &[f64]| {
            let d = Dist::of(v);
            format!(
                "  {name:<28} n {:>5}  p50 {:>8.3}  p90 {:>8.3}  p99 {:>8.3}  max {:>8.3} ms",
                d.n, d.p50, d.p90, d.p99, d.max
            )
        };
        [
            format!("first byte, {} sequential requests each way:", self.n),
            line("direct (SDK → endpoint)", &self.direct_ttfb_ms),
            line("through serve", &self.serve_ttfb_ms),
            line("added by serve (paired)", &self.added_ttfb_ms),
            format!(
                "per chunk, engine pacing {} ms, {} streams each way:",
                self.chunk_delay_ms, self.chunk_streams
            ),
            line("gap direct", &self.direct_gap_ms),
            line("gap through serve", &self.serve_gap_ms),
            line("forwarding delay (tap)", &self.forward_ms),
            format!("text mismatches: {}", self.mismatches),
            format!(
                "other processes kept {:.2} cores busy during the first-byte runs, {:.2} during the per-chunk runs",
                self.other_cores, self.other_cores_chunks
            ),
        ]
        .join("\n")
    }
}
