//! `## Cold start and memory of the Lambda function`, its goals and its plot.

use super::md::{met, Md};
use super::plot::{self, Bar, Panel};
use crate::scenario::coldstart::{warm_p50, ColdStartReport, Runtime, RuntimeResult};
use crate::stats::{Dist, Spread};

/// The goal rows: cold start against Node.js, the Lambda binary's peak memory.
pub fn goals(r: &ColdStartReport) -> Vec<Vec<String>> {
    let mut rows = vec![match (r.get(Runtime::Rust), r.get(Runtime::Node), r.speedup_vs(Runtime::Node)) {
        (Some(ours), Some(node), Some(x)) => row![
            "cold start (process start → first streamed byte) ≥ 15× faster than the seed's Node.js handler",
            format!("{x:.1}× ({} ms vs {} ms)", ours.first_byte().fmt(1), node.first_byte().fmt(1)),
            met(x >= 15.0),
            "Runtime API emulator on loopback; median [min–max] of fresh processes"
        ],
        _ => row![
            "cold start ≥ 15× faster than the seed's Node.js handler",
            "not measured (a runtime did not run; see Cold start)",
            met(false),
            ""
        ],
    }];
    if let Some(ours) = r.get(Runtime::Rust) {
        let peak = ours.hwm_mib();
        rows.push(row![
            "Lambda binary peak RSS ≤ 16 MiB for one stream",
            format!(
                "{} MiB (VmHWM after the cold and {} warm invocations)",
                peak.fmt(1),
                r.config.warm
            ),
            met(peak.max <= 16.0),
            ""
        ]);
    }
    rows
}

/// The section.
pub fn markdown(r: &ColdStartReport) -> String {
    let c = &r.config;
    let mut s = Md::default();
    s.h2("Cold start and memory of the Lambda function").p(format!(
        "`bench coldstart`: each function a fresh process under the Lambda Runtime API emulator (`crates/lambda-emulator`), \
         handed one function-URL event with the seed request ({} tokens, one per chunk); cold first byte is spawn → the \
         answer's first body byte, init is spawn → its first `next`; then {} warm invocations; {} processes per runtime, \
         alternating ([how](docs/benchmarks.md#lambda-cold-start)). Load average {} before, {} after.",
        c.words, c.warm, c.starts, r.load_before, r.load_after
    ));
    let head = [
        "function",
        "cold first byte, ms",
        "init, ms",
        "cold answer complete, ms",
        "warm first byte, ms",
        "peak RSS (VmHWM), MiB",
        "body frames (cold)",
        "wrong answers",
    ];
    s.table(
        &head,
        r.runtimes.iter().map(|rt| match &rt.skipped {
            Some(why) => row![
                rt.runtime.label(),
                format!("skipped: {}", why.lines().next().unwrap_or_default()),
                "",
                "",
                "",
                "",
                "",
                ""
            ],
            None => row![
                rt.runtime.label(),
                format!("**{}**", rt.first_byte().fmt(1)),
                rt.spread(|s| s.init_ms).fmt(1),
                rt.spread(|s| s.complete_ms).fmt(1),
                Spread::of(&rt.warm_first_bytes()).fmt(2),
                format!("**{}**", rt.hwm_mib().fmt(1)),
                rt.spread(|s| s.frames as f64).fmt(0),
                rt.bad_answers()
            ],
        }),
    );
    for (label, rt) in [("Node.js", Runtime::Node), ("Python", Runtime::Python)] {
        if let Some(x) = r.speedup_vs(rt) {
            s.p(format!("Cold first byte: `bedrock-stream-lambda` is **{x:.1}×** faster than the {label} function (medians)."));
        }
    }
    if let Some(ours) = r.get(Runtime::Rust) {
        let (warm, direct) = (warm_p50(ours), Dist::of(&r.direct_first_byte_ms).p50);
        s.p(format!(
            "Added by the Lambda binary on a warm invocation: first byte p50 {warm:.2} ms through the emulator vs p50 \
             {direct:.2} ms for the same request straight to the endpoint through the Rust SDK, so {:.2} ms added (the \
             emulator's own HTTP hops included).",
            warm - direct
        ));
    }
    s.p("What ran:").list(
        r.runtimes
            .iter()
            .filter(|rt| rt.skipped.is_none())
            .map(|rt| format!("{}: {}", rt.runtime.label(), rt.what)),
    );
    s.0
}

/// First byte and peak RSS per runtime.
pub fn plot(r: &ColdStartReport) -> anyhow::Result<String> {
    let panel = |title: &str, unit: &str, f: &dyn Fn(&RuntimeResult) -> Spread| Panel {
        title: title.into(),
        unit: unit.into(),
        bars: r
            .runtimes
            .iter()
            .enumerate()
            .map(|(i, rt)| Bar::of(rt.runtime.label(), i, rt.ran(), f(rt)))
            .collect(),
    };
    plot::bars(
        "Lambda function: cold start and memory (median, min–max whisker)",
        &[
            panel("process start → first streamed byte", "ms", &|rt| {
                rt.first_byte()
            }),
            panel("peak RSS (VmHWM)", "MiB", &|rt| rt.hwm_mib()),
        ],
    )
}
