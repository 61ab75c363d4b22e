//! The performance monitor's core: a sampler thread that reads the process and machine off the
//! JS thread and measures event-loop lag from outside, plus bounded history, thresholds, alerts,
//! the summary and the Prometheus exposition. Knows nothing of Node: the binding supplies the
//! probe that runs on the JS thread and the figures only V8 knows (heap, utilisation, GC).

mod cgroup;
mod error;
mod history;
mod prometheus;
mod system;
mod ticker;

pub use cgroup::process_memory_limit;
pub use error::MonitorError;
pub use history::{
    Alert, AlertCounts, AlertType, History, Severity, Snapshot, Stat, Summary, Thresholds,
    ALERT_CAPACITY, SNAPSHOT_CAPACITY,
};
pub use prometheus::render as prometheus_text;
pub use system::{process_cpu_time, SystemReading, SystemSampler};
pub use ticker::{
    probe_period, MonitorState, ProbeResult, ProbeTicket, Schedule, Ticker, MAX_PROBE_PERIOD,
};
