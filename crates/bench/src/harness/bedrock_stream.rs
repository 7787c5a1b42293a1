//! This project's binaries under test: `bedrock-stream local-bedrock` (the scripted endpoint
//! every scenario talks to), `bedrock-stream serve`, and `bedrock-stream-lambda`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;

use super::{free_port, repo_path, spawn_ready, workspace_root, Launch, Proc};

/// `--bin`, else `BEDROCK_STREAM_BIN`, else `target/release/bedrock-stream` in the workspace.
pub fn resolve_bin(arg: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let bin = arg
        .or_else(|| std::env::var_os("BEDROCK_STREAM_BIN").map(PathBuf::from))
        .unwrap_or_else(|| workspace_root().join("target/release/bedrock-stream"));
    if !bin.is_file() {
        bail!(
            "{} not found: build it with `cargo build --release -p bedrock-stream`, or pass --bin / BEDROCK_STREAM_BIN",
            bin.display()
        );
    }
    Ok(bin)
}

/// `bedrock-stream local-bedrock --engine scripted` on a free port, one token per chunk and
/// `chunk_delay_ms` between chunks.
pub async fn local_bedrock(bin: &Path, chunk_delay_ms: u64) -> anyhow::Result<Proc> {
    let port = free_port()?;
    let (delay, listen) = (chunk_delay_ms.to_string(), format!("127.0.0.1:{port}"));
    let args = [
        "local-bedrock",
        "--engine",
        "scripted",
        "--chunk-delay-ms",
        &delay,
        "--chunk-tokens",
        "1",
        "--listen",
        &listen,
    ];
    let launch = Launch::new(bin, &args).env("RUST_LOG", "warn");
    spawn_ready(
        &launch,
        "local-bedrock",
        port,
        "/_emulator/stats",
        Duration::from_secs(20),
    )
    .await
}

/// How `serve` is run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ServeOptions {
    /// `RUST_LOG` for serve (its default is `info`: one line per request).
    pub rust_log: String,
    /// `AWS_MAX_ATTEMPTS` for serve's SDK client: 1, so an injected fault is not retried away.
    pub max_attempts: u32,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            rust_log: "info".into(),
            max_attempts: 1,
        }
    }
}

/// `bedrock-stream serve --bedrock URL` on a free port; `ready_after` is spawn → first 200 from
/// `/healthz`.
pub async fn serve(bin: &Path, bedrock_url: &str, opts: &ServeOptions) -> anyhow::Result<Proc> {
    let port = free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let launch = Launch::new(
        bin,
        &["serve", "--bedrock", bedrock_url, "--listen", &listen],
    )
    .env("RUST_LOG", opts.rust_log.clone())
    .env("AWS_MAX_ATTEMPTS", opts.max_attempts.to_string());
    spawn_ready(&launch, "serve", port, "/healthz", Duration::from_secs(20)).await
}

/// `bedrock-stream --version`.
pub fn version(bin: &Path) -> String {
    super::output(bin, &["--version"]).unwrap_or_else(|| "?".into())
}

/// `bedrock-stream-lambda` next to `bin` (target/release/bedrock-stream →
/// bedrock-stream-lambda), run as a Lambda function in its own folder; `Err` says why not.
pub fn lambda_function(bin: &Path) -> Result<Launch, String> {
    let path = bin.with_file_name("bedrock-stream-lambda");
    let program = path.canonicalize().unwrap_or(path);
    if !program.is_file() {
        return Err(format!(
            "{} is missing (cargo build --release -p bedrock-stream-lambda)",
            repo_path(&program)
        ));
    }
    let size = std::fs::metadata(&program).map_or(0, |m| m.len());
    Ok(Launch {
        what: format!(
            "`{}` ({:.1} MiB, x86_64 release build; in Lambda it is `bootstrap` on provided.al2023), `RUST_LOG=info`",
            repo_path(&program),
            size as f64 / 1048576.0
        ),
        dir: program.parent().map(Path::to_path_buf),
        ..Launch::new(&program, &[]).env("RUST_LOG", "info")
    })
}
