//! The disk writers shared by every persistent cache of the process.
//!
//! Why not a thread per cache: a process with many caches paid a thread for each, and a cache
//! dropped without `destroy()` kept its thread until it was collected. Instead, jobs go to a
//! *lane* per folder, and a few threads serve the lanes. One thread at a time runs a lane, in
//! order, so:
//! - each cache's writes land in the order they were asked for, and a barrier means "every job
//!   this cache queued before me is done";
//! - a cache that reads its folder (a `Load` job) sees every write already queued for that
//!   folder by any cache of this process, including one destroyed a moment ago.
//!
//! Threads start on demand, up to `WRITERS`, and leave after `IDLE_EXIT` without work, so a
//! process with no persistent cache has none. Nothing here waits for a thread to finish:
//! dropping a `DiskWriter` leaves its queued jobs to run.
//!
//! Deadlocks: a job never waits for another job or takes the pool lock while running; the pool
//! lock and a lane's lock are never held together, so there is no lock order to get wrong.

use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, Weak};
use std::time::Duration;

use super::disk::{self, DiskFailure, Loaded};
use super::key::Key;
use super::store::Entry;

/// Writer threads at most. Entry writes are small and mostly wait on the file system; two keep
/// one slow folder from holding up every other one without competing with the JS thread.
const WRITERS: usize = 2;
/// An idle writer thread leaves after this long.
const IDLE_EXIT: Duration = Duration::from_secs(10);
/// Jobs a thread runs from one lane before letting the other lanes go first.
const BATCH: usize = 64;
/// Failures kept between two barriers of a writer; an owner that never asks (or a disk that
/// fails every write) must not make the list grow without bound.
const MAX_FAILURES: usize = 1000;

/// Called once with the failures since the previous barrier.
pub type BarrierDone = Box<dyn FnOnce(Vec<DiskFailure>) + Send>;
/// Called once with what reading the folder found.
pub type LoadDone = Box<dyn FnOnce(Loaded) + Send>;

type Failures = Arc<Mutex<Vec<DiskFailure>>>;

enum Op {
    Write { key: Key, bytes: Vec<u8> },
    Remove { key: Key },
    Clear,
    Barrier(BarrierDone),
    Load(LoadDone),
}

/// A job and where its failures go (its cache's, since caches may share a lane).
struct Job {
    failures: Failures,
    op: Op,
}

struct Lane {
    dir: PathBuf,
    jobs: Mutex<LaneJobs>,
}

#[derive(Default)]
struct LaneJobs {
    queue: VecDeque<Job>,
    /// In the pool's ready queue or being run; a scheduled lane is never queued twice.
    scheduled: bool,
}

#[derive(Default)]
struct PoolState {
    ready: VecDeque<Arc<Lane>>,
    /// Lanes by folder. Weak: a lane lives while a writer or a pending job holds it.
    lanes: HashMap<PathBuf, Weak<Lane>>,
    threads: usize,
    idle: usize,
}

struct Pool {
    state: Mutex<PoolState>,
    wake: Condvar,
}

static POOL: LazyLock<Pool> = LazyLock::new(|| Pool {
    state: Mutex::new(PoolState::default()),
    wake: Condvar::new(),
});

/// A lock that a panicking job cannot poison for everyone else (jobs run outside every lock, so
/// the data is consistent whenever a lock is released).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pool {
    fn lane(&self, dir: &Path) -> Arc<Lane> {
        let mut s = lock(&self.state);
        if let Some(lane) = s.lanes.get(dir).and_then(Weak::upgrade) {
            return lane;
        }
        s.lanes.retain(|_, lane| lane.strong_count() > 0);
        let lane = Arc::new(Lane {
            dir: dir.to_path_buf(),
            jobs: Mutex::default(),
        });
        s.lanes.insert(dir.to_path_buf(), Arc::downgrade(&lane));
        lane
    }

    fn submit(&self, lane: &Arc<Lane>, job: Job) {
        {
            let mut jobs = lock(&lane.jobs);
            jobs.queue.push_back(job);
            if jobs.scheduled {
                return;
            }
            jobs.scheduled = true;
        }
        self.schedule(lane.clone());
    }

    /// Hands a lane with jobs to a thread: an idle one, else a new one, else the next busy one
    /// to finish (busy threads look at the ready queue before they wait).
    fn schedule(&self, lane: Arc<Lane>) {
        let mut s = lock(&self.state);
        s.ready.push_back(lane);
        if s.idle > 0 {
            self.wake.notify_one();
            return;
        }
        if s.threads >= WRITERS {
            return;
        }
        s.threads += 1;
        let spawned = std::thread::Builder::new()
            .name("cache-disk-writer".into())
            .spawn(|| POOL.work());
        if spawned.is_ok() {
            return;
        }
        s.threads -= 1;
        if s.threads > 0 {
            return;
        }
        // No thread can be started and none is running: do the work here rather than leave
        // barriers unanswered. Slow for the caller, but every job still runs, in order.
        while let Some(lane) = s.ready.pop_front() {
            drop(s);
            while run(&lane, usize::MAX) {}
            s = lock(&self.state);
        }
    }

    fn work(&self) {
        loop {
            let lane = {
                let mut s = lock(&self.state);
                loop {
                    if let Some(lane) = s.ready.pop_front() {
                        break lane;
                    }
                    s.idle += 1;
                    let (guard, wait) = self
                        .wake
                        .wait_timeout(s, IDLE_EXIT)
                        .unwrap_or_else(|e| e.into_inner());
                    s = guard;
                    s.idle -= 1;
                    if wait.timed_out() && s.ready.is_empty() {
                        s.threads -= 1;
                        return;
                    }
                }
            };
            if run(&lane, BATCH) {
                // Jobs remain: back of the queue, behind the other lanes.
                let mut s = lock(&self.state);
                s.ready.push_back(lane);
            }
        }
    }
}

/// Runs up to `limit` jobs of `lane`; returns whether it still has jobs (and stays scheduled).
fn run(lane: &Lane, limit: usize) -> bool {
    for _ in 0..limit {
        let job = {
            let mut jobs = lock(&lane.jobs);
            match jobs.queue.pop_front() {
                Some(job) => job,
                None => {
                    jobs.scheduled = false;
                    return false;
                }
            }
        };
        // A panicking callback must not take the thread (and the lane's later jobs) with it.
        let _ = catch_unwind(AssertUnwindSafe(|| run_job(&lane.dir, job)));
    }
    let mut jobs = lock(&lane.jobs);
    if jobs.queue.is_empty() {
        jobs.scheduled = false;
        false
    } else {
        true
    }
}

/// Keeps `found` for the writer's next barrier, up to `MAX_FAILURES`.
fn report(failures: &Failures, found: impl IntoIterator<Item = DiskFailure>) {
    let mut kept = lock(failures);
    let room = MAX_FAILURES.saturating_sub(kept.len());
    kept.extend(found.into_iter().take(room).inspect(|f| {
        crate::debug_event!(
            crate::debug::Namespace::Cache,
            "disk {} failed for {}: {}",
            f.op.as_str(),
            f.path.display(),
            f.error
        );
    }));
}

fn run_job(dir: &Path, job: Job) {
    let Job { failures, op } = job;
    match op {
        Op::Write { key, bytes } => report(&failures, disk::write_entry(dir, &key, &bytes).err()),
        Op::Remove { key } => report(&failures, disk::remove_entry(dir, &key).err()),
        Op::Clear => report(&failures, disk::clear_dir(dir)),
        Op::Barrier(done) => {
            let since = std::mem::take(&mut *lock(&failures));
            done(since);
        }
        Op::Load(done) => done(disk::load_dir(dir)),
    }
}

/// One cache's access to the disk writers of its folder. Dropping it leaves the jobs already
/// queued to run; nothing waits.
pub struct DiskWriter {
    lane: Arc<Lane>,
    failures: Failures,
}

impl DiskWriter {
    /// A writer for `dir` (best given canonical: caches on the same folder then share a lane).
    pub fn new(dir: &Path) -> Self {
        Self {
            lane: POOL.lane(dir),
            failures: Failures::default(),
        }
    }

    fn send(&self, op: Op) {
        POOL.submit(
            &self.lane,
            Job {
                failures: self.failures.clone(),
                op,
            },
        );
    }

    pub fn write(&self, e: &Entry) {
        self.send(Op::Write {
            key: e.key(),
            bytes: disk::encode(e),
        });
    }

    pub fn remove(&self, key: Key) {
        self.send(Op::Remove { key });
    }

    pub fn clear(&self) {
        self.send(Op::Clear);
    }

    /// Runs `done` once every job queued before it has finished, with this writer's failures
    /// since the previous barrier.
    pub fn barrier(&self, done: BarrierDone) {
        self.send(Op::Barrier(done));
    }

    /// Reads the folder once every job queued for it so far (by any writer) has finished.
    pub fn load(&self, done: LoadDone) {
        self.send(Op::Load(done));
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::sync::mpsc;

    use super::*;
    use crate::cache::disk::{file_name, DiskOp};

    fn entry(key: &str) -> Entry {
        Entry::new(key, b"{\"a\":1}", false, 1_700_000_000_000, 60_000, None)
    }

    /// Waits for `w`'s queued jobs; returns its failures.
    fn flush(w: &DiskWriter) -> Vec<DiskFailure> {
        let (tx, rx) = mpsc::channel();
        w.barrier(Box::new(move |f| tx.send(f).unwrap()));
        rx.recv().unwrap()
    }

    fn load(w: &DiskWriter) -> Loaded {
        let (tx, rx) = mpsc::channel();
        w.load(Box::new(move |l| tx.send(l).unwrap()));
        rx.recv().unwrap()
    }

    #[test]
    fn writer_then_load_round_trip_and_damage_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let w = DiskWriter::new(dir.path());
        w.write(&entry("a"));
        w.write(&entry("b"));
        w.remove("b".into());
        w.write(&entry("c"));
        assert!(flush(&w).is_empty());
        fs::write(dir.path().join(file_name("c")), b"garbage").unwrap();
        let loaded = load(&w);
        assert_eq!(loaded.entries.len(), 1);
        assert_eq!(loaded.entries[0].key(), Key::from("a"));
        assert_eq!(loaded.failures.len(), 1);
        assert!(loaded.failures[0].error.contains("header"));
    }

    #[test]
    fn barrier_reports_failures_once_and_only_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub");
        let w = DiskWriter::new(&target);
        let other = DiskWriter::new(&target);
        // A file where the folder should be makes every write fail.
        fs::write(&target, b"not a folder").unwrap();
        w.write(&entry("a"));
        other.write(&entry("b"));
        let first = flush(&w);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].key, Some(Key::from("a")));
        assert_eq!(first[0].op, DiskOp::Write);
        assert!(flush(&w).is_empty());
        assert_eq!(flush(&other)[0].key, Some(Key::from("b")));
    }

    #[test]
    fn regression_a_dropped_writer_still_finishes_and_a_later_load_sees_it() {
        let dir = tempfile::tempdir().unwrap();
        let w = DiskWriter::new(dir.path());
        for i in 0..500 {
            w.write(&entry(&format!("k{i}")));
        }
        // Dropped with jobs queued: nothing waits, and nothing is lost.
        drop(w);
        let loaded = load(&DiskWriter::new(dir.path()));
        assert_eq!(loaded.entries.len(), 500);
    }

    #[test]
    fn regression_many_writers_share_a_few_threads() {
        let dirs: Vec<_> = (0..50).map(|_| tempfile::tempdir().unwrap()).collect();
        let writers: Vec<_> = dirs.iter().map(|d| DiskWriter::new(d.path())).collect();
        for (i, w) in writers.iter().enumerate() {
            w.write(&entry(&format!("k{i}")));
        }
        assert!(lock(&POOL.state).threads <= WRITERS);
        for w in &writers {
            assert!(flush(w).is_empty());
        }
        for d in &dirs {
            assert_eq!(load(&DiskWriter::new(d.path())).entries.len(), 1);
        }
    }

    #[test]
    fn a_panicking_callback_does_not_stop_the_lane() {
        let dir = tempfile::tempdir().unwrap();
        let w = DiskWriter::new(dir.path());
        w.barrier(Box::new(|_| panic!("callback failed")));
        w.write(&entry("a"));
        assert!(flush(&w).is_empty());
        assert_eq!(load(&w).entries.len(), 1);
    }
}
