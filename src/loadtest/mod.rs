//! Load testing's core: a tokio scheduler (closed model with ramp-up, think time and a cut-off,
//! and an open model at a constant arrival rate), exact metrics in bounded memory, and a native
//! HTTP/1.1 executor. It knows nothing of Node: the JS executor path keeps its per-request loop
//! in JS and feeds a [`Recorder`] in batches (see `lib/loadtest.js` and docs/loadtest.md).

mod error;
mod http;
mod recorder;
mod scheduler;

pub use error::{positive, users, whole, LoadTestError};
pub use http::{HttpExecutor, HttpTarget};
pub use recorder::{Metrics, Recorder};
pub use scheduler::{
    run_closed, run_open, ClosedConfig, Executor, Failure, OpenConfig, Progress, Record, Reply,
    RunState, MAX_USERS, TIMEOUT_MESSAGE,
};
