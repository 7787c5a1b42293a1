//! `bench all`: runs startup/memory, latency and load, then writes `BENCHMARKS.md` and the
//! TTFB plot.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::coldstart::{self, ColdStartConfig, ColdStartReport};
use crate::gateways::{self, GatewaysConfig, GatewaysReport};
use crate::latency::{self, LatencyConfig, LatencyReport};
use crate::load::LoadConfig;
use crate::model::{self, ModelConfig, ModelReport};
use crate::procs::ServeOptions;
use crate::run::{self, ProcLoadConfig, ProcLoadReport};
use crate::sizes::{self, SizesReport};
use crate::startup::{self, StartupConfig, StartupReport};
use crate::stats::{Dist, Spread};
use crate::svg;

/// How big a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Size {
    /// CI: checks that everything runs and results are sane, in well under a minute.
    Quick,
    /// The numbers for BENCHMARKS.md.
    Full,
}

#[derive(Debug, Clone)]
pub struct AllConfig {
    pub size: Size,
    pub bin: PathBuf,
    pub out: PathBuf,
    pub svg: PathBuf,
    /// The raw results, so the report can be rendered again (`bench render`).
    pub json: PathBuf,
    /// Hand-written analysis included verbatim (causes of unmet goals), if it exists.
    pub analysis: Option<PathBuf>,
    /// How the binary was built (shown in the report).
    pub build_note: Option<String>,
    pub serve: ServeOptions,
    /// Time a cold `sam build` (about a quarter of an hour on 2 cores).
    pub sam_build: bool,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    pub startup: StartupConfig,
    pub latency: LatencyConfig,
    pub load: ProcLoadConfig,
    pub load_repeats: usize,
    #[serde(default = "default_coldstart")]
    pub coldstart: ColdStartConfig,
    #[serde(default = "default_gateways")]
    pub gateways: GatewaysConfig,
    #[serde(default)]
    pub model: ModelConfig,
}

fn default_gateways() -> GatewaysConfig {
    GatewaysConfig::for_size(Size::Full)
}

fn default_coldstart() -> ColdStartConfig {
    ColdStartConfig::for_size(Size::Full)
}

impl Plan {
    pub fn for_size(size: Size, serve: &ServeOptions) -> Plan {
        let quick = size == Size::Quick;
        Plan {
            startup: StartupConfig {
                repeats: if quick { 3 } else { 20 },
                levels: if quick {
                    vec![1, 10, 100]
                } else {
                    vec![1, 100, 1000]
                },
                serve: serve.clone(),
                ..Default::default()
            },
            latency: LatencyConfig {
                n: if quick { 100 } else { 500 },
                warmup: if quick { 10 } else { 50 },
                chunk_streams: if quick { 3 } else { 20 },
                serve: serve.clone(),
                ..Default::default()
            },
            load: ProcLoadConfig {
                load: LoadConfig {
                    streams: if quick { 2000 } else { 20000 },
                    concurrency: if quick { 200 } else { 1000 },
                    faults_every: 50,
                    words: 20,
                    chunk_tokens: 1,
                    time_budget: std::time::Duration::from_secs(if quick { 30 } else { 300 }),
                    ..Default::default()
                },
                chunk_delay_ms: 5,
                serve: serve.clone(),
            },
            load_repeats: if quick { 1 } else { 3 },
            coldstart: ColdStartConfig::for_size(size),
            gateways: GatewaysConfig {
                serve: serve.clone(),
                ..GatewaysConfig::for_size(size)
            },
            model: ModelConfig::for_size(size),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AllResults {
    pub size: Size,
    pub plan: Plan,
    pub machine: Machine,
    pub startup: StartupReport,
    pub latency: LatencyReport,
    pub loads: Vec<ProcLoadReport>,
    #[serde(default)]
    pub coldstart: Option<ColdStartReport>,
    #[serde(default)]
    pub sizes: Option<SizesReport>,
    #[serde(default)]
    pub gateways: Option<GatewaysReport>,
    #[serde(default)]
    pub model: ModelReport,
    pub seconds: f64,
    pub load_after: String,
}

impl AllResults {
    pub fn passed(&self) -> bool {
        self.loads.iter().all(|l| l.load.passed())
            && self.startup.memory.iter().all(|m| m.load.passed())
            && self.latency.mismatches == 0
            && self
                .coldstart
                .as_ref()
                .is_none_or(|c| c.bad_answers() == 0 && c.get(coldstart::Runtime::Rust).is_some())
            && self
                .gateways
                .as_ref()
                .is_none_or(GatewaysReport::serve_passed)
    }

    pub fn lost_or_corrupted(&self) -> usize {
        self.loads
            .iter()
            .map(|l| &l.load)
            .chain(self.startup.memory.iter().map(|m| &m.load))
            .map(|l| l.lost + l.corrupted + l.reordered + l.undocumented + l.not_started())
            .sum()
    }
}

/// Runs everything for `cfg.size`.
pub async fn run_all(cfg: &AllConfig) -> anyhow::Result<AllResults> {
    let t0 = Instant::now();
    let machine = Machine::probe(&cfg.bin, cfg.build_note.clone());
    let plan = Plan::for_size(cfg.size, &cfg.serve);
    eprintln!("== startup and memory");
    let startup = startup::run(&cfg.bin, &plan.startup).await?;
    eprintln!("{}", startup.summary());
    eprintln!("== latency");
    let latency = latency::run(&cfg.bin, &plan.latency).await?;
    eprintln!("{}", latency.summary());
    let mut loads = Vec::new();
    for r in 0..plan.load_repeats {
        eprintln!("== load {}/{}", r + 1, plan.load_repeats);
        let mut lc = plan.load.clone();
        lc.load.variant = r as u64 + 100;
        let report = run::run(&cfg.bin, &lc).await?;
        eprintln!("{}", report.summary());
        loads.push(report);
    }
    eprintln!("== Lambda cold start: Rust vs Node.js vs Python");
    let cold = coldstart::run(&cfg.bin, &plan.coldstart).await?;
    eprintln!("{}", cold.summary());
    eprintln!("== gateways: serve vs LiteLLM");
    let gw = gateways::run(&cfg.bin, &plan.gateways).await?;
    eprintln!("{}", gw.summary());
    // The model comparison measures CPU speed: it runs when nothing else of the bench does.
    eprintln!("== embedded model vs llama.cpp");
    let model = model::run(&plan.model).await?;
    eprintln!("{}", model.summary_lines());
    eprintln!(
        "== sizes{}",
        if cfg.sam_build { " and sam build" } else { "" }
    );
    let sizes = sizes::run(
        &cfg.bin,
        cfg.sam_build,
        std::time::Duration::from_secs(45 * 60),
    )
    .await?;
    Ok(AllResults {
        size: cfg.size,
        plan,
        machine,
        startup,
        latency,
        loads,
        coldstart: Some(cold),
        sizes: Some(sizes),
        gateways: Some(gw),
        model,
        seconds: t0.elapsed().as_secs_f64(),
        load_after: loadavg(),
    })
}

/// Where and what ran.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu: String,
    pub mem: String,
    pub kernel: String,
    pub date: String,
    pub commit: String,
    pub rustc: String,
    pub bin: String,
    pub bin_size: String,
    pub build_note: Option<String>,
    pub load_before: String,
}

fn command_line(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// `YYYY-MM-DD HH:MM UTC` from the system clock.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

impl Machine {
    pub fn probe(bin: &Path, build_note: Option<String>) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|r| r.trim_start_matches([' ', '\t', ':']).trim().to_string())
            .unwrap_or_else(|| "?".into());
        let mem = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            })
            .map(|kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0))
            .unwrap_or_else(|| "?".into());
        let root = crate::procs::workspace_root();
        let root_s = root.display().to_string();
        let commit = command_line("git", &["-C", &root_s, "rev-parse", "--short", "HEAD"])
            .map(|c| {
                let dirty = command_line("git", &["-C", &root_s, "status", "--porcelain"])
                    .is_some_and(|s| !s.is_empty());
                if dirty {
                    format!("{c} (with uncommitted changes)")
                } else {
                    c
                }
            })
            .unwrap_or_else(|| "?".into());
        let bin_size = std::fs::metadata(bin)
            .map(|m| format!("{:.1} MiB", m.len() as f64 / 1024.0 / 1024.0))
            .unwrap_or_else(|_| "?".into());
        Machine {
            nproc: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            cpu,
            mem,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "?".into()),
            date: utc_now(),
            commit,
            rustc: command_line("rustc", &["--version"]).unwrap_or_else(|| "?".into()),
            bin: bin.display().to_string(),
            bin_size,
            build_note,
            load_before: loadavg(),
        }
    }
}

fn mib(kib: f64) -> f64 {
    kib / 1024.0
}

/// p50 of each of `batches` equal slices: the spread of a median over time.
fn batched_p50(values: &[f64], batches: usize) -> Spread {
    let n = values.len();
    if n == 0 || batches == 0 {
        return Spread::of(&[]);
    }
    let size = n.div_ceil(batches);
    let p50s: Vec<f64> = values.chunks(size).map(|c| Dist::of(c).p50).collect();
    let mut s = Spread::of(&p50s);
    s.median = Dist::of(values).p50;
    s
}

fn met(ok: bool) -> &'static str {
    if ok {
        "**met**"
    } else {
        "**not met**"
    }
}

/// The relative link from the report's folder to `target`, or its absolute path.
fn link(from_dir: &Path, target: &Path) -> String {
    let abs = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let (d, t) = (abs(from_dir), abs(target));
    t.strip_prefix(&d)
        .map(|r| r.display().to_string())
        .unwrap_or_else(|_| t.display().to_string())
}

/// Writes the TTFB plot to `cfg.svg`.
pub fn write_svg(cfg: &AllConfig, res: &AllResults) -> anyhow::Result<()> {
    let mut load_ttfb = Vec::new();
    for l in &res.loads {
        load_ttfb.extend_from_slice(&l.load.ttfb_ms);
    }
    let conc = res.loads.first().map(|l| l.load.concurrency).unwrap_or(0);
    let series = [
        svg::Series {
            name: "direct to local Bedrock (SDK), sequential".into(),
            color: "#2ca02c",
            values: &res.latency.direct_ttfb_ms,
        },
        svg::Series {
            name: "through serve, sequential".into(),
            color: "#1f77b4",
            values: &res.latency.serve_ttfb_ms,
        },
        svg::Series {
            name: format!("through serve under load ({conc} concurrent)"),
            color: "#d62728",
            values: &load_ttfb,
        },
    ];
    let text = svg::cdf(
        "Time to first byte (cumulative)",
        "time to first byte, ms (log scale)",
        &series,
    );
    if let Some(dir) = cfg.svg.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&cfg.svg, text).with_context(|| format!("writing {}", cfg.svg.display()))?;
    if let Some(text) = model_svg(&res.model) {
        let path = cfg.svg.with_file_name("model.svg");
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(g) = &res.gateways {
        let path = cfg.svg.with_file_name("gateways.svg");
        std::fs::write(&path, gateways::svg(g))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(c) = &res.coldstart {
        let path = coldstart_svg(cfg);
        std::fs::write(&path, coldstart::svg(c))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The embedded-model plot: decode speed and time to first token, ours vs llama.cpp, per thread
/// count.
fn model_svg(r: &ModelReport) -> Option<String> {
    use crate::svg::{Bar, Panel};
    let mut decode = Vec::new();
    let mut ttft = Vec::new();
    let bar = |label: String, color: &'static str, s: Spread| Bar {
        label,
        color,
        median: s.median,
        min: s.min,
        max: s.max,
    };
    for threads in &r.config.threads {
        let Some(t) = r.summary(*threads) else {
            continue;
        };
        decode.push(bar(
            format!("ours, {threads} thread(s)"),
            "#1f77b4",
            t.ours_decode,
        ));
        decode.push(bar(
            format!("llama.cpp, {threads} thread(s)"),
            "#ff7f0e",
            t.llama_decode,
        ));
        ttft.push(bar(
            format!("ours, {threads} thread(s)"),
            "#1f77b4",
            t.ours_ttft,
        ));
        ttft.push(bar(
            format!("llama.cpp, {threads} thread(s)"),
            "#ff7f0e",
            t.llama_ttft,
        ));
    }
    if decode.is_empty() {
        return None;
    }
    Some(svg::bars(
        "Embedded model vs llama.cpp, same GGUF (median, min–max whisker)",
        &[
            Panel {
                title: "decode speed".into(),
                unit: "tokens/s".into(),
                bars: decode,
            },
            Panel {
                title: "time to first token".into(),
                unit: "ms".into(),
                bars: ttft,
            },
        ],
    ))
}

/// The cold-start plot, beside the TTFB plot.
pub fn coldstart_svg(cfg: &AllConfig) -> PathBuf {
    cfg.svg.with_file_name("coldstart.svg")
}

/// The markdown report.
pub fn markdown(cfg: &AllConfig, res: &AllResults) -> String {
    let m = &res.machine;
    let mut s = String::new();
    let quick = res.size == Size::Quick;
    let size = if quick { "--quick" } else { "--full" };
    let _ = writeln!(s, "# Benchmarks\n");
    let _ = writeln!(
        s,
        "Generated by `scripts/bench` (which installs the peers, builds, and runs \
         `cargo run --release -p bench -- all {size}`; the `bench` crate, `crates/bench`): every \
         number below comes from that one run, on loopback only, against the project's own local \
         Bedrock endpoint (`bedrock-stream local-bedrock --engine scripted`), with the real \
         `bedrock-stream serve` and `bedrock-stream-lambda` binaries and their peers (the seed's \
         Node.js function, a Python boto3 function, the LiteLLM proxy, llama.cpp) measured side by \
         side. Do not edit by hand; rerun the command.\n"
    );
    if quick {
        let _ = writeln!(
            s,
            "> **Quick run** (CI size): it checks that the benchmark runs and that nothing is lost; \
             its timings are not the project's numbers.\n"
        );
    }
    let _ = writeln!(s, "## Machine\n");
    let _ = writeln!(s, "| | |\n| --- | --- |");
    let _ = writeln!(s, "| date | {} |", m.date);
    let _ = writeln!(s, "| commit | {} |", m.commit);
    let _ = writeln!(s, "| CPU | {} × {} |", m.nproc, m.cpu);
    let _ = writeln!(s, "| memory | {} |", m.mem);
    let _ = writeln!(s, "| kernel | {} |", m.kernel);
    let _ = writeln!(s, "| toolchain | {} |", m.rustc);
    let _ = writeln!(
        s,
        "| binary | `{}` ({}){} |",
        m.bin,
        m.bin_size,
        m.build_note
            .as_ref()
            .map(|n| format!(", {n}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        s,
        "| load average (1, 5, 15 min) | {} before, {} after; the client, `serve` and the endpoint share these cores |",
        m.load_before, res.load_after
    );
    let _ = writeln!(s, "| run time | {:.0} s |\n", res.seconds);

    // Goals.
    let load_cps: Vec<f64> = res
        .loads
        .iter()
        .map(|l| l.load.completed_per_sec())
        .collect();
    let cps = Spread::of(&load_cps);
    let conc = res.loads.first().map(|l| l.load.concurrency).unwrap_or(0);
    let streams = res.loads.first().map(|l| l.load.streams).unwrap_or(0);
    let mem100 = res.startup.memory.iter().find(|l| l.concurrency == 100);
    let added = Dist::of(&res.latency.added_ttfb_ms);
    let fwd = Dist::of(&res.latency.forward_ms);
    let ready = Dist::of(&res.startup.ready_ms);
    let lost = res.lost_or_corrupted();
    let _ = writeln!(s, "## Goals\n");
    let _ = writeln!(
        s,
        "Goals from issues 7 and 8. Where one is not met, the cause is in [Analysis](#analysis).\n"
    );
    let others_load = Spread::of(
        &res.loads
            .iter()
            .map(|l| l.other_cores())
            .collect::<Vec<_>>(),
    );
    let contention = |cores: f64| {
        if cores.is_finite() && cores >= 0.05 {
            format!(
                "other processes kept {cores:.2} of {} cores busy meanwhile",
                m.nproc
            )
        } else {
            "machine otherwise idle".to_string()
        }
    };
    let _ = writeln!(
        s,
        "| goal | measured | | conditions |\n| --- | --- | --- | --- |"
    );
    let _ = writeln!(
        s,
        "| ≥ 1,000 completed streams/s of 20 chunks at 1,000 concurrent | {} streams/s ({} streams at {} concurrent, median [min–max] of {} runs) | {} | client, serve and endpoint on the same cores; {} |",
        cps.fmt(0),
        streams,
        conc,
        cps.n,
        if conc >= 1000 {
            met(cps.median >= 1000.0)
        } else {
            "n/a (quick run)"
        },
        contention(others_load.median)
    );
    if let Some(l) = mem100 {
        let _ = writeln!(
            s,
            "| `serve` ≤ 24 MiB RSS at 100 concurrent streams | {:.1} MiB peak (VmHWM) | {} | |",
            mib(l.hwm_kib as f64),
            met(mib(l.hwm_kib as f64) <= 24.0)
        );
    }
    let _ = writeln!(
        s,
        "| added first byte ≤ 0.3 ms p50, ≤ 2 ms p99 | p50 {:.3} ms, p99 {:.3} ms ({} paired requests) | {} | {} |",
        added.p50,
        added.p99,
        added.n,
        met(added.p50 <= 0.3 && added.p99 <= 2.0),
        contention(res.latency.other_cores)
    );
    let _ = writeln!(
        s,
        "| each chunk forwarded within 1 ms | p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} chunks) | {} | {} |",
        fwd.p50,
        fwd.p99,
        fwd.max,
        fwd.n,
        if fwd.max <= 1.0 {
            met(true)
        } else if fwd.p99 <= 1.0 {
            "**met at p99**, not for every chunk"
        } else {
            met(false)
        },
        contention(res.latency.other_cores_chunks)
    );
    let _ = writeln!(
        s,
        "| `serve` ready < 50 ms after start | p50 {:.1} ms, max {:.1} ms ({} starts) | {} | |",
        ready.p50,
        ready.max,
        ready.n,
        met(ready.max < 50.0)
    );
    let _ = writeln!(
        s,
        "| 0 lost, corrupted or reordered streams under load with faults | {lost} | {} | every stream of every run here, memory runs included |",
        met(lost == 0)
    );
    let mut rows = Vec::new();
    if let Some(g) = &res.gateways {
        rows.extend(gateways::goals(g));
    }
    if let Some(c) = &res.coldstart {
        rows.extend(coldstart::goals(c));
    }
    rows.extend(model::goals(&res.model));
    for row in rows {
        let _ = writeln!(s, "| {} |", row.join(" | "));
    }
    let _ = writeln!(s);

    // Throughput.
    let _ = writeln!(s, "## Throughput under load, with faults\n");
    if let Some(first) = res.loads.first() {
        let l = &first.load;
        let _ = writeln!(
            s,
            "`bench load --streams {} --concurrency {} --faults-every {} --chunks {} --chunk-delay-ms {}`, {} run(s), each with fresh processes: \
             `POST /` (the seed contract, Claude v2 text completions), a different prompt per stream, \
             each answer {} chunks of one token with {} ms between chunks at the engine. \
             Before every {}th stream a fault is queued at the endpoint (throttle, midstream after 3 chunks, internal, in turn); \
             serve runs with `AWS_MAX_ATTEMPTS=1` so each fault fails exactly one stream instead of being retried away, and `RUST_LOG={}` (one log line per request). \
             Every 200 answer is compared byte for byte with the scripted engine's text for its prompt; \
             every failure must be the documented JSON error before the stream or the `[bedrock-stream error]` final line after it.\n",
            l.streams,
            l.concurrency,
            res.plan.load.load.faults_every,
            res.plan.load.load.words,
            res.plan.load.chunk_delay_ms,
            res.loads.len(),
            res.plan.load.load.words,
            res.plan.load.chunk_delay_ms,
            res.plan.load.load.faults_every,
            res.plan.load.serve.rust_log,
        );
    }
    let spread = |f: &dyn Fn(&ProcLoadReport) -> f64| {
        Spread::of(&res.loads.iter().map(f).collect::<Vec<_>>())
    };
    let _ = writeln!(s, "| metric | median [min–max] over runs |\n| --- | --- |");
    let rows: Vec<(&str, Spread, usize)> = vec![
        (
            "completed streams/s (ok + documented errors)",
            spread(&|l| l.load.completed_per_sec()),
            0,
        ),
        ("successful streams/s", spread(&|l| l.load.ok_per_sec()), 0),
        (
            "chunks/s (engine chunks in successful streams)",
            spread(&|l| l.load.chunks_per_sec()),
            0,
        ),
        (
            "time to first byte p50, ms",
            spread(&|l| Dist::of(&l.load.ttfb_ms).p50),
            2,
        ),
        (
            "time to first byte p99, ms",
            spread(&|l| Dist::of(&l.load.ttfb_ms).p99),
            2,
        ),
        (
            "whole stream p50, ms",
            spread(&|l| Dist::of(&l.load.total_ms).p50),
            1,
        ),
        (
            "whole stream p99, ms",
            spread(&|l| Dist::of(&l.load.total_ms).p99),
            1,
        ),
        (
            "cores used by client + serve + endpoint",
            spread(&|l| l.bench_cores()),
            2,
        ),
        (
            "cores used by other processes on the machine",
            spread(&|l| l.other_cores()),
            2,
        ),
        (
            "CPU per stream in serve, µs",
            spread(&|l| l.cpu_us_per_stream().0),
            0,
        ),
        (
            "CPU per stream in local-bedrock, µs",
            spread(&|l| l.cpu_us_per_stream().1),
            0,
        ),
        (
            "CPU per stream in the bench client, µs",
            spread(&|l| l.cpu_us_per_stream().2),
            0,
        ),
        (
            "serve peak RSS (VmHWM), MiB",
            spread(&|l| mib(l.rss.hwm_kib as f64)),
            1,
        ),
        (
            "serve RSS when idle, MiB",
            spread(&|l| mib(l.idle_kib as f64)),
            1,
        ),
        ("wall time, s", spread(&|l| l.load.elapsed.as_secs_f64()), 2),
    ];
    for (name, sp, digits) in rows {
        let _ = writeln!(s, "| {name} | {} |", sp.fmt(digits));
    }
    let _ = writeln!(s);
    let serve_us = spread(&|l| l.cpu_us_per_stream().0).median;
    let all_us = spread(&|l| {
        let (a, b, c) = l.cpu_us_per_stream();
        a + b + c
    })
    .median;
    if serve_us.is_finite() && serve_us > 0.0 && all_us.is_finite() && all_us > 0.0 {
        let _ = writeln!(
            s,
            "The client, `serve` and the endpoint run on the same {n} cores, so the rate above is the rate of \
             the three together, with whatever else the machine was running. Together they need {all_us:.0} µs \
             of CPU per stream, so {n} cores free for them would carry about {:.0} streams/s (a projection \
             from the measured CPU cost, not a measurement); `serve`'s own {serve_us:.0} µs per stream puts its \
             ceiling alone at about {:.0} streams/s.\n",
            m.nproc as f64 * 1e6 / all_us,
            m.nproc as f64 * 1e6 / serve_us,
            n = m.nproc,
        );
    }
    let _ = writeln!(
        s,
        "| run | streams | ok | documented errors | faults injected | lost | corrupted | reordered | undocumented | not started |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for (i, l) in res.loads.iter().enumerate() {
        let l = &l.load;
        let errs: Vec<String> = l
            .errors
            .iter()
            .map(|(k, v)| format!("{v} × `{k}`"))
            .collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            i + 1,
            l.streams,
            l.ok,
            if errs.is_empty() {
                "0".to_string()
            } else {
                errs.join(", ")
            },
            l.faults_injected,
            l.lost,
            l.corrupted,
            l.reordered,
            l.undocumented,
            l.not_started()
        );
    }
    let _ = writeln!(s);
    for l in &res.loads {
        for p in &l.load.problems {
            let _ = writeln!(s, "- problem: {p}");
        }
    }

    // Latency.
    let lat = &res.latency;
    let _ = writeln!(s, "## Added latency\n");
    let _ = writeln!(
        s,
        "First byte: {} sequential requests each way, alternating, after {} warm-up requests: \
         the same Claude v2 request straight to the endpoint through the Rust SDK (`invoke_model_with_response_stream`, \
         time to the first text chunk) and through `serve` (`POST /`, time to the first body byte). \
         \"Added\" is serve minus direct, request by request; its spread is the p50 of each fifth of the run.\n",
        lat.n,
        res.plan.latency.warmup
    );
    let _ = writeln!(
        s,
        "| | p50 | p90 | p99 | max |\n| --- | --- | --- | --- | --- |"
    );
    for (name, v) in [
        ("direct, ms", &lat.direct_ttfb_ms),
        ("through serve, ms", &lat.serve_ttfb_ms),
        ("whole stream direct, ms", &lat.direct_total_ms),
        ("whole stream through serve, ms", &lat.serve_total_ms),
    ] {
        let d = Dist::of(v);
        let _ = writeln!(
            s,
            "| {name} | {:.3} | {:.3} | {:.3} | {:.3} |",
            d.p50, d.p90, d.p99, d.max
        );
    }
    let (dd, sd) = (Dist::of(&lat.direct_ttfb_ms), Dist::of(&lat.serve_ttfb_ms));
    let _ = writeln!(
        s,
        "| serve's percentile minus direct's, ms | {:.3} | {:.3} | {:.3} | {:.3} |",
        sd.p50 - dd.p50,
        sd.p90 - dd.p90,
        sd.p99 - dd.p99,
        sd.max - dd.max
    );
    let bp = batched_p50(&lat.added_ttfb_ms, 5);
    let _ = writeln!(
        s,
        "| **added by serve**, ms | **{}** | {:.3} | **{:.3}** | {:.3} |\n",
        bp.fmt(3),
        added.p90,
        added.p99,
        added.max
    );
    let _ = writeln!(
        s,
        "Per chunk: the engine paces chunks {} ms apart; {} streams each way. A timestamping TCP tap \
         sits between serve and the endpoint (same process and clock as the client), so each body \
         frame's arrival at the client minus the latest endpoint read at the tap is the time serve \
         took to forward that chunk (tap overhead included). Gaps are the times between successive \
         chunks at the client.\n",
        lat.chunk_delay_ms, lat.chunk_streams
    );
    let _ = writeln!(
        s,
        "| | p50 | p90 | p99 | max |\n| --- | --- | --- | --- | --- |"
    );
    for (name, v) in [
        ("**forwarding delay in serve**, ms", &lat.forward_ms),
        ("gap between chunks, direct, ms", &lat.direct_gap_ms),
        ("gap between chunks, through serve, ms", &lat.serve_gap_ms),
    ] {
        let d = Dist::of(v);
        let _ = writeln!(
            s,
            "| {name} | {:.3} | {:.3} | {:.3} | {:.3} |",
            d.p50, d.p90, d.p99, d.max
        );
    }
    let _ = writeln!(
        s,
        "\nAnswers whose text differed from the expected one: {}. Other processes on the machine kept {:.2} of the {} cores \
         busy during the first-byte runs and {:.2} during the per-chunk runs; a request or chunk preempted by \
         them shows up in the tails of both paths.\n",
        lat.mismatches,
        lat.other_cores,
        m.nproc,
        lat.other_cores_chunks
    );
    let _ = writeln!(
        s,
        "![time to first byte, cumulative]({})\n",
        link(cfg.out.parent().unwrap_or(Path::new(".")), &cfg.svg)
    );

    // Startup and memory.
    let st = &res.startup;
    let _ = writeln!(s, "## Startup and memory of `serve`\n");
    let rs = Spread::of(&st.ready_ms);
    let rr = Spread::of(&st.ready_rss_kib.iter().map(|k| mib(*k)).collect::<Vec<_>>());
    let _ = writeln!(
        s,
        "Ready: spawn of `bedrock-stream serve --bedrock URL` → first `200` from `GET /healthz` (polled every 0.25 ms), {} fresh processes: \
         **{} ms** median [min–max]; RSS when ready {} MiB.\n",
        rs.n,
        rs.fmt(1),
        rr.fmt(1)
    );
    let _ = writeln!(
        s,
        "Memory: a fresh `serve` per level, streams held open by the engine's {} ms pacing ({} chunks, ~{:.1} s a stream) \
         so that the level's streams are all in flight at once; two rounds of streams per level (5 sequential streams at 1). \
         VmHWM is the kernel's peak; \"sampled\" is the largest VmRSS read every 10 ms.\n",
        res.plan.startup.chunk_delay_ms,
        res.plan.startup.words,
        f64::from(res.plan.startup.words) * res.plan.startup.chunk_delay_ms as f64 / 1000.0
    );
    let _ = writeln!(
        s,
        "| concurrent streams | idle RSS, MiB | peak sampled RSS, MiB | peak RSS (VmHWM), MiB | streams ok / sent |\n| --- | --- | --- | --- | --- |"
    );
    for l in &st.memory {
        let _ = writeln!(
            s,
            "| {} | {:.1} | {:.1} | **{:.1}** | {} / {} |",
            l.concurrency,
            mib(l.idle_kib as f64),
            mib(l.max_sampled_kib as f64),
            mib(l.hwm_kib as f64),
            l.load.ok,
            l.load.streams
        );
    }
    let _ = writeln!(s);

    if let Some(c) = &res.coldstart {
        s.push_str(&coldstart::markdown(c));
        let _ = writeln!(
            s,
            "![cold start and memory]({})\n",
            link(
                cfg.out.parent().unwrap_or(Path::new(".")),
                &coldstart_svg(cfg)
            )
        );
    }
    if let Some(g) = &res.gateways {
        s.push_str(&gateways::markdown(g));
        let _ = writeln!(
            s,
            "![serve vs LiteLLM]({})\n",
            link(
                cfg.out.parent().unwrap_or(Path::new(".")),
                &cfg.svg.with_file_name("gateways.svg")
            )
        );
    }
    s.push_str(&model::markdown(&res.model));
    if model_svg(&res.model).is_some() {
        let _ = writeln!(
            s,
            "![embedded model vs llama.cpp]({})\n",
            link(
                cfg.out.parent().unwrap_or(Path::new(".")),
                &cfg.svg.with_file_name("model.svg")
            )
        );
    }
    if let Some(z) = &res.sizes {
        s.push_str(&sizes::markdown(z));
    }

    // Analysis.
    let analysis = cfg
        .analysis
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok());
    s.push_str(&analysis_section(analysis.as_deref()));

    // Not measured.
    let cold = res.coldstart.as_ref();
    let ran = |rt| cold.and_then(|c| c.get(rt)).is_some();
    let missing: Vec<&str> = [
        (
            ran(coldstart::Runtime::Node) && ran(coldstart::Runtime::Python),
            "- **Cold start** of the Node.js and Python peers (see the skipped rows above; `crates/bench/peers/setup.sh` installs them).",
        ),
        (
            ran(coldstart::Runtime::Rust),
            "- **Cold start and memory of the Lambda binary** (`cargo build --release -p bedrock-stream-lambda`).",
        ),
        (
            res.sizes.as_ref().is_some_and(|z| z.sam_build_secs.is_some()),
            "- **`sam build` time and the arm64 binary** (run without `--skip-sam-build`, with the SAM CLI and cargo-lambda installed).",
        ),
    ]
    .into_iter()
    .filter(|(present, _)| !present)
    .map(|(_, line)| line)
    .collect();
    if !missing.is_empty() {
        let _ = writeln!(s, "## Not measured in this run\n");
        for line in missing {
            let _ = writeln!(s, "{line}");
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "## Reproduce\n");
    let _ = writeln!(
        s,
        "```sh\nscripts/bench                     # peers, release build, everything; writes BENCHMARKS.md and crates/bench/results/*.svg\n\
         scripts/bench --skip-sam-build    # the same without timing a cold `sam build`\n\
         crates/bench/peers/setup.sh       # only the peers, into target/bench-peers\n\
         cargo build --release -p bedrock-stream -p bedrock-stream-lambda   # the binaries under test\n\
         cargo run --release -p bench -- coldstart   # Lambda cold start: Rust vs Node.js vs Python\n\
         cargo run --release -p bench -- gateways    # serve vs the LiteLLM proxy\n\
         cargo run --release -p bench -- model       # embedded model vs llama.cpp\n\
         cargo run --release -p bench -- load --streams 20000 --concurrency 1000 --faults-every 50\n\
         cargo run --release -p bench -- latency\n\
         cargo run --release -p bench -- startup\n\
         cargo run --release -p bench -- render      # BENCHMARKS.md again from the saved results (after editing crates/bench/ANALYSIS.md)\n```\n\n\
         `--bin PATH` (or `BEDROCK_STREAM_BIN`) picks another `bedrock-stream` binary. \
         `bench load` exits non-zero when any stream is lost or corrupted; `cargo test -p bench` runs a \
         small in-process version (300 streams, 100 concurrent, faults mixed in)."
    );
    s
}

const ANALYSIS_HEADING: &str = "## Analysis\n";

/// The report's analysis section: the hand-written text, included as is.
pub fn analysis_section(text: Option<&str>) -> String {
    match text {
        Some(text) => format!(
            "{ANALYSIS_HEADING}\nWritten by hand from profiles of this code (`crates/bench/ANALYSIS.md`, included here as is).\n\n{}\n\n",
            text.trim_end()
        ),
        None => format!("{ANALYSIS_HEADING}\nNo analysis written yet.\n\n"),
    }
}

/// Writes the report and the plot for `res`.
pub fn render(cfg: &AllConfig, res: &AllResults) -> anyhow::Result<()> {
    write_svg(cfg, res)?;
    let md = markdown(cfg, res);
    std::fs::write(&cfg.out, md).with_context(|| format!("writing {}", cfg.out.display()))
}

/// Runs everything, saves the raw results, writes the report and plot; returns the results.
pub async fn all(cfg: &AllConfig) -> anyhow::Result<AllResults> {
    let res = run_all(cfg).await?;
    if let Some(dir) = cfg.json.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut value = serde_json::to_value(&res)?;
    round_floats(&mut value);
    std::fs::write(&cfg.json, serde_json::to_vec(&value)?)
        .with_context(|| format!("writing {}", cfg.json.display()))?;
    render(cfg, &res)?;
    Ok(res)
}

/// Rounds every float to three decimals (a microsecond for times in ms): keeps the saved
/// results small.
fn round_floats(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            if let Some(x) = n.as_f64().map(|x| (x * 1000.0).round() / 1000.0) {
                if let Some(r) = serde_json::Number::from_f64(x) {
                    *n = r;
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(round_floats),
        Value::Object(o) => o.values_mut().for_each(round_floats),
        _ => {}
    }
}

/// Reads results saved by [`all`].
pub fn load_results(path: &Path) -> anyhow::Result<AllResults> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_floats_are_rounded() {
        let mut v = serde_json::json!({"a": [1.23456789, 2], "b": {"c": 0.0004}});
        round_floats(&mut v);
        assert_eq!(v, serde_json::json!({"a": [1.235, 2], "b": {"c": 0.0}}));
    }

    #[test]
    fn dates_and_batches() {
        let d = utc_now();
        assert!(
            d.len() == 20 && d.ends_with(" UTC") && d.starts_with("20"),
            "{d}"
        );
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        let b = batched_p50(&v, 5);
        assert_eq!((b.min, b.max, b.n), (1.0, 9.0, 5));
    }
}
