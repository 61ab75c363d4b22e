//! The provider service: runs a request's fixtures on the warm worker pool, each on a working
//! copy (`copies.rs`), answers repeats from the result cache (`result_cache.rs`), fences
//! infrastructure failures with a circuit breaker, and stops a request's jobs when it is
//! cancelled.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::breaker::{Admission, CircuitBreaker};
use super::copies::WorkingCopies;
use super::fixtures::{self, Fixture};
use super::pool::ProcessPool;
use super::protocol::{Job, ServerOptions};
use super::request::{cache_key, ExecuteOutcome, ExecuteRequest, FixtureType, KeyParts};
use super::result_cache::{CacheCounters, ResultCache};
use super::sets::FixtureSets;
use super::thread::Carrier;
use super::worker::WorkerSpec;
use super::{lock, now_ms, ProviderError};
use crate::cache::SharedOptions;
use crate::cancel::Cancel;
use crate::fingerprint::ContentHashes;
use crate::pool::PoolConfig;

/// How long `close` waits for the workers to exit, and then for lent copies to come back.
const CLOSE_GRACE: Duration = Duration::from_secs(3);

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub model: String,
    pub endpoint: Option<String>,
    /// The package folder: holds `worker/buildfix-worker.js` and `fixtures/`.
    pub package_root: PathBuf,
    pub node: PathBuf,
    /// The service makes its own folder for working copies in here (created if missing), and
    /// removes it on close; folders left here by services that died are removed on connect.
    pub work_dir: PathBuf,
    /// The disk level of the result cache; `None` keeps results in memory only.
    pub cache_dir: Option<PathBuf>,
    pub cache_enabled: bool,
    pub cache_ttl_ms: u64,
    /// A shared level on Redis below the local ones, so an answer computed on one machine is a
    /// hit on another; `None` keeps the cache local.
    pub shared_cache: Option<SharedOptions>,
    /// Workers kept warm; more start while jobs queue (see `grow_after_ms`), up to
    /// `max_workers`, and stop again after `worker_idle_timeout_ms` idle.
    pub min_workers: usize,
    pub max_workers: usize,
    /// How long a job waits for a worker before another is started for it.
    pub grow_after_ms: u64,
    /// How long a worker above `min_workers` may sit idle before it is stopped.
    pub worker_idle_timeout_ms: u64,
    pub worker_start_timeout_ms: u64,
    /// V8 heap limit of each worker, MB (`--max-old-space-size`); 0 leaves Node's default.
    pub worker_heap_mb: u32,
    /// Runs the workers with V8 flags that trade little speed for much memory (`worker_node_args`).
    pub worker_low_memory: bool,
    pub acquire_timeout_ms: u64,
    pub job_timeout_ms: u64,
    pub max_attempts: u32,
    pub attempt_timeout_ms: u64,
    pub breaker_threshold: u32,
    pub breaker_recovery_ms: u64,
    /// The seeded massive set: how many fixtures, which seed.
    pub massive_count: u32,
    pub massive_seed: u32,
    /// How the model server is spoken to.
    pub server: ServerOptions,
    /// Checkers as processes of their own, or as threads of this process.
    pub carrier: Carrier,
}

pub struct Service {
    config: ServiceConfig,
    pool: ProcessPool,
    copies: WorkingCopies,
    sets: FixtureSets,
    breaker: Mutex<CircuitBreaker>,
    /// `None` when the cache is off.
    cache: Option<ResultCache>,
    /// Answers being computed, by cache key: an identical request that arrives meanwhile waits
    /// for that answer instead of running the same fixtures again.
    inflight: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Vec<Value>>>>>,
    /// The content hashes of fixture files, trusted while their stat is unchanged: a cache hit
    /// walks and stats its fixtures but reads no file.
    content: Arc<ContentHashes>,
}

/// The workers' environment: the heap limit, added to whatever NODE_OPTIONS already says. A
/// worker keeps little live data (tens of MB); without a limit V8 lets a busy one grow to
/// several hundred MB of garbage before collecting.
fn worker_env(heap_mb: u32) -> Vec<(String, String)> {
    if heap_mb == 0 {
        return Vec::new();
    }
    let inherited = std::env::var("NODE_OPTIONS").unwrap_or_default();
    let options = format!("{inherited} --max-old-space-size={heap_mb}");
    vec![("NODE_OPTIONS".into(), options.trim().to_owned())]
}

/// Options for the workers' `node` when `low_memory`: a 1 MB young generation (Node's default
/// lets it grow to 16 MB per semi-space, which a worker fills with the garbage of every check),
/// and no optimising or baseline compiler (`--no-opt --no-sparkplug`: a job is a few ms of
/// compiler code, too brief for compiled code to pay for its memory). Measured with
/// `npm run bench -- worker-memory` (docs/engine.md, "Where a worker's memory goes"): 117 MB at
/// `ready` and 154 MB after 64 small jobs before, 88 MB and 101 MB with these, for a median job
/// time within the noise of a busy machine. `--lite-mode` and `--jitless` save a little more but
/// turn WebAssembly off, and Node's fetch needs it (undici's HTTP parser): a worker then crashes
/// on its first model request.
fn worker_node_args(low_memory: bool) -> Vec<String> {
    if low_memory {
        ["--max-semi-space-size=1", "--no-opt", "--no-sparkplug"]
            .map(String::from)
            .to_vec()
    } else {
        Vec::new()
    }
}

/// A result for a job that never produced one (the worker failed, or the fixture could not be
/// prepared), in the shape of the engine's `BuildFixResult`.
fn failed_result(fixture: &str, model: &str, error: &ProviderError, duration_ms: f64) -> Value {
    json!({
        "fixture": fixture,
        "model": model,
        "success": false,
        "errorCountBefore": 0,
        "errorCountAfter": 0,
        "errorsResolved": false,
        "errorsResolvedCount": 0,
        "planGenerated": false,
        "duration": duration_ms,
        "attempts": 0,
        "errorMessage": error.to_string(),
    })
}

/// How one fixture of a request ended.
enum FixtureRun {
    /// Its result, and whether a failure was the infrastructure's (worker crash, timeout,
    /// model server down) rather than the plan's.
    Done {
        result: Value,
        infrastructure: bool,
    },
    Cancelled,
}

/// The breaker's admission of one request. A request that ends without a verdict (cancelled,
/// or dropped) gives its probe back, so a half-open breaker is not left waiting for it.
struct Admitted<'a> {
    breaker: &'a Mutex<CircuitBreaker>,
    settled: bool,
}

impl Admitted<'_> {
    fn record(mut self, all_failed_for_infrastructure: bool) {
        let mut b = lock(self.breaker);
        if all_failed_for_infrastructure {
            b.record_failure(now_ms());
        } else {
            b.record_success();
        }
        self.settled = true;
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if !self.settled {
            lock(self.breaker).abandon_probe();
        }
    }
}

impl Service {
    /// Checks the runtime is there, prepares folders and caches, and starts the warm pool.
    pub async fn connect(config: ServiceConfig) -> Result<Arc<Self>, ProviderError> {
        let script = config.package_root.join("worker/buildfix-worker.js");
        if !script.is_file() {
            return Err(ProviderError::Missing(format!(
                "the BuildFix worker is missing: {} does not exist",
                script.display()
            )));
        }
        let small = config.package_root.join("fixtures/small");
        if !small.is_dir() {
            return Err(ProviderError::Missing(format!(
                "the bundled fixtures are missing: {} does not exist",
                small.display()
            )));
        }
        let copies = WorkingCopies::create(&config.work_dir).await?;
        let cache = if config.cache_enabled {
            Some(ResultCache::open(
                config.cache_ttl_ms,
                config.cache_dir.clone(),
                config.shared_cache.clone(),
            )?)
        } else {
            None
        };
        let spec = WorkerSpec {
            node: config.node.clone(),
            node_args: worker_node_args(config.worker_low_memory),
            script,
            ready_timeout: Duration::from_millis(config.worker_start_timeout_ms),
            env: worker_env(config.worker_heap_mb),
            carrier: config.carrier.clone(),
            heap_mb: config.worker_heap_mb,
            low_memory: config.worker_low_memory,
        };
        let pool = ProcessPool::start(
            spec,
            PoolConfig {
                min_size: config.min_workers,
                max_size: config.max_workers,
                acquire_timeout_ms: config.acquire_timeout_ms,
                idle_timeout_ms: config.worker_idle_timeout_ms,
                validate: true,
                grow_after_ms: config.grow_after_ms,
            },
            Duration::from_secs(5),
        )
        .await?;
        Ok(Arc::new(Self {
            breaker: Mutex::new(CircuitBreaker::new(
                config.breaker_threshold,
                config.breaker_recovery_ms,
            )),
            sets: FixtureSets::new(
                &config.package_root,
                &config.node,
                config.massive_count,
                config.massive_seed,
            ),
            config,
            pool,
            copies,
            cache,
            inflight: Mutex::new(HashMap::new()),
            content: Arc::new(ContentHashes::new()),
        }))
    }

    pub fn pool(&self) -> &ProcessPool {
        &self.pool
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// How many fixture files were read to build cache keys (a hit on known, unchanged
    /// fixtures reads none).
    pub fn fixture_reads(&self) -> u64 {
        self.content.content_reads()
    }

    pub fn cache_counters(&self) -> CacheCounters {
        self.cache
            .as_ref()
            .map_or_else(CacheCounters::default, ResultCache::counters)
    }

    /// Empties both cache levels (the disk level's files too) and zeroes the counters.
    pub async fn clear_cache(&self) -> Result<(), ProviderError> {
        match &self.cache {
            Some(c) => c.clear().await,
            None => Ok(()),
        }
    }

    pub fn breaker_state(&self) -> super::BreakerState {
        lock(&self.breaker).state()
    }

    /// Runs a request: every selected fixture through the pool, or a cached answer. Once
    /// `cancel` fires, its queued jobs leave the queue, its running jobs are stopped in their
    /// workers, its copies are restored, and it returns `Cancelled`.
    pub async fn execute(
        self: &Arc<Self>,
        req: ExecuteRequest,
        cancel: &Cancel,
    ) -> Result<ExecuteOutcome, ProviderError> {
        if self.copies.is_closed() {
            return Err(ProviderError::NotConnected);
        }
        if cancel.is_cancelled() {
            return Err(ProviderError::Cancelled);
        }
        let model = req
            .model
            .clone()
            .unwrap_or_else(|| self.config.model.clone());
        let kind = req.fixture_type;
        let chosen = self
            .sets
            .select(
                kind,
                req.fixtures.as_deref(),
                req.fixtures_dir.as_deref(),
                self.copies.unique(),
            )
            .await?;
        let cache = match &self.cache {
            Some(c) if req.use_cache => c,
            _ => return self.run_fixtures(kind, chosen, model, req, cancel).await,
        };
        let dirs: Vec<PathBuf> = chosen.iter().map(|f| f.dir.clone()).collect();
        let content = Arc::clone(&self.content);
        let hashes = tokio::task::spawn_blocking(move || {
            dirs.iter()
                .map(|d| fixtures::content_hash(d, &content))
                .collect::<std::io::Result<Vec<_>>>()
        })
        .await
        .map_err(|e| ProviderError::Io(e.to_string()))??;
        let set: Vec<(String, String)> =
            chosen.iter().map(|f| f.name.clone()).zip(hashes).collect();
        let key = cache_key(&KeyParts {
            request: &req,
            model: &model,
            endpoint: self.config.endpoint.as_deref(),
            server: &self.config.server,
            max_attempts: self.config.max_attempts,
            fixtures: &set,
        });
        let mut cache_failures = Vec::new();
        match cache.get(&key).await {
            Ok(Some(results)) => {
                cache.count_hit();
                return Ok(answered(results, kind, cache_failures));
            }
            Ok(None) => {}
            Err(e) => cache_failures.push(e),
        }
        // The first of identical requests runs; the others wait for its answer. An answer with
        // infrastructure failures is neither cached nor shared: a waiter then runs it itself,
        // as it does when the first is cancelled.
        let cell = lock(&self.inflight).entry(key.clone()).or_default().clone();
        let mut mine = None;
        let ran = &mut mine;
        let computed = cell.get_or_try_init(|| async {
            cache.count_miss();
            let mut outcome = self.run_fixtures(kind, chosen, model, req, cancel).await?;
            let results = outcome.results.clone();
            let whole = outcome.infrastructure_failures == 0;
            if whole {
                outcome.cache_failures = cache.put(&key, &results).await;
            }
            *ran = Some(outcome);
            if whole {
                Ok(results)
            } else {
                Err(ProviderError::Io("not shared".into()))
            }
        });
        // A waiter stops waiting at once when cancelled; the one computing stops once its
        // jobs have (run_fixtures sees the same cancel), and is dropped here only if it is
        // slower than that.
        let shared = tokio::select! {
            shared = computed => shared.cloned(),
            () = cancel.cancelled() => Err(ProviderError::Cancelled),
        };
        {
            let mut inflight = lock(&self.inflight);
            if inflight.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                inflight.remove(&key);
            }
        }
        if let Some(mut outcome) = mine {
            cache_failures.append(&mut outcome.cache_failures);
            outcome.cache_failures = cache_failures;
            return Ok(outcome);
        }
        let results = shared?;
        cache.count_hit();
        Ok(answered(results, kind, cache_failures))
    }

    /// Runs every fixture of a request through the pool, unless the circuit is open.
    async fn run_fixtures(
        self: &Arc<Self>,
        kind: FixtureType,
        chosen: Vec<Fixture>,
        model: String,
        req: ExecuteRequest,
        cancel: &Cancel,
    ) -> Result<ExecuteOutcome, ProviderError> {
        let admission = lock(&self.breaker).admit(now_ms());
        if let Admission::Refused {
            retry_in_ms,
            failures,
        } = admission
        {
            return Err(ProviderError::CircuitOpen {
                failures,
                retry_in_ms,
            });
        }
        let admitted = Admitted {
            breaker: &self.breaker,
            settled: false,
        };
        // Every fixture at once; the pool bounds how many run. The tasks run to their end
        // even if this future is dropped: each restores its copy.
        let req = Arc::new(req);
        let handles: Vec<_> = chosen
            .into_iter()
            .map(|f| {
                let (me, model, req, cancel) =
                    (self.clone(), model.clone(), req.clone(), cancel.clone());
                tokio::spawn(async move { me.run_fixture(&f, &model, &req, &cancel).await })
            })
            .collect();
        let mut results = Vec::with_capacity(handles.len());
        let mut infrastructure_failures = 0;
        let mut cancelled = false;
        for h in handles {
            match h.await.map_err(|e| ProviderError::Io(e.to_string()))? {
                FixtureRun::Done {
                    result,
                    infrastructure,
                } => {
                    infrastructure_failures += usize::from(infrastructure);
                    results.push(result);
                }
                FixtureRun::Cancelled => cancelled = true,
            }
        }
        if cancelled || cancel.is_cancelled() {
            return Err(ProviderError::Cancelled);
        }
        admitted.record(!results.is_empty() && infrastructure_failures == results.len());
        Ok(ExecuteOutcome {
            results,
            fixture_type: kind,
            cached: false,
            infrastructure_failures,
            cache_failures: Vec::new(),
        })
    }

    /// One fixture: a worker, a working copy, the job, the restore. A fault becomes a failed
    /// result, flagged as an infrastructure failure.
    async fn run_fixture(
        self: &Arc<Self>,
        fixture: &Fixture,
        model: &str,
        req: &ExecuteRequest,
        cancel: &Cancel,
    ) -> FixtureRun {
        let started = std::time::Instant::now();
        let failed = |e: ProviderError| match e {
            ProviderError::Cancelled => FixtureRun::Cancelled,
            e => FixtureRun::Done {
                result: failed_result(
                    &fixture.name,
                    model,
                    &e,
                    started.elapsed().as_secs_f64() * 1000.0,
                ),
                infrastructure: true,
            },
        };
        // A worker first, then a working copy: a copy is only taken by a job that can run now.
        // Taken before the worker, every job waiting in the queue held a copy of its own, so N
        // requests in flight made N copies of each fixture (each a full copy with a private
        // snapshot store) although only the pool's workers can use one at a time. Cancelled
        // while queued, the job leaves the queue (the acquire is dropped).
        let acquired = tokio::select! {
            lease = self.pool.acquire() => lease,
            () = cancel.cancelled() => Err(ProviderError::Cancelled),
        };
        let mut lease = match acquired {
            Ok(l) => l,
            Err(e) => return failed(e),
        };
        let copy = match self.copies.take(fixture).await {
            Ok(c) => c,
            Err(e) => return failed(e),
        };
        let c = &self.config;
        let job = Job {
            id: format!("job-{}", self.copies.unique()),
            fixture_dir: copy.dir().to_path_buf(),
            fixture: fixture.name.clone(),
            model: model.to_owned(),
            max_attempts: c.max_attempts,
            attempt_timeout_ms: c.attempt_timeout_ms,
            endpoint: c.endpoint.clone(),
            prompt: req.prompt.clone(),
            temperature: req.temperature,
            max_tokens: req.max_tokens,
            server: c.server.clone(),
        };
        let answer = lease
            .worker()
            .run_job(job, Duration::from_millis(c.job_timeout_ms), cancel)
            .await;
        // The worker takes its next job while this copy is restored.
        lease.release();
        self.copies.give_back(fixture, copy).await;
        match answer {
            Ok(result) => {
                let infrastructure = result["errorKind"] == "model-unavailable";
                FixtureRun::Done {
                    result,
                    infrastructure,
                }
            }
            Err(e) => failed(e),
        }
    }

    /// Stops every worker, removes the working copies and their snapshot stores, and lets the
    /// disk cache finish its writes.
    pub async fn close(&self) {
        self.copies.close();
        self.pool.close(CLOSE_GRACE).await;
        // The jobs of lent workers fail now that their workers are killed; their copies come
        // back (briefly awaited) and are disposed of.
        self.copies.remove_all(CLOSE_GRACE).await;
        if let Some(cache) = &self.cache {
            cache.close().await;
        }
    }
}

/// An answer served from the cache (or shared by an identical request).
fn answered(
    results: Vec<Value>,
    fixture_type: FixtureType,
    cache_failures: Vec<ProviderError>,
) -> ExecuteOutcome {
    ExecuteOutcome {
        results,
        fixture_type,
        cached: true,
        infrastructure_failures: 0,
        cache_failures,
    }
}
