//! `bench`: load, latency, startup, all. See `crates/bench/src/lib.rs` and BENCHMARKS.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bench::latency::{self, LatencyConfig};
use bench::load::LoadConfig;
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
    /// Everything, then writes BENCHMARKS.md and the TTFB plot.
    All(AllArgs),
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
struct AllArgs {
    /// CI size: checks that it runs and nothing is lost, in well under a minute.
    #[arg(long, conflicts_with = "full")]
    quick: bool,
    /// The full run (the default).
    #[arg(long)]
    full: bool,
    /// Where to write the report [default: BENCHMARKS.md in the workspace].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where to write the TTFB plot [default: crates/bench/results/ttfb.svg for the default
    /// report, else next to the report].
    #[arg(long)]
    svg: Option<PathBuf>,
    /// A note on how the binary was built, shown in the report.
    #[arg(long)]
    build_note: Option<String>,
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
        Command::All(a) => {
            let size = if a.quick { Size::Quick } else { Size::Full };
            let root = procs::workspace_root();
            let default_out = a.out.is_none();
            let out = a.out.unwrap_or_else(|| root.join("BENCHMARKS.md"));
            let svg = a.svg.unwrap_or_else(|| {
                if default_out {
                    root.join("crates/bench/results/ttfb.svg")
                } else {
                    out.with_extension("ttfb.svg")
                }
            });
            let cfg = AllConfig {
                size,
                bin,
                out,
                svg,
                analysis: Some(root.join("crates/bench/ANALYSIS.md")),
                build_note: a.build_note,
                serve,
            };
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
