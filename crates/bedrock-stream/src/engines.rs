//! Builds the engine named on the command line.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use bedrock_local::engines::model::ModelEngine;
use bedrock_local::engines::openai::OpenAiEngine;
use bedrock_local::{Engine, ScriptedConfig, ScriptedEngine};

pub(crate) struct EngineChoice {
    pub engine: String,
    pub model: Option<PathBuf>,
    pub chunk_delay_ms: u64,
    pub chunk_tokens: usize,
}

/// Requests that may wait for the embedded model before more are refused with 429.
const MODEL_QUEUE_BOUND: usize = 64;

pub(crate) async fn build(choice: &EngineChoice) -> anyhow::Result<Arc<dyn Engine>> {
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
        let explicit = choice.model.clone();
        let engine = tokio::task::spawn_blocking(move || -> anyhow::Result<ModelEngine> {
            let path = bedrock_local_model::fetch::resolve_model(explicit.as_deref(), true)?;
            let model = bedrock_local_model::EmbeddedModel::load(&path)
                .with_context(|| format!("loading the model {}", path.display()))?;
            Ok(ModelEngine::new(model, 1, MODEL_QUEUE_BOUND)?)
        })
        .await
        .context("the model loader stopped")??;
        return Ok(Arc::new(engine));
    }
    bail!("unknown engine `{engine}`: use model, scripted, or openai=URL")
}
