//! Exact accounting in bounded memory: counts, sums, min and max are exact; percentiles come
//! from an HDR histogram at 3 significant digits (within 0.1% of the nearest-rank value), so a
//! test of any length costs the same few hundred kilobytes.

use hdrhistogram::Histogram;

/// Durations are recorded in nanoseconds: sub-microsecond no-op requests keep their resolution
/// and the histogram still spans hours at 3 significant digits.
const NS_PER_MS: f64 = 1e6;

/// The public `LoadTestMetrics` of API.md.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Metrics {
    pub total_requests: u64,
    pub successful_requests: u64,
    pub failed_requests: u64,
    pub average_response_time: f64,
    pub min_response_time: f64,
    pub max_response_time: f64,
    pub p50_response_time: f64,
    pub p95_response_time: f64,
    pub p99_response_time: f64,
    /// The 99.9th percentile (beyond API.md): the tail a load generator is judged by.
    pub p999_response_time: f64,
    pub requests_per_second: f64,
    pub errors_per_second: f64,
    /// Response bytes per second.
    pub throughput: f64,
    pub concurrent_users: u64,
    pub test_duration: f64,
    pub error_rate: f64,
}

pub struct Recorder {
    successes: u64,
    failures: u64,
    sum_ms: f64,
    min_ms: f64,
    max_ms: f64,
    bytes: u64,
    histogram: Histogram<u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    pub fn new() -> Self {
        Self {
            successes: 0,
            failures: 0,
            sum_ms: 0.0,
            min_ms: f64::INFINITY,
            max_ms: 0.0,
            bytes: 0,
            histogram: {
                // 3 significant digits: every bucket is narrower than 0.1% of its value. Sized
                // for 1 ns .. 1 hour up front; auto-resize grows it for anything longer.
                let mut h = Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
                    .expect("valid histogram bounds");
                h.auto(true);
                h
            },
        }
    }

    /// A successful request that took `duration_ms` and returned `size` bytes.
    pub fn success(&mut self, duration_ms: f64, size: u64) {
        let d = if duration_ms.is_finite() && duration_ms > 0.0 {
            duration_ms
        } else {
            0.0
        };
        self.successes += 1;
        self.sum_ms += d;
        self.min_ms = self.min_ms.min(d);
        self.max_ms = self.max_ms.max(d);
        self.bytes = self.bytes.saturating_add(size);
        let ns = ((d * NS_PER_MS).round() as u64).max(1);
        if self.histogram.record(ns).is_err() {
            self.histogram.saturating_record(ns);
        }
    }

    pub fn failure(&mut self) {
        self.failures += 1;
    }

    /// Adds a batch laid out as `[duration, size, duration, size, ...]` where a negative size
    /// marks a failed request (its duration is ignored: figures are over successes only).
    pub fn add_batch(&mut self, pairs: &[f64]) {
        for pair in pairs.chunks_exact(2) {
            if pair[1] < 0.0 {
                self.failure();
            } else {
                let size = if pair[1].is_finite() {
                    pair[1] as u64
                } else {
                    0
                };
                self.success(pair[0], size);
            }
        }
    }

    pub fn total(&self) -> u64 {
        self.successes + self.failures
    }

    pub fn merge(&mut self, other: &Recorder) {
        self.successes += other.successes;
        self.failures += other.failures;
        self.sum_ms += other.sum_ms;
        self.min_ms = self.min_ms.min(other.min_ms);
        self.max_ms = self.max_ms.max(other.max_ms);
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.histogram
            .add(&other.histogram)
            .expect("auto-resizing histograms always add");
    }

    /// Nearest-rank percentile (`q` in 0..=1) of successful durations, within 0.1%; 0 if none.
    pub fn percentile(&self, q: f64) -> f64 {
        if self.successes == 0 {
            return 0.0;
        }
        let v = self.histogram.value_at_quantile(q);
        // The middle of the bucket halves the error; clamping keeps p100 == max and p0 == min.
        let ms = self.histogram.median_equivalent(v) as f64 / NS_PER_MS;
        ms.clamp(self.min_ms, self.max_ms)
    }

    /// The metrics of everything recorded, for a test that lasted `elapsed_ms` with `users`.
    pub fn metrics(&self, elapsed_ms: f64, users: u64) -> Metrics {
        let total = self.total();
        let secs = if elapsed_ms.is_finite() && elapsed_ms > 0.0 {
            elapsed_ms / 1000.0
        } else {
            0.0
        };
        let per_sec = |n: f64| if secs > 0.0 { n / secs } else { 0.0 };
        let ok = self.successes > 0;
        Metrics {
            total_requests: total,
            successful_requests: self.successes,
            failed_requests: self.failures,
            average_response_time: if ok {
                self.sum_ms / self.successes as f64
            } else {
                0.0
            },
            min_response_time: if ok { self.min_ms } else { 0.0 },
            max_response_time: if ok { self.max_ms } else { 0.0 },
            p50_response_time: self.percentile(0.50),
            p95_response_time: self.percentile(0.95),
            p99_response_time: self.percentile(0.99),
            p999_response_time: self.percentile(0.999),
            requests_per_second: per_sec(total as f64),
            errors_per_second: per_sec(self.failures as f64),
            throughput: per_sec(self.bytes as f64),
            concurrent_users: users,
            test_duration: if secs > 0.0 { elapsed_ms } else { 0.0 },
            error_rate: if total > 0 {
                self.failures as f64 / total as f64
            } else {
                0.0
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
        sorted[rank - 1]
    }

    #[test]
    fn empty_test_gives_zeros_never_nan() {
        let m = Recorder::new().metrics(0.0, 0);
        assert_eq!(m, Metrics::default());
        let m = Recorder::new().metrics(f64::NAN, 3);
        assert_eq!(m.test_duration, 0.0);
        assert_eq!(m.concurrent_users, 3);
    }

    #[test]
    fn only_failures_give_zero_times_and_full_error_rate() {
        let mut r = Recorder::new();
        r.add_batch(&[5.0, -1.0, 7.0, -1.0]);
        let m = r.metrics(1000.0, 1);
        assert_eq!(m.failed_requests, 2);
        assert_eq!(m.error_rate, 1.0);
        assert_eq!(m.errors_per_second, 2.0);
        assert_eq!(m.average_response_time, 0.0);
        assert_eq!(m.p99_response_time, 0.0);
        assert_eq!(m.min_response_time, 0.0);
    }

    #[test]
    fn percentiles_within_a_tenth_of_a_percent_of_nearest_rank() {
        let mut r = Recorder::new();
        let mut values = Vec::new();
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for _ in 0..200_000 {
            // xorshift: a spread of durations from microseconds to seconds.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = (x % 1_000_000) as f64 / 1000.0 * ((x >> 40) % 5 + 1) as f64 + 0.001;
            values.push(v);
            r.success(v, 10);
        }
        values.sort_by(|a, b| a.partial_cmp(b).unwrap());
        for q in [0.0, 0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
            let exact = nearest_rank(&values, q);
            let got = r.percentile(q);
            assert!(
                (got - exact).abs() <= exact * 0.001,
                "q={q}: got {got}, nearest rank {exact}"
            );
        }
        let m = r.metrics(2000.0, 10);
        assert_eq!(m.min_response_time, values[0]);
        assert_eq!(m.max_response_time, *values.last().unwrap());
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        assert!((m.average_response_time - mean).abs() < 1e-9 * mean);
        assert_eq!(m.throughput, 200_000.0 * 10.0 / 2.0);
        assert_eq!(m.requests_per_second, 100_000.0);
    }

    #[test]
    fn known_mix_gives_exact_ranks() {
        let mut r = Recorder::new();
        for i in 0..1000 {
            r.success(if i % 50 == 0 { 100.0 } else { 10.0 }, 0);
        }
        assert!((r.percentile(0.5) - 10.0).abs() < 0.01);
        assert!((r.percentile(0.95) - 10.0).abs() < 0.01);
        assert!((r.percentile(0.99) - 100.0).abs() < 0.1);
    }

    #[test]
    fn merge_equals_recording_together() {
        let (mut a, mut b, mut all) = (Recorder::new(), Recorder::new(), Recorder::new());
        for i in 0..100 {
            let d = i as f64 + 0.5;
            if i % 2 == 0 { &mut a } else { &mut b }.success(d, 1);
            all.success(d, 1);
        }
        b.failure();
        all.failure();
        a.merge(&b);
        assert_eq!(a.metrics(10.0, 1), all.metrics(10.0, 1));
    }
}
