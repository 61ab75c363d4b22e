//! The resource pool core: a synchronous state machine that decides who waits, who gets which
//! resource, and when resources are created or destroyed. It never touches a resource itself:
//! resources are named by [`ResourceId`] and the driver (the JS layer, or a Rust async driver
//! pooling worker processes) keeps the values, runs `create`/`destroy`/`validate`, and reports
//! back. Every call is O(1) amortised except cancelling a waiter (O(log n)) and closing.
//!
//! Driving it:
//! - [`PoolCore::acquire`] → `Ready(id)` (validate it if you validate, then use it) or
//!   `Queued(waiter)` (park the caller under that id) or `Closed`.
//! - [`PoolCore::release`] → `Idle`, `Handoff { waiter, .. }` (give the resource to that parked
//!   caller, validating first) or `Ignored` (not borrowed: released twice or never ours).
//! - A validation failure goes back through [`PoolCore::reject_borrowed`], which destroys the
//!   resource and serves the same caller again without losing its place in the queue.
//! - [`PoolCore::created`] / [`PoolCore::create_failed`] report the outcome of a `Create` action.
//! - Side effects that are not the answer to the call itself (create this, destroy that, reject
//!   that waiter) queue up as [`Action`]s; [`PoolCore::has_actions`] says when to drain them.
//! - [`PoolCore::expire`] rejects waiters past their deadline, [`PoolCore::maintain`] reaps idle
//!   resources above `min_size` and tops the pool up to `min_size`, [`PoolCore::close`] ends it.
//!
//! Time is passed in by the driver as microseconds from any fixed origin, so the core is
//! deterministic and testable.

mod alerts;
mod core;
mod error;
#[cfg(test)]
mod tests;

pub use self::core::{
    Acquire, Action, CreateFailed, Created, PoolCore, PoolStats, RejectReason, Release, ResourceId,
    WaiterId,
};
pub use alerts::{Alert, AlertKind, Severity, HIGH_UTILIZATION, LONG_WAIT_MS};
pub use error::PoolError;

/// Largest `max_size` accepted: resource ids are slab indices, and the JS driver's codes carry
/// them as numbers.
pub const MAX_POOL_SIZE: usize = 1 << 20;

/// What the pool keeps and how long things may take. Times are milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolConfig {
    pub min_size: usize,
    pub max_size: usize,
    /// How long a waiter may wait before it is rejected, a validation may run for it, and a
    /// creation may take; 0 waits without limit.
    pub acquire_timeout_ms: u64,
    /// How long a resource above `min_size` may sit idle before it is destroyed.
    pub idle_timeout_ms: u64,
    /// Whether the driver validates resources taken from the idle set (then `Ready`/`Handoff`
    /// of a used resource means "validate, then use"; fresh resources are never validated).
    pub validate: bool,
    /// How long a caller waits in the queue before a resource is created for it (0: at once).
    /// For resources that are slow to make and heavy to keep (worker processes), a queue that
    /// drains within this time is served by the resources there are; an empty pool creates at
    /// once whatever this says.
    pub grow_after_ms: u64,
}

impl Default for PoolConfig {
    /// The public contract's defaults (API.md, ResourcePool).
    fn default() -> Self {
        Self {
            min_size: 2,
            max_size: 10,
            acquire_timeout_ms: 30_000,
            idle_timeout_ms: 60_000,
            validate: false,
            grow_after_ms: 0,
        }
    }
}

impl PoolConfig {
    /// How often a driver should call `maintain`: a quarter of `idle_timeout`, between 10 ms and
    /// 5 s (idle resources are reaped at most a quarter late, and a long timeout costs no churn).
    pub fn maintain_every_ms(&self) -> u64 {
        self.idle_timeout_ms.div_ceil(4).clamp(10, 5000)
    }

    /// Checks the sizes against each other and the supported range.
    pub fn check(&self) -> Result<(), PoolError> {
        if self.max_size < 1 || self.max_size > MAX_POOL_SIZE {
            return Err(PoolError::out_of_range(
                "maxSize",
                format!("a whole number from 1 to {MAX_POOL_SIZE}"),
                self.max_size,
            ));
        }
        if self.min_size > self.max_size {
            return Err(PoolError::out_of_range(
                "minSize",
                format!("at most maxSize ({})", self.max_size),
                self.min_size,
            ));
        }
        Ok(())
    }
}
