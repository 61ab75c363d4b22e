//! The pool core behind plain functions on a numeric handle. The JS layer (`lib/pool.js`) keeps
//! the resource values and the pending promises; every decision comes from here. Each call is
//! synchronous and cheap, and the hot ones (`poolAcquire`, `poolLent`, `poolRelease`) take and
//! return plain numbers, so a cycle costs three native calls and no native allocation. (`poolLent`
//! marks the moment the caller receives the resource: before it, nobody holds the resource, so
//! a release of it is a former holder's mistake and must not end the new loan.)
//!
//! Why handles and not a `#[napi]` class: see `handles.rs`; `acquire`/`release` are nothing but
//! that call.
//!
//! Codes: `code = id * 8 + (actions pending ? 4 : 0) + kind`, with `kind` per method (see the JS layer's
//! `decode`). `id` is a resource id or a waiter id (waiter ids grow by one per acquire, so they
//! stay far below 2^50 and the number is exact).

// napi-derive registers `#[napi]` functions only outside `cfg(test)`, so a test build sees them
// as unused.
#![cfg_attr(test, allow(dead_code))]
use std::cell::RefCell;
use std::sync::OnceLock;
use std::time::Instant;

use napi_derive::napi;

use super::error::Result;
use super::handles::Handles;
use crate::pool::{
    whole_number, Acquire, Action, CreateFailed, Created, PoolConfig, PoolCore, PoolStats,
    RejectReason, Release, ResourceId, WaiterId, MAX_POOL_SIZE,
};

/// Largest timeout accepted, in ms: about 285 years, well inside u64 microseconds.
const MAX_TIMEOUT_MS: f64 = 9e12;

#[napi(object)]
pub struct NativePoolOptions {
    pub min_size: f64,
    pub max_size: f64,
    /// 0 waits without limit.
    pub acquire_timeout: f64,
    pub idle_timeout: f64,
    /// Whether resources taken from the idle set are validated by the JS layer.
    pub validate: bool,
}

impl TryFrom<NativePoolOptions> for PoolConfig {
    type Error = crate::pool::PoolError;

    fn try_from(o: NativePoolOptions) -> std::result::Result<Self, Self::Error> {
        Ok(PoolConfig {
            min_size: whole_number("minSize", o.min_size, MAX_POOL_SIZE as f64)? as usize,
            max_size: whole_number("maxSize", o.max_size, MAX_POOL_SIZE as f64)? as usize,
            acquire_timeout_ms: whole_number("acquireTimeout", o.acquire_timeout, MAX_TIMEOUT_MS)?,
            idle_timeout_ms: whole_number("idleTimeout", o.idle_timeout, MAX_TIMEOUT_MS)?,
            validate: o.validate,
        })
    }
}

#[napi(object)]
pub struct NativePoolStats {
    pub total: u32,
    pub active: u32,
    pub idle: u32,
    pub waiting: u32,
    pub pending: u32,
    pub max_used: u32,
    pub avg_wait_time: f64,
    pub created: f64,
    pub destroyed: f64,
}

impl From<PoolStats> for NativePoolStats {
    fn from(s: PoolStats) -> Self {
        Self {
            total: s.total as u32,
            active: s.active as u32,
            idle: s.idle as u32,
            waiting: s.waiting as u32,
            pending: s.pending as u32,
            max_used: s.max_used as u32,
            avg_wait_time: s.avg_wait_ms,
            created: s.created as f64,
            destroyed: s.destroyed as f64,
        }
    }
}

// Kinds in the low two bits of a code; the JS layer mirrors these numbers.
const READY: u64 = 0;
const QUEUED: u64 = 1;
const CLOSED: u64 = 2;
const IDLE: u64 = 0;
const HANDOFF: u64 = 1;
const DESTROY: u64 = 2;
const IGNORED: u64 = 3;
const NOBODY: u64 = 0;
const REJECT: u64 = 1;
// Action kinds in `takeActions`.
const ACT_CREATE: f64 = 0.0;
const ACT_DESTROY: f64 = 1.0;
const ACT_TIMEOUT: f64 = 2.0;
const ACT_CLOSED: f64 = 3.0;
const ACT_REVOKE_TIMEOUT: f64 = 4.0;
const ACT_REVOKE_CLOSED: f64 = 5.0;

thread_local! {
    static POOLS: RefCell<Handles<PoolCore>> = const { RefCell::new(Handles::new()) };
}

/// Runs `f` on the pool behind `handle`, or returns `missing` for a freed or unknown handle
/// (which the JS layer never passes; answering "closed"/"ignored" keeps a bug harmless).
fn with_pool<R>(handle: u32, missing: R, f: impl FnOnce(&mut PoolCore) -> R) -> R {
    POOLS.with(|pools| {
        // No callback runs inside `f`, so this borrow is never re-entered.
        match pools.borrow_mut().get_mut(handle) {
            Some(core) => f(core),
            None => missing,
        }
    })
}

/// Microseconds since the first pool was made: the core's clock.
fn now() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_micros() as u64
}

fn code(core: &PoolCore, id: u64, kind: u64) -> f64 {
    let flag = if core.has_actions() { 4 } else { 0 };
    (id * 8 + flag + kind) as f64
}

fn acquire_code(core: &PoolCore, a: Acquire) -> f64 {
    match a {
        Acquire::Ready(r) => code(core, r.0 as u64, READY),
        Acquire::Queued(w) => code(core, w.0, QUEUED),
        Acquire::Closed => code(core, 0, CLOSED),
    }
}

const CLOSED_CODE: f64 = CLOSED as f64;
const IGNORED_CODE: f64 = IGNORED as f64;

/// A new pool (its `minSize` creations queued as actions); returns its handle.
#[napi(catch_unwind)]
pub fn pool_create(options: NativePoolOptions) -> Result<u32> {
    let core = PoolCore::new(PoolConfig::try_from(options)?)?;
    now();
    Ok(POOLS.with(|pools| pools.borrow_mut().insert(core)))
}

/// Forgets a pool; its handle may be reused afterwards.
#[napi(catch_unwind)]
pub fn pool_free(handle: u32) {
    POOLS.with(|pools| pools.borrow_mut().remove(handle));
}

/// READY (resource id) | QUEUED (waiter id) | CLOSED.
#[napi(catch_unwind)]
pub fn pool_acquire(handle: u32) -> f64 {
    with_pool(handle, CLOSED_CODE, |core| {
        let a = core.acquire(now());
        acquire_code(core, a)
    })
}

/// IDLE | HANDOFF (waiter id) | IGNORED.
#[napi(catch_unwind)]
pub fn pool_release(handle: u32, id: u32) -> f64 {
    with_pool(handle, IGNORED_CODE, |core| {
        match core.release(ResourceId(id), now()) {
            Release::Idle => code(core, 0, IDLE),
            Release::Handoff(w) => code(core, w.0, HANDOFF),
            Release::Ignored => code(core, 0, IGNORED),
        }
    })
}

/// The resource being lent reached its caller; whether `id` was being lent.
#[napi(catch_unwind)]
pub fn pool_lent(handle: u32, id: u32) -> bool {
    with_pool(handle, false, |core| core.lent(ResourceId(id)))
}

/// The caller gave up while its resource was being validated: the resource is destroyed (an
/// action). Whether `id` was being lent.
#[napi(catch_unwind)]
pub fn pool_abandon(handle: u32, id: u32) -> bool {
    with_pool(handle, false, |core| core.abandon(ResourceId(id)))
}

/// After a failed validation: an acquire code for the same caller, or -1 if `id` was not
/// being lent.
#[napi(catch_unwind)]
pub fn pool_reject_borrowed(handle: u32, id: u32) -> f64 {
    with_pool(handle, -1.0, |core| {
        match core.reject_borrowed(ResourceId(id), now()) {
            Some(a) => acquire_code(core, a),
            None => -1.0,
        }
    })
}

/// IDLE | HANDOFF (waiter id) | DESTROY | IGNORED.
#[napi(catch_unwind)]
pub fn pool_created(handle: u32, id: u32) -> f64 {
    with_pool(handle, IGNORED_CODE, |core| {
        match core.created(ResourceId(id), now()) {
            Created::Idle => code(core, 0, IDLE),
            Created::Handoff(w) => code(core, w.0, HANDOFF),
            Created::Destroy => code(core, 0, DESTROY),
            Created::Ignored => code(core, 0, IGNORED),
        }
    })
}

/// NOBODY | REJECT (waiter id) | IGNORED.
#[napi(catch_unwind)]
pub fn pool_create_failed(handle: u32, id: u32) -> f64 {
    with_pool(handle, IGNORED_CODE, |core| {
        match core.create_failed(ResourceId(id)) {
            CreateFailed::Nobody => code(core, 0, NOBODY),
            CreateFailed::Reject(w) => code(core, w.0, REJECT),
            CreateFailed::Ignored => code(core, 0, IGNORED),
        }
    })
}

/// Whether the waiter was still queued (and is now gone).
#[napi(catch_unwind)]
pub fn pool_cancel(handle: u32, waiter: f64) -> bool {
    with_pool(handle, false, |core| core.cancel(WaiterId(waiter as u64)))
}

/// Queues timeout rejections; returns ms until the next deadline, or -1 if none.
#[napi(catch_unwind)]
pub fn pool_expire(handle: u32) -> f64 {
    with_pool(handle, -1.0, |core| {
        let now = now();
        core.expire(now);
        ms_until(core.next_deadline(), now)
    })
}

/// ms until the next deadline (of a waiter or of a validation), or -1 if none.
#[napi(catch_unwind)]
pub fn pool_next_deadline(handle: u32) -> f64 {
    with_pool(handle, -1.0, |core| ms_until(core.next_deadline(), now()))
}

fn ms_until(deadline: Option<u64>, now: u64) -> f64 {
    match deadline {
        Some(d) => (d.saturating_sub(now) as f64 / 1000.0).ceil(),
        None => -1.0,
    }
}

#[napi(catch_unwind)]
pub fn pool_maintain(handle: u32) {
    with_pool(handle, (), |core| core.maintain(now()))
}

#[napi(catch_unwind)]
pub fn pool_close(handle: u32) {
    with_pool(handle, (), |core| core.close())
}

/// The pending side effects as `[kind, id, kind, id, …]`.
#[napi(catch_unwind)]
pub fn pool_take_actions(handle: u32) -> Vec<f64> {
    with_pool(handle, Vec::new(), |core| {
        let mut out = Vec::new();
        for a in core.drain_actions() {
            let (kind, id) = match a {
                Action::Create(r) => (ACT_CREATE, r.0 as f64),
                Action::Destroy(r) => (ACT_DESTROY, r.0 as f64),
                Action::Reject(w, RejectReason::Timeout) => (ACT_TIMEOUT, w.0 as f64),
                Action::Reject(w, RejectReason::Closed) => (ACT_CLOSED, w.0 as f64),
                Action::Revoke(r, RejectReason::Timeout) => (ACT_REVOKE_TIMEOUT, r.0 as f64),
                Action::Revoke(r, RejectReason::Closed) => (ACT_REVOKE_CLOSED, r.0 as f64),
            };
            out.push(kind);
            out.push(id);
        }
        out
    })
}

#[napi(catch_unwind)]
pub fn pool_stats(handle: u32) -> Option<NativePoolStats> {
    with_pool(handle, None, |core| Some(core.stats().into()))
}

/// Every internal invariant, for tests: an empty string when all hold.
#[napi(catch_unwind)]
pub fn pool_check_invariants(handle: u32) -> String {
    with_pool(handle, "unknown pool handle".to_string(), |core| {
        core.check_invariants().err().unwrap_or_default()
    })
}
