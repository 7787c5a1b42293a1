//! `## Gateways: serve vs LiteLLM`, its goal and its plot.

use super::md::{contention, mib, one_line, times, Md};
use super::plot::{self, Bar, Panel};
use super::serve::{load_table, paired_rows};
use super::verdict;
use crate::harness::litellm::{BEDROCK_MODEL, MODEL};
use crate::scenario::gateways::{GatewayResult, GatewaysReport};
use crate::scenario::load::spread;
use crate::scenario::Size;
use crate::stats::{Dist, Spread};

/// The goal row: serve's completed streams/s against LiteLLM's.
pub fn goals(r: &GatewaysReport) -> Vec<Vec<String>> {
    let (c, s, l) = (
        &r.config,
        r.serve.streams_per_sec(),
        r.litellm.streams_per_sec(),
    );
    let goal = format!(
        "`serve` ≥ 50× LiteLLM's completed streams/s ({} chunks a stream, {} concurrent)",
        c.words, c.concurrency
    );
    let others: Vec<f64> = (r.serve.runs.iter().chain(&r.litellm.runs))
        .map(|x| x.usage.others())
        .collect();
    let conditions = format!(
        "same local endpoint and request, client, gateway and endpoint on the same {} cores, LiteLLM one worker; {}",
        r.nproc,
        contention(Spread::of(&others).max, r.nproc)
    );
    vec![match r.speedup() {
        Some(x) => {
            let measured = format!(
                "{} ({} vs {} streams/s, median [min–max] of {} runs each)",
                times(x),
                s.fmt(0),
                l.fmt(1),
                s.n.min(l.n)
            );
            row![goal, measured, verdict(c.size, x >= 50.0), conditions]
        }
        None => {
            let why = r.litellm.skipped.as_deref().unwrap_or("no runs");
            let serve = if r.serve.ran() { s.fmt(0) } else { "?".into() };
            row![
                goal,
                format!("serve {serve} streams/s; LiteLLM not measured"),
                format!("n/a (LiteLLM skipped: {why})"),
                conditions
            ]
        }
    }]
}

/// The section.
pub fn markdown(r: &GatewaysReport) -> String {
    let (c, sv, ll) = (&r.config, &r.serve, &r.litellm);
    let mut s = Md::default();
    s.h2("Gateways: serve vs LiteLLM");
    if c.size == Size::Quick {
        s.p("> **Quick run**: checks that the comparison runs; its timings are not the project's numbers.");
    }
    s.p(format!(
        "`bench gateways`: both in front of the same local endpoint, asked the same OpenAI streaming request (`max_tokens` \
         {}, a different prompt per stream), every answer's text checked; {} fresh process(es) per gateway, each then loaded \
         at {} streams in flight (serve: at most {} streams or {} s; LiteLLM: {} or {} s); {} sequential pairs against a \
         direct `converse_stream` ([how](docs/benchmarks.md#serve-vs-litellm)).",
        c.words,
        c.runs.max(1),
        c.concurrency,
        c.streams[0],
        c.time_budget[0].as_secs(),
        c.streams[1],
        c.time_budget[1].as_secs(),
        c.pairs,
    ))
    .table(
        &["", ""],
        [
            row!["`serve`", sv.version],
            row!["LiteLLM", if ll.version.is_empty() { "not installed" } else { &ll.version }],
            row![
                "LiteLLM config",
                format!("model `{MODEL}` → `{BEDROCK_MODEL}` at the local endpoint, dummy keys, one worker")
            ],
            row!["when", format!("{}, {:.0} s; load average {} before, {} after", r.date, r.seconds, r.load_before, r.load_after)],
        ],
    );
    for g in [sv, ll].into_iter().filter(|g| g.skipped.is_some()) {
        s.p(format!(
            "**{}**: skipped: {}",
            g.name,
            one_line(g.skipped.as_deref().unwrap_or_default())
        ));
    }
    load_table(&mut s, &[("`serve`", &sv.runs), ("LiteLLM", &ll.runs)]);
    let checked = |g: &GatewayResult| {
        let n = |f: &dyn Fn(&crate::scenario::load::LoadReport) -> usize| {
            g.runs.iter().map(|r| f(&r.load)).sum::<usize>()
        };
        format!(
            "**{}**: {} ok of {}; mismatched {}, incomplete {}, HTTP errors {}, no answer {}; regrouped {}",
            g.name,
            n(&|l| l.ok),
            n(&|l| l.started),
            n(&|l| l.count("mismatched")),
            n(&|l| l.count("incomplete")),
            n(&|l| l.count("http")),
            n(&|l| l.count("transport")),
            n(&|l| l.regrouped)
        )
    };
    s.list(
        [sv, ll]
            .into_iter()
            .filter(|g| !g.runs.is_empty())
            .map(checked),
    );
    let ran: Vec<_> = [(sv, "`serve`"), (ll, "LiteLLM")]
        .into_iter()
        .filter(|(g, _)| !g.sequential.added_ms.is_empty())
        .collect();
    s.p("First content, sequential:").table(
        &["ms", "p50", "p90", "p99", "max"],
        ran.iter()
            .flat_map(|(g, name)| paired_rows(name, &g.sequential)),
    );
    s.list(ran.iter().map(|(g, _)| {
        let q = &g.sequential;
        format!(
            "{}: {} failed or wrong answers, {}",
            g.name,
            q.mismatches,
            contention(q.other_cores, r.nproc)
        )
    }));
    if let Some(x) = r.speedup() {
        s.p(format!(
            "`serve` completed {} LiteLLM's streams per second here. LiteLLM runs as one Python process (one uvicorn worker), so \
             it can use at most one core ({:.2} measured); `serve` is one process with a thread per core.",
            times(x),
            spread(&ll.runs, |r| r.usage.cores(0)).median,
        ));
    }
    let problems = [sv, ll].into_iter().flat_map(|g| {
        g.runs.iter().flat_map(move |r| {
            r.load
                .problems
                .iter()
                .map(move |p| format!("{} problem: {p}", g.name))
        })
    });
    s.list(problems);
    s.0
}

/// Streams/s, added first content, peak RSS and ready time, serve vs LiteLLM.
pub fn plot(r: &GatewaysReport) -> anyhow::Result<String> {
    let panel = |title: &str, unit: &str, f: &dyn Fn(&GatewayResult) -> Spread| Panel {
        title: title.into(),
        unit: unit.into(),
        bars: [&r.serve, &r.litellm]
            .iter()
            .enumerate()
            .map(|(i, g)| Bar::of(&g.name, i, g.ran(), f(g)))
            .collect(),
    };
    let p50 = |v: &[f64]| Spread::of(&[Dist::of(v).p50]);
    plot::bars(
        &format!(
            "serve vs LiteLLM, same local Bedrock endpoint, {} concurrent streams",
            r.config.concurrency
        ),
        &[
            panel("completed streams per second", "streams/s", &|g| {
                g.streams_per_sec()
            }),
            panel("first content added to a direct call, p50", "ms", &|g| {
                p50(&g.sequential.added_ms)
            }),
            panel("peak RSS (VmHWM)", "MiB", &|g| {
                spread(&g.runs, |x| mib(x.peak_kib as f64))
            }),
            panel("spawn → ready", "ms", &|g| {
                spread(&g.runs, |x| x.ready_ms)
            }),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::gateways::GatewaysConfig;
    use crate::scenario::load::{LoadReport, LoadRun};
    use std::time::Duration;

    #[test]
    fn says_skipped_and_renders_the_goal() {
        let load = LoadReport {
            ok: 1000,
            started: 1000,
            chunks_ok: 20000,
            elapsed: Duration::from_millis(500),
            ..Default::default()
        };
        let serve = GatewayResult {
            name: "bedrock-stream serve".into(),
            version: "bedrock-stream 0.1.0".into(),
            runs: vec![LoadRun {
                load,
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut r = GatewaysReport {
            config: GatewaysConfig::for_size(Size::Full),
            serve,
            litellm: GatewayResult::skipped("LiteLLM proxy", "not installed".into()),
            nproc: 2,
            load_before: "0 0 0".into(),
            load_after: "0 0 0".into(),
            date: "2026-01-01 00:00 UTC".into(),
            seconds: 1.0,
        };
        let md = markdown(&r);
        assert!(
            md.starts_with("## Gateways: serve vs LiteLLM")
                && md.contains("skipped: not installed"),
            "{md}"
        );
        let g = goals(&r);
        assert!(g.len() == 1 && g[0][2].contains("skipped"), "{g:?}");
        let mut l = r.serve.clone();
        l.name = "LiteLLM proxy".into();
        l.runs[0].load.ok = 10;
        r.litellm = l;
        assert_eq!(r.speedup().map(|x| x.round()), Some(100.0));
        assert_eq!(goals(&r)[0][2], "**met**");
        assert!(markdown(&r).contains("100× higher"));
        assert!(plot(&r).unwrap().contains("LiteLLM proxy"));
    }
}
