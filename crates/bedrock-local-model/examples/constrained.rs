//! Constrained decoding benchmark: a forced tool call for each schema of
//! `tests/data/tool_schemas.json` (at least 20), each checked with the `jsonschema` crate; the
//! cost of the masks per token; and decoding speed with and without constraints: each
//! constrained call is followed by an unconstrained generation of as many tokens from the same
//! prompt (the same system text with the tool list, so about the same context length), whose time per
//! token is the baseline.
//!
//! `cargo run --release -p bedrock-local-model --example constrained -- [--threads N] [--runs R]`

use std::ops::ControlFlow;
use std::time::Duration;

use anyhow::{Context, Result};
use bedrock_families::{Prompt, Sampling, StopReason, ToolChoice, ToolSpec};
use bedrock_local_model::{fetch, EmbeddedModel, LoadOptions, Piece, ToolFormat, DEFAULT_SEED};
use serde_json::Value;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<usize>().ok())
    };
    let threads = opt("--threads");
    let runs = opt("--runs").unwrap_or(2).max(1);
    let path = fetch::resolve_model(None, true)?;
    let model = EmbeddedModel::load_with(
        &path,
        &LoadOptions {
            threads,
            ..LoadOptions::default()
        },
    )?;
    let tools: Vec<Value> = serde_json::from_str(include_str!("../tests/data/tool_schemas.json"))?;
    let sampling = Sampling {
        max_tokens: Some(160),
        temperature: Some(0.0),
        ..Sampling::default()
    };
    println!(
        "model {}, {} threads, kernel {}, {} schemas, {} runs each, greedy, max_tokens 160\n",
        model.name(),
        model.threads(),
        model.kernel(),
        tools.len(),
        runs
    );
    println!("| tool | valid | stop | tokens sampled + read | masks computed / cached | mask µs per token | decode ms per token |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let (mut valid, mut total) = (0, 0);
    let (mut mask_time, mut tokens, mut decode_time, mut decoded) =
        (Duration::ZERO, 0u32, Duration::ZERO, 0u32);
    let (mut computed, mut cached) = (0u32, 0u32);
    let mut first_masks = Duration::ZERO;
    let (mut plain_time, mut plain_tokens) = (Duration::ZERO, 0u32);
    for t in &tools {
        let name = t["name"].as_str().context("name")?;
        let schema = t["input_schema"].clone();
        let validator = jsonschema::validator_for(&schema).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut prompt = Prompt::user(t["prompt"].as_str().context("prompt")?);
        prompt.tools = vec![ToolSpec {
            name: name.to_string(),
            description: t["description"].as_str().map(String::from),
            input_schema: schema,
        }];
        prompt.tool_choice = ToolChoice::Tool(name.to_string());
        for run in 0..runs {
            let mut streamed = String::new();
            let g = model.generate_events(&prompt, &sampling, DEFAULT_SEED, &mut |p| {
                if let Piece::ToolInput(s) = p {
                    streamed.push_str(s);
                }
                ControlFlow::Continue(())
            })?;
            let input = g
                .tool_use
                .as_ref()
                .map(|u| u.input.clone())
                .unwrap_or_default();
            let ok = g.stop == StopReason::ToolUse
                && streamed == input
                && serde_json::from_str::<Value>(&input).is_ok_and(|v| validator.is_valid(&v));
            total += 1;
            valid += usize::from(ok);
            let c = g.constraint;
            let n = c.sampled + c.forced;
            if run == 0 {
                first_masks += c.time;
            }
            mask_time += c.time;
            tokens += n;
            computed += c.masks_computed;
            cached += c.masks_cached;
            if run + 1 == runs {
                decode_time += g.decode_time;
                decoded += g.output_tokens.saturating_sub(1);
                // The baseline: the same prompt unconstrained, as many tokens, no early stop
                // other than the end token.
                let mut plain = Prompt::user(t["prompt"].as_str().context("prompt")?);
                plain.system =
                    Some(ToolFormat::SmolLm2.system_text(&prompt.tools, &prompt.tool_choice));
                let s = Sampling {
                    max_tokens: Some(g.output_tokens.max(2)),
                    ..sampling.clone()
                };
                let p = model.generate(&plain, &s, &mut |_| ControlFlow::Continue(()))?;
                plain_time += p.decode_time;
                plain_tokens += p.output_tokens.saturating_sub(1);
                println!(
                    "| {name} | {} | {:?} | {} + {} | {} / {} | {:.0} | {:.2} |",
                    if ok { "yes" } else { "**no**" },
                    g.stop,
                    c.sampled,
                    c.forced,
                    c.masks_computed,
                    c.masks_cached,
                    c.time.as_secs_f64() * 1e6 / f64::from(n.max(1)),
                    g.decode_time.as_secs_f64() * 1e3
                        / f64::from(g.output_tokens.saturating_sub(1).max(1)),
                );
            }
            if run == 0 {
                eprintln!("{name}: {input}");
            }
        }
    }
    println!();
    println!(
        "valid tool calls: {valid}/{total} ({:.1} %)",
        100.0 * valid as f64 / total as f64
    );
    println!(
        "constraint time per constrained token: {:.1} µs over all runs ({:.1} µs in first runs, cold caches); masks computed {computed}, from cache {cached}",
        mask_time.as_secs_f64() * 1e6 / f64::from(tokens.max(1)),
        first_masks.as_secs_f64() * 1e6 / f64::from((tokens / runs as u32).max(1)),
    );
    println!(
        "decode time per token (last runs): constrained {:.2} ms (sampled and forced tokens alike), unconstrained on the same prompts {:.2} ms",
        decode_time.as_secs_f64() * 1e3 / f64::from(decoded.max(1)),
        plain_time.as_secs_f64() * 1e3 / f64::from(plain_tokens.max(1)),
    );
    Ok(())
}
