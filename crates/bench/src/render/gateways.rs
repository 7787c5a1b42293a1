//! `## Gateways: serve vs LiteLLM`, its goal and its plot.

use super::md::{compare, contention, f, mib, one_line, times, Md};
use super::plot::{self, Bar, Panel};
use super::verdict;
use crate::harness::litellm::{BEDROCK_MODEL, MODEL};
use crate::scenario::gateways::{GatewayResult, GatewayRun, GatewaysReport};
use crate::scenario::load::LoadReport;
use crate::scenario::Size;
use crate::stats::{Dist, Spread};

/// The goal row: serve's completed streams/s against LiteLLM's.
pub fn goals(r: &GatewaysReport) -> Vec<Vec<String>> {
    let s = r.serve.streams_per_sec();
    let goal = format!(
        "`serve` ≥ 50× LiteLLM's completed streams/s ({} chunks a stream, {} concurrent)",
        r.config.words, r.config.concurrency
    );
    let runs = r.serve.runs.iter().chain(&r.litellm.runs);
    let others = Spread::of(&runs.map(GatewayRun::other_cores).collect::<Vec<_>>()).max;
    let conditions = format!(
        "same local endpoint and request, client, gateway and endpoint on the same {} cores, LiteLLM one worker; {}",
        r.nproc,
        contention(others, r.nproc)
    );
    vec![match r.speedup() {
        Some(x) => {
            let l = r.litellm.streams_per_sec();
            let measured = format!(
                "{} ({} vs {} streams/s, median [min–max] of {} runs each)",
                times(x),
                s.fmt(0),
                l.fmt(1),
                s.n.min(l.n)
            );
            row![
                goal,
                measured,
                verdict(r.config.size, x >= 50.0),
                conditions
            ]
        }
        None => row![
            goal,
            format!(
                "serve {} streams/s; LiteLLM not measured",
                if r.serve.ran() { s.fmt(0) } else { "?".into() }
            ),
            format!(
                "n/a (LiteLLM skipped: {})",
                r.litellm.skipped.as_deref().unwrap_or("no runs")
            ),
            conditions
        ],
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
        "`bench gateways`: both gateways in front of the same local endpoint (`bedrock-stream local-bedrock --engine scripted \
         --chunk-tokens 1 --chunk-delay-ms {}`), one after the other, on loopback only. Both get the same OpenAI-style request, \
         `POST /v1/chat/completions` with `\"stream\": true`, `max_tokens` {w} and one user message (a different prompt per \
         stream), so every answer is {w} chunks of one token; both call the endpoint's ConverseStream for it (serve maps chat \
         completions onto ConverseStream; LiteLLM's Bedrock provider sends `{BEDROCK_MODEL}` there). The client parses every \
         SSE event, joins the `delta.content` strings and compares them with the scripted engine's text for that prompt; an \
         answer counts only when that text is exact and the stream ends with `data: [DONE]`.",
        c.chunk_delay_ms,
        w = c.words
    ))
    .p(format!(
        "Each gateway: {} fresh process(es), each timed from spawn to its first `200` (`GET /healthz` for serve, \
         `GET /health/liveliness` for LiteLLM, polled every 0.25 ms), then {} warm-up streams, then a closed loop of streams \
         at {} concurrent (serve: at most {} streams or {} s; LiteLLM: at most {} streams or {} s, streams in flight then \
         finish). CPU is the gateway process's (children included) user + system time during the loop, divided by the \
         streams; memory is VmRSS when ready and VmHWM (the kernel's peak) after the loop. The first process also answers {} \
         sequential requests (after {} warm-up), each paired with the same question asked of the endpoint directly through \
         the Rust SDK (`converse_stream`, time to the first text delta), alternating which goes first; \"first content\" \
         through a gateway is the arrival of the body frame holding the first content event, and \"added\" is gateway minus \
         direct, pair by pair.",
        c.runs.max(1),
        c.warmup,
        c.concurrency,
        c.serve_budget.streams,
        c.serve_budget.time_budget.as_secs(),
        c.litellm_budget.streams,
        c.litellm_budget.time_budget.as_secs(),
        c.serve_budget.sequential,
        c.sequential_warmup,
    ))
    .table(
        &["", ""],
        [
            row!["`serve`", sv.version],
            row!["LiteLLM", if ll.version.is_empty() { "not installed" } else { &ll.version }],
            row![
                "LiteLLM config",
                format!(
                    "model `{MODEL}` → `{BEDROCK_MODEL}`, `aws_bedrock_runtime_endpoint` = the local endpoint, dummy keys, \
                     `aws_region_name: us-east-1`, a master key (it refuses to start without one), no database, no callbacks; \
                     `LITELLM_LOCAL_MODEL_COST_MAP=True`, outbound HTTPS sent to a closed loopback port"
                )
            ],
            row!["when", format!("{}, {:.0} s; load average {} before, {} after", r.date, r.seconds, r.load_before, r.load_after)],
        ],
    );
    for g in [sv, ll] {
        if let Some(reason) = &g.skipped {
            s.p(format!("**{}**: skipped: {}", g.name, one_line(reason)));
        }
    }
    let cell = |g: &GatewayResult, v: Spread, digits: usize| {
        if g.runs.is_empty() || v.n == 0 {
            "–".to_string()
        } else {
            v.fmt(digits)
        }
    };
    type Metric<'a> = (&'a str, &'a dyn Fn(&GatewayRun) -> f64, usize, bool);
    let metrics: [Metric; 15] = [
        ("**completed streams/s**", &|x| x.load.ok_per_sec(), 1, true),
        ("chunks/s", &|x| x.load.chunks_per_sec(), 0, true),
        ("streams ok per run", &|x| x.load.ok as f64, 0, false),
        (
            "first content under load p50, ms",
            &|x| Dist::of(&x.load.ttfb_ms).p50,
            2,
            true,
        ),
        (
            "first content under load p99, ms",
            &|x| Dist::of(&x.load.ttfb_ms).p99,
            2,
            true,
        ),
        (
            "whole stream under load p50, ms",
            &|x| Dist::of(&x.load.total_ms).p50,
            2,
            true,
        ),
        (
            "CPU per stream in the gateway, µs",
            &|x| x.cpu_us_per_stream().0,
            0,
            true,
        ),
        ("cores the gateway used", &|x| x.gateway_cores(), 2, false),
        (
            "CPU per stream in the endpoint, µs",
            &|x| x.cpu_us_per_stream().1,
            0,
            false,
        ),
        (
            "CPU per stream in the bench client, µs",
            &|x| x.cpu_us_per_stream().2,
            0,
            false,
        ),
        (
            "cores other processes kept busy",
            &|x| x.other_cores(),
            2,
            false,
        ),
        ("ready after spawn, ms", &|x| x.ready_ms, 1, true),
        (
            "RSS when ready, MiB",
            &|x| mib(x.ready_rss_kib as f64),
            1,
            true,
        ),
        (
            "**peak RSS (VmHWM) under load**, MiB",
            &|x| mib(x.hwm_kib as f64),
            1,
            true,
        ),
        (
            "RSS after the run, MiB",
            &|x| mib(x.after_rss_kib as f64),
            1,
            true,
        ),
    ];
    let mut rows: Vec<Vec<String>> = metrics
        .iter()
        .map(|(name, f, digits, ratio)| {
            let (a, b) = (sv.spread(f), ll.spread(f));
            let vs = if *ratio && sv.ran() && ll.ran() {
                compare(a.median, b.median)
            } else {
                String::new()
            };
            row![name, cell(sv, a, *digits), cell(ll, b, *digits), vs]
        })
        .collect();
    let checked = |g: &GatewayResult| {
        if g.runs.is_empty() {
            return "–".to_string();
        }
        let sum =
            |f: &dyn Fn(&LoadReport) -> usize| g.runs.iter().map(|r| f(&r.load)).sum::<usize>();
        format!(
            "{} ok of {}; mismatched {}, incomplete {}, HTTP errors {}, no answer {}; regrouped {}",
            sum(&|l| l.ok),
            sum(&|l| l.started),
            sum(&|l| l.count("mismatched")),
            sum(&|l| l.count("incomplete")),
            sum(&|l| l.count("http")),
            sum(&|l| l.count("transport")),
            sum(&|l| l.regrouped)
        )
    };
    rows.push(row![
        "streams checked (all runs)",
        checked(sv),
        checked(ll),
        ""
    ]);
    s.table(
        &[
            "median [min–max] over runs",
            "`serve`",
            "LiteLLM",
            "`serve` vs LiteLLM",
        ],
        rows,
    );

    s.p(format!(
        "First content, sequential ({} pairs for serve, {} for LiteLLM):",
        sv.sequential.n, ll.sequential.n
    ));
    let mut rows = Vec::new();
    for (g, short) in [(sv, "`serve`"), (ll, "LiteLLM")]
        .into_iter()
        .filter(|(g, _)| g.sequential.n > 0)
    {
        for (label, v) in [
            ("direct (SDK → endpoint), beside", &g.sequential.direct_ms),
            ("through", &g.sequential.gateway_ms),
        ] {
            let d = Dist::of(v);
            rows.push(row![
                format!("{label} {short}"),
                f(d.p50, 3),
                f(d.p90, 3),
                f(d.p99, 3),
                f(d.max, 3)
            ]);
        }
        let a = Dist::of(&g.sequential.added_ms);
        rows.push(row![
            format!("**added by {short}**"),
            format!("**{:.3}**", a.p50),
            f(a.p90, 3),
            format!("**{:.3}**", a.p99),
            f(a.max, 3)
        ]);
    }
    s.table(&["ms", "p50", "p90", "p99", "max"], rows);
    let notes: Vec<String> = [sv, ll]
        .iter()
        .filter(|g| g.sequential.n > 0)
        .map(|g| {
            format!(
                "{}: {} failed or wrong answers, {}",
                g.name,
                g.sequential.mismatches,
                contention(g.sequential.other_cores, r.nproc)
            )
        })
        .collect();
    if !notes.is_empty() {
        s.p(format!("{}.", notes.join("; ")));
    }
    if let Some(x) = r.speedup() {
        s.p(format!(
            "`serve` completed {} LiteLLM's streams per second here. LiteLLM runs as one Python process (one uvicorn worker, \
             as in the issue), so it can use at most one core ({:.2} measured); `serve` is one process with a thread per core. \
             The client, the gateway and the endpoint share the machine's {} cores.",
            times(x),
            ll.spread(GatewayRun::gateway_cores).median,
            r.nproc
        ));
    }
    let problems = [sv, ll].into_iter().flat_map(|g| {
        g.runs.iter().flat_map(move |run| {
            run.load
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
    let p50 = |v: &[f64]| {
        let p = Dist::of(v).p50;
        Spread {
            median: p,
            min: p,
            max: p,
            n: 1,
        }
    };
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
                g.spread(|x| mib(x.hwm_kib as f64))
            }),
            panel("spawn → ready", "ms", &|g| g.spread(|x| x.ready_ms)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::gateways::GatewaysConfig;
    use std::time::Duration;

    #[test]
    fn says_skipped_and_renders_the_goal() {
        let mut serve = GatewayResult {
            name: "bedrock-stream serve".into(),
            version: "bedrock-stream 0.1.0".into(),
            ..Default::default()
        };
        serve.runs.push(GatewayRun {
            load: LoadReport {
                ok: 1000,
                started: 1000,
                chunks_ok: 20000,
                elapsed: Duration::from_millis(500),
                ..Default::default()
            },
            ..Default::default()
        });
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
        assert!(md.starts_with("## Gateways: serve vs LiteLLM"), "{md}");
        assert!(md.contains("skipped: not installed"), "{md}");
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
