//! Binary sizes (x86_64 release builds, the arm64 Lambda `bootstrap`) and the time `sam build`
//! takes to make that bootstrap from the template, as a user would run it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::harness::{output, repo_path, workspace_root};

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

/// Deflate at level 6, as `gzip -6` and a deployment zip would compress the file.
fn gzip_size(path: &Path) -> Option<u64> {
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(&std::fs::read(path).ok()?).ok()?;
    Some(gz.finish().ok()?.len() as u64)
}

fn binary(name: &str, arch: &str, path: &Path) -> Option<Binary> {
    let bytes = std::fs::metadata(path).ok()?.len();
    Some(Binary {
        name: name.into(),
        arch: arch.into(),
        path: repo_path(path),
        bytes,
        gzip_bytes: gzip_size(path),
        file: output("file", &["-b", &path.to_string_lossy()]).unwrap_or_default(),
    })
}

fn sam_cli() -> Option<PathBuf> {
    let venv = workspace_root().join(".venv-sam/bin/sam");
    if venv.is_file() {
        return Some(venv);
    }
    output("sam", &["--version"]).map(|_| PathBuf::from("sam"))
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
    let root = workspace_root();
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
            repo_path(&log)
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
        let cargo_lambda = output("cargo", &["lambda", "--version"]);
        let what = format!(
            "{}, cargo-lambda {}",
            output(&sam, &["--version"]).unwrap_or_default(),
            cargo_lambda
                .as_deref()
                .and_then(|v| v.split_whitespace().nth(1))
                .unwrap_or("?")
        );
        match status {
            Ok(Ok(s)) if s.success() && bootstrap.is_file() => {
                report.sam_build_secs = Some(secs);
                report.sam_note = what;
            }
            Ok(Ok(s)) => {
                report.sam_note = format!("sam build failed ({s}); see {}", repo_path(&log))
            }
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
