//! Load testing's core: the plan of a test (when users start, arrivals are due and sending
//! stops), a tokio scheduler that follows it (closed model with ramp-up, think time and a
//! cut-off, and an open model at a constant arrival rate), exact metrics in bounded memory, and
//! a native HTTP/1.1 executor. It knows nothing of Node: the JS executor path keeps its
//! per-request loop in JS, reads the same plan, and feeds a [`Recorder`] in batches (see
//! `lib/loadtest/` and docs/loadtest.md).

mod error;
mod http;
mod plan;
mod recorder;
#[cfg(test)]
mod scenarios;
mod scheduler;

pub use error::LoadTestError;
pub use http::{HttpExecutor, HttpTarget};
pub use plan::{ClosedPlan, OpenPlan, Plan, NO_CUT_OFF_MS};
pub use recorder::{Metrics, Recorder};
pub use scheduler::{
    run_closed, run_open, spawn_run, Executor, Failure, Progress, Record, Reply, RunState,
    MAX_THREADS, MAX_USERS, TIMEOUT_MESSAGE,
};
