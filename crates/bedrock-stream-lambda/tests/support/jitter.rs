//! How late this machine runs a thread that asked to wake up, measured while a test runs: the
//! baseline that timing bounds are relative to. On a quiet machine a 1 ms sleep overshoots by
//! tens of microseconds; on a busy shared 2-core CI box, by milliseconds, sometimes tens. A
//! delay that Nagle's algorithm or a merged write causes is a TCP delay, invisible here, so
//! widening a bound by the measured lateness cannot hide the defect the bound is there for.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Probe {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<f64>>,
}

/// Overshoots of 1 ms sleeps, in ms.
#[derive(Debug, Clone, Copy)]
pub struct Lateness {
    pub samples: usize,
    pub median: f64,
    pub p99: f64,
    pub max: f64,
}

impl Probe {
    pub fn start() -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut out = Vec::new();
            // Bounded: at most 60 s of samples.
            let until = Instant::now() + Duration::from_secs(60);
            while !flag.load(Ordering::Relaxed) && Instant::now() < until {
                let t = Instant::now();
                std::thread::sleep(Duration::from_millis(1));
                out.push((t.elapsed().as_secs_f64() * 1000.0 - 1.0).max(0.0));
            }
            out
        });
        Probe { stop, thread }
    }

    pub fn finish(self) -> Lateness {
        self.stop.store(true, Ordering::Relaxed);
        let mut v = self.thread.join().unwrap_or_default();
        v.sort_by(|a, b| a.total_cmp(b));
        let at = |q: f64| {
            v.get(((v.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or(0.0)
        };
        Lateness {
            samples: v.len(),
            median: at(0.5),
            p99: at(0.99),
            max: v.last().copied().unwrap_or(0.0),
        }
    }
}
