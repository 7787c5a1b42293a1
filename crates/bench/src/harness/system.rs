//! What Linux says about processes and the machine (`/proc`, read with the `procfs` crate), and
//! the clock.

use std::time::{Instant, SystemTime};

use procfs::process::Process;
use procfs::{Current, CurrentSI, KernelStats};

fn ticks(t: u64) -> f64 {
    t as f64 / procfs::ticks_per_second() as f64
}

/// CPU seconds (user + system) a process has used; this process for `None`.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let p = match pid {
        Some(pid) => Process::new(i32::try_from(pid).ok()?),
        None => Process::myself(),
    };
    let s = p.ok()?.stat().ok()?;
    Some(ticks(s.utime + s.stime))
}

/// A process and its descendants.
pub fn tree(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = procfs::process::all_processes()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let s = p.ok()?.stat().ok()?;
            Some((u32::try_from(s.pid).ok()?, u32::try_from(s.ppid).ok()?))
        })
        .collect();
    let mut out = vec![root];
    // Bounded: each pid joins once.
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        let children = parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c);
        let new: Vec<u32> = children.filter(|c| !out.contains(c)).collect();
        out.extend(new);
        i += 1;
    }
    out
}

/// CPU seconds of a process tree.
pub fn tree_cpu(root: u32) -> f64 {
    tree(root)
        .into_iter()
        .filter_map(|p| cpu_seconds(Some(p)))
        .sum()
}

/// A process's memory in KiB (`/proc/PID/status`): resident now, and its peak ("high water mark").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

impl Memory {
    pub fn of(pid: u32) -> Option<Memory> {
        let s = Process::new(i32::try_from(pid).ok()?).ok()?.status().ok()?;
        Some(Memory {
            rss_kib: s.vmrss?,
            hwm_kib: s.vmhwm?,
        })
    }

    /// Summed over a process tree.
    pub fn of_tree(root: u32) -> Memory {
        tree(root)
            .into_iter()
            .filter_map(Memory::of)
            .fold(Memory::default(), |a, m| Memory {
                rss_kib: a.rss_kib + m.rss_kib,
                hwm_kib: a.hwm_kib + m.hwm_kib,
            })
    }
}

/// Seconds the machine's cores were busy (not idle or waiting) since boot.
fn machine_busy() -> f64 {
    KernelStats::current().map_or(0.0, |k| {
        let t = k.total;
        ticks(t.user + t.nice + t.system)
            + [t.irq, t.softirq, t.steal]
                .iter()
                .flatten()
                .map(|v| ticks(*v))
                .sum::<f64>()
    })
}

/// CPU used over a stretch of time: by each watched process tree, by this process, and by
/// the whole machine.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    pub seconds: f64,
    /// CPU seconds of each watched process tree, in the order given to [`Window::open`].
    pub cpu: Vec<f64>,
    /// CPU seconds of this process (the client).
    pub client: f64,
    /// Cores the whole machine kept busy on average.
    pub machine_cores: f64,
}

impl Usage {
    /// Cores process `i` used on average.
    pub fn cores(&self, i: usize) -> f64 {
        self.cpu
            .get(i)
            .map_or(f64::NAN, |c| c / self.seconds.max(1e-9))
    }

    /// Cores every other process on the machine kept busy.
    pub fn others(&self) -> f64 {
        let ours = self.cpu.iter().sum::<f64>() + self.client;
        (self.machine_cores - ours / self.seconds.max(1e-9)).max(0.0)
    }
}

/// A stretch of time being measured: [`Window::open`], then [`Window::close`].
pub struct Window {
    pids: Vec<u32>,
    start: Usage,
    t0: Instant,
}

impl Window {
    fn read(pids: &[u32]) -> Usage {
        Usage {
            seconds: 0.0,
            cpu: pids.iter().map(|p| tree_cpu(*p)).collect(),
            client: cpu_seconds(None).unwrap_or(f64::NAN),
            machine_cores: machine_busy(),
        }
    }

    /// Starts measuring the process trees of `pids` (and this process, and the machine).
    pub fn open(pids: &[u32]) -> Window {
        Window {
            pids: pids.to_vec(),
            start: Window::read(pids),
            t0: Instant::now(),
        }
    }

    pub fn close(&self) -> Usage {
        let (now, seconds) = (Window::read(&self.pids), self.t0.elapsed().as_secs_f64());
        let cpu = now
            .cpu
            .iter()
            .zip(&self.start.cpu)
            .map(|(b, a)| b - a)
            .collect();
        Usage {
            seconds,
            cpu,
            client: now.client - self.start.client,
            machine_cores: (now.machine_cores - self.start.machine_cores) / seconds.max(1e-9),
        }
    }
}

/// The load averages (1, 5, 15 min).
pub fn loadavg() -> String {
    procfs::LoadAverage::current().map_or("?".into(), |l| {
        format!("{:.2} {:.2} {:.2}", l.one, l.five, l.fifteen)
    })
}

/// The 1-minute load average.
pub fn load1() -> f64 {
    procfs::LoadAverage::current().map_or(f64::NAN, |l| f64::from(l.one))
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
    fn reads_this_process_the_machine_and_the_clock() {
        let me = std::process::id();
        let m = Memory::of(me).unwrap();
        assert!(m.rss_kib > 0 && m.hwm_kib >= m.rss_kib);
        let w = Window::open(&[me]);
        let busy = (0..20_000_000u64).fold(0u64, |a, b| a.wrapping_add(b * b));
        let u = w.close();
        assert!(busy > 0 && u.cpu[0] > 0.0 && u.client > 0.0, "{u:?}");
        assert!(u.machine_cores > 0.0 && u.others() >= 0.0, "{u:?}");
        assert!(tree(me).contains(&me) && load1() >= 0.0);
        let d = utc_now();
        assert!(
            d.len() == 20 && d.ends_with(" UTC") && &d[10..11] == " ",
            "{d}"
        );
    }
}
