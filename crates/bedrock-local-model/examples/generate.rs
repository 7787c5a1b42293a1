//! Streams one answer from the embedded model.
//!
//! `cargo run --release -p bedrock-local-model --example generate -- "Why is the sky blue?"`
//! (options via env: `MAX_TOKENS`, `TEMPERATURE`, `SYSTEM`; model via `BEDROCK_STREAM_MODEL`).

use std::io::Write;
use std::ops::ControlFlow;

use bedrock_families::{Prompt, Sampling};
use bedrock_local_model::{fetch, EmbeddedModel};

fn main() -> anyhow::Result<()> {
    let text = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let text = if text.is_empty() {
        "Write a haiku about the sea.".to_string()
    } else {
        text
    };
    let path = fetch::resolve_model(None, true)?;
    let model = EmbeddedModel::load(&path)?;
    let env = |k: &str| std::env::var(k).ok();
    let mut prompt = Prompt::user(text);
    prompt.system = env("SYSTEM");
    let sampling = Sampling {
        max_tokens: env("MAX_TOKENS").and_then(|v| v.parse().ok()),
        temperature: env("TEMPERATURE").and_then(|v| v.parse().ok()),
        ..Sampling::default()
    };
    let mut out = std::io::stdout();
    let g = model.generate(&prompt, &sampling, &mut |piece| {
        let _ = out.write_all(piece.as_bytes());
        let _ = out.flush();
        ControlFlow::Continue(())
    })?;
    let secs = g.decode_time.as_secs_f64();
    eprintln!(
        "\n[{}: {:?}, {} prompt tokens in {:.3}s, {} output tokens, {:.1} tok/s]",
        model.name(),
        g.stop,
        g.input_tokens,
        g.prompt_time.as_secs_f64(),
        g.output_tokens,
        if secs > 0.0 {
            (g.output_tokens.saturating_sub(1)) as f64 / secs
        } else {
            0.0
        }
    );
    Ok(())
}
