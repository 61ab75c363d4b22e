//! The BuildFix provider core: warm worker processes, each job run against a snapshotted
//! fixture, results cached, failures fenced by a circuit breaker.

mod breaker;
pub mod command;
mod error;
mod worker;

pub use breaker::{Admission, BreakerState, CircuitBreaker};
    default_argv, expand_argv, find_repository_root, monorepo_command, CommandOutcome,
};
pub use error::ProviderError;
pub use worker::{Worker, WorkerSpec};

#[cfg(test)]
mod tests;
