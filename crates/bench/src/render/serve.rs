//! The sections about `serve` itself: its goals, throughput under load with faults, added
//! latency (with the TTFB plot), startup and memory.

use super::md::{contention, f, met, mib, Md};
use super::plot::{self, Series};
use crate::scenario::all::AllResults;
use crate::scenario::latency::LatencyReport;
use crate::scenario::startup::StartupReport;
use crate::scenario::throughput::ThroughputReport;
use crate::stats::{Dist, Spread};

/// p50 of each of `batches` equal slices: the spread of a median over time.
fn batched_p50(values: &[f64], batches: usize) -> Spread {
    if values.is_empty() || batches == 0 {
        return Spread::of(&[]);
    }
    let p50s: Vec<f64> = values
        .chunks(values.len().div_ceil(batches))
        .map(|c| Dist::of(c).p50)
        .collect();
    Spread {
        median: Dist::of(values).p50,
        ..Spread::of(&p50s)
    }
}

/// The goal rows of throughput, memory, added latency, forwarding, readiness and losses.
pub fn goals(res: &AllResults) -> Vec<Vec<String>> {
    let nproc = res.machine.nproc;
    let cps = Spread::of(
        &res.loads
            .iter()
            .map(|l| l.load.completed_per_sec())
            .collect::<Vec<_>>(),
    );
    let others = Spread::of(
        &res.loads
            .iter()
            .map(ThroughputReport::other_cores)
            .collect::<Vec<_>>(),
    );
    let first = res.loads.first().map(|l| &l.load);
    let (conc, streams) = first.map_or((0, 0), |l| (l.concurrency, l.streams));
    let (added, fwd) = (
        Dist::of(&res.latency.added_ttfb_ms),
        Dist::of(&res.latency.forward_ms),
    );
    let ready = Dist::of(&res.startup.ready_ms);
    let lost = res.lost_or_corrupted();
    let mut rows = vec![row![
        "≥ 1,000 completed streams/s of 20 chunks at 1,000 concurrent",
        format!(
            "{} streams/s ({streams} streams at {conc} concurrent, median [min–max] of {} runs)",
            cps.fmt(0),
            cps.n
        ),
        if conc >= 1000 {
            met(cps.median >= 1000.0)
        } else {
            "n/a (quick run)"
        },
        format!(
            "client, serve and endpoint on the same cores; {}",
            contention(others.median, nproc)
        )
    ]];
    if let Some(l) = res.startup.memory.iter().find(|l| l.concurrency == 100) {
        let peak = mib(l.hwm_kib as f64);
        rows.push(row![
            "`serve` ≤ 24 MiB RSS at 100 concurrent streams",
            format!("{peak:.1} MiB peak (VmHWM)"),
            met(peak <= 24.0),
            ""
        ]);
    }
    let forwarded = match (fwd.max <= 1.0, fwd.p99 <= 1.0) {
        (true, _) => met(true),
        (false, true) => "**met at p99**, not for every chunk",
        _ => met(false),
    };
    rows.extend([
        row![
            "added first byte ≤ 0.3 ms p50, ≤ 2 ms p99",
            format!(
                "p50 {:.3} ms, p99 {:.3} ms ({} paired requests)",
                added.p50, added.p99, added.n
            ),
            met(added.p50 <= 0.3 && added.p99 <= 2.0),
            contention(res.latency.other_cores, nproc)
        ],
        row![
            "each chunk forwarded within 1 ms",
            format!(
                "p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} chunks)",
                fwd.p50, fwd.p99, fwd.max, fwd.n
            ),
            forwarded,
            contention(res.latency.other_cores_chunks, nproc)
        ],
        row![
            "`serve` ready < 50 ms after start",
            format!(
                "p50 {:.1} ms, max {:.1} ms ({} starts)",
                ready.p50, ready.max, ready.n
            ),
            met(ready.max < 50.0),
            ""
        ],
        row![
            "0 lost, corrupted or reordered streams under load with faults",
            lost,
            met(lost == 0),
            "every stream of every run here, memory runs included"
        ],
    ]);
    rows
}

/// `## Throughput under load, with faults`.
pub fn throughput(s: &mut Md, loads: &[ThroughputReport], nproc: usize) {
    s.h2("Throughput under load, with faults");
    let Some(first) = loads.first() else { return };
    let (c, l) = (&first.config, &first.load);
    let (every, words, delay) = (c.load.faults_every, c.load.words, c.chunk_delay_ms);
    s.p(format!(
        "`bench load --streams {} --concurrency {} --faults-every {every} --chunks {words} --chunk-delay-ms {delay}`, {} run(s), \
         each with fresh processes: `POST /` (the seed contract, Claude v2 text completions), a different prompt per stream, \
         each answer {words} chunks of one token with {delay} ms between chunks at the engine. Before every {every}th stream a \
         fault is queued at the endpoint (throttle, midstream after 3 chunks, internal, in turn); serve runs with \
         `AWS_MAX_ATTEMPTS=1` so each fault fails exactly one stream instead of being retried away, and `RUST_LOG={}` (one log \
         line per request). Every 200 answer is compared byte for byte with the scripted engine's text for its prompt; every \
         failure must be the documented JSON error before the stream or the `[bedrock-stream error]` final line after it.",
        l.streams,
        l.concurrency,
        loads.len(),
        c.serve.rust_log,
    ));
    let spread =
        |f: &dyn Fn(&ThroughputReport) -> f64| Spread::of(&loads.iter().map(f).collect::<Vec<_>>());
    type Metric<'a> = (&'a str, &'a dyn Fn(&ThroughputReport) -> f64, usize);
    let metrics: [Metric; 15] = [
        (
            "completed streams/s (ok + documented errors)",
            &|l| l.load.completed_per_sec(),
            0,
        ),
        ("successful streams/s", &|l| l.load.ok_per_sec(), 0),
        (
            "chunks/s (engine chunks in successful streams)",
            &|l| l.load.chunks_per_sec(),
            0,
        ),
        (
            "time to first byte p50, ms",
            &|l| Dist::of(&l.load.ttfb_ms).p50,
            2,
        ),
        (
            "time to first byte p99, ms",
            &|l| Dist::of(&l.load.ttfb_ms).p99,
            2,
        ),
        (
            "whole stream p50, ms",
            &|l| Dist::of(&l.load.total_ms).p50,
            1,
        ),
        (
            "whole stream p99, ms",
            &|l| Dist::of(&l.load.total_ms).p99,
            1,
        ),
        (
            "cores used by client + serve + endpoint",
            &|l| l.bench_cores(),
            2,
        ),
        (
            "cores used by other processes on the machine",
            &|l| l.other_cores(),
            2,
        ),
        (
            "CPU per stream in serve, µs",
            &|l| l.cpu_us_per_stream().0,
            0,
        ),
        (
            "CPU per stream in local-bedrock, µs",
            &|l| l.cpu_us_per_stream().1,
            0,
        ),
        (
            "CPU per stream in the bench client, µs",
            &|l| l.cpu_us_per_stream().2,
            0,
        ),
        (
            "serve peak RSS (VmHWM), MiB",
            &|l| mib(l.rss.hwm_kib as f64),
            1,
        ),
        ("serve RSS when idle, MiB", &|l| mib(l.idle_kib as f64), 1),
        ("wall time, s", &|l| l.load.elapsed.as_secs_f64(), 2),
    ];
    s.table(
        &["metric", "median [min–max] over runs"],
        metrics
            .iter()
            .map(|(name, f, digits)| row![name, spread(f).fmt(*digits)]),
    );
    let serve_us = spread(&|l| l.cpu_us_per_stream().0).median;
    let all_us = spread(&|l| {
        let (a, b, c) = l.cpu_us_per_stream();
        a + b + c
    })
    .median;
    let n = nproc;
    if serve_us.is_finite() && serve_us > 0.0 && all_us.is_finite() && all_us > 0.0 {
        s.p(format!(
            "The client, `serve` and the endpoint run on the same {n} cores, so the rate above is the rate of the three \
             together, with whatever else the machine was running. Together they need {all_us:.0} µs of CPU per stream, so {n} \
             cores free for them would carry about {:.0} streams/s (a projection from the measured CPU cost, not a \
             measurement); `serve`'s own {serve_us:.0} µs per stream puts its ceiling alone at about {:.0} streams/s.",
            n as f64 * 1e6 / all_us,
            n as f64 * 1e6 / serve_us,
        ));
    }
    let head = [
        "run",
        "streams",
        "ok",
        "documented errors",
        "faults injected",
        "lost",
        "corrupted",
        "reordered",
        "undocumented",
        "not started",
    ];
    s.table(
        &head,
        loads.iter().enumerate().map(|(i, l)| {
            let l = &l.load;
            let errs: Vec<String> = l
                .errors
                .iter()
                .map(|(k, v)| format!("{v} × `{k}`"))
                .collect();
            let errs = if errs.is_empty() {
                "0".to_string()
            } else {
                errs.join(", ")
            };
            row![
                i + 1,
                l.streams,
                l.ok,
                errs,
                l.faults_injected,
                l.count("lost"),
                l.count("corrupted"),
                l.count("reordered"),
                l.count("undocumented"),
                l.not_started()
            ]
        }),
    );
    s.list(
        loads
            .iter()
            .flat_map(|l| l.load.problems.iter().map(|p| format!("problem: {p}"))),
    );
}

fn dist_row(name: &str, v: &[f64]) -> Vec<String> {
    let d = Dist::of(v);
    row![name, f(d.p50, 3), f(d.p90, 3), f(d.p99, 3), f(d.max, 3)]
}

/// `## Added latency`, with the TTFB plot `image`.
pub fn latency(s: &mut Md, lat: &LatencyReport, nproc: usize, image: &str) {
    let c = &lat.config;
    s.h2("Added latency").p(format!(
        "First byte: {} sequential requests each way, alternating, after {} warm-up requests: the same Claude v2 request \
         straight to the endpoint through the Rust SDK (`invoke_model_with_response_stream`, time to the first text chunk) \
         and through `serve` (`POST /`, time to the first body byte). \"Added\" is serve minus direct, request by request; \
         its spread is the p50 of each fifth of the run.",
        c.n, c.warmup
    ));
    let (dd, sd, added) = (
        Dist::of(&lat.direct_ttfb_ms),
        Dist::of(&lat.serve_ttfb_ms),
        Dist::of(&lat.added_ttfb_ms),
    );
    let head = ["", "p50", "p90", "p99", "max"];
    s.table(
        &head,
        [
            dist_row("direct, ms", &lat.direct_ttfb_ms),
            dist_row("through serve, ms", &lat.serve_ttfb_ms),
            dist_row("whole stream direct, ms", &lat.direct_total_ms),
            dist_row("whole stream through serve, ms", &lat.serve_total_ms),
            row![
                "serve's percentile minus direct's, ms",
                f(sd.p50 - dd.p50, 3),
                f(sd.p90 - dd.p90, 3),
                f(sd.p99 - dd.p99, 3),
                f(sd.max - dd.max, 3)
            ],
            row![
                "**added by serve**, ms",
                format!("**{}**", batched_p50(&lat.added_ttfb_ms, 5).fmt(3)),
                f(added.p90, 3),
                format!("**{:.3}**", added.p99),
                f(added.max, 3)
            ],
        ],
    );
    s.p(format!(
        "Per chunk: the engine paces chunks {} ms apart; {} streams each way. A timestamping TCP tap sits between serve and \
         the endpoint (same process and clock as the client), so each body frame's arrival at the client minus the latest \
         endpoint read at the tap is the time serve took to forward that chunk (tap overhead included). Gaps are the times \
         between successive chunks at the client.",
        c.chunk_delay_ms, c.chunk_streams
    ));
    s.table(
        &head,
        [
            dist_row("**forwarding delay in serve**, ms", &lat.forward_ms),
            dist_row("gap between chunks, direct, ms", &lat.direct_gap_ms),
            dist_row("gap between chunks, through serve, ms", &lat.serve_gap_ms),
        ],
    );
    s.p(format!(
        "Answers whose text differed from the expected one: {}. Other processes on the machine kept {:.2} of the {} cores \
         busy during the first-byte runs and {:.2} during the per-chunk runs; a request or chunk preempted by them shows up \
         in the tails of both paths.",
        lat.mismatches,
        lat.other_cores,
        nproc,
        lat.other_cores_chunks
    ))
    .p(image);
}

/// `## Startup and memory of serve`.
pub fn startup(s: &mut Md, st: &StartupReport) {
    let c = &st.config;
    let (rs, rr) = (
        Spread::of(&st.ready_ms),
        Spread::of(&st.ready_rss_kib.iter().map(|k| mib(*k)).collect::<Vec<_>>()),
    );
    s.h2("Startup and memory of `serve`")
        .p(format!(
            "Ready: spawn of `bedrock-stream serve --bedrock URL` → first `200` from `GET /healthz` (polled every 0.25 ms), {} \
             fresh processes: **{} ms** median [min–max]; RSS when ready {} MiB.",
            rs.n,
            rs.fmt(1),
            rr.fmt(1)
        ))
        .p(format!(
            "Memory: a fresh `serve` per level, streams held open by the engine's {} ms pacing ({} chunks, ~{:.1} s a stream) \
             so that the level's streams are all in flight at once; two rounds of streams per level (5 sequential streams at \
             1). VmHWM is the kernel's peak; \"sampled\" is the largest VmRSS read every 10 ms.",
            c.chunk_delay_ms,
            c.words,
            f64::from(c.words) * c.chunk_delay_ms as f64 / 1000.0
        ))
        .table(
            &["concurrent streams", "idle RSS, MiB", "peak sampled RSS, MiB", "peak RSS (VmHWM), MiB", "streams ok / sent"],
            st.memory.iter().map(|l| {
                let m = |kib: u64| f(mib(kib as f64), 1);
                row![l.concurrency, m(l.idle_kib), m(l.max_sampled_kib), format!("**{}**", m(l.hwm_kib)), format!("{} / {}", l.load.ok, l.load.streams)]
            }),
        );
}

/// The TTFB plot: direct, through serve, and through serve under load, cumulative.
pub fn ttfb_plot(res: &AllResults) -> anyhow::Result<String> {
    let load: Vec<f64> = res
        .loads
        .iter()
        .flat_map(|l| l.load.ttfb_ms.iter().copied())
        .collect();
    let conc = res.loads.first().map_or(0, |l| l.load.concurrency);
    plot::cdf(
        "Time to first byte (cumulative)",
        "time to first byte, ms (log scale)",
        &[
            Series::new(
                "direct to local Bedrock (SDK), sequential",
                2,
                &res.latency.direct_ttfb_ms,
            ),
            Series::new("through serve, sequential", 0, &res.latency.serve_ttfb_ms),
            Series::new(
                &format!("through serve under load ({conc} concurrent)"),
                1,
                &load,
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_median_over_time() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        let b = batched_p50(&v, 5);
        assert_eq!((b.min, b.max, b.n, b.median), (1.0, 9.0, 5, 5.0));
    }
}
