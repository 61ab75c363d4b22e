//! The one reader of Linux's `/proc` for processes: resident memory, CPU time, threads and
//! parentage of a process and of its descendants. Page size and clock tick come from `sysconf`
//! (not assumed 4 KiB and 100 Hz). Used by the monitor (its own RSS), the provider (its workers'
//! RSS) and, through the binding, the CLI's and the benchmarks' process-tree samplers. On a
//! platform without `/proc` every reading is absent.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Bytes per page, from `sysconf(_SC_PAGESIZE)`.
pub fn page_size() -> u64 {
    static PAGE: OnceLock<u64> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *PAGE
        .get_or_init(|| u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096))
}

/// Clock ticks per second of `/proc/<pid>/stat`'s times, from `sysconf(_SC_CLK_TCK)`.
pub fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *TICKS.get_or_init(|| {
        u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
            .ok()
            .filter(|t| *t > 0)
            .unwrap_or(100)
    })
}

/// The second field of `/proc/<pid>/statm`: resident pages.
pub fn parse_statm_rss(content: &[u8]) -> Option<u64> {
    std::str::from_utf8(content)
        .ok()?
        .split_ascii_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Resident memory of a process in bytes, from `/proc/<pid>/statm`; 0 when it is gone or the
/// platform has no `/proc`.
pub fn rss(pid: u32) -> u64 {
    std::fs::read(format!("/proc/{pid}/statm"))
        .ok()
        .and_then(|b| parse_statm_rss(&b))
        .map_or(0, |pages| pages * page_size())
}

/// The resident memory of this process through a file kept open, one positioned read per
/// reading. Measured here: about 2 µs of CPU per reading, against about 43 µs for a sysinfo
/// process refresh (which opens and parses several files), the difference between meeting and
/// missing the monitor's "under 1% of a core at a 10 ms interval" target.
pub struct OwnRss {
    file: std::fs::File,
}

impl OwnRss {
    pub fn open() -> Option<Self> {
        let file = std::fs::File::open("/proc/self/statm").ok()?;
        Some(Self { file })
    }

    pub fn read(&self) -> Option<u64> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileExt;
            let mut buf = [0u8; 256];
            let n = self.file.read_at(&mut buf, 0).ok()?;
            parse_statm_rss(&buf[..n]).map(|pages| pages * page_size())
        }
        #[cfg(not(unix))]
        {
            let _ = &self.file;
            None
        }
    }
}

/// One process as `/proc/<pid>/stat` shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    pub pid: u32,
    pub ppid: u32,
    /// Resident memory, bytes.
    pub rss: u64,
    /// User + system CPU time of the process itself, ms.
    pub cpu_ms: f64,
    /// User + system CPU time of its children that exited and were reaped, ms.
    pub children_cpu_ms: f64,
    pub threads: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may hold spaces
/// and parentheses itself: the fields start after the last `)`.
pub fn parse_stat(pid: u32, text: &str) -> Option<ProcessStats> {
    let rest = &text[text.rfind(')')? + 1..];
    // f[0] is field 3 (state): field n is f[n - 3].
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    let num = |n: usize| -> Option<u64> { f.get(n - 3)?.parse().ok() };
    let ms = |ticks: u64| ticks as f64 * 1000.0 / clock_ticks() as f64;
    Some(ProcessStats {
        pid,
        ppid: u32::try_from(num(4)?).ok()?,
        cpu_ms: ms(num(14)? + num(15)?),
        children_cpu_ms: ms(num(16)? + num(17)?),
        threads: num(20)?,
        rss: num(24)? * page_size(),
    })
}

/// One process's stats; `None` when it is gone or the platform has no `/proc`.
pub fn stats(pid: u32) -> Option<ProcessStats> {
    let text = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &String::from_utf8_lossy(&text))
}

/// Every process listed in `/proc` now.
pub fn pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// `root` and every live descendant of it, root first, leaving out `exclude` and its own
/// descendants (a sampler that must not count itself). Empty when `root` is gone.
pub fn tree(root: u32, exclude: Option<u32>) -> Vec<ProcessStats> {
    let all: Vec<ProcessStats> = pids().into_iter().filter_map(stats).collect();
    let mut children: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, p) in all.iter().enumerate() {
        children.entry(p.ppid).or_default().push(i);
    }
    let Some(first) = all.iter().position(|p| p.pid == root) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut queue = vec![first];
    let mut seen = std::collections::HashSet::new();
    while let Some(i) = queue.pop() {
        let p = all[i];
        if Some(p.pid) == exclude || !seen.insert(p.pid) {
            continue;
        }
        out.push(p);
        queue.extend(children.get(&p.pid).into_iter().flatten());
    }
    out
}

/// Gives the allocator's free pages back to the system (glibc's `malloc_trim`). glibc keeps
/// memory freed inside its heaps mapped, and a V8 isolate started on a thread of this process
/// frees much of what compiling a large script took (the TypeScript compiler: ~15 MB) without
/// the process's resident set shrinking. A few milliseconds of work; returns whether any memory
/// was released (always false where the allocator has no such call).
pub fn release_free_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim takes the allocator's own locks; it only unmaps free pages.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_statm_and_stat_with_a_hostile_command_name() {
        assert_eq!(parse_statm_rss(b"12345 678 90 1 0 2 0\n"), Some(678));
        assert_eq!(parse_statm_rss(b"12345"), None);
        assert_eq!(parse_statm_rss(b""), None);
        let line = "42 (a b) (c)) S 7 42 42 0 -1 4194560 100 0 0 0 250 50 30 20 20 0 3 0 1000 \
                    123456 9 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
        let s = parse_stat(42, line).unwrap();
        let tick = 1000.0 / clock_ticks() as f64;
        assert_eq!((s.pid, s.ppid, s.threads), (42, 7, 3));
        assert_eq!(s.cpu_ms, 300.0 * tick);
        assert_eq!(s.children_cpu_ms, 50.0 * tick);
        assert_eq!(s.rss, 9 * page_size());
        assert_eq!(parse_stat(1, "1 (x) S 0"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process_and_finds_a_child_in_its_tree() {
        let me = std::process::id();
        let own = stats(me).unwrap();
        assert!(own.rss > 0 && own.threads >= 1);
        assert!(rss(me) > 0);
        assert!(OwnRss::open().unwrap().read().unwrap() > 0);
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let t = tree(me, None);
        assert_eq!(t[0].pid, me);
        assert!(t.iter().any(|p| p.pid == child.id()), "{t:?}");
        assert!(!tree(me, Some(child.id()))
            .iter()
            .any(|p| p.pid == child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(stats(u32::MAX), None);
        assert!(tree(u32::MAX, None).is_empty());
    }
}
