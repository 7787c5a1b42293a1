//! Startup and memory: how soon a freshly spawned `serve` answers `/healthz`, and its peak
//! RSS while it serves 1, 100, 1,000 concurrent streams (a fresh process per level).

use std::path::Path;
use std::time::Duration;

use crate::load::{self, FaultTarget, LoadConfig, LoadReport};
use crate::procs::{self, RssSampler, ServeOptions};
use crate::stats::ms;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StartupConfig {
    /// Fresh `serve` processes to time.
    pub repeats: usize,
    /// Concurrency levels for the memory measurement.
    pub levels: Vec<usize>,
    /// Engine pacing while measuring memory (long enough that every stream of a level is in
    /// flight at once).
    pub chunk_delay_ms: u64,
    pub words: u32,
    pub serve: ServeOptions,
}

impl Default for StartupConfig {
    fn default() -> Self {
        StartupConfig {
            repeats: 20,
            levels: vec![1, 100, 1000],
            chunk_delay_ms: 20,
            words: 20,
            serve: ServeOptions::default(),
        }
    }
}

/// Memory at one concurrency level.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct MemoryLevel {
    pub concurrency: usize,
    /// RSS once ready, before any request, KiB.
    pub idle_kib: u64,
    /// Largest RSS sampled every 10 ms, KiB.
    pub max_sampled_kib: u64,
    /// VmHWM at the end, KiB.
    pub hwm_kib: u64,
    pub load: LoadReport,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct StartupReport {
    /// Spawn → first 200 from `/healthz`, ms.
    pub ready_ms: Vec<f64>,
    /// RSS right after ready, KiB.
    pub ready_rss_kib: Vec<f64>,
    pub memory: Vec<MemoryLevel>,
}

pub async fn run(bin: &Path, cfg: &StartupConfig) -> anyhow::Result<StartupReport> {
    let mut report = StartupReport::default();
    let bedrock = procs::local_bedrock(bin, cfg.chunk_delay_ms, 1).await?;
    for _ in 0..cfg.repeats {
        let serve = procs::serve(bin, &bedrock.url, &cfg.serve).await?;
        report.ready_ms.push(ms(serve.ready_after));
        if let Some(m) = serve.memory() {
            report.ready_rss_kib.push(m.rss_kib as f64);
        }
        serve.stop().await;
    }
    for &c in &cfg.levels {
        let serve = procs::serve(bin, &bedrock.url, &cfg.serve).await?;
        // Let it settle, then read its idle size.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let idle_kib = serve.memory().map(|m| m.rss_kib).unwrap_or(0);
        let sampler = RssSampler::start(serve.pid, Duration::from_millis(10));
        let streams = if c <= 1 { 5 } else { 2 * c };
        let load_cfg = LoadConfig {
            url: serve.url.clone(),
            streams,
            concurrency: c,
            faults_every: 0,
            words: cfg.words,
            chunk_tokens: 1,
            stream_timeout: Duration::from_secs(60),
            time_budget: Duration::from_secs(120),
            variant: 3,
        };
        let load = load::run(&load_cfg, FaultTarget::None).await?;
        let rss = sampler.finish().await;
        if !load.passed() {
            eprintln!(
                "memory level {c}: load did not pass:\n{}\nserve log:\n{}",
                load.summary(),
                serve.log_tail()
            );
        }
        report.memory.push(MemoryLevel {
            concurrency: c,
            idle_kib,
            max_sampled_kib: rss.max_sampled_kib,
            hwm_kib: rss.hwm_kib,
            load,
        });
        serve.stop().await;
    }
    bedrock.stop().await;
    Ok(report)
}

impl StartupReport {
    pub fn summary(&self) -> String {
        let d = crate::stats::Dist::of(&self.ready_ms);
        let r = crate::stats::Spread::of(&self.ready_rss_kib);
        let mut s = format!(
            "serve ready (spawn → /healthz 200), {} runs: p50 {:.2} ms, min {:.2}, max {:.2}; RSS when ready {:.1} MiB",
            d.n,
            d.p50,
            d.min,
            d.max,
            r.median / 1024.0
        );
        for m in &self.memory {
            s.push_str(&format!(
                "\n  {:>5} concurrent: idle {:.1} MiB, peak sampled {:.1} MiB, VmHWM {:.1} MiB ({} ok of {}, passed {})",
                m.concurrency,
                m.idle_kib as f64 / 1024.0,
                m.max_sampled_kib as f64 / 1024.0,
                m.hwm_kib as f64 / 1024.0,
                m.load.ok,
                m.load.streams,
                m.load.passed()
            ));
        }
        s
    }
}
