//! A circuit breaker: after `failure_threshold` consecutive failures it opens and refuses work
//! for `recovery_timeout`; then it lets one probe through (half-open). The probe's success
//! closes it, its failure opens it again. Time is passed in, so the logic is testable.

use crate::debug::Namespace::Provider;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug)]
pub struct CircuitBreaker {
    failure_threshold: u32,
    recovery_timeout_ms: u64,
    state: BreakerState,
    consecutive_failures: u32,
    opened_at_ms: u64,
    probe_in_flight: bool,
}

/// Whether a request may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Allowed as the one half-open probe.
    Probe,
    Refused {
        retry_in_ms: u64,
        failures: u32,
    },
}

impl CircuitBreaker {
    pub fn new(failure_threshold: u32, recovery_timeout_ms: u64) -> Self {
        Self {
            failure_threshold: failure_threshold.max(1),
            recovery_timeout_ms,
            state: BreakerState::Closed,
            consecutive_failures: 0,
            opened_at_ms: 0,
            probe_in_flight: false,
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    pub fn admit(&mut self, now_ms: u64) -> Admission {
        match self.state {
            BreakerState::Closed => Admission::Allowed,
            BreakerState::Open => {
                let elapsed = now_ms.saturating_sub(self.opened_at_ms);
                if elapsed >= self.recovery_timeout_ms {
                    crate::debug_event!(Provider, "circuit breaker half-open: sending one probe");
                    self.state = BreakerState::HalfOpen;
                    self.probe_in_flight = true;
                    Admission::Probe
                } else {
                    Admission::Refused {
                        retry_in_ms: self.recovery_timeout_ms - elapsed,
                        failures: self.consecutive_failures,
                    }
                }
            }
            BreakerState::HalfOpen if !self.probe_in_flight => {
                self.probe_in_flight = true;
                Admission::Probe
            }
            BreakerState::HalfOpen => Admission::Refused {
                retry_in_ms: self.recovery_timeout_ms,
                failures: self.consecutive_failures,
            },
        }
    }

    pub fn record_success(&mut self) {
        if self.state != BreakerState::Closed {
            crate::debug_event!(Provider, "circuit breaker closed: the probe succeeded");
        }
        self.state = BreakerState::Closed;
        self.consecutive_failures = 0;
        self.probe_in_flight = false;
    }

    /// The admitted request ended without a verdict (it was cancelled): a probe it held may be
    /// sent again.
    pub fn abandon_probe(&mut self) {
        self.probe_in_flight = false;
    }

    pub fn record_failure(&mut self, now_ms: u64) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.probe_in_flight = false;
        if self.state == BreakerState::HalfOpen
            || self.consecutive_failures >= self.failure_threshold
        {
            crate::debug_event!(
                Provider,
                "circuit breaker open after {} consecutive failures; retrying in {} ms",
                self.consecutive_failures,
                self.recovery_timeout_ms
            );
            self.state = BreakerState::Open;
            self.opened_at_ms = now_ms;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_recovers_through_one_probe() {
        let mut b = CircuitBreaker::new(3, 1000);
        for _ in 0..2 {
            assert_eq!(b.admit(0), Admission::Allowed);
            b.record_failure(0);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        b.record_failure(10);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(
            b.admit(500),
            Admission::Refused {
                retry_in_ms: 510,
                failures: 3
            }
        );
        assert_eq!(b.admit(1010), Admission::Probe);
        // Only one probe at a time.
        assert!(matches!(b.admit(1011), Admission::Refused { .. }));
        b.record_success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.admit(1012), Admission::Allowed);
    }

    #[test]
    fn a_failed_probe_opens_again() {
        let mut b = CircuitBreaker::new(1, 100);
        b.record_failure(0);
        assert_eq!(b.admit(100), Admission::Probe);
        b.record_failure(100);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(matches!(b.admit(150), Admission::Refused { .. }));
    }

    #[test]
    fn success_resets_the_count() {
        let mut b = CircuitBreaker::new(2, 100);
        b.record_failure(0);
        b.record_success();
        b.record_failure(0);
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
