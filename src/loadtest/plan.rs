//! When a load test sends: the one statement of its timing rules, read by both schedulers (the
//! tokio one in [`super::scheduler`] and the JS loop in `lib/loadtest/`, through the binding), so
//! the two cannot drift. Times are milliseconds from the start of the run, as JS counts them.
//!
//! The JS loop must not cross into Rust per request (see docs/loadtest.md), so a plan answers in
//! two shapes: thresholds computed once (the cut-off, the last moment a think pause may begin,
//! how many users start at all) that a scheduler compares its clock with, and start or due times
//! handed out in batches ([`ClosedPlan::fill_starts`], [`OpenPlan::fill_dues`]).

/// "No cut-off" as JS says it (`Number.MAX_SAFE_INTEGER` ms): a test that never ends by time.
pub const NO_CUT_OFF_MS: f64 = 9_007_199_254_740_991.0;

/// The closed model (API.md's `LoadTestConfig`): `users` virtual users, user *u* (1-based)
/// starting at `(u - 1) * ramp_up / users`, each sending `requests_per_user` requests one after
/// another with `think_time` between them, nothing new once `test_duration` has passed.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedPlan {
    pub users: u32,
    pub requests_per_user: u64,
    pub ramp_up_ms: f64,
    pub test_duration_ms: f64,
    pub think_time_ms: f64,
    pub timeout_ms: f64,
}

impl ClosedPlan {
    /// When user `user` (1-based) starts: the original's even spacing.
    pub fn start_ms(&self, user: u32) -> f64 {
        self.ramp_up_ms * f64::from(user.saturating_sub(1)) / f64::from(self.users)
    }

    /// How many users start at all: a user due at or after the cut-off would send nothing, and
    /// neither would any later one (starts only grow with the user number).
    pub fn users_to_start(&self) -> u32 {
        if self.ramp_up_ms <= 0.0 {
            return if self.test_duration_ms > 0.0 {
                self.users
            } else {
                0
            };
        }
        // The closed form, then a step either way so the answer agrees with `start_ms` exactly.
        let guess = (self.test_duration_ms * f64::from(self.users) / self.ramp_up_ms).ceil();
        let mut n = guess.clamp(0.0, f64::from(self.users)) as u32;
        while n > 0 && self.start_ms(n) >= self.test_duration_ms {
            n -= 1;
        }
        while n < self.users && self.start_ms(n + 1) < self.test_duration_ms {
            n += 1;
        }
        n
    }

    /// Whether anything may be sent (or a user started) `elapsed_ms` into the run.
    pub fn sends_at(&self, elapsed_ms: f64) -> bool {
        elapsed_ms < self.test_duration_ms
    }

    /// Whether a user pauses after its `sent`-th request: only between requests, and only when
    /// there is a pause to take.
    pub fn thinks_after(&self, sent: u64) -> bool {
        self.think_time_ms > 0.0 && sent < self.requests_per_user
    }

    /// The last moment a think pause may begin: one that would end at or after the cut-off could
    /// only be followed by nothing, so the user ends at once instead.
    pub fn think_until_ms(&self) -> f64 {
        self.test_duration_ms - self.think_time_ms
    }

    /// Fills `out` with the start times of users `first`, `first + 1`, … (up to the last user
    /// that starts); returns how many were written.
    pub fn fill_starts(&self, first: u32, out: &mut [f64]) -> usize {
        let last = self.users_to_start();
        let mut n = 0;
        for (slot, user) in out.iter_mut().zip(first.max(1)..=last) {
            *slot = self.start_ms(user);
            n += 1;
        }
        n
    }
}

/// The open model: arrival *i* (0-based) due at `i / rate` s, sent on one of at most `slots`
/// slots, nothing started once `duration` has passed; the arrivals left are dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenPlan {
    /// Arrivals per second (> 0).
    pub rate: f64,
    pub duration_ms: f64,
    /// Most requests in flight at once (connections, for HTTP).
    pub slots: u32,
    pub timeout_ms: f64,
}

impl OpenPlan {
    /// Every arrival due within the duration: `floor(rate * duration)`.
    pub fn arrivals(&self) -> u64 {
        // `as` saturates: a rate and duration past u64 are cut off by the duration long before.
        (self.rate * self.duration_ms / 1000.0).floor() as u64
    }

    pub fn period_ms(&self) -> f64 {
        1000.0 / self.rate
    }

    pub fn due_ms(&self, arrival: u64) -> f64 {
        arrival as f64 * self.period_ms()
    }

    /// Whether an arrival may still start `elapsed_ms` into the run.
    pub fn starts_at(&self, elapsed_ms: f64) -> bool {
        elapsed_ms < self.duration_ms
    }

    /// Arrivals that never started, as k6's `dropped_iterations`: of every arrival (or, when the
    /// run was stopped at `stopped_ms`, of those due by then), the ones beyond the `started`.
    pub fn dropped(&self, started: u64, stopped_ms: Option<f64>) -> u64 {
        let due = match stopped_ms {
            Some(at) => {
                let at = at.clamp(0.0, self.duration_ms);
                ((at / self.period_ms()).floor() as u64)
                    .saturating_add(1)
                    .min(self.arrivals())
            }
            None => self.arrivals(),
        };
        due.saturating_sub(started)
    }

    /// Fills `out` with the due times of arrivals `first`, `first + 1`, … (up to the last
    /// arrival); returns how many were written.
    pub fn fill_dues(&self, first: u64, out: &mut [f64]) -> usize {
        let left = self.arrivals().saturating_sub(first);
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(out.len());
        for (k, slot) in out[..n].iter_mut().enumerate() {
            *slot = self.due_ms(first + k as u64);
        }
        n
    }
}

/// A test's plan, either model.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Closed(ClosedPlan),
    Open(OpenPlan),
}

impl Plan {
    /// The `concurrentUsers` its metrics report: the users, or the slots of the open model.
    pub fn users(&self) -> u32 {
        match self {
            Plan::Closed(c) => c.users,
            Plan::Open(o) => o.slots,
        }
    }

    pub fn timeout_ms(&self) -> f64 {
        match self {
            Plan::Closed(c) => c.timeout_ms,
            Plan::Open(o) => o.timeout_ms,
        }
    }

    /// The moment nothing new is sent any more, ms from the start.
    pub fn cut_off_ms(&self) -> f64 {
        match self {
            Plan::Closed(c) => c.test_duration_ms,
            Plan::Open(o) => o.duration_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed(users: u32, ramp: f64, duration: f64) -> ClosedPlan {
        ClosedPlan {
            users,
            requests_per_user: 1,
            ramp_up_ms: ramp,
            test_duration_ms: duration,
            think_time_ms: 0.0,
            timeout_ms: 1000.0,
        }
    }

    #[test]
    fn users_to_start_agrees_with_start_times() {
        for (users, ramp, duration) in [
            (4, 400.0, 200.0),
            (3, 1000.0, 1000.0),
            (7, 333.0, 95.1),
            (1_000_000, 100_000.0, 300.0),
            (5, 0.0, 0.0),
            (5, 0.0, 1.0),
            (5, 10.0, NO_CUT_OFF_MS),
        ] {
            let p = closed(users, ramp, duration);
            let brute = (1..=users)
                .take_while(|u| p.start_ms(*u) < duration)
                .count() as u32;
            assert_eq!(p.users_to_start(), brute, "{p:?}");
        }
    }

    #[test]
    fn batches_stop_at_the_last_user_and_arrival() {
        let p = closed(4, 400.0, 200.0);
        let mut out = [0.0; 8];
        assert_eq!(p.fill_starts(1, &mut out), 2);
        assert_eq!(&out[..2], &[0.0, 100.0]);
        assert_eq!(p.fill_starts(3, &mut out), 0);
        let o = OpenPlan {
            rate: 10.0,
            duration_ms: 1000.0,
            slots: 1,
            timeout_ms: 1.0,
        };
        assert_eq!(o.fill_dues(8, &mut out), 2);
        assert_eq!(&out[..2], &[800.0, 900.0]);
    }

    #[test]
    fn dropped_counts_what_was_due_and_never_started() {
        let o = OpenPlan {
            rate: 100.0,
            duration_ms: 1000.0,
            slots: 1,
            timeout_ms: 1.0,
        };
        assert_eq!(o.arrivals(), 100);
        assert_eq!(o.dropped(40, None), 60);
        // Stopped at 255 ms: arrivals 0..=25 were due.
        assert_eq!(o.dropped(20, Some(255.0)), 6);
        assert_eq!(o.dropped(20, Some(5000.0)), 80);
        assert_eq!(o.dropped(200, None), 0);
    }
}
