//! The pool core behind plain functions on a numeric handle. The JS layer (`lib/pool/`) keeps
//! the resource values and the pending promises, runs the user's callbacks and arms the one timer
//! the core asks for; every decision comes from here. Each call is synchronous and cheap, and the
//! hot ones (`poolAcquire`, `poolRelease`) take and return plain numbers, so an acquire/release
//! cycle costs two native calls and no native allocation.
//!
//! The moment a caller receives its resource (`PoolCore::lent`: before it, nobody holds the
//! resource, so a release of it is a former holder's mistake) crosses with the holder's release,
//! the next call that crosses anyway: see `pool_release`.
//!
//! Why handles and not a `#[napi]` class: see `handles.rs`; `acquire`/`release` are nothing but
//! that call.
//!
//! Codes: `code = id * POOL_CODE_ID_FACTOR + (actions pending ? POOL_CODE_ACTIONS : 0) + kind`,
//! with `kind` one of the enums below, per method. `id` is a resource id or a waiter id (waiter
//! ids grow by one per acquire, so they stay far below 2^50 and the number is exact).

// napi-derive registers `#[napi]` items only outside `cfg(test)`, so a test build sees them as
// unused.
#![cfg_attr(test, allow(dead_code))]
use std::cell::RefCell;
use std::sync::OnceLock;
use std::time::Instant;

use napi::bindgen_prelude::{Object, Unknown};
use napi::ValueType;
use napi_derive::napi;

use super::args::{describe, js_number};
use super::error::{failure, range_error, type_error, Result};
use super::handles::Handles;
use crate::pool::{
    Acquire, Action, Alert, AlertKind, CreateFailed, Created, PoolConfig, PoolCore, PoolStats,
    RejectReason, Release, ResourceId, Severity, WaiterId, MAX_POOL_SIZE,
};

/// Largest timeout accepted, in ms: about 285 years, well inside u64 microseconds.
const MAX_TIMEOUT_MS: f64 = 9e12;

/// A code's flag saying the core has actions to drain (`poolTakeActions`).
#[napi]
pub const POOL_CODE_ACTIONS: u32 = 4;
/// What a code's id is multiplied by.
#[napi]
pub const POOL_CODE_ID_FACTOR: u32 = 8;

/// The kind of a `poolAcquire` / `poolRejectBorrowed` code.
#[napi]
pub enum PoolAcquireKind {
    /// The id is a resource now being lent to the caller: validate it (if validating), deliver.
    Ready = 0,
    /// The id is the caller's waiter id: park it.
    Queued = 1,
    Closed = 2,
}

/// The kind of a `poolRelease` / `poolCreated` code.
#[napi]
pub enum PoolReleaseKind {
    Idle = 0,
    /// The id is the waiter the resource now goes to.
    Handoff = 1,
    /// (`poolCreated`) The pool closed meanwhile: destroy the fresh resource.
    Destroy = 2,
    Ignored = 3,
}

/// The kind of a `poolCreateFailed` code.
#[napi]
pub enum PoolCreateFailedKind {
    Nobody = 0,
    /// The id is the waiter to reject with the failure.
    Reject = 1,
    Ignored = 3,
}

/// The kind of each action in `poolTakeActions`.
#[napi]
pub enum PoolActionKind {
    /// Make a resource for this slot.
    Create = 0,
    /// Destroy the resource in this slot and forget the id.
    Destroy = 1,
    /// Reject this waiter: it waited past acquireTimeout.
    Timeout = 2,
    /// Reject this waiter: the pool was destroyed.
    Closed = 3,
    /// Turn away the caller this resource was being validated for: past its deadline.
    RevokeTimeout = 4,
    /// Turn away the caller this resource was being lent to: the pool was destroyed.
    RevokeClosed = 5,
    /// The creation in this slot outlived acquireTimeout: forget it.
    GiveUp = 6,
}

/// The pool options `poolCreate` reads from the user's config object; the JS layer checks the
/// callbacks, the numbers are checked here, once.
pub struct PoolOptions<'a> {
    config: &'a Object<'a>,
    /// Whether the JS layer validates resources taken from the idle set.
    validate: bool,
}

impl TryFrom<PoolOptions<'_>> for PoolConfig {
    type Error = napi::Error<&'static str>;

    fn try_from(o: PoolOptions<'_>) -> Result<Self> {
        let d = PoolConfig::default();
        let max_size = size(o.config, "maxSize", 1)?.unwrap_or(d.max_size);
        let config = PoolConfig {
            min_size: size(o.config, "minSize", 0)?.unwrap_or(d.min_size.min(max_size)),
            max_size,
            acquire_timeout_ms: timeout(o.config, "acquireTimeout")?
                .unwrap_or(d.acquire_timeout_ms),
            idle_timeout_ms: timeout(o.config, "idleTimeout")?.unwrap_or(d.idle_timeout_ms),
            validate: o.validate,
            grow_after_ms: d.grow_after_ms,
        };
        // The sizes against each other: checked by the core (`PoolCore::new`).
        Ok(config)
    }
}

/// The number under `name`, `None` when it is missing or `undefined`.
fn number(o: &Object, name: &str) -> Result<Option<f64>> {
    let Some(value) = o.get::<Unknown>(name).map_err(read_failed)? else {
        return Ok(None);
    };
    match value.get_type().map_err(read_failed)? {
        ValueType::Undefined => Ok(None),
        // SAFETY: the value was just checked to be a number.
        ValueType::Number => Ok(Some(unsafe { value.cast::<f64>() }.map_err(read_failed)?)),
        _ => Err(type_error(format!(
            "{name} must be a number, got {}",
            describe(&value)
        ))),
    }
}

/// Reading the config object failed (a getter threw, say).
fn read_failed(e: napi::Error) -> napi::Error<&'static str> {
    failure(e.reason.clone())
}

/// A whole number of resources from `min` to `MAX_POOL_SIZE`.
fn size(o: &Object, name: &str, min: usize) -> Result<Option<usize>> {
    let Some(v) = number(o, name)? else {
        return Ok(None);
    };
    if !(v.is_finite() && v.fract() == 0.0 && v >= min as f64 && v <= MAX_POOL_SIZE as f64) {
        return Err(range_error(format!(
            "{name} must be a whole number from {min} to {MAX_POOL_SIZE}, got {}",
            js_number(v)
        )));
    }
    Ok(Some(v as usize))
}

/// A finite number of ms from 0 to `MAX_TIMEOUT_MS`, rounded up to a whole ms.
fn timeout(o: &Object, name: &str) -> Result<Option<u64>> {
    let Some(v) = number(o, name)? else {
        return Ok(None);
    };
    if !(v.is_finite() && (0.0..=MAX_TIMEOUT_MS).contains(&v)) {
        return Err(range_error(format!(
            "{name} must be a finite number from 0 to {}, got {}",
            js_number(MAX_TIMEOUT_MS),
            js_number(v)
        )));
    }
    Ok(Some(v.ceil() as u64))
}

/// A pool's resolved configuration, as the JS layer reports it (`pool.config`).
#[napi(object)]
pub struct NativePoolConfig {
    pub min_size: u32,
    pub max_size: u32,
    pub acquire_timeout: f64,
    pub idle_timeout: f64,
    /// ms between two calls of `poolMaintain`.
    pub maintain_every: f64,
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

#[napi(string_enum = "kebab-case")]
pub enum ResourceAlertType {
    HighUtilization,
    LongWaitTime,
    PoolExhausted,
}

#[napi(string_enum = "lowercase")]
pub enum ResourceAlertSeverity {
    Warning,
    Critical,
}

/// An alert as `resource-alert` carries it (API.md, ResourceManager).
#[napi(object)]
pub struct ResourceAlert {
    #[napi(js_name = "type")]
    pub kind: ResourceAlertType,
    pub severity: ResourceAlertSeverity,
    pub message: String,
    pub value: f64,
    pub threshold: f64,
}

impl From<Alert> for ResourceAlert {
    fn from(a: Alert) -> Self {
        Self {
            kind: match a.kind {
                AlertKind::HighUtilization => ResourceAlertType::HighUtilization,
                AlertKind::LongWaitTime => ResourceAlertType::LongWaitTime,
                AlertKind::PoolExhausted => ResourceAlertType::PoolExhausted,
            },
            severity: match a.severity {
                Severity::Warning => ResourceAlertSeverity::Warning,
                Severity::Critical => ResourceAlertSeverity::Critical,
            },
            message: a.message,
            value: a.value,
            threshold: a.threshold,
        }
    }
}

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

fn code(core: &PoolCore, id: u64, kind: u32) -> f64 {
    let flag = if core.has_actions() {
        POOL_CODE_ACTIONS
    } else {
        0
    };
    (id * POOL_CODE_ID_FACTOR as u64 + (flag + kind) as u64) as f64
}

fn acquire_code(core: &PoolCore, a: Acquire) -> f64 {
    match a {
        Acquire::Ready(r) => code(core, r.0 as u64, PoolAcquireKind::Ready as u32),
        Acquire::Queued(w) => code(core, w.0, PoolAcquireKind::Queued as u32),
        Acquire::Closed => code(core, 0, PoolAcquireKind::Closed as u32),
    }
}

fn release_code(core: &PoolCore, r: Release) -> f64 {
    match r {
        Release::Idle => code(core, 0, PoolReleaseKind::Idle as u32),
        Release::Handoff(w) => code(core, w.0, PoolReleaseKind::Handoff as u32),
        Release::Ignored => code(core, 0, PoolReleaseKind::Ignored as u32),
    }
}

const CLOSED_CODE: f64 = PoolAcquireKind::Closed as u32 as f64;
const IGNORED_CODE: f64 = PoolReleaseKind::Ignored as u32 as f64;

/// A new pool (its `minSize` creations queued as actions) from the user's config object;
/// returns its handle.
#[napi(catch_unwind)]
pub fn pool_create(config: Object, validate: bool) -> Result<u32> {
    let config = PoolConfig::try_from(PoolOptions {
        config: &config,
        validate,
    })?;
    let core = PoolCore::new(config, now())?;
    Ok(POOLS.with(|pools| pools.borrow_mut().insert(core)))
}

/// The resolved configuration (defaults filled in).
#[napi(catch_unwind)]
pub fn pool_config(handle: u32) -> Option<NativePoolConfig> {
    with_pool(handle, None, |core| {
        let c = core.config();
        Some(NativePoolConfig {
            min_size: c.min_size as u32,
            max_size: c.max_size as u32,
            acquire_timeout: c.acquire_timeout_ms as f64,
            idle_timeout: c.idle_timeout_ms as f64,
            maintain_every: c.maintain_every_ms() as f64,
        })
    })
}

/// Forgets a pool; its handle may be reused afterwards.
#[napi(catch_unwind)]
pub fn pool_free(handle: u32) {
    POOLS.with(|pools| pools.borrow_mut().remove(handle));
}

/// Ready (resource id) | Queued (waiter id) | Closed.
#[napi(catch_unwind)]
pub fn pool_acquire(handle: u32) -> f64 {
    with_pool(handle, CLOSED_CODE, |core| {
        let a = core.acquire(now());
        acquire_code(core, a)
    })
}

/// Idle | Handoff (waiter id) | Ignored. `delivered`: whether the resource reached the caller
/// it was last lent to (the JS layer knows; the core learns it here, in the crossing the release
/// makes anyway, instead of in one more per acquire). A release of a resource still on its way
/// is a former holder's and is `Ignored`.
#[napi(catch_unwind)]
pub fn pool_release(handle: u32, id: u32, delivered: bool) -> f64 {
    with_pool(handle, IGNORED_CODE, |core| {
        if delivered {
            core.lent(ResourceId(id));
        }
        let r = core.release(ResourceId(id), now());
        release_code(core, r)
    })
}

/// The resource being lent passed its (async) validation: its caller's deadline stops
/// applying. Whether `id` was being validated.
#[napi(catch_unwind)]
pub fn pool_validated(handle: u32, id: u32) -> bool {
    with_pool(handle, false, |core| core.validated(ResourceId(id)))
}

/// The caller gave up while its resource was being validated: the resource is destroyed (an
/// action). Whether `id` was being lent.
#[napi(catch_unwind)]
pub fn pool_abandon(handle: u32, id: u32) -> bool {
    with_pool(handle, false, |core| core.abandon(ResourceId(id), now()))
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

/// Idle | Handoff (waiter id) | Destroy | Ignored.
#[napi(catch_unwind)]
pub fn pool_created(handle: u32, id: u32) -> f64 {
    with_pool(handle, IGNORED_CODE, |core| {
        match core.created(ResourceId(id), now()) {
            Created::Idle => code(core, 0, PoolReleaseKind::Idle as u32),
            Created::Handoff(w) => code(core, w.0, PoolReleaseKind::Handoff as u32),
            Created::Destroy => code(core, 0, PoolReleaseKind::Destroy as u32),
            Created::Ignored => code(core, 0, PoolReleaseKind::Ignored as u32),
        }
    })
}

/// Nobody | Reject (waiter id) | Ignored.
#[napi(catch_unwind)]
pub fn pool_create_failed(handle: u32, id: u32) -> f64 {
    with_pool(handle, IGNORED_CODE, |core| {
        match core.create_failed(ResourceId(id), now()) {
            CreateFailed::Nobody => code(core, 0, PoolCreateFailedKind::Nobody as u32),
            CreateFailed::Reject(w) => code(core, w.0, PoolCreateFailedKind::Reject as u32),
            CreateFailed::Ignored => code(core, 0, PoolCreateFailedKind::Ignored as u32),
        }
    })
}

/// Whether the waiter was still queued (and is now gone).
#[napi(catch_unwind)]
pub fn pool_cancel(handle: u32, waiter: f64) -> bool {
    with_pool(handle, false, |core| core.cancel(WaiterId(waiter as u64)))
}

/// Queues what is due (timeouts of waiters, validations and creations); returns ms until the
/// next deadline, or -1 if none.
#[napi(catch_unwind)]
pub fn pool_expire(handle: u32) -> f64 {
    with_pool(handle, -1.0, |core| {
        let now = now();
        core.expire(now);
        ms_until(core.next_deadline(), now)
    })
}

/// ms until the next deadline (of a waiter, a validation or a creation), or -1 if none.
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

/// The pending side effects as `[kind, id, kind, id, …]` (kinds: `PoolActionKind`).
#[napi(catch_unwind)]
pub fn pool_take_actions(handle: u32) -> Vec<f64> {
    with_pool(handle, Vec::new(), |core| {
        let mut out = Vec::new();
        for a in core.drain_actions() {
            use PoolActionKind as K;
            let (kind, id) = match a {
                Action::Create(r) => (K::Create, r.0 as f64),
                Action::Destroy(r) => (K::Destroy, r.0 as f64),
                Action::GiveUp(r) => (K::GiveUp, r.0 as f64),
                Action::Reject(w, RejectReason::Timeout) => (K::Timeout, w.0 as f64),
                Action::Reject(w, RejectReason::Closed) => (K::Closed, w.0 as f64),
                Action::Revoke(r, RejectReason::Closed) => (K::RevokeClosed, r.0 as f64),
                // Only a deadline revokes otherwise.
                Action::Revoke(r, _) => (K::RevokeTimeout, r.0 as f64),
            };
            out.push(kind as u32 as f64);
            out.push(id);
        }
        out
    })
}

#[napi(catch_unwind)]
pub fn pool_stats(handle: u32) -> Option<NativePoolStats> {
    with_pool(handle, None, |core| Some(core.stats().into()))
}

/// The alerts the pool's statistics raise, its messages naming it `name`.
#[napi(catch_unwind)]
pub fn pool_alerts(handle: u32, name: String) -> Vec<ResourceAlert> {
    with_pool(handle, Vec::new(), |core| {
        core.stats()
            .alerts(&name)
            .into_iter()
            .map(ResourceAlert::from)
            .collect()
    })
}

/// Every internal invariant, for tests: an empty string when all hold.
#[napi(catch_unwind)]
pub fn pool_check_invariants(handle: u32) -> String {
    with_pool(handle, "unknown pool handle".to_string(), |core| {
        core.check_invariants().err().unwrap_or_default()
    })
}
