// napi-derive registers exports only outside `cfg(test)`, so test builds see no caller.
#![cfg_attr(test, allow(dead_code))]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::{Env, JsError, PromiseRaw, ToNapiValue};
use napi_derive::napi;

use super::error::{failure, range_error, type_error, Result, INVALID_ARG_VALUE};
use crate::provider::command;
use crate::provider::{
    BreakerState, ExecuteRequest, FixtureType, ProviderError, Service, ServiceConfig,
};

impl From<ProviderError> for napi::Error<&'static str> {
    fn from(e: ProviderError) -> Self {
        let message = e.to_string();
        match e {
            ProviderError::InvalidType { .. } => type_error(message),
            ProviderError::OutOfRange { .. } => range_error(message),
            ProviderError::Missing(_) => napi::Error::new("ERR_BUILDFIX_MISSING", message),
            ProviderError::Timeout { .. } => napi::Error::new("ERR_BUILDFIX_TIMEOUT", message),
            ProviderError::Process { .. } => napi::Error::new("ERR_BUILDFIX_PROCESS", message),
            ProviderError::CircuitOpen { .. } => {
                napi::Error::new("ERR_BUILDFIX_CIRCUIT_OPEN", message)
            }
            ProviderError::NotConnected => napi::Error::new("ERR_BUILDFIX_NOT_CONNECTED", message),
            ProviderError::Io(_) => napi::Error::new("GenericFailure", message),
        }
    }
}

/// Runs `work` on napi's tokio runtime and settles the promise on the JS thread, where a
/// provider error becomes a JS error with its code (`ERR_BUILDFIX_MISSING`, ...).
///
/// Deadlocks: the service's locks are plain mutexes never held across an await (see
/// `provider/pool.rs`), so the JS thread, which only takes them briefly for stats, never waits
/// on a future.
fn spawn<'env, T, V>(
    env: &'env Env,
    work: impl std::future::Future<Output = std::result::Result<T, ProviderError>> + Send + 'static,
    convert: impl FnOnce(T) -> V + 'static,
) -> Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
{
    env.spawn_future_with_callback(
        async move { Ok(work.await) },
        move |env, outcome| match outcome {
            Ok(value) => Ok(convert(value)),
            Err(e) => {
                let error: napi::Error<&'static str> = e.into();
                Err(napi::Error::from(JsError::from(error).into_unknown(*env)))
            }
        },
    )
    .map_err(|e| failure(e.reason))
}

/// The provider error as data, so the JS layer can build the contract's error classes with
/// their fields (`timeout`, `exitCode`, `stderr`, `operation`).
#[napi(object)]
pub struct NativeProviderError {
    /// `timeout`, `process`, `circuit-open`, `missing`, `not-connected`, `invalid`, `io`.
    pub kind: String,
    pub message: String,
    pub operation: Option<String>,
    pub timeout: Option<f64>,
    pub exit_code: Option<i32>,
    pub stderr: Option<String>,
}

impl From<ProviderError> for NativeProviderError {
    fn from(e: ProviderError) -> Self {
        let message = e.to_string();
        let mut out = NativeProviderError {
            kind: String::new(),
            message,
            operation: None,
            timeout: None,
            exit_code: None,
            stderr: None,
        };
        out.kind = match e {
            ProviderError::Timeout {
                operation,
                timeout_ms,
            } => {
                out.operation = Some(operation);
                out.timeout = Some(timeout_ms as f64);
                "timeout"
            }
            ProviderError::Process {
                exit_code,
                stderr,
                operation,
                ..
            } => {
                out.operation = Some(operation);
                out.exit_code = exit_code;
                out.stderr = Some(stderr);
                "process"
            }
            ProviderError::CircuitOpen { .. } => "circuit-open",
            ProviderError::Missing(_) => "missing",
            ProviderError::NotConnected => "not-connected",
            ProviderError::InvalidType { .. } | ProviderError::OutOfRange { .. } => "invalid",
            ProviderError::Io(_) => "io",
        }
        .to_owned();
        out
    }
}

#[napi(object)]
pub struct NativeServiceConfig {
    pub model: String,
    pub endpoint: Option<String>,
    pub package_root: String,
    pub node: String,
    pub work_dir: String,
    pub cache_dir: Option<String>,
    pub cache_enabled: bool,
    pub cache_ttl: f64,
    pub min_workers: u32,
    pub max_workers: u32,
    pub worker_start_timeout: f64,
    pub worker_heap_mb: u32,
    pub acquire_timeout: f64,
    pub job_timeout: f64,
    pub max_attempts: u32,
    pub attempt_timeout: f64,
    pub breaker_threshold: u32,
    pub breaker_recovery: f64,
    pub massive_count: u32,
    pub massive_seed: u32,
}

impl From<NativeServiceConfig> for ServiceConfig {
    fn from(c: NativeServiceConfig) -> Self {
        ServiceConfig {
            model: c.model,
            endpoint: c.endpoint,
            package_root: PathBuf::from(c.package_root),
            node: PathBuf::from(c.node),
            work_dir: PathBuf::from(c.work_dir),
            cache_dir: c.cache_dir.map(PathBuf::from),
            cache_enabled: c.cache_enabled,
            cache_ttl_ms: c.cache_ttl as u64,
            min_workers: c.min_workers as usize,
            max_workers: c.max_workers as usize,
            worker_start_timeout_ms: c.worker_start_timeout as u64,
            worker_heap_mb: c.worker_heap_mb,
            acquire_timeout_ms: c.acquire_timeout as u64,
            job_timeout_ms: c.job_timeout as u64,
            max_attempts: c.max_attempts,
            attempt_timeout_ms: c.attempt_timeout as u64,
            breaker_threshold: c.breaker_threshold,
            breaker_recovery_ms: c.breaker_recovery as u64,
            massive_count: c.massive_count,
            massive_seed: c.massive_seed,
        }
    }
}

#[napi(object)]
pub struct NativeExecuteRequest {
    /// `small` or `massive`.
    pub fixture_type: Option<String>,
    pub fixtures: Option<Vec<String>>,
    /// A folder of fixture folders in place of the bundled `small` set (absolute).
    pub fixtures_dir: Option<String>,
    pub model: Option<String>,
    pub prompt: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub use_cache: bool,
}

#[napi(object)]
pub struct NativeExecuteOutcome {
    /// `BuildFixResult[]` as JSON text.
    pub results_json: String,
    pub fixture_type: String,
    pub cached: bool,
    pub infrastructure_failures: u32,
    /// Set instead of the fields above when the request could not run at all.
    pub error: Option<NativeProviderError>,
}

#[napi(object)]
pub struct NativePoolStatus {
    pub size: u32,
    pub active: u32,
    pub idle: u32,
    pub waiting: u32,
    pub starting: u32,
    pub max_size: u32,
    pub min_size: u32,
    pub created: f64,
    pub destroyed: f64,
    pub avg_wait_time: f64,
}

#[napi(object)]
pub struct NativeCacheCounters {
    pub hits: f64,
    pub misses: f64,
    pub evictions: f64,
}

/// The provider service. Made by [`connect_build_fix_service`]; every slow method returns a
/// promise settled from the tokio runtime.
#[napi]
pub struct NativeBuildFixService {
    inner: Arc<Service>,
}

/// Starts the service: checks the runtime, prepares folders and caches, and waits until the
/// warm workers are ready.
#[napi(catch_unwind, ts_return_type = "Promise<NativeBuildFixService>")]
pub fn connect_build_fix_service<'env>(
    env: &'env Env,
    config: NativeServiceConfig,
) -> Result<PromiseRaw<'env, NativeBuildFixService>> {
    spawn(env, Service::connect(config.into()), |inner| {
        NativeBuildFixService { inner }
    })
}

#[napi]
impl NativeBuildFixService {
    #[napi(catch_unwind, ts_return_type = "Promise<NativeExecuteOutcome>")]
    pub fn execute<'env>(
        &self,
        env: &'env Env,
        request: NativeExecuteRequest,
    ) -> Result<PromiseRaw<'env, NativeExecuteOutcome>> {
        let fixture_type = match request.fixture_type.as_deref() {
            None | Some("small") => FixtureType::Small,
            Some("massive") => FixtureType::Massive,
            Some(other) => {
                return Err(napi::Error::new(
                    INVALID_ARG_VALUE,
                    format!("metadata.fixtureType must be 'small' or 'massive', got {other:?}"),
                ))
            }
        };
        let req = ExecuteRequest {
            fixture_type: Some(fixture_type),
            fixtures: request.fixtures,
            fixtures_dir: request.fixtures_dir.map(std::path::PathBuf::from),
            model: request.model,
            prompt: request.prompt,
            temperature: request.temperature,
            max_tokens: request.max_tokens,
            use_cache: request.use_cache,
        };
        let inner = self.inner.clone();
        let work = async move {
            match inner.execute(req).await {
                Ok(o) => Ok(NativeExecuteOutcome {
                    results_json: serde_json::Value::from(o.results).to_string(),
                    fixture_type: o.fixture_type.as_str().to_owned(),
                    cached: o.cached,
                    infrastructure_failures: o.infrastructure_failures as u32,
                    error: None,
                }),
                // Bad input rejects; a run that could not happen resolves with the error as data.
                Err(e @ (ProviderError::InvalidType { .. } | ProviderError::OutOfRange { .. })) => {
                    Err(e)
                }
                Err(e) => Ok(NativeExecuteOutcome {
                    results_json: "[]".into(),
                    fixture_type: fixture_type.as_str().to_owned(),
                    cached: false,
                    infrastructure_failures: 0,
                    error: Some(e.into()),
                }),
            }
        };
        spawn(env, work, |o| o)
    }

    #[napi(catch_unwind)]
    pub fn pool_status(&self) -> NativePoolStatus {
        let s = self.inner.pool().status();
        NativePoolStatus {
            size: s.size as u32,
            active: s.active as u32,
            idle: s.idle as u32,
            waiting: s.waiting as u32,
            starting: s.starting as u32,
            max_size: s.max_size as u32,
            min_size: s.min_size as u32,
            created: s.created as f64,
            destroyed: s.destroyed as f64,
            avg_wait_time: s.avg_wait_ms,
        }
    }

    #[napi(catch_unwind)]
    pub fn cache_counters(&self) -> NativeCacheCounters {
        let c = self.inner.cache_counters();
        NativeCacheCounters {
            hits: c.hits as f64,
            misses: c.misses as f64,
            evictions: c.evictions as f64,
        }
    }

    #[napi(catch_unwind)]
    pub fn clear_cache(&self) {
        self.inner.clear_cache();
    }

    /// `closed`, `open` or `half-open`.
    #[napi(catch_unwind)]
    pub fn breaker_state(&self) -> String {
        match self.inner.breaker_state() {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        }
        .to_owned()
    }

    /// Process ids of the live workers.
    #[napi(catch_unwind)]
    pub fn worker_pids(&self) -> Vec<u32> {
        self.inner.pool().pids()
    }

    /// Stops every worker and removes the working copies.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn close<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let inner = self.inner.clone();
        spawn(
            env,
            async move {
                inner.close().await;
                Ok(())
            },
            |()| (),
        )
    }
}

#[napi(object)]
pub struct NativeCommandOutcome {
    pub results_json: String,
    pub total_tests: f64,
    pub successful_tests: f64,
    pub results_file: Option<String>,
    pub error: Option<NativeProviderError>,
}

/// Finds the monorepo BuildFix (`pnpm-workspace.yaml` with `packages/buildfix`) at or above
/// `start`: `[root, ...argv template]`, or nothing.
#[napi(catch_unwind)]
pub fn find_monorepo_build_fix(start: String) -> Option<Vec<String>> {
    let (root, argv) = command::monorepo_command(std::path::Path::new(&start))?;
    Some(
        std::iter::once(root.display().to_string())
            .chain(argv)
            .collect(),
    )
}

/// Runs a BuildFix command (an argument vector, never a shell) with `{model}`,
/// `{fixtureType}` and `{fixtureFlag}` filled in.
#[napi(catch_unwind, ts_return_type = "Promise<NativeCommandOutcome>")]
pub fn run_build_fix_command<'env>(
    env: &'env Env,
    template: Vec<String>,
    cwd: String,
    model: String,
    massive: bool,
    timeout: f64,
) -> Result<PromiseRaw<'env, NativeCommandOutcome>> {
    let argv = command::expand_argv(&template, &model, massive);
    let timeout = Duration::from_millis(timeout.max(1.0) as u64);
    let work = async move {
        match command::run(&argv, std::path::Path::new(&cwd), timeout).await {
            Ok(o) => Ok(NativeCommandOutcome {
                results_json: serde_json::Value::from(o.results).to_string(),
                total_tests: o.total_tests as f64,
                successful_tests: o.successful_tests as f64,
                results_file: o.results_file.map(|p| p.display().to_string()),
                error: None,
            }),
            Err(e @ ProviderError::InvalidType { .. }) => Err(e),
            Err(e) => Ok(NativeCommandOutcome {
                results_json: "[]".into(),
                total_tests: 0.0,
                successful_tests: 0.0,
                results_file: None,
                error: Some(e.into()),
            }),
        }
    };
    spawn(env, work, |o| o)
}

/// Resident memory of these processes, in bytes (0 for any that are gone).
#[napi(catch_unwind)]
pub fn processes_rss(pids: Vec<u32>) -> f64 {
    pids.into_iter()
        .map(crate::provider::process_rss)
        .sum::<u64>() as f64
}
