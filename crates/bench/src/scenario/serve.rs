//! `serve` on its own, in front of the scripted local endpoint:
//! - **throughput**: the seed-contract load with faults mixed in, fresh processes per run;
//! - **start and memory**: spawn → ready for fresh processes, and the peak RSS of a fresh
//!   process carrying 1, 100 and 1,000 streams at once (the engine paces them so they overlap);
//! - **added latency**: the same request through `serve` and straight to the endpoint through
//!   the Rust SDK, alternating, so the difference is serve's share; and each chunk's forwarding
//!   delay, measured at a timestamping tap between serve and a paced endpoint.

use std::path::Path;
use std::time::{Duration, Instant};

use super::cases::{self, MODEL_ID};
use super::load::{self, LoadConfig, LoadRun};
use super::{paired, Paired, Size};
use crate::harness::bedrock_stream::{self, ServeOptions};
use crate::harness::system::Window;
use crate::harness::tap::{self, Tap};
use crate::harness::{client, Proc};
use crate::stats::ms;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ServeConfig {
    /// The throughput load (`url` is filled in with each run's serve).
    pub load: LoadConfig,
    /// Throughput runs, each with fresh processes.
    pub load_runs: usize,
    /// The engine's pause between chunks during the throughput runs.
    pub load_delay_ms: u64,
    /// Fresh processes timed from spawn to ready.
    pub starts: usize,
    /// Concurrency levels for the memory measurement.
    pub levels: Vec<usize>,
    /// Sequential request pairs (and unmeasured warm-up pairs) for the first byte.
    pub pairs: usize,
    pub warmup: usize,
    /// Streams each way for the per-chunk measurement.
    pub chunk_streams: usize,
    /// The engine's pause between chunks for the memory and per-chunk measurements.
    pub paced_delay_ms: u64,
    pub serve: ServeOptions,
}

impl ServeConfig {
    pub fn for_size(size: Size, serve: &ServeOptions) -> ServeConfig {
        ServeConfig {
            load: LoadConfig {
                streams: size.pick(2000, 20000),
                concurrency: size.pick(200, 1000),
                time_budget: Duration::from_secs(size.pick(30, 300)),
                ..LoadConfig::default()
            },
            load_runs: size.pick(1, 3),
            load_delay_ms: 5,
            starts: size.pick(3, 20),
            levels: size.pick(vec![1, 10, 100], vec![1, 100, 1000]),
            pairs: size.pick(100, 500),
            warmup: size.pick(10, 50),
            chunk_streams: size.pick(3, 20),
            paced_delay_ms: 20,
            serve: serve.clone(),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ServeReport {
    pub config: ServeConfig,
    /// The throughput runs.
    pub loads: Vec<LoadRun>,
    /// Spawn → first 200 from `/healthz`, and RSS then (KiB), per fresh process.
    pub ready_ms: Vec<f64>,
    pub ready_kib: Vec<f64>,
    /// One fresh process per concurrency level (`load.concurrency`).
    pub memory: Vec<LoadRun>,
    /// First byte through serve (`POST /`) against the first text chunk of a direct call.
    pub first_byte: Paired,
    /// Each body frame's arrival at the client minus the endpoint's chunk passing the tap.
    pub forward_ms: Vec<f64>,
    /// Gaps between successive text chunks at the client.
    pub direct_gap_ms: Vec<f64>,
    pub serve_gap_ms: Vec<f64>,
    /// Wrong answers in the per-chunk runs.
    pub chunk_mismatches: usize,
    /// Cores other processes kept busy during the per-chunk runs.
    pub chunk_other_cores: f64,
}

impl ServeReport {
    /// Nothing measured yet.
    pub fn empty(config: ServeConfig) -> ServeReport {
        ServeReport {
            config,
            loads: Vec::new(),
            ready_ms: Vec::new(),
            ready_kib: Vec::new(),
            memory: Vec::new(),
            first_byte: Paired::default(),
            forward_ms: Vec::new(),
            direct_gap_ms: Vec::new(),
            serve_gap_ms: Vec::new(),
            chunk_mismatches: 0,
            chunk_other_cores: 0.0,
        }
    }

    /// Streams lost, corrupted, reordered, undocumented or not run, and wrong answers.
    pub fn failures(&self) -> usize {
        let loads = self
            .loads
            .iter()
            .chain(&self.memory)
            .map(|r| r.load.failed() + r.load.not_started());
        loads.sum::<usize>() + self.first_byte.mismatches + self.chunk_mismatches
    }
}

/// The throughput runs alone (`bench load`).
pub async fn throughput(bin: &Path, cfg: &ServeConfig) -> anyhow::Result<Vec<LoadRun>> {
    let mut runs = Vec::new();
    for r in 0..cfg.load_runs {
        eprintln!("== load {}/{}", r + 1, cfg.load_runs);
        let bedrock = bedrock_stream::local_bedrock(bin, cfg.load_delay_ms).await?;
        let serve = bedrock_stream::serve(bin, &bedrock.url, &cfg.serve).await?;
        let load = LoadConfig {
            url: serve.url.clone(),
            variant: 100 + r as u64,
            ..cfg.load.clone()
        };
        let ready = LoadRun::ready(&serve);
        let run = LoadRun::measure(
            &serve,
            ready,
            &bedrock,
            load::run(&load, Some(bedrock.url.clone())),
        )
        .await?;
        eprintln!("{}", run.load.summary());
        if run.load.passed() {
            serve.stop().await;
            bedrock.stop().await;
        } else {
            eprintln!(
                "logs kept: {} and {}",
                serve.log.display(),
                bedrock.log.display()
            );
            serve.stop_keeping_log().await;
            bedrock.stop_keeping_log().await;
        }
        runs.push(run);
    }
    Ok(runs)
}

/// Everything above.
pub async fn run(bin: &Path, cfg: &ServeConfig) -> anyhow::Result<ServeReport> {
    let mut r = ServeReport::empty(cfg.clone());
    let paced = bedrock_stream::local_bedrock(bin, cfg.paced_delay_ms).await?;
    start_and_memory(bin, cfg, &paced, &mut r).await?;
    latency(bin, cfg, &paced, &mut r).await?;
    paced.stop().await;
    r.loads = throughput(bin, cfg).await?;
    Ok(r)
}

/// Fresh processes timed to ready, then one per concurrency level carrying its streams.
async fn start_and_memory(
    bin: &Path,
    cfg: &ServeConfig,
    paced: &Proc,
    r: &mut ServeReport,
) -> anyhow::Result<()> {
    eprintln!("== serve: start and memory");
    for _ in 0..cfg.starts {
        let serve = bedrock_stream::serve(bin, &paced.url, &cfg.serve).await?;
        r.ready_ms.push(ms(serve.ready_after));
        r.ready_kib.push(serve.memory().rss_kib as f64);
        serve.stop().await;
    }
    for &c in &cfg.levels {
        let serve = bedrock_stream::serve(bin, &paced.url, &cfg.serve).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let load = LoadConfig {
            url: serve.url.clone(),
            streams: if c <= 1 { 5 } else { 2 * c },
            concurrency: c,
            faults_every: 0,
            time_budget: Duration::from_secs(120),
            variant: 3,
            ..LoadConfig::default()
        };
        let ready = (ms(serve.ready_after), serve.memory().rss_kib);
        r.memory
            .push(LoadRun::measure(&serve, ready, paced, load::run(&load, None)).await?);
        serve.stop().await;
    }
    Ok(())
}

/// First byte against a direct call (an unpaced endpoint), then per-chunk forwarding at a tap
/// in front of the `paced` one.
async fn latency(
    bin: &Path,
    cfg: &ServeConfig,
    paced: &Proc,
    r: &mut ServeReport,
) -> anyhow::Result<()> {
    eprintln!("== serve: added latency");
    let cases = cases::cases(cfg.pairs.max(cfg.chunk_streams) + cfg.warmup, 7, 20)?;
    let bedrock = bedrock_stream::local_bedrock(bin, 0).await?;
    let serve = bedrock_stream::serve(bin, &bedrock.url, &cfg.serve).await?;
    let (sdk, http, url) = (
        client::sdk_client(&bedrock.url),
        client::http_client(4),
        format!("{}/", serve.url),
    );
    let direct = async |sdk: &aws_sdk_bedrockruntime::Client, i: usize| {
        let call = client::invoke_stream(sdk, MODEL_ID, &cases[i].model_body);
        match tokio::time::timeout(Duration::from_secs(30), call).await {
            Ok(Ok(d)) if d.text == cases[i].expected => Some(d),
            _ => None,
        }
    };
    r.first_byte = paired(
        cfg.pairs,
        cfg.warmup,
        &[bedrock.pid, serve.pid],
        async |i| direct(&sdk, i).await.map(|d| d.first),
        async |i| load::one(&http, &url, &cases[i]).await,
    )
    .await;
    serve.stop().await;
    bedrock.stop().await;

    // Per chunk: the paced endpoint, a tap in front of it, serve behind the tap.
    let tap = Tap::start(paced.url.trim_start_matches("http://").to_string()).await?;
    let serve = bedrock_stream::serve(bin, &tap.url, &cfg.serve).await?;
    let (sdk, url) = (client::sdk_client(&paced.url), format!("{}/", serve.url));
    direct(&sdk, 0).await;
    load::one(&http, &url, &cases[0]).await;
    let window = Window::open(&[paced.pid, serve.pid]);
    for (i, case) in cases.iter().enumerate().skip(1).take(cfg.chunk_streams) {
        let d = direct(&sdk, i).await;
        tap.clear();
        let s = client::post_streamed(&http, &url, case.seed_body.clone(), &[]).await?;
        if d.is_none() || s.body != case.expected.as_bytes() {
            r.chunk_mismatches += 1;
        }
        let (arrivals, gaps) = (s.arrivals(), |a: &[Instant]| {
            a.windows(2).map(|w| ms(w[1] - w[0])).collect::<Vec<_>>()
        });
        r.direct_gap_ms
            .extend(d.map(|d| gaps(&d.arrivals)).unwrap_or_default());
        r.serve_gap_ms.extend(gaps(&arrivals));
        r.forward_ms.extend(
            tap::forwarding_delays(&tap.reads(), &arrivals)
                .into_iter()
                .map(ms),
        );
    }
    r.chunk_other_cores = window.close().others();
    serve.stop().await;
    Ok(())
}
