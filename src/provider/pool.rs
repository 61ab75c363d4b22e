//! The provider's pool of worker processes: an async driver over the resource pool's state
//! machine (`crate::pool::PoolCore`), which makes every decision (who waits, who gets which
//! worker, when to start or stop one, when a wait, a health check or a start has taken too long,
//! which alerts the statistics raise). This file only carries the decisions out.
//!
//! Locking: one `std::sync::Mutex` around the core and the idle workers. It is never held across
//! an `.await`; everything slow (starting a worker, a health ping, a shutdown) happens in tasks
//! or in the caller after the lock is released, so there is no lock-order or await deadlock.
//! One timer task sleeps until the core's next deadline (a wait, a start, a health check, a
//! queued job's grow delay, or an idle worker above the warm count timing out) and calls
//! `expire` and `maintain`; whatever may bring a deadline forward (a caller queued, a start
//! begun, a health check under way, a worker going idle) wakes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, Notify};

use super::worker::{KillHandle, Worker, WorkerSpec};
use super::ProviderError;
use crate::error::ArgError;
use crate::pool::{
    Acquire, Action, Alert, CreateFailed, Created, PoolConfig, PoolCore, RejectReason, Release,
    ResourceId, WaiterId,
};

/// What a queued caller receives: a worker, or why there will be none.
type Delivery = Result<(ResourceId, Worker), ProviderError>;

struct State {
    core: PoolCore,
    idle: HashMap<ResourceId, Worker>,
    waiters: HashMap<WaiterId, oneshot::Sender<Delivery>>,
    /// Process ids of every live worker, lent or idle, so `close` can kill lent ones too.
    /// How to stop each live worker from outside (a lent one is not in `idle`).
    handles: HashMap<ResourceId, KillHandle>,
    /// Attempt number of every start the core still waits for: a start the core gave up on
    /// (its slot maybe reused by another) is told apart when it lands.
    starting: HashMap<ResourceId, u64>,
    next_attempt: u64,
    /// Workers starting or stopping; `close` waits for this to reach zero.
    in_flight: usize,
    last_error: Option<ProviderError>,
}

struct Shared {
    state: Mutex<State>,
    spec: WorkerSpec,
    epoch: Instant,
    health_timeout: Duration,
    settled: Notify,
    /// Wakes the timer task: a deadline may be earlier than the one it sleeps until.
    rearm: Notify,
    runtime: tokio::runtime::Handle,
}

/// A pool of warm worker processes.
#[derive(Clone)]
pub struct ProcessPool {
    shared: Arc<Shared>,
}

/// A borrowed worker. Give it back with [`Lease::release`]; dropping it does the same.
pub struct Lease {
    shared: Arc<Shared>,
    id: ResourceId,
    worker: Option<Worker>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessPoolStatus {
    pub size: usize,
    pub active: usize,
    pub idle: usize,
    pub waiting: usize,
    pub starting: usize,
    pub max_size: usize,
    pub min_size: usize,
    pub created: u64,
    pub destroyed: u64,
    pub avg_wait_ms: f64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// Carries out the core's decisions. Called with the lock held; only spawns, never awaits.
    fn run_actions(self: &Arc<Self>, st: &mut State) {
        let actions: Vec<Action> = st.core.drain_actions().collect();
        self.carry_out(st, actions, None);
    }

    /// Carries out `actions`, except the `Destroy` of `skip`, whose worker the caller stops.
    fn carry_out(self: &Arc<Self>, st: &mut State, actions: Vec<Action>, skip: Option<ResourceId>) {
        for action in actions {
            match action {
                Action::Create(id) => {
                    st.in_flight += 1;
                    let attempt = st.next_attempt;
                    st.next_attempt += 1;
                    st.starting.insert(id, attempt);
                    self.rearm.notify_one();
                    let shared = self.clone();
                    self.runtime.spawn(async move {
                        let started = Worker::spawn(&shared.spec).await;
                        shared.on_created(id, attempt, started);
                    });
                }
                Action::GiveUp(id) => {
                    // Its worker, if it ever starts, is stopped when it lands.
                    st.starting.remove(&id);
                    st.last_error = Some(self.timeout(st, "starting a worker"));
                }
                Action::Destroy(id) => {
                    st.handles.remove(&id);
                    if Some(id) == skip {
                        continue;
                    }
                    // A lent worker is not here: its lease stops it when it comes back.
                    if let Some(worker) = st.idle.remove(&id) {
                        self.stop(st, worker);
                    }
                }
                // The caller health-checking that worker finds the loan gone when it reports
                // `lent`, and stops the worker (see `acquire`).
                Action::Revoke(..) => {}
                Action::Reject(waiter, reason) => {
                    if let Some(tx) = st.waiters.remove(&waiter) {
                        let _ = tx.send(Err(match reason {
                            RejectReason::Timeout => self.timeout(st, "waiting for a worker"),
                            RejectReason::Closed => ProviderError::NotConnected,
                        }));
                    }
                }
            }
        }
    }

    fn timeout(&self, st: &State, operation: &str) -> ProviderError {
        ProviderError::Timeout {
            operation: operation.into(),
            timeout_ms: st.core.config().acquire_timeout_ms,
        }
    }

    /// The timer task: sleeps until the core's next deadline, then lets the core expire what is
    /// due. Ends when the pool closes.
    async fn keep_time(self: Arc<Self>) {
        loop {
            let rearmed = self.rearm.notified();
            let next = {
                let mut st = self.lock();
                if st.core.is_closed() {
                    return;
                }
                [st.core.next_deadline(), st.core.next_reap()]
                    .into_iter()
                    .flatten()
                    .min()
            };
            match next {
                Some(at) => {
                    let wait = Duration::from_micros(at.saturating_sub(self.now()));
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {
                            let mut st = self.lock();
                            let now = self.now();
                            st.core.expire(now);
                            // Workers above the warm count stop once idle long enough.
                            st.core.maintain(now);
                            self.run_actions(&mut st);
                            drop(st);
                            self.settled.notify_waiters();
                        }
                        () = rearmed => {}
                    }
                }
                None => rearmed.await,
            }
        }
    }

    fn stop(self: &Arc<Self>, st: &mut State, worker: Worker) {
        st.in_flight += 1;
        let shared = self.clone();
        self.runtime.spawn(async move {
            worker.shutdown(Duration::from_millis(500)).await;
            let mut st = shared.lock();
            st.in_flight -= 1;
            drop(st);
            shared.settled.notify_waiters();
        });
    }

    fn on_created(
        self: &Arc<Self>,
        id: ResourceId,
        attempt: u64,
        started: Result<Worker, ProviderError>,
    ) {
        let mut st = self.lock();
        st.in_flight -= 1;
        if st.starting.get(&id) != Some(&attempt) {
            // Given up on: the slot is not this start's any more.
            if let Ok(worker) = started {
                self.stop(&mut st, worker);
            }
            return;
        }
        st.starting.remove(&id);
        let now = self.now();
        match started {
            Ok(worker) => match st.core.created(id, now) {
                Created::Idle => {
                    st.handles.insert(id, worker.kill_handle());
                    st.idle.insert(id, worker);
                }
                Created::Handoff(w) => {
                    st.handles.insert(id, worker.kill_handle());
                    self.deliver(&mut st, w, id, worker);
                }
                Created::Destroy | Created::Ignored => self.stop(&mut st, worker),
            },
            Err(e) => {
                st.last_error = Some(e.clone());
                if let CreateFailed::Reject(w) = st.core.create_failed(id, now) {
                    if let Some(tx) = st.waiters.remove(&w) {
                        let _ = tx.send(Err(e));
                    }
                }
            }
        }
        self.run_actions(&mut st);
        drop(st);
        self.rearm.notify_one();
        self.settled.notify_waiters();
    }

    /// Hands `worker` to waiter `w`; if that caller is gone, gives the worker back.
    fn deliver(
        self: &Arc<Self>,
        st: &mut State,
        mut w: WaiterId,
        id: ResourceId,
        mut worker: Worker,
    ) {
        loop {
            let Some(tx) = st.waiters.remove(&w) else {
                // Not ours to give: the waiter was cancelled after the core chose it.
                return self.undelivered(st, id, worker);
            };
            match tx.send(Ok((id, worker))) {
                Ok(()) => return,
                Err(Err(_)) => unreachable!("we sent Ok"),
                Err(Ok((_, back))) => {
                    // The caller stopped waiting: serve the next one.
                    worker = back;
                    let now = self.now();
                    match st.core.unlend(id, now) {
                        Release::Handoff(next) => w = next,
                        Release::Idle => {
                            st.idle.insert(id, worker);
                            return;
                        }
                        Release::Ignored => return self.stop(st, worker),
                    }
                }
            }
        }
    }

    /// A worker chosen for a caller that is gone goes to the next waiter, or back to idle.
    fn undelivered(self: &Arc<Self>, st: &mut State, id: ResourceId, worker: Worker) {
        let now = self.now();
        match st.core.unlend(id, now) {
            Release::Idle => {
                st.idle.insert(id, worker);
            }
            Release::Handoff(w) => self.deliver(st, w, id, worker),
            Release::Ignored => self.stop(st, worker),
        }
    }

    fn give_back(self: &Arc<Self>, st: &mut State, id: ResourceId, worker: Worker) {
        let now = self.now();
        match st.core.release(id, now) {
            Release::Idle => {
                st.idle.insert(id, worker);
            }
            Release::Handoff(w) => self.deliver(st, w, id, worker),
            Release::Ignored => self.stop(st, worker),
        }
    }

    fn release(self: &Arc<Self>, id: ResourceId, worker: Worker) {
        let mut st = self.lock();
        if worker.is_broken() {
            self.discard(&mut st, id, worker);
        } else {
            self.give_back(&mut st, id, worker);
        }
        self.run_actions(&mut st);
        // An idle worker above the warm count has a reap deadline now.
        self.rearm.notify_one();
    }

    /// A lent worker broke: the core frees its slot (and starts a replacement where one is
    /// needed); the worker is stopped here.
    fn discard(self: &Arc<Self>, st: &mut State, id: ResourceId, worker: Worker) {
        st.handles.remove(&id);
        let now = self.now();
        if st.core.discard_borrowed(id, now) {
            let actions: Vec<Action> = st.core.drain_actions().collect();
            self.carry_out(st, actions, Some(id));
        }
        self.stop(st, worker);
    }
}

impl ProcessPool {
    /// Starts `min_size` workers and waits until they are ready (or one failed to start).
    /// `config.acquire_timeout_ms` bounds a caller's wait and health check, and a worker's start.
    pub async fn start(
        spec: WorkerSpec,
        config: PoolConfig,
        health_timeout: Duration,
    ) -> Result<Self, ProviderError> {
        let min = config.min_size;
        let epoch = Instant::now();
        let core = PoolCore::new(config, 0)
            .map_err(|e| ArgError::out_of_range("pool", "a valid pool configuration", e))?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                core,
                idle: HashMap::new(),
                waiters: HashMap::new(),
                handles: HashMap::new(),
                starting: HashMap::new(),
                next_attempt: 0,
                in_flight: 0,
                last_error: None,
            }),
            spec,
            epoch,
            health_timeout,
            settled: Notify::new(),
            rearm: Notify::new(),
            runtime: tokio::runtime::Handle::current(),
        });
        {
            let mut st = shared.lock();
            shared.run_actions(&mut st);
        }
        shared.runtime.spawn(shared.clone().keep_time());
        let pool = ProcessPool { shared };
        // Warm: wait for the first `min` workers, failing fast if a start fails.
        loop {
            let notified = pool.shared.settled.notified();
            let (warm, failed) = {
                let st = pool.shared.lock();
                (st.idle.len() >= min, st.last_error.clone())
            };
            if warm {
                break;
            }
            if let Some(e) = failed {
                pool.close(Duration::from_secs(2)).await;
                return Err(e);
            }
            notified.await;
        }
        Ok(pool)
    }

    /// Borrows a worker, health-checking a used one first (a failing one is replaced). Fails
    /// with a timeout when the wait and the checks together outlast `acquire_timeout_ms`.
    pub async fn acquire(&self) -> Result<Lease, ProviderError> {
        let shared = &self.shared;
        let mut answer = {
            let mut st = shared.lock();
            let now = shared.now();
            let a = st.core.acquire(now);
            shared.run_actions(&mut st);
            a
        };
        loop {
            let (id, mut worker) = match answer {
                Acquire::Closed => return Err(ProviderError::NotConnected),
                Acquire::Ready(id) => {
                    let mut st = shared.lock();
                    match st.idle.remove(&id) {
                        Some(w) => (id, w),
                        None => {
                            // The core lent a slot whose worker is gone: treat it as broken.
                            let now = shared.now();
                            answer = st.core.reject_borrowed(id, now).unwrap_or(Acquire::Closed);
                            shared.run_actions(&mut st);
                            continue;
                        }
                    }
                }
                Acquire::Queued(w) => {
                    let (tx, rx) = oneshot::channel();
                    shared.lock().waiters.insert(w, tx);
                    shared.rearm.notify_one();
                    // The core's deadline ends the wait (a `Reject` sent on this channel).
                    let mut waiting = Waiting {
                        shared,
                        waiter: Some(w),
                    };
                    let delivered = rx.await;
                    waiting.waiter = None;
                    match delivered {
                        Ok(Ok(delivered)) => delivered,
                        Ok(Err(e)) => return Err(e),
                        Err(_) => return Err(ProviderError::NotConnected),
                    }
                }
            };
            // Health check: any worker may have died while idle (checked without a round trip);
            // one that has run jobs before must also answer a ping, within the caller's deadline
            // (the core's). A fresh one said ready.
            if worker.jobs_done() > 0 {
                shared.rearm.notify_one();
            }
            let healthy = !worker.has_exited()
                && (worker.jobs_done() == 0 || worker.ping(shared.health_timeout).await);
            if healthy {
                let mut st = shared.lock();
                if st.core.lent(id) {
                    crate::debug_event!(
                        crate::debug::Namespace::Worker,
                        "{} leased",
                        worker.name()
                    );
                    return Ok(Lease {
                        shared: shared.clone(),
                        id,
                        worker: Some(worker),
                    });
                }
                // Turned away while the worker was being checked: the pool closed, or the
                // caller's deadline passed.
                shared.stop(&mut st, worker);
                return Err(if st.core.is_closed() {
                    ProviderError::NotConnected
                } else {
                    shared.timeout(&st, "checking a worker")
                });
            }
            worker.kill();
            let mut st = shared.lock();
            st.handles.remove(&id);
            let now = shared.now();
            answer = st.core.reject_borrowed(id, now).unwrap_or(Acquire::Closed);
            let actions: Vec<Action> = st.core.drain_actions().collect();
            shared.carry_out(&mut st, actions, Some(id));
            shared.stop(&mut st, worker);
        }
    }

    /// What the pool's statistics say needs attention (the same alerts as a JS pool's).
    pub fn alerts(&self) -> Vec<Alert> {
        self.shared.lock().core.stats().alerts("provider workers")
    }

    /// Stops idle workers above `min_size` idle too long and restarts up to `min_size`.
    pub fn maintain(&self) {
        let mut st = self.shared.lock();
        let now = self.shared.now();
        st.core.maintain(now);
        self.shared.run_actions(&mut st);
    }

    pub fn status(&self) -> ProcessPoolStatus {
        let st = self.shared.lock();
        let s = st.core.stats();
        let c = st.core.config();
        ProcessPoolStatus {
            size: s.total,
            active: s.active,
            idle: s.idle,
            waiting: s.waiting,
            starting: s.pending,
            max_size: c.max_size,
            min_size: c.min_size,
            created: s.created,
            destroyed: s.destroyed,
            avg_wait_ms: s.avg_wait_ms,
        }
    }

    /// Process ids of every live worker process (a checker thread has none).
    pub fn pids(&self) -> Vec<u32> {
        self.shared
            .lock()
            .handles
            .values()
            .filter_map(KillHandle::pid)
            .collect()
    }

    /// Stops every worker, lent ones included (their jobs fail), and waits until all are gone
    /// or `grace` has passed (after which any left are killed).
    pub async fn close(&self, grace: Duration) {
        let lent: Vec<KillHandle> = {
            let mut st = self.shared.lock();
            let lent = st
                .handles
                .iter()
                .filter(|(id, _)| !st.idle.contains_key(id))
                .map(|(_, handle)| handle.clone())
                .collect();
            st.core.close();
            self.shared.run_actions(&mut st);
            lent
        };
        self.shared.rearm.notify_one();
        for handle in lent {
            handle.kill();
        }
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let notified = self.shared.settled.notified();
            if self.shared.lock().in_flight == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }
}

/// A queued caller: if its `acquire` is dropped (cancelled) while it waits, it leaves the queue.
struct Waiting<'a> {
    shared: &'a Arc<Shared>,
    waiter: Option<WaiterId>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(w) = self.waiter.take() {
            let mut st = self.shared.lock();
            st.waiters.remove(&w);
            st.core.cancel(w);
            self.shared.run_actions(&mut st);
        }
    }
}

impl Lease {
    pub fn worker(&mut self) -> &mut Worker {
        self.worker
            .as_mut()
            .expect("a lease holds its worker until released")
    }

    pub fn release(mut self) {
        if let Some(worker) = self.worker.take() {
            self.shared.release(self.id, worker);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            self.shared.release(self.id, worker);
        }
    }
}
