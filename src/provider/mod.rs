//! The BuildFix provider core: warm workers (processes, or threads of this process started by a
//! host, `thread.rs`), each job run against a snapshotted fixture, results cached, failures
//! fenced by a circuit breaker.

mod breaker;
pub mod command;
mod copies;
mod error;
pub mod fixtures;
mod pool;
pub mod protocol;
mod request;
mod result_cache;
mod service;
mod sets;
pub mod spawn;
pub mod thread;
mod workdir;
mod worker;

pub use breaker::{Admission, BreakerState, CircuitBreaker};
pub use error::ProviderError;
pub use pool::{Lease, ProcessPool, ProcessPoolStatus};
pub use protocol::{Job, ServerOptions};
pub use request::{plan_format_version, ExecuteOutcome, ExecuteRequest, FixtureType};
pub use result_cache::CacheCounters;
pub use service::{Service, ServiceConfig};
pub use thread::{Carrier, ThreadEvent, ThreadHost};
pub use workdir::WorkDir;
pub use worker::{KillHandle, Worker, WorkerSpec};

/// Resident memory of a process in bytes; 0 when it is gone or the platform has no `/proc`.
pub use crate::procfs::rss as process_rss;

/// The `version` of a `{"version": <number>}` file compiled in from `worker/` (the worker reads
/// the same file), so the two sides share one number. `file` names it in the panic a malformed
/// file would cause, which the tests catch.
fn version_in(text: &str, file: &str) -> u32 {
    #[derive(serde::Deserialize)]
    struct File {
        version: u32,
    }
    serde_json::from_str::<File>(text)
        .unwrap_or_else(|e| panic!("{file} holds {{\"version\": <number>}}: {e}"))
        .version
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Locks a mutex, also after a panic elsewhere poisoned it: every value behind one here stays
/// consistent between statements.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests;
