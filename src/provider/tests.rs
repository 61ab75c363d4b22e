use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::fixtures;
use super::*;
use crate::cancel::Cancel;
use crate::error::ArgError;
use crate::fingerprint::ContentHashes;

/// A stand-in worker speaking the protocol: answers pings, echoes jobs, and misbehaves on
/// request (sleeps, exits, prints garbage) so the supervision code can be tested without the
/// TypeScript engine.
const FAKE_WORKER: &str = r#"
const rl = require('readline').createInterface({ input: process.stdin })
const send = (m) => process.stdout.write(JSON.stringify(m) + '\n')
const protocol = Number(process.env.FAKE_PROTOCOL || __PROTOCOL__)
if (process.env.FAKE_SLOW_START) setTimeout(() => send({ type: 'ready', protocol }), 5000)
else send({ type: 'ready', pid: process.pid, protocol })
const sleeping = new Map()
rl.on('line', (line) => {
  const m = JSON.parse(line)
  if (m.type === 'ping') return send({ type: 'pong', id: m.id })
  if (m.type === 'shutdown') return process.exit(0)
  if (m.type === 'cancel') {
    // A job told to ignore cancels (stuck in synchronous work) is killed after the grace.
    if (!sleeping.has(m.id) || process.env.FAKE_DEAF) return
    clearTimeout(sleeping.get(m.id))
    return send({ type: 'cancelled', id: m.id })
  }
  // The job's fixture name says how to behave.
  if (m.fixture === 'sleep') {
    // A grandchild in the same group: it must die with the worker.
    require('child_process').spawn(process.execPath, ['-e', 'setTimeout(()=>{}, 60000)'], { stdio: 'ignore' })
    return sleeping.set(m.id, setTimeout(() => send({ type: 'result', id: m.id, result: {} }), 60000))
  }
  if (m.fixture === 'exit') process.exit(3)
  if (m.fixture === 'garbage') return process.stdout.write('not json\n')
  if (m.fixture === 'error') return send({ type: 'error', id: m.id, message: 'bad job' })
  send({ type: 'result', id: m.id, result: { echo: m.fixture } })
})
rl.on('close', () => process.exit(0))
"#;

/// A cancel that fires by itself after `delay`.
fn cancel_after(delay: Duration) -> Cancel {
    let cancel = Cancel::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        trigger.cancel();
    });
    cancel
}

/// A job for the fake worker: `fixture` says how it behaves.
pub(super) fn job(id: impl ToString, fixture: impl ToString) -> Job {
    Job {
        id: id.to_string(),
        fixture_dir: PathBuf::from("/nonexistent"),
        fixture: fixture.to_string(),
        model: "fake".into(),
        max_attempts: 1,
        attempt_timeout_ms: 1000,
        endpoint: None,
        prompt: None,
        temperature: None,
        max_tokens: None,
        server: Default::default(),
    }
}

fn spec(dir: &tempfile::TempDir, env: &[(&str, &str)]) -> WorkerSpec {
    let script = dir.path().join("fake-worker.js");
    let version = protocol::protocol_version().to_string();
    std::fs::write(&script, FAKE_WORKER.replace("__PROTOCOL__", &version)).unwrap();
    WorkerSpec {
        node: PathBuf::from("node"),
        node_args: Vec::new(),
        script,
        ready_timeout: Duration::from_secs(2),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        carrier: Carrier::Process,
        heap_mb: 0,
        low_memory: false,
    }
}

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

fn group_alive(pgid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::killpg(pgid as libc::pid_t, 0) == 0 }
}

#[tokio::test]
async fn jobs_round_trip_and_pings_answer() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Worker::spawn(&spec(&dir, &[])).await.unwrap();
    assert!(w.ping(Duration::from_secs(1)).await);
    let r = w
        .run_job(job("j1", 42), Duration::from_secs(2), &Cancel::new())
        .await
        .unwrap();
    assert_eq!(r, json!({"echo": "42"}));
    assert_eq!(w.jobs_done(), 1);
    let pid = w.pid();
    w.shutdown(Duration::from_secs(2)).await;
    assert!(!alive(pid));
}

#[tokio::test]
async fn a_job_past_its_timeout_kills_the_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Worker::spawn(&spec(&dir, &[])).await.unwrap();
    let pid = w.pid();
    let started = Instant::now();
    let err = w
        .run_job(
            job("j", "sleep"),
            Duration::from_millis(300),
            &Cancel::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(w.is_broken());
    w.shutdown(Duration::from_millis(100)).await;
    let deadline = Instant::now() + Duration::from_secs(2);
    while group_alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!group_alive(pid), "worker group still alive");
}

#[tokio::test]
async fn a_worker_that_exits_mid_job_is_a_process_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Worker::spawn(&spec(&dir, &[])).await.unwrap();
    let err = w
        .run_job(job("j", "exit"), Duration::from_secs(2), &Cancel::new())
        .await
        .unwrap_err();
    match err {
        ProviderError::Process { exit_code, .. } => assert_eq!(exit_code, Some(3)),
        other => panic!("{other:?}"),
    }
    assert!(w.is_broken());
}

#[tokio::test]
async fn garbage_on_stdout_breaks_the_worker() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Worker::spawn(&spec(&dir, &[])).await.unwrap();
    let err = w
        .run_job(job("j", "garbage"), Duration::from_secs(2), &Cancel::new())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Process { .. }));
    assert!(w.is_broken());
}

#[tokio::test]
async fn a_job_error_keeps_the_worker_usable() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Worker::spawn(&spec(&dir, &[])).await.unwrap();
    let err = w
        .run_job(job("j", "error"), Duration::from_secs(2), &Cancel::new())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Process { ref message, .. } if message == "bad job"));
    assert!(!w.is_broken());
    assert!(w.ping(Duration::from_secs(1)).await);
}

#[tokio::test]
async fn a_slow_start_times_out_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(&dir, &[("FAKE_SLOW_START", "1")]);
    s.ready_timeout = Duration::from_millis(300);
    let err = Worker::spawn(&s).await.err().unwrap();
    assert!(matches!(err, ProviderError::Timeout { .. }), "{err:?}");
}

#[tokio::test]
async fn a_missing_runtime_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(&dir, &[]);
    s.node = PathBuf::from("/nonexistent/node");
    let err = Worker::spawn(&s).await.err().unwrap();
    assert!(err.to_string().contains("/nonexistent/node"), "{err}");
}

#[tokio::test]
async fn a_worker_of_another_protocol_version_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    for said in ["1", "999"] {
        let err = Worker::spawn(&spec(&dir, &[("FAKE_PROTOCOL", said)]))
            .await
            .err()
            .unwrap();
        let ours = protocol::protocol_version();
        match &err {
            ProviderError::Process {
                message, operation, ..
            } => {
                assert!(
                    message.contains(&format!("protocol version {said}")),
                    "{message}"
                );
                assert!(
                    message.contains(&format!("speaks version {ours}")),
                    "{message}"
                );
                assert_eq!(operation, "spawn");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn a_cancelled_job_is_dropped_and_the_worker_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Worker::spawn(&spec(&dir, &[])).await.unwrap();
    let cancel = cancel_after(Duration::from_millis(100));
    let started = Instant::now();
    let err = w
        .run_job(job("s", "sleep"), Duration::from_secs(30), &cancel)
        .await
        .unwrap_err();
    assert_eq!(err, ProviderError::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!w.is_broken(), "the worker confirmed: it is kept");
    let r = w
        .run_job(job("n", "next"), Duration::from_secs(2), &Cancel::new())
        .await
        .unwrap();
    assert_eq!(r, json!({"echo": "next"}));
    // Already cancelled: nothing is sent.
    assert_eq!(
        w.run_job(job("x", "next"), Duration::from_secs(2), &cancel)
            .await
            .unwrap_err(),
        ProviderError::Cancelled
    );
}

#[tokio::test]
async fn a_worker_that_does_not_confirm_a_cancel_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Worker::spawn(&spec(&dir, &[("FAKE_DEAF", "1")]))
        .await
        .unwrap();
    let cancel = cancel_after(Duration::from_millis(50));
    let started = Instant::now();
    let err = w
        .run_job(job("s", "sleep"), Duration::from_secs(30), &cancel)
        .await
        .unwrap_err();
    assert_eq!(err, ProviderError::Cancelled);
    let took = started.elapsed();
    assert!(
        took >= worker::CANCEL_GRACE && took < worker::CANCEL_GRACE + Duration::from_secs(2),
        "{took:?}"
    );
    assert!(w.is_broken());
}

fn pool_config(min: usize, max: usize) -> crate::pool::PoolConfig {
    crate::pool::PoolConfig {
        min_size: min,
        max_size: max,
        acquire_timeout_ms: 10_000,
        idle_timeout_ms: 60_000,
        grow_after_ms: 0,
        validate: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_is_warm_before_start_returns_and_heals_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let pool = ProcessPool::start(spec(&dir, &[]), pool_config(2, 2), Duration::from_secs(1))
        .await
        .unwrap();
    let st = pool.status();
    assert_eq!((st.size, st.idle), (2, 2));
    // Crash one worker mid-job: the request fails, the pool replaces the worker.
    let mut lease = pool.acquire().await.unwrap();
    let err = lease
        .worker()
        .run_job(job("x", "exit"), Duration::from_secs(2), &Cancel::new())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Process { .. }));
    lease.release();
    let deadline = Instant::now() + Duration::from_secs(5);
    while pool.status().idle < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let st = pool.status();
    assert_eq!((st.size, st.idle, st.destroyed), (2, 2, 1));
    let pids = pool.pids();
    pool.close(Duration::from_secs(2)).await;
    for pid in pids {
        assert!(!alive(pid), "worker {pid} outlived close()");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_jobs_on_four_workers_are_all_answered() {
    let dir = tempfile::tempdir().unwrap();
    let pool = ProcessPool::start(spec(&dir, &[]), pool_config(4, 4), Duration::from_secs(1))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut lease = pool.acquire().await?;
            let r = lease
                .worker()
                .run_job(
                    job(format!("j{i}"), i),
                    Duration::from_secs(5),
                    &Cancel::new(),
                )
                .await;
            lease.release();
            r
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap().unwrap(), json!({"echo": i.to_string()}));
    }
    let st = pool.status();
    assert_eq!(st.size, 4);
    assert_eq!(st.created, 4, "no extra workers");
    pool.close(Duration::from_secs(2)).await;
    assert_eq!(pool.status().size, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_kills_lent_workers_too() {
    let dir = tempfile::tempdir().unwrap();
    let pool = ProcessPool::start(spec(&dir, &[]), pool_config(1, 1), Duration::from_secs(1))
        .await
        .unwrap();
    let mut lease = pool.acquire().await.unwrap();
    let pid = lease.worker().pid();
    let job = tokio::spawn(async move {
        let r = lease
            .worker()
            .run_job(job("s", "sleep"), Duration::from_secs(30), &Cancel::new())
            .await;
        drop(lease);
        r
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    pool.close(Duration::from_secs(2)).await;
    assert!(job.await.unwrap().is_err());
    let deadline = Instant::now() + Duration::from_secs(3);
    while group_alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!group_alive(pid));
    assert!(pool.acquire().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_whose_workers_cannot_start_fails_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(&dir, &[]);
    s.node = PathBuf::from("/nonexistent/node");
    let err = ProcessPool::start(s, pool_config(2, 2), Duration::from_secs(1))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("/nonexistent/node"));
}

fn service_config(work: &tempfile::TempDir, cache: bool) -> ServiceConfig {
    ServiceConfig {
        model: "gold".into(),
        endpoint: None,
        package_root: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        node: PathBuf::from("node"),
        work_dir: work.path().join("work"),
        cache_dir: cache.then(|| work.path().join("cache")),
        cache_enabled: cache,
        cache_ttl_ms: 60_000,
        shared_cache: None,
        min_workers: 2,
        max_workers: 2,
        grow_after_ms: 0,
        worker_idle_timeout_ms: 60_000,
        worker_start_timeout_ms: 60_000,
        worker_heap_mb: 256,
        worker_low_memory: true,
        acquire_timeout_ms: 60_000,
        job_timeout_ms: 60_000,
        max_attempts: 1,
        attempt_timeout_ms: 10_000,
        breaker_threshold: 3,
        breaker_recovery_ms: 60_000,
        massive_count: 200,
        massive_seed: 1,
        server: Default::default(),
        carrier: Carrier::Process,
    }
}

/// The real engine: the bundled worker on the bundled fixtures (needs `npm install` for the
/// TypeScript compiler, as every JS test does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gold_resolves_every_small_fixture_and_copies_come_back_pristine() {
    let work = tempfile::tempdir().unwrap();
    let service = Service::connect(service_config(&work, true)).await.unwrap();
    let req = ExecuteRequest {
        use_cache: true,
        ..ExecuteRequest::default()
    };
    let first = service.execute(req.clone(), &Cancel::new()).await.unwrap();
    assert!(!first.cached);
    assert!(first.results.len() >= 6);
    for r in &first.results {
        assert_eq!(r["success"], true, "{r}");
    }
    // Every working copy is back to its fixture's content.
    let small = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/small");
    for f in fixtures::list(&small).unwrap() {
        let copies: Vec<_> = std::fs::read_dir(session_dir(&work))
            .unwrap()
            .flatten()
            .filter(|e| {
                // `<name>-<n>`: `implicit-any-3` is a copy of implicit-any, `implicit-any-index-3` is not.
                let file = e.file_name().to_string_lossy().into_owned();
                file.strip_prefix(&format!("{}-", f.name))
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
            .collect();
        assert!(!copies.is_empty(), "no working copy of {}", f.name);
        for c in copies {
            assert_eq!(
                fixtures::content_hash(&c.path(), &ContentHashes::new()).unwrap(),
                fixtures::content_hash(&f.dir, &ContentHashes::new()).unwrap(),
                "{} was not restored",
                f.name
            );
        }
    }
    let reads = service.fixture_reads();
    let second = service.execute(req, &Cancel::new()).await.unwrap();
    assert!(second.cached);
    assert_eq!(second.results, first.results);
    assert_eq!(service.cache_counters().hits, 1);
    // The bundled fixtures were known by their stat: the hit read none of their files.
    assert_eq!(
        service.fixture_reads(),
        reads,
        "a cache hit read fixture files"
    );
    let pids = service.pool().pids();
    service.close().await;
    for pid in pids {
        assert!(!alive(pid));
    }
    assert!(work_dir_empty(&work), "working copies removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_fixture_name_is_a_range_error() {
    let work = tempfile::tempdir().unwrap();
    let mut config = service_config(&work, false);
    config.min_workers = 1;
    let service = Service::connect(config).await.unwrap();
    let err = service
        .execute(
            ExecuteRequest {
                fixtures: Some(vec!["../../etc".into()]),
                ..ExecuteRequest::default()
            },
            &Cancel::new(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::Arg(ArgError::OutOfRange { .. })),
        "{err:?}"
    );
    service.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixtures_dir_of_ones_own_replaces_the_bundled_set() {
    let work = tempfile::tempdir().unwrap();
    let mut config = service_config(&work, false);
    config.min_workers = 1;
    let service = Service::connect(config).await.unwrap();
    let mine = tempfile::tempdir().unwrap();
    let small = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/small");
    fixtures::copy_tree(&small.join("no-overlap"), &mine.path().join("my-own")).unwrap();
    let o = service
        .execute(
            ExecuteRequest {
                fixtures_dir: Some(mine.path().to_path_buf()),
                ..ExecuteRequest::default()
            },
            &Cancel::new(),
        )
        .await
        .unwrap();
    assert_eq!(o.results.len(), 1);
    assert_eq!(o.results[0]["fixture"], "my-own");
    assert_eq!(o.results[0]["success"], true, "{}", o.results[0]);
    // Names select within that folder; a missing folder or a bundled name is bad input.
    for req in [
        ExecuteRequest {
            fixtures_dir: Some(mine.path().join("nope")),
            ..ExecuteRequest::default()
        },
        ExecuteRequest {
            fixtures_dir: Some(mine.path().to_path_buf()),
            fixtures: Some(vec!["missing-export".into()]),
            ..ExecuteRequest::default()
        },
    ] {
        // (`massive` beside a folder is refused where requests are read, in the binding.)
        let err = service.execute(req, &Cancel::new()).await.unwrap_err();
        assert!(
            matches!(err, ProviderError::Arg(ArgError::OutOfRange { .. })),
            "{err:?}"
        );
    }
    service.close().await;
}

/// Editing a fixture must change the cache key even though its files are trusted by their stat:
/// an edit in place keeping the size, and a file replaced by a rename.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixture_edited_in_place_or_replaced_by_rename_misses_the_cache() {
    let work = tempfile::tempdir().unwrap();
    let mut config = service_config(&work, true);
    config.min_workers = 1;
    let service = Service::connect(config).await.unwrap();
    let mine = tempfile::tempdir().unwrap();
    let small = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/small");
    let fixture = mine.path().join("my-own");
    fixtures::copy_tree(&small.join("no-overlap"), &fixture).unwrap();
    let req = ExecuteRequest {
        use_cache: true,
        fixtures_dir: Some(mine.path().to_path_buf()),
        ..ExecuteRequest::default()
    };
    let run = |req: ExecuteRequest| {
        let service = Arc::clone(&service);
        async move { service.execute(req, &Cancel::new()).await.unwrap().cached }
    };
    assert!(!run(req.clone()).await);
    assert!(run(req.clone()).await, "unchanged: a hit");
    // The fixture's sources (not fixture.json): the first file other than it, by name.
    let source = {
        let mut files: Vec<_> = walk_files(&fixture)
            .into_iter()
            .filter(|p| p.file_name().is_some_and(|n| n != fixtures::FIXTURE_FILE))
            .collect();
        files.sort();
        files.remove(0)
    };
    let body = std::fs::read(&source).unwrap();
    // In place, same size: one byte swapped for another.
    let mut edited = body.clone();
    edited.push(b'\n');
    edited.remove(0);
    std::fs::write(&source, &edited).unwrap();
    assert!(!run(req.clone()).await, "edited in place: a miss");
    assert!(run(req.clone()).await);
    // Replaced by a rename: other content of the same size and the same mtime, another inode.
    let mtime = std::fs::metadata(&source).unwrap().modified().unwrap();
    let mut rotated = body.clone();
    rotated.rotate_left(1);
    assert_ne!(rotated, edited);
    let tmp = source.with_extension("tmp");
    std::fs::write(&tmp, &rotated).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&tmp)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    std::fs::rename(&tmp, &source).unwrap();
    assert!(!run(req.clone()).await, "replaced by rename: a miss");
    service.close().await;
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_opens_when_the_model_server_is_down() {
    let work = tempfile::tempdir().unwrap();
    let mut config = service_config(&work, false);
    config.min_workers = 1;
    config.model = "m".into();
    // Nothing listens on port 9 of the loopback.
    config.endpoint = Some("http://127.0.0.1:9".into());
    config.breaker_threshold = 2;
    let service = Service::connect(config).await.unwrap();
    let req = ExecuteRequest {
        fixtures: Some(vec!["missing-export".into()]),
        ..ExecuteRequest::default()
    };
    for _ in 0..2 {
        let o = service.execute(req.clone(), &Cancel::new()).await.unwrap();
        assert_eq!(o.infrastructure_failures, 1);
        assert_eq!(o.results[0]["errorKind"], "model-unavailable");
    }
    assert_eq!(service.breaker_state(), BreakerState::Open);
    let err = service.execute(req, &Cancel::new()).await.unwrap_err();
    assert!(matches!(err, ProviderError::CircuitOpen { .. }), "{err:?}");
    service.close().await;
}

/// Private snapshot stores of this process (nextest runs each test in a process of its own).
fn snapshot_stores() -> Vec<PathBuf> {
    let prefix = format!("promethean-snapshot-{}-", std::process::id());
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_during_a_job_disposes_of_its_working_copy() {
    let work = tempfile::tempdir().unwrap();
    // A model server that accepts connections and never answers: the job stays in flight.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = service_config(&work, false);
    config.min_workers = 1;
    config.max_workers = 1;
    config.model = "m".into();
    config.endpoint = Some(format!("http://{}", silent.local_addr().unwrap()));
    config.attempt_timeout_ms = 60_000;
    let service = Service::connect(config).await.unwrap();
    let running = service.clone();
    let job = tokio::spawn(async move {
        running
            .execute(
                ExecuteRequest {
                    fixtures: Some(vec!["missing-export".into()]),
                    ..ExecuteRequest::default()
                },
                &Cancel::new(),
            )
            .await
    });
    // The job holds a worker, then takes its working copy (with a snapshot store).
    let deadline = Instant::now() + Duration::from_secs(30);
    while service.pool().status().active == 0 || snapshot_stores().is_empty() {
        assert!(Instant::now() < deadline, "the job never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(snapshot_stores().len(), 1);
    service.close().await;
    assert_eq!(
        snapshot_stores(),
        Vec::<PathBuf>::new(),
        "the copy of the job in flight kept its snapshot store after close"
    );
    assert!(work_dir_empty(&work), "working copies removed");
    let outcome = job.await.unwrap().unwrap();
    assert_eq!(outcome.results[0]["success"], false);
    let late = service
        .execute(ExecuteRequest::default(), &Cancel::new())
        .await
        .unwrap_err();
    assert_eq!(late, ProviderError::NotConnected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_worker_that_died_while_idle_is_replaced_not_handed_out() {
    let dir = tempfile::tempdir().unwrap();
    let pool = ProcessPool::start(spec(&dir, &[]), pool_config(1, 1), Duration::from_secs(1))
        .await
        .unwrap();
    let [dead] = pool.pids()[..] else {
        panic!("one worker expected")
    };
    // SAFETY: plain syscall on our own child.
    unsafe {
        libc::kill(dead as libc::pid_t, libc::SIGKILL);
    }
    // Until it is a zombie (or gone): the kill has landed.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(format!("/proc/{dead}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
    {
        assert!(Instant::now() < deadline, "the worker did not die");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut lease = pool.acquire().await.unwrap();
    assert_ne!(lease.worker().pid(), dead, "a dead worker was handed out");
    let r = lease
        .worker()
        .run_job(job("j", 1), Duration::from_secs(2), &Cancel::new())
        .await
        .unwrap();
    assert_eq!(r, json!({"echo": "1"}));
    lease.release();
    assert_eq!(pool.status().destroyed, 1);
    pool.close(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_massive_set_is_generated_once_and_gold_resolves_it() {
    let work = tempfile::tempdir().unwrap();
    let mut config = service_config(&work, false);
    config.massive_count = 8;
    config.massive_seed = 4242;
    let service = Service::connect(config.clone()).await.unwrap();
    let req = ExecuteRequest {
        fixture_type: FixtureType::Massive,
        ..ExecuteRequest::default()
    };
    let o = service.execute(req.clone(), &Cancel::new()).await.unwrap();
    assert_eq!(o.results.len(), 8);
    for r in &o.results {
        assert_eq!(r["success"], true, "{r}");
    }
    service.close().await;
    // A second provider finds the set already generated, in the shared temporary folder. Other
    // checkouts on the machine may have left sets of other generator versions there: this
    // generator's is the one named by its hash.
    let generator =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/generate.js")).unwrap();
    let ours = format!(
        "promethean-buildfix-massive-4242-8-{}",
        &blake3::hash(&generator).to_hex()[..16]
    );
    let shared: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy() == ours.as_str())
        .collect();
    assert_eq!(shared.len(), 1);
    let stamp = std::fs::metadata(shared[0].path().join(".complete"))
        .unwrap()
        .modified()
        .unwrap();
    let again = Service::connect(config).await.unwrap();
    assert_eq!(
        again
            .execute(req, &Cancel::new())
            .await
            .unwrap()
            .results
            .len(),
        8
    );
    again.close().await;
    assert_eq!(
        std::fs::metadata(shared[0].path().join(".complete"))
            .unwrap()
            .modified()
            .unwrap(),
        stamp,
        "not generated twice"
    );
}

/// The service's own folder in the work folder (there is one service per test).
fn session_dir(work: &tempfile::TempDir) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir(work.path().join("work"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(found.len(), 1, "one service folder in {found:?}");
    found.pop().unwrap()
}

/// Nothing is left in the work folder (the service's own folder is gone).
fn work_dir_empty(work: &tempfile::TempDir) -> bool {
    std::fs::read_dir(work.path().join("work")).map_or(true, |mut d| d.next().is_none())
}

/// The copies of one fixture in the work folder.
fn working_copies(work: &tempfile::TempDir, fixture: &str) -> usize {
    std::fs::read_dir(session_dir(work))
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_prefix(fixture)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|n| n.parse::<u64>().is_ok())
        })
        .count()
}

/// Jobs waiting for a worker must not hold working copies: six whole-set requests at once on one
/// worker made six copies of every fixture (each a full copy with its own snapshot store, ~40 ms
/// of CPU) when copies were taken before the worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_jobs_make_no_working_copies() {
    let work = tempfile::tempdir().unwrap();
    let mut config = service_config(&work, false);
    config.min_workers = 1;
    config.max_workers = 1;
    let service = Service::connect(config).await.unwrap();
    let requests: Vec<_> = (0..6)
        .map(|_| {
            let service = service.clone();
            tokio::spawn(async move {
                service
                    .execute(ExecuteRequest::default(), &Cancel::new())
                    .await
            })
        })
        .collect();
    for request in requests {
        let outcome = request.await.unwrap().unwrap();
        assert!(outcome.results.iter().all(|r| r["success"] == true));
    }
    let small = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/small");
    for f in fixtures::list(&small).unwrap() {
        // One in the job; at most one more while the last one is being restored (the worker
        // takes its next job meanwhile), with one to spare for a slow restore.
        let copies = working_copies(&work, &f.name);
        assert!(
            (1..=3).contains(&copies),
            "{copies} working copies of {}",
            f.name
        );
    }
    service.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_run_with_the_heap_limit() {
    let work = tempfile::tempdir().unwrap();
    let mut config = service_config(&work, false);
    config.min_workers = 1;
    config.worker_heap_mb = 200;
    let service = Service::connect(config).await.unwrap();
    for pid in service.pool().pids() {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        let environ = String::from_utf8_lossy(&environ);
        assert!(
            environ
                .split('\0')
                .any(|v| v.starts_with("NODE_OPTIONS=") && v.ends_with("--max-old-space-size=200")),
            "{environ}"
        );
    }
    service.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_run_with_the_low_memory_flags_unless_turned_off() {
    for low in [true, false] {
        let work = tempfile::tempdir().unwrap();
        let mut config = service_config(&work, false);
        config.min_workers = 1;
        config.worker_low_memory = low;
        let service = Service::connect(config).await.unwrap();
        for pid in service.pool().pids() {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
            let args: Vec<_> = cmdline.split(|&b| b == 0).collect();
            assert_eq!(args.contains(&&b"--no-opt"[..]), low, "{args:?}");
            assert_eq!(
                args.contains(&&b"--max-semi-space-size=1"[..]),
                low,
                "{args:?}"
            );
        }
        service.close().await;
    }
}

/// Identical requests arriving together run once: the first computes, the others wait for its
/// answer (counted as cache hits), instead of each running every fixture.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_concurrent_requests_run_once() {
    let work = tempfile::tempdir().unwrap();
    let mut config = service_config(&work, true);
    config.min_workers = 1;
    config.max_workers = 1;
    let service = Service::connect(config).await.unwrap();
    let req = ExecuteRequest {
        use_cache: true,
        ..ExecuteRequest::default()
    };
    let requests: Vec<_> = (0..6)
        .map(|_| {
            let (service, req) = (service.clone(), req.clone());
            tokio::spawn(async move { service.execute(req, &Cancel::new()).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for r in requests {
        outcomes.push(r.await.unwrap().unwrap());
    }
    assert_eq!(outcomes.iter().filter(|o| !o.cached).count(), 1);
    for o in &outcomes {
        assert_eq!(o.results, outcomes[0].results);
        assert!(o.results.iter().all(|r| r["success"] == true));
    }
    let c = service.cache_counters();
    assert_eq!((c.hits, c.misses), (5, 1));
    service.close().await;
}
