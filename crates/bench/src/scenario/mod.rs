//! The scenarios: each measures one thing and returns a plain, serde-able report that carries
//! its own configuration, so the renderer needs nothing else. They start what they need through
//! [`crate::harness`] and never render.

pub mod all;
pub mod cases;
pub mod coldstart;
pub mod gateways;
pub mod load;
pub mod model;
pub mod serve;
pub mod sizes;
pub mod sse;

use std::time::Duration;

use crate::harness::system::Window;
use crate::stats::ms;
use load::{Ending, Stream};

/// How big a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Size {
    /// CI: checks that everything runs and results are sane, in well under a minute.
    Quick,
    /// The numbers for BENCHMARKS.md.
    Full,
}

impl Size {
    /// `quick` in a quick run, else `full`.
    pub fn pick<T>(self, quick: T, full: T) -> T {
        match self {
            Size::Quick => quick,
            Size::Full => full,
        }
    }
}

/// First content straight from the endpoint and through a gateway, request by request (ms).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Paired {
    /// The SDK's first text chunk from the endpoint.
    pub direct_ms: Vec<f64>,
    /// The first body frame holding content, through the gateway.
    pub through_ms: Vec<f64>,
    /// Through minus direct, pair by pair.
    pub added_ms: Vec<f64>,
    /// Pairs where either answer failed or was not the expected text.
    pub mismatches: usize,
    /// Cores other processes kept busy meanwhile.
    pub other_cores: f64,
}

/// `n` sequential pairs after `warmup` unmeasured ones: question `i` asked `direct`ly (the time
/// to its first text, `None` when wrong) and `through` a gateway, alternating which goes first so
/// neither always finds the machine warmer. `pids` are ours (their CPU is not "other").
pub async fn paired(
    n: usize,
    warmup: usize,
    pids: &[u32],
    direct: impl AsyncFn(usize) -> Option<Duration>,
    through: impl AsyncFn(usize) -> Stream,
) -> Paired {
    for i in 0..warmup {
        direct(i).await;
        through(i).await;
    }
    let (mut p, window) = (Paired::default(), Window::open(pids));
    for i in warmup..warmup + n {
        let (d, t) = if i % 2 == 0 {
            (direct(i).await, through(i).await)
        } else {
            let t = through(i).await;
            (direct(i).await, t)
        };
        match (d, t.first.filter(|_| t.ending == Ending::Ok)) {
            (Some(d), Some(t)) => {
                p.direct_ms.push(ms(d));
                p.through_ms.push(ms(t));
                p.added_ms.push(ms(t) - ms(d));
            }
            _ => p.mismatches += 1,
        }
    }
    p.other_cores = window.close().others();
    p
}
