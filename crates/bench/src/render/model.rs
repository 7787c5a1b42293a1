//! `## Embedded model vs llama.cpp`, its goals and its plot.

use super::md::{met, Md};
use super::plot::{self, Bar, Panel};
use crate::scenario::model::{ModelReport, ThreadSummary, GOAL_RATIO, PROMPT};

/// The medians at each configured thread count that ran.
pub fn summaries(r: &ModelReport) -> impl Iterator<Item = ThreadSummary> + '_ {
    r.config.threads.iter().filter_map(|t| r.summary(*t))
}

/// Goal rows: decode speed and time to first token at least 80 % of llama.cpp's, per thread
/// count (most threads first).
pub fn goals(r: &ModelReport) -> Vec<Vec<String>> {
    let quick = r.config.rounds <= 1 && r.config.runs <= 1;
    let mut threads = r.config.threads.clone();
    threads.sort_unstable_by(|a, b| b.cmp(a));
    let mut rows = Vec::new();
    for t in threads {
        let plural = if t == 1 { "" } else { "s" };
        let goal_decode = format!(
            "embedded model decode ≥ {:.0} % of llama.cpp's tokens/s, {t} thread{plural}",
            GOAL_RATIO * 100.0
        );
        let goal_ttft = format!(
            "embedded model time to first token ≤ llama.cpp's ÷ {GOAL_RATIO}, {t} thread{plural}"
        );
        let why = r.skipped.as_ref().or(r.llama_cpp_skipped.as_ref());
        let Some(m) = r
            .summary(t)
            .filter(|m| m.decode_ratio.n > 0 && why.is_none())
        else {
            let reason = why
                .cloned()
                .unwrap_or_else(|| "no round with both engines".into());
            for g in [goal_decode, goal_ttft] {
                rows.push(row![g, "not measured", "n/a", format!("skipped: {reason}")]);
            }
            continue;
        };
        let verdict = |v: f64| {
            if quick {
                "n/a (quick run)".to_string()
            } else {
                met(v >= GOAL_RATIO).to_string()
            }
        };
        let conditions = format!(
            "same GGUF ({}), {}-token prompt, {} greedy tokens; median [min–max] of {} alternating rounds; other processes kept {} of {} cores busy, 1-min load average {}",
            r.model_file,
            r.prompt_tokens,
            r.config.tokens,
            m.decode_ratio.n,
            m.other_cores.fmt(2),
            r.nproc,
            m.load1.fmt(2)
        );
        rows.push(row![
            goal_decode,
            format!(
                "{}× (ours {} tok/s, llama.cpp {} tok/s)",
                m.decode_ratio.fmt(2),
                m.ours_decode.fmt(0),
                m.llama_decode.fmt(0)
            ),
            verdict(m.decode_ratio.median),
            conditions
        ]);
        rows.push(row![
            goal_ttft,
            format!(
                "{}× (ours {} ms, llama.cpp {} ms)",
                m.ttft_ratio.fmt(2),
                m.ours_ttft.fmt(0),
                m.llama_ttft.fmt(0)
            ),
            verdict(m.ttft_ratio.median),
            conditions
        ]);
    }
    rows
}

/// The section.
pub fn markdown(r: &ModelReport) -> String {
    let c = &r.config;
    let mut s = Md::default();
    s.h2("Embedded model vs llama.cpp");
    if let Some(why) = &r.skipped {
        s.p(format!("Skipped: {why}."));
        return s.0;
    }
    let threads: Vec<String> = c.threads.iter().map(|t| t.to_string()).collect();
    let llama = match (&r.llama_cpp, &r.llama_cpp_skipped) {
        (Some(l), _) => format!(
            "llama.cpp through node-llama-cpp {} ({} CPU build of {}@{}, ggml CPU backend `{}` chosen by it for this CPU), in \
             a fresh `node` process per round (`crates/bedrock-local-model/bench/llama-cpp.mjs`, context 2048, batch 512)",
            l.node_llama_cpp, l.build_type, l.llama_cpp.repo, l.llama_cpp.release, l.variant
        ),
        (None, Some(why)) => format!("llama.cpp: skipped: {why}"),
        (None, None) => "llama.cpp: no successful run (see the errors below)".into(),
    };
    s.p(format!(
        "Our engine (`bedrock-local-model`, `{}` int8 kernels) and {llama}, on the same file `{}` ({:.1} MB), the same {}-token \
         chat prompt (*\"{PROMPT}\"*), greedy decoding of {} tokens, at {} thread(s) ({} cores on the machine): rounds of both \
         engines, the first alternating, each a {}-token warm-up and {} measured run(s); ratios within each round, above 1 \
         faster for both; median [min–max] over rounds ([how](docs/benchmarks.md#embedded-model-vs-llamacpp)). {:.0} s in \
         all; 1-minute load average {} before, {} after. The engine's profiles and history: \
         `crates/bedrock-local-model/BENCH.md`.",
        r.kernel,
        r.model_file,
        r.model_bytes as f64 / 1e6,
        r.prompt_tokens,
        c.tokens,
        threads.join(" and "),
        r.nproc,
        c.warmup_tokens,
        c.runs,
        r.seconds,
        r.load_before,
        r.load_after,
    ));
    let head = [
        "threads",
        "rounds",
        "ours decode, tok/s",
        "llama.cpp decode, tok/s",
        "**decode ours ÷ llama.cpp**",
        "ours TTFT, ms",
        "llama.cpp TTFT, ms",
        "**TTFT llama.cpp ÷ ours**",
        "other processes, cores",
        "load (1 min)",
    ];
    s.table(
        &head,
        summaries(r).map(|m| {
            row![
                m.threads,
                m.rounds,
                m.ours_decode.fmt(1),
                m.llama_decode.fmt(1),
                format!("**{}**", m.decode_ratio.fmt(2)),
                m.ours_ttft.fmt(0),
                m.llama_ttft.fmt(0),
                format!("**{}**", m.ttft_ratio.fmt(2)),
                m.other_cores.fmt(2),
                m.load1.fmt(2)
            ]
        }),
    );
    s.list(r.rounds.iter().flat_map(|x| {
        x.errors
            .iter()
            .map(move |e| format!("error: round {}: {e}", x.round))
    }));
    s.0
}

/// Decode speed and time to first token, ours vs llama.cpp, per thread count; `None` when no
/// round ran.
pub fn plot(r: &ModelReport) -> anyhow::Result<Option<String>> {
    let (mut decode, mut ttft) = (Vec::new(), Vec::new());
    for t in summaries(r) {
        let (ours, llama) = (
            format!("ours, {} thread(s)", t.threads),
            format!("llama.cpp, {} thread(s)", t.threads),
        );
        decode.extend([
            Bar::of(&ours, 0, true, t.ours_decode),
            Bar::of(&llama, 3, true, t.llama_decode),
        ]);
        ttft.extend([
            Bar::of(&ours, 0, true, t.ours_ttft),
            Bar::of(&llama, 3, true, t.llama_ttft),
        ]);
    }
    if decode.is_empty() {
        return Ok(None);
    }
    let panels = [
        Panel {
            title: "decode speed".into(),
            unit: "tokens/s".into(),
            bars: decode,
        },
        Panel {
            title: "time to first token".into(),
            unit: "ms".into(),
            bars: ttft,
        },
    ];
    plot::bars(
        "Embedded model vs llama.cpp, same GGUF (median, min–max whisker)",
        &panels,
    )
    .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::example;

    #[test]
    fn goals_markdown_and_plot() {
        let r = example();
        let g = goals(&r);
        assert_eq!(g.len(), 4);
        assert!(
            g[0][0].contains("2 threads") && g[0][2] == "**met**",
            "{g:?}"
        );
        assert_eq!(g[1][2], "**met**"); // 50 / 60 = 0.83
        assert!(g[2][0].contains("1 thread") && g[2][2] == "**not met**");
        let md = markdown(&r);
        assert!(md.starts_with("## Embedded model vs llama.cpp\n"));
        assert!(md.contains("| 2 | 2 | 170.0 [170.0–170.0]"), "{md}");
        assert!(plot(&r)
            .unwrap()
            .unwrap()
            .contains("llama.cpp, 1 thread(s)"));
    }

    #[test]
    fn skipped_reports_say_why() {
        let r = ModelReport {
            skipped: Some("no model".into()),
            ..ModelReport::default()
        };
        assert!(markdown(&r).contains("Skipped: no model."));
        assert!(goals(&r).iter().all(|row| row[3] == "skipped: no model"));
        assert!(plot(&r).unwrap().is_none());
        let r = ModelReport {
            llama_cpp_skipped: Some("no node".into()),
            ..example()
        };
        assert!(goals(&r)[0][3].contains("no node"));
    }
}
