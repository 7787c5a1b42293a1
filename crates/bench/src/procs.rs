//! Child processes of the real `bedrock-stream` binary (`local-bedrock`, `serve`), on
//! 127.0.0.1 only, and their memory as `/proc` reports it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Raises this process's open-file limit to its hard limit; children inherit it.
pub fn raise_nofile_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0)
}

/// The current soft open-file limit.
pub fn nofile_limit() -> u64 {
    rlimit::getrlimit(rlimit::Resource::NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(0)
}

/// A free port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// The workspace root this crate was built in, when it still exists; else the current folder.
pub fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match root.canonicalize() {
        Ok(r) if r.join("Cargo.toml").exists() => r,
        _ => PathBuf::from("."),
    }
}

/// `--bin`, else `BEDROCK_STREAM_BIN`, else `target/release/bedrock-stream` in the workspace.
pub fn resolve_bin(arg: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let bin = arg
        .or_else(|| std::env::var_os("BEDROCK_STREAM_BIN").map(PathBuf::from))
        .unwrap_or_else(|| workspace_root().join("target/release/bedrock-stream"));
    if !bin.is_file() {
        bail!(
            "{} not found: build it with `cargo build --release -p bedrock-stream`, or pass --bin / BEDROCK_STREAM_BIN",
            bin.display()
        );
    }
    Ok(bin)
}

/// A running child; killed when dropped.
pub struct Proc {
    pub name: String,
    pub pid: u32,
    pub url: String,
    pub log: PathBuf,
    /// Spawn → ready to answer.
    pub ready_after: Duration,
    child: tokio::process::Child,
}

impl Proc {
    /// Kills the child, waits for it, and removes its log.
    pub async fn stop(self) {
        let log = self.log.clone();
        self.stop_keeping_log().await;
        let _ = std::fs::remove_file(log);
    }

    /// Kills the child and waits for it; its log stays for a look.
    pub async fn stop_keeping_log(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }

    /// The last lines of its log, for error messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }

    pub fn memory(&self) -> Option<Memory> {
        Memory::of(self.pid)
    }

    /// CPU seconds used so far.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(Some(self.pid)).unwrap_or(f64::NAN)
    }
}

/// The last 15 lines of a child's log, for error messages.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

fn log_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "bedrock-bench-{}-{name}-{}.log",
        std::process::id(),
        free_port().unwrap_or(0)
    ))
}

/// Spawns `bin args…` with `env`, logs to a temp file, and waits until an HTTP GET of `probe`
/// (a path) answers 200, polling every 250 µs, for at most `limit`.
pub async fn spawn_ready(
    bin: &Path,
    name: &str,
    args: &[String],
    env: &[(&str, String)],
    port: u16,
    probe: &str,
    limit: Duration,
) -> anyhow::Result<Proc> {
    let log = log_path(name);
    let file =
        std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let t0 = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {} {}", bin.display(), args.join(" ")))?;
    let pid = child.id().unwrap_or(0);
    let deadline = t0 + limit;
    loop {
        if probe_ok(port, probe).await {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            bail!(
                "{name} exited ({status}) before it was ready:\n{}",
                log_tail(&log)
            );
        }
        if Instant::now() >= deadline {
            let _ = child.start_kill();
            bail!("{name} was not ready within {limit:?}:\n{}", log_tail(&log));
        }
        tokio::time::sleep(Duration::from_micros(250)).await;
    }
    Ok(Proc {
        name: name.to_string(),
        pid,
        url: format!("http://127.0.0.1:{port}"),
        log,
        ready_after: t0.elapsed(),
        child,
    })
}

/// One raw HTTP/1.1 GET: true on a 200.
pub async fn probe_ok(port: u16, path: &str) -> bool {
    let attempt = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let _ = s.set_nodelay(true);
        let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = [0u8; 16];
        let mut got = 0;
        while got < 12 {
            let n = s.read(&mut buf[got..]).await.ok()?;
            if n == 0 {
                break;
            }
            got += n;
        }
        Some(buf[..got].starts_with(b"HTTP/1.1 200"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), attempt).await,
        Ok(Some(true))
    )
}

/// `bedrock-stream local-bedrock --engine scripted` on a free port.
pub async fn local_bedrock(
    bin: &Path,
    chunk_delay_ms: u64,
    chunk_tokens: usize,
) -> anyhow::Result<Proc> {
    let port = free_port()?;
    let args = vec![
        "local-bedrock".to_string(),
        "--engine".into(),
        "scripted".into(),
        "--chunk-delay-ms".into(),
        chunk_delay_ms.to_string(),
        "--chunk-tokens".into(),
        chunk_tokens.to_string(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
    ];
    let env = [("RUST_LOG", "warn".to_string())];
    spawn_ready(
        bin,
        "local-bedrock",
        &args,
        &env,
        port,
        "/_emulator/stats",
        Duration::from_secs(20),
    )
    .await
}

/// How `serve` is run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ServeOptions {
    /// `RUST_LOG` for serve (its default is `info`: one line per request).
    pub rust_log: String,
    /// `AWS_MAX_ATTEMPTS` for serve's SDK client: 1, so an injected fault is not retried away.
    pub max_attempts: u32,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            rust_log: "info".into(),
            max_attempts: 1,
        }
    }
}

/// `bedrock-stream serve --bedrock URL` on a free port; `ready_after` is spawn → first 200 from
/// `/healthz`.
pub async fn serve(bin: &Path, bedrock_url: &str, opts: &ServeOptions) -> anyhow::Result<Proc> {
    let port = free_port()?;
    let args = vec![
        "serve".to_string(),
        "--bedrock".into(),
        bedrock_url.to_string(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
    ];
    let env = [
        ("RUST_LOG", opts.rust_log.clone()),
        ("AWS_MAX_ATTEMPTS", opts.max_attempts.to_string()),
    ];
    spawn_ready(
        bin,
        "serve",
        &args,
        &env,
        port,
        "/healthz",
        Duration::from_secs(20),
    )
    .await
}

/// CPU time (user + system) a process has used, in seconds, from `/proc/PID/stat`
/// (`/proc/self/stat` for `None`). Linux reports it in USER_HZ ticks, 100 a second.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// The whole machine's CPU counters from `/proc/stat`, in USER_HZ ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MachineCpu {
    /// Ticks not idle (user, nice, system, irq, softirq, steal).
    pub busy: u64,
    /// Ticks the hypervisor gave to someone else.
    pub steal: u64,
}

impl MachineCpu {
    pub fn now() -> MachineCpu {
        let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
            return MachineCpu::default();
        };
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        let get = |i: usize| v.get(i).copied().unwrap_or(0);
        // user nice system idle iowait irq softirq steal
        MachineCpu {
            busy: get(0) + get(1) + get(2) + get(5) + get(6) + get(7),
            steal: get(7),
        }
    }

    /// Cores busy on average between `self` and `later`, over `seconds`: (busy, steal).
    pub fn cores_since(&self, later: &MachineCpu, seconds: f64) -> (f64, f64) {
        let s = seconds.max(1e-9) * 100.0;
        (
            later.busy.saturating_sub(self.busy) as f64 / s,
            later.steal.saturating_sub(self.steal) as f64 / s,
        )
    }
}

/// A process's memory as `/proc/PID/status` tells it, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident now.
    pub rss_kib: u64,
    /// Peak resident ("high water mark") over the process's life.
    pub hwm_kib: u64,
}

impl Memory {
    pub fn of(pid: u32) -> Option<Memory> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        };
        Some(Memory {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
        })
    }
}

/// Samples a process's RSS every `interval` until stopped.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<(Duration, u64)>>>,
    task: tokio::task::JoinHandle<()>,
    pid: u32,
}

/// What the sampler saw.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct RssReport {
    /// Largest sampled VmRSS, KiB.
    pub max_sampled_kib: u64,
    /// VmHWM at the end, KiB (the true peak, between samples too).
    pub hwm_kib: u64,
    pub samples: Vec<(Duration, u64)>,
}

impl RssSampler {
    pub fn start(pid: u32, interval: Duration) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (s2, v2) = (Arc::clone(&stop), Arc::clone(&samples));
        let t0 = Instant::now();
        let task = tokio::spawn(async move {
            // Bounded: one sample per interval for at most an hour.
            let limit = t0 + Duration::from_secs(3600);
            while !s2.load(Ordering::Relaxed) && Instant::now() < limit {
                if let Some(m) = Memory::of(pid) {
                    if let Ok(mut v) = v2.lock() {
                        v.push((t0.elapsed(), m.rss_kib));
                    }
                }
                tokio::time::sleep(interval).await;
            }
        });
        RssSampler {
            stop,
            samples,
            task,
            pid,
        }
    }

    pub async fn finish(self) -> RssReport {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        let samples = self.samples.lock().map(|v| v.clone()).unwrap_or_default();
        let hwm = Memory::of(self.pid).map(|m| m.hwm_kib).unwrap_or(0);
        RssReport {
            max_sampled_kib: samples.iter().map(|s| s.1).max().unwrap_or(0),
            hwm_kib: hwm,
            samples,
        }
    }
}

/// Where `crates/bench/peers/setup.sh` installed the comparison peers (Node.js and Python
/// handlers, LiteLLM, node-llama-cpp): `$BENCH_PEERS_DIR`, else `target/bench-peers`.
pub fn peers_dir() -> PathBuf {
    std::env::var_os("BENCH_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/bench-peers"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_memory() {
        let m = Memory::of(std::process::id()).unwrap();
        assert!(m.rss_kib > 0 && m.hwm_kib >= m.rss_kib);
        let busy = (0..3_000_000u64).fold(0u64, |a, b| a.wrapping_add(b * b));
        assert!(busy > 0);
        assert!(cpu_seconds(None).unwrap() >= 0.0);
        assert!(cpu_seconds(Some(std::process::id())).is_some());
    }
}
