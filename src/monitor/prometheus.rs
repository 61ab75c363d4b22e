//! Prometheus text exposition (format 0.0.4) of the newest snapshot and the running counters.

use std::fmt::Write;

use super::history::{AlertType, History, Severity};

const PREFIX: &str = "promethean_monitor_";

/// Formats a sample value the way Prometheus expects (`+Inf`, `-Inf`, `NaN` spelled out).
fn value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {PREFIX}{name} {help}");
    let _ = writeln!(out, "# TYPE {PREFIX}{name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &str, v: f64) {
    if labels.is_empty() {
        let _ = writeln!(out, "{PREFIX}{name} {}", value(v));
    } else {
        let _ = writeln!(out, "{PREFIX}{name}{{{labels}}} {}", value(v));
    }
}

/// The exposition text. Gauges come from the newest snapshot and are left out when there is
/// none; counters (snapshots and alerts ever taken/raised) are always present.
pub fn render(history: &History) -> String {
    let mut out = String::with_capacity(2048);
    if let Some(s) = history.latest() {
        let gauges: [(&str, &str, f64); 12] = [
            (
                "resident_memory_bytes",
                "Resident set size of the process.",
                s.rss,
            ),
            (
                "available_memory_bytes",
                "Memory available to the process: the machine total or the cgroup limit when lower.",
                s.available,
            ),
            ("heap_used_bytes", "V8 heap in use.", s.heap_used),
            ("heap_total_bytes", "V8 heap allocated.", s.heap_total),
            ("heap_limit_bytes", "V8 heap size limit.", s.heap_limit),
            (
                "external_memory_bytes",
                "Memory of C++ objects bound to JS objects.",
                s.external,
            ),
            (
                "heap_used_ratio",
                "Heap used as a fraction of the V8 heap limit.",
                s.memory_ratio(),
            ),
            (
                "cpu_usage_ratio",
                "Process CPU over the last interval, as a fraction of one core.",
                s.cpu_percent / 100.0,
            ),
            (
                "event_loop_utilization_ratio",
                "Event-loop utilisation over the last interval.",
                s.utilization,
            ),
            (
                "event_loop_lag_seconds",
                "How late the last probe ran on the JS thread.",
                s.lag_ms / 1000.0,
            ),
            (
                "snapshot_timestamp_seconds",
                "Unix time of the newest snapshot.",
                s.timestamp_ms / 1000.0,
            ),
            (
                "gc_longest_pause_seconds",
                "Longest garbage collection in the last interval.",
                s.gc_longest_ms / 1000.0,
            ),
        ];
        for (name, help, v) in gauges {
            family(&mut out, name, "gauge", help);
            sample(&mut out, name, "", v);
        }
        family(&mut out, "load_average", "gauge", "Machine load average.");
        for (window, v) in ["1m", "5m", "15m"].iter().zip(s.load_average) {
            sample(&mut out, "load_average", &format!("window=\"{window}\""), v);
        }
        family(
            &mut out,
            "gc_collections_total",
            "counter",
            "Garbage collections since monitoring started.",
        );
        sample(&mut out, "gc_collections_total", "", s.gc_collections);
        family(
            &mut out,
            "gc_duration_seconds_total",
            "counter",
            "Time spent in garbage collection since monitoring started.",
        );
        sample(
            &mut out,
            "gc_duration_seconds_total",
            "",
            s.gc_duration_ms / 1000.0,
        );
    }
    family(
        &mut out,
        "snapshots_total",
        "counter",
        "Snapshots taken by this monitor.",
    );
    sample(
        &mut out,
        "snapshots_total",
        "",
        history.snapshots_ever() as f64,
    );
    family(
        &mut out,
        "alerts_total",
        "counter",
        "Alerts raised by this monitor, by type and severity.",
    );
    let counts = history.alerts_ever_by_kind();
    for kind in AlertType::ALL {
        for severity in [Severity::Warning, Severity::Critical] {
            sample(
                &mut out,
                "alerts_total",
                &format!(
                    "type=\"{}\",severity=\"{}\"",
                    kind.as_str(),
                    severity.as_str()
                ),
                counts(kind, severity) as f64,
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::history::Snapshot;

    #[test]
    fn empty_history_has_only_counters() {
        let text = render(&History::new());
        assert!(text.contains("promethean_monitor_snapshots_total 0\n"));
        assert!(!text.contains("resident_memory_bytes"));
        assert_eq!(text.matches("promethean_monitor_alerts_total{").count(), 8);
    }

    #[test]
    fn figures_match_the_newest_snapshot() {
        let mut h = History::new();
        h.record(Snapshot {
            timestamp_ms: 1_700_000_000_000.0,
            rss: 123_456_789.0,
            heap_used: 50.0,
            heap_limit: 100.0,
            cpu_percent: 42.0,
            lag_ms: 250.0,
            load_average: [0.5, 0.25, 0.125],
            gc_collections: 7.0,
            gc_duration_ms: 12.5,
            ..Default::default()
        });
        let text = render(&h);
        assert!(text.contains("promethean_monitor_resident_memory_bytes 123456789\n"));
        assert!(text.contains("promethean_monitor_heap_used_ratio 0.5\n"));
        assert!(text.contains("promethean_monitor_cpu_usage_ratio 0.42\n"));
        assert!(text.contains("promethean_monitor_event_loop_lag_seconds 0.25\n"));
        assert!(text.contains("promethean_monitor_load_average{window=\"15m\"} 0.125\n"));
        assert!(text.contains("promethean_monitor_gc_collections_total 7\n"));
        assert!(text.contains("promethean_monitor_gc_duration_seconds_total 0.0125\n"));
        assert!(text.contains(
            "promethean_monitor_alerts_total{type=\"eventloop\",severity=\"critical\"} 1\n"
        ));
        // Every sample line belongs to a family declared just before it.
        let mut declared = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.insert(rest.split(' ').next().unwrap().to_owned());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(declared.contains(name), "{line}");
            }
        }
    }

    #[test]
    fn special_values_are_spelled_out() {
        assert_eq!(value(f64::NAN), "NaN");
        assert_eq!(value(f64::INFINITY), "+Inf");
        assert_eq!(value(1e21), "1000000000000000000000");
    }
}
