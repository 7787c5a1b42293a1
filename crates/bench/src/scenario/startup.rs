//! Startup and memory: how soon a freshly spawned `serve` answers `/healthz`, and its peak
//! RSS while it serves 1, 100, 1,000 concurrent streams (a fresh process per level).

use std::path::Path;
use std::time::Duration;

use super::load::{self, FaultTarget, LoadConfig, LoadReport};
use super::Size;
use crate::harness::bedrock_stream::{self, ServeOptions};
use crate::harness::system::RssSampler;
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

impl StartupConfig {
    pub fn for_size(size: Size, serve: &ServeOptions) -> StartupConfig {
        StartupConfig {
            repeats: size.pick(3, 20),
            levels: size.pick(vec![1, 10, 100], vec![1, 100, 1000]),
            chunk_delay_ms: 20,
            words: 20,
            serve: serve.clone(),
        }
    }
}

impl Default for StartupConfig {
    fn default() -> Self {
        StartupConfig::for_size(Size::Full, &ServeOptions::default())
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
    pub config: StartupConfig,
    /// Spawn → first 200 from `/healthz`, ms.
    pub ready_ms: Vec<f64>,
    /// RSS right after ready, KiB.
    pub ready_rss_kib: Vec<f64>,
    pub memory: Vec<MemoryLevel>,
}

pub async fn run(bin: &Path, cfg: &StartupConfig) -> anyhow::Result<StartupReport> {
    let mut report = StartupReport {
        config: cfg.clone(),
        ..Default::default()
    };
    let bedrock = bedrock_stream::local_bedrock(bin, cfg.chunk_delay_ms, 1).await?;
    for _ in 0..cfg.repeats {
        let serve = bedrock_stream::serve(bin, &bedrock.url, &cfg.serve).await?;
        report.ready_ms.push(ms(serve.ready_after));
        report
            .ready_rss_kib
            .extend(serve.memory().map(|m| m.rss_kib as f64));
        serve.stop().await;
    }
    for &c in &cfg.levels {
        let serve = bedrock_stream::serve(bin, &bedrock.url, &cfg.serve).await?;
        // Let it settle, then read its idle size.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let idle_kib = serve.memory().map_or(0, |m| m.rss_kib);
        let sampler = RssSampler::start(serve.pid, Duration::from_millis(10));
        let load_cfg = LoadConfig {
            url: serve.url.clone(),
            streams: if c <= 1 { 5 } else { 2 * c },
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
                "memory level {c}: load did not pass: {}\nserve log:\n{}",
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
