//! `bench`: the command line. Each subcommand runs scenarios (`bench::scenario`) and prints
//! or writes what the renderer (`bench::render`) makes of their results.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bench::harness::bedrock_stream::{resolve_bin, ServeOptions};
use bench::harness::{system, workspace_root};
use bench::render::{self, md::Md, Paths};
use bench::scenario::all::{self, AllConfig};
use bench::scenario::coldstart::{self, ColdStartConfig};
use bench::scenario::gateways::{self, GatewaysConfig};
use bench::scenario::load::LoadConfig;
use bench::scenario::model::{self, ModelConfig};
use bench::scenario::serve::{self, ServeConfig, ServeReport};
use bench::scenario::Size;
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
    /// N seed-contract streams through serve at a concurrency, faults injected, every byte
    /// checked; exits non-zero if any stream is lost or corrupted.
    Load(LoadArgs),
    /// serve alone: throughput with faults, added first byte and per-chunk delay, start and memory.
    Serve(SizeArgs),
    /// serve vs the LiteLLM proxy in front of the same local endpoint.
    Gateways(SizeArgs),
    /// Lambda cold start and memory: bedrock-stream-lambda vs the seed's Node.js handler vs a
    /// Python boto3 handler, through a Runtime API emulator.
    Coldstart(SizeArgs),
    /// The embedded model beside llama.cpp (same GGUF, prompt and threads, alternating rounds).
    Model(SizeArgs),
    /// Everything, then writes BENCHMARKS.md and the plots.
    All(AllArgs),
    /// Writes BENCHMARKS.md and the plots again from the results `all` saved (for instance after
    /// editing crates/bench/ANALYSIS.md), without running anything.
    Render(OutArgs),
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
    /// Runs, each with fresh processes.
    #[arg(long, default_value_t = 1)]
    runs: usize,
}

#[derive(Debug, Args)]
struct SizeArgs {
    /// CI size: checks that it runs and nothing is lost; timings not judged.
    #[arg(long)]
    quick: bool,
    /// Gateways: serve only.
    #[arg(long)]
    no_litellm: bool,
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
    md.table(&["goal", "measured", "", "conditions"], goals);
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
    if let Command::Render(o) = &cli.command {
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
    if let Command::Model(a) = &cli.command {
        let r = model::run(&ModelConfig::for_size(size(a.quick))).await?;
        print(render::model::markdown(&r), render::model::goals(&r));
        return Ok(true);
    }
    let (before, after) = system::raise_nofile_limit();
    eprintln!("open files: soft limit {before} → {after} (children inherit it)");
    let bin = resolve_bin(cli.bin)?;
    let serve = ServeOptions {
        rust_log: cli.serve_log,
        ..Default::default()
    };
    let nproc = system::nproc();
    let mut md = Md::default();
    match cli.command {
        Command::Load(a) => {
            let base = ServeConfig::for_size(Size::Full, &serve);
            let load = LoadConfig {
                streams: a.streams,
                concurrency: a.concurrency,
                faults_every: a.faults_every,
                words: a.chunks,
                time_budget: Duration::from_secs(600),
                ..base.load
            };
            let cfg = ServeConfig {
                load,
                load_runs: a.runs,
                load_delay_ms: a.chunk_delay_ms,
                ..base
            };
            let report = ServeReport {
                loads: serve::throughput(&bin, &cfg).await?,
                ..ServeReport::empty(cfg)
            };
            render::serve::throughput(&mut md, &report, nproc);
            let ok = report.failures() == 0;
            println!(
                "{}\n{}",
                md.0,
                if ok {
                    "PASS: 0 lost, 0 corrupted"
                } else {
                    "FAIL: streams were lost or corrupted"
                }
            );
            Ok(ok)
        }
        Command::Serve(a) => {
            let r = serve::run(&bin, &ServeConfig::for_size(size(a.quick), &serve)).await?;
            render::serve::throughput(&mut md, &r, nproc);
            render::serve::latency(&mut md, &r, nproc, "");
            render::serve::startup(&mut md, &r);
            print(md.0, render::serve::goals(&r, a.quick, nproc));
            Ok(r.failures() == 0)
        }
        Command::Coldstart(a) => {
            let r = coldstart::run(&bin, &ColdStartConfig::for_size(size(a.quick))).await?;
            print(
                render::coldstart::markdown(&r),
                render::coldstart::goals(&r),
            );
            Ok(r.bad_answers() == 0)
        }
        Command::Gateways(a) => {
            let cfg = GatewaysConfig {
                with_litellm: !a.no_litellm,
                serve,
                ..GatewaysConfig::for_size(size(a.quick))
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
                println!("FAIL: streams lost, corrupted or wrong, or our own parts did not run");
            }
            Ok(res.passed())
        }
        Command::Render(_) | Command::Model(_) => Ok(true),
    }
}
