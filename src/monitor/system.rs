//! Readings of the process and machine taken off the JS thread: resident memory, CPU time,
//! load average and the memory available to the process.

use std::time::{Duration, Instant};

use sysinfo::{MemoryRefreshKind, Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use super::cgroup;
use super::MonitorError;
use crate::procfs::OwnRss;

/// One reading of the process and machine.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SystemReading {
    /// Resident set size of the process, bytes.
    pub rss: u64,
    /// Memory available to the process: the machine's total, or the cgroup limit when lower.
    pub available: u64,
    /// Process CPU over the interval since the previous reading, percent of one core (can pass
    /// 100 when several threads run at once).
    pub cpu_percent: f64,
    /// 1, 5 and 15 minute load averages of the machine.
    pub load_average: [f64; 3],
}

/// How often the machine total and cgroup limit are read again: they almost never change, and
/// re-reading them every 10 ms tick would cost more than the rest of the sample.
const AVAILABLE_REFRESH: Duration = Duration::from_secs(5);

/// How often the load average is read again: the kernel recomputes it every 5 s.
const LOAD_REFRESH: Duration = Duration::from_secs(1);

/// Takes [`SystemReading`]s. Keeps the previous CPU time so each reading reports the CPU used
/// since the last one.
pub struct SystemSampler {
    system: System,
    pid: Pid,
    /// The fast path on Linux (see [`OwnRss`]); sysinfo elsewhere.
    statm: Option<OwnRss>,
    last_cpu: Option<(Instant, Duration)>,
    available: u64,
    available_read: Option<Instant>,
    load: [f64; 3],
    load_read: Option<Instant>,
}

impl SystemSampler {
    pub fn new() -> Result<Self, MonitorError> {
        let system = System::new().map_err(|e| MonitorError::System(e.to_string()))?;
        let pid = sysinfo::get_current_pid().map_err(|e| MonitorError::System(e.to_string()))?;
        Ok(Self {
            system,
            pid,
            statm: OwnRss::open(),
            last_cpu: None,
            available: 0,
            available_read: None,
            load: [0.0; 3],
            load_read: None,
        })
    }

    /// The memory available to the process (machine total, or the cgroup limit when lower).
    pub fn available_memory(&mut self) -> u64 {
        let now = Instant::now();
        let stale = self
            .available_read
            .is_none_or(|at| now.duration_since(at) >= AVAILABLE_REFRESH);
        if stale {
            self.system
                .refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
            let total = self.system.total_memory();
            self.available = match cgroup::process_memory_limit() {
                Some(limit) if total == 0 || limit < total => limit,
                _ => total,
            };
            self.available_read = Some(now);
        }
        self.available
    }

    /// Resident set size of the process, bytes.
    pub fn rss(&mut self) -> u64 {
        if let Some(rss) = self.statm.as_ref().and_then(OwnRss::read) {
            return rss;
        }
        self.system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[self.pid]),
            false,
            ProcessRefreshKind::nothing().with_memory().without_tasks(),
        );
        self.system.process(self.pid).map_or(0, |p| p.memory())
    }

    /// Takes a reading. The first one reports the CPU used since the process started.
    pub fn read(&mut self) -> SystemReading {
        let now = Instant::now();
        let cpu = process_cpu_time();
        let cpu_percent = match self.last_cpu {
            Some((at, before)) => {
                let wall = now.duration_since(at).as_secs_f64();
                if wall > 0.0 {
                    cpu.saturating_sub(before).as_secs_f64() / wall * 100.0
                } else {
                    0.0
                }
            }
            None => 0.0,
        };
        self.last_cpu = Some((now, cpu));
        if self
            .load_read
            .is_none_or(|at| now.duration_since(at) >= LOAD_REFRESH)
        {
            let load = System::load_average().unwrap_or_default();
            self.load = [load.one, load.five, load.fifteen];
            self.load_read = Some(now);
        }
        SystemReading {
            rss: self.rss(),
            available: self.available_memory(),
            cpu_percent,
            load_average: self.load,
        }
    }
}

/// CPU time used by every thread of the process. On Unix from `CLOCK_PROCESS_CPUTIME_ID`
/// (nanosecond resolution: `/proc/self/stat` counts 10 ms ticks, far too coarse for a 10 ms
/// interval); elsewhere from sysinfo.
#[cfg(unix)]
pub fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the libc defines.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(not(unix))]
pub fn process_cpu_time() -> Duration {
    let Ok(mut system) = System::new() else {
        return Duration::ZERO;
    };
    let Ok(pid) = sysinfo::get_current_pid() else {
        return Duration::ZERO;
    };
    system.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        false,
        ProcessRefreshKind::nothing().with_cpu().without_tasks(),
    );
    system.process(pid).map_or(Duration::ZERO, |p| {
        Duration::from_millis(p.accumulated_cpu_time())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn statm_and_sysinfo_agree_on_rss() {
        let mut sampler = SystemSampler::new().unwrap();
        let fast = sampler.rss();
        sampler.statm = None;
        let slow = sampler.rss();
        let diff = fast.abs_diff(slow);
        // Other tests of this process allocate in parallel; both read the same kernel figure.
        assert!(diff < 32 << 20, "statm {fast} vs sysinfo {slow}");
    }

    #[test]
    fn rss_follows_memory_held() {
        let mut sampler = SystemSampler::new().unwrap();
        let before = sampler.read().rss;
        assert!(before > 0);
        // Touch every page so it is resident, not just reserved.
        let held = vec![1u8; 64 << 20];
        let after = sampler.read().rss;
        assert!(
            after >= before + (48 << 20),
            "rss {before} -> {after} while holding 64 MiB"
        );
        assert_eq!(held.iter().map(|&b| b as usize).sum::<usize>(), held.len());
    }

    #[cfg(unix)]
    fn thread_cpu_time() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: valid, writable timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    #[cfg(unix)]
    #[test]
    fn cpu_percent_accounts_for_a_busy_thread() {
        let mut sampler = SystemSampler::new().unwrap();
        sampler.read();
        let start = Instant::now();
        let spent_before = thread_cpu_time();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(200) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let reading = sampler.read();
        let wall = start.elapsed().as_secs_f64();
        // On a shared machine the spinning thread gets what the scheduler gives it; the process
        // figure must include at least that share (other test threads may add to it).
        let own = (thread_cpu_time() - spent_before).as_secs_f64() / wall * 100.0;
        assert!(own > 10.0, "the spinning thread got {own}% of a core");
        assert!(
            reading.cpu_percent >= own * 0.9 && reading.cpu_percent < 250.0,
            "process {}% vs spinning thread {own}%",
            reading.cpu_percent
        );
    }

    #[test]
    fn available_memory_is_positive_and_at_most_the_machine() {
        let mut sampler = SystemSampler::new().unwrap();
        let reading = sampler.read();
        assert!(reading.available > 0);
        let mut system = System::new().unwrap();
        system.refresh_memory();
        assert!(reading.available <= system.total_memory());
        assert!(reading.load_average.iter().all(|l| *l >= 0.0));
    }
}
