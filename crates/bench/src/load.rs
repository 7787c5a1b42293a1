//! The load driver: N streams through `POST /` at a given concurrency, with faults injected
//! into the local Bedrock endpoint every K streams, every answer checked byte for byte.
//!
//! Each stream ends in exactly one of:
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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bedrock_local::{Fault, FaultKind, LocalBedrock};
use serde_json::{json, Value};

use crate::cases::{self, Case};
use crate::client::{self, HttpClient, Streamed};
use crate::stats::ms;

/// The text format's error marker (README: "Errors after the first byte").
pub const MARKER: &str = "[bedrock-stream error] ";

/// Where faults go.
#[derive(Clone)]
pub enum FaultTarget {
    None,
    /// A local Bedrock endpoint's `POST /_emulator/faults` (its base URL).
    Http(String),
    /// An in-process endpoint.
    InProcess(LocalBedrock),
}

/// What one load run does.
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
    /// Tokens per chunk at the endpoint (to count chunks).
    pub chunk_tokens: usize,
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
            chunk_tokens: 1,
            stream_timeout: Duration::from_secs(60),
            time_budget: Duration::from_secs(300),
            variant: 0,
        }
    }
}

/// How one stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// `"429 throttled"`, `"200+marker model_stream_error"`, …
    Documented(String),
    Lost(String),
    Corrupted(String),
    Reordered(String),
    Undocumented(String),
}

/// The result of one stream.
#[derive(Debug, Clone)]
struct Record {
    outcome: Outcome,
    ttfb: Option<Duration>,
    total: Duration,
    frames: usize,
    chunks: usize,
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
    pub lost: usize,
    pub corrupted: usize,
    pub reordered: usize,
    pub undocumented: usize,
    pub faults_injected: usize,
    pub fault_injection_failures: usize,
    pub elapsed: Duration,
    /// Time to first body byte of successful streams, ms.
    pub ttfb_ms: Vec<f64>,
    /// Whole stream of successful streams, ms.
    pub total_ms: Vec<f64>,
    /// Engine chunks in successful streams.
    pub chunks_ok: usize,
    /// Body frames the client read (all streams).
    pub frames: usize,
    /// The first few problems, described.
    pub problems: Vec<String>,
}

impl LoadReport {
    pub fn documented_errors(&self) -> usize {
        self.errors.values().sum()
    }

    /// Completed streams (ok or a documented error) per second.
    pub fn completed_per_sec(&self) -> f64 {
        (self.ok + self.documented_errors()) as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Successful streams per second.
    pub fn ok_per_sec(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Engine chunks of successful streams per second.
    pub fn chunks_per_sec(&self) -> f64 {
        self.chunks_ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Streams that never started because the time budget ran out.
    pub fn not_started(&self) -> usize {
        self.streams.saturating_sub(self.started)
    }

    /// Nothing lost, corrupted, reordered or undocumented, and every stream ran.
    pub fn passed(&self) -> bool {
        self.lost == 0
            && self.corrupted == 0
            && self.reordered == 0
            && self.undocumented == 0
            && self.not_started() == 0
    }

    /// Documented errors beyond the injected faults (each fault fails exactly one call when the
    /// handler does not retry).
    pub fn unexplained_errors(&self) -> isize {
        self.documented_errors() as isize - self.faults_injected as isize
    }

    pub fn summary(&self) -> String {
        let d = |v: &[f64]| crate::stats::Dist::of(v);
        let t = d(&self.ttfb_ms);
        let tot = d(&self.total_ms);
        let mut s = format!(
            "streams {} (started {}), concurrency {}, {:.2} s\n  ok {}, documented errors {} {:?}\n  lost {}, corrupted {}, reordered {}, undocumented {}\n  faults injected {} (failed to inject {}), unexplained errors {}\n  completed {:.0} streams/s, ok {:.0} streams/s, {:.0} chunks/s, {} body frames\n  TTFB ms p50 {:.2} p99 {:.2} max {:.2}; total ms p50 {:.2} p99 {:.2} max {:.2}",
            self.streams,
            self.started,
            self.concurrency,
            self.elapsed.as_secs_f64(),
            self.ok,
            self.documented_errors(),
            self.errors,
            self.lost,
            self.corrupted,
            self.reordered,
            self.undocumented,
            self.faults_injected,
            self.fault_injection_failures,
            self.unexplained_errors(),
            self.completed_per_sec(),
            self.ok_per_sec(),
            self.chunks_per_sec(),
            self.frames,
            t.p50,
            t.p99,
            t.max,
            tot.p50,
            tot.p99,
            tot.max,
        );
        for p in &self.problems {
            s.push_str("\n  problem: ");
            s.push_str(p);
        }
        s
    }
}

/// The fault injected before stream `i`, if any.
pub fn fault_for(i: usize, every: usize) -> Option<Fault> {
    if every == 0 || i % every != every - 1 {
        return None;
    }
    let fault = |kind| Fault {
        kind,
        count: 1,
        exception: None,
        after: None,
    };
    Some(match (i / every) % 3 {
        0 => fault(FaultKind::Throttle),
        1 => Fault {
            after: Some(3),
            ..fault(FaultKind::Midstream)
        },
        _ => fault(FaultKind::Internal),
    })
}

async fn inject(client: &HttpClient, target: &FaultTarget, fault: Fault) -> bool {
    match target {
        FaultTarget::None => false,
        FaultTarget::InProcess(server) => {
            server.inject(fault);
            true
        }
        FaultTarget::Http(base) => {
            let body = match serde_json::to_value(&fault) {
                Ok(v) => v,
                Err(_) => return false,
            };
            matches!(
                client::post_json(client, &format!("{base}/_emulator/faults"), &body).await,
                Ok(s) if (200..300).contains(&s)
            )
        }
    }
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
fn check_text(got: &[u8], expected: &str, whole: bool) -> Result<(), Outcome> {
    let exp = expected.as_bytes();
    if whole && got == exp {
        return Ok(());
    }
    if !whole && exp.starts_with(got) {
        return Ok(());
    }
    if whole && exp.starts_with(got) {
        return Err(Outcome::Lost(format!(
            "body ended silently after {} of {} bytes",
            got.len(),
            exp.len()
        )));
    }
    let n = got.len().min(exp.len());
    if same_bytes(got, &exp[..if whole { exp.len() } else { n }]) {
        return Err(Outcome::Reordered(format!(
            "{} bytes, the expected ones in another order",
            got.len()
        )));
    }
    let at = got.iter().zip(exp).position(|(a, b)| a != b).unwrap_or(n);
    Err(Outcome::Corrupted(format!(
        "differs at byte {at}: got {:?}, expected {:?}",
        String::from_utf8_lossy(&got[at.saturating_sub(10)..(at + 30).min(got.len())]),
        String::from_utf8_lossy(&exp[at.saturating_sub(10)..(at + 30).min(exp.len())]),
    )))
}

/// Classifies a response against the expected text.
pub fn classify(r: &Streamed, expected: &str) -> Outcome {
    if let Some(e) = &r.body_error {
        return Outcome::Lost(format!(
            "status {} body failed after {} bytes: {e}",
            r.status,
            r.body.len()
        ));
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
            (true, Some(ty), true) => Outcome::Documented(format!("{} {ty}", r.status)),
            _ => Outcome::Undocumented(format!(
                "status {} with {:?}: {}",
                r.status,
                r.content_type,
                String::from_utf8_lossy(&r.body[..r.body.len().min(200)])
            )),
        };
    }
    let body = &r.body;
    let needle = format!("\n{MARKER}");
    let marker_at = body
        .windows(needle.len())
        .rposition(|w| w == needle.as_bytes());
    match marker_at {
        None => match check_text(body, expected, true) {
            Ok(()) => Outcome::Ok,
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
                    Outcome::Documented(format!("200+marker {ty}"))
                }
                _ => Outcome::Undocumented(format!(
                    "malformed error line {:?}",
                    String::from_utf8_lossy(line)
                )),
            }
        }
    }
}

async fn one_stream(client: &HttpClient, url: &str, case: &Case, cfg: &LoadConfig) -> Record {
    let t0 = Instant::now();
    let chunks = case.chunks(cfg.chunk_tokens);
    let fut = client::post_streamed(
        client,
        url,
        case.seed_body.clone(),
        case.expected.len() + 256,
    );
    match tokio::time::timeout(cfg.stream_timeout, fut).await {
        Err(_) => Record {
            outcome: Outcome::Lost(format!("no end within {:?}", cfg.stream_timeout)),
            ttfb: None,
            total: t0.elapsed(),
            frames: 0,
            chunks,
        },
        Ok(Err(e)) => Record {
            outcome: Outcome::Lost(format!("request failed: {e:#}")),
            ttfb: None,
            total: t0.elapsed(),
            frames: 0,
            chunks,
        },
        Ok(Ok(r)) => Record {
            outcome: classify(&r, &case.expected),
            ttfb: r.first_byte(),
            total: r.total,
            frames: r.frames.len(),
            chunks,
        },
    }
}

/// Runs the load against `cfg.url`, injecting faults into `faults`.
pub async fn run(cfg: &LoadConfig, faults: FaultTarget) -> anyhow::Result<LoadReport> {
    let cases = Arc::new(cases::cases(cfg.streams, cfg.variant, cfg.words)?);
    let client = client::http_client(cfg.concurrency);
    let next = Arc::new(AtomicUsize::new(0));
    let injected = Arc::new(AtomicUsize::new(0));
    let inject_failed = Arc::new(AtomicUsize::new(0));
    let url = format!("{}/", cfg.url.trim_end_matches('/'));
    let t0 = Instant::now();
    let deadline = t0 + cfg.time_budget;
    let mut workers = Vec::with_capacity(cfg.concurrency);
    for _ in 0..cfg.concurrency.max(1) {
        let (cases, client, next, url, cfg, faults) = (
            Arc::clone(&cases),
            client.clone(),
            Arc::clone(&next),
            url.clone(),
            cfg.clone(),
            faults.clone(),
        );
        let (injected, inject_failed) = (Arc::clone(&injected), Arc::clone(&inject_failed));
        workers.push(tokio::spawn(async move {
            let mut records = Vec::new();
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                if let Some(fault) = fault_for(i, cfg.faults_every) {
                    if inject(&client, &faults, fault).await {
                        injected.fetch_add(1, Ordering::Relaxed);
                    } else if !matches!(faults, FaultTarget::None) {
                        inject_failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                records.push(one_stream(&client, &url, case, &cfg).await);
            }
            records
        }));
    }
    let mut report = LoadReport {
        streams: cfg.streams,
        concurrency: cfg.concurrency,
        ..Default::default()
    };
    for w in workers {
        let records = w.await?;
        for r in records {
            report.started += 1;
            report.frames += r.frames;
            let problem = match r.outcome {
                Outcome::Ok => {
                    report.ok += 1;
                    report.chunks_ok += r.chunks;
                    if let Some(t) = r.ttfb {
                        report.ttfb_ms.push(ms(t));
                    }
                    report.total_ms.push(ms(r.total));
                    None
                }
                Outcome::Documented(k) => {
                    *report.errors.entry(k).or_default() += 1;
                    None
                }
                Outcome::Lost(m) => {
                    report.lost += 1;
                    Some(format!("lost: {m}"))
                }
                Outcome::Corrupted(m) => {
                    report.corrupted += 1;
                    Some(format!("corrupted: {m}"))
                }
                Outcome::Reordered(m) => {
                    report.reordered += 1;
                    Some(format!("reordered: {m}"))
                }
                Outcome::Undocumented(m) => {
                    report.undocumented += 1;
                    Some(format!("undocumented: {m}"))
                }
            };
            if let Some(p) = problem {
                if report.problems.len() < 5 {
                    report.problems.push(p);
                }
            }
        }
    }
    report.elapsed = t0.elapsed();
    report.faults_injected = injected.load(Ordering::Relaxed);
    report.fault_injection_failures = inject_failed.load(Ordering::Relaxed);
    Ok(report)
}

/// The fault body as `POST /_emulator/faults` takes it (for docs and logs).
pub fn fault_json(f: &Fault) -> Value {
    serde_json::to_value(f).unwrap_or_else(|_| json!({}))
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
            frames: vec![Duration::from_millis(1)],
            head: Duration::ZERO,
            total: Duration::from_millis(2),
            body_error: None,
        }
    }

    #[test]
    fn classifies_every_ending() {
        let exp = "Scripted answer to: hello world.";
        let text = "text/plain; charset=utf-8";
        assert_eq!(classify(&resp(200, text, exp), exp), Outcome::Ok);
        assert!(matches!(
            classify(&resp(200, text, "Scripted answer"), exp),
            Outcome::Lost(_)
        ));
        assert!(matches!(
            classify(&resp(200, text, "Scripted answer to: hellx world."), exp),
            Outcome::Corrupted(_)
        ));
        assert!(matches!(
            classify(&resp(200, text, "answer Scripted to: hello world."), exp),
            Outcome::Reordered(_)
        ));
        let marked = "Scripted answer\n[bedrock-stream error] model_stream_error: boom happened\n";
        assert_eq!(
            classify(&resp(200, text, marked), exp),
            Outcome::Documented("200+marker model_stream_error".into())
        );
        let bad_prefix = "Scripted answex\n[bedrock-stream error] model_stream_error: boom\n";
        assert!(matches!(
            classify(&resp(200, text, bad_prefix), exp),
            Outcome::Corrupted(_)
        ));
        let no_newline = "Scripted\n[bedrock-stream error] model_stream_error: boom";
        assert!(matches!(
            classify(&resp(200, text, no_newline), exp),
            Outcome::Undocumented(_)
        ));
        let json = r#"{"error":{"type":"throttled","message":"slow down"}}"#;
        assert_eq!(
            classify(&resp(429, "application/json", json), exp),
            Outcome::Documented("429 throttled".into())
        );
        assert!(matches!(
            classify(&resp(502, "text/plain", "Bad Gateway"), exp),
            Outcome::Undocumented(_)
        ));
        let mut cut = resp(200, text, "Scripted");
        cut.body_error = Some("reset".into());
        assert!(matches!(classify(&cut, exp), Outcome::Lost(_)));
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
        assert_eq!(fault_json(&fault_for(99, 50).unwrap())["after"], 3);
    }
}
