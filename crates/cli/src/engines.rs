//! Builds the engine named on the command line.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use bedrock_local::engines::openai::OpenAiEngine;
use bedrock_local::{Engine, ScriptedConfig, ScriptedEngine};

pub(crate) struct EngineChoice {
    pub engine: String,
    pub model: Option<PathBuf>,
    pub chunk_delay_ms: u64,
    pub chunk_tokens: usize,
}

pub(crate) fn build(choice: &EngineChoice) -> anyhow::Result<Arc<dyn Engine>> {
    let engine = choice.engine.as_str();
    if engine == "scripted" {
        return Ok(Arc::new(ScriptedEngine::new(ScriptedConfig {
            chunk_delay: Duration::from_millis(choice.chunk_delay_ms),
            tokens_per_chunk: choice.chunk_tokens.max(1),
            ..Default::default()
        })));
    }
    if let Some(url) = engine.strip_prefix("openai=") {
        let e = OpenAiEngine::new(url, None).context("building the openai engine")?;
        return Ok(Arc::new(e));
    }
    if engine == "model" {
        bail!("the embedded model engine is not built into this binary yet; use --engine scripted")
    }
    bail!("unknown engine `{engine}`: use model, scripted, or openai=URL")
}
