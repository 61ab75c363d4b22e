//! The provider service: runs a request's fixtures on the warm worker pool, each against a
//! working copy snapshotted before the job and restored after it (also when the worker
//! crashed), caches whole answers in two levels, and fences infrastructure failures with a
//! circuit breaker.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::breaker::{Admission, CircuitBreaker};
use super::fixtures::{self, Fixture};
use super::pool::{Lease, ProcessPool};
use super::workdir::WorkDir;
use super::worker::WorkerSpec;
use super::ProviderError;
use crate::cache::{Cache, CacheOptions};
use crate::pool::PoolConfig;
use crate::snapshot::SnapshotManager;

/// Version of the plan format and judging rule. Part of every cache key: a change to either
/// must not serve answers computed under the old one.
/// 2: `errorsResolved` is a boolean (as in the original), the count is `errorsResolvedCount`.
/// 3: the operations of the wider error families and `replaceText` (`worker/plan.js`).
pub const PLAN_FORMAT_VERSION: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixtureType {
    Small,
    Massive,
}

impl FixtureType {
    pub fn as_str(self) -> &'static str {
        match self {
            FixtureType::Small => "small",
            FixtureType::Massive => "massive",
        }
    }
}

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
    pub min_workers: usize,
    pub max_workers: usize,
    pub worker_start_timeout_ms: u64,
    /// V8 heap limit of each worker, MB (`--max-old-space-size`); 0 leaves Node's default.
    pub worker_heap_mb: u32,
    pub acquire_timeout_ms: u64,
    pub job_timeout_ms: u64,
    pub max_attempts: u32,
    pub attempt_timeout_ms: u64,
    pub breaker_threshold: u32,
    pub breaker_recovery_ms: u64,
    /// The seeded massive set: how many fixtures, which seed.
    pub massive_count: u32,
    pub massive_seed: u32,
}

#[derive(Debug, Clone, Default)]
pub struct ExecuteRequest {
    pub fixture_type: Option<FixtureType>,
    /// Only these fixtures (by name); all of the set when `None`.
    pub fixtures: Option<Vec<String>>,
    /// A folder of fixture folders of the caller's own, in place of the bundled `small` set.
    pub fixtures_dir: Option<PathBuf>,
    pub model: Option<String>,
    pub prompt: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    /// Read and write the result cache for this request.
    pub use_cache: bool,
}

#[derive(Debug, Clone)]
pub struct ExecuteOutcome {
    pub results: Vec<Value>,
    pub fixture_type: FixtureType,
    pub cached: bool,
    /// Jobs that failed for the infrastructure (worker crash, timeout, model server down)
    /// rather than for the plan.
    pub infrastructure_failures: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CacheCounters {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
}

/// A fixture copied into the work folder with a snapshot of its pristine state.
struct WorkingCopy {
    dir: PathBuf,
    snapshots: SnapshotManager,
    pristine: String,
}

struct ResultCache {
    l1: Cache,
    l2: Option<Cache>,
}

pub struct Service {
    config: ServiceConfig,
    pool: ProcessPool,
    /// This service's own folder for working copies (inside `config.work_dir`); `None` once
    /// closed.
    work: Mutex<Option<WorkDir>>,
    work_path: PathBuf,
    /// Free working copies per fixture source folder.
    copies: Mutex<HashMap<PathBuf, Vec<WorkingCopy>>>,
    /// Set first thing by `close` while it holds `copies`, and read by `give_back_copy` under
    /// the same lock: a copy coming back once closing has begun is disposed of instead of kept
    /// (its private snapshot store would otherwise outlive the service). `execute` refuses too.
    closed: AtomicBool,
    /// Fixtures being run (copy taken, not yet given back); `close` waits for them.
    running: AtomicUsize,
    settled: tokio::sync::Notify,
    next_copy: AtomicU64,
    breaker: Mutex<CircuitBreaker>,
    cache: Mutex<Option<ResultCache>>,
    hits: AtomicU64,
    misses: AtomicU64,
    massive: tokio::sync::OnceCell<PathBuf>,
    /// Answers being computed, by cache key: an identical request that arrives meanwhile waits
    /// for that answer instead of running the same fixtures again.
    inflight: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Vec<Value>>>>>,
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

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Counts a fixture as running for as long as it lives (also when its task is cancelled).
struct Running<'a>(&'a Service);

impl<'a> Running<'a> {
    fn new(service: &'a Service) -> Self {
        service.running.fetch_add(1, Ordering::SeqCst);
        Running(service)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
        self.0.settled.notify_waiters();
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
        std::fs::create_dir_all(&config.work_dir)?;
        let work = {
            let parent = config.work_dir.clone();
            tokio::task::spawn_blocking(move || WorkDir::create(&parent))
                .await
                .map_err(|e| ProviderError::Io(e.to_string()))?
                .map_err(|e| {
                    ProviderError::Io(format!(
                        "cannot make a working folder in {}: {e}",
                        config.work_dir.display()
                    ))
                })?
        };
        let cache = if config.cache_enabled {
            Some(Self::open_cache(&config)?)
        } else {
            None
        };
        let spec = WorkerSpec {
            node: config.node.clone(),
            script,
            ready_timeout: Duration::from_millis(config.worker_start_timeout_ms),
            env: worker_env(config.worker_heap_mb),
        };
        let pool = ProcessPool::start(
            spec,
            PoolConfig {
                min_size: config.min_workers,
                max_size: config.max_workers,
                acquire_timeout_ms: 0,
                idle_timeout_ms: 60_000,
                validate: true,
            },
            Duration::from_secs(5),
        )
        .await?;
        Ok(Arc::new(Self {
            breaker: Mutex::new(CircuitBreaker::new(
                config.breaker_threshold,
                config.breaker_recovery_ms,
            )),
            config,
            pool,
            work_path: work.path().to_path_buf(),
            work: Mutex::new(Some(work)),
            copies: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
            running: AtomicUsize::new(0),
            settled: tokio::sync::Notify::new(),
            next_copy: AtomicU64::new(0),
            cache: Mutex::new(cache),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            massive: tokio::sync::OnceCell::new(),
            inflight: Mutex::new(HashMap::new()),
        }))
    }

    fn open_cache(config: &ServiceConfig) -> Result<ResultCache, ProviderError> {
        let bad = |e: crate::cache::CacheError| ProviderError::Io(e.to_string());
        let l1 = Cache::open(
            CacheOptions {
                max_size: 100,
                default_ttl_ms: config.cache_ttl_ms,
                ..CacheOptions::default()
            },
            now_ms(),
        )
        .map_err(bad)?;
        let l2 = match &config.cache_dir {
            Some(dir) => Some(
                Cache::open(
                    CacheOptions {
                        max_size: 1000,
                        default_ttl_ms: config.cache_ttl_ms,
                        compression: true,
                        disk_dir: Some(dir.clone()),
                        ..CacheOptions::default()
                    },
                    now_ms(),
                )
                .map_err(bad)?,
            ),
            None => None,
        };
        Ok(ResultCache { l1, l2 })
    }

    pub fn pool(&self) -> &ProcessPool {
        &self.pool
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    pub fn cache_counters(&self) -> CacheCounters {
        let evictions = lock(&self.cache).as_ref().map_or(0, |c| {
            c.l1.stats().evictions + c.l2.as_ref().map_or(0, |l2| l2.stats().evictions)
        });
        CacheCounters {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions,
        }
    }

    /// Empties both cache levels (the disk level's files too) and zeroes the counters.
    pub fn clear_cache(&self) {
        if let Some(c) = lock(&self.cache).as_mut() {
            let _ = c.l1.clear();
            if let Some(l2) = c.l2.as_mut() {
                let _ = l2.clear();
            }
        }
        self.hits.store(0, Ordering::Relaxed);
        self.misses.store(0, Ordering::Relaxed);
    }

    pub fn breaker_state(&self) -> super::BreakerState {
        lock(&self.breaker).state()
    }

    /// The folder of a fixture set, generating the massive set on first use.
    async fn fixture_root(&self, kind: FixtureType) -> Result<PathBuf, ProviderError> {
        match kind {
            FixtureType::Small => Ok(self.config.package_root.join("fixtures/small")),
            FixtureType::Massive => self
                .massive
                .get_or_try_init(|| self.generate_massive())
                .await
                .cloned(),
        }
    }

    /// The generated set is shared by every provider on the machine: it lives in the system's
    /// temporary folder under a name that carries the seed, the count and a hash of the
    /// generator, is generated into a staging folder and renamed into place (so a reader never
    /// sees half of it), and is only ever read (jobs work on copies).
    async fn generate_massive(&self) -> Result<PathBuf, ProviderError> {
        let c = &self.config;
        let generator = c.package_root.join("fixtures/generate.js");
        let version = blake3::hash(&std::fs::read(&generator)?).to_hex();
        let name = format!(
            "promethean-buildfix-massive-{}-{}-{}",
            c.massive_seed,
            c.massive_count,
            &version[..16]
        );
        let out = std::env::temp_dir().join(&name);
        if out.join(".complete").is_file() {
            return Ok(out);
        }
        let staging = std::env::temp_dir().join(format!(
            "{name}.staging-{}-{}",
            std::process::id(),
            self.next_copy.fetch_add(1, Ordering::Relaxed)
        ));
        let status = tokio::process::Command::new(&c.node)
            .arg(&generator)
            .args(["--out".as_ref(), staging.as_os_str()])
            .args(["--count", &c.massive_count.to_string()])
            .args(["--seed", &c.massive_seed.to_string()])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .status()
            .await?;
        if !status.success() {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(ProviderError::process(
                format!("generating the massive fixtures failed ({status})"),
                "generate",
            ));
        }
        std::fs::write(staging.join(".complete"), b"")?;
        if std::fs::rename(&staging, &out).is_err() {
            // Another process finished first: use its copy.
            let _ = std::fs::remove_dir_all(&staging);
        }
        if out.join(".complete").is_file() {
            Ok(out)
        } else {
            Err(ProviderError::Io(format!(
                "the massive fixtures could not be put in place at {}",
                out.display()
            )))
        }
    }

    /// The fixtures a request asks for.
    async fn select(
        &self,
        req: &ExecuteRequest,
    ) -> Result<(FixtureType, Vec<Fixture>), ProviderError> {
        let kind = req.fixture_type.unwrap_or(FixtureType::Small);
        let root = match &req.fixtures_dir {
            Some(dir) if kind == FixtureType::Small => {
                if !dir.is_dir() {
                    return Err(ProviderError::OutOfRange {
                        name: "metadata.fixturesDir",
                        expected: "an existing folder of fixture folders",
                        got: format!("{:?}", dir.display().to_string()),
                    });
                }
                dir.clone()
            }
            Some(_) => {
                return Err(ProviderError::OutOfRange {
                    name: "metadata.fixtureType",
                    expected: "'small' or nothing when metadata.fixturesDir is given",
                    got: kind.as_str().into(),
                })
            }
            None => self.fixture_root(kind).await?,
        };
        let all = fixtures::list(&root)?;
        let Some(names) = &req.fixtures else {
            return Ok((kind, all));
        };
        let mut chosen = Vec::with_capacity(names.len());
        for name in names {
            match all.iter().find(|f| &f.name == name) {
                Some(f) => chosen.push(f.clone()),
                None => {
                    return Err(ProviderError::OutOfRange {
                        name: "metadata.fixtures",
                        expected: "names of fixtures in the chosen set",
                        got: match &req.fixtures_dir {
                            Some(dir) => format!("{name:?} (no such fixture in {})", dir.display()),
                            None => format!("{name:?} (not a {} fixture)", kind.as_str()),
                        },
                    })
                }
            }
        }
        Ok((kind, chosen))
    }

    fn cache_key(&self, req: &ExecuteRequest, model: &str, set: &[(String, String)]) -> String {
        let key = json!({
            "v": PLAN_FORMAT_VERSION,
            "model": model,
            "endpoint": self.config.endpoint,
            "fixtures": set,
            "prompt": req.prompt,
            "temperature": req.temperature,
            "maxTokens": req.max_tokens,
            "maxAttempts": self.config.max_attempts,
        });
        format!(
            "buildfix:{}",
            blake3::hash(key.to_string().as_bytes()).to_hex()
        )
    }

    fn cache_get(&self, key: &str) -> Option<Vec<Value>> {
        let mut guard = lock(&self.cache);
        let c = guard.as_mut()?;
        let now = now_ms();
        let text = match c.l1.get(key, now).ok().flatten() {
            Some(t) => Some(t),
            None => {
                let l2 = c.l2.as_mut()?;
                let found = l2.get(key, now).ok().flatten();
                if found.is_some() {
                    // Keeps the entry's expiry: l1's default TTL would outlive it.
                    let _ = c.l1.promote_from(l2, key, now);
                }
                found
            }
        };
        serde_json::from_str(&text?).ok()
    }

    fn cache_put(&self, key: &str, results: &[Value]) {
        let mut guard = lock(&self.cache);
        let Some(c) = guard.as_mut() else { return };
        let text = Value::from(results.to_vec()).to_string();
        let now = now_ms();
        let _ = c.l1.set(key, &text, None, None, now);
        if let Some(l2) = c.l2.as_mut() {
            let _ = l2.set(key, &text, None, None, now);
        }
    }

    /// Runs a request: every selected fixture through the pool, or a cached answer.
    pub async fn execute(
        self: &Arc<Self>,
        req: ExecuteRequest,
    ) -> Result<ExecuteOutcome, ProviderError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(ProviderError::NotConnected);
        }
        let model = req
            .model
            .clone()
            .unwrap_or_else(|| self.config.model.clone());
        let (kind, chosen) = self.select(&req).await?;
        if !(req.use_cache && lock(&self.cache).is_some()) {
            return self.run_fixtures(kind, chosen, model, req).await;
        }
        let dirs: Vec<PathBuf> = chosen.iter().map(|f| f.dir.clone()).collect();
        let hashes = tokio::task::spawn_blocking(move || {
            dirs.iter()
                .map(|d| fixtures::content_hash(d))
                .collect::<std::io::Result<Vec<_>>>()
        })
        .await
        .map_err(|e| ProviderError::Io(e.to_string()))??;
        let set: Vec<(String, String)> =
            chosen.iter().map(|f| f.name.clone()).zip(hashes).collect();
        let key = self.cache_key(&req, &model, &set);
        let answered = |results| ExecuteOutcome {
            results,
            fixture_type: kind,
            cached: true,
            infrastructure_failures: 0,
        };
        if let Some(results) = self.cache_get(&key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(answered(results));
        }
        // The first of identical requests runs; the others wait for its answer. An answer with
        // infrastructure failures is neither cached nor shared: a waiter then runs it itself.
        let cell = lock(&self.inflight).entry(key.clone()).or_default().clone();
        let mut mine = None;
        let ran = &mut mine;
        let put_key = key.clone();
        let shared = cell
            .get_or_try_init(|| async move {
                self.misses.fetch_add(1, Ordering::Relaxed);
                let outcome = self.run_fixtures(kind, chosen, model, req).await?;
                let results = outcome.results.clone();
                let whole = outcome.infrastructure_failures == 0;
                *ran = Some(outcome);
                if whole {
                    self.cache_put(&put_key, &results);
                    Ok(results)
                } else {
                    Err(ProviderError::Io("not shared".into()))
                }
            })
            .await
            .cloned();
        {
            let mut inflight = lock(&self.inflight);
            if inflight.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                inflight.remove(&key);
            }
        }
        if let Some(outcome) = mine {
            return Ok(outcome);
        }
        let results = shared?;
        self.hits.fetch_add(1, Ordering::Relaxed);
        Ok(answered(results))
    }

    /// Runs every fixture of a request through the pool, unless the circuit is open.
    async fn run_fixtures(
        self: &Arc<Self>,
        kind: FixtureType,
        chosen: Vec<Fixture>,
        model: String,
        req: ExecuteRequest,
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
        // Every fixture at once; the pool bounds how many run.
        let req = Arc::new(req);
        let handles: Vec<_> = chosen
            .into_iter()
            .map(|f| {
                let (me, model, req) = (self.clone(), model.clone(), req.clone());
                tokio::spawn(async move { me.run_fixture(&f, &model, &req).await })
            })
            .collect();
        let mut outcomes = Vec::with_capacity(handles.len());
        for h in handles {
            outcomes.push(h.await.map_err(|e| ProviderError::Io(e.to_string()))?);
        }
        let infrastructure_failures = outcomes.iter().filter(|(_, infra)| *infra).count();
        let results: Vec<Value> = outcomes.into_iter().map(|(r, _)| r).collect();
        {
            let mut b = lock(&self.breaker);
            if !results.is_empty() && infrastructure_failures == results.len() {
                b.record_failure(now_ms());
            } else {
                b.record_success();
            }
        }
        Ok(ExecuteOutcome {
            results,
            fixture_type: kind,
            cached: false,
            infrastructure_failures,
        })
    }

    /// One fixture: a working copy, a worker, the job, the restore. Never fails: a fault becomes
    /// a failed result, flagged as an infrastructure failure.
    async fn run_fixture(
        self: &Arc<Self>,
        fixture: &Fixture,
        model: &str,
        req: &ExecuteRequest,
    ) -> (Value, bool) {
        let started = std::time::Instant::now();
        let elapsed = || started.elapsed().as_secs_f64() * 1000.0;
        let _running = Running::new(self);
        // A worker first, then a working copy: a copy is only taken by a job that can run now.
        // Taken before the worker, every job waiting in the queue held a copy of its own, so N
        // requests in flight made N copies of each fixture (each a full copy with a private
        // snapshot store) although only the pool's workers can use one at a time.
        let mut lease = match self
            .pool
            .acquire(Duration::from_millis(self.config.acquire_timeout_ms))
            .await
        {
            Ok(l) => l,
            Err(e) => return (failed_result(&fixture.name, model, &e, elapsed()), true),
        };
        let copy = match self.take_copy(fixture).await {
            Ok(c) => c,
            Err(e) => return (failed_result(&fixture.name, model, &e, elapsed()), true),
        };
        let answer = self
            .run_job(&mut lease, &copy.dir, fixture, model, req)
            .await;
        // The worker takes its next job while this copy is restored.
        lease.release();
        self.give_back_copy(fixture, copy).await;
        match answer {
            Ok(result) => {
                let infra = result["errorKind"] == "model-unavailable";
                (result, infra)
            }
            Err(e) => (failed_result(&fixture.name, model, &e, elapsed()), true),
        }
    }

    async fn run_job(
        &self,
        lease: &mut Lease,
        dir: &Path,
        fixture: &Fixture,
        model: &str,
        req: &ExecuteRequest,
    ) -> Result<Value, ProviderError> {
        let c = &self.config;
        let id = format!("job-{}", self.next_copy.fetch_add(1, Ordering::Relaxed));
        let mut job = json!({
            "type": "job",
            "id": id,
            "fixtureDir": dir,
            "fixture": fixture.name,
            "model": model,
            "maxAttempts": c.max_attempts,
            "attemptTimeoutMs": c.attempt_timeout_ms,
        });
        if let Some(e) = &c.endpoint {
            job["endpoint"] = json!(e);
        }
        if let Some(p) = &req.prompt {
            job["prompt"] = json!(p);
        }
        if let Some(t) = req.temperature {
            job["temperature"] = json!(t);
        }
        if let Some(m) = req.max_tokens {
            job["maxTokens"] = json!(m);
        }
        lease
            .worker()
            .run_job(job, Duration::from_millis(c.job_timeout_ms))
            .await
    }

    async fn take_copy(&self, fixture: &Fixture) -> Result<WorkingCopy, ProviderError> {
        if let Some(copy) = lock(&self.copies).get_mut(&fixture.dir).and_then(Vec::pop) {
            return Ok(copy);
        }
        let n = self.next_copy.fetch_add(1, Ordering::Relaxed);
        let dir = self.work_path.join(format!("{}-{n}", fixture.name));
        let src = fixture.dir.clone();
        tokio::task::spawn_blocking(move || {
            let _ = std::fs::remove_dir_all(&dir);
            fixtures::copy_tree(&src, &dir)?;
            let snapshots =
                SnapshotManager::open(&dir).map_err(|e| ProviderError::Io(e.to_string()))?;
            let pristine = snapshots
                .create()
                .map_err(|e| ProviderError::Io(e.to_string()))?
                .id;
            Ok(WorkingCopy {
                dir,
                snapshots,
                pristine,
            })
        })
        .await
        .map_err(|e| ProviderError::Io(e.to_string()))?
    }

    /// Restores the copy to its pristine state and makes it available again; a copy that cannot
    /// be restored is thrown away.
    async fn give_back_copy(&self, fixture: &Fixture, copy: WorkingCopy) {
        let restored =
            tokio::task::spawn_blocking(move || match copy.snapshots.restore(&copy.pristine) {
                Ok(_) => Some(copy),
                Err(_) => {
                    let _ = copy.snapshots.dispose();
                    let _ = std::fs::remove_dir_all(&copy.dir);
                    None
                }
            })
            .await
            .ok()
            .flatten();
        let Some(copy) = restored else { return };
        let mut copies = lock(&self.copies);
        if !self.closed.load(Ordering::SeqCst) {
            copies.entry(fixture.dir.clone()).or_default().push(copy);
            return;
        }
        drop(copies);
        let _ = tokio::task::spawn_blocking(move || {
            let _ = copy.snapshots.dispose();
            let _ = std::fs::remove_dir_all(&copy.dir);
        })
        .await;
    }

    /// Stops every worker, removes the working copies and their snapshot stores, and lets the
    /// disk cache finish its writes.
    pub async fn close(&self) {
        {
            let _free = lock(&self.copies);
            self.closed.store(true, Ordering::SeqCst);
        }
        self.pool.close(Duration::from_secs(3)).await;
        // The jobs of lent workers fail now that their workers are killed; wait (briefly) for
        // their copies to come back and be disposed of (see `give_back_copy`) before returning.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        loop {
            let notified = self.settled.notified();
            if self.running.load(Ordering::SeqCst) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break;
            }
        }
        let copies: Vec<WorkingCopy> = lock(&self.copies).drain().flat_map(|(_, v)| v).collect();
        let work = lock(&self.work).take();
        let _ = tokio::task::spawn_blocking(move || {
            for c in copies {
                let _ = c.snapshots.dispose();
                let _ = std::fs::remove_dir_all(&c.dir);
            }
            // Dropping removes the folder (and anything a failed restore left in it).
            drop(work);
        })
        .await;
        let cache = lock(&self.cache).take();
        if let Some(mut c) = cache {
            c.l1.destroy();
            if let Some(l2) = c.l2.as_mut() {
                // The cache's disk writers run on without anyone waiting: wait here, without
                // blocking a thread, so what was cached is on disk when disconnect resolves.
                let (tx, rx) = tokio::sync::oneshot::channel();
                l2.when_written(Box::new(move |_| {
                    let _ = tx.send(());
                }));
                l2.destroy();
                let _ = rx.await;
            }
        }
    }
}
