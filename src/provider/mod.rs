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

/// Resident memory of a process in bytes; 0 when it is gone or the platform has no `/proc`.
pub use crate::procfs::rss as process_rss;

#[cfg(test)]
mod tests;
