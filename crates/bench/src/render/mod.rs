//! The renderer: scenario reports in, `BENCHMARKS.md` and its SVG plots out. Pure formatting
//! of results already measured (`bench render` runs it on saved results).

pub mod coldstart;
pub mod gateways;
pub mod md;
pub mod model;
pub mod plot;
pub mod serve;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::scenario::all::AllResults;
use crate::scenario::coldstart::Runtime;
use crate::scenario::sizes::SizesReport;
use crate::scenario::Size;
use md::{met, Md};

/// Where the report and its plots go.
#[derive(Debug, Clone)]
pub struct Paths {
    pub out: PathBuf,
    /// The TTFB plot; the other plots go beside it.
    pub svg: PathBuf,
    /// Hand-written analysis included verbatim, if it exists.
    pub analysis: Option<PathBuf>,
}

impl Paths {
    pub fn plot(&self, name: &str) -> PathBuf {
        self.svg.with_file_name(name)
    }

    /// The Markdown image of the plot at `path`, linked relative to the report.
    fn image(&self, alt: &str, path: &Path) -> String {
        let dir = self.out.parent().unwrap_or(Path::new("."));
        format!("![{alt}]({})", md::link(dir, path))
    }
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Writes the report and its plots for `res`.
pub fn render(paths: &Paths, res: &AllResults) -> anyhow::Result<()> {
    write(&paths.svg, &serve::ttfb_plot(&res.serve)?)?;
    if let Some(svg) = model::plot(&res.model)? {
        write(&paths.plot("model.svg"), &svg)?;
    }
    write(&paths.plot("gateways.svg"), &gateways::plot(&res.gateways)?)?;
    write(
        &paths.plot("coldstart.svg"),
        &coldstart::plot(&res.coldstart)?,
    )?;
    write(&paths.out, &markdown(paths, res))
}

/// The whole report.
pub fn markdown(paths: &Paths, res: &AllResults) -> String {
    let (m, quick) = (&res.machine, res.size == Size::Quick);
    let mut s = Md::default();
    s.p("# Benchmarks").p(format!(
        "Written by `scripts/bench` (`cargo run --release -p bench -- all {}`, the `bench` crate): every number below comes \
         from that one run, on loopback only, against the project's own local Bedrock endpoint (scripted engine), with the \
         real `bedrock-stream serve` and `bedrock-stream-lambda` binaries and their peers measured side by side. How each is \
         measured: [docs/benchmarks.md](docs/benchmarks.md#how-each-number-is-measured). Do not edit by hand; rerun the command.",
        if quick { "--quick" } else { "--full" }
    ));
    if quick {
        s.p("> **Quick run** (CI size): it checks that the benchmark runs and that nothing is lost; its timings are not the project's numbers.");
    }
    let note = m
        .build_note
        .as_ref()
        .map(|n| format!(", {n}"))
        .unwrap_or_default();
    s.h2("Machine").table(
        &["", ""],
        [
            row!["date", m.date],
            row!["commit", m.commit],
            row!["CPU", format!("{} × {}", m.nproc, m.cpu)],
            row!["memory", m.mem],
            row!["kernel", m.kernel],
            row!["toolchain", m.rustc],
            row!["binary", format!("`{}` ({}){note}", m.bin, m.bin_size)],
            row![
                "load average (1, 5, 15 min)",
                format!(
                    "{} before, {} after; the client, `serve` and the endpoint share these cores",
                    m.load_before, res.load_after
                )
            ],
            row!["run time", format!("{:.0} s", res.seconds)],
        ],
    );
    let mut goals = serve::goals(&res.serve, quick, m.nproc);
    goals.extend(gateways::goals(&res.gateways));
    goals.extend(coldstart::goals(&res.coldstart));
    goals.extend(model::goals(&res.model));
    s.h2("Goals")
        .p("Goals from issues 7 and 8. Where one is not met, the cause is in [Analysis](#analysis).")
        .table(&["goal", "measured", "", "conditions"], goals);
    serve::throughput(&mut s, &res.serve, m.nproc);
    let ttfb = paths.image("time to first byte, cumulative", &paths.svg);
    serve::latency(&mut s, &res.serve, m.nproc, &ttfb);
    serve::startup(&mut s, &res.serve);
    s.p(coldstart::markdown(&res.coldstart))
        .p(paths.image("cold start and memory", &paths.plot("coldstart.svg")));
    s.p(gateways::markdown(&res.gateways))
        .p(paths.image("serve vs LiteLLM", &paths.plot("gateways.svg")));
    s.p(model::markdown(&res.model));
    if model::summaries(&res.model).next().is_some() {
        s.p(paths.image("embedded model vs llama.cpp", &paths.plot("model.svg")));
    }
    sizes(&mut s, &res.sizes);
    let analysis = paths
        .analysis
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok());
    s.p(analysis_section(analysis.as_deref()));
    let ran = |rt| res.coldstart.get(rt).is_some();
    let missing = [
        (
            ran(Runtime::Node) && ran(Runtime::Python),
            "**Cold start** of the Node.js and Python peers (see the skipped rows above; `crates/bench/peers/setup.sh` installs them).",
        ),
        (
            ran(Runtime::Rust),
            "**Cold start and memory of the Lambda binary** (`cargo build --release -p bedrock-stream-lambda`).",
        ),
        (
            res.sizes.sam_build_secs.is_some(),
            "**`sam build` time and the arm64 binary** (run without `--skip-sam-build`, with the SAM CLI and cargo-lambda installed).",
        ),
    ];
    let missing: Vec<String> = missing
        .iter()
        .filter(|(present, _)| !present)
        .map(|(_, l)| l.to_string())
        .collect();
    if !missing.is_empty() {
        s.h2("Not measured in this run").list(missing);
    }
    s.h2("Reproduce").p(REPRODUCE);
    s.0.trim_end().to_string() + "\n"
}

const REPRODUCE: &str = "```sh
scripts/bench                     # peers, release build, everything; writes BENCHMARKS.md and crates/bench/results/*.svg
scripts/bench --skip-sam-build    # the same without timing a cold `sam build`
crates/bench/peers/setup.sh       # only the peers, into target/bench-peers
cargo build --release -p bedrock-stream -p bedrock-stream-lambda   # the binaries under test
cargo run --release -p bench -- serve       # serve alone: throughput with faults, added latency, start and memory
cargo run --release -p bench -- coldstart   # Lambda cold start: Rust vs Node.js vs Python
cargo run --release -p bench -- gateways    # serve vs the LiteLLM proxy
cargo run --release -p bench -- model       # embedded model vs llama.cpp
cargo run --release -p bench -- load --streams 20000 --concurrency 1000 --faults-every 50
cargo run --release -p bench -- render      # BENCHMARKS.md again from the saved results (after editing crates/bench/ANALYSIS.md)
```

Each scenario takes `--quick` (the CI size). `--bin PATH` (or `BEDROCK_STREAM_BIN`) picks another `bedrock-stream` binary. \
`bench load` exits non-zero when any stream is lost or corrupted; `cargo test -p bench` runs a small in-process version \
(300 streams, 100 concurrent, faults mixed in).";

/// The report's analysis section: the hand-written text, included as is.
pub fn analysis_section(text: Option<&str>) -> String {
    match text {
        Some(text) => format!(
            "## Analysis\n\nWritten by hand from profiles of this code (`crates/bench/ANALYSIS.md`, included here as is).\n\n{}",
            text.trim_end()
        ),
        None => "## Analysis\n\nNo analysis written yet.".into(),
    }
}

/// The `## Size and build` section.
pub fn sizes(s: &mut Md, r: &SizesReport) {
    let gz = |g: Option<u64>| g.map_or("?".into(), |g| format!("{:.1} MiB", g as f64 / 1048576.0));
    let rows = r.binaries.iter().map(|b| {
        let file = b.file.split(", BuildID").next().unwrap_or_default();
        row![
            format!("`{}`", b.name),
            b.arch,
            format!("{:.1} MiB", b.bytes as f64 / 1048576.0),
            gz(b.gzip_bytes),
            file
        ]
    });
    s.h2("Size and build")
        .p("Release profile: `lto`, `codegen-units = 1`, `strip`, `panic = \"abort\"`; the arm64 `bootstrap` is what `sam build` makes from `template.yaml`.")
        .table(&["binary", "arch", "size", "gzip -6", "`file`"], rows);
    s.p(match r.sam_build_secs {
        Some(secs) => format!(
            "`sam build` from an empty build and cache directory: **{secs:.0} s** ({:.1} min) on this machine ({}). Nearly \
             all of it is compiling the ~200 dependency crates for aarch64 and the fat-LTO link; SAM starts from scratch on \
             every `sam build` without `--cached`.",
            secs / 60.0,
            r.sam_note
        ),
        None => format!("`sam build`: {}.", r.sam_note),
    });
}

/// "n/a (quick run)" in a quick run, else met / not met.
pub fn verdict(size: Size, ok: bool) -> String {
    match size {
        Size::Quick => "n/a (quick run)".into(),
        Size::Full => met(ok).into(),
    }
}
