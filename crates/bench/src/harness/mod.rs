//! Everything outside this process: starting and stopping programs (`Proc`, [`Launch`]), one
//! module per program the benchmark runs (this project's binaries, LiteLLM, Node.js, Python,
//! llama.cpp), `/proc` readings, the HTTP and SDK clients and the timestamping tap. Knows
//! nothing of scenarios or reports. Loopback only; every wait is bounded.

pub mod bedrock_stream;
pub mod client;
pub mod litellm;
pub mod llama_cpp;
pub mod node;
pub mod python;
pub mod system;
pub mod tap;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use system::Memory;

/// How to start a program, and how the report describes it.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Working directory (default: this process's).
    pub dir: Option<PathBuf>,
    /// Start from an empty environment (plus `PATH` and `HOME`) rather than this process's.
    pub clear_env: bool,
    pub env: Vec<(String, String)>,
    /// The program and its versions, for the report.
    pub what: String,
}

impl Launch {
    pub fn new(program: impl Into<PathBuf>, args: &[&str]) -> Launch {
        Launch {
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            ..Launch::default()
        }
    }

    pub fn env(mut self, k: &str, v: impl Into<String>) -> Launch {
        self.env.push((k.to_string(), v.into()));
        self
    }

    /// The command, its output appended to `log`; killed when dropped.
    pub fn command(&self, log: &Path) -> anyhow::Result<tokio::process::Command> {
        let file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(true);
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        if self.clear_env {
            cmd.env_clear();
            for k in ["PATH", "HOME"] {
                if let Some(v) = std::env::var_os(k) {
                    cmd.env(k, v);
                }
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        Ok(cmd)
    }
}

/// A running child; killed when dropped.
pub struct Proc {
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

    /// Its memory and its children's.
    pub fn memory(&self) -> Memory {
        Memory::of_tree(self.pid)
    }
}

/// The last 15 lines of a child's log, for error messages.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// A fresh log file name in the temp folder.
pub fn log_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "bedrock-bench-{}-{name}-{}.log",
        std::process::id(),
        free_port().unwrap_or(0)
    ))
}

/// Starts `launch`, then waits until an HTTP GET of `probe` on `port` answers 200, polling
/// every 250 µs, for at most `limit`.
pub async fn spawn_ready(
    launch: &Launch,
    name: &str,
    port: u16,
    probe: &str,
    limit: Duration,
) -> anyhow::Result<Proc> {
    let log = log_path(name);
    let mut cmd = launch.command(&log)?;
    let t0 = Instant::now();
    let mut child = cmd.spawn().with_context(|| {
        format!(
            "starting {} {}",
            launch.program.display(),
            launch.args.join(" ")
        )
    })?;
    let pid = child.id().unwrap_or(0);
    while !probe_ok(port, probe).await {
        if let Ok(Some(status)) = child.try_wait() {
            bail!(
                "{name} exited ({status}) before it was ready:\n{}",
                log_tail(&log)
            );
        }
        if t0.elapsed() >= limit {
            let _ = child.start_kill();
            bail!("{name} was not ready within {limit:?}:\n{}", log_tail(&log));
        }
        tokio::time::sleep(Duration::from_micros(250)).await;
    }
    Ok(Proc {
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
            match s.read(&mut buf[got..]).await.ok()? {
                0 => break,
                n => got += n,
            }
        }
        Some(buf[..got].starts_with(b"HTTP/1.1 200"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), attempt).await,
        Ok(Some(true))
    )
}

/// A free port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Runs `program args…` to its end: its stdout (else its stderr), trimmed, when it succeeded.
/// The one way this crate asks a tool for its version or a fact.
pub fn output(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&text).trim().to_string())
}

/// The workspace root this crate was built in, when it still exists; else the current folder.
pub fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match root.canonicalize() {
        Ok(r) if r.join("Cargo.toml").exists() => r,
        _ => PathBuf::from("."),
    }
}

/// How a report names a file: its path in the repository when it is in it, else relative to
/// the home folder (`~/…`), else as given. Never the machine's absolute path to the repository.
pub fn repo_path(path: &Path) -> String {
    let abs = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    if let Ok(rel) = abs.strip_prefix(workspace_root()) {
        return rel.display().to_string();
    }
    match std::env::var_os("HOME").map(PathBuf::from) {
        Some(home) if abs.starts_with(&home) && home.parent().is_some() => {
            format!("~/{}", abs.strip_prefix(&home).unwrap_or(&abs).display())
        }
        _ => path.display().to_string(),
    }
}

/// Where `crates/bench/peers/setup.sh` installed the comparison peers (Node.js and Python
/// handlers, LiteLLM, node-llama-cpp): `$BENCH_PEERS_DIR`, else `target/bench-peers`.
pub fn peers_dir() -> PathBuf {
    std::env::var_os("BENCH_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/bench-peers"))
}

/// `missing` is absent: the reason a peer is skipped.
pub fn not_installed(missing: &Path) -> String {
    format!(
        "{} is missing (run crates/bench/peers/setup.sh)",
        repo_path(missing)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_name_files_by_their_repository_path() {
        let root = workspace_root();
        assert_eq!(
            repo_path(&root.join("crates/bench/Cargo.toml")),
            "crates/bench/Cargo.toml"
        );
        assert_eq!(repo_path(Path::new("target/x")), "target/x");
        assert_eq!(output("sh", &["-c", "echo hi >&2"]).as_deref(), Some("hi"));
        assert_eq!(output("sh", &["-c", "exit 3"]), None);
    }
}
