//! `bench`: the command line. Each subcommand runs scenarios (`bench::scenario`) and prints
//! or writes what the renderer (`bench::render`) makes of their results.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bench::harness::bedrock_stream::{resolve_bin, ServeOptions};
use bench::harness::{system, workspace_root};
use bench::render::{self, md::Md, Paths};
use bench::scenario::all::{self, AllConfig};
use bench::scenario::coldstart::ColdStartConfig;
use bench::scenario::gateways::GatewaysConfig;
use bench::scenario::latency::LatencyConfig;
use bench::scenario::load::LoadConfig;
use bench::scenario::model::ModelConfig;
use bench::scenario::startup::StartupConfig;
use bench::scenario::throughput::ThroughputConfig;
use bench::scenario::{coldstart, gateways, latency, model, startup, throughput, Size};
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
    /// Everything, then writes BENCHMARKS.md and the plots.
    All(AllArgs),
    /// Writes BENCHMARKS.md and the plots again from the results `all` saved (for instance after
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
    /// Thread counts, e.g. 2,1.
    #[arg(long, value_delimiter = ',')]
    threads: Option<Vec<usize>>,
}

#[derive(Debug, Clone, Args)]
struct OutArgs {
    /// Where to write the report [default: BENCHMARKS.md in the workspace].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where to write the TTFB plot (the other plots go beside it) [default:
    /// crates/bench/results/ttfb.svg for the default report, else next to the report].
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Where the raw results go (and `render` reads them from) [default:
    /// crates/bench/results/last-run.json for the default report, else next to the report].
    #[arg(long)]
    json: Option<PathBuf>,
}

impl OutArgs {
    /// The report's paths and where its results are saved.
    fn paths(&self) -> (Paths, PathBuf) {
        let root = workspace_root();
        let out = self
            .out
            .clone()
            .unwrap_or_else(|| root.join("BENCHMARKS.md"));
        let beside = |default: &str, ext: &str| match self.out {
            None => root.join("crates/bench/results").join(default),
            Some(_) => out.with_extension(ext),
        };
        let svg = self
            .svg
            .clone()
            .unwrap_or_else(|| beside("ttfb.svg", "ttfb.svg"));
        let json = self
            .json
            .clone()
            .unwrap_or_else(|| beside("last-run.json", "json"));
        let analysis = Some(root.join("crates/bench/ANALYSIS.md"));
        (Paths { out, svg, analysis }, json)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// A section and its goal rows, printed.
fn print(section: String, goals: Vec<Vec<String>>) {
    let mut md = Md(section);
    if !goals.is_empty() {
        md.table(&["goal", "measured", "", "conditions"], goals);
    }
    println!("{}", md.0.trim_end());
}

fn size(quick: bool) -> Size {
    if quick {
        Size::Quick
    } else {
        Size::Full
    }
}

async fn run(cli: Cli) -> anyhow::Result<bool> {
    match &cli.command {
        Command::Render(o) => {
            let (paths, json) = o.paths();
            render::render(&paths, &all::load(&json)?)?;
            println!(
                "wrote {} and {} from {}",
                paths.out.display(),
                paths.svg.display(),
                json.display()
            );
            return Ok(true);
        }
        Command::Model(a) => return run_model(a).await,
        _ => {}
    }
    let (before, after) = system::raise_nofile_limit();
    eprintln!("open files: soft limit {before} → {after} (children inherit it)");
    let bin = resolve_bin(cli.bin)?;
    let serve = ServeOptions {
        rust_log: cli.serve_log,
        ..Default::default()
    };
    let mut md = Md::default();
    match cli.command {
        Command::Load(a) => {
            let need = a.concurrency as u64 * 2 + 256;
            if after < need {
                eprintln!("warning: open-file limit {after} is below the ~{need} this run needs");
            }
            let cfg = ThroughputConfig {
                load: LoadConfig {
                    streams: a.streams,
                    concurrency: a.concurrency,
                    faults_every: a.faults_every,
                    words: a.chunks,
                    time_budget: Duration::from_secs(600),
                    ..Default::default()
                },
                chunk_delay_ms: a.chunk_delay_ms,
                serve,
            };
            let r = throughput::run(&bin, &cfg).await?;
            let ok = r.load.passed();
            render::serve::throughput(&mut md, &[r], system::nproc());
            println!("{}", md.0);
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
                ..LatencyConfig::for_size(Size::Full, &serve)
            };
            let r = latency::run(&bin, &cfg).await?;
            render::serve::latency(&mut md, &r, system::nproc(), "");
            println!("{}", md.0.trim_end());
            Ok(r.mismatches == 0)
        }
        Command::Startup(a) => {
            let cfg = StartupConfig {
                repeats: a.repeats,
                levels: a.levels,
                ..StartupConfig::for_size(Size::Full, &serve)
            };
            let r = startup::run(&bin, &cfg).await?;
            render::serve::startup(&mut md, &r);
            println!("{}", md.0.trim_end());
            Ok(r.memory.iter().all(|m| m.load.passed()))
        }
        Command::Coldstart(a) => {
            let cfg = ColdStartConfig {
                starts: a.starts,
                warm: a.warm,
                ..ColdStartConfig::for_size(Size::Full)
            };
            let r = coldstart::run(&bin, &cfg).await?;
            print(
                render::coldstart::markdown(&r),
                render::coldstart::goals(&r),
            );
            Ok(r.bad_answers() == 0)
        }
        Command::Gateways(a) => {
            let base = GatewaysConfig::for_size(size(a.quick));
            let cfg = GatewaysConfig {
                runs: a.runs.unwrap_or(base.runs),
                concurrency: a.concurrency.unwrap_or(base.concurrency),
                with_litellm: !a.no_litellm,
                serve,
                ..base
            };
            let r = gateways::run(&bin, &cfg).await?;
            print(render::gateways::markdown(&r), render::gateways::goals(&r));
            Ok(r.serve_passed())
        }
        Command::All(a) => {
            let (paths, json) = a.out.paths();
            let cfg = AllConfig {
                size: size(a.quick),
                bin,
                build_note: a.build_note,
                serve,
                sam_build: !a.quick && !a.skip_sam_build,
            };
            let res = all::run(&cfg).await?;
            all::save(&res, &json)?;
            render::render(&paths, &res)?;
            println!(
                "wrote {}, {} and {} in {:.0} s",
                paths.out.display(),
                paths.svg.display(),
                json.display(),
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
        Command::Render(_) | Command::Model(_) => Ok(true),
    }
}

async fn run_model(a: &ModelArgs) -> anyhow::Result<bool> {
    let base = ModelConfig::for_size(size(a.quick));
    let cfg = ModelConfig {
        tokens: a.tokens.unwrap_or(base.tokens),
        rounds: a.rounds.unwrap_or(base.rounds),
        threads: a.threads.clone().unwrap_or(base.threads.clone()),
        // Explicit rounds are run in full.
        time_budget: if a.rounds.is_some() {
            Duration::from_secs(3600)
        } else {
            base.time_budget
        },
        ..base
    };
    let r = model::run(&cfg).await?;
    print(render::model::markdown(&r), render::model::goals(&r));
    Ok(true)
}
