//! What the endpoint has done: generations started, finished, failed and cancelled (the client
//! left first), with the time of the last cancellation, so tests can measure how fast an
//! abandoned call is dropped. Served at `GET /_emulator/stats`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

#[derive(Debug, Default)]
pub struct Activity {
    started: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    last_cancelled_unix_micros: AtomicU64,
}

/// A snapshot of [`Activity`].
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ActivitySnapshot {
    pub started: u64,
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub in_flight: u64,
    /// Microseconds since the Unix epoch of the last cancellation, 0 if none.
    pub last_cancelled_unix_micros: u64,
}

pub(crate) fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Activity {
    pub fn snapshot(&self) -> ActivitySnapshot {
        let started = self.started.load(Ordering::SeqCst);
        let completed = self.completed.load(Ordering::SeqCst);
        let failed = self.failed.load(Ordering::SeqCst);
        let cancelled = self.cancelled.load(Ordering::SeqCst);
        ActivitySnapshot {
            started,
            completed,
            failed,
            cancelled,
            in_flight: started.saturating_sub(completed + failed + cancelled),
            last_cancelled_unix_micros: self.last_cancelled_unix_micros.load(Ordering::SeqCst),
        }
    }

    /// Starts tracking one generation; the guard records how it ended.
    pub(crate) fn begin(self: &Arc<Self>) -> GenerationGuard {
        self.started.fetch_add(1, Ordering::SeqCst);
        GenerationGuard {
            activity: Arc::clone(self),
            outcome: None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    Completed,
    Failed,
}

/// Held for as long as a generation is being served. Dropped without an outcome means the
/// client went away first: that is a cancellation.
#[derive(Debug)]
pub(crate) struct GenerationGuard {
    activity: Arc<Activity>,
    outcome: Option<Outcome>,
}

impl GenerationGuard {
    pub(crate) fn finish(&mut self, outcome: Outcome) {
        self.outcome.get_or_insert(outcome);
    }
}

impl Drop for GenerationGuard {
    fn drop(&mut self) {
        let a = &self.activity;
        match self.outcome {
            Some(Outcome::Completed) => a.completed.fetch_add(1, Ordering::SeqCst),
            Some(Outcome::Failed) => a.failed.fetch_add(1, Ordering::SeqCst),
            None => {
                a.last_cancelled_unix_micros
                    .store(unix_micros(), Ordering::SeqCst);
                a.cancelled.fetch_add(1, Ordering::SeqCst)
            }
        };
    }
}
