//! The LiteLLM proxy (`litellm[proxy]` in its venv, `crates/bench/peers/setup.sh`) with its
//! Bedrock provider pointed at the local endpoint.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{free_port, not_installed, python, spawn_ready, Launch, Proc};

/// LiteLLM's name for the model (its `model_list` alias).
pub const MODEL: &str = "claude-v2";
/// What the alias maps to: LiteLLM's Bedrock provider, which sends this model to ConverseStream.
pub const BEDROCK_MODEL: &str = "bedrock/anthropic.claude-v2";

/// The installed LiteLLM: its `litellm` command and version.
#[derive(Debug, Clone)]
pub struct Install {
    pub bin: PathBuf,
    pub version: String,
}

/// Finds LiteLLM in its venv, or says why not.
pub fn find(venv: &Path) -> Result<Install, String> {
    let bin = venv.join("bin/litellm");
    if !bin.is_file() {
        return Err(not_installed(&bin));
    }
    let Some(version) = python::pip_version(venv, "litellm") else {
        return Err(format!(
            "no litellm-*.dist-info in {}/lib/*/site-packages",
            super::repo_path(venv)
        ));
    };
    Ok(Install {
        bin,
        version: format!(
            "LiteLLM {version} (litellm[proxy], {}, one uvicorn worker)",
            python::version(venv)
        ),
    })
}

/// The proxy config: one model, LiteLLM's Bedrock provider pointed at the local endpoint with
/// dummy keys, a master key (it refuses to start without one), no database, no callbacks.
pub fn config(endpoint: &str, master_key: &str) -> String {
    format!(
        "model_list:\n  - model_name: {MODEL}\n    litellm_params:\n      model: {BEDROCK_MODEL}\n      aws_bedrock_runtime_endpoint: \"{endpoint}\"\n      aws_access_key_id: AKIDBENCH\n      aws_secret_access_key: bench-secret\n      aws_region_name: us-east-1\ngeneral_settings:\n  master_key: \"{master_key}\"\n"
    )
}

/// Starts the proxy (one worker) with the config `dir/config.yaml`, in `dir` (LiteLLM reads a
/// `.env` from its working folder), from a clean environment (no inherited database settings),
/// the bundled model-cost map (no download), and outbound HTTPS sent to a closed loopback port.
pub async fn start(install: &Install, dir: &Path) -> anyhow::Result<Proc> {
    let port = free_port()?;
    let p = port.to_string();
    let args = [
        "--config",
        "config.yaml",
        "--port",
        &p,
        "--host",
        "127.0.0.1",
        "--num_workers",
        "1",
    ];
    let mut launch = Launch {
        dir: Some(dir.to_path_buf()),
        clear_env: true,
        ..Launch::new(&install.bin, &args).env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    };
    for k in ["HTTPS_PROXY", "https_proxy"] {
        launch = launch.env(k, "http://127.0.0.1:9");
    }
    for k in ["NO_PROXY", "no_proxy"] {
        launch = launch.env(k, "127.0.0.1,localhost");
    }
    spawn_ready(
        &launch,
        "litellm",
        port,
        "/health/liveliness",
        Duration::from_secs(180),
    )
    .await
}
