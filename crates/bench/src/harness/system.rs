//! What Linux says about processes and the machine (`/proc`), and the clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// CPU time (user + system) a process has used, in seconds, from `/proc/PID/stat`
/// (`/proc/self/stat` for `None`). Linux reports it in USER_HZ ticks, 100 a second.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = pid.map_or("/proc/self/stat".to_string(), |p| format!("/proc/{p}/stat"));
    let text = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses; utime and stime
    // are fields 14 and 15 of the line, 12 and 13 after the name.
    let f: Vec<&str> = text
        .get(text.rfind(')')? + 2..)?
        .split_whitespace()
        .collect();
    let ticks = |i: usize| f.get(i)?.parse::<f64>().ok();
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

/// CPU seconds this process has used.
pub fn own_cpu() -> f64 {
    cpu_seconds(None).unwrap_or(f64::NAN)
}

/// A process and its descendants (from `/proc/*/stat`'s parent ids).
pub fn tree(root: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ppid = stat
            .rfind(')')
            .and_then(|i| stat.get(i + 2..))
            .and_then(|rest| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.push((pid, ppid));
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    // Bounded: each pid joins once, and there are finitely many.
    while i < out.len() && out.len() <= parents.len() + 1 {
        let p = out[i];
        for (pid, ppid) in &parents {
            if *ppid == p && !out.contains(pid) {
                out.push(*pid);
            }
        }
        i += 1;
    }
    out
}

/// Summed over the process tree: (VmRSS, VmHWM) in KiB.
pub fn tree_memory(root: u32) -> (u64, u64) {
    tree(root)
        .into_iter()
        .filter_map(Memory::of)
        .fold((0, 0), |(r, h), m| (r + m.rss_kib, h + m.hwm_kib))
}

/// CPU seconds of the process tree.
pub fn tree_cpu(root: u32) -> f64 {
    tree(root)
        .into_iter()
        .filter_map(|p| cpu_seconds(Some(p)))
        .sum()
}

/// The whole machine's CPU counters from `/proc/stat`, in USER_HZ ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MachineCpu {
    /// Ticks not idle (user, nice, system, irq, softirq, steal).
    pub busy: u64,
    /// Ticks the hypervisor gave to someone else.
    pub steal: u64,
}

impl MachineCpu {
    pub fn now() -> MachineCpu {
        let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
            return MachineCpu::default();
        };
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        let get = |i: usize| v.get(i).copied().unwrap_or(0);
        // user nice system idle iowait irq softirq steal
        MachineCpu {
            busy: get(0) + get(1) + get(2) + get(5) + get(6) + get(7),
            steal: get(7),
        }
    }

    /// Cores busy on average between `self` and now, over `seconds`: (busy, steal).
    pub fn cores_since(&self, seconds: f64) -> (f64, f64) {
        let later = MachineCpu::now();
        let s = seconds.max(1e-9) * 100.0;
        (
            later.busy.saturating_sub(self.busy) as f64 / s,
            later.steal.saturating_sub(self.steal) as f64 / s,
        )
    }
}

/// Cores other processes kept busy while some of ours ran: a window opened by [`Window::open`]
/// with a function giving our CPU seconds, closed by [`Window::others`].
pub struct Window<F: Fn() -> f64> {
    machine: MachineCpu,
    ours: F,
    ours0: f64,
    t0: Instant,
}

impl<F: Fn() -> f64> Window<F> {
    pub fn open(ours: F) -> Self {
        Window {
            machine: MachineCpu::now(),
            ours0: ours(),
            ours,
            t0: Instant::now(),
        }
    }

    /// (cores the machine kept busy, cores ours used, other processes' cores).
    pub fn close(&self) -> (f64, f64, f64) {
        let secs = self.t0.elapsed().as_secs_f64();
        let (busy, _) = self.machine.cores_since(secs);
        let ours = ((self.ours)() - self.ours0) / secs.max(1e-9);
        (busy, ours, (busy - ours).max(0.0))
    }

    pub fn others(&self) -> f64 {
        self.close().2
    }

    pub fn seconds(&self) -> f64 {
        self.t0.elapsed().as_secs_f64()
    }
}

/// A process's memory as `/proc/PID/status` tells it, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident now.
    pub rss_kib: u64,
    /// Peak resident ("high water mark") over the process's life.
    pub hwm_kib: u64,
}

impl Memory {
    pub fn of(pid: u32) -> Option<Memory> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| {
            let rest = text.lines().find_map(|l| l.strip_prefix(name))?;
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        };
        Some(Memory {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
        })
    }
}

/// What an [`RssSampler`] saw.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct RssReport {
    /// Largest sampled VmRSS, KiB.
    pub max_sampled_kib: u64,
    /// VmHWM at the end, KiB (the true peak, between samples too).
    pub hwm_kib: u64,
}

/// Samples a process's RSS every `interval` until finished.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    max: Arc<Mutex<u64>>,
    task: tokio::task::JoinHandle<()>,
    pid: u32,
}

impl RssSampler {
    pub fn start(pid: u32, interval: Duration) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let max = Arc::new(Mutex::new(0));
        let (s2, m2) = (Arc::clone(&stop), Arc::clone(&max));
        let task = tokio::spawn(async move {
            // Bounded: one sample per interval for at most an hour.
            let limit = Instant::now() + Duration::from_secs(3600);
            while !s2.load(Ordering::Relaxed) && Instant::now() < limit {
                if let (Some(m), Ok(mut max)) = (Memory::of(pid), m2.lock()) {
                    *max = (*max).max(m.rss_kib);
                }
                tokio::time::sleep(interval).await;
            }
        });
        RssSampler {
            stop,
            max,
            task,
            pid,
        }
    }

    pub async fn finish(self) -> RssReport {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        RssReport {
            max_sampled_kib: self.max.lock().map(|m| *m).unwrap_or(0),
            hwm_kib: Memory::of(self.pid).map_or(0, |m| m.hwm_kib),
        }
    }
}

/// The load averages (1, 5, 15 min) as `/proc/loadavg` has them.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The 1-minute load average.
pub fn load1() -> f64 {
    loadavg()
        .split(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Cores this process may use.
pub fn nproc() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

/// `YYYY-MM-DD HH:MM UTC` from the system clock.
pub fn utc_now() -> String {
    let iso = aws_smithy_types::DateTime::from(SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default();
    format!("{} UTC", iso.get(..16).unwrap_or("?").replace('T', " "))
}

/// Raises this process's open-file limit to its hard limit (children inherit it): (before, after).
pub fn raise_nofile_limit() -> (u64, u64) {
    let before = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(0, |(soft, _)| soft);
    (before, rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_and_the_clock() {
        let m = Memory::of(std::process::id()).unwrap();
        assert!(m.rss_kib > 0 && m.hwm_kib >= m.rss_kib);
        let busy = (0..3_000_000u64).fold(0u64, |a, b| a.wrapping_add(b * b));
        assert!(busy > 0 && own_cpu() >= 0.0);
        assert!(tree(std::process::id()).contains(&std::process::id()));
        let d = utc_now();
        assert!(
            d.len() == 20 && d.ends_with(" UTC") && d.starts_with("20"),
            "{d}"
        );
        assert_eq!(&d[10..11], " ");
    }
}
