//! Compares the engine with a reference token sequence (for example llama.cpp's greedy output,
//! see `bench/llama-cpp.mjs`): prints, for each position, our greedy choice, the reference's
//! token, and our margin between the two.
//!
//! `cargo run --release -p bedrock-local-model --example compare_tokens -- "Hello" [ref ids, comma-separated]`

use bedrock_families::Prompt;
use bedrock_local_model::{fetch, EmbeddedModel};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let text = args.first().cloned().unwrap_or_else(|| "Hello".to_string());
    let reference: Vec<u32> = args
        .get(1)
        .map(|s| s.split(',').filter_map(|v| v.trim().parse().ok()).collect())
        .unwrap_or_default();
    let model = EmbeddedModel::load(&fetch::resolve_model(None, true)?)?;
    let mut tokens = model.prompt_tokens(&Prompt::user(text));
    println!("prompt {tokens:?}");
    for (i, &r) in reference.iter().enumerate() {
        let logits = model.logits(&tokens, false)?;
        let ours = argmax(&logits);
        let margin = logits[ours as usize] - logits[r as usize];
        println!(
            "{i:3} ours {ours:6} ref {r:6} margin {margin:8.4} {}",
            if ours == r { "" } else { "<-- differs" }
        );
        tokens.push(r);
    }
    Ok(())
}

fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best as u32
}
