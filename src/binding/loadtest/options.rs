//! Where a load test's JS options become core values, checked once: the tester's config, an
//! arrival-rate spec, and the plans built from them. Messages name the option and what was
//! expected, the same words as the rest of the package's checks (`lib/validate.js`).

// napi-derive registers `#[napi]` functions only outside `cfg(test)`.
#![cfg_attr(test, allow(dead_code))]

use napi::bindgen_prelude::{JsValue, Object, Unknown, ValueType};
use napi_derive::napi;

use super::super::args::{describe, js_number};
use super::super::error::{failure, range_error, type_error, Result};
use crate::loadtest::{ClosedPlan, OpenPlan, MAX_USERS, NO_CUT_OFF_MS};

/// Largest delay Node timers accept (2^31 - 1 ms); longer ones fire at once.
const MAX_TIMER: f64 = 2_147_483_647.0;

/// One numeric option: its name, its bounds, whether it must be whole, and its default
/// (`None`: required).
struct Spec {
    name: &'static str,
    min: f64,
    max: f64,
    whole: bool,
    default: Option<f64>,
}

const fn spec(name: &'static str, min: f64, max: f64, default: Option<f64>) -> Spec {
    Spec {
        name,
        min,
        max,
        whole: true,
        default,
    }
}

const USERS: f64 = MAX_USERS as f64;

// `LoadTestConfig` (API.md; docs/loadtest.md gives the defaults beyond the original's six).
const CONCURRENT_USERS: Spec = spec("concurrentUsers", 1.0, USERS, None);
const REQUESTS_PER_USER: Spec = spec("requestsPerUser", 0.0, NO_CUT_OFF_MS, None);
const RAMP_UP_TIME: Spec = spec("rampUpTime", 0.0, MAX_TIMER, Some(0.0));
const TEST_DURATION: Spec = spec("testDuration", 0.0, NO_CUT_OFF_MS, Some(NO_CUT_OFF_MS));
const THINK_TIME: Spec = spec("thinkTime", 0.0, MAX_TIMER, Some(0.0));
const TIMEOUT: Spec = spec("timeout", 1.0, MAX_TIMER, Some(30_000.0));
const MAX_RECORDED: Spec = spec("maxRecordedResponses", 0.0, NO_CUT_OFF_MS, Some(10_000.0));
const STEP_PAUSE: Spec = spec("stepPause", 0.0, MAX_TIMER, Some(5_000.0));
const ENDURANCE_INTERVAL: Spec = spec("enduranceInterval", 1.0, NO_CUT_OFF_MS, Some(60_000.0));
const PROGRESS_INTERVAL: Spec = spec("progressInterval", 1.0, MAX_TIMER, Some(1_000.0));

// The arrival-rate spec of `runArrivalRateTest`.
const RATE: Spec = Spec {
    name: "spec.rate",
    min: f64::from_bits(1), // Number.MIN_VALUE (5e-324): any rate above zero
    max: NO_CUT_OFF_MS,
    whole: false,
    default: None,
};
const DURATION: Spec = spec("spec.duration", 0.0, NO_CUT_OFF_MS, None);
const MAX_IN_FLIGHT: Spec = spec("spec.maxInFlight", 1.0, USERS, None);

/// A failure of napi itself while reading a value (not bad input).
fn fault(e: napi::Error) -> napi::Error<&'static str> {
    failure(e.reason)
}

impl Spec {
    /// Checks a number already known to be one.
    fn check(&self, v: f64) -> Result<f64> {
        let whole = !self.whole || v.fract() == 0.0;
        if v.is_finite() && v >= self.min && v <= self.max && whole {
            return Ok(v);
        }
        let kind = if self.whole {
            "a whole number"
        } else {
            "a finite number"
        };
        let min = js_number(self.min);
        let bounds = if self.max == NO_CUT_OFF_MS {
            format!(">= {min}")
        } else {
            format!("from {min} to {}", js_number(self.max))
        };
        Err(range_error(format!(
            "{} must be {kind} {bounds}, got {}",
            self.name,
            js_number(v)
        )))
    }

    /// Reads and checks the option from `obj`; `fallback` replaces the spec's own default.
    fn read(&self, obj: &Object, fallback: Option<f64>) -> Result<f64> {
        let key = self.name.rsplit('.').next().unwrap_or(self.name);
        let value: Option<Unknown> = obj.get(key).map_err(fault)?;
        let value = value.filter(|v| !matches!(v.get_type(), Ok(ValueType::Undefined)));
        let Some(value) = value else {
            return match fallback.or(self.default) {
                Some(d) => Ok(d),
                None => Err(type_error(format!(
                    "{} must be a number, got undefined",
                    self.name
                ))),
            };
        };
        if value.get_type().map_err(fault)? != ValueType::Number {
            return Err(type_error(format!(
                "{} must be a number, got {}",
                self.name,
                describe(&value)
            )));
        }
        // SAFETY: the value was just found to be a number.
        self.check(unsafe { value.cast::<f64>() }.map_err(fault)?)
    }
}

/// `value` as a plain object, or the type error naming `name` and what it should be.
fn object<'a>(name: &str, expected: &str, value: &Unknown<'a>) -> Result<Object<'a>> {
    let is_object = matches!(value.get_type(), Ok(ValueType::Object));
    if !is_object || value.is_array().unwrap_or(false) {
        return Err(type_error(format!(
            "{name} must be {expected}, got {}",
            describe(value)
        )));
    }
    // SAFETY: the value was just found to be an object.
    unsafe { value.cast::<Object>() }.map_err(fault)
}

/// API.md's `LoadTestConfig` with every default filled in (`tester.config`).
#[napi(object)]
pub struct NativeLoadTestConfig {
    pub concurrent_users: f64,
    pub requests_per_user: f64,
    pub ramp_up_time: f64,
    pub test_duration: f64,
    pub think_time: f64,
    pub timeout: f64,
    pub max_recorded_responses: f64,
    pub step_pause: f64,
    pub endurance_interval: f64,
    pub progress_interval: f64,
}

/// Checks a `LoadTester` config and fills in its defaults.
#[napi(catch_unwind)]
pub fn resolve_load_test_config(config: Unknown) -> Result<NativeLoadTestConfig> {
    let o = object(
        "config",
        "an object with concurrentUsers and requestsPerUser",
        &config,
    )?;
    Ok(NativeLoadTestConfig {
        concurrent_users: CONCURRENT_USERS.read(&o, None)?,
        requests_per_user: REQUESTS_PER_USER.read(&o, None)?,
        ramp_up_time: RAMP_UP_TIME.read(&o, None)?,
        test_duration: TEST_DURATION.read(&o, None)?,
        think_time: THINK_TIME.read(&o, None)?,
        timeout: TIMEOUT.read(&o, None)?,
        max_recorded_responses: MAX_RECORDED.read(&o, None)?,
        step_pause: STEP_PAUSE.read(&o, None)?,
        endurance_interval: ENDURANCE_INTERVAL.read(&o, None)?,
        progress_interval: PROGRESS_INTERVAL.read(&o, None)?,
    })
}

/// An arrival-rate test's spec: `rate` per second for `duration` ms over `maxInFlight` slots.
#[napi(object)]
pub struct NativeArrivalSpec {
    pub rate: f64,
    pub duration: f64,
    pub max_in_flight: f64,
}

/// Checks `runArrivalRateTest`'s spec; `maxInFlight` defaults to `default_slots`.
#[napi(catch_unwind)]
pub fn resolve_arrival_spec(spec: Unknown, default_slots: f64) -> Result<NativeArrivalSpec> {
    let o = if matches!(spec.get_type(), Ok(ValueType::Undefined)) {
        None
    } else {
        Some(object("spec", "an object", &spec)?)
    };
    let Some(o) = o else {
        return Err(type_error("spec.rate must be a number, got undefined"));
    };
    Ok(NativeArrivalSpec {
        rate: RATE.read(&o, None)?,
        duration: DURATION.read(&o, None)?,
        max_in_flight: MAX_IN_FLIGHT.read(&o, Some(default_slots))?,
    })
}

/// A resolved config as the closed model's plan.
pub fn closed_plan(c: &NativeLoadTestConfig) -> Result<ClosedPlan> {
    Ok(ClosedPlan {
        users: CONCURRENT_USERS.check(c.concurrent_users)? as u32,
        requests_per_user: REQUESTS_PER_USER.check(c.requests_per_user)? as u64,
        ramp_up_ms: RAMP_UP_TIME.check(c.ramp_up_time)?,
        test_duration_ms: TEST_DURATION.check(c.test_duration)?,
        think_time_ms: THINK_TIME.check(c.think_time)?,
        timeout_ms: TIMEOUT.check(c.timeout)?,
    })
}

/// A resolved arrival spec (and the config's timeout) as the open model's plan.
pub fn open_plan(s: &NativeArrivalSpec, c: &NativeLoadTestConfig) -> Result<OpenPlan> {
    Ok(OpenPlan {
        rate: RATE.check(s.rate)?,
        duration_ms: DURATION.check(s.duration)?,
        slots: MAX_IN_FLIGHT.check(s.max_in_flight)? as u32,
        timeout_ms: TIMEOUT.check(c.timeout)?,
    })
}

/// How many per-request records to keep (`maxRecordedResponses`).
pub fn max_records(v: f64) -> Result<usize> {
    Ok(usize::try_from(MAX_RECORDED.check(v)? as u64).unwrap_or(usize::MAX))
}
