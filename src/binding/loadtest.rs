//! Load testing at the Node boundary: a batch recorder the JS executor path feeds (its
//! per-request loop stays in JS, see lib/loadtest.js), and native HTTP runs that send every
//! request from Rust on napi's tokio runtime with no JS crossing per request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::{Buffer, Float64ArraySlice};
use napi_derive::napi;

use super::error::Result;
use crate::loadtest::{
    positive, run_closed, run_open, users, whole, ClosedConfig, HttpExecutor, HttpTarget,
    LoadTestError, Metrics, OpenConfig, Record, Recorder, RunState,
};

/// Most virtual users (or arrival-rate slots) one test may have; lib/loadtest.js checks its
/// options against this same value.
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

#[napi(object)]
pub struct NativeHttpOptions {
    /// `http://host[:port]/path`.
    pub url: String,
    pub method: Option<String>,
    pub headers: Option<HashMap<String, String>>,
    /// Sent as is (the JS layer encodes strings as UTF-8 and other values as JSON).
    pub body: Option<Buffer>,
}

/// The closed model: API.md's `LoadTestConfig`, already validated by the JS layer and checked
/// again here.
#[napi(object)]
pub struct NativeClosedOptions {
    pub concurrent_users: f64,
    pub requests_per_user: f64,
    pub ramp_up_time: f64,
    pub test_duration: f64,
    pub think_time: f64,
    pub timeout: f64,
    pub max_records: f64,
}

/// The open model: `rate` requests per second for `duration`, over `connections`.
#[napi(object)]
pub struct NativeOpenOptions {
    pub rate: f64,
    pub duration: f64,
    pub connections: f64,
    pub timeout: f64,
    pub max_records: f64,
}

#[napi(object)]
pub struct NativeProgress {
    pub done: f64,
    pub in_flight: f64,
    pub p95: f64,
}

/// One request as `getResponses()` shows it; times in ms since the run started.
#[napi(object)]
pub struct NativeRecord {
    pub user_id: u32,
    pub seq: f64,
    pub start_time: f64,
    pub end_time: f64,
    pub success: bool,
    pub error: Option<String>,
    pub status_code: Option<u32>,
    pub response_size: f64,
}

impl From<Record> for NativeRecord {
    fn from(r: Record) -> Self {
        Self {
            user_id: r.user,
            seq: r.seq as f64,
            start_time: r.start_ms,
            end_time: r.end_ms,
            success: r.ok,
            error: r.error,
            status_code: r.status.map(u32::from),
            response_size: r.size as f64,
        }
    }
}

#[napi(object)]
pub struct NativeRunResult {
    /// Milliseconds from the first scheduled request to the last one's end.
    pub elapsed: f64,
    pub metrics: NativeLoadMetrics,
    /// Open model: arrivals that could not start before the duration ended (0 when closed).
    pub dropped: f64,
}

fn ms(name: &'static str, v: f64) -> std::result::Result<Duration, LoadTestError> {
    Ok(Duration::from_millis(whole(name, v, 0)?))
}

enum Plan {
    Closed(ClosedConfig),
    Open(OpenConfig),
}

impl Plan {
    fn users(&self) -> u64 {
        match self {
            Plan::Closed(c) => u64::from(c.users),
            Plan::Open(o) => u64::from(o.connections),
        }
    }
}

/// One native HTTP load test. Create one per test: `run()` may be called once; `progress()`
/// and `cancel()` work while it runs, `takeRecords()` after.
#[napi]
pub struct NativeHttpRun {
    exec: Arc<HttpExecutor>,
    state: Arc<RunState>,
    plan: Arc<Plan>,
    started: AtomicBool,
}

impl NativeHttpRun {
    fn create(http: NativeHttpOptions, plan: Plan, max_records: f64) -> Result<Self> {
        let max_records = whole("maxRecordedResponses", max_records, 0)?;
        let headers: Vec<(String, String)> = http.headers.unwrap_or_default().into_iter().collect();
        let target = HttpTarget::new(
            &http.url,
            http.method.as_deref().unwrap_or("GET"),
            &headers,
            http.body.as_deref(),
        )?;
        Ok(Self {
            exec: Arc::new(HttpExecutor::new(Arc::new(target))),
            state: RunState::new(usize::try_from(max_records).unwrap_or(usize::MAX)),
            plan: Arc::new(plan),
            started: AtomicBool::new(false),
        })
    }
}

#[napi]
impl NativeHttpRun {
    /// The closed model: virtual users, each on its own keep-alive connection.
    #[napi(catch_unwind, factory)]
    pub fn closed(http: NativeHttpOptions, o: NativeClosedOptions) -> Result<Self> {
        let plan = Plan::Closed(ClosedConfig {
            users: users("concurrentUsers", o.concurrent_users)?,
            requests_per_user: whole("requestsPerUser", o.requests_per_user, 0)?,
            ramp_up: ms("rampUpTime", o.ramp_up_time)?,
            test_duration: ms("testDuration", o.test_duration)?,
            think_time: ms("thinkTime", o.think_time)?,
            timeout: Duration::from_millis(whole("timeout", o.timeout, 1)?),
        });
        Self::create(http, plan, o.max_records)
    }

    /// The open model: a constant arrival rate, latencies from each request's intended time.
    #[napi(catch_unwind, factory)]
    pub fn open(http: NativeHttpOptions, o: NativeOpenOptions) -> Result<Self> {
        let plan = Plan::Open(OpenConfig {
            rate: positive("rate", o.rate)?,
            duration: ms("duration", o.duration)?,
            connections: users("connections", o.connections)?,
            timeout: Duration::from_millis(whole("timeout", o.timeout, 1)?),
        });
        Self::create(http, plan, o.max_records)
    }

    /// Runs the test on napi's tokio runtime; the JS thread stays free for progress events.
    #[napi(catch_unwind)]
    pub async fn run(&self) -> napi::Result<NativeRunResult> {
        // An async napi function rejects with napi's own status-coded error; both failures
        // here are runtime faults (GenericFailure), so nothing is lost by the plain error type.
        let fault = |m: String| napi::Error::new(napi::Status::GenericFailure, m);
        if self.started.swap(true, Ordering::SeqCst) {
            return Err(fault(LoadTestError::AlreadyStarted.to_string()));
        }
        let (exec, state, plan) = (self.exec.clone(), self.state.clone(), self.plan.clone());
        let users = plan.users();
        // Spawned rather than awaited here so the user tasks run on all runtime workers; the
        // JoinSet inside owns them and the run ends only when every task has ended.
        let elapsed = napi::tokio::spawn(async move {
            match &*plan {
                Plan::Closed(c) => run_closed(exec, c.clone(), state).await,
                Plan::Open(o) => run_open(exec, o.clone(), state).await,
            }
        })
        .await
        .map_err(|e| fault(format!("load test task failed: {e}")))?;
        Ok(NativeRunResult {
            elapsed,
            metrics: self.state.metrics(elapsed, users).into(),
            dropped: self.state.dropped() as f64,
        })
    }

    #[napi(catch_unwind)]
    pub fn progress(&self) -> NativeProgress {
        let p = self.state.progress();
        NativeProgress {
            done: p.done as f64,
            in_flight: p.in_flight as f64,
            p95: p.p95,
        }
    }

    /// Stops sending; requests in flight are abandoned and not counted.
    #[napi(catch_unwind)]
    pub fn cancel(&self) {
        self.state.cancel();
    }

    /// The kept per-request records, oldest first (emptied by the call).
    #[napi(catch_unwind)]
    pub fn take_records(&self) -> Vec<NativeRecord> {
        self.state
            .take_records()
            .into_iter()
            .map(NativeRecord::from)
            .collect()
    }
}
