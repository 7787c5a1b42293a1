//! Gateways side by side: `bedrock-stream serve` and the LiteLLM proxy (its Bedrock provider),
//! both in front of the same local Bedrock endpoint (scripted engine), both asked the same
//! OpenAI-style question: `POST /v1/chat/completions` with `stream: true`.
//!
//! Per gateway, each run starts a fresh process and measures it under a closed loop of streams
//! ([`LoadRun`]: start, memory, CPU per stream, throughput). The first run also pairs sequential
//! requests with the same question asked of the endpoint directly (ConverseStream through the
//! Rust SDK, the API both gateways use for this model), so "added" is the gateway's share. Every
//! answer is checked ([`super::sse`]). When LiteLLM is not installed, its side says
//! "skipped: <reason>" and serve's side still runs.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::cases::{chat_cases, ChatCase, MODEL_ID};
use super::load::{drive, spread, Ending, LoadReport, LoadRun, Stream};
use super::sse::check_sse;
use super::{paired, Paired, Size};
use crate::harness::bedrock_stream::{self, ServeOptions};
use crate::harness::client::{self, HttpClient};
use crate::harness::{litellm, peers_dir, system, Proc};
use crate::stats::Spread;

/// What the gateway comparison does.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct GatewaysConfig {
    pub size: Size,
    /// Tokens (scripted words, one chunk each) per answer.
    pub words: u32,
    /// Streams in flight during the throughput runs.
    pub concurrency: usize,
    /// Fresh gateway processes per gateway, each with one throughput run.
    pub runs: usize,
    /// Streams sent at the concurrency before each timed run, not counted.
    pub warmup: usize,
    /// Sequential pairs (and unmeasured warm-up pairs) for first content, first run only.
    pub pairs: usize,
    pub pair_warmup: usize,
    /// Per gateway (serve, LiteLLM): streams per run at most, and no stream starts after the
    /// time budget.
    pub streams: [usize; 2],
    pub time_budget: [Duration; 2],
    /// Run the LiteLLM side (when installed).
    pub with_litellm: bool,
    pub serve: ServeOptions,
}

impl GatewaysConfig {
    /// Quick: a few dozen streams per gateway. Full: the numbers for BENCHMARKS.md.
    pub fn for_size(size: Size) -> GatewaysConfig {
        GatewaysConfig {
            size,
            words: 20,
            concurrency: size.pick(10, 50),
            runs: size.pick(1, 3),
            warmup: size.pick(10, 100),
            pairs: size.pick(10, 200),
            pair_warmup: size.pick(3, 20),
            streams: size.pick([60, 40], [10_000, 5_000]),
            time_budget: size.pick([10, 5], [60, 20]).map(Duration::from_secs),
            with_litellm: true,
            serve: ServeOptions::default(),
        }
    }
}

/// Everything measured for one gateway, or why it was not.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct GatewayResult {
    pub name: String,
    /// Version and how it ran.
    pub version: String,
    /// `Some(reason)` when this gateway was not (fully) measured.
    pub skipped: Option<String>,
    pub runs: Vec<LoadRun>,
    pub sequential: Paired,
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

    /// Completed (ok) streams/s over runs.
    pub fn streams_per_sec(&self) -> Spread {
        spread(&self.runs, |r| r.load.per_sec(r.load.ok))
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
        let s = &self.serve;
        s.ran() && s.runs.iter().all(|r| r.load.failed() == 0) && s.sequential.mismatches == 0
    }
}

/// Where a gateway is and how to call it.
#[derive(Debug, Clone)]
struct Target {
    url: String,
    model: &'static str,
    auth: Option<String>,
}

/// One stream, checked.
async fn one(http: &HttpClient, t: &Target, case: &ChatCase) -> Stream {
    let (t0, limit) = (Instant::now(), Duration::from_secs(60));
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
                chunks: c.chunks,
                regrouped: c.chunks != case.tokens,
            }
        }
    }
}

/// A closed loop over `cases` at the configured concurrency.
async fn load(
    http: &HttpClient,
    t: &Target,
    cases: Vec<ChatCase>,
    cfg: &GatewaysConfig,
    budget: Duration,
) -> anyhow::Result<LoadReport> {
    let (cases, http, t) = (Arc::new(cases), http.clone(), t.clone());
    drive(cases.len(), cfg.concurrency, budget, move |i| {
        let (http, t, cases) = (http.clone(), t.clone(), Arc::clone(&cases));
        async move { one(&http, &t, &cases[i]).await }
    })
    .await
}

/// How to start a gateway in front of the endpoint.
enum Kind<'a> {
    Serve(&'a Path, &'a ServeOptions),
    LiteLlm(&'a litellm::Install, &'a Path, &'a str),
}

impl Kind<'_> {
    async fn start(&self, endpoint: &str) -> anyhow::Result<(Proc, Target)> {
        let (p, model, auth) = match self {
            Kind::Serve(bin, opts) => (
                bedrock_stream::serve(bin, endpoint, opts).await?,
                MODEL_ID,
                None,
            ),
            Kind::LiteLlm(install, dir, key) => (
                litellm::start(install, dir).await?,
                litellm::MODEL,
                Some(format!("Bearer {key}")),
            ),
        };
        let url = format!("{}/v1/chat/completions", p.url);
        Ok((p, Target { url, model, auth }))
    }
}

/// The first run's pairs, the warm-up, and the measured load through one fresh gateway.
async fn one_run(
    proc: &Proc,
    t: &Target,
    endpoint: &Proc,
    cfg: &GatewaysConfig,
    side: usize,
    run: usize,
    res: &mut GatewayResult,
) -> anyhow::Result<LoadRun> {
    let (http, sdk) = (
        client::http_client(cfg.concurrency.max(4)),
        client::sdk_client(&endpoint.url),
    );
    let ready = LoadRun::ready(proc);
    let variant = 300 + 100 * side as u64 + run as u64 * 10;
    if run == 0 {
        let cases = chat_cases(cfg.pairs + cfg.pair_warmup, variant + 1, cfg.words, t.model)?;
        let direct = async |i: usize| {
            let call = client::converse_stream(&sdk, MODEL_ID, &cases[i].prompt, cfg.words);
            match tokio::time::timeout(Duration::from_secs(60), call).await {
                Ok(Ok(d)) if d.text == cases[i].expected => Some(d.first),
                _ => None,
            }
        };
        let through = async |i: usize| one(&http, t, &cases[i]).await;
        res.sequential = paired(
            cfg.pairs,
            cfg.pair_warmup,
            &[proc.pid, endpoint.pid],
            direct,
            through,
        )
        .await;
    }
    let budget = cfg.time_budget[side];
    let w = load(
        &http,
        t,
        chat_cases(cfg.warmup, variant + 2, cfg.words, t.model)?,
        cfg,
        budget,
    )
    .await?;
    if w.ok == 0 && w.started > 0 {
        bail!(
            "answered none of {} warm-up streams correctly: {:?}",
            w.started,
            w.problems
        );
    }
    let cases = chat_cases(cfg.streams[side], variant, cfg.words, t.model)?;
    LoadRun::measure(proc, ready, endpoint, load(&http, t, cases, cfg, budget)).await
}

/// Every run of one gateway against `endpoint`.
async fn measure(
    name: &str,
    version: String,
    kind: &Kind<'_>,
    endpoint: &Proc,
    cfg: &GatewaysConfig,
) -> anyhow::Result<GatewayResult> {
    let side = usize::from(matches!(kind, Kind::LiteLlm(..)));
    let mut res = GatewayResult {
        name: name.to_string(),
        version,
        ..Default::default()
    };
    for run in 0..cfg.runs.max(1) {
        eprintln!("== gateways: {name} run {}/{}", run + 1, cfg.runs.max(1));
        let (proc, target) = kind.start(&endpoint.url).await?;
        match one_run(&proc, &target, endpoint, cfg, side, run, &mut res).await {
            Ok(r) => {
                let (ok, rate) = (r.load.ok, r.load.per_sec(r.load.ok));
                eprintln!(
                    "   ready {:.1} ms; {ok} ok of {}, {rate:.1} streams/s",
                    r.ready_ms, r.load.started
                );
                if r.load.failed() == 0 {
                    proc.stop().await;
                } else {
                    eprintln!("   log kept: {}", proc.log.display());
                    proc.stop_keeping_log().await;
                }
                res.runs.push(r);
            }
            Err(e) => {
                let log = proc.log.clone();
                proc.stop_keeping_log().await;
                let tail = crate::harness::log_tail(&log);
                return Err(e.context(format!("{name} (log {}):\n{tail}", log.display())));
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
    let install = match litellm::find(&peers_dir().join("litellm")) {
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
    let kind = Kind::LiteLlm(&install, dir.path(), &key);
    Ok(
        match measure(NAME, install.version.clone(), &kind, endpoint, cfg).await {
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
    let endpoint = bedrock_stream::local_bedrock(bin, 0).await?;
    let version = format!(
        "{}, RUST_LOG={}",
        bedrock_stream::version(bin),
        cfg.serve.rust_log
    );
    let serve = match measure(
        "bedrock-stream serve",
        version,
        &Kind::Serve(bin, &cfg.serve),
        &endpoint,
        cfg,
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
