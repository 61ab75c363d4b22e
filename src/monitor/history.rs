//! Snapshots, thresholds, alerts and the summary: bounded history of what the sampler saw.

use std::collections::VecDeque;

use super::system::SystemReading;

/// Snapshots kept (contract: 1000).
pub const SNAPSHOT_CAPACITY: usize = 1000;
/// Alerts kept (contract: 100).
pub const ALERT_CAPACITY: usize = 100;

/// One sample, in the units of the public snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Snapshot {
    pub timestamp_ms: f64,
    /// Resident set size, bytes.
    pub rss: f64,
    /// Memory available to the process, bytes.
    pub available: f64,
    pub heap_used: f64,
    pub heap_total: f64,
    pub external: f64,
    /// Process CPU, percent of one core over the last interval.
    pub cpu_percent: f64,
    pub load_average: [f64; 3],
    /// Event-loop utilisation over the last interval, 0..1.
    pub utilization: f64,
    /// How late the probe ran on the JS thread, ms.
    pub lag_ms: f64,
    /// Garbage collections since monitoring started, and their total duration in ms.
    pub gc_collections: f64,
    pub gc_duration_ms: f64,
    /// The V8 heap limit, bytes: the denominator of the memory threshold.
    pub heap_limit: f64,
    /// The longest single collection during the last interval, ms (for the gc alert).
    pub gc_longest_ms: f64,
}

impl Snapshot {
    /// Heap used as a fraction of the V8 heap limit.
    pub fn memory_ratio(&self) -> f64 {
        if self.heap_limit > 0.0 {
            self.heap_used / self.heap_limit
        } else {
            0.0
        }
    }
}

/// Alert thresholds, in the contract's units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Fraction 0..1 of the V8 heap limit in use.
    pub memory: f64,
    /// Fraction of one core (compared with usage / 100).
    pub cpu: f64,
    /// Event-loop lag, ms.
    pub event_loop_ms: f64,
    /// Longest single garbage collection in an interval, ms.
    pub gc_duration_ms: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            memory: 0.8,
            cpu: 0.8,
            event_loop_ms: 100.0,
            gc_duration_ms: 100.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertType {
    Memory,
    Cpu,
    EventLoop,
    Gc,
}

impl AlertType {
    pub const ALL: [AlertType; 4] = [Self::Memory, Self::Cpu, Self::EventLoop, Self::Gc];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Cpu => "cpu",
            Self::EventLoop => "eventloop",
            Self::Gc => "gc",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub kind: AlertType,
    pub severity: Severity,
    pub message: String,
    /// In the threshold's unit (fraction or ms).
    pub value: f64,
    pub threshold: f64,
    pub timestamp_ms: f64,
}

/// Fractions (memory, cpu) are critical halfway between the threshold and 1; durations (lag,
/// gc) at twice the threshold.
fn severity(kind: AlertType, value: f64, threshold: f64) -> Severity {
    let critical_from = match kind {
        AlertType::Memory | AlertType::Cpu => threshold + (1.0 - threshold) / 2.0,
        AlertType::EventLoop | AlertType::Gc => threshold * 2.0,
    };
    if value >= critical_from && value > threshold {
        Severity::Critical
    } else {
        Severity::Warning
    }
}

fn message(kind: AlertType, severity: Severity, value: f64, threshold: f64) -> String {
    let level = severity.as_str();
    match kind {
        AlertType::Memory => format!(
            "{level}: heap used is {:.1}% of the V8 heap limit (threshold {:.1}%)",
            value * 100.0,
            threshold * 100.0
        ),
        AlertType::Cpu => format!(
            "{level}: process CPU is {:.1}% of one core (threshold {:.1}%)",
            value * 100.0,
            threshold * 100.0
        ),
        AlertType::EventLoop => {
            format!("{level}: event loop was {value:.1} ms late (threshold {threshold} ms)")
        }
        AlertType::Gc => {
            format!("{level}: a garbage collection took {value:.1} ms (threshold {threshold} ms)")
        }
    }
}

/// min/avg/max of one figure.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stat {
    pub min: f64,
    pub avg: f64,
    pub max: f64,
}

impl Stat {
    fn of(values: impl Iterator<Item = f64>) -> Self {
        let (mut min, mut max, mut sum, mut n) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0usize);
        for v in values {
            min = min.min(v);
            max = max.max(v);
            sum += v;
            n += 1;
        }
        if n == 0 {
            return Self::default();
        }
        Self {
            min,
            avg: sum / n as f64,
            max,
        }
    }
}

/// Alert counts by severity and type.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AlertCounts {
    pub total: u64,
    pub warning: u64,
    pub critical: u64,
    /// Indexed like [`AlertType::ALL`].
    pub by_type: [u64; 4],
}

impl AlertCounts {
    fn add(&mut self, alert: &Alert) {
        self.total += 1;
        match alert.severity {
            Severity::Warning => self.warning += 1,
            Severity::Critical => self.critical += 1,
        }
        self.by_type[alert.kind.index()] += 1;
    }
}

/// Summary of the snapshots in history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub snapshots: usize,
    pub start_ms: f64,
    pub end_ms: f64,
    /// Heap used / V8 heap limit.
    pub memory_ratio: Stat,
    /// Process CPU, percent of one core.
    pub cpu_percent: Stat,
    pub lag_ms: Stat,
    pub utilization: Stat,
    /// Collections and their total ms since monitoring started (the newest snapshot's counts).
    pub gc_collections: f64,
    pub gc_duration_ms: f64,
    /// Alerts in the (bounded) alert history.
    pub alerts: AlertCounts,
}

/// The bounded history and alert logic.
#[derive(Debug, Default)]
pub struct History {
    /// Alerts ever raised per (type, severity), for the exposition's counters.
    ever_by_kind: [[u64; 2]; 4],
    snapshots: VecDeque<Snapshot>,
    alerts: VecDeque<Alert>,
    thresholds: Thresholds,
    /// Severity currently raised per type, for memory and cpu (level conditions): an alert is
    /// raised when the level is entered or escalates, not on every sample while it lasts.
    raised: [Option<Severity>; 4],
    /// Every alert ever raised, including those dropped from the bounded history.
    alerts_ever: AlertCounts,
    snapshots_ever: u64,
    /// The newest snapshot recorded with the host's figures: what a reading recorded without
    /// the host ([`History::record_reading`]) takes the host's figures from.
    probed: Snapshot,
    /// Alerts raised and not yet taken by [`History::take_unreported`].
    unreported: usize,
}

impl History {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// Replaces the thresholds; the binding checks them (each > 0, fractions at most 1).
    pub fn set_thresholds(&mut self, thresholds: Thresholds) {
        self.thresholds = thresholds;
    }

    /// Stores `snapshot`, complete with the host's figures, and returns the alerts it raised
    /// (also stored).
    pub fn record(&mut self, snapshot: Snapshot) -> Vec<Alert> {
        self.probed = snapshot;
        self.store(snapshot, true)
    }

    /// Stores a snapshot of a system reading taken without asking the host: the host's figures
    /// (heap, utilisation, GC, lag) are those of the newest [`History::record`]. Lag and GC are
    /// occurrences the host measured once, so they raise no alert here; memory and cpu levels do.
    pub fn record_reading(&mut self, timestamp_ms: f64, reading: &SystemReading) -> Vec<Alert> {
        let snapshot = Snapshot {
            timestamp_ms,
            rss: reading.rss as f64,
            available: reading.available as f64,
            cpu_percent: reading.cpu_percent,
            load_average: reading.load_average,
            gc_longest_ms: 0.0,
            ..self.probed
        };
        self.store(snapshot, false)
    }

    /// How many alerts were raised since the last [`History::take_unreported`].
    pub fn unreported(&self) -> usize {
        self.unreported
    }

    /// The alerts raised since the last call (those still in history), oldest first.
    pub fn take_unreported(&mut self) -> Vec<Alert> {
        let from = self.alerts.len().saturating_sub(self.unreported);
        self.unreported = 0;
        self.alerts.range(from..).cloned().collect()
    }

    fn store(&mut self, snapshot: Snapshot, occurrences: bool) -> Vec<Alert> {
        let t = self.thresholds;
        let checks = [
            (AlertType::Memory, snapshot.memory_ratio(), t.memory),
            (AlertType::Cpu, snapshot.cpu_percent / 100.0, t.cpu),
            (AlertType::EventLoop, snapshot.lag_ms, t.event_loop_ms),
            (AlertType::Gc, snapshot.gc_longest_ms, t.gc_duration_ms),
        ];
        let mut raised = Vec::new();
        for (kind, value, threshold) in checks {
            let over = value > threshold;
            let level = over.then(|| severity(kind, value, threshold));
            let fire = match kind {
                // Levels: fire on entering or escalating, re-arm when back under the threshold.
                AlertType::Memory | AlertType::Cpu => {
                    let before = self.raised[kind.index()];
                    self.raised[kind.index()] = level;
                    level.is_some() && level > before
                }
                // Events: every late probe and every long collection is its own occurrence.
                AlertType::EventLoop | AlertType::Gc => over && occurrences,
            };
            if let (true, Some(severity)) = (fire, level) {
                raised.push(Alert {
                    kind,
                    severity,
                    message: message(kind, severity, value, threshold),
                    value,
                    threshold,
                    timestamp_ms: snapshot.timestamp_ms,
                });
            }
        }
        if self.snapshots.len() == SNAPSHOT_CAPACITY {
            self.snapshots.pop_front();
        }
        self.snapshots.push_back(snapshot);
        self.snapshots_ever += 1;
        for alert in &raised {
            if self.alerts.len() == ALERT_CAPACITY {
                self.alerts.pop_front();
            }
            self.alerts.push_back(alert.clone());
            self.unreported = (self.unreported + 1).min(ALERT_CAPACITY);
            self.alerts_ever.add(alert);
            self.ever_by_kind[alert.kind.index()][alert.severity as usize] += 1;
        }
        raised
    }

    pub fn snapshots(&self) -> impl Iterator<Item = &Snapshot> {
        self.snapshots.iter()
    }

    pub fn latest(&self) -> Option<&Snapshot> {
        self.snapshots.back()
    }

    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter()
    }

    pub fn clear_snapshots(&mut self) {
        self.snapshots.clear();
    }

    pub fn clear_alerts(&mut self) {
        self.alerts.clear();
        self.unreported = 0;
        self.raised = [None; 4];
    }

    pub fn alerts_ever(&self) -> AlertCounts {
        self.alerts_ever
    }

    /// Alerts ever raised, looked up by type and severity.
    pub fn alerts_ever_by_kind(&self) -> impl Fn(AlertType, Severity) -> u64 + '_ {
        move |kind, severity| self.ever_by_kind[kind.index()][severity as usize]
    }

    pub fn snapshots_ever(&self) -> u64 {
        self.snapshots_ever
    }

    /// `None` when there are no snapshots.
    pub fn summary(&self) -> Option<Summary> {
        let first = self.snapshots.front()?;
        let last = self.snapshots.back()?;
        let mut alerts = AlertCounts::default();
        for a in &self.alerts {
            alerts.add(a);
        }
        let s = &self.snapshots;
        Some(Summary {
            snapshots: s.len(),
            start_ms: first.timestamp_ms,
            end_ms: last.timestamp_ms,
            memory_ratio: Stat::of(s.iter().map(Snapshot::memory_ratio)),
            cpu_percent: Stat::of(s.iter().map(|x| x.cpu_percent)),
            lag_ms: Stat::of(s.iter().map(|x| x.lag_ms)),
            utilization: Stat::of(s.iter().map(|x| x.utilization)),
            gc_collections: last.gc_collections,
            gc_duration_ms: last.gc_duration_ms,
            alerts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(ts: f64) -> Snapshot {
        Snapshot {
            timestamp_ms: ts,
            rss: 100e6,
            available: 1e9,
            heap_used: 10e6,
            heap_total: 20e6,
            heap_limit: 100e6,
            cpu_percent: 5.0,
            lag_ms: 1.0,
            ..Default::default()
        }
    }

    #[test]
    fn history_is_bounded() {
        let mut h = History::new();
        h.set_thresholds(Thresholds {
            event_loop_ms: 0.5,
            ..Default::default()
        });
        for i in 0..(SNAPSHOT_CAPACITY + 10) {
            h.record(snap(i as f64));
        }
        assert_eq!(h.snapshots().count(), SNAPSHOT_CAPACITY);
        assert_eq!(h.snapshots().next().unwrap().timestamp_ms, 10.0);
        assert_eq!(h.alerts().count(), ALERT_CAPACITY);
        assert_eq!(h.alerts_ever().total, (SNAPSHOT_CAPACITY + 10) as u64);
        assert_eq!(h.snapshots_ever(), (SNAPSHOT_CAPACITY + 10) as u64);
    }

    #[test]
    fn thresholds_in_force_are_the_ones_set() {
        let mut h = History::new();
        assert_eq!(h.thresholds(), Thresholds::default());
        let next = Thresholds {
            memory: 0.7,
            cpu: 0.6,
            event_loop_ms: 50.0,
            ..Default::default()
        };
        h.set_thresholds(next);
        assert_eq!(h.thresholds(), next);
        assert_eq!(h.thresholds().gc_duration_ms, 100.0);
    }

    #[test]
    fn lag_alerts_fire_per_occurrence_with_severity() {
        let mut h = History::new();
        let mut s = snap(1.0);
        s.lag_ms = 150.0;
        let a = h.record(s);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].kind, AlertType::EventLoop);
        assert_eq!(a[0].severity, Severity::Warning);
        assert_eq!(a[0].value, 150.0);
        assert_eq!(a[0].threshold, 100.0);
        s.lag_ms = 250.0;
        let a = h.record(s);
        assert_eq!(a[0].severity, Severity::Critical);
        s.lag_ms = 2.0;
        assert!(h.record(s).is_empty());
    }

    #[test]
    fn memory_and_cpu_alert_on_entering_and_escalating_only() {
        let mut h = History::new();
        let mut s = snap(1.0);
        s.heap_used = 85e6; // 0.85 of the limit: warning (critical from 0.9)
        assert_eq!(h.record(s).len(), 1);
        assert!(h.record(s).is_empty(), "no repeat while the level lasts");
        s.heap_used = 95e6;
        let a = h.record(s);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].severity, Severity::Critical);
        s.heap_used = 10e6;
        assert!(h.record(s).is_empty());
        s.heap_used = 85e6;
        assert_eq!(h.record(s).len(), 1, "re-armed after recovering");
        s.heap_used = 10e6;
        s.cpu_percent = 99.0;
        let a = h.record(s);
        assert_eq!(a[0].kind, AlertType::Cpu);
        assert_eq!(a[0].severity, Severity::Critical);
        assert!((a[0].value - 0.99).abs() < 1e-9);
    }

    #[test]
    fn a_reading_takes_the_host_figures_of_the_newest_probe_and_raises_no_occurrence() {
        let mut h = History::new();
        let mut s = snap(1.0);
        s.lag_ms = 150.0;
        s.gc_longest_ms = 500.0;
        s.utilization = 0.25;
        assert_eq!(h.record(s).len(), 2, "lag and gc");
        let reading = SystemReading {
            rss: 7,
            available: 9,
            cpu_percent: 3.0,
            load_average: [1.0, 2.0, 3.0],
        };
        assert!(h.record_reading(2.0, &reading).is_empty());
        let last = *h.latest().unwrap();
        assert_eq!(last.timestamp_ms, 2.0);
        assert_eq!(
            (last.rss, last.available, last.cpu_percent),
            (7.0, 9.0, 3.0)
        );
        assert_eq!(last.load_average, [1.0, 2.0, 3.0]);
        assert_eq!(
            (last.heap_used, last.utilization, last.lag_ms),
            (10e6, 0.25, 150.0)
        );
        assert_eq!(last.gc_longest_ms, 0.0);
        // A level still alerts from a reading: cpu over its threshold.
        let hot = SystemReading {
            cpu_percent: 95.0,
            ..reading
        };
        let a = h.record_reading(3.0, &hot);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].kind, AlertType::Cpu);
    }

    #[test]
    fn unreported_alerts_are_taken_once() {
        let mut h = History::new();
        let mut s = snap(1.0);
        s.lag_ms = 150.0;
        h.record(s);
        h.record(s);
        assert_eq!(h.unreported(), 2);
        let taken = h.take_unreported();
        assert_eq!(taken.len(), 2);
        assert_eq!(h.unreported(), 0);
        assert!(h.take_unreported().is_empty());
        h.record(s);
        h.clear_alerts();
        assert_eq!(h.unreported(), 0);
    }

    #[test]
    fn summary_is_none_without_snapshots_and_exact_with_them() {
        let mut h = History::new();
        assert!(h.summary().is_none());
        for (i, lag) in [2.0, 4.0, 300.0].into_iter().enumerate() {
            let mut s = snap(i as f64 * 10.0);
            s.lag_ms = lag;
            s.cpu_percent = 10.0 * (i + 1) as f64;
            s.gc_collections = 5.0 + i as f64 * 2.0;
            s.gc_duration_ms = 1.0 + i as f64;
            h.record(s);
        }
        let sum = h.summary().unwrap();
        assert_eq!(sum.snapshots, 3);
        assert_eq!(sum.lag_ms.min, 2.0);
        assert_eq!(sum.lag_ms.max, 300.0);
        assert_eq!(sum.lag_ms.avg, 102.0);
        assert_eq!(sum.cpu_percent.avg, 20.0);
        assert_eq!(sum.memory_ratio.max, 0.1);
        assert_eq!(sum.gc_collections, 9.0);
        assert_eq!(sum.gc_duration_ms, 3.0);
        assert_eq!(sum.alerts.total, 1);
        assert_eq!(sum.alerts.critical, 1);
        assert_eq!(sum.alerts.by_type[2], 1);
        h.clear_snapshots();
        assert!(h.summary().is_none());
    }
}
