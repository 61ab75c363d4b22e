//! The pool core as one JS object. The JS layer (`lib/pool.js`) keeps the resource values and
//! the pending promises; every decision comes from here. Each call is synchronous and cheap, and
//! the hot ones (`acquire`, `release`) return one number so a cycle costs two native calls and
//! no allocation:
//!
//! `code = id * 8 + (actions pending ? 4 : 0) + kind`, with `kind` per method (see the JS layer's
//! `decode`). `id` is a resource id or a waiter id (waiter ids grow by one per acquire, so they
//! stay far below 2^50 and the number is exact).

use std::time::Instant;

use napi_derive::napi;

use super::error::Result;
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

#[napi]
pub struct NativePool {
    core: PoolCore,
    origin: Instant,
}

impl NativePool {
    fn now(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64
    }

    fn code(&self, id: u64, kind: u64) -> f64 {
        let flag = if self.core.has_actions() { 4 } else { 0 };
        (id * 8 + flag + kind) as f64
    }

    fn acquire_code(&self, a: Acquire) -> f64 {
        match a {
            Acquire::Ready(r) => self.code(r.0 as u64, READY),
            Acquire::Queued(w) => self.code(w.0, QUEUED),
            Acquire::Closed => self.code(0, CLOSED),
        }
    }
}

#[napi]
impl NativePool {
    /// Starts with `minSize` creations queued as actions.
    #[napi(constructor)]
    pub fn new(options: NativePoolOptions) -> Result<Self> {
        let config = PoolConfig::try_from(options)?;
        Ok(Self {
            core: PoolCore::new(config)?,
            origin: Instant::now(),
        })
    }

    /// READY (resource id) | QUEUED (waiter id) | CLOSED.
    #[napi]
    pub fn acquire(&mut self) -> f64 {
        let now = self.now();
        let a = self.core.acquire(now);
        self.acquire_code(a)
    }

    /// IDLE | HANDOFF (waiter id) | IGNORED.
    #[napi]
    pub fn release(&mut self, id: u32) -> f64 {
        let now = self.now();
        match self.core.release(ResourceId(id), now) {
            Release::Idle => self.code(0, IDLE),
            Release::Handoff(w) => self.code(w.0, HANDOFF),
            Release::Ignored => self.code(0, IGNORED),
        }
    }

    /// After a failed validation: an acquire code for the same caller, or -1 if `id` was not
    /// borrowed.
    #[napi]
    pub fn reject_borrowed(&mut self, id: u32) -> f64 {
        let now = self.now();
        match self.core.reject_borrowed(ResourceId(id), now) {
            Some(a) => self.acquire_code(a),
            None => -1.0,
        }
    }

    /// IDLE | HANDOFF (waiter id) | DESTROY | IGNORED.
    #[napi]
    pub fn created(&mut self, id: u32) -> f64 {
        let now = self.now();
        match self.core.created(ResourceId(id), now) {
            Created::Idle => self.code(0, IDLE),
            Created::Handoff(w) => self.code(w.0, HANDOFF),
            Created::Destroy => self.code(0, DESTROY),
            Created::Ignored => self.code(0, IGNORED),
        }
    }

    /// NOBODY | REJECT (waiter id) | IGNORED.
    #[napi]
    pub fn create_failed(&mut self, id: u32) -> f64 {
        match self.core.create_failed(ResourceId(id)) {
            CreateFailed::Nobody => self.code(0, NOBODY),
            CreateFailed::Reject(w) => self.code(w.0, REJECT),
            CreateFailed::Ignored => self.code(0, IGNORED),
        }
    }

    /// Whether the waiter was still queued (and is now gone).
    #[napi]
    pub fn cancel(&mut self, waiter: f64) -> bool {
        self.core.cancel(WaiterId(waiter as u64))
    }

    /// Queues timeout rejections; returns ms until the next deadline, or -1 if none.
    #[napi]
    pub fn expire(&mut self) -> f64 {
        let now = self.now();
        self.core.expire(now);
        match self.core.next_deadline() {
            Some(d) => (d.saturating_sub(now) as f64 / 1000.0).ceil(),
            None => -1.0,
        }
    }

    #[napi]
    pub fn maintain(&mut self) {
        let now = self.now();
        self.core.maintain(now);
    }

    #[napi]
    pub fn close(&mut self) {
        self.core.close();
    }

    /// The pending side effects as `[kind, id, kind, id, …]`.
    #[napi]
    pub fn take_actions(&mut self) -> Vec<f64> {
        let mut out = Vec::new();
        for a in self.core.drain_actions() {
            let (kind, id) = match a {
                Action::Create(r) => (ACT_CREATE, r.0 as f64),
                Action::Destroy(r) => (ACT_DESTROY, r.0 as f64),
                Action::Reject(w, RejectReason::Timeout) => (ACT_TIMEOUT, w.0 as f64),
                Action::Reject(w, RejectReason::Closed) => (ACT_CLOSED, w.0 as f64),
            };
            out.push(kind);
            out.push(id);
        }
        out
    }

    #[napi]
    pub fn stats(&self) -> NativePoolStats {
        self.core.stats().into()
    }

    /// Every internal invariant, for tests: an empty string when all hold.
    #[napi]
    pub fn check_invariants(&self) -> String {
        self.core.check_invariants().err().unwrap_or_default()
    }
}
