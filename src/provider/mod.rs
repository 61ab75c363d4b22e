//! The BuildFix provider core: warm worker processes, each job run against a snapshotted
//! fixture, results cached, failures fenced by a circuit breaker.

mod breaker;
pub mod command;
mod error;
pub mod fixtures;
mod pool;
mod worker;

pub use breaker::{Admission, BreakerState, CircuitBreaker};
pub use error::ProviderError;
pub use pool::{Lease, ProcessPool, ProcessPoolStatus};
pub use worker::{Worker, WorkerSpec};

#[cfg(test)]
mod tests;
