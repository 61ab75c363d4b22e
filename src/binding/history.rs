use std::sync::Arc;

use napi::bindgen_prelude::{Env, PromiseRaw, ToNapiValue};
use napi_derive::napi;

use super::blocking::run_blocking;
use super::error::Result;
use crate::history::{HistoryStore, ResultRecord, RunRecord, Series, StoredRun};

/// One fixture's outcome in a history run (`lib/history.js` builds these from BuildFixResults).
#[napi(object)]
pub struct NativeHistoryResult {
    pub model: String,
    pub endpoint: String,
    pub fixture: String,
    pub fixture_hash: Option<String>,
    pub family: String,
    pub code: String,
    pub success: bool,
    pub error_count_before: i64,
    pub error_count_after: i64,
    /// Milliseconds.
    pub duration: f64,
    pub attempts: i64,
    pub tokens: Option<i64>,
}

#[napi(object)]
pub struct NativeHistoryRun {
    /// Set on runs read back; ignored on append.
    pub id: Option<i64>,
    pub timestamp: String,
    pub package_version: String,
    pub plan_format_version: i64,
    pub label: String,
    pub results: Vec<NativeHistoryResult>,
}

#[napi(object)]
pub struct NativeHistorySeries {
    pub model: String,
    pub endpoint: String,
    pub runs: i64,
}

// The one conversion between the JS shapes and the core's, both ways.
impl From<NativeHistoryResult> for ResultRecord {
    fn from(r: NativeHistoryResult) -> Self {
        Self {
            model: r.model,
            endpoint: r.endpoint,
            fixture: r.fixture,
            fixture_hash: r.fixture_hash,
            family: r.family,
            code: r.code,
            success: r.success,
            errors_before: r.error_count_before,
            errors_after: r.error_count_after,
            duration_ms: r.duration,
            attempts: r.attempts,
            tokens: r.tokens,
        }
    }
}

impl From<ResultRecord> for NativeHistoryResult {
    fn from(r: ResultRecord) -> Self {
        Self {
            model: r.model,
            endpoint: r.endpoint,
            fixture: r.fixture,
            fixture_hash: r.fixture_hash,
            family: r.family,
            code: r.code,
            success: r.success,
            error_count_before: r.errors_before,
            error_count_after: r.errors_after,
            duration: r.duration_ms,
            attempts: r.attempts,
            tokens: r.tokens,
        }
    }
}

impl From<NativeHistoryRun> for RunRecord {
    fn from(r: NativeHistoryRun) -> Self {
        Self {
            timestamp: r.timestamp,
            package_version: r.package_version,
            plan_format_version: r.plan_format_version,
            label: r.label,
            results: r.results.into_iter().map(ResultRecord::from).collect(),
        }
    }
}

impl From<StoredRun> for NativeHistoryRun {
    fn from(s: StoredRun) -> Self {
        Self {
            id: Some(s.id),
            timestamp: s.run.timestamp,
            package_version: s.run.package_version,
            plan_format_version: s.run.plan_format_version,
            label: s.run.label,
            results: s
                .run
                .results
                .into_iter()
                .map(NativeHistoryResult::from)
                .collect(),
        }
    }
}

impl From<Series> for NativeHistorySeries {
    fn from(s: Series) -> Self {
        Self {
            model: s.model,
            endpoint: s.endpoint,
            runs: s.runs,
        }
    }
}

/// Runs `work` on tokio's blocking pool (SQLite blocks, and waits for other writers) and
/// settles the promise on the JS thread with the core error converted there, keeping its code.
///
/// Deadlocks: the store's one mutex is only taken inside `work`, never on the JS thread.
fn spawn<'env, T, V>(
    env: &'env Env,
    work: impl FnOnce() -> crate::history::Result<T> + Send + 'static,
    convert: impl FnOnce(T) -> V + 'static,
) -> Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
{
    run_blocking(env, "history", work, convert)
}

/// Opens (creating when missing) the history file at `path`; its folder must exist.
#[napi(catch_unwind, ts_return_type = "Promise<NativeHistory>")]
#[cfg_attr(test, allow(dead_code))]
pub fn open_history<'env>(env: &'env Env, path: String) -> Result<PromiseRaw<'env, NativeHistory>> {
    spawn(
        env,
        move || HistoryStore::open(path),
        |store| NativeHistory {
            inner: Arc::new(store),
        },
    )
}

/// One open history file; `lib/history.js` wraps it.
#[napi]
pub struct NativeHistory {
    inner: Arc<HistoryStore>,
}

#[napi]
impl NativeHistory {
    #[napi(catch_unwind, getter)]
    pub fn path(&self) -> String {
        self.inner.path().to_string_lossy().into_owned()
    }

    /// Appends one run in one transaction; resolves with its id.
    #[napi(catch_unwind, ts_return_type = "Promise<number>")]
    pub fn append<'env>(
        &self,
        env: &'env Env,
        run: NativeHistoryRun,
    ) -> Result<PromiseRaw<'env, i64>> {
        let inner = Arc::clone(&self.inner);
        let run = RunRecord::from(run);
        spawn(env, move || inner.append(&run), |id| id)
    }

    #[napi(catch_unwind, ts_return_type = "Promise<NativeHistorySeries[]>")]
    pub fn series<'env>(
        &self,
        env: &'env Env,
    ) -> Result<PromiseRaw<'env, Vec<NativeHistorySeries>>> {
        let inner = Arc::clone(&self.inner);
        spawn(
            env,
            move || inner.series(),
            |s| s.into_iter().map(NativeHistorySeries::from).collect(),
        )
    }

    /// The last `limit` runs of one model at one endpoint, oldest first.
    #[napi(catch_unwind, ts_return_type = "Promise<NativeHistoryRun[]>")]
    pub fn runs<'env>(
        &self,
        env: &'env Env,
        model: String,
        endpoint: String,
        limit: u32,
    ) -> Result<PromiseRaw<'env, Vec<NativeHistoryRun>>> {
        let inner = Arc::clone(&self.inner);
        spawn(
            env,
            move || inner.runs(&model, &endpoint, limit),
            |runs| runs.into_iter().map(NativeHistoryRun::from).collect(),
        )
    }

    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn close<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let inner = Arc::clone(&self.inner);
        spawn(env, move || inner.close(), |()| ())
    }
}
