//! The load scheduler on tokio, generic over what a request is ([`Executor`]), so it runs the
//! native HTTP client in production and a scripted fake in the tests below.
//!
//! Two models:
//! - closed ([`run_closed`]): `users` virtual users, each sending its requests one after another
//!   (the original's model), started evenly over the ramp-up and cut off at the test duration;
//! - open ([`run_open`]): requests at a constant arrival rate, each with an intended send time,
//!   and latency measured from that intended time, so a stalled server cannot hide its queueing
//!   behind the load generator (coordinated omission, as corrected by wrk2 and k6).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{sleep_until, Instant, Sleep};

use super::plan::{ClosedPlan, OpenPlan, Plan};
use super::recorder::{Metrics, Recorder};

/// Failure message of a request that outlived its timeout (the original's wording).
pub const TIMEOUT_MESSAGE: &str = "Request timeout";

/// Most virtual users (closed model) or slots (open model) one test may have. Users are made as
/// they start, so this bounds what can run at once: a million users already cost a few hundred
/// MB on the JS side, and a million connections exceed any file-descriptor limit.
pub const MAX_USERS: u32 = 1_000_000;

/// What a successful request returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reply {
    pub size: u64,
    pub status: Option<u16>,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub status: Option<u16>,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            status: None,
        }
    }
}

/// Sends one request. `State` is what a user keeps between its requests (a keep-alive
/// connection for HTTP). A request that times out or is cancelled has its future dropped, so an
/// executor must leave `state` usable (or empty) at every await point.
pub trait Executor: Send + Sync + 'static {
    type State: Send + 'static;
    fn state(&self, user: u32) -> Self::State;
    fn execute(
        &self,
        state: &mut Self::State,
    ) -> impl Future<Output = Result<Reply, Failure>> + Send;
}

/// One request as the JS layer reports it in `getResponses()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub user: u32,
    pub seq: u64,
    /// Milliseconds since the start of the run (the intended send time in the open model).
    pub start_ms: f64,
    pub end_ms: f64,
    pub ok: bool,
    pub error: Option<String>,
    pub status: Option<u16>,
    pub size: u64,
}

struct Tally {
    recorder: Recorder,
    records: Vec<Record>,
    max_records: usize,
}

/// What a running test shares between its tasks and its owner: live counters for progress
/// reports, the tally, and the cancel switch.
pub struct RunState {
    tally: Mutex<Tally>,
    in_flight: AtomicU64,
    cancel: watch::Sender<bool>,
    cancelled: AtomicBool,
    dropped: AtomicU64,
}

/// A live view for `progress` events.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub done: u64,
    pub in_flight: u64,
    pub p95: f64,
}

impl RunState {
    /// `max_records`: how many per-request records to keep; metrics stay exact beyond it.
    pub fn new(max_records: usize) -> Arc<Self> {
        Arc::new(Self {
            tally: Mutex::new(Tally {
                recorder: Recorder::new(),
                records: Vec::new(),
                max_records,
            }),
            in_flight: AtomicU64::new(0),
            cancel: watch::channel(false).0,
            cancelled: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        })
    }

    fn tally(&self) -> MutexGuard<'_, Tally> {
        // A panic while holding the lock cannot leave the tally half-written in a way that
        // matters more than losing the test, so recover the data.
        self.tally.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops the run: nothing new is sent and requests in flight are abandoned unrecorded.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        self.cancel.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    pub fn progress(&self) -> Progress {
        let t = self.tally();
        Progress {
            done: t.recorder.total(),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            p95: t.recorder.percentile(0.95),
        }
    }

    /// Open model: arrivals due before the run ended that never started (k6's
    /// `dropped_iterations`); always 0 for the closed model.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn metrics(&self, elapsed_ms: f64, users: u64) -> Metrics {
        self.tally().recorder.metrics(elapsed_ms, users)
    }

    /// Takes the kept per-request records (oldest first).
    pub fn take_records(&self) -> Vec<Record> {
        std::mem::take(&mut self.tally().records)
    }

    fn record(&self, user: u32, seq: u64, start_ms: f64, end_ms: f64, r: Result<Reply, Failure>) {
        let mut t = self.tally();
        let (ok, error, status, size) = match r {
            Ok(reply) => {
                t.recorder.success(end_ms - start_ms, reply.size);
                (true, None, reply.status, reply.size)
            }
            Err(f) => {
                t.recorder.failure();
                (false, Some(f.message), f.status, 0)
            }
        };
        if t.records.len() < t.max_records {
            t.records.push(Record {
                user,
                seq,
                start_ms,
                end_ms,
                ok,
                error,
                status,
                size,
            });
        }
    }
}

/// Resolves once the run is cancelled (never, otherwise).
async fn cancelled(mut rx: watch::Receiver<bool>) {
    // An error means the sender is gone, which cannot happen while the state lives: wait forever.
    if rx.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn ms_between(origin: Instant, t: Instant) -> f64 {
    t.saturating_duration_since(origin).as_secs_f64() * 1000.0
}

/// Sends one request, timed out `limit` after `start`; `None` if the run was cancelled
/// meanwhile. `cancel` (the caller's [`cancelled`] future) and `timer` are the caller's and
/// serve all its requests, so a request registers nothing: a subscription to the cancel channel
/// is a registration in its shared waiter list, and a timer a lock, an insert and a removal in
/// tokio's timer wheel.
///
/// The timer is lazy: it stays armed at an earlier request's deadline, never later than this
/// one's (a user's requests start in order), and when it fires before this request's deadline
/// it is moved there. A user whose requests answer within the timeout re-arms it about once per
/// `limit` instead of once per request; a request still pending at its deadline fails then, as
/// with a timer of its own. Dropping the caller's timer cancels it: none outlives its user.
async fn send<E: Executor>(
    exec: &E,
    st: &mut E::State,
    (start, limit): (Instant, Duration),
    state: &RunState,
    mut cancel: Pin<&mut impl Future<Output = ()>>,
    mut timer: Pin<&mut Sleep>,
) -> Option<Result<Reply, Failure>> {
    let deadline = start + limit;
    if timer.deadline() > deadline {
        timer.as_mut().reset(deadline);
    }
    state.in_flight.fetch_add(1, Ordering::Relaxed);
    let request = exec.execute(st);
    tokio::pin!(request);
    let r = loop {
        tokio::select! {
            biased;
            _ = cancel.as_mut() => break None,
            r = request.as_mut() => break Some(r),
            _ = timer.as_mut() => {
                if Instant::now() >= deadline {
                    break Some(Err(Failure::new(TIMEOUT_MESSAGE)));
                }
                timer.as_mut().reset(deadline);
            }
        }
    };
    state.in_flight.fetch_sub(1, Ordering::Relaxed);
    r
}

/// The moment `ms` after `origin`. "No cut-off" arrives as a huge time (Number.MAX_SAFE_INTEGER
/// ms), past what an Instant can hold: a moment a century away is the same thing.
fn at(origin: Instant, ms: f64) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 86_400);
    let d = Duration::try_from_secs_f64(ms.max(0.0) / 1000.0).unwrap_or(CENTURY);
    origin
        .checked_add(d)
        .unwrap_or_else(|| origin + CENTURY.min(d))
}

/// Runs the closed model and returns the elapsed milliseconds: users start, send and stop as
/// the [`ClosedPlan`] says. A user's task is spawned when the user starts, so memory follows the
/// users running at once, not the configured count.
pub async fn run_closed<E: Executor>(exec: Arc<E>, plan: ClosedPlan, state: Arc<RunState>) -> f64 {
    let origin = Instant::now();
    let plan = Arc::new(plan);
    let limit = Duration::from_secs_f64(plan.timeout_ms / 1000.0);
    let mut tasks = JoinSet::new();
    for user in 1..=plan.users_to_start() {
        let start = at(origin, plan.start_ms(user));
        if start > Instant::now() {
            tokio::select! {
                _ = sleep_until(start) => {}
                _ = cancelled(state.cancel.subscribe()) => break,
            }
        }
        // Started only after the cut-off (a busy runtime): it would send nothing, nor would the rest.
        if !plan.sends_at(ms_between(origin, Instant::now())) || state.is_cancelled() {
            break;
        }
        while tasks.try_join_next().is_some() {} // forget the users that have ended
        let (exec, plan, state) = (exec.clone(), plan.clone(), state.clone());
        tasks.spawn(async move {
            let mut st = exec.state(user);
            let cancel = cancelled(state.cancel.subscribe());
            let timer = sleep_until(Instant::now() + limit);
            tokio::pin!(cancel, timer);
            let think = Duration::from_secs_f64(plan.think_time_ms / 1000.0);
            for seq in 0..plan.requests_per_user {
                let start = Instant::now();
                if !plan.sends_at(ms_between(origin, start)) || state.is_cancelled() {
                    break;
                }
                let sent = send(
                    &*exec,
                    &mut st,
                    (start, limit),
                    &state,
                    cancel.as_mut(),
                    timer.as_mut(),
                );
                let Some(r) = sent.await else {
                    break;
                };
                let end = Instant::now();
                let end_ms = ms_between(origin, end);
                state.record(user, seq, ms_between(origin, start), end_ms, r);
                if plan.thinks_after(seq + 1) {
                    if end_ms >= plan.think_until_ms() {
                        break;
                    }
                    tokio::select! {
                        _ = sleep_until(end + think) => {}
                        _ = cancel.as_mut() => break,
                    }
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    ms_between(origin, Instant::now())
}

/// The open model's idle slots: (slot id, the executor state it keeps between requests).
type IdleSlots<S> = Arc<Mutex<Vec<(u32, S)>>>;

/// Runs the open model and returns the elapsed milliseconds. Arrivals are due and dropped as
/// the [`OpenPlan`] says; each is sent on a free slot (a slot and its keep-alive state are made
/// only when every existing one is busy), and its latency counts from the due time, so waiting
/// for a slot shows. Requests in flight at the cut-off finish (within their timeout).
pub async fn run_open<E: Executor>(exec: Arc<E>, plan: OpenPlan, state: Arc<RunState>) -> f64 {
    let origin = Instant::now();
    let end = at(origin, plan.duration_ms);
    let limit = Duration::from_secs_f64(plan.timeout_ms / 1000.0);
    let permits = Arc::new(Semaphore::new(plan.slots as usize));
    // Idle slots with their executor state. A task puts its slot back before it releases its
    // permit, so whoever gets the permit next finds the slot: at most `slots` are made.
    let idle: IdleSlots<E::State> = Arc::new(Mutex::new(Vec::new()));
    let mut made = 0u32;
    let mut started = 0u64;
    let mut tasks = JoinSet::new();
    // One cancel future, one cut-off timer and one arrival timer (moved to each due time) for
    // the whole run: a timer registered per arrival that is due before every other one makes
    // tokio's driver write its eventfd to wake itself (`strace`: 1.4 `write`s per request).
    let cancel = cancelled(state.cancel.subscribe());
    let cut_off = sleep_until(end);
    let next = sleep_until(origin);
    tokio::pin!(cancel, cut_off, next);
    for i in 0..plan.arrivals() {
        let due_ms = plan.due_ms(i);
        let due = at(origin, due_ms);
        if due > Instant::now() {
            next.as_mut().reset(due);
            tokio::select! {
                biased;
                _ = cancel.as_mut() => break,
                _ = next.as_mut() => {}
            }
        }
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => tokio::select! {
                biased;
                _ = cancel.as_mut() => break,
                _ = cut_off.as_mut() => break,
                p = permits.clone().acquire_owned() => p.expect("the slot semaphore is never closed"),
            },
        };
        if !plan.starts_at(ms_between(origin, Instant::now())) || state.is_cancelled() {
            break;
        }
        while tasks.try_join_next().is_some() {}
        let reused = idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let (slot, mut st) = reused.unwrap_or_else(|| {
            made += 1;
            (made, exec.state(made))
        });
        started += 1;
        let (exec, state, idle) = (exec.clone(), state.clone(), idle.clone());
        tasks.spawn(async move {
            let start = Instant::now();
            let cancel = cancelled(state.cancel.subscribe());
            let timer = sleep_until(start + limit);
            tokio::pin!(cancel, timer);
            if let Some(r) = send(&*exec, &mut st, (start, limit), &state, cancel, timer).await {
                let end_ms = ms_between(origin, Instant::now());
                state.record(slot, i, due_ms, end_ms, r);
                idle.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((slot, st));
            }
            drop(permit);
        });
    }
    let stopped = state
        .is_cancelled()
        .then(|| ms_between(origin, Instant::now()));
    state
        .dropped
        .store(plan.dropped(started, stopped), Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}
    ms_between(origin, Instant::now())
}

/// Most OS threads one run may send from ([`spawn_run`]).
pub const MAX_THREADS: u32 = 256;

/// Runs `plan` on a tokio runtime of its own, on a new OS thread, and returns at once with a
/// receiver of the elapsed milliseconds. With `threads` = 1 the runtime is a current-thread one:
/// every user's task, timer and socket lives on that thread, so a request costs no work
/// stealing, no cross-thread wake-ups and no contended timer or tally lock (what a load
/// generator pinned to one core wants, as wrk's one event loop per thread). With more, a
/// multi-thread runtime with `threads` workers shares the users. The runtime is built here, so a
/// failure to build it is returned rather than lost on the thread; it is dropped on its thread
/// when the run ends, after every task has ended.
pub fn spawn_run<E: Executor>(
    exec: Arc<E>,
    plan: Plan,
    state: Arc<RunState>,
    threads: u32,
) -> std::io::Result<tokio::sync::oneshot::Receiver<f64>> {
    let threads = threads.clamp(1, MAX_THREADS);
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads as usize)
            .thread_name("loadtest-worker")
            .enable_all()
            .build()?
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("loadtest".into())
        .spawn(move || {
            // The dispatcher runs as a task of the runtime rather than as `block_on`'s own
            // future: with several threads it then runs on a worker, beside the tasks that wake
            // it (a slot freed, a user ended), instead of on this thread, which each such wake
            // would have to unpark.
            let dispatcher = runtime.spawn(async move {
                match plan {
                    Plan::Closed(c) => run_closed(exec, c, state).await,
                    Plan::Open(o) => run_open(exec, o, state).await,
                }
            });
            let run = runtime.block_on(dispatcher);
            drop(runtime);
            // The owner may have stopped waiting; the run is over either way. A run that
            // panicked drops `tx`, which the owner sees as a run that never ended.
            if let Ok(elapsed) = run {
                let _ = tx.send(elapsed);
            }
        })?;
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    /// Sleeps `slow` on every 50th request overall, `fast` otherwise; fails every `fail_every`th.
    struct Scripted {
        fast: Duration,
        slow: Duration,
        fail_every: u64,
        count: AtomicU64,
        max_in_flight: AtomicU32,
        in_flight: AtomicU32,
    }

    impl Scripted {
        fn new(fast_ms: u64, slow_ms: u64, fail_every: u64) -> Arc<Self> {
            Arc::new(Self {
                fast: Duration::from_millis(fast_ms),
                slow: Duration::from_millis(slow_ms),
                fail_every,
                count: AtomicU64::new(0),
                max_in_flight: AtomicU32::new(0),
                in_flight: AtomicU32::new(0),
            })
        }
    }

    impl Executor for Scripted {
        type State = u32;
        fn state(&self, user: u32) -> u32 {
            user
        }
        async fn execute(&self, _user: &mut u32) -> Result<Reply, Failure> {
            let n = self.count.fetch_add(1, Ordering::SeqCst);
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            let wait = if n % 50 == 49 { self.slow } else { self.fast };
            tokio::time::sleep(wait).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            if self.fail_every > 0 && n % self.fail_every == self.fail_every - 1 {
                return Err(Failure::new("scripted failure"));
            }
            Ok(Reply {
                size: 7,
                status: Some(200),
            })
        }
    }

    fn closed(users: u32, per_user: u64) -> ClosedPlan {
        ClosedPlan {
            users,
            requests_per_user: per_user,
            ramp_up_ms: 0.0,
            test_duration_ms: 60000.0,
            think_time_ms: 0.0,
            timeout_ms: 30000.0,
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    }

    #[test]
    fn every_request_accounted_with_exact_counts_and_ids() {
        rt().block_on(async {
            let exec = Scripted::new(1, 1, 10);
            let state = RunState::new(1000);
            run_closed(exec.clone(), closed(5, 20), state.clone()).await;
            let m = state.metrics(1000.0, 5);
            assert_eq!(m.total_requests, 100);
            assert_eq!(m.failed_requests, 10);
            assert_eq!(m.successful_requests, 90);
            assert_eq!(exec.max_in_flight.load(Ordering::SeqCst), 5);
            let records = state.take_records();
            assert_eq!(records.len(), 100);
            for user in 1..=5 {
                let seqs: Vec<u64> = records
                    .iter()
                    .filter(|r| r.user == user)
                    .map(|r| r.seq)
                    .collect();
                assert_eq!(seqs, (0..20).collect::<Vec<_>>());
            }
        });
    }

    #[test]
    fn latency_mix_gives_nearest_rank_percentiles() {
        rt().block_on(async {
            let state = RunState::new(0);
            run_closed(Scripted::new(10, 100, 0), closed(10, 100), state.clone()).await;
            let m = state.metrics(1000.0, 10);
            assert_eq!(m.total_requests, 1000);
            assert!((m.p50_response_time - 10.0).abs() < 0.05, "{m:?}");
            assert!((m.p95_response_time - 10.0).abs() < 0.05, "{m:?}");
            assert!((m.p99_response_time - 100.0).abs() < 0.2, "{m:?}");
            assert!((m.max_response_time - 100.0).abs() < 0.2, "{m:?}");
            assert!(
                state.take_records().is_empty(),
                "records cap of 0 keeps none"
            );
        });
    }

    #[test]
    fn timeouts_fail_with_the_original_message() {
        rt().block_on(async {
            let state = RunState::new(100);
            let mut cfg = closed(1, 100);
            cfg.timeout_ms = 50.0;
            run_closed(Scripted::new(1, 1000, 0), cfg, state.clone()).await;
            let m = state.metrics(1000.0, 1);
            assert_eq!(m.total_requests, 100);
            assert_eq!(m.failed_requests, 2);
            let failed: Vec<_> = state.take_records().into_iter().filter(|r| !r.ok).collect();
            assert_eq!(failed.len(), 2);
            for r in failed {
                assert_eq!(r.error.as_deref(), Some(TIMEOUT_MESSAGE));
                assert!((r.end_ms - r.start_ms - 50.0).abs() < 1.0);
            }
        });
    }

    #[test]
    fn a_timer_armed_for_an_earlier_request_never_times_out_a_later_one() {
        rt().block_on(async {
            // 40 ms requests under a 50 ms timeout: the user's one timer, armed at request 0's
            // deadline (50 ms), fires while request 1 (sent at 40 ms, due by 90 ms) runs, and
            // must move to request 1's deadline instead of failing it; and so on down the run.
            // Every 50th request takes 200 ms and must fail exactly 50 ms after it was sent.
            let state = RunState::new(1000);
            let mut cfg = closed(1, 100);
            cfg.timeout_ms = 50.0;
            run_closed(Scripted::new(40, 200, 0), cfg, state.clone()).await;
            let records = state.take_records();
            assert_eq!(records.len(), 100);
            for r in &records {
                let took = r.end_ms - r.start_ms;
                if r.seq % 50 == 49 {
                    assert_eq!(r.error.as_deref(), Some(TIMEOUT_MESSAGE), "{r:?}");
                    assert!((took - 50.0).abs() < 1.0, "{r:?}");
                } else {
                    assert!(r.ok, "{r:?}");
                    assert!((took - 40.0).abs() < 1.0, "{r:?}");
                }
            }
        });
    }

    #[test]
    fn ramp_up_spreads_users_and_duration_cuts_off() {
        rt().block_on(async {
            let state = RunState::new(10_000);
            let cfg = ClosedPlan {
                users: 4,
                requests_per_user: 1000,
                ramp_up_ms: 400.0,
                test_duration_ms: 1000.0,
                think_time_ms: 9.0,
                timeout_ms: 1000.0,
            };
            let elapsed = run_closed(Scripted::new(1, 1, 0), cfg, state.clone()).await;
            let records = state.take_records();
            for user in 1..=4u32 {
                let first = records.iter().find(|r| r.user == user).unwrap();
                let expected = f64::from(user - 1) * 100.0;
                assert!(
                    (first.start_ms - expected).abs() < 1.0,
                    "user {user}: {first:?}"
                );
            }
            assert!(records.iter().all(|r| r.start_ms < 1000.0));
            // 10 ms per cycle: user 1 gets ~100 requests, user 4 ~70.
            let n1 = records.iter().filter(|r| r.user == 1).count();
            assert!((95..=101).contains(&n1), "{n1}");
            assert!(elapsed <= 1002.0, "{elapsed}");
        });
    }

    #[test]
    fn no_cut_off_is_a_duration_too_long_for_an_instant() {
        rt().block_on(async {
            let state = RunState::new(0);
            let mut cfg = closed(2, 3);
            cfg.test_duration_ms = 9_007_199_254_740_991.0;
            run_closed(Scripted::new(1, 1, 0), cfg, state.clone()).await;
            assert_eq!(state.progress().done, 6);
        });
    }

    #[test]
    fn open_model_counts_queueing_from_the_intended_time() {
        rt().block_on(async {
            // 100 req/s for 1 s on one connection while every request takes 20 ms: the server can
            // only do 50/s, so the backlog grows and late requests wait hundreds of ms; the 50
            // arrivals that cannot start within the second are dropped.
            let state = RunState::new(1000);
            let cfg = OpenPlan {
                rate: 100.0,
                duration_ms: 1000.0,
                slots: 1,
                timeout_ms: 10000.0,
            };
            run_open(Scripted::new(20, 20, 0), cfg, state.clone()).await;
            let m = state.metrics(1000.0, 1);
            assert_eq!((m.total_requests, state.dropped()), (50, 50));
            // Arrival 49 is due at 490 ms and sent at 980 ms.
            assert!(m.max_response_time > 500.0, "{m:?}");
            assert!(m.min_response_time < 21.0, "{m:?}");
            let records = state.take_records();
            assert!((records[49].start_ms - 490.0).abs() < 0.01);
        });
    }

    #[test]
    fn cancel_stops_sending_and_drops_requests_in_flight() {
        rt().block_on(async {
            let state = RunState::new(1000);
            let exec = Scripted::new(10, 10, 0);
            let s2 = state.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(55)).await;
                s2.cancel();
            });
            run_closed(exec.clone(), closed(2, 1000), state.clone()).await;
            let done = state.progress().done;
            assert_eq!(done, 10, "5 full rounds of 2 users before the cancel");
            assert_eq!(state.progress().in_flight, 0);
        });
    }

    #[test]
    fn regression_open_model_stops_at_its_duration_and_counts_dropped_arrivals() {
        rt().block_on(async {
            // 10000/s for 300 ms through one slot, 5 ms per request: 60 can be sent, the other
            // 2940 arrivals are dropped, and the run ends at 300 ms instead of 15 s.
            let state = RunState::new(0);
            let cfg = OpenPlan {
                rate: 10_000.0,
                duration_ms: 300.0,
                slots: 1,
                timeout_ms: 10000.0,
            };
            let elapsed = run_open(Scripted::new(5, 5, 0), cfg, state.clone()).await;
            let m = state.metrics(elapsed, 1);
            assert_eq!(m.total_requests, 60, "{m:?}");
            assert_eq!(state.dropped(), 2940);
            assert!(elapsed <= 305.0, "{elapsed}");

            // A rate nobody can meet is bounded the same way.
            let state = RunState::new(0);
            let cfg = OpenPlan {
                rate: 1e9,
                duration_ms: 50.0,
                slots: 2,
                timeout_ms: 10000.0,
            };
            let elapsed = run_open(Scripted::new(1, 1, 0), cfg, state.clone()).await;
            assert!(elapsed <= 51.0, "{elapsed}");
            assert_eq!(state.progress().done + state.dropped(), 50_000_000);
            assert!(
                (98..=100).contains(&state.progress().done),
                "{:?}",
                state.progress()
            );

            // Nothing is dropped when the system keeps up.
            let state = RunState::new(0);
            let cfg = OpenPlan {
                rate: 100.0,
                duration_ms: 100.0,
                slots: 2,
                timeout_ms: 10000.0,
            };
            run_open(Scripted::new(1, 1, 0), cfg, state.clone()).await;
            assert_eq!((state.progress().done, state.dropped()), (10, 0));
        });
    }

    #[test]
    fn regression_users_and_slots_exist_only_while_they_run() {
        // Half a second into a 100 s ramp-up of 100k users, ~500 have started: only they may
        // have a task (before, all 100k were spawned up front, each waiting for its turn).
        rt().block_on(async {
            let state = RunState::new(0);
            let cfg = ClosedPlan {
                users: 100_000,
                requests_per_user: 1_000_000,
                ramp_up_ms: 100000.0,
                test_duration_ms: 3600000.0,
                think_time_ms: 10.0,
                timeout_ms: 1000.0,
            };
            let run = tokio::spawn(run_closed(Scripted::new(1, 1, 0), cfg, state.clone()));
            tokio::time::sleep(Duration::from_millis(500)).await;
            let alive = tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks();
            assert!(alive < 600, "{alive} tasks alive");
            state.cancel();
            run.await.unwrap();

            // The open model makes a slot only when every other one is busy.
            let exec = Scripted::new(1, 1, 0);
            let created = Arc::new(AtomicU32::new(0));
            struct Counting(Arc<Scripted>, Arc<AtomicU32>);
            impl Executor for Counting {
                type State = u32;
                fn state(&self, user: u32) -> u32 {
                    self.1.fetch_add(1, Ordering::SeqCst);
                    user
                }
                async fn execute(&self, user: &mut u32) -> Result<Reply, Failure> {
                    self.0.execute(user).await
                }
            }
            let state = RunState::new(0);
            let cfg = OpenPlan {
                rate: 100.0,
                duration_ms: 500.0,
                slots: MAX_USERS,
                timeout_ms: 10000.0,
            };
            run_open(
                Arc::new(Counting(exec, created.clone())),
                cfg,
                state.clone(),
            )
            .await;
            assert_eq!(state.progress().done, 50);
            assert_eq!(
                created.load(Ordering::SeqCst),
                1,
                "1 ms requests every 10 ms need one slot"
            );
        });
    }
}
