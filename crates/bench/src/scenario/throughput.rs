//! `bench load` with real processes: `bedrock-stream` as `local-bedrock` (scripted engine) and
//! as `serve` in front of it, faults injected over HTTP, serve's memory sampled throughout.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::load::{self, FaultTarget, LoadConfig, LoadReport};
use super::Size;
use crate::harness::bedrock_stream::{self, ServeOptions};
use crate::harness::client;
use crate::harness::system::{own_cpu, MachineCpu, RssReport, RssSampler};
use crate::stats::ms;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ThroughputConfig {
    /// `url` is filled in with serve's.
    pub load: LoadConfig,
    pub chunk_delay_ms: u64,
    pub serve: ServeOptions,
}

impl ThroughputConfig {
    pub fn for_size(size: Size, serve: &ServeOptions) -> ThroughputConfig {
        ThroughputConfig {
            load: LoadConfig {
                streams: size.pick(2000, 20000),
                concurrency: size.pick(200, 1000),
                faults_every: 50,
                words: 20,
                chunk_tokens: 1,
                time_budget: Duration::from_secs(size.pick(30, 300)),
                ..Default::default()
            },
            chunk_delay_ms: 5,
            serve: serve.clone(),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ThroughputReport {
    pub config: ThroughputConfig,
    pub load: LoadReport,
    pub rss: RssReport,
    /// serve's RSS once ready, KiB.
    pub idle_kib: u64,
    pub serve_ready_ms: f64,
    /// The endpoint's `/_emulator/stats` at the end.
    pub bedrock_stats: Option<Value>,
    /// Where the logs were kept (when the run failed).
    pub serve_log: String,
    /// CPU seconds used during the run by serve, the endpoint and this client.
    pub cpu_serve: f64,
    pub cpu_bedrock: f64,
    pub cpu_client: f64,
    /// Cores the whole machine kept busy during the run (all processes), and stolen by the
    /// hypervisor.
    pub machine_busy_cores: f64,
    pub machine_steal_cores: f64,
}

impl ThroughputReport {
    /// CPU microseconds per started stream: (serve, endpoint, client).
    pub fn cpu_us_per_stream(&self) -> (f64, f64, f64) {
        let n = self.load.started.max(1) as f64;
        (
            self.cpu_serve * 1e6 / n,
            self.cpu_bedrock * 1e6 / n,
            self.cpu_client * 1e6 / n,
        )
    }

    /// Cores the client, serve and the endpoint used together during the run.
    pub fn bench_cores(&self) -> f64 {
        (self.cpu_serve + self.cpu_bedrock + self.cpu_client)
            / self.load.elapsed.as_secs_f64().max(1e-9)
    }

    /// Cores other processes on the machine kept busy during the run.
    pub fn other_cores(&self) -> f64 {
        (self.machine_busy_cores - self.bench_cores()).max(0.0)
    }
}

pub async fn run(bin: &Path, cfg: &ThroughputConfig) -> anyhow::Result<ThroughputReport> {
    let bedrock =
        bedrock_stream::local_bedrock(bin, cfg.chunk_delay_ms, cfg.load.chunk_tokens).await?;
    let serve = bedrock_stream::serve(bin, &bedrock.url, &cfg.serve).await?;
    let idle_kib = serve.memory().map_or(0, |m| m.rss_kib);
    let sampler = RssSampler::start(serve.pid, Duration::from_millis(20));
    let cpu0 = (serve.cpu_seconds(), bedrock.cpu_seconds(), own_cpu());
    let (machine0, t0) = (MachineCpu::now(), std::time::Instant::now());
    let load_cfg = LoadConfig {
        url: serve.url.clone(),
        ..cfg.load.clone()
    };
    let result = load::run(&load_cfg, FaultTarget::Http(bedrock.url.clone())).await;
    let rss = sampler.finish().await;
    let (cpu_serve, cpu_bedrock, cpu_client) = (
        serve.cpu_seconds() - cpu0.0,
        bedrock.cpu_seconds() - cpu0.1,
        own_cpu() - cpu0.2,
    );
    let (machine_busy_cores, machine_steal_cores) =
        machine0.cores_since(t0.elapsed().as_secs_f64());
    let stats = client::get(
        &client::http_client(1),
        &format!("{}/_emulator/stats", bedrock.url),
    )
    .await;
    let bedrock_stats = match stats {
        Ok((200, body)) => serde_json::from_slice(&body).ok(),
        _ => None,
    };
    let serve_ready_ms = ms(serve.ready_after);
    let serve_log = if result.as_ref().is_ok_and(LoadReport::passed) {
        serve.stop().await;
        bedrock.stop().await;
        "(removed: the run passed)".to_string()
    } else {
        let logs = format!("{} and {}", serve.log.display(), bedrock.log.display());
        serve.stop_keeping_log().await;
        bedrock.stop_keeping_log().await;
        logs
    };
    Ok(ThroughputReport {
        config: cfg.clone(),
        load: result?,
        rss,
        idle_kib,
        serve_ready_ms,
        bedrock_stats,
        serve_log,
        cpu_serve,
        cpu_bedrock,
        cpu_client,
        machine_busy_cores,
        machine_steal_cores,
    })
}
