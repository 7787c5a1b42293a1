//! The load driver: a closed loop of streams, each checked byte for byte, with faults injected
//! into the local Bedrock endpoint every K streams; and [`LoadRun`], a gateway process measured
//! while it carries such a loop.
//!
//! Each stream of the seed contract (`POST /`) ends in exactly one of:
//! - `ok`: status 200 and the body is exactly the scripted engine's text;
//! - a documented error: a 4xx/5xx with `{"error":{"type","message"}}` before the stream, or a
//!   200 whose partial text is a prefix of the expected text followed by the final line
//!   `[bedrock-stream error] <type>: <message>`;
//! - `lost`: no answer (connection error, timeout), or a body cut short without the marker;
//! - `corrupted` / `reordered`: bytes that are not the expected ones (reordered: the same bytes
//!   in another order);
//! - `undocumented`: an error whose shape is not the documented one.
//!
//! The run passes when nothing is lost, corrupted, reordered or undocumented and every stream
//! ran.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bedrock_local::{Fault, FaultKind};
use serde_json::Value;

use super::cases::{self, Case};
use crate::harness::client::{self, Streamed};
use crate::harness::system::{Usage, Window};
use crate::harness::Proc;
use crate::stats::{ms, Dist, Spread};

/// The text format's error marker (README: "Errors after the first byte").
pub const MARKER: &str = "[bedrock-stream error] ";

/// What one load run of the seed contract does.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LoadConfig {
    /// serve's base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    pub streams: usize,
    pub concurrency: usize,
    /// Inject a fault before every K-th stream (0: none). Kinds cycle through throttle,
    /// midstream and internal.
    pub faults_every: usize,
    /// Tokens (scripted words) per stream; one chunk each at `--chunk-tokens 1`.
    pub words: u32,
    /// Limit for one stream.
    pub stream_timeout: Duration,
    /// Limit for the whole run: no stream starts after it.
    pub time_budget: Duration,
    /// Salt for the prompts.
    pub variant: u64,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            url: String::new(),
            streams: 1000,
            concurrency: 100,
            faults_every: 50,
            words: 20,
            stream_timeout: Duration::from_secs(60),
            time_budget: Duration::from_secs(300),
            variant: 0,
        }
    }
}

/// How one stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Ok,
    /// A documented error: `"429 throttled"`, `"200+marker model_stream_error"`, …
    Documented(String),
    /// Anything else, by kind (`lost`, `corrupted`, `mismatched`, …), described.
    Failed(&'static str, String),
}

/// One stream as the client saw it.
#[derive(Debug, Clone)]
pub struct Stream {
    pub ending: Ending,
    /// Time to the first body byte (or first content event) that counts.
    pub first: Option<Duration>,
    pub total: Duration,
    /// Engine chunks (or content events) in the answer.
    pub chunks: usize,
    /// The text came in another number of pieces than the engine's chunks.
    pub regrouped: bool,
}

impl Stream {
    /// A stream that failed before or without an answer.
    pub fn failed(kind: &'static str, why: String, total: Duration) -> Stream {
        Stream {
            ending: Ending::Failed(kind, why),
            first: None,
            total,
            chunks: 0,
            regrouped: false,
        }
    }
}

/// What a load run measured.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct LoadReport {
    pub streams: usize,
    pub concurrency: usize,
    pub started: usize,
    pub ok: usize,
    /// Documented errors by `"<status> <type>"`.
    pub errors: BTreeMap<String, usize>,
    /// Failed streams by kind: `lost`, `corrupted`, `reordered`, `undocumented` (the seed
    /// contract); `mismatched`, `incomplete`, `http`, `transport` (chat completions).
    pub failures: BTreeMap<String, usize>,
    /// Ok streams whose text came in another number of pieces than the engine's chunks.
    pub regrouped: usize,
    pub faults_injected: usize,
    pub fault_injection_failures: usize,
    pub elapsed: Duration,
    /// Time to the first body byte (seed) or first content event (chat) of ok streams, ms.
    pub ttfb_ms: Vec<f64>,
    /// Whole stream of ok streams, ms.
    pub total_ms: Vec<f64>,
    /// Engine chunks in ok streams.
    pub chunks_ok: usize,
    /// The first few problems, described.
    pub problems: Vec<String>,
}

impl LoadReport {
    pub fn documented_errors(&self) -> usize {
        self.errors.values().sum()
    }

    /// Failed streams of `kind`.
    pub fn count(&self, kind: &str) -> usize {
        self.failures.get(kind).copied().unwrap_or(0)
    }

    /// Failed streams of every kind.
    pub fn failed(&self) -> usize {
        self.failures.values().sum()
    }

    /// `n` per second of the run.
    pub fn per_sec(&self, n: usize) -> f64 {
        n as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Streams that never started because the time budget ran out.
    pub fn not_started(&self) -> usize {
        self.streams.saturating_sub(self.started)
    }

    /// Nothing failed, and every stream ran.
    pub fn passed(&self) -> bool {
        self.failed() == 0 && self.not_started() == 0
    }

    /// A few lines for the terminal and test failures.
    pub fn summary(&self) -> String {
        let (t, tot) = (Dist::of(&self.ttfb_ms), Dist::of(&self.total_ms));
        let problems: String = self
            .problems
            .iter()
            .map(|p| format!("\n  problem: {p}"))
            .collect();
        format!(
            "streams {} (started {}) at {} concurrent in {:.2} s: ok {}, documented errors {:?}, failed {:?}; \
             faults injected {} (failed {}); first byte p50 {:.2} p99 {:.2} ms, whole stream p50 {:.2} ms{problems}",
            self.streams, self.started, self.concurrency, self.elapsed.as_secs_f64(), self.ok, self.errors,
            self.failures, self.faults_injected, self.fault_injection_failures, t.p50, t.p99, tot.p50,
        )
    }
}

/// A closed loop: `concurrency` workers run `one(i)` for the next `i` in `0..n` until they run
/// out or `budget` has passed (no stream starts after it; streams in flight finish). The one
/// load driver of the benchmark.
pub async fn drive<F, Fut>(
    n: usize,
    concurrency: usize,
    budget: Duration,
    one: F,
) -> anyhow::Result<LoadReport>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Stream> + Send,
{
    let (t0, one, next) = (Instant::now(), Arc::new(one), Arc::new(AtomicUsize::new(0)));
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (one, next) = (Arc::clone(&one), Arc::clone(&next));
            tokio::spawn(async move {
                let mut out = Vec::new();
                while t0.elapsed() < budget {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    out.push(one(i).await);
                }
                out
            })
        })
        .collect();
    let mut r = LoadReport {
        streams: n,
        concurrency,
        ..Default::default()
    };
    for w in workers {
        for s in w.await? {
            r.started += 1;
            match s.ending {
                Ending::Ok => {
                    r.ok += 1;
                    r.chunks_ok += s.chunks;
                    r.regrouped += usize::from(s.regrouped);
                    r.ttfb_ms.extend(s.first.map(ms));
                    r.total_ms.push(ms(s.total));
                }
                Ending::Documented(k) => *r.errors.entry(k).or_default() += 1,
                Ending::Failed(kind, why) => {
                    *r.failures.entry(kind.to_string()).or_default() += 1;
                    if r.problems.len() < 5 {
                        r.problems.push(format!("{kind}: {why}"));
                    }
                }
            }
        }
    }
    r.elapsed = t0.elapsed();
    Ok(r)
}

/// A gateway process (`serve`, LiteLLM) measured while it carries a load: its start, its
/// memory, the CPU it and the endpoint used, and the streams.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct LoadRun {
    /// Spawn → first `200` from its health endpoint, ms.
    pub ready_ms: f64,
    /// RSS once ready, before any request, KiB (the process and its children).
    pub ready_kib: u64,
    /// Peak RSS (VmHWM) after the load, KiB.
    pub peak_kib: u64,
    pub load: LoadReport,
    /// During the load: `cpu` is the gateway's, the endpoint's and this client's.
    pub usage: Usage,
}

impl LoadRun {
    /// The gateway's start as [`LoadRun::measure`] records it; read right after the spawn.
    pub fn ready(gateway: &Proc) -> (f64, u64) {
        (ms(gateway.ready_after), gateway.memory().rss_kib)
    }

    /// Runs `work` (a load through `gateway` to `endpoint`), measuring both processes.
    pub async fn measure(
        gateway: &Proc,
        ready: (f64, u64),
        endpoint: &Proc,
        work: impl Future<Output = anyhow::Result<LoadReport>>,
    ) -> anyhow::Result<LoadRun> {
        let window = Window::open(&[gateway.pid, endpoint.pid]);
        let load = work.await?;
        Ok(LoadRun {
            ready_ms: ready.0,
            ready_kib: ready.1,
            peak_kib: gateway.memory().hwm_kib,
            usage: window.close(),
            load,
        })
    }

    /// CPU µs per started stream: the gateway's (`i` 0), the endpoint's (1), this client's (2).
    pub fn cpu_us(&self, i: usize) -> f64 {
        let cpu = self.usage.cpu.get(i).copied().unwrap_or(self.usage.client);
        cpu * 1e6 / self.load.started.max(1) as f64
    }
}

/// `f` over runs: median [min–max].
pub fn spread(runs: &[LoadRun], f: impl Fn(&LoadRun) -> f64) -> Spread {
    Spread::of(&runs.iter().map(f).collect::<Vec<_>>())
}

/// The fault injected before stream `i`, if any.
pub fn fault_for(i: usize, every: usize) -> Option<Fault> {
    if every == 0 || i % every != every - 1 {
        return None;
    }
    let fault = |kind, after| Fault {
        kind,
        count: 1,
        exception: None,
        after,
    };
    Some(match (i / every) % 3 {
        0 => fault(FaultKind::Throttle, None),
        1 => fault(FaultKind::Midstream, Some(3)),
        _ => fault(FaultKind::Internal, None),
    })
}

/// Sorted bytes equal: the same bytes, perhaps in another order.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut x, mut y) = (a.to_vec(), b.to_vec());
    x.sort_unstable();
    y.sort_unstable();
    x == y
}

/// Compares text that should be a prefix of (or all of) `expected`.
fn check_text(got: &[u8], expected: &str, whole: bool) -> Result<(), Ending> {
    let exp = expected.as_bytes();
    if whole && got == exp {
        return Ok(());
    }
    if !whole && exp.starts_with(got) {
        return Ok(());
    }
    if whole && exp.starts_with(got) {
        return Err(Ending::Failed(
            "lost",
            format!(
                "body ended silently after {} of {} bytes",
                got.len(),
                exp.len()
            ),
        ));
    }
    let n = got.len().min(exp.len());
    if same_bytes(got, &exp[..if whole { exp.len() } else { n }]) {
        return Err(Ending::Failed(
            "reordered",
            format!("{} bytes, the expected ones in another order", got.len()),
        ));
    }
    let at = got.iter().zip(exp).position(|(a, b)| a != b).unwrap_or(n);
    Err(Ending::Failed(
        "corrupted",
        format!(
            "differs at byte {at}: got {:?}, expected {:?}",
            String::from_utf8_lossy(&got[at.saturating_sub(10)..(at + 30).min(got.len())]),
            String::from_utf8_lossy(&exp[at.saturating_sub(10)..(at + 30).min(exp.len())]),
        ),
    ))
}

/// Classifies a response against the expected text.
pub fn classify(r: &Streamed, expected: &str) -> Ending {
    if let Some(e) = &r.body_error {
        return Ending::Failed(
            "lost",
            format!(
                "status {} body failed after {} bytes: {e}",
                r.status,
                r.body.len()
            ),
        );
    }
    if r.status != 200 {
        let json_ct = r
            .content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/json"));
        let v: Option<Value> = serde_json::from_slice(&r.body).ok();
        let ty = v
            .as_ref()
            .and_then(|v| v["error"]["type"].as_str())
            .map(str::to_string);
        let msg_ok = v
            .as_ref()
            .and_then(|v| v["error"]["message"].as_str())
            .is_some_and(|m| !m.is_empty());
        return match (json_ct, ty, msg_ok) {
            (true, Some(ty), true) => Ending::Documented(format!("{} {ty}", r.status)),
            _ => Ending::Failed(
                "undocumented",
                format!(
                    "status {} with {:?}: {}",
                    r.status,
                    r.content_type,
                    String::from_utf8_lossy(&r.body[..r.body.len().min(200)])
                ),
            ),
        };
    }
    let body = &r.body;
    let needle = format!("\n{MARKER}");
    let marker_at = body
        .windows(needle.len())
        .rposition(|w| w == needle.as_bytes());
    match marker_at {
        None => match check_text(body, expected, true) {
            Ok(()) => Ending::Ok,
            Err(o) => o,
        },
        Some(at) => {
            if let Err(o) = check_text(&body[..at], expected, false) {
                return o;
            }
            let line = &body[at + 1..];
            let well_formed = line.ends_with(b"\n") && !line[..line.len() - 1].contains(&b'\n');
            let text = String::from_utf8_lossy(&line[MARKER.len()..]);
            match (well_formed, text.split_once(": ")) {
                (true, Some((ty, msg))) if !ty.is_empty() && msg.trim().len() > 1 => {
                    Ending::Documented(format!("200+marker {ty}"))
                }
                _ => Ending::Failed(
                    "undocumented",
                    format!("malformed error line {:?}", String::from_utf8_lossy(line)),
                ),
            }
        }
    }
}

async fn seed_stream(
    client: &client::HttpClient,
    url: &str,
    case: &Case,
    limit: Duration,
) -> Stream {
    let t0 = Instant::now();
    match tokio::time::timeout(
        limit,
        client::post_streamed(client, url, case.seed_body.clone(), &[]),
    )
    .await
    {
        Err(_) => Stream::failed("lost", format!("no end within {limit:?}"), t0.elapsed()),
        Ok(Err(e)) => Stream::failed("lost", format!("request failed: {e:#}"), t0.elapsed()),
        Ok(Ok(r)) => Stream {
            ending: classify(&r, &case.expected),
            first: r.first_byte(),
            total: r.total,
            chunks: case.tokens,
            regrouped: false,
        },
    }
}

/// One seed-contract stream (`POST url`), checked: what the latency scenario pairs with a
/// direct call.
pub async fn one(client: &client::HttpClient, url: &str, case: &Case) -> Stream {
    seed_stream(client, url, case, Duration::from_secs(30)).await
}

/// Runs the seed-contract load against `cfg.url`, injecting faults into the local endpoint at
/// `faults` (its base URL) when given.
pub async fn run(cfg: &LoadConfig, faults: Option<String>) -> anyhow::Result<LoadReport> {
    let cases = Arc::new(cases::cases(cfg.streams, cfg.variant, cfg.words)?);
    let http = client::http_client(cfg.concurrency);
    let counts = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let (url, c, every, limit) = (
        format!("{}/", cfg.url.trim_end_matches('/')),
        Arc::clone(&counts),
        cfg.faults_every,
        cfg.stream_timeout,
    );
    let mut report = drive(cfg.streams, cfg.concurrency, cfg.time_budget, move |i| {
        let (cases, http, url, faults, c) = (
            Arc::clone(&cases),
            http.clone(),
            url.clone(),
            faults.clone(),
            Arc::clone(&c),
        );
        async move {
            if let (Some(fault), Some(base)) = (fault_for(i, every), &faults) {
                let injected = match serde_json::to_value(&fault) {
                    Ok(body) => {
                        client::post_json(&http, &format!("{base}/_emulator/faults"), &body).await
                    }
                    Err(e) => Err(e.into()),
                };
                let ok = matches!(injected, Ok(s) if (200..300).contains(&s));
                c[usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
            }
            seed_stream(&http, &url, &cases[i], limit).await
        }
    })
    .await?;
    report.faults_injected = counts[0].load(Ordering::Relaxed);
    report.fault_injection_failures = counts[1].load(Ordering::Relaxed);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, ct: &str, body: &str) -> Streamed {
        Streamed {
            status,
            start: Instant::now(),
            content_type: Some(ct.into()),
            body: body.as_bytes().to_vec(),
            frames: vec![(Duration::from_millis(1), body.len())],
            total: Duration::from_millis(2),
            body_error: None,
        }
    }

    #[test]
    fn classifies_every_ending() {
        let exp = "Scripted answer to: hello world.";
        let (text, json) = ("text/plain; charset=utf-8", "application/json");
        let cases: [(u16, &str, &str, &str); 9] = [
            (200, text, exp, "ok"),
            (200, text, "Scripted answer", "lost"),
            (200, text, "Scripted answer to: hellx world.", "corrupted"),
            (200, text, "answer Scripted to: hello world.", "reordered"),
            (
                200,
                text,
                "Scripted answer\n[bedrock-stream error] model_stream_error: boom happened\n",
                "200+marker model_stream_error",
            ),
            (
                200,
                text,
                "Scripted answex\n[bedrock-stream error] model_stream_error: boom\n",
                "corrupted",
            ),
            (
                200,
                text,
                "Scripted\n[bedrock-stream error] model_stream_error: boom",
                "undocumented",
            ),
            (
                429,
                json,
                r#"{"error":{"type":"throttled","message":"slow down"}}"#,
                "429 throttled",
            ),
            (502, "text/plain", "Bad Gateway", "undocumented"),
        ];
        for (status, ct, body, want) in cases {
            let got = match classify(&resp(status, ct, body), exp) {
                Ending::Ok => "ok".to_string(),
                Ending::Documented(k) => k,
                Ending::Failed(kind, _) => kind.to_string(),
            };
            assert_eq!(got, want, "{status} {body:?}");
        }
        let mut cut = resp(200, text, "Scripted");
        cut.body_error = Some("reset".into());
        assert!(matches!(classify(&cut, exp), Ending::Failed("lost", _)));
    }

    #[test]
    fn faults_cycle_every_k_streams() {
        let kinds: Vec<_> = (0..300)
            .filter_map(|i| fault_for(i, 50).map(|f| (i, f.kind)))
            .collect();
        assert_eq!(kinds.len(), 6);
        assert_eq!(kinds[0], (49, FaultKind::Throttle));
        assert_eq!(kinds[1], (99, FaultKind::Midstream));
        assert_eq!(kinds[2], (149, FaultKind::Internal));
        assert!(fault_for(49, 0).is_none());
        assert_eq!(fault_for(99, 50).unwrap().after, Some(3));
    }
}
