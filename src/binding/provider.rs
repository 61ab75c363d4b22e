// napi-derive registers exports only outside `cfg(test)`, so test builds see no caller.
#![cfg_attr(test, allow(dead_code))]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::{Either, Env, JsError, PromiseRaw, ToNapiValue, Unknown};
use napi_derive::napi;

use super::args::{self as js, resolve_path, Range};
use super::cancel::NativeCancel;
use super::checkers::{HostCallback, JsThreadHost};
use super::error::{failure, Result};
use super::shared_cache::NativeSharedConfig;
use crate::cancel::Cancel;
use crate::provider::command;
use crate::provider::{
    BreakerState, Carrier, ExecuteOutcome, ExecuteRequest, FixtureType, ProviderError,
    ServerOptions, Service, ServiceConfig,
};

/// Runs `work` on napi's tokio runtime and settles the promise on the JS thread: bad input
/// (`ProviderError::Arg`) rejects, as a TypeError/RangeError once `lib/native.js` has
/// translated it; every other fault resolves, as a [`NativeProviderFailure`] in the value.
///
/// Deadlocks: the service's locks are plain mutexes never held across an await (see
/// `provider/pool.rs`), so the JS thread, which only takes them briefly for stats, never waits
/// on a future.
fn spawn<'env, T, V>(
    env: &'env Env,
    work: impl std::future::Future<Output = std::result::Result<T, ProviderError>> + Send + 'static,
    convert: impl FnOnce(std::result::Result<T, NativeProviderFailure>) -> V + 'static,
) -> Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
{
    env.spawn_future_with_callback(
        async move { Ok(work.await) },
        move |env, outcome| match outcome {
            Err(e @ ProviderError::Arg(_)) => {
                let error: napi::Error<&'static str> = e.into();
                Err(napi::Error::from(JsError::from(error).into_unknown(*env)))
            }
            other => Ok(convert(other.map_err(Into::into))),
        },
    )
    .map_err(|e| failure(e.reason))
}

/// A provider fault as data: the one channel failures cross on. `lib/provider/errors.js` makes
/// it the contract's error class with its fields (`timeout`, `exitCode`, `stderr`,
/// `operation`, `cacheKey`).
#[napi(object)]
pub struct NativeProviderFailure {
    /// `timeout`, `process`, `cache`, `circuit-open`, `missing`, `not-connected`, `aborted`,
    /// `io`.
    pub kind: String,
    pub message: String,
    pub operation: Option<String>,
    pub timeout: Option<f64>,
    pub exit_code: Option<i32>,
    pub stderr: Option<String>,
    pub cache_key: Option<String>,
}

impl From<ProviderError> for NativeProviderFailure {
    fn from(e: ProviderError) -> Self {
        let mut out = NativeProviderFailure {
            kind: String::new(),
            message: e.to_string(),
            operation: None,
            timeout: None,
            exit_code: None,
            stderr: None,
            cache_key: None,
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
            ProviderError::Cache { operation, key, .. } => {
                out.operation = Some(operation);
                out.cache_key = Some(key);
                "cache"
            }
            ProviderError::SharedCache { operation, key, .. } => {
                out.operation = Some(operation);
                out.cache_key = Some(key);
                "shared-cache"
            }
            ProviderError::CircuitOpen { .. } => "circuit-open",
            ProviderError::Missing(_) => "missing",
            ProviderError::NotConnected => "not-connected",
            ProviderError::Cancelled => "aborted",
            ProviderError::Arg(_) => "invalid",
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
    /// Checked by `sharedCacheCheck` (`lib/provider/options.js`).
    pub shared_cache: Option<NativeSharedConfig>,
    pub min_workers: u32,
    pub max_workers: u32,
    pub worker_grow_after: f64,
    pub worker_idle_timeout: f64,
    pub worker_start_timeout: f64,
    pub worker_heap_mb: u32,
    pub worker_low_memory: bool,
    pub acquire_timeout: f64,
    pub job_timeout: f64,
    pub max_attempts: u32,
    pub attempt_timeout: f64,
    pub breaker_threshold: u32,
    pub breaker_recovery: f64,
    pub massive_count: u32,
    pub massive_seed: u32,
    /// `ollama` or `openai` (checked and inferred in `lib/provider/options.js`).
    pub api: Option<String>,
    pub api_key_env: Option<String>,
    pub seed: Option<i64>,
    pub max_concurrent_requests: Option<u32>,
    /// `thread` (the checkers on threads of this process, started by the host given to
    /// `connectBuildFixService`) or `process` (the default here).
    pub checkers: Option<String>,
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
            shared_cache: c.shared_cache.map(Into::into),
            min_workers: c.min_workers as usize,
            max_workers: c.max_workers as usize,
            grow_after_ms: c.worker_grow_after as u64,
            worker_idle_timeout_ms: c.worker_idle_timeout as u64,
            worker_start_timeout_ms: c.worker_start_timeout as u64,
            worker_heap_mb: c.worker_heap_mb,
            worker_low_memory: c.worker_low_memory,
            acquire_timeout_ms: c.acquire_timeout as u64,
            job_timeout_ms: c.job_timeout as u64,
            max_attempts: c.max_attempts,
            attempt_timeout_ms: c.attempt_timeout as u64,
            breaker_threshold: c.breaker_threshold,
            breaker_recovery_ms: c.breaker_recovery as u64,
            massive_count: c.massive_count,
            massive_seed: c.massive_seed,
            server: ServerOptions {
                api: c.api,
                api_key_env: c.api_key_env,
                seed: c.seed,
                max_concurrent_requests: c.max_concurrent_requests,
            },
            carrier: Carrier::Process,
        }
    }
}

/// A request as the providers take it: checked here, once, for both providers (the
/// process-per-request baseline reads it back through `checkBuildFixRequest`).
fn execute_request(request: Unknown) -> Result<ExecuteRequest> {
    let request = js::object(
        "request",
        "a BenchmarkRequest object {prompt, maxTokens?, temperature?, metadata?}",
        request,
    )?;
    let prompt = js::required_string("request.prompt", &js::field(&request, "prompt")?)?;
    let max_tokens = js::number(
        "request.maxTokens",
        js::field_arg(&request, "maxTokens")?,
        Range {
            min: 1.0,
            max: f64::from(i32::MAX),
            integer: true,
        },
    )?;
    let temperature = js::number(
        "request.temperature",
        js::field_arg(&request, "temperature")?,
        Range::finite(0.0, 100.0),
    )?;
    let mut out = ExecuteRequest {
        prompt: Some(prompt),
        max_tokens: max_tokens.map(|n| n as u32),
        temperature,
        ..ExecuteRequest::default()
    };
    let Some(metadata) = js::options_object("request.metadata", js::field(&request, "metadata")?)?
    else {
        return Ok(out);
    };
    out.fixture_type = js::one_of(
        "metadata.fixtureType",
        js::field_arg(&metadata, "fixtureType")?,
        &[
            ("small", FixtureType::Small),
            ("massive", FixtureType::Massive),
        ],
    )?
    .unwrap_or(FixtureType::Small);
    let dir = js::field(&metadata, "fixturesDir")?;
    if !matches!(dir.get_type(), Ok(napi::ValueType::Undefined)) {
        let expected = "a path to a folder of fixture folders";
        let path = js::required_string("metadata.fixturesDir", &dir)
            .map_err(|_| js::bad_type("metadata.fixturesDir", expected, &dir))?;
        if path.is_empty() {
            return Err(js::bad_type("metadata.fixturesDir", expected, &dir));
        }
        // A folder of one's own replaces the bundled sets; `massive` would contradict it.
        if out.fixture_type == FixtureType::Massive {
            return Err(js::bad_range(
                "metadata.fixtureType",
                "'small' or nothing when metadata.fixturesDir is given",
                "\"massive\"",
            ));
        }
        out.fixtures_dir = Some(resolve_path(&path).map_err(|e| failure(e.to_string()))?);
    }
    out.fixtures = js::string_array(
        "metadata.fixtures",
        "an array of fixture names",
        &js::field(&metadata, "fixtures")?,
    )?;
    // An empty selection would answer "0 tests": almost surely a mistake, and never a benchmark.
    if out.fixtures.as_ref().is_some_and(Vec::is_empty) {
        return Err(js::bad_range(
            "metadata.fixtures",
            "at least one fixture name (leave it out for the whole set)",
            "\"an empty array\"",
        ));
    }
    Ok(out)
}

/// What a request asks for, as checked by [`execute_request`].
#[napi(object)]
pub struct NativeCheckedRequest {
    /// `small` or `massive`.
    pub fixture_type: String,
    pub fixtures: Option<Vec<String>>,
    /// The caller's own folder of fixture folders (absolute), when given.
    pub fixtures_dir: Option<String>,
}

/// Checks a request as `execute` does; throws a TypeError/RangeError naming the bad field.
#[napi(catch_unwind)]
pub fn check_build_fix_request(request: Unknown) -> Result<NativeCheckedRequest> {
    let r = execute_request(request)?;
    Ok(NativeCheckedRequest {
        fixture_type: r.fixture_type.as_str().to_owned(),
        fixtures: r.fixtures,
        fixtures_dir: r.fixtures_dir.map(|d| d.display().to_string()),
    })
}

/// How a run ended, in either mode: the results, or the failure that stopped it.
#[napi(object)]
pub struct NativeRunOutcome {
    /// `BuildFixResult[]` as JSON text (`[]` when the run failed).
    pub results_json: String,
    pub fixture_type: String,
    pub cached: bool,
    pub infrastructure_failures: u32,
    /// Command mode: the totals the command printed (they may come without results).
    pub total_tests: Option<f64>,
    pub successful_tests: Option<f64>,
    /// Set when the run could not happen (the fields above are then empty).
    pub failure: Option<NativeProviderFailure>,
    /// What the result cache could not do; the answer stands without it.
    pub cache_failures: Vec<NativeProviderFailure>,
}

impl NativeRunOutcome {
    fn failed(fixture_type: FixtureType, failure: NativeProviderFailure) -> Self {
        NativeRunOutcome {
            results_json: "[]".into(),
            fixture_type: fixture_type.as_str().to_owned(),
            cached: false,
            infrastructure_failures: 0,
            total_tests: None,
            successful_tests: None,
            failure: Some(failure),
            cache_failures: Vec::new(),
        }
    }

    fn executed(
        fixture_type: FixtureType,
        outcome: std::result::Result<ExecuteOutcome, NativeProviderFailure>,
    ) -> Self {
        match outcome {
            Ok(o) => NativeRunOutcome {
                results_json: serde_json::Value::from(o.results).to_string(),
                fixture_type: o.fixture_type.as_str().to_owned(),
                cached: o.cached,
                infrastructure_failures: o.infrastructure_failures as u32,
                total_tests: None,
                successful_tests: None,
                failure: None,
                cache_failures: o.cache_failures.into_iter().map(Into::into).collect(),
            },
            Err(f) => Self::failed(fixture_type, f),
        }
    }
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
    /// The shared level's own counters, when there is one.
    pub shared: Option<NativeSharedCounters>,
}

#[napi(object)]
pub struct NativeSharedCounters {
    pub hits: f64,
    pub misses: f64,
    pub errors: f64,
    pub writes: f64,
}

/// The provider service. Made by [`connect_build_fix_service`]; every slow method returns a
/// promise settled from the tokio runtime.
#[napi]
pub struct NativeBuildFixService {
    inner: Arc<Service>,
}

/// Starts the service: checks the runtime, prepares folders and caches, and waits until the
/// warm workers are ready. Resolves with the service, or with the failure that stopped it.
/// With `config.checkers` `thread`, `threadHost` starts, feeds and stops the checker threads
/// (`lib/provider/checkers.js`) and hands their lines back through `checkerEvent`.
#[napi(
    catch_unwind,
    ts_args_type = "config: NativeServiceConfig, threadHost?: (op: 'start' | 'send' | 'terminate', id: number, payload: string) => void",
    ts_return_type = "Promise<NativeBuildFixService | NativeProviderFailure>"
)]
pub fn connect_build_fix_service<'env>(
    env: &'env Env,
    config: NativeServiceConfig,
    thread_host: Option<HostCallback<'_>>,
) -> Result<PromiseRaw<'env, Either<NativeBuildFixService, NativeProviderFailure>>> {
    let carrier = match (config.checkers.as_deref(), thread_host) {
        (None | Some("process"), _) => Carrier::Process,
        (Some("thread"), Some(host)) => Carrier::Thread(JsThreadHost::new(host)?),
        (Some("thread"), None) => {
            return Err(super::error::type_error(
                "checkers 'thread' needs a threadHost function",
            ))
        }
        (Some(other), _) => {
            return Err(super::error::type_error(format!(
                "config.checkers must be 'thread' or 'process', not {other:?}"
            )))
        }
    };
    let config = ServiceConfig {
        carrier,
        ..config.into()
    };
    spawn(env, Service::connect(config), |outcome| match outcome {
        Ok(inner) => Either::A(NativeBuildFixService { inner }),
        Err(failure) => Either::B(failure),
    })
}

#[napi]
impl NativeBuildFixService {
    /// Runs a request (checked here; a bad one throws) with the result cache or without it.
    /// `cancel` stops it: the outcome's failure is then of kind `aborted`.
    #[napi(catch_unwind, ts_return_type = "Promise<NativeRunOutcome>")]
    pub fn execute<'env>(
        &self,
        env: &'env Env,
        request: Unknown,
        use_cache: bool,
        cancel: Option<&NativeCancel>,
    ) -> Result<PromiseRaw<'env, NativeRunOutcome>> {
        let req = ExecuteRequest {
            use_cache,
            ..execute_request(request)?
        };
        let fixture_type = req.fixture_type;
        let cancel = cancel.map_or_else(Cancel::new, NativeCancel::token);
        let inner = self.inner.clone();
        spawn(
            env,
            async move { inner.execute(req, &cancel).await },
            move |outcome| NativeRunOutcome::executed(fixture_type, outcome),
        )
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
            shared: c.shared.map(|s| NativeSharedCounters {
                hits: s.hits as f64,
                misses: s.misses as f64,
                errors: s.errors as f64,
                writes: s.writes as f64,
            }),
        }
    }

    /// Empties the result cache; resolves with what could not be removed, if anything.
    #[napi(catch_unwind, ts_return_type = "Promise<NativeProviderFailure | null>")]
    pub fn clear_cache<'env>(
        &self,
        env: &'env Env,
    ) -> Result<PromiseRaw<'env, Option<NativeProviderFailure>>> {
        let inner = self.inner.clone();
        spawn(env, async move { inner.clear_cache().await }, |outcome| {
            outcome.err()
        })
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
            |_| (),
        )
    }
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
#[napi(catch_unwind, ts_return_type = "Promise<NativeRunOutcome>")]
pub fn run_build_fix_command<'env>(
    env: &'env Env,
    template: Vec<String>,
    cwd: String,
    model: String,
    massive: bool,
    timeout: f64,
) -> Result<PromiseRaw<'env, NativeRunOutcome>> {
    let argv = command::expand_argv(&template, &model, massive);
    let timeout = Duration::from_millis(timeout.max(1.0) as u64);
    let kind = if massive {
        FixtureType::Massive
    } else {
        FixtureType::Small
    };
    spawn(
        env,
        async move { command::run(&argv, std::path::Path::new(&cwd), timeout).await },
        move |outcome| match outcome {
            Ok(o) => NativeRunOutcome {
                results_json: serde_json::Value::from(o.results).to_string(),
                fixture_type: kind.as_str().to_owned(),
                cached: false,
                infrastructure_failures: 0,
                total_tests: Some(o.total_tests as f64),
                successful_tests: Some(o.successful_tests as f64),
                failure: None,
                cache_failures: Vec::new(),
            },
            Err(f) => NativeRunOutcome::failed(kind, f),
        },
    )
}

/// Resident memory of these processes, in bytes (0 for any that are gone).
#[napi(catch_unwind)]
pub fn processes_rss(pids: Vec<u32>) -> f64 {
    pids.into_iter()
        .map(crate::provider::process_rss)
        .sum::<u64>() as f64
}
