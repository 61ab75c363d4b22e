//! A test's plan for the JS loop: built once per run from checked options, read without a
//! crossing per request (thresholds as getters read once, start and due times in batches).

// napi-derive registers `#[napi]` functions only outside `cfg(test)`.
#![cfg_attr(test, allow(dead_code))]

use napi::bindgen_prelude::Float64ArraySlice;
use napi_derive::napi;

use super::super::error::Result;
use super::options::{closed_plan, open_plan, NativeArrivalSpec, NativeLoadTestConfig};
use crate::loadtest::Plan;

/// When a test's users start, its arrivals are due and it stops sending (`src/loadtest/plan.rs`).
#[napi]
pub struct NativePlan {
    pub(super) plan: Plan,
}

#[napi]
impl NativePlan {
    /// The closed model of a resolved config.
    #[napi(catch_unwind, factory)]
    pub fn closed(config: NativeLoadTestConfig) -> Result<Self> {
        Ok(Self {
            plan: Plan::Closed(closed_plan(&config)?),
        })
    }

    /// The open model of a resolved arrival spec (the config gives the timeout).
    #[napi(catch_unwind, factory)]
    pub fn open(spec: NativeArrivalSpec, config: NativeLoadTestConfig) -> Result<Self> {
        Ok(Self {
            plan: Plan::Open(open_plan(&spec, &config)?),
        })
    }

    /// The `concurrentUsers` the metrics report (users, or slots).
    #[napi(catch_unwind, getter)]
    pub fn users(&self) -> u32 {
        self.plan.users()
    }

    #[napi(catch_unwind, getter)]
    pub fn timeout(&self) -> f64 {
        self.plan.timeout_ms()
    }

    /// Nothing new is sent from this many ms after the start.
    #[napi(catch_unwind, getter)]
    pub fn cut_off(&self) -> f64 {
        self.plan.cut_off_ms()
    }

    /// Closed model: how many users start at all.
    #[napi(catch_unwind, getter)]
    pub fn users_to_start(&self) -> u32 {
        match &self.plan {
            Plan::Closed(c) => c.users_to_start(),
            Plan::Open(_) => 0,
        }
    }

    #[napi(catch_unwind, getter)]
    pub fn requests_per_user(&self) -> f64 {
        match &self.plan {
            Plan::Closed(c) => c.requests_per_user as f64,
            Plan::Open(_) => 1.0,
        }
    }

    #[napi(catch_unwind, getter)]
    pub fn think_time(&self) -> f64 {
        match &self.plan {
            Plan::Closed(c) => c.think_time_ms,
            Plan::Open(_) => 0.0,
        }
    }

    /// Closed model: a user pauses after its n-th request while n is below this (0: never).
    #[napi(catch_unwind, getter)]
    pub fn pauses_before(&self) -> f64 {
        match &self.plan {
            Plan::Closed(c) if c.thinks_after(0) => c.requests_per_user as f64,
            _ => 0.0,
        }
    }

    /// Closed model: the last moment, ms from the start, a think pause may begin.
    #[napi(catch_unwind, getter)]
    pub fn think_until(&self) -> f64 {
        match &self.plan {
            Plan::Closed(c) => c.think_until_ms(),
            Plan::Open(_) => 0.0,
        }
    }

    /// Open model: every arrival due within the duration.
    #[napi(catch_unwind, getter)]
    pub fn arrivals(&self) -> f64 {
        match &self.plan {
            Plan::Open(o) => o.arrivals() as f64,
            Plan::Closed(_) => 0.0,
        }
    }

    /// Writes the start times (closed model: of users `first`, `first + 1`, …) or due times
    /// (open model: of arrivals `first`, …) into `out`, ms from the start; returns how many.
    #[napi(catch_unwind)]
    pub fn fill_times(&self, first: f64, mut out: Float64ArraySlice) -> u32 {
        // SAFETY: this runs synchronously on the JS thread, which therefore cannot touch the
        // array meanwhile; nothing keeps the slice beyond the call.
        let out = unsafe { out.as_mut() };
        let n = match &self.plan {
            Plan::Closed(c) => c.fill_starts(first.clamp(1.0, f64::from(u32::MAX)) as u32, out),
            Plan::Open(o) => o.fill_dues(first.max(0.0) as u64, out),
        };
        n as u32
    }

    /// Open model: arrivals that never started, given how many did and, for a run stopped
    /// early, when it stopped (ms from the start).
    #[napi(catch_unwind)]
    pub fn dropped(&self, started: f64, stopped_at: Option<f64>) -> f64 {
        match &self.plan {
            Plan::Open(o) => o.dropped(started.max(0.0) as u64, stopped_at) as f64,
            Plan::Closed(_) => 0.0,
        }
    }
}
