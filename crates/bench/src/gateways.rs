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
//! share, request by request.
//!
//! Every answer is checked: the SSE `data:` events are parsed, the `delta.content` strings joined
//! and compared with the scripted engine's text for that prompt, and the stream must end with
//! `data: [DONE]`. Loopback only; every loop is bounded in count and time. When LiteLLM is not
//! installed (`crates/bench/peers/setup.sh`), its side says "skipped: <reason>" and serve's
//! side still runs.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ConversationRole, ConverseStreamOutput,
    InferenceConfiguration, Message,
};
use bedrock_families::{Prompt, Sampling};
use bedrock_local::ScriptedEngine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde::Deserialize;
use serde_json::json;

use crate::cases::{self, MODEL_ID};
use crate::client::{self, HttpClient};
use crate::procs::{self, Proc, ServeOptions};
use crate::report::Size;
use crate::stats::{ms, Dist, Spread};

/// LiteLLM's name for the model (its `model_list` alias).
pub const LITELLM_MODEL: &str = "claude-v2";
/// What the alias maps to: LiteLLM's Bedrock provider, which sends this model to ConverseStream.
pub const LITELLM_BEDROCK_MODEL: &str = "bedrock/anthropic.claude-v2";

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
    /// LiteLLM's venv [default: `procs::peers_dir()/litellm`].
    pub litellm_dir: Option<PathBuf>,
    /// How long LiteLLM may take to become ready.
    pub litellm_ready_limit: Duration,
    pub serve: ServeOptions,
}

impl GatewaysConfig {
    /// Quick: a few dozen streams per gateway, seconds (plus LiteLLM's start). Full: the numbers
    /// for BENCHMARKS.md.
    pub fn for_size(size: Size) -> GatewaysConfig {
        let quick = size == Size::Quick;
        GatewaysConfig {
            size,
            words: 20,
            chunk_delay_ms: 0,
            concurrency: if quick { 10 } else { 50 },
            runs: if quick { 1 } else { 3 },
            warmup: if quick { 10 } else { 100 },
            sequential_warmup: if quick { 3 } else { 20 },
            stream_timeout: Duration::from_secs(60),
            serve_budget: Budget {
                streams: if quick { 60 } else { 10_000 },
                time_budget: Duration::from_secs(if quick { 10 } else { 60 }),
                sequential: if quick { 10 } else { 200 },
            },
            litellm_budget: Budget {
                streams: if quick { 40 } else { 5_000 },
                time_budget: Duration::from_secs(if quick { 5 } else { 20 }),
                sequential: if quick { 10 } else { 200 },
            },
            with_litellm: true,
            litellm_dir: None,
            litellm_ready_limit: Duration::from_secs(180),
            serve: ServeOptions::default(),
        }
    }

    fn litellm_venv(&self) -> PathBuf {
        self.litellm_dir
            .clone()
            .unwrap_or_else(|| procs::peers_dir().join("litellm"))
    }
}

/// One closed-loop throughput run.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Throughput {
    pub concurrency: usize,
    /// Streams the run could send (its stream limit).
    pub streams: usize,
    pub started: usize,
    /// Status 200, `[DONE]`, and the text exactly the expected one.
    pub ok: usize,
    /// Ended with `[DONE]` but the text differs.
    pub mismatched: usize,
    /// Cut short: no `[DONE]`, an error event, or the body failed.
    pub incomplete: usize,
    /// A status other than 200.
    pub http_errors: usize,
    /// No answer: connection failure or timeout.
    pub transport_errors: usize,
    /// Ok streams whose text came in another number of content events than the engine's chunks.
    pub regrouped: usize,
    /// Content events (`delta.content` non-empty) in ok streams.
    pub chunks_ok: usize,
    pub elapsed: Duration,
    /// The time budget ran out before the stream limit.
    pub budget_hit: bool,
    /// Time to the first content event of ok streams, ms.
    pub first_content_ms: Vec<f64>,
    /// Whole stream of ok streams, ms.
    pub total_ms: Vec<f64>,
    /// The first few problems, described.
    pub problems: Vec<String>,
}

impl Throughput {
    pub fn failed(&self) -> usize {
        self.mismatched + self.incomplete + self.http_errors + self.transport_errors
    }

    /// Ok streams per second.
    pub fn streams_per_sec(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Content events of ok streams per second.
    pub fn chunks_per_sec(&self) -> f64 {
        self.chunks_ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
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
    pub load: Throughput,
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
    fn skipped(name: &str, reason: String) -> GatewayResult {
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

    fn spread(&self, f: impl Fn(&GatewayRun) -> f64) -> Spread {
        Spread::of(&self.runs.iter().map(f).collect::<Vec<_>>())
    }

    /// Completed (ok) streams/s over runs.
    pub fn streams_per_sec(&self) -> Spread {
        self.spread(|r| r.load.streams_per_sec())
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

    pub fn summary(&self) -> String {
        let mut s = String::new();
        for g in [&self.serve, &self.litellm] {
            let _ = writeln!(s, "{} ({}):", g.name, g.version);
            if let Some(r) = &g.skipped {
                let _ = writeln!(s, "  skipped: {r}");
                if g.runs.is_empty() {
                    continue;
                }
            }
            for (i, r) in g.runs.iter().enumerate() {
                let l = &r.load;
                let (cg, ce, cc) = r.cpu_us_per_stream();
                let fc = Dist::of(&l.first_content_ms);
                let _ = writeln!(
                    s,
                    "  run {}: ready {:.1} ms, RSS ready {:.1} MiB, peak {:.1} MiB; {} ok of {} started ({} failed, {} regrouped) at {} concurrent in {:.2} s{}: {:.1} streams/s, {:.0} chunks/s; first content p50 {:.2} p99 {:.2} ms; CPU/stream gateway {cg:.0} µs, endpoint {ce:.0} µs, client {cc:.0} µs; gateway {:.2} cores, others {:.2}",
                    i + 1,
                    r.ready_ms,
                    mib(r.ready_rss_kib),
                    mib(r.hwm_kib),
                    l.ok,
                    l.started,
                    l.failed(),
                    l.regrouped,
                    l.concurrency,
                    l.elapsed.as_secs_f64(),
                    if l.budget_hit { " (time budget hit)" } else { "" },
                    l.streams_per_sec(),
                    l.chunks_per_sec(),
                    fc.p50,
                    fc.p99,
                    r.gateway_cores(),
                    r.other_cores(),
                );
                for p in &l.problems {
                    let _ = writeln!(s, "    problem: {p}");
                }
            }
            let q = &g.sequential;
            let (d, gw, a) = (
                Dist::of(&q.direct_ms),
                Dist::of(&q.gateway_ms),
                Dist::of(&q.added_ms),
            );
            let _ = writeln!(
                s,
                "  sequential first content ({} pairs): direct p50 {:.3} p99 {:.3}; gateway p50 {:.3} p99 {:.3}; added p50 {:.3} p99 {:.3} ms; mismatches {}",
                a.n, d.p50, d.p99, gw.p50, gw.p99, a.p50, a.p99, q.mismatches
            );
            if !g.log.is_empty() {
                let _ = writeln!(s, "  log: {}", g.log);
            }
        }
        if let Some(x) = self.speedup() {
            let _ = writeln!(s, "serve ÷ LiteLLM streams/s: {x:.1}×");
        }
        let _ = write!(
            s,
            "load average {} before, {} after; {:.0} s",
            self.load_before, self.load_after, self.seconds
        );
        s
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

// ---------------------------------------------------------------------------------------------
// Requests and their expected answers.

/// One question: its prompt, the body for a gateway, and the scripted engine's answer.
#[derive(Debug, Clone)]
struct GwCase {
    prompt: String,
    body: Bytes,
    expected: String,
    tokens: usize,
}

/// The expected text for a Converse request with one user message and `maxTokens` = `words`,
/// as the local endpoint's scripted engine writes it.
pub fn expected_text(prompt: &str, words: u32) -> (String, usize) {
    let sampling = Sampling {
        max_tokens: Some(words),
        ..Default::default()
    };
    let script = ScriptedEngine::default().script(&Prompt::user(prompt), &sampling);
    (script.text(), script.tokens.len())
}

/// The OpenAI chat-completions body both gateways get.
pub fn chat_body(model: &str, prompt: &str, words: u32) -> anyhow::Result<Bytes> {
    let v = json!({
        "model": model,
        "stream": true,
        "max_tokens": words,
        "messages": [{"role": "user", "content": prompt}],
    });
    Ok(Bytes::from(serde_json::to_vec(&v)?))
}

fn gw_cases(n: usize, variant: u64, words: u32, model: &str) -> anyhow::Result<Vec<GwCase>> {
    (0..n)
        .map(|i| {
            let prompt = cases::prompt(i, variant);
            let (expected, tokens) = expected_text(&prompt, words);
            Ok(GwCase {
                body: chat_body(model, &prompt, words)?,
                prompt,
                expected,
                tokens,
            })
        })
        .collect()
}

/// Where a gateway is and how to call it.
#[derive(Debug, Clone)]
struct Target {
    url: String,
    model: String,
    auth: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// The client: one streamed POST, its frames timed, its SSE checked.

struct Sse {
    status: u16,
    /// (arrival since the request was sent, body bytes received so far) per non-empty frame.
    frames: Vec<(Duration, usize)>,
    body: Vec<u8>,
    total: Duration,
    body_error: Option<String>,
}

async fn post_sse(http: &HttpClient, t: &Target, body: Bytes) -> anyhow::Result<Sse> {
    let mut req = http::Request::post(&t.url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "text/event-stream");
    if let Some(a) = &t.auth {
        req = req.header(http::header::AUTHORIZATION, a.as_str());
    }
    let req = req.body(Full::new(body)).context("building the request")?;
    let t0 = Instant::now();
    let resp = http.request(req).await.context("sending the request")?;
    let status = resp.status().as_u16();
    let mut b = resp.into_body();
    let mut out = Vec::with_capacity(8192);
    let mut frames = Vec::with_capacity(32);
    let mut body_error = None;
    while let Some(frame) = b.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    if !data.is_empty() {
                        out.extend_from_slice(&data);
                        frames.push((t0.elapsed(), out.len()));
                    }
                }
            }
            Err(e) => {
                body_error = Some(e.to_string());
                break;
            }
        }
    }
    Ok(Sse {
        status,
        frames,
        body: out,
        total: t0.elapsed(),
        body_error,
    })
}

#[derive(Deserialize)]
struct ChunkMsg<'a> {
    #[serde(default, borrow)]
    choices: Vec<ChoiceMsg<'a>>,
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct ChoiceMsg<'a> {
    #[serde(default, borrow)]
    delta: Option<DeltaMsg<'a>>,
}

#[derive(Deserialize)]
struct DeltaMsg<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
}

/// How one stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Mismatched(String),
    Incomplete(String),
    Http(String),
    Transport(String),
}

/// What the client made of an SSE answer.
#[derive(Debug, Clone)]
pub struct Checked {
    pub verdict: Verdict,
    /// Content events.
    pub chunks: usize,
    /// Body bytes up to the end of the first content event.
    pub first_content_at: Option<usize>,
}

/// Parses an OpenAI chat-completions SSE body: joins the `delta.content` strings, counts the
/// content events, requires `data: [DONE]` at the end, compares with `expected`.
pub fn check_sse(status: u16, body: &[u8], expected: &str) -> Checked {
    let mut text = String::with_capacity(expected.len());
    let mut chunks = 0;
    let mut first = None;
    let mut done = false;
    let mut error = None;
    let mut at = 0;
    if status != 200 {
        return Checked {
            verdict: Verdict::Http(format!(
                "status {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            )),
            chunks,
            first_content_at: first,
        };
    }
    let mut rest = body;
    while !rest.is_empty() {
        let (event, len) = match rest.windows(2).position(|w| w == b"\n\n") {
            Some(p) => (&rest[..p], p + 2),
            None => (rest, rest.len()),
        };
        rest = &rest[len..];
        at += len;
        for line in event.split(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(data) = line.strip_prefix(b"data:") else {
                continue;
            };
            let data = data.strip_prefix(b" ").unwrap_or(data);
            if data == b"[DONE]" {
                done = true;
                continue;
            }
            if done {
                error.get_or_insert_with(|| "data after [DONE]".to_string());
            }
            match serde_json::from_slice::<ChunkMsg>(data) {
                Ok(m) => {
                    if m.error.is_some() {
                        error.get_or_insert_with(|| {
                            format!("error event: {}", String::from_utf8_lossy(data))
                        });
                    }
                    for c in m.choices {
                        if let Some(t) = c.delta.and_then(|d| d.content) {
                            if !t.is_empty() {
                                chunks += 1;
                                text.push_str(&t);
                                first.get_or_insert(at);
                            }
                        }
                    }
                }
                Err(e) => {
                    error.get_or_insert_with(|| {
                        format!(
                            "unparsable event ({e}): {}",
                            String::from_utf8_lossy(&data[..data.len().min(120)])
                        )
                    });
                }
            }
        }
    }
    let verdict = if let Some(e) = error {
        Verdict::Incomplete(e)
    } else if !done {
        Verdict::Incomplete(format!(
            "no [DONE] after {} bytes, {chunks} content events",
            body.len()
        ))
    } else if text != expected {
        let n = text
            .bytes()
            .zip(expected.bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(text.len().min(expected.len()));
        Verdict::Mismatched(format!(
            "text differs at byte {n} ({} vs {} bytes expected)",
            text.len(),
            expected.len()
        ))
    } else {
        Verdict::Ok
    };
    Checked {
        verdict,
        chunks,
        first_content_at: first,
    }
}

/// One stream, checked: (verdict, content events, time to first content, total).
async fn one(
    http: &HttpClient,
    t: &Target,
    case: &GwCase,
    limit: Duration,
) -> (Verdict, usize, Option<Duration>, Duration) {
    let t0 = Instant::now();
    match tokio::time::timeout(limit, post_sse(http, t, case.body.clone())).await {
        Err(_) => (
            Verdict::Transport(format!("no end within {limit:?}")),
            0,
            None,
            t0.elapsed(),
        ),
        Ok(Err(e)) => (Verdict::Transport(format!("{e:#}")), 0, None, t0.elapsed()),
        Ok(Ok(r)) => {
            let mut c = check_sse(r.status, &r.body, &case.expected);
            if let (Some(e), Verdict::Ok | Verdict::Mismatched(_)) = (&r.body_error, &c.verdict) {
                c.verdict = Verdict::Incomplete(format!("body failed: {e}"));
            }
            let first = c.first_content_at.and_then(|at| {
                r.frames
                    .iter()
                    .find(|(_, upto)| *upto >= at)
                    .map(|(when, _)| *when)
            });
            (c.verdict, c.chunks, first, r.total)
        }
    }
}

/// A closed loop: `concurrency` workers each send the next case until the cases or the time
/// budget run out.
async fn throughput(
    http: &HttpClient,
    t: &Target,
    cases: Arc<Vec<GwCase>>,
    concurrency: usize,
    time_budget: Duration,
    limit: Duration,
) -> anyhow::Result<Throughput> {
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let deadline = t0 + time_budget;
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency.max(1) {
        let (http, t, cases, next) = (
            http.clone(),
            t.clone(),
            Arc::clone(&cases),
            Arc::clone(&next),
        );
        workers.push(tokio::spawn(async move {
            let mut out = Vec::new();
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                let (v, chunks, first, total) = one(&http, &t, case, limit).await;
                out.push((v, chunks, case.tokens, first, total));
            }
            out
        }));
    }
    let mut r = Throughput {
        concurrency,
        streams: cases.len(),
        ..Default::default()
    };
    for w in workers {
        for (v, chunks, tokens, first, total) in w.await? {
            r.started += 1;
            let problem = match v {
                Verdict::Ok => {
                    r.ok += 1;
                    r.chunks_ok += chunks;
                    if chunks != tokens {
                        r.regrouped += 1;
                    }
                    if let Some(f) = first {
                        r.first_content_ms.push(ms(f));
                    }
                    r.total_ms.push(ms(total));
                    None
                }
                Verdict::Mismatched(m) => {
                    r.mismatched += 1;
                    Some(format!("mismatched: {m}"))
                }
                Verdict::Incomplete(m) => {
                    r.incomplete += 1;
                    Some(format!("incomplete: {m}"))
                }
                Verdict::Http(m) => {
                    r.http_errors += 1;
                    Some(format!("http: {m}"))
                }
                Verdict::Transport(m) => {
                    r.transport_errors += 1;
                    Some(format!("transport: {m}"))
                }
            };
            if let Some(p) = problem {
                if r.problems.len() < 5 {
                    r.problems.push(p);
                }
            }
        }
    }
    r.elapsed = t0.elapsed();
    r.budget_hit = r.started < r.streams;
    Ok(r)
}

/// The same question straight to the endpoint: ConverseStream through the Rust SDK. Returns
/// (first text delta, whole stream, text).
async fn direct(
    sdk: &aws_sdk_bedrockruntime::Client,
    prompt: &str,
    words: u32,
) -> anyhow::Result<(Duration, Duration, String)> {
    let msg = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(prompt.to_string()))
        .build()
        .context("building the message")?;
    let t0 = Instant::now();
    let mut out = sdk
        .converse_stream()
        .model_id(MODEL_ID)
        .messages(msg)
        .inference_config(
            InferenceConfiguration::builder()
                .max_tokens(i32::try_from(words).unwrap_or(i32::MAX))
                .build(),
        )
        .send()
        .await
        .context("direct ConverseStream")?;
    let mut first = None;
    let mut text = String::new();
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
                    first.get_or_insert_with(|| t0.elapsed());
                    text.push_str(t);
                }
            }
        }
    }
    let total = t0.elapsed();
    Ok((first.unwrap_or(total), total, text))
}

/// CPU seconds the processes here use, with this one.
fn ours(pids: &[u32]) -> f64 {
    pids.iter().map(|p| tree_cpu(*p)).sum::<f64>() + procs::cpu_seconds(None).unwrap_or(0.0)
}

/// Sequential pairs, alternating which goes first.
async fn sequential(
    sdk: &aws_sdk_bedrockruntime::Client,
    http: &HttpClient,
    t: &Target,
    cases: &[GwCase],
    cfg: &GatewaysConfig,
    pids: &[u32],
) -> anyhow::Result<Sequential> {
    let limit = cfg.stream_timeout;
    let mut q = Sequential::default();
    let warm = cfg.sequential_warmup.min(cases.len());
    for case in &cases[..warm] {
        tokio::time::timeout(limit, direct(sdk, &case.prompt, cfg.words)).await??;
        let _ = one(http, t, case, limit).await;
    }
    let (m0, c0, t0) = (procs::MachineCpu::now(), ours(pids), Instant::now());
    for (i, case) in cases[warm..].iter().enumerate() {
        let mut d = None;
        let mut g = None;
        for turn in 0..2 {
            if (i + turn) % 2 == 0 {
                d = Some(tokio::time::timeout(limit, direct(sdk, &case.prompt, cfg.words)).await??);
            } else {
                g = Some(one(http, t, case, limit).await);
            }
        }
        let (Some((dfirst, dtotal, dtext)), Some((v, _, gfirst, gtotal))) = (d, g) else {
            bail!("internal: a pair is missing");
        };
        if dtext != case.expected {
            bail!(
                "the endpoint's direct answer is not the expected text: {dtext:?} vs {:?}",
                case.expected
            );
        }
        let Some(gfirst) = gfirst.filter(|_| v == Verdict::Ok) else {
            q.mismatches += 1;
            continue;
        };
        q.direct_ms.push(ms(dfirst));
        q.gateway_ms.push(ms(gfirst));
        q.added_ms.push(ms(gfirst) - ms(dfirst));
        q.direct_total_ms.push(ms(dtotal));
        q.gateway_total_ms.push(ms(gtotal));
    }
    q.n = q.added_ms.len();
    let secs = t0.elapsed().as_secs_f64();
    let (busy, _) = m0.cores_since(&procs::MachineCpu::now(), secs);
    q.other_cores = (busy - (ours(pids) - c0) / secs.max(1e-9)).max(0.0);
    Ok(q)
}

// ---------------------------------------------------------------------------------------------
// Processes.

/// A process and its descendants (from `/proc/*/stat`'s parent ids).
fn tree(root: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let ppid = stat
                .rfind(')')
                .and_then(|i| stat.get(i + 2..))
                .and_then(|rest| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parents.push((pid, ppid));
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    // Bounded: each pid joins once, and there are finitely many.
    while i < out.len() && out.len() <= parents.len() + 1 {
        let p = out[i];
        for (pid, ppid) in &parents {
            if *ppid == p && !out.contains(pid) {
                out.push(*pid);
            }
        }
        i += 1;
    }
    out
}

/// Summed over the tree: (VmRSS, VmHWM) in KiB.
fn tree_memory(root: u32) -> (u64, u64) {
    tree(root)
        .into_iter()
        .filter_map(procs::Memory::of)
        .fold((0, 0), |(r, h), m| (r + m.rss_kib, h + m.hwm_kib))
}

fn tree_cpu(root: u32) -> f64 {
    tree(root)
        .into_iter()
        .filter_map(|p| procs::cpu_seconds(Some(p)))
        .sum()
}

/// The installed LiteLLM: its `litellm` command, version, Python.
#[derive(Debug, Clone)]
struct LiteLlm {
    bin: PathBuf,
    version: String,
}

fn command_output(cmd: &Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&text).trim().to_string())
}

/// Finds LiteLLM in its venv, or says why not.
fn find_litellm(venv: &Path) -> Result<LiteLlm, String> {
    let bin = venv.join("bin/litellm");
    if !bin.is_file() {
        return Err(format!(
            "LiteLLM is not installed ({} is missing; run crates/bench/peers/setup.sh)",
            bin.display()
        ));
    }
    let mut version = None;
    if let Ok(lib) = std::fs::read_dir(venv.join("lib")) {
        for py in lib.flatten() {
            if let Ok(site) = std::fs::read_dir(py.path().join("site-packages")) {
                for e in site.flatten() {
                    let name = e.file_name().to_string_lossy().to_string();
                    if let Some(v) = name
                        .strip_prefix("litellm-")
                        .and_then(|r| r.strip_suffix(".dist-info"))
                    {
                        version = Some(v.to_string());
                    }
                }
            }
        }
    }
    let Some(version) = version else {
        return Err(format!(
            "no litellm-*.dist-info in {}/lib/*/site-packages",
            venv.display()
        ));
    };
    let python = command_output(&venv.join("bin/python"), &["--version"])
        .unwrap_or_else(|| "Python ?".into());
    Ok(LiteLlm {
        bin,
        version: format!("LiteLLM {version} (litellm[proxy], {python}, one uvicorn worker)"),
    })
}

/// A private folder for LiteLLM's config, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> anyhow::Result<TempDir> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!(
            "bedrock-bench-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// LiteLLM's proxy config: one model, LiteLLM's Bedrock provider pointed at the local endpoint
/// with dummy keys, a master key (it refuses to start without one), no database, no callbacks.
pub fn litellm_config(endpoint: &str, master_key: &str) -> String {
    format!(
        "model_list:\n  - model_name: {LITELLM_MODEL}\n    litellm_params:\n      model: {LITELLM_BEDROCK_MODEL}\n      aws_bedrock_runtime_endpoint: \"{endpoint}\"\n      aws_access_key_id: AKIDBENCH\n      aws_secret_access_key: bench-secret\n      aws_region_name: us-east-1\ngeneral_settings:\n  master_key: \"{master_key}\"\n"
    )
}

/// Environment for LiteLLM: the bundled model-cost map (no download), and a proxy that does
/// not exist for anything but loopback, so any outbound HTTPS attempt fails at once.
fn litellm_env() -> Vec<(&'static str, String)> {
    let none = "http://127.0.0.1:9".to_string();
    vec![
        ("LITELLM_LOCAL_MODEL_COST_MAP", "True".into()),
        ("HTTPS_PROXY", none.clone()),
        ("https_proxy", none),
        ("NO_PROXY", "127.0.0.1,localhost".into()),
        ("no_proxy", "127.0.0.1,localhost".into()),
    ]
}

/// Which gateway.
enum Kind<'a> {
    Serve {
        bin: &'a Path,
        opts: &'a ServeOptions,
    },
    LiteLlm {
        install: &'a LiteLlm,
        dir: &'a Path,
        key: &'a str,
        limit: Duration,
    },
}

impl Kind<'_> {
    async fn start(&self, endpoint: &str) -> anyhow::Result<(Proc, Target)> {
        match self {
            Kind::Serve { bin, opts } => {
                let p = procs::serve(bin, endpoint, opts).await?;
                let t = Target {
                    url: format!("{}/v1/chat/completions", p.url),
                    model: MODEL_ID.to_string(),
                    auth: None,
                };
                Ok((p, t))
            }
            Kind::LiteLlm {
                install,
                dir,
                key,
                limit,
            } => {
                let port = procs::free_port()?;
                // `sh` only to start it in its own folder (LiteLLM reads a `.env` from the
                // current one) without inherited database settings; `exec` keeps the pid.
                let script = "unset DATABASE_URL DIRECT_URL LITELLM_MASTER_KEY LITELLM_CONFIG_PATH; cd \"$0\" && exec \"$1\" --config config.yaml --port \"$2\" --host 127.0.0.1 --num_workers 1";
                let args = vec![
                    "-c".to_string(),
                    script.to_string(),
                    dir.display().to_string(),
                    install.bin.display().to_string(),
                    port.to_string(),
                ];
                let env = litellm_env();
                let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (*k, v.clone())).collect();
                let p = procs::spawn_ready(
                    Path::new("/bin/sh"),
                    "litellm",
                    &args,
                    &env,
                    port,
                    "/health/liveliness",
                    *limit,
                )
                .await?;
                let t = Target {
                    url: format!("{}/v1/chat/completions", p.url),
                    model: LITELLM_MODEL.to_string(),
                    auth: Some(format!("Bearer {key}")),
                };
                Ok((p, t))
            }
        }
    }
}

/// All runs of one gateway against `endpoint`.
#[allow(clippy::too_many_arguments)]
async fn measure(
    name: &str,
    version: String,
    kind: &Kind<'_>,
    endpoint: &Proc,
    sdk: &aws_sdk_bedrockruntime::Client,
    cfg: &GatewaysConfig,
    budget: &Budget,
    salt: u64,
) -> anyhow::Result<GatewayResult> {
    let mut res = GatewayResult {
        name: name.to_string(),
        version,
        ..Default::default()
    };
    let http = client::http_client(cfg.concurrency.max(4));
    for run in 0..cfg.runs.max(1) {
        eprintln!("== gateways: {name} run {}/{}", run + 1, cfg.runs.max(1));
        let (proc, target) = kind.start(&endpoint.url).await?;
        let ready_ms = ms(proc.ready_after);
        let (ready_rss_kib, _) = tree_memory(proc.pid);
        let variant = salt + run as u64 * 10;
        let measured = async {
            if run == 0 {
                let n = budget.sequential + cfg.sequential_warmup;
                let cases = gw_cases(n, variant + 1, cfg.words, &target.model)?;
                res.sequential =
                    sequential(sdk, &http, &target, &cases, cfg, &[proc.pid, endpoint.pid]).await?;
            }
            let warm = Arc::new(gw_cases(cfg.warmup, variant + 2, cfg.words, &target.model)?);
            let w = throughput(
                &http,
                &target,
                warm,
                cfg.concurrency,
                budget.time_budget,
                cfg.stream_timeout,
            )
            .await?;
            if w.ok == 0 && w.started > 0 {
                bail!(
                    "{name} answered none of {} warm-up streams correctly: {:?}",
                    w.started,
                    w.problems
                );
            }
            let cases = Arc::new(gw_cases(budget.streams, variant, cfg.words, &target.model)?);
            let cpu0 = (
                tree_cpu(proc.pid),
                endpoint.cpu_seconds(),
                procs::cpu_seconds(None).unwrap_or(f64::NAN),
            );
            let m0 = procs::MachineCpu::now();
            let load = throughput(
                &http,
                &target,
                cases,
                cfg.concurrency,
                budget.time_budget,
                cfg.stream_timeout,
            )
            .await?;
            let cpu_gateway = tree_cpu(proc.pid) - cpu0.0;
            let cpu_endpoint = endpoint.cpu_seconds() - cpu0.1;
            let cpu_client = procs::cpu_seconds(None).unwrap_or(f64::NAN) - cpu0.2;
            let (machine_busy_cores, _) =
                m0.cores_since(&procs::MachineCpu::now(), load.elapsed.as_secs_f64());
            let (after_rss_kib, hwm_kib) = tree_memory(proc.pid);
            anyhow::Ok(GatewayRun {
                ready_ms,
                ready_rss_kib,
                after_rss_kib,
                hwm_kib,
                load,
                cpu_gateway,
                cpu_endpoint,
                cpu_client,
                machine_busy_cores,
            })
        }
        .await;
        match measured {
            Ok(r) => {
                let clean = r.load.failed() == 0;
                eprintln!(
                    "   ready {:.1} ms; {} ok / {} started, {:.1} streams/s; peak {:.1} MiB",
                    r.ready_ms,
                    r.load.ok,
                    r.load.started,
                    r.load.streams_per_sec(),
                    mib(r.hwm_kib)
                );
                if clean {
                    proc.stop().await;
                } else {
                    res.log = proc.log.display().to_string();
                    proc.stop_keeping_log().await;
                }
                res.runs.push(r);
            }
            Err(e) => {
                let log = proc.log.display().to_string();
                let tail = proc.log_tail();
                proc.stop_keeping_log().await;
                return Err(e.context(format!("{name} (log {log}):\n{tail}")));
            }
        }
    }
    Ok(res)
}

/// Starts the local endpoint, then measures serve and (when installed and asked for) LiteLLM
/// in front of it, one after the other.
pub async fn run(bin: &Path, cfg: &GatewaysConfig) -> anyhow::Result<GatewaysReport> {
    let t0 = Instant::now();
    let load_before = crate::report::loadavg();
    let date = crate::report::utc_now();
    let endpoint = procs::local_bedrock(bin, cfg.chunk_delay_ms, 1).await?;
    let sdk = client::sdk_client(&endpoint.url);
    let serve_version = command_output(bin, &["--version"]).unwrap_or_else(|| "?".into());
    let serve_kind = Kind::Serve {
        bin,
        opts: &cfg.serve,
    };
    let serve = measure(
        "bedrock-stream serve",
        format!("{serve_version}, RUST_LOG={}", cfg.serve.rust_log),
        &serve_kind,
        &endpoint,
        &sdk,
        cfg,
        &cfg.serve_budget,
        300,
    )
    .await;
    let serve = match serve {
        Ok(s) => s,
        Err(e) => {
            endpoint.stop_keeping_log().await;
            return Err(e);
        }
    };
    let litellm = if !cfg.with_litellm {
        GatewayResult::skipped("LiteLLM proxy", "not requested (--no-litellm)".into())
    } else {
        match find_litellm(&cfg.litellm_venv()) {
            Err(reason) => GatewayResult::skipped("LiteLLM proxy", reason),
            Ok(install) => {
                let dir = TempDir::new("litellm")?;
                let key = format!(
                    "sk-bench-{:032x}",
                    SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map(|d| d.as_nanos())
                        .unwrap_or(0)
                        ^ u128::from(std::process::id())
                );
                std::fs::write(
                    dir.0.join("config.yaml"),
                    litellm_config(&endpoint.url, &key),
                )
                .context("writing LiteLLM's config")?;
                let kind = Kind::LiteLlm {
                    install: &install,
                    dir: &dir.0,
                    key: &key,
                    limit: cfg.litellm_ready_limit,
                };
                match measure(
                    "LiteLLM proxy",
                    install.version.clone(),
                    &kind,
                    &endpoint,
                    &sdk,
                    cfg,
                    &cfg.litellm_budget,
                    400,
                )
                .await
                {
                    Ok(r) => r,
                    Err(e) => {
                        let mut r = GatewayResult::skipped("LiteLLM proxy", format!("{e:#}"));
                        r.version = install.version.clone();
                        r
                    }
                }
            }
        }
    };
    endpoint.stop().await;
    Ok(GatewaysReport {
        config: cfg.clone(),
        serve,
        litellm,
        nproc: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        load_before,
        load_after: crate::report::loadavg(),
        date,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// The report as JSON, floats rounded to three decimals (a microsecond for times in ms), so the
/// per-stream timings stay small on disk.
pub fn to_json(r: &GatewaysReport) -> anyhow::Result<Vec<u8>> {
    fn round(v: &mut serde_json::Value) {
        use serde_json::Value;
        match v {
            Value::Number(n) if n.is_f64() => {
                if let Some(x) = n
                    .as_f64()
                    .and_then(|x| serde_json::Number::from_f64((x * 1000.0).round() / 1000.0))
                {
                    *n = x;
                }
            }
            Value::Array(a) => a.iter_mut().for_each(round),
            Value::Object(o) => o.values_mut().for_each(round),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(r)?;
    round(&mut v);
    Ok(serde_json::to_vec(&v)?)
}

// ---------------------------------------------------------------------------------------------
// The report.

fn met(ok: bool) -> &'static str {
    if ok {
        "**met**"
    } else {
        "**not met**"
    }
}

/// "12× higher" / "40× lower" / "about the same"; "n/a" without both values.
fn compare(serve: f64, other: f64) -> String {
    if !(serve.is_finite() && other.is_finite()) || serve <= 0.0 || other <= 0.0 {
        return "n/a".into();
    }
    let r = serve / other;
    if (0.95..=1.05).contains(&r) {
        "about the same".into()
    } else if r > 1.0 {
        format!("{} higher", times(r))
    } else {
        format!("{} lower", times(1.0 / r))
    }
}

fn times(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}×")
    } else {
        format!("{r:.1}×")
    }
}

fn contention(cores: f64, nproc: usize) -> String {
    if cores.is_finite() && cores >= 0.05 {
        format!("other processes kept {cores:.2} of {nproc} cores busy meanwhile")
    } else {
        "machine otherwise idle".to_string()
    }
}

/// The goals rows: (goal, measured, met / not met, conditions).
pub fn goals(r: &GatewaysReport) -> Vec<[String; 4]> {
    let s = r.serve.streams_per_sec();
    let conc = r.config.concurrency;
    let goal = format!(
        "`serve` ≥ 50× LiteLLM's completed streams/s ({} chunks a stream, {conc} concurrent)",
        r.config.words
    );
    let others = Spread::of(
        &r.serve
            .runs
            .iter()
            .chain(&r.litellm.runs)
            .map(GatewayRun::other_cores)
            .collect::<Vec<_>>(),
    )
    .max;
    let conditions = format!(
        "same local endpoint and request, client, gateway and endpoint on the same {} cores, LiteLLM one worker; {}",
        r.nproc,
        contention(others, r.nproc)
    );
    let row = match (r.speedup(), &r.litellm.skipped) {
        (Some(x), _) => {
            let l = r.litellm.streams_per_sec();
            [
                goal,
                format!(
                    "{}× ({} vs {} streams/s, median [min–max] of {} runs each)",
                    if x >= 10.0 {
                        format!("{x:.0}")
                    } else {
                        format!("{x:.1}")
                    },
                    s.fmt(0),
                    l.fmt(1),
                    s.n.min(l.n)
                ),
                if r.config.size == Size::Quick {
                    "n/a (quick run)".into()
                } else {
                    met(x >= 50.0).into()
                },
                conditions,
            ]
        }
        (None, reason) => [
            goal,
            format!(
                "serve {} streams/s; LiteLLM not measured",
                if r.serve.ran() { s.fmt(0) } else { "?".into() }
            ),
            format!(
                "n/a (LiteLLM skipped: {})",
                reason.as_deref().unwrap_or("no runs")
            ),
            conditions,
        ],
    };
    vec![row]
}

/// The `## Gateways: serve vs LiteLLM` section.
pub fn markdown(r: &GatewaysReport) -> String {
    let c = &r.config;
    let (sv, ll) = (&r.serve, &r.litellm);
    let mut s = String::new();
    let _ = writeln!(s, "## Gateways: serve vs LiteLLM\n");
    if c.size == Size::Quick {
        let _ = writeln!(
            s,
            "> **Quick run**: checks that the comparison runs; its timings are not the project's numbers.\n"
        );
    }
    let _ = writeln!(
        s,
        "`bench gateways`: both gateways in front of the same local endpoint \
         (`bedrock-stream local-bedrock --engine scripted --chunk-tokens 1 --chunk-delay-ms {}`), one after the other, \
         on loopback only. Both get the same OpenAI-style request, `POST /v1/chat/completions` with `\"stream\": true`, \
         `max_tokens` {w} and one user message (a different prompt per stream), so every answer is {w} chunks of one token; \
         both call the endpoint's ConverseStream for it (serve maps chat completions onto ConverseStream; LiteLLM's Bedrock \
         provider sends `{LITELLM_BEDROCK_MODEL}` there). The client parses every SSE event, joins the `delta.content` \
         strings and compares them with the scripted engine's text for that prompt; an answer counts only when that text is \
         exact and the stream ends with `data: [DONE]`.\n",
        c.chunk_delay_ms,
        w = c.words
    );
    let _ = writeln!(
        s,
        "Each gateway: {} fresh process(es), each timed from spawn to its first `200` (`GET /healthz` for serve, \
         `GET /health/liveliness` for LiteLLM, polled every 0.25 ms), then {} warm-up streams, then a closed loop of \
         streams at {} concurrent (serve: at most {} streams or {} s; LiteLLM: at most {} streams or {} s, streams in \
         flight then finish). CPU is the gateway process's (children included) user + system time during the loop, \
         divided by the streams; memory is VmRSS when ready and VmHWM (the kernel's peak) after the loop. \
         The first process also answers {} sequential requests (after {} warm-up), each paired with the same question \
         asked of the endpoint directly through the Rust SDK (`converse_stream`, time to the first text delta), \
         alternating which goes first; \"first content\" through a gateway is the arrival of the body frame holding \
         the first content event, and \"added\" is gateway minus direct, pair by pair.\n",
        c.runs.max(1),
        c.warmup,
        c.concurrency,
        c.serve_budget.streams,
        c.serve_budget.time_budget.as_secs(),
        c.litellm_budget.streams,
        c.litellm_budget.time_budget.as_secs(),
        c.serve_budget.sequential,
        c.sequential_warmup,
    );
    let _ = writeln!(s, "| | |\n| --- | --- |");
    let _ = writeln!(s, "| `serve` | {} |", sv.version);
    let _ = writeln!(
        s,
        "| LiteLLM | {} |",
        if ll.version.is_empty() {
            "not installed"
        } else {
            &ll.version
        }
    );
    let _ = writeln!(
        s,
        "| LiteLLM config | model `{LITELLM_MODEL}` → `{LITELLM_BEDROCK_MODEL}`, `aws_bedrock_runtime_endpoint` = the local endpoint, dummy keys, `aws_region_name: us-east-1`, a master key (it refuses to start without one), no database, no callbacks; `LITELLM_LOCAL_MODEL_COST_MAP=True`, outbound HTTPS sent to a closed loopback port |"
    );
    let _ = writeln!(
        s,
        "| when | {}, {:.0} s; load average {} before, {} after |",
        r.date, r.seconds, r.load_before, r.load_after
    );
    let _ = writeln!(s);
    let skipped_note = |g: &GatewayResult| {
        g.skipped
            .as_ref()
            .map(|reason| format!("skipped: {}", one_line(reason)))
    };
    for g in [sv, ll] {
        if let Some(n) = skipped_note(g) {
            let _ = writeln!(s, "**{}**: {n}\n", g.name);
        }
    }

    // Per-run spreads.
    let sp = |g: &GatewayResult, f: &dyn Fn(&GatewayRun) -> f64| {
        Spread::of(&g.runs.iter().map(f).collect::<Vec<_>>())
    };
    let cell = |g: &GatewayResult, v: Spread, digits: usize| {
        if g.runs.is_empty() || v.n == 0 {
            "–".to_string()
        } else {
            v.fmt(digits)
        }
    };
    let _ = writeln!(
        s,
        "| median [min–max] over runs | `serve` | LiteLLM | `serve` vs LiteLLM |\n| --- | --- | --- | --- |"
    );
    type RowFn<'a> = &'a dyn Fn(&GatewayRun) -> f64;
    let rows: Vec<(&str, RowFn, usize, bool)> = vec![
        (
            "**completed streams/s**",
            &|x| x.load.streams_per_sec(),
            1,
            true,
        ),
        ("chunks/s", &|x| x.load.chunks_per_sec(), 0, true),
        ("streams ok per run", &|x| x.load.ok as f64, 0, false),
        (
            "first content under load p50, ms",
            &|x| Dist::of(&x.load.first_content_ms).p50,
            2,
            true,
        ),
        (
            "first content under load p99, ms",
            &|x| Dist::of(&x.load.first_content_ms).p99,
            2,
            true,
        ),
        (
            "whole stream under load p50, ms",
            &|x| Dist::of(&x.load.total_ms).p50,
            2,
            true,
        ),
        (
            "CPU per stream in the gateway, µs",
            &|x| x.cpu_us_per_stream().0,
            0,
            true,
        ),
        ("cores the gateway used", &|x| x.gateway_cores(), 2, false),
        (
            "CPU per stream in the endpoint, µs",
            &|x| x.cpu_us_per_stream().1,
            0,
            false,
        ),
        (
            "CPU per stream in the bench client, µs",
            &|x| x.cpu_us_per_stream().2,
            0,
            false,
        ),
        (
            "cores other processes kept busy",
            &|x| x.other_cores(),
            2,
            false,
        ),
        ("ready after spawn, ms", &|x| x.ready_ms, 1, true),
        ("RSS when ready, MiB", &|x| mib(x.ready_rss_kib), 1, true),
        (
            "**peak RSS (VmHWM) under load**, MiB",
            &|x| mib(x.hwm_kib),
            1,
            true,
        ),
        ("RSS after the run, MiB", &|x| mib(x.after_rss_kib), 1, true),
    ];
    for (name, f, digits, ratio) in rows {
        let (a, b) = (sp(sv, f), sp(ll, f));
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} |",
            cell(sv, a, digits),
            cell(ll, b, digits),
            if ratio && sv.ran() && ll.ran() {
                compare(a.median, b.median)
            } else {
                String::new()
            }
        );
    }
    let errs = |g: &GatewayResult| {
        if g.runs.is_empty() {
            return "–".to_string();
        }
        let sum = |f: &dyn Fn(&Throughput) -> usize| g.runs.iter().map(|r| f(&r.load)).sum();
        let (ok, started): (usize, usize) = (sum(&|l| l.ok), sum(&|l| l.started));
        format!(
            "{ok} ok of {started}; mismatched {}, incomplete {}, HTTP errors {}, no answer {}; regrouped {}",
            sum(&|l| l.mismatched),
            sum(&|l| l.incomplete),
            sum(&|l| l.http_errors),
            sum(&|l| l.transport_errors),
            sum(&|l| l.regrouped)
        )
    };
    let _ = writeln!(
        s,
        "| streams checked (all runs) | {} | {} | |\n",
        errs(sv),
        errs(ll)
    );

    // Sequential.
    let _ = writeln!(
        s,
        "First content, sequential ({} pairs for serve, {} for LiteLLM):\n",
        sv.sequential.n, ll.sequential.n
    );
    let _ = writeln!(
        s,
        "| ms | p50 | p90 | p99 | max |\n| --- | --- | --- | --- | --- |"
    );
    for g in [sv, ll] {
        if g.sequential.n == 0 {
            continue;
        }
        let short = if std::ptr::eq(g, sv) {
            "`serve`"
        } else {
            "LiteLLM"
        };
        for (label, v) in [
            ("direct (SDK → endpoint), beside", &g.sequential.direct_ms),
            ("through", &g.sequential.gateway_ms),
        ] {
            let d = Dist::of(v);
            let _ = writeln!(
                s,
                "| {label} {short} | {:.3} | {:.3} | {:.3} | {:.3} |",
                d.p50, d.p90, d.p99, d.max
            );
        }
        let a = Dist::of(&g.sequential.added_ms);
        let _ = writeln!(
            s,
            "| **added by {short}** | **{:.3}** | {:.3} | **{:.3}** | {:.3} |",
            a.p50, a.p90, a.p99, a.max
        );
    }
    let _ = writeln!(s);
    let seq_note: Vec<String> = [sv, ll]
        .iter()
        .filter(|g| g.sequential.n > 0)
        .map(|g| {
            format!(
                "{}: {} failed or wrong answers, {}",
                g.name,
                g.sequential.mismatches,
                contention(g.sequential.other_cores, r.nproc)
            )
        })
        .collect();
    if !seq_note.is_empty() {
        let _ = writeln!(s, "{}.\n", seq_note.join("; "));
    }
    if let Some(x) = r.speedup() {
        let l_cores = sp(ll, &|x| x.gateway_cores()).median;
        let _ = writeln!(
            s,
            "`serve` completed {}× LiteLLM's streams per second here. LiteLLM runs as one Python process \
             (one uvicorn worker, as in the issue), so it can use at most one core ({l_cores:.2} measured); \
             `serve` is one process with a thread per core. The client, the gateway and the endpoint share \
             the machine's {} cores.\n",
            if x >= 10.0 {
                format!("{x:.0}")
            } else {
                format!("{x:.1}")
            },
            r.nproc
        );
    }
    for g in [sv, ll] {
        for run in &g.runs {
            for p in &run.load.problems {
                let _ = writeln!(s, "- {} problem: {p}", g.name);
            }
        }
    }
    s
}

fn one_line(text: &str) -> String {
    let first = text.lines().next().unwrap_or("").trim();
    if first.len() > 300 {
        let cut = (0..=300)
            .rev()
            .find(|n| first.is_char_boundary(*n))
            .unwrap_or(0);
        format!("{}…", &first[..cut])
    } else {
        first.to_string()
    }
}

/// The gateways plot: streams/s, added first content, peak RSS and ready time, serve vs LiteLLM.
pub fn svg(r: &GatewaysReport) -> String {
    use crate::svg::{Bar, Panel};
    let gateways = [(&r.serve, "#1f77b4"), (&r.litellm, "#d62728")];
    let panel = |title: &str, unit: &str, f: &dyn Fn(&GatewayResult) -> Spread| Panel {
        title: title.into(),
        unit: unit.into(),
        bars: gateways
            .iter()
            .map(|(g, color)| {
                let s = f(g);
                Bar {
                    label: g.name.clone(),
                    color,
                    median: if g.ran() { s.median } else { f64::NAN },
                    min: s.min,
                    max: s.max,
                }
            })
            .collect(),
    };
    let runs = |g: &GatewayResult, f: &dyn Fn(&GatewayRun) -> f64| {
        Spread::of(&g.runs.iter().map(f).collect::<Vec<_>>())
    };
    crate::svg::bars(
        &format!(
            "serve vs LiteLLM, same local Bedrock endpoint, {} concurrent streams",
            r.config.concurrency
        ),
        &[
            panel("completed streams per second", "streams/s", &|g| {
                g.streams_per_sec()
            }),
            panel("first content added to a direct call, p50", "ms", &|g| {
                let d = crate::stats::Dist::of(&g.sequential.added_ms);
                Spread {
                    median: d.p50,
                    min: d.p50,
                    max: d.p50,
                    n: 1,
                }
            }),
            panel("peak RSS (VmHWM)", "MiB", &|g| {
                runs(g, &|x| x.hwm_kib as f64 / 1024.0)
            }),
            panel("spawn → ready", "ms", &|g| runs(g, &|x| x.ready_ms)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse(events: &[&str]) -> Vec<u8> {
        events
            .iter()
            .map(|e| format!("data: {e}\n\n"))
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn sse_is_reassembled_and_checked() {
        let ok = sse(&[
            r#"{"choices":[{"delta":{"role":"assistant","content":"Hello"}}]}"#,
            r#"{"choices":[{"delta":{"content":" wörld"}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"length"}]}"#,
            "[DONE]",
        ]);
        let c = check_sse(200, &ok, "Hello wörld");
        assert_eq!(c.verdict, Verdict::Ok);
        assert_eq!(c.chunks, 2);
        let first_event = ok.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
        assert_eq!(c.first_content_at, Some(first_event));
        assert!(matches!(
            check_sse(200, &ok, "Hello world").verdict,
            Verdict::Mismatched(_)
        ));
        let cut = &ok[..ok.len() - "data: [DONE]\n\n".len()];
        assert!(matches!(
            check_sse(200, cut, "Hello wörld").verdict,
            Verdict::Incomplete(_)
        ));
        let err = sse(&[
            r#"{"choices":[{"delta":{"content":"Hello"}}]}"#,
            r#"{"error":{"message":"boom","type":"api_error"}}"#,
            "[DONE]",
        ]);
        assert!(matches!(
            check_sse(200, &err, "Hello").verdict,
            Verdict::Incomplete(_)
        ));
        assert!(matches!(
            check_sse(429, b"{}", "Hello").verdict,
            Verdict::Http(_)
        ));
    }

    #[test]
    fn expected_text_is_twenty_tokens() {
        let (text, tokens) = expected_text(&cases::prompt(1, 0), 20);
        assert_eq!(tokens, 20);
        assert!(
            text.starts_with("Scripted answer to: Stream 1.0:"),
            "{text}"
        );
        let body: serde_json::Value =
            serde_json::from_slice(&chat_body("m", "hi", 20).unwrap()).unwrap();
        assert_eq!(body["stream"], true);
        assert_eq!(body["max_tokens"], 20);
        let cfg = litellm_config("http://127.0.0.1:1", "sk-x");
        assert!(cfg.contains("aws_bedrock_runtime_endpoint: \"http://127.0.0.1:1\""));
    }

    #[test]
    fn report_says_skipped_and_renders_goals() {
        let mut serve = GatewayResult {
            name: "bedrock-stream serve".into(),
            version: "bedrock-stream 0.1.0".into(),
            ..Default::default()
        };
        serve.runs.push(GatewayRun {
            load: Throughput {
                ok: 1000,
                started: 1000,
                chunks_ok: 20000,
                elapsed: Duration::from_millis(500),
                ..Default::default()
            },
            ..Default::default()
        });
        let mut r = GatewaysReport {
            config: GatewaysConfig::for_size(Size::Full),
            serve,
            litellm: GatewayResult::skipped("LiteLLM proxy", "not installed".into()),
            nproc: 2,
            load_before: "0 0 0".into(),
            load_after: "0 0 0".into(),
            date: "2026-01-01 00:00 UTC".into(),
            seconds: 1.0,
        };
        let md = markdown(&r);
        assert!(md.starts_with("## Gateways: serve vs LiteLLM"), "{md}");
        assert!(md.contains("skipped: not installed"), "{md}");
        let g = goals(&r);
        assert_eq!(g.len(), 1);
        assert!(g[0][2].contains("skipped"), "{:?}", g[0]);
        let mut l = r.serve.clone();
        l.name = "LiteLLM proxy".into();
        l.runs[0].load.ok = 10;
        r.litellm = l;
        assert_eq!(r.speedup().map(|x| x.round()), Some(100.0));
        let g = goals(&r);
        assert_eq!(g[0][2], "**met**");
        assert!(markdown(&r).contains("100× higher"));
    }
}
