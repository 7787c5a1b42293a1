//! Binary sizes (x86_64 release builds, the arm64 Lambda `bootstrap`) and the time `sam build`
//! takes to make that bootstrap from the template, as a user would run it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::procs;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Binary {
    pub name: String,
    pub arch: String,
    pub path: String,
    pub bytes: u64,
    /// `gzip -6` of the file: about what Lambda stores for the deployment zip (deflate).
    pub gzip_bytes: Option<u64>,
    /// What `file` says (architecture, linking, stripped).
    pub file: String,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct SizesReport {
    pub binaries: Vec<Binary>,
    /// `sam build` wall time, seconds, when it ran.
    pub sam_build_secs: Option<f64>,
    /// The SAM CLI and cargo-lambda versions used, or why sam build did not run.
    pub sam_note: String,
}

fn gzip_size(path: &Path) -> Option<u64> {
    let out = std::process::Command::new("gzip")
        .args(["-6", "-c"])
        .stdin(std::fs::File::open(path).ok()?)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout.len() as u64)
}

fn describe(path: &Path) -> String {
    std::process::Command::new("file")
        .arg("-b")
        .arg(path)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn binary(name: &str, arch: &str, path: &Path) -> Option<Binary> {
    let bytes = std::fs::metadata(path).ok()?.len();
    Some(Binary {
        name: name.into(),
        arch: arch.into(),
        path: path
            .strip_prefix(procs::workspace_root())
            .unwrap_or(path)
            .display()
            .to_string(),
        bytes,
        gzip_bytes: gzip_size(path),
        file: describe(path),
    })
}

fn sam_cli() -> Option<PathBuf> {
    let venv = procs::workspace_root().join(".venv-sam/bin/sam");
    if venv.is_file() {
        return Some(venv);
    }
    std::process::Command::new("sam")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| PathBuf::from("sam"))
}

fn version(program: &Path, arg: &str) -> String {
    std::process::Command::new(program)
        .arg(arg)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// `cargo lambda --version`'s version number, or `?`.
fn cargo_lambda_version() -> String {
    std::process::Command::new("cargo")
        .args(["lambda", "--version"])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .nth(1)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "?".into())
}

/// PATH with `.venv-sam/bin` first (where scripts/lint-template.sh installs the SAM CLI).
fn path_with_sam_venv(root: &Path) -> std::ffi::OsString {
    let mut dirs = vec![root.join(".venv-sam/bin")];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

/// Sizes of the x86_64 binaries next to `bin`, and — when `sam_build` — a `sam build` of the
/// template into `target/bench-sam` (SAM builds the Rust function from scratch with
/// cargo-lambda; bounded by `limit`), with the arm64 bootstrap it made.
pub async fn run(bin: &Path, sam_build: bool, limit: Duration) -> anyhow::Result<SizesReport> {
    let mut report = SizesReport::default();
    for name in ["bedrock-stream", "bedrock-stream-lambda"] {
        if let Some(b) = binary(name, "x86_64", &bin.with_file_name(name)) {
            report.binaries.push(b);
        }
    }
    let root = procs::workspace_root();
    let build_dir = root.join("target/bench-sam/build");
    let bootstrap = build_dir.join("BedrockStreamFunction/bootstrap");
    if !sam_build {
        report.sam_note = "not run (`--skip-sam-build`)".into();
    } else if let Some(sam) = sam_cli() {
        let _ = std::fs::remove_dir_all(root.join("target/bench-sam"));
        let log = root.join("target/bench-sam.log");
        let file = std::fs::File::create(&log).context("creating the sam build log")?;
        eprintln!(
            "sam build (cold; several minutes on 2 cores), log in {}",
            log.display()
        );
        let t0 = Instant::now();
        let mut child = tokio::process::Command::new(&sam)
            .args(["build", "--region", "us-east-1", "--build-dir"])
            .arg(&build_dir)
            .arg("--cache-dir")
            .arg(root.join("target/bench-sam/cache"))
            .current_dir(&root)
            .env("SAM_CLI_TELEMETRY", "0")
            // A target directory of its own, emptied above: a cold build, as on a fresh clone.
            .env("CARGO_TARGET_DIR", root.join("target/bench-sam/cargo"))
            .env("PATH", path_with_sam_venv(&root))
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", sam.display()))?;
        let status = tokio::time::timeout(limit, child.wait()).await;
        let secs = t0.elapsed().as_secs_f64();
        let what = format!(
            "{}, cargo-lambda {}",
            version(&sam, "--version"),
            cargo_lambda_version()
        );
        match status {
            Ok(Ok(s)) if s.success() && bootstrap.is_file() => {
                report.sam_build_secs = Some(secs);
                report.sam_note = what;
            }
            Ok(Ok(s)) => report.sam_note = format!("sam build failed ({s}); see {}", log.display()),
            Ok(Err(e)) => report.sam_note = format!("sam build did not run: {e}"),
            Err(_) => {
                let _ = child.start_kill();
                report.sam_note = format!("sam build did not finish within {limit:?}");
            }
        }
    } else {
        report.sam_note = "not run: the SAM CLI is not installed (scripts/lint-template.sh installs it into .venv-sam)".into();
    }
    if let Some(b) = binary("bootstrap (bedrock-stream-lambda)", "arm64", &bootstrap) {
        report.binaries.push(b);
    }
    Ok(report)
}

/// The `## Size and build` section.
pub fn markdown(r: &SizesReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "## Size and build\n");
    let _ = writeln!(
        s,
        "Release profile: `lto = true`, `codegen-units = 1`, `strip = true`, `panic = \"abort\"`. \
         The arm64 `bootstrap` is what `sam build` makes from `template.yaml` (cargo-lambda, Zig as \
         the cross linker); gzip size is about what Lambda stores of the deployment zip.\n"
    );
    let _ = writeln!(s, "| binary | arch | size | gzip -6 | `file` |");
    let _ = writeln!(s, "| --- | --- | --- | --- | --- |");
    for b in &r.binaries {
        let _ = writeln!(
            s,
            "| `{}` | {} | {:.1} MiB | {} | {} |",
            b.name,
            b.arch,
            b.bytes as f64 / 1048576.0,
            b.gzip_bytes
                .map(|g| format!("{:.1} MiB", g as f64 / 1048576.0))
                .unwrap_or_else(|| "?".into()),
            b.file.split(", BuildID").next().unwrap_or_default()
        );
    }
    match r.sam_build_secs {
        Some(secs) => {
            let _ = writeln!(
                s,
                "\n`sam build` from an empty build and cache directory: **{:.0} s** ({:.1} min) on this \
                 machine ({}). Nearly all of it is compiling the ~200 dependency crates for aarch64 and \
                 the fat-LTO link; SAM starts from scratch on every `sam build` without `--cached`.\n",
                secs,
                secs / 60.0,
                r.sam_note
            );
        }
        None => {
            let _ = writeln!(s, "\n`sam build`: {}.\n", r.sam_note);
        }
    }
    s
}
