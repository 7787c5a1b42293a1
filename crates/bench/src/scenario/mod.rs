//! The scenarios: each measures one thing and returns a plain, serde-able report that carries
//! its own configuration, so the renderer needs nothing else. They start what they need through
//! [`crate::harness`] and never render.

pub mod all;
pub mod cases;
pub mod coldstart;
pub mod gateways;
pub mod latency;
pub mod load;
pub mod model;
pub mod sizes;
pub mod sse;
pub mod startup;
pub mod throughput;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// A closed loop: `concurrency` workers each run `one(i)` for the next `i` in `0..n` until
/// they run out or `budget` has passed (no new call starts after it; calls in flight finish).
/// Returns every result, in no particular order.
pub async fn closed_loop<R, F, Fut>(
    n: usize,
    concurrency: usize,
    budget: Duration,
    one: F,
) -> anyhow::Result<Vec<R>>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send,
    R: Send + 'static,
{
    let (one, next, deadline) = (
        Arc::new(one),
        Arc::new(AtomicUsize::new(0)),
        Instant::now() + budget,
    );
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (one, next) = (Arc::clone(&one), Arc::clone(&next));
            tokio::spawn(async move {
                let mut out = Vec::new();
                while Instant::now() < deadline {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    out.push(one(i).await);
                }
                out
            })
        })
        .collect();
    let mut all = Vec::with_capacity(n);
    for w in workers {
        all.extend(w.await?);
    }
    Ok(all)
}

/// Keeps the first few problems of a run, described.
pub fn note(problems: &mut Vec<String>, problem: String) {
    if problems.len() < 5 {
        problems.push(problem);
    }
}
