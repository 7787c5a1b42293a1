//! Gateways side by side: `bedrock-stream serve` and the LiteLLM proxy (its Bedrock provider),
//! both in front of the same local Bedrock endpoint (scripted engine), both asked the same
//! OpenAI-style question: `POST /v1/chat/completions` with `stream: true`.
//!
//! Per gateway, each run starts a fresh process and measures its start (spawn → first `200` from
//! its health endpoint), its RSS when ready and its peak (VmHWM) after the load, and the
//! throughput of a closed loop of streams at a fixed concurrency (completed streams/s, chunks/s,
//! CPU per stream). The first run also measures first-content latency: sequential requests,
//! each paired with the same question asked of the endpoint directly through the Rust SDK
//! (ConverseStream, the API both gateways use for this model), so "added" is the gateway's
//! share, request by request. Every answer is checked ([`super::sse`]). When LiteLLM is not
//! installed, its side says "skipped: <reason>" and serve's side still runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::cases::{chat_cases, ChatCase, MODEL_ID};
use super::load::{drive, Ending, LoadReport, Stream};
use super::sse::check_sse;
use super::Size;
use crate::harness::bedrock_stream::{self, ServeOptions};
use crate::harness::client::{self, Direct, HttpClient};
use crate::harness::system::{self, own_cpu, tree_cpu, tree_memory, MachineCpu, Window};
use crate::harness::{litellm, peers_dir, Proc};
use crate::stats::{ms, Spread};

/// How long one gateway's stream-count and time limits are.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Budget {
    /// Streams per run at most.
    pub streams: usize,
    /// No stream starts after this (per run); streams in flight finish.
    pub time_budget: Duration,
    /// Sequential paired requests for the first-content comparison (first run only).
    pub sequential: usize,
}

/// What the gateway comparison does.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct GatewaysConfig {
    pub size: Size,
    /// Tokens (scripted words) per answer; one chunk each (the endpoint runs with
    /// `--chunk-tokens 1`).
    pub words: u32,
    /// The engine's pause between chunks (0: as fast as the endpoint writes).
    pub chunk_delay_ms: u64,
    /// Streams in flight during the throughput runs.
    pub concurrency: usize,
    /// Fresh gateway processes per gateway, each with one throughput run.
    pub runs: usize,
    /// Streams sent at the concurrency before each timed run, not counted.
    pub warmup: usize,
    /// Sequential requests each way before the first-content measurement, not counted.
    pub sequential_warmup: usize,
    /// Limit for one stream.
    pub stream_timeout: Duration,
    pub serve_budget: Budget,
    pub litellm_budget: Budget,
    /// Run the LiteLLM side (when installed).
    pub with_litellm: bool,
    /// LiteLLM's venv [default: `peers_dir()/litellm`].
    pub litellm_dir: Option<PathBuf>,
    /// How long LiteLLM may take to become ready.
    pub litellm_ready_limit: Duration,
    pub serve: ServeOptions,
}

impl GatewaysConfig {
    /// Quick: a few dozen streams per gateway, seconds (plus LiteLLM's start). Full: the numbers
    /// for BENCHMARKS.md.
    pub fn for_size(size: Size) -> GatewaysConfig {
        let budget = |streams, secs, sequential| Budget {
            streams,
            time_budget: Duration::from_secs(secs),
            sequential,
        };
        GatewaysConfig {
            size,
            words: 20,
            chunk_delay_ms: 0,
            concurrency: size.pick(10, 50),
            runs: size.pick(1, 3),
            warmup: size.pick(10, 100),
            sequential_warmup: size.pick(3, 20),
            stream_timeout: Duration::from_secs(60),
            serve_budget: size.pick(budget(60, 10, 10), budget(10_000, 60, 200)),
            litellm_budget: size.pick(budget(40, 5, 10), budget(5_000, 20, 200)),
            with_litellm: true,
            litellm_dir: None,
            litellm_ready_limit: Duration::from_secs(180),
            serve: ServeOptions::default(),
        }
    }
}

/// One fresh gateway process: its start, memory and throughput run.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct GatewayRun {
    /// Spawn → first `200` from the health endpoint.
    pub ready_ms: f64,
    /// RSS right after ready, before any request, KiB (the process and its children).
    pub ready_rss_kib: u64,
    /// RSS after the run, KiB.
    pub after_rss_kib: u64,
    /// VmHWM after the run (peak over the process's life), KiB.
    pub hwm_kib: u64,
    /// The closed loop of streams (`ttfb_ms`: first content event).
    pub load: LoadReport,
    /// CPU seconds during the timed run: the gateway (with any children), the endpoint, this
    /// client.
    pub cpu_gateway: f64,
    pub cpu_endpoint: f64,
    pub cpu_client: f64,
    /// Cores the whole machine kept busy during the timed run.
    pub machine_busy_cores: f64,
}

impl GatewayRun {
    /// CPU µs per started stream: (gateway, endpoint, client).
    pub fn cpu_us_per_stream(&self) -> (f64, f64, f64) {
        let n = self.load.started.max(1) as f64;
        (
            self.cpu_gateway * 1e6 / n,
            self.cpu_endpoint * 1e6 / n,
            self.cpu_client * 1e6 / n,
        )
    }

    /// Cores the gateway used on average.
    pub fn gateway_cores(&self) -> f64 {
        self.cpu_gateway / self.load.elapsed.as_secs_f64().max(1e-9)
    }

    /// Cores other processes on the machine kept busy.
    pub fn other_cores(&self) -> f64 {
        let ours = (self.cpu_gateway + self.cpu_endpoint + self.cpu_client)
            / self.load.elapsed.as_secs_f64().max(1e-9);
        (self.machine_busy_cores - ours).max(0.0)
    }
}

/// Sequential first-content latency, each gateway request paired with a direct one (ms).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Sequential {
    pub n: usize,
    /// Direct: ConverseStream through the Rust SDK, time to the first text delta.
    pub direct_ms: Vec<f64>,
    /// Through the gateway: time to the first body frame holding a content event.
    pub gateway_ms: Vec<f64>,
    /// Gateway minus direct, pair by pair.
    pub added_ms: Vec<f64>,
    pub direct_total_ms: Vec<f64>,
    pub gateway_total_ms: Vec<f64>,
    /// Pairs whose gateway answer was not the expected text, or failed.
    pub mismatches: usize,
    /// Cores other processes kept busy meanwhile.
    pub other_cores: f64,
}

/// Everything measured for one gateway, or why it was not.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct GatewayResult {
    pub name: String,
    /// Version and how it ran.
    pub version: String,
    /// `Some(reason)` when this gateway was not (fully) measured.
    pub skipped: Option<String>,
    pub runs: Vec<GatewayRun>,
    pub sequential: Sequential,
    /// Where its log was kept (when something failed), else empty.
    pub log: String,
}

impl GatewayResult {
    pub fn skipped(name: &str, reason: String) -> GatewayResult {
        GatewayResult {
            name: name.to_string(),
            skipped: Some(reason),
            ..Default::default()
        }
    }

    /// Measured (at least one run).
    pub fn ran(&self) -> bool {
        self.skipped.is_none() && !self.runs.is_empty()
    }

    /// `f` over the runs: median [min–max].
    pub fn spread(&self, f: impl Fn(&GatewayRun) -> f64) -> Spread {
        Spread::of(&self.runs.iter().map(f).collect::<Vec<_>>())
    }

    /// Completed (ok) streams/s over runs.
    pub fn streams_per_sec(&self) -> Spread {
        self.spread(|r| r.load.ok_per_sec())
    }

    /// Failed streams over all runs plus sequential mismatches.
    pub fn failures(&self) -> usize {
        self.runs.iter().map(|r| r.load.failed()).sum::<usize>() + self.sequential.mismatches
    }
}

/// The comparison's results.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct GatewaysReport {
    pub config: GatewaysConfig,
    pub serve: GatewayResult,
    pub litellm: GatewayResult,
    pub nproc: usize,
    pub load_before: String,
    pub load_after: String,
    pub date: String,
    pub seconds: f64,
}

impl GatewaysReport {
    /// serve's median streams/s over LiteLLM's, when both ran.
    pub fn speedup(&self) -> Option<f64> {
        if !self.serve.ran() || !self.litellm.ran() {
            return None;
        }
        let (s, l) = (
            self.serve.streams_per_sec().median,
            self.litellm.streams_per_sec().median,
        );
        (l > 0.0 && s.is_finite()).then(|| s / l)
    }

    /// serve lost or corrupted nothing.
    pub fn serve_passed(&self) -> bool {
        self.serve.ran() && self.serve.failures() == 0
    }
}

/// Where a gateway is and how to call it.
#[derive(Debug, Clone)]
struct Target {
    url: String,
    model: String,
    auth: Option<String>,
}

/// One stream, checked.
async fn one(http: &HttpClient, t: &Target, case: &ChatCase, limit: Duration) -> Stream {
    let t0 = Instant::now();
    let auth = t.auth.as_deref().map(|a| ("authorization", a));
    let headers: Vec<_> = [("accept", "text/event-stream")]
        .into_iter()
        .chain(auth)
        .collect();
    match tokio::time::timeout(
        limit,
        client::post_streamed(http, &t.url, case.body.clone(), &headers),
    )
    .await
    {
        Err(_) => Stream::failed(
            "transport",
            format!("no end within {limit:?}"),
            t0.elapsed(),
        ),
        Ok(Err(e)) => Stream::failed("transport", format!("{e:#}"), t0.elapsed()),
        Ok(Ok(r)) => {
            let mut c = check_sse(r.status, &r.body, &case.expected);
            if let (Some(e), Ending::Ok | Ending::Failed("mismatched", _)) =
                (&r.body_error, &c.ending)
            {
                c.ending = Ending::Failed("incomplete", format!("body failed: {e}"));
            }
            Stream {
                ending: c.ending,
                first: c.first_content_at.and_then(|at| r.arrival_of(at)),
                total: r.total,
                frames: r.frames.len(),
                chunks: c.chunks,
                regrouped: c.chunks != case.tokens,
            }
        }
    }
}

/// A closed loop over `cases` at `concurrency`, until they or the time budget run out.
async fn throughput(
    http: &HttpClient,
    t: &Target,
    cases: Vec<ChatCase>,
    concurrency: usize,
    budget: Duration,
    limit: Duration,
) -> anyhow::Result<LoadReport> {
    let (cases, http, t) = (Arc::new(cases), http.clone(), t.clone());
    drive(cases.len(), concurrency, budget, move |i| {
        let (http, t, cases) = (http.clone(), t.clone(), Arc::clone(&cases));
        async move { one(&http, &t, &cases[i], limit).await }
    })
    .await
}

/// The same question straight to the endpoint: ConverseStream through the Rust SDK.
async fn direct(
    sdk: &aws_sdk_bedrockruntime::Client,
    case: &ChatCase,
    words: u32,
    limit: Duration,
) -> anyhow::Result<Direct> {
    tokio::time::timeout(
        limit,
        client::converse_stream(sdk, MODEL_ID, &case.prompt, words),
    )
    .await?
}

/// Sequential pairs, alternating which goes first; `pids`' CPU (with children) counts as ours.
async fn sequential(
    sdk: &aws_sdk_bedrockruntime::Client,
    http: &HttpClient,
    t: &Target,
    cases: &[ChatCase],
    cfg: &GatewaysConfig,
    pids: &[u32],
) -> anyhow::Result<Sequential> {
    let limit = cfg.stream_timeout;
    let direct = |case| direct(sdk, case, cfg.words, limit);
    let mut q = Sequential::default();
    let warm = cfg.sequential_warmup.min(cases.len());
    for case in &cases[..warm] {
        direct(case).await?;
        let _ = one(http, t, case, limit).await;
    }
    let window = Window::open(|| pids.iter().map(|p| tree_cpu(*p)).sum::<f64>() + own_cpu());
    for (i, case) in cases[warm..].iter().enumerate() {
        let (d, g) = if i % 2 == 0 {
            let d = direct(case).await?;
            (d, one(http, t, case, limit).await)
        } else {
            let g = one(http, t, case, limit).await;
            (direct(case).await?, g)
        };
        if d.text != case.expected {
            bail!(
                "the endpoint's direct answer is not the expected text: {:?} vs {:?}",
                d.text,
                case.expected
            );
        }
        let Some(gfirst) = g.first.filter(|_| g.ending == Ending::Ok) else {
            q.mismatches += 1;
            continue;
        };
        q.direct_ms.push(ms(d.first));
        q.gateway_ms.push(ms(gfirst));
        q.added_ms.push(ms(gfirst) - ms(d.first));
        q.direct_total_ms.push(ms(d.total));
        q.gateway_total_ms.push(ms(g.total));
    }
    q.n = q.added_ms.len();
    q.other_cores = window.others();
    Ok(q)
}

/// Which gateway, and how to start it in front of the endpoint.
enum Kind<'a> {
    Serve(&'a Path, &'a ServeOptions),
    LiteLlm(&'a litellm::Install, &'a Path, &'a str, Duration),
}

impl Kind<'_> {
    async fn start(&self, endpoint: &str) -> anyhow::Result<(Proc, Target)> {
        let (p, model, auth) = match self {
            Kind::Serve(bin, opts) => (
                bedrock_stream::serve(bin, endpoint, opts).await?,
                MODEL_ID,
                None,
            ),
            Kind::LiteLlm(install, dir, key, limit) => (
                litellm::start(install, dir, *limit).await?,
                litellm::MODEL,
                Some(format!("Bearer {key}")),
            ),
        };
        let url = format!("{}/v1/chat/completions", p.url);
        Ok((
            p,
            Target {
                url,
                model: model.to_string(),
                auth,
            },
        ))
    }
}

/// All runs of one gateway against `endpoint`.
async fn measure(
    name: &str,
    version: String,
    kind: &Kind<'_>,
    endpoint: &Proc,
    cfg: &GatewaysConfig,
    budget: &Budget,
    salt: u64,
) -> anyhow::Result<GatewayResult> {
    let mut res = GatewayResult {
        name: name.to_string(),
        version,
        ..Default::default()
    };
    let (http, sdk) = (
        client::http_client(cfg.concurrency.max(4)),
        client::sdk_client(&endpoint.url),
    );
    for run in 0..cfg.runs.max(1) {
        eprintln!("== gateways: {name} run {}/{}", run + 1, cfg.runs.max(1));
        let (proc, target) = kind.start(&endpoint.url).await?;
        let (ready_rss_kib, _) = tree_memory(proc.pid);
        let variant = salt + run as u64 * 10;
        let measured = async {
            if run == 0 {
                let cases = chat_cases(
                    budget.sequential + cfg.sequential_warmup,
                    variant + 1,
                    cfg.words,
                    &target.model,
                )?;
                res.sequential =
                    sequential(&sdk, &http, &target, &cases, cfg, &[proc.pid, endpoint.pid])
                        .await?;
            }
            let (conc, secs, limit) = (cfg.concurrency, budget.time_budget, cfg.stream_timeout);
            let warm = chat_cases(cfg.warmup, variant + 2, cfg.words, &target.model)?;
            let w = throughput(&http, &target, warm, conc, secs, limit).await?;
            if w.ok == 0 && w.started > 0 {
                bail!(
                    "{name} answered none of {} warm-up streams correctly: {:?}",
                    w.started,
                    w.problems
                );
            }
            let cases = chat_cases(budget.streams, variant, cfg.words, &target.model)?;
            let cpu0 = (tree_cpu(proc.pid), endpoint.cpu_seconds(), own_cpu());
            let m0 = MachineCpu::now();
            let load = throughput(&http, &target, cases, conc, secs, limit).await?;
            let (after_rss_kib, hwm_kib) = tree_memory(proc.pid);
            anyhow::Ok(GatewayRun {
                ready_ms: ms(proc.ready_after),
                ready_rss_kib,
                after_rss_kib,
                hwm_kib,
                cpu_gateway: tree_cpu(proc.pid) - cpu0.0,
                cpu_endpoint: endpoint.cpu_seconds() - cpu0.1,
                cpu_client: own_cpu() - cpu0.2,
                machine_busy_cores: m0.cores_since(load.elapsed.as_secs_f64()).0,
                load,
            })
        }
        .await;
        match measured {
            Ok(r) => {
                eprintln!(
                    "   ready {:.1} ms; {} ok / {} started, {:.1} streams/s; peak {:.1} MiB",
                    r.ready_ms,
                    r.load.ok,
                    r.load.started,
                    r.load.ok_per_sec(),
                    r.hwm_kib as f64 / 1024.0
                );
                if r.load.failed() == 0 {
                    proc.stop().await;
                } else {
                    res.log = proc.log.display().to_string();
                    proc.stop_keeping_log().await;
                }
                res.runs.push(r);
            }
            Err(e) => {
                let (log, tail) = (proc.log.display().to_string(), proc.log_tail());
                proc.stop_keeping_log().await;
                return Err(e.context(format!("{name} (log {log}):\n{tail}")));
            }
        }
    }
    Ok(res)
}

/// LiteLLM's side: skipped with the reason when it is not installed or fails.
async fn measure_litellm(endpoint: &Proc, cfg: &GatewaysConfig) -> anyhow::Result<GatewayResult> {
    const NAME: &str = "LiteLLM proxy";
    if !cfg.with_litellm {
        return Ok(GatewayResult::skipped(
            NAME,
            "not requested (--no-litellm)".into(),
        ));
    }
    let venv = cfg
        .litellm_dir
        .clone()
        .unwrap_or_else(|| peers_dir().join("litellm"));
    let install = match litellm::find(&venv) {
        Ok(i) => i,
        Err(reason) => return Ok(GatewayResult::skipped(NAME, reason)),
    };
    // A private folder for its config, removed at the end.
    let dir = tempfile::Builder::new()
        .prefix("bedrock-bench-litellm-")
        .tempdir()?;
    let key = format!("sk-bench-{}", uuid::Uuid::new_v4().simple());
    std::fs::write(
        dir.path().join("config.yaml"),
        litellm::config(&endpoint.url, &key),
    )
    .context("writing LiteLLM's config")?;
    let kind = Kind::LiteLlm(&install, dir.path(), &key, cfg.litellm_ready_limit);
    Ok(
        match measure(
            NAME,
            install.version.clone(),
            &kind,
            endpoint,
            cfg,
            &cfg.litellm_budget,
            400,
        )
        .await
        {
            Ok(r) => r,
            Err(e) => GatewayResult {
                version: install.version.clone(),
                ..GatewayResult::skipped(NAME, format!("{e:#}"))
            },
        },
    )
}

/// Starts the local endpoint, then measures serve and (when installed and asked for) LiteLLM
/// in front of it, one after the other.
pub async fn run(bin: &Path, cfg: &GatewaysConfig) -> anyhow::Result<GatewaysReport> {
    let (t0, load_before, date) = (Instant::now(), system::loadavg(), system::utc_now());
    let endpoint = bedrock_stream::local_bedrock(bin, cfg.chunk_delay_ms, 1).await?;
    let version = format!(
        "{}, RUST_LOG={}",
        bedrock_stream::version(bin),
        cfg.serve.rust_log
    );
    let kind = Kind::Serve(bin, &cfg.serve);
    let serve = match measure(
        "bedrock-stream serve",
        version,
        &kind,
        &endpoint,
        cfg,
        &cfg.serve_budget,
        300,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            endpoint.stop_keeping_log().await;
            return Err(e);
        }
    };
    let litellm = measure_litellm(&endpoint, cfg).await?;
    endpoint.stop().await;
    Ok(GatewaysReport {
        config: cfg.clone(),
        serve,
        litellm,
        nproc: system::nproc(),
        load_before,
        load_after: system::loadavg(),
        date,
        seconds: t0.elapsed().as_secs_f64(),
    })
}
