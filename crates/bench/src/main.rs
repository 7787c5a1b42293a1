//! `bench`: load, latency, startup, all. See `crates/bench/src/lib.rs` and BENCHMARKS.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bench::latency::{self, LatencyConfig};
use bench::load::LoadConfig;
use bench::model::ModelConfig;
use bench::procs::{self, ServeOptions};
use bench::report::{self, AllConfig, Size};
use bench::run::{self, ProcLoadConfig};
use bench::startup::{self, StartupConfig};
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "bedrock-stream benchmarks and load test (loopback only, bounded in count and time)"
)]
struct Cli {
    /// The bedrock-stream binary under test [env: BEDROCK_STREAM_BIN; default:
    /// target/release/bedrock-stream].
    #[arg(long, global = true)]
    bin: Option<PathBuf>,
    /// RUST_LOG for serve (its default, info, logs one line per request).
    #[arg(long, global = true, default_value = "info")]
    serve_log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// N streams through serve at a concurrency, faults injected, every byte checked; exits
    /// non-zero if any stream is lost or corrupted.
    Load(LoadArgs),
    /// First byte added by serve vs calling the endpoint directly, and per-chunk forwarding delay.
    Latency(LatencyArgs),
    /// serve's ready time and its peak RSS at 1, 100 and 1,000 concurrent streams.
    Startup(StartupArgs),
    /// serve vs the LiteLLM proxy in front of the same local endpoint: streams/s, chunks/s, added
    /// first content, startup, memory, CPU per stream; prints the report section.
    Gateways(GatewaysArgs),
    /// Lambda cold start and memory: bedrock-stream-lambda vs the seed's Node.js handler vs a
    /// Python boto3 handler, through a Runtime API emulator.
    Coldstart(ColdstartArgs),
    /// Everything, then writes BENCHMARKS.md and the TTFB plot.
    All(AllArgs),
    /// Writes BENCHMARKS.md and the plot again from the results `all` saved (for instance after
    /// editing crates/bench/ANALYSIS.md), without running anything.
    Render(OutArgs),
    /// The embedded model beside llama.cpp (same GGUF, prompt and threads, alternating rounds):
    /// decode tok/s and time to first token; prints the report section.
    Model(ModelArgs),
}

#[derive(Debug, Args)]
struct LoadArgs {
    #[arg(long, default_value_t = 20000)]
    streams: usize,
    #[arg(long, default_value_t = 1000)]
    concurrency: usize,
    /// Inject a fault (throttle, midstream, internal in turn) before every K-th stream; 0: none.
    #[arg(long, default_value_t = 50)]
    faults_every: usize,
    /// Chunks per stream (one token each).
    #[arg(long, default_value_t = 20)]
    chunks: u32,
    /// The engine's pause between chunks.
    #[arg(long, default_value_t = 5)]
    chunk_delay_ms: u64,
    /// Limit for one stream, seconds.
    #[arg(long, default_value_t = 60)]
    stream_timeout: u64,
    /// Limit for the whole run, seconds: no stream starts after it.
    #[arg(long, default_value_t = 600)]
    time_budget: u64,
}

#[derive(Debug, Args)]
struct LatencyArgs {
    /// Sequential requests each way for the first-byte comparison.
    #[arg(long, default_value_t = 500)]
    n: usize,
    /// Streams each way for the per-chunk comparison.
    #[arg(long, default_value_t = 20)]
    chunk_streams: usize,
    #[arg(long, default_value_t = 20)]
    chunk_delay_ms: u64,
}

#[derive(Debug, Args)]
struct StartupArgs {
    /// Fresh serve processes to time.
    #[arg(long, default_value_t = 20)]
    repeats: usize,
    /// Concurrency levels for the memory measurement.
    #[arg(long, value_delimiter = ',', default_value = "1,100,1000")]
    levels: Vec<usize>,
}

#[derive(Debug, Args)]
struct ColdstartArgs {
    /// Fresh processes per runtime.
    #[arg(long, default_value_t = 15)]
    starts: usize,
    /// Warm invocations per process after the cold one.
    #[arg(long, default_value_t = 20)]
    warm: usize,
}

#[derive(Debug, Args)]
struct GatewaysArgs {
    /// CI size: a few dozen streams per gateway.
    #[arg(long)]
    quick: bool,
    /// serve only.
    #[arg(long)]
    no_litellm: bool,
    /// Fresh processes (one throughput run each) per gateway.
    #[arg(long)]
    runs: Option<usize>,
    /// Streams in flight during the throughput runs.
    #[arg(long)]
    concurrency: Option<usize>,
    /// Also save the raw results here (JSON).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also write the report section here (Markdown).
    #[arg(long)]
    md: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct AllArgs {
    /// CI size: checks that it runs and nothing is lost, in well under a minute.
    #[arg(long, conflicts_with = "full")]
    quick: bool,
    /// The full run (the default).
    #[arg(long)]
    full: bool,
    #[command(flatten)]
    out: OutArgs,
    /// A note on how the binary was built, shown in the report.
    #[arg(long)]
    build_note: Option<String>,
    /// Skip timing a cold `sam build` (it takes about a quarter of an hour on 2 cores); the
    /// quick run always skips it.
    #[arg(long)]
    skip_sam_build: bool,
}

#[derive(Debug, Args)]
struct ModelArgs {
    /// CI size: one short round at 2 threads, the model only if already cached.
    #[arg(long)]
    quick: bool,
    /// Tokens per measured run.
    #[arg(long)]
    tokens: Option<u32>,
    /// Rounds per thread count.
    #[arg(long)]
    rounds: Option<usize>,
    /// Measured runs per engine per round.
    #[arg(long)]
    runs: Option<usize>,
    /// Thread counts, e.g. 2,1.
    #[arg(long, value_delimiter = ',')]
    threads: Option<Vec<usize>>,
    /// Our engine only.
    #[arg(long)]
    no_llama_cpp: bool,
    /// Also save the raw results here (JSON).
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
struct OutArgs {
    /// Where to write the report [default: BENCHMARKS.md in the workspace].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where to write the TTFB plot [default: crates/bench/results/ttfb.svg for the default
    /// report, else next to the report].
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Where the raw results go (and `render` reads them from) [default:
    /// crates/bench/results/last-run.json for the default report, else next to the report].
    #[arg(long)]
    json: Option<PathBuf>,
}

fn all_config(
    size: Size,
    bin: PathBuf,
    o: &OutArgs,
    build_note: Option<String>,
    serve: ServeOptions,
    sam_build: bool,
) -> AllConfig {
    let root = procs::workspace_root();
    let default_out = o.out.is_none();
    let out = o.out.clone().unwrap_or_else(|| root.join("BENCHMARKS.md"));
    let beside = |default: &str, ext: &str| {
        if default_out {
            root.join("crates/bench/results").join(default)
        } else {
            out.with_extension(ext)
        }
    };
    AllConfig {
        size,
        bin,
        svg: o
            .svg
            .clone()
            .unwrap_or_else(|| beside("ttfb.svg", "ttfb.svg")),
        json: o
            .json
            .clone()
            .unwrap_or_else(|| beside("last-run.json", "json")),
        out,
        analysis: Some(root.join("crates/bench/ANALYSIS.md")),
        build_note,
        serve,
        sam_build,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run_cli(cli).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run_cli(cli: Cli) -> anyhow::Result<bool> {
    if let Command::Render(o) = &cli.command {
        let cfg = all_config(
            Size::Full,
            PathBuf::new(),
            o,
            None,
            ServeOptions::default(),
            false,
        );
        let res = report::load_results(&cfg.json)?;
        let cfg = AllConfig {
            size: res.size,
            ..cfg
        };
        report::render(&cfg, &res)?;
        println!(
            "wrote {} and {} from {}",
            cfg.out.display(),
            cfg.svg.display(),
            cfg.json.display()
        );
        return Ok(true);
    }
    if let Command::Model(a) = &cli.command {
        return run_model(a).await;
    }
    let before = procs::nofile_limit();
    let after = procs::raise_nofile_limit();
    eprintln!("open files: soft limit {before} → {after} (children inherit it)");
    let bin = procs::resolve_bin(cli.bin)?;
    let serve = ServeOptions {
        rust_log: cli.serve_log,
        ..Default::default()
    };
    match cli.command {
        Command::Load(a) => {
            let need = a.concurrency as u64 * 2 + 256;
            if after < need {
                eprintln!("warning: open-file limit {after} is below the ~{need} this run needs");
            }
            let cfg = ProcLoadConfig {
                load: LoadConfig {
                    url: String::new(),
                    streams: a.streams,
                    concurrency: a.concurrency,
                    faults_every: a.faults_every,
                    words: a.chunks,
                    chunk_tokens: 1,
                    stream_timeout: Duration::from_secs(a.stream_timeout),
                    time_budget: Duration::from_secs(a.time_budget),
                    variant: 0,
                },
                chunk_delay_ms: a.chunk_delay_ms,
                serve,
            };
            let r = run::run(&bin, &cfg).await?;
            println!("{}", r.summary());
            let ok = r.load.passed();
            println!(
                "{}",
                if ok {
                    "PASS: 0 lost, 0 corrupted"
                } else {
                    "FAIL: streams were lost or corrupted"
                }
            );
            Ok(ok)
        }
        Command::Latency(a) => {
            let cfg = LatencyConfig {
                n: a.n,
                chunk_streams: a.chunk_streams,
                chunk_delay_ms: a.chunk_delay_ms,
                serve,
                ..Default::default()
            };
            let r = latency::run(&bin, &cfg).await?;
            println!("{}", r.summary());
            Ok(r.mismatches == 0)
        }
        Command::Startup(a) => {
            let cfg = StartupConfig {
                repeats: a.repeats,
                levels: a.levels,
                serve,
                ..Default::default()
            };
            let r = startup::run(&bin, &cfg).await?;
            println!("{}", r.summary());
            Ok(r.memory.iter().all(|m| m.load.passed()))
        }
        Command::Coldstart(a) => {
            let cfg = bench::coldstart::ColdStartConfig {
                starts: a.starts,
                warm: a.warm,
                ..bench::coldstart::ColdStartConfig::for_size(Size::Full)
            };
            let r = bench::coldstart::run(&bin, &cfg).await?;
            println!("{}", r.summary());
            Ok(r.bad_answers() == 0)
        }
        Command::Gateways(a) => {
            use bench::gateways::{self, GatewaysConfig};
            let base = GatewaysConfig::for_size(if a.quick { Size::Quick } else { Size::Full });
            let cfg = GatewaysConfig {
                runs: a.runs.unwrap_or(base.runs),
                concurrency: a.concurrency.unwrap_or(base.concurrency),
                with_litellm: !a.no_litellm,
                serve,
                ..base
            };
            let r = gateways::run(&bin, &cfg).await?;
            eprintln!("{}", r.summary());
            let mut md = gateways::markdown(&r);
            md.push_str("| goal | measured | | conditions |\n| --- | --- | --- | --- |\n");
            for g in gateways::goals(&r) {
                md.push_str(&format!("| {} |\n", g.join(" | ")));
            }
            if let Some(path) = &a.json {
                std::fs::write(path, gateways::to_json(&r)?)?;
            }
            if let Some(path) = &a.md {
                std::fs::write(path, &md)?;
            }
            println!("{md}");
            Ok(r.serve_passed())
        }
        Command::Render(_) => Ok(true),
        Command::Model(_) => Ok(true),
        Command::All(a) => {
            let size = if a.quick { Size::Quick } else { Size::Full };
            let sam_build = !a.quick && !a.skip_sam_build;
            let cfg = all_config(size, bin, &a.out, a.build_note, serve, sam_build);
            let res = report::all(&cfg).await?;
            println!(
                "wrote {} and {} in {:.0} s",
                cfg.out.display(),
                cfg.svg.display(),
                res.seconds
            );
            if !res.passed() {
                println!(
                    "FAIL: {} streams lost, corrupted or not run",
                    res.lost_or_corrupted()
                );
            }
            Ok(res.passed())
        }
    }
}

async fn run_model(a: &ModelArgs) -> anyhow::Result<bool> {
    let base = ModelConfig::for_size(if a.quick { Size::Quick } else { Size::Full });
    let cfg = ModelConfig {
        tokens: a.tokens.unwrap_or(base.tokens),
        rounds: a.rounds.unwrap_or(base.rounds),
        runs: a.runs.unwrap_or(base.runs),
        threads: a.threads.clone().unwrap_or(base.threads.clone()),
        llama_cpp: base.llama_cpp && !a.no_llama_cpp,
        // Explicit rounds are run in full.
        time_budget: if a.rounds.is_some() {
            std::time::Duration::from_secs(3600)
        } else {
            base.time_budget
        },
        ..base
    };
    let r = bench::model::run(&cfg).await?;
    if let Some(path) = &a.json {
        std::fs::write(path, serde_json::to_vec_pretty(&r)?)?;
    }
    println!("{}", bench::model::markdown(&r));
    println!("| goal | measured | | conditions |\n| --- | --- | --- | --- |");
    for g in bench::model::goals(&r) {
        println!("| {} |", g.join(" | "));
    }
    eprintln!("{}", r.summary_lines());
    Ok(true)
}
