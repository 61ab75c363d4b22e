//! The BuildFix provider core: warm worker processes, each job run against a snapshotted
//! fixture, results cached, failures fenced by a circuit breaker.

mod breaker;
pub mod command;
mod error;
pub mod fixtures;
mod pool;
mod service;
pub mod spawn;
mod workdir;
mod worker;

pub use breaker::{Admission, BreakerState, CircuitBreaker};
pub use error::ProviderError;
pub use pool::{Lease, ProcessPool, ProcessPoolStatus};
pub use service::{
    CacheCounters, ExecuteOutcome, ExecuteRequest, FixtureType, Service, ServiceConfig,
    PLAN_FORMAT_VERSION,
};
pub use workdir::WorkDir;
pub use worker::{Worker, WorkerSpec};

/// Resident memory of a process in bytes, from `/proc/<pid>/statm`; 0 when it is gone or the
/// platform has no `/proc`.
pub fn process_rss(pid: u32) -> u64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/statm")) else {
        return 0;
    };
    let pages: u64 = text
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page.max(0) as u64
}

#[cfg(test)]
mod tests;
