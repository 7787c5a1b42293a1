//! Decode speed and time to first token of the embedded model.
//!
//! `cargo run --release -p bedrock-local-model --example bench -- [--tokens 200] [--threads 2] [--runs 5]`
//! (`--print-model-path` prints the model file, fetching the default model if needed)
//!
//! Greedy decoding of one fixed chat prompt, run `--runs` times after one warm-up run; prints
//! the median. TTFT is from the call to the first text callback (tokenizing, prefill, first
//! sample); decode tok/s counts the tokens after the first one over the time after it.
//! `bench/llama-cpp.mjs` measures llama.cpp the same way on the same file and prompt.

use std::ops::ControlFlow;
use std::time::Instant;

use bedrock_families::{Prompt, Sampling};
use bedrock_local_model::{fetch, EmbeddedModel, LoadOptions};

pub const PROMPT: &str = "Write a long story about a dragon who learns to bake bread.";

fn main() -> anyhow::Result<()> {
    let mut tokens = 200u32;
    let mut threads = 2usize;
    let mut runs = 5usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--print-model-path" {
            println!("{}", fetch::resolve_model(None, true)?.display());
            return Ok(());
        }
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--tokens" => tokens = v.parse()?,
            "--threads" => threads = v.parse()?,
            "--runs" => runs = v.parse()?,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let path = fetch::resolve_model(None, true)?;
    let t = Instant::now();
    let model = EmbeddedModel::load_with(
        &path,
        &LoadOptions {
            threads: Some(threads),
            ..LoadOptions::default()
        },
    )?;
    let load = t.elapsed();
    let prompt = Prompt::user(PROMPT);
    let sampling = Sampling {
        max_tokens: Some(tokens),
        temperature: Some(0.0),
        ..Sampling::default()
    };
    println!(
        "model {} | kernel {} | threads {} | load {:.2}s | prompt {} tokens",
        model.name(),
        model.kernel(),
        model.threads(),
        load.as_secs_f64(),
        model.prompt_tokens(&prompt).len()
    );
    let mut results = Vec::new();
    for run in 0..=runs {
        let start = Instant::now();
        let mut first = None;
        let g = model.generate(&prompt, &sampling, &mut |_| {
            first.get_or_insert_with(Instant::now);
            ControlFlow::Continue(())
        })?;
        let end = Instant::now();
        let Some(first) = first else {
            anyhow::bail!("no text generated")
        };
        let ttft = (first - start).as_secs_f64();
        let rate = f64::from(g.output_tokens.saturating_sub(1)) / (end - first).as_secs_f64();
        println!(
            "{} {}: {} tokens ({:?}), ttft {:.1} ms, decode {:.1} tok/s",
            if run == 0 { "warm-up" } else { "run" },
            run,
            g.output_tokens,
            g.stop,
            ttft * 1e3,
            rate
        );
        if run > 0 {
            results.push((ttft, rate));
        }
    }
    let mut ttfts: Vec<f64> = results.iter().map(|r| r.0).collect();
    let mut rates: Vec<f64> = results.iter().map(|r| r.1).collect();
    ttfts.sort_by(f64::total_cmp);
    rates.sort_by(f64::total_cmp);
    println!(
        "median: ttft {:.1} ms, decode {:.1} tok/s",
        ttfts[ttfts.len() / 2] * 1e3,
        rates[rates.len() / 2]
    );
    Ok(())
}
