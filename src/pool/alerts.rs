//! What a pool's statistics say needs attention: the alerts of the public contract (API.md,
//! ResourceManager), with their thresholds. Every driver of the core reports the same alerts.

use super::PoolStats;

/// Share of live resources in use above which a pool is highly utilized.
pub const HIGH_UTILIZATION: f64 = 0.8;
/// Mean wait for a resource, in ms, above which callers wait long.
pub const LONG_WAIT_MS: f64 = 5000.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// More than `HIGH_UTILIZATION` of the live resources are in use.
    HighUtilization,
    /// Callers wait more than `LONG_WAIT_MS` on average.
    LongWaitTime,
    /// Every resource is busy and someone is waiting.
    PoolExhausted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Warning,
    Critical,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub kind: AlertKind,
    pub severity: Severity,
    pub message: String,
    /// The figure that crossed the threshold.
    pub value: f64,
    pub threshold: f64,
}

impl PoolStats {
    /// The alerts these statistics raise, for the pool called `name`.
    pub fn alerts(&self, name: &str) -> Vec<Alert> {
        let mut alerts = Vec::new();
        let utilization = if self.total > 0 {
            self.active as f64 / self.total as f64
        } else {
            0.0
        };
        if utilization > HIGH_UTILIZATION {
            alerts.push(Alert {
                kind: AlertKind::HighUtilization,
                severity: Severity::Warning,
                message: format!(
                    "pool '{name}' is {}% utilized ({} of {} in use)",
                    (utilization * 100.0).round(),
                    self.active,
                    self.total
                ),
                value: utilization,
                threshold: HIGH_UTILIZATION,
            });
        }
        if self.avg_wait_ms > LONG_WAIT_MS {
            alerts.push(Alert {
                kind: AlertKind::LongWaitTime,
                severity: Severity::Warning,
                message: format!(
                    "pool '{name}' callers wait {} ms on average for a resource",
                    self.avg_wait_ms.round()
                ),
                value: self.avg_wait_ms,
                threshold: LONG_WAIT_MS,
            });
        }
        if self.waiting > 0 && self.idle == 0 && self.active == self.total {
            alerts.push(Alert {
                kind: AlertKind::PoolExhausted,
                severity: Severity::Critical,
                message: format!(
                    "pool '{name}' is exhausted: all {} resources busy and {} callers waiting",
                    self.total, self.waiting
                ),
                value: self.waiting as f64,
                threshold: 0.0,
            });
        }
        alerts
    }
}
