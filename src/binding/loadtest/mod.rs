//! Load testing at the Node boundary: the options checked once ([`options`]), the plan the JS
//! loop reads ([`plan`]), a batch recorder the JS executor path feeds (its per-request loop stays
//! in JS, see lib/loadtest/), and native HTTP runs that send every request from Rust on napi's
//! tokio runtime with no JS crossing per request ([`http`]).

mod http;
mod options;
mod plan;

use napi::bindgen_prelude::Float64ArraySlice;
use napi_derive::napi;

use crate::loadtest::{Metrics, Recorder};

/// Most virtual users (or arrival-rate slots) one test may have (the options' bound too).
#[napi]
#[cfg_attr(test, allow(dead_code))] // read by JS only; test builds register no napi exports
pub const MAX_USERS: u32 = crate::loadtest::MAX_USERS;

/// `LoadTestMetrics` of API.md, field for field.
#[napi(object)]
pub struct NativeLoadMetrics {
    pub total_requests: f64,
    pub successful_requests: f64,
    pub failed_requests: f64,
    pub average_response_time: f64,
    pub min_response_time: f64,
    pub max_response_time: f64,
    pub p50_response_time: f64,
    pub p95_response_time: f64,
    pub p99_response_time: f64,
    /// Beyond API.md: the 99.9th percentile.
    pub p999_response_time: f64,
    pub requests_per_second: f64,
    pub errors_per_second: f64,
    pub throughput: f64,
    pub concurrent_users: f64,
    pub test_duration: f64,
    pub error_rate: f64,
}

impl From<Metrics> for NativeLoadMetrics {
    fn from(m: Metrics) -> Self {
        Self {
            total_requests: m.total_requests as f64,
            successful_requests: m.successful_requests as f64,
            failed_requests: m.failed_requests as f64,
            average_response_time: m.average_response_time,
            min_response_time: m.min_response_time,
            max_response_time: m.max_response_time,
            p50_response_time: m.p50_response_time,
            p95_response_time: m.p95_response_time,
            p99_response_time: m.p99_response_time,
            p999_response_time: m.p999_response_time,
            requests_per_second: m.requests_per_second,
            errors_per_second: m.errors_per_second,
            throughput: m.throughput,
            concurrent_users: m.concurrent_users as f64,
            test_duration: m.test_duration,
            error_rate: m.error_rate,
        }
    }
}

/// Exact metrics for the JS executor path, fed in batches of `[duration, size, ...]` pairs
/// (a negative size marks a failure), so a test crosses into Rust once per batch.
#[napi]
pub struct NativeRecorder {
    inner: Recorder,
}

#[napi]
impl NativeRecorder {
    #[napi(catch_unwind, constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self {
            inner: Recorder::new(),
        }
    }

    /// Records the first `len` numbers of `pairs`.
    #[napi(catch_unwind)]
    pub fn add_batch(&mut self, pairs: Float64ArraySlice, len: u32) {
        let len = (len as usize).min(pairs.len()) & !1;
        self.inner.add_batch(&pairs[..len]);
    }

    #[napi(catch_unwind)]
    pub fn metrics(&self, elapsed_ms: f64, users: f64) -> NativeLoadMetrics {
        let users = if users.is_finite() && users > 0.0 {
            users as u64
        } else {
            0
        };
        self.inner.metrics(elapsed_ms, users).into()
    }

    /// Nearest-rank percentile of successful durations (`q` in 0..=1).
    #[napi(catch_unwind)]
    pub fn percentile(&self, q: f64) -> f64 {
        self.inner.percentile(q.clamp(0.0, 1.0))
    }

    #[napi(catch_unwind)]
    pub fn total(&self) -> f64 {
        self.inner.total() as f64
    }
}
