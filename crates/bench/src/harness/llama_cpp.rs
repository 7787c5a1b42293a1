//! llama.cpp through node-llama-cpp's prebuilt CPU build: `crates/bedrock-local-model/bench/llama-cpp.mjs`
//! run by `node` from the modules `crates/bench/peers/setup.sh` installs, one process per call.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use super::{not_installed, output, peers_dir, repo_path, workspace_root};

/// node-llama-cpp as the peer process reported itself (`info` of the script's JSON line).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LlamaCppInfo {
    pub node_llama_cpp: String,
    /// The llama.cpp build, as node-llama-cpp reports it.
    pub llama_cpp: Release,
    /// `prebuilt` or `localBuild`.
    pub build_type: String,
    /// The ggml CPU backend it loaded (`libggml-cpu-<variant>.so`).
    pub variant: String,
    /// The script's own CPU time, ms.
    #[serde(default)]
    pub cpu_ms: f64,
    /// Cores other processes kept busy, as the script measured around its runs.
    #[serde(default)]
    pub other_cores: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Release {
    pub repo: String,
    pub release: String,
}

/// One measured run, as the script reports it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub tokens: u32,
    pub ttft_ms: f64,
    pub decode_tok_s: f64,
}

/// What one script process reported.
#[derive(Debug, Clone, Deserialize)]
pub struct Output {
    pub info: LlamaCppInfo,
    pub runs: Vec<Run>,
}

/// The runner, when node and node-llama-cpp are both there: (node_modules, script); `Err`
/// carries the reason to skip.
pub fn setup() -> Result<(PathBuf, PathBuf), String> {
    let modules = peers_dir().join("node/node_modules");
    if !modules.join("node-llama-cpp/package.json").is_file() {
        return Err(not_installed(&modules.join("node-llama-cpp")));
    }
    let script = workspace_root().join("crates/bedrock-local-model/bench/llama-cpp.mjs");
    if !script.is_file() {
        return Err(format!("{} not found", repo_path(&script)));
    }
    output("node", &["--version"])
        .map(|_| (modules, script))
        .ok_or_else(|| "node is not installed (`node --version` failed)".into())
}

/// What to run: tokens per measured run and warm-up, threads, measured runs, and the limit on
/// the runs together (a run in progress then ends early).
pub struct Job<'a> {
    pub model: &'a Path,
    pub tokens: u32,
    pub warmup_tokens: u32,
    pub threads: usize,
    pub runs: usize,
    pub max_seconds: f64,
}

/// One `node llama-cpp.mjs --json` process, bounded by `timeout`.
pub async fn run(
    modules: &Path,
    script: &Path,
    job: &Job<'_>,
    timeout: Duration,
) -> anyhow::Result<Output> {
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(script).arg("--model").arg(job.model);
    for (k, v) in [
        ("--tokens", job.tokens.to_string()),
        ("--warmup-tokens", job.warmup_tokens.to_string()),
        ("--threads", job.threads.to_string()),
        ("--runs", job.runs.to_string()),
        ("--max-seconds", job.max_seconds.to_string()),
    ] {
        cmd.arg(k).arg(v);
    }
    cmd.arg("--json")
        .env("NODE_PATH", modules)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().context("starting node")?;
    let out = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .with_context(|| format!("llama.cpp did not finish within {timeout:?}"))??;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let lines: Vec<&str> = stderr.lines().collect();
    let tail = lines[lines.len().saturating_sub(5)..].join("\n");
    if !out.status.success() {
        bail!("llama-cpp.mjs exited with {}: {tail}", out.status);
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .with_context(|| format!("no JSON from llama-cpp.mjs: {tail}"))?;
    let out: Output = serde_json::from_str(line).context("parsing llama-cpp.mjs output")?;
    if out.runs.is_empty() {
        bail!("llama-cpp.mjs reported no runs");
    }
    Ok(out)
}
