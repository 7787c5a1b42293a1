//! The sections about `serve` itself (throughput under load with faults, added latency with the
//! TTFB plot, start and memory), their goals, and the two tables the gateway comparison shares:
//! a gateway under load ([`load_table`]) and first content against a direct call
//! ([`paired_rows`]).

use super::md::{compare, contention, f, met, mib, Md};
use super::plot::{self, Series};
use crate::scenario::load::{spread, LoadRun};
use crate::scenario::serve::ServeReport;
use crate::scenario::Paired;
use crate::stats::{Dist, Spread};

type Metric = (&'static str, usize, bool, fn(&LoadRun) -> f64);

/// A gateway under load, per run: name, decimals, compared across gateways, value.
const METRICS: [Metric; 13] = [
    (
        "**completed streams/s** (ok + documented errors)",
        1,
        true,
        |r| r.load.per_sec(r.load.ok + r.load.documented_errors()),
    ),
    ("chunks/s (engine chunks of ok streams)", 0, true, |r| {
        r.load.per_sec(r.load.chunks_ok)
    }),
    ("first byte (content) p50, ms", 2, true, |r| {
        Dist::of(&r.load.ttfb_ms).p50
    }),
    ("first byte (content) p99, ms", 2, true, |r| {
        Dist::of(&r.load.ttfb_ms).p99
    }),
    ("whole stream p50, ms", 1, true, |r| {
        Dist::of(&r.load.total_ms).p50
    }),
    ("CPU per stream in the gateway, µs", 0, true, |r| {
        r.cpu_us(0)
    }),
    ("CPU per stream in the endpoint, µs", 0, false, |r| {
        r.cpu_us(1)
    }),
    ("CPU per stream in the bench client, µs", 0, false, |r| {
        r.cpu_us(2)
    }),
    ("cores the gateway used", 2, false, |r| r.usage.cores(0)),
    ("cores other processes kept busy", 2, false, |r| {
        r.usage.others()
    }),
    ("ready after spawn, ms", 1, true, |r| r.ready_ms),
    ("RSS when ready, MiB", 1, true, |r| mib(r.ready_kib as f64)),
    ("**peak RSS (VmHWM) under load**, MiB", 1, true, |r| {
        mib(r.peak_kib as f64)
    }),
];

/// The metrics of gateways under load, a column per gateway (median [min–max] over its runs),
/// with "first vs second" when there are two and both ran.
pub fn load_table(s: &mut Md, columns: &[(&str, &[LoadRun])]) {
    let both = columns.len() == 2 && columns.iter().all(|(_, r)| !r.is_empty());
    let mut head = vec!["median [min–max] over runs"];
    head.extend(columns.iter().map(|(name, _)| *name));
    let vs = columns
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(" vs ");
    if both {
        head.push(&vs);
    }
    let rows = METRICS.iter().map(|(name, digits, ratio, m)| {
        let cells: Vec<Spread> = columns.iter().map(|(_, runs)| spread(runs, m)).collect();
        let mut row = vec![name.to_string()];
        row.extend(cells.iter().map(|c| {
            if c.n == 0 {
                "–".into()
            } else {
                c.fmt(*digits)
            }
        }));
        if both {
            row.push(if *ratio {
                compare(cells[0].median, cells[1].median)
            } else {
                String::new()
            });
        }
        row
    });
    s.table(&head, rows);
}

/// `name`, then p50, p90, p99 and max of `v`.
pub fn dist_row(name: &str, v: &[f64]) -> Vec<String> {
    let d = Dist::of(v);
    row![name, f(d.p50, 3), f(d.p90, 3), f(d.p99, 3), f(d.max, 3)]
}

/// Direct, through and added rows (p50, p90, p99, max) of `p`, named after `through`.
pub fn paired_rows(through: &str, p: &Paired) -> Vec<Vec<String>> {
    let mut added = dist_row(&format!("**added by {through}**"), &p.added_ms);
    added[1] = format!("**{}**", added[1]);
    added[3] = format!("**{}**", added[3]);
    vec![
        dist_row(
            &format!("direct (SDK → endpoint), beside {through}"),
            &p.direct_ms,
        ),
        dist_row(&format!("through {through}"), &p.through_ms),
        added,
    ]
}

/// The goal rows of throughput, memory, added latency, forwarding, readiness and losses.
pub fn goals(r: &ServeReport, quick: bool, nproc: usize) -> Vec<Vec<String>> {
    let completed = spread(&r.loads, METRICS[0].3);
    let others = spread(&r.loads, |x| x.usage.others());
    let l = &r.config.load;
    let (added, fwd, ready) = (
        Dist::of(&r.first_byte.added_ms),
        Dist::of(&r.forward_ms),
        Dist::of(&r.ready_ms),
    );
    let forwarded = match (fwd.max <= 1.0, fwd.p99 <= 1.0) {
        (true, _) => met(true),
        (false, true) => "**met at p99**, not for every chunk",
        _ => met(false),
    };
    let lost = r.failures();
    let mut rows = vec![row![
        "≥ 1,000 completed streams/s of 20 chunks at 1,000 concurrent",
        format!(
            "{} streams/s ({} streams at {} concurrent, median [min–max] of {} runs)",
            completed.fmt(0),
            l.streams,
            l.concurrency,
            completed.n
        ),
        if quick {
            "n/a (quick run)"
        } else {
            met(completed.median >= 1000.0)
        },
        format!(
            "client, serve and endpoint on the same cores; {}",
            contention(others.median, nproc)
        )
    ]];
    if let Some(m) = r.memory.iter().find(|m| m.load.concurrency == 100) {
        let peak = mib(m.peak_kib as f64);
        rows.push(row![
            "`serve` ≤ 24 MiB RSS at 100 concurrent streams",
            format!("{peak:.1} MiB peak (VmHWM)"),
            met(peak <= 24.0),
            ""
        ]);
    }
    rows.extend([
        row![
            "added first byte ≤ 0.3 ms p50, ≤ 2 ms p99",
            format!(
                "p50 {:.3} ms, p99 {:.3} ms ({} paired requests)",
                added.p50, added.p99, added.n
            ),
            met(added.p50 <= 0.3 && added.p99 <= 2.0),
            contention(r.first_byte.other_cores, nproc)
        ],
        row![
            "each chunk forwarded within 1 ms",
            format!(
                "p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} chunks)",
                fwd.p50, fwd.p99, fwd.max, fwd.n
            ),
            forwarded,
            contention(r.chunk_other_cores, nproc)
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
pub fn throughput(s: &mut Md, r: &ServeReport, nproc: usize) {
    let (c, l) = (&r.config, &r.config.load);
    s.h2("Throughput under load, with faults").p(format!(
        "`bench load --streams {} --concurrency {} --faults-every {} --chunks {} --chunk-delay-ms {} --runs {}`: seed-contract \
         streams through `serve` (`RUST_LOG={}`, `AWS_MAX_ATTEMPTS=1`), a fault queued at the endpoint before every {}th, every \
         answer checked byte for byte ([how](docs/benchmarks.md#serve-throughput-under-load-with-faults)).",
        l.streams, l.concurrency, l.faults_every, l.words, c.load_delay_ms, r.loads.len(), c.serve.rust_log, l.faults_every
    ));
    load_table(s, &[("`serve`", &r.loads)]);
    let (ours, all) = (
        spread(&r.loads, |x| x.cpu_us(0)).median,
        spread(&r.loads, |x| x.cpu_us(0) + x.cpu_us(1) + x.cpu_us(2)).median,
    );
    if ours > 0.0 && all > 0.0 {
        s.p(format!(
            "The client, `serve` and the endpoint share the {nproc} cores. Together they need {all:.0} µs of CPU per stream, so \
             {nproc} cores free for them would carry about {:.0} streams/s (a projection from the measured CPU cost); `serve`'s \
             own {ours:.0} µs per stream puts its ceiling alone at about {:.0} streams/s.",
            nproc as f64 * 1e6 / all,
            nproc as f64 * 1e6 / ours,
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
        r.loads.iter().enumerate().map(|(i, x)| {
            let l = &x.load;
            let errs: Vec<String> = l
                .errors
                .iter()
                .map(|(k, v)| format!("{v} × `{k}`"))
                .collect();
            let errs = if errs.is_empty() {
                "0".into()
            } else {
                errs.join(", ")
            };
            let n = |k| l.count(k);
            row![
                i + 1,
                l.streams,
                l.ok,
                errs,
                l.faults_injected,
                n("lost"),
                n("corrupted"),
                n("reordered"),
                n("undocumented"),
                l.not_started()
            ]
        }),
    );
    s.list(
        r.loads
            .iter()
            .flat_map(|x| x.load.problems.iter().map(|p| format!("problem: {p}"))),
    );
}

/// `## Added latency`, with the TTFB plot `image`.
pub fn latency(s: &mut Md, r: &ServeReport, nproc: usize, image: &str) {
    let (c, p) = (&r.config, &r.first_byte);
    s.h2("Added latency").p(format!(
        "First byte: {} sequential pairs after {} warm-up pairs, the same request straight to the endpoint through the Rust \
         SDK and through `serve` (`POST /`). Per chunk: {} streams each way, chunks {} ms apart, a timestamping tap between \
         `serve` and the endpoint ([how](docs/benchmarks.md#serve-added-latency)).",
        c.pairs, c.warmup, c.chunk_streams, c.paced_delay_ms
    ));
    let mut rows = paired_rows("`serve`", p);
    rows.push(dist_row("**forwarding delay in serve**", &r.forward_ms));
    rows.push(dist_row("gap between chunks, direct", &r.direct_gap_ms));
    rows.push(dist_row(
        "gap between chunks, through serve",
        &r.serve_gap_ms,
    ));
    s.table(&["ms", "p50", "p90", "p99", "max"], rows).p(format!(
        "Wrong answers: {}. Other processes kept {:.2} of the {nproc} cores busy during the first-byte runs and {:.2} during \
         the per-chunk runs.",
        p.mismatches + r.chunk_mismatches,
        p.other_cores,
        r.chunk_other_cores
    ))
    .p(image);
}

/// `## Startup and memory of serve`.
pub fn startup(s: &mut Md, r: &ServeReport) {
    let (ready, rss) = (
        Spread::of(&r.ready_ms),
        Spread::of(&r.ready_kib.iter().map(|k| mib(*k)).collect::<Vec<_>>()),
    );
    s.h2("Startup and memory of `serve`").p(format!(
        "Spawn → first `200` from `GET /healthz`, {} fresh processes: **{} ms**; RSS when ready {} MiB. Memory: a fresh `serve` \
         per level, all its streams in flight at once ([how](docs/benchmarks.md#serve-start-and-memory)).",
        ready.n,
        ready.fmt(1),
        rss.fmt(1)
    ))
        .table(
            &["concurrent streams", "RSS when ready, MiB", "peak RSS (VmHWM), MiB", "streams ok / sent"],
            r.memory.iter().map(|m| {
                let l = &m.load;
                row![l.concurrency, f(mib(m.ready_kib as f64), 1), format!("**{}**", f(mib(m.peak_kib as f64), 1)), format!("{} / {}", l.ok, l.streams)]
            }),
        );
}

/// The TTFB plot: direct, through serve, and through serve under load, cumulative.
pub fn ttfb_plot(r: &ServeReport) -> anyhow::Result<String> {
    let load: Vec<f64> = r
        .loads
        .iter()
        .flat_map(|l| l.load.ttfb_ms.iter().copied())
        .collect();
    let under = format!(
        "through serve under load ({} concurrent)",
        r.config.load.concurrency
    );
    plot::cdf(
        "Time to first byte (cumulative)",
        "time to first byte, ms (log scale)",
        &[
            Series {
                name: "direct to local Bedrock (SDK), sequential",
                color: 2,
                values: &r.first_byte.direct_ms,
            },
            Series {
                name: "through serve, sequential",
                color: 0,
                values: &r.first_byte.through_ms,
            },
            Series {
                name: &under,
                color: 1,
                values: &load,
            },
        ],
    )
}
