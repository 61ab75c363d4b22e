//! Native HTTP load tests: every request sent from Rust on napi's tokio runtime, following the
//! same plan as the JS loop, with no JS crossing per request.

// napi-derive registers `#[napi]` functions only outside `cfg(test)`.
#![cfg_attr(test, allow(dead_code))]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use super::super::args::js_number;
use super::super::error::Result;
use super::options::max_records;
use super::plan::NativePlan;
use super::NativeLoadMetrics;
use crate::loadtest::{
    spawn_run, HttpExecutor, HttpTarget, LoadTestError, Plan, Record, RunState, MAX_THREADS,
};

#[napi(object)]
pub struct NativeHttpOptions {
    /// `http://host[:port]/path`.
    pub url: String,
    pub method: Option<String>,
    pub headers: Option<HashMap<String, String>>,
    /// Sent as is (the JS layer encodes strings as UTF-8 and other values as JSON).
    pub body: Option<Buffer>,
    /// OS threads sending the requests, 1 ..= `MAX_THREADS` (default 1: one current-thread
    /// runtime, see [`spawn_run`]).
    pub threads: Option<f64>,
}

impl NativeHttpOptions {
    fn threads(&self) -> Result<u32> {
        match self.threads {
            None => Ok(1),
            Some(t) if t.fract() == 0.0 && (1.0..=f64::from(MAX_THREADS)).contains(&t) => {
                Ok(t as u32)
            }
            Some(t) => Err(LoadTestError::out_of_range(
                "threads",
                format!("a whole number from 1 to {MAX_THREADS}"),
                js_number(t),
            )
            .into()),
        }
    }

    fn target(&self) -> Result<HttpTarget> {
        let headers: Vec<(String, String)> = self
            .headers
            .as_ref()
            .map(|h| h.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        Ok(HttpTarget::new(
            &self.url,
            self.method.as_deref().unwrap_or("GET"),
            &headers,
            self.body.as_deref(),
        )?)
    }
}

/// Checks a target now, so a bad URL fails where it was written rather than when a test starts.
#[napi(catch_unwind)]
pub fn check_http_target(http: NativeHttpOptions) -> Result<()> {
    http.threads()?;
    http.target().map(drop)
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

/// One native HTTP load test. Create one per test: `run()` may be called once; `progress()`
/// and `cancel()` work while it runs, `takeRecords()` after.
#[napi]
pub struct NativeHttpRun {
    exec: Arc<HttpExecutor>,
    state: Arc<RunState>,
    plan: Arc<Plan>,
    threads: u32,
    started: AtomicBool,
}

#[napi]
impl NativeHttpRun {
    /// A run of `plan` against `http`, keeping up to `maxRecords` per-request records.
    #[napi(catch_unwind, constructor)]
    pub fn new(http: NativeHttpOptions, plan: &NativePlan, max_records_kept: f64) -> Result<Self> {
        Ok(Self {
            exec: Arc::new(HttpExecutor::new(Arc::new(http.target()?))),
            state: RunState::new(max_records(max_records_kept)?),
            plan: Arc::new(plan.plan.clone()),
            threads: http.threads()?,
            started: AtomicBool::new(false),
        })
    }

    /// Runs the test on a runtime of its own ([`spawn_run`]); the JS thread stays free for
    /// progress events.
    #[napi(catch_unwind)]
    pub async fn run(&self) -> napi::Result<NativeRunResult> {
        // An async napi function rejects with napi's own status-coded error; both failures
        // here are runtime faults (GenericFailure), so nothing is lost by the plain error type.
        let fault = |m: String| napi::Error::new(napi::Status::GenericFailure, m);
        if self.started.swap(true, Ordering::SeqCst) {
            return Err(fault(LoadTestError::AlreadyStarted.to_string()));
        }
        let users = u64::from(self.plan.users());
        // The JoinSet inside owns the user tasks: the run ends only when every task has ended.
        let elapsed = spawn_run(
            self.exec.clone(),
            (*self.plan).clone(),
            self.state.clone(),
            self.threads,
        )
        .map_err(|e| fault(format!("cannot start the load test's runtime: {e}")))?
        .await
        .map_err(|_| fault("the load test's runtime stopped before the test ended".into()))?;
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
