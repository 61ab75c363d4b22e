//! Process readings from `/proc` for the JS layer (the CLI's and the benchmarks' samplers).

// napi-derive registers `#[napi]` functions only outside `cfg(test)`.
#![cfg_attr(test, allow(dead_code))]

use napi_derive::napi;

use crate::procfs::{self, ProcessStats};

/// One process: `/proc/<pid>/stat` in bytes and milliseconds.
#[napi(object)]
pub struct NativeProcessStats {
    pub pid: u32,
    pub ppid: u32,
    /// Resident memory, bytes.
    pub rss: f64,
    /// User + system CPU time of the process itself, ms.
    pub cpu_ms: f64,
    /// User + system CPU time of its reaped children, ms.
    pub children_cpu_ms: f64,
    pub threads: u32,
}

impl From<ProcessStats> for NativeProcessStats {
    fn from(p: ProcessStats) -> Self {
        Self {
            pid: p.pid,
            ppid: p.ppid,
            rss: p.rss as f64,
            cpu_ms: p.cpu_ms,
            children_cpu_ms: p.children_cpu_ms,
            threads: u32::try_from(p.threads).unwrap_or(u32::MAX),
        }
    }
}

/// These processes' readings (`null` for one that is gone, or everywhere without `/proc`).
#[napi(catch_unwind)]
pub fn process_stats(pids: Vec<u32>) -> Vec<Option<NativeProcessStats>> {
    pids.into_iter()
        .map(|pid| procfs::stats(pid).map(Into::into))
        .collect()
}

/// `root` and its live descendants, root first, without `exclude` and its own descendants;
/// empty when `root` is gone or there is no `/proc`.
#[napi(catch_unwind)]
pub fn process_tree(root: u32, exclude: Option<u32>) -> Vec<NativeProcessStats> {
    procfs::tree(root, exclude)
        .into_iter()
        .map(Into::into)
        .collect()
}

/// Gives the allocator's free pages back to the system (`malloc_trim` with glibc); whether any
/// memory was released. The provider does it after starting a checker thread; the memory
/// benchmarks call it to measure what it does.
#[napi(catch_unwind)]
pub fn release_free_memory() -> bool {
    procfs::release_free_memory()
}
