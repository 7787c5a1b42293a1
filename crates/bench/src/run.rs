//! `bench load` with real processes: the release `bedrock-stream` binary as `local-bedrock`
//! (scripted engine) and as `serve` in front of it, faults injected over HTTP, serve's memory
//! sampled throughout.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::client;
use crate::load::{self, FaultTarget, LoadConfig, LoadReport};
use crate::procs::{self, RssReport, RssSampler, ServeOptions};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ProcLoadConfig {
    /// `url` is filled in with serve's.
    pub load: LoadConfig,
    pub chunk_delay_ms: u64,
    pub serve: ServeOptions,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ProcLoadReport {
    pub load: LoadReport,
    pub rss: RssReport,
    /// serve's RSS once ready, KiB.
    pub idle_kib: u64,
    pub serve_ready_ms: f64,
    /// The endpoint's `/_emulator/stats` at the end.
    pub bedrock_stats: Option<Value>,
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

pub async fn run(bin: &Path, cfg: &ProcLoadConfig) -> anyhow::Result<ProcLoadReport> {
    let bedrock = procs::local_bedrock(bin, cfg.chunk_delay_ms, cfg.load.chunk_tokens).await?;
    let serve = procs::serve(bin, &bedrock.url, &cfg.serve).await?;
    let idle_kib = serve.memory().map(|m| m.rss_kib).unwrap_or(0);
    let sampler = RssSampler::start(serve.pid, Duration::from_millis(20));
    let cpu0 = (
        serve.cpu_seconds(),
        bedrock.cpu_seconds(),
        procs::cpu_seconds(None).unwrap_or(f64::NAN),
    );
    let machine0 = procs::MachineCpu::now();
    let t0 = std::time::Instant::now();
    let load_cfg = LoadConfig {
        url: serve.url.clone(),
        ..cfg.load.clone()
    };
    let result = load::run(&load_cfg, FaultTarget::Http(bedrock.url.clone())).await;
    let rss = sampler.finish().await;
    let cpu_serve = serve.cpu_seconds() - cpu0.0;
    let cpu_bedrock = bedrock.cpu_seconds() - cpu0.1;
    let cpu_client = procs::cpu_seconds(None).unwrap_or(f64::NAN) - cpu0.2;
    let (machine_busy_cores, machine_steal_cores) =
        machine0.cores_since(&procs::MachineCpu::now(), t0.elapsed().as_secs_f64());
    let http = client::http_client(1);
    let bedrock_stats = match client::get(&http, &format!("{}/_emulator/stats", bedrock.url)).await
    {
        Ok((200, body)) => serde_json::from_slice(&body).ok(),
        _ => None,
    };
    let serve_ready_ms = crate::stats::ms(serve.ready_after);
    let passed = result.as_ref().is_ok_and(LoadReport::passed);
    let serve_log = if passed {
        serve.stop().await;
        bedrock.stop().await;
        "(removed: the run passed)".to_string()
    } else {
        let logs = format!("{} and {}", serve.log.display(), bedrock.log.display());
        serve.stop_keeping_log().await;
        bedrock.stop_keeping_log().await;
        logs
    };
    Ok(ProcLoadReport {
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

impl ProcLoadReport {
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

    pub fn summary(&self) -> String {
        let (s, b, c) = self.cpu_us_per_stream();
        format!(
            "{}\n  machine: {:.2} cores busy, of which this benchmark {:.2}, others {:.2} (steal {:.2})\n  CPU: serve {:.2} s ({s:.0} µs/stream), local-bedrock {:.2} s ({b:.0} µs/stream), client {:.2} s ({c:.0} µs/stream)\n  serve RSS: idle {:.1} MiB, peak sampled {:.1} MiB, VmHWM {:.1} MiB; ready in {:.1} ms\n  local-bedrock stats: {}\n  logs: {}",
            self.load.summary(),
            self.machine_busy_cores,
            self.bench_cores(),
            self.other_cores(),
            self.machine_steal_cores,
            self.cpu_serve,
            self.cpu_bedrock,
            self.cpu_client,
            self.idle_kib as f64 / 1024.0,
            self.rss.max_sampled_kib as f64 / 1024.0,
            self.rss.hwm_kib as f64 / 1024.0,
            self.serve_ready_ms,
            self.bedrock_stats
                .as_ref()
                .map(|v| v.to_string())
                .unwrap_or_else(|| "unavailable".into()),
            self.serve_log
        )
    }
}
