//! The sampler thread: every interval it takes a [`SystemReading`] and either asks the host (the
//! JS thread, through the binding) to run a probe, or records the reading itself. How late a
//! probe runs is the event-loop lag, measured from outside the loop it describes.
//!
//! Waking the host costs more than the whole reading (on a small VM an empty JS timer at 10 ms
//! is about 1% of a core), so the host is probed on every tick only while it wants every
//! snapshot (someone listens for them). Otherwise it is probed at the rate of
//! [`probe_period`], and the ticks in between are recorded here with the host's figures of the
//! newest probe.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::history::{History, Thresholds};
use super::system::{SystemReading, SystemSampler};
use super::MonitorError;

/// The longest time between probes of a host that does not want every snapshot: its heap,
/// utilisation and GC figures are at most this old.
pub const MAX_PROBE_PERIOD: Duration = Duration::from_secs(1);

/// How often a host that does not want every snapshot is probed: half the event-loop threshold
/// (probes fall on ticks, so up to one interval more), so any stall longer than 1.5 times the
/// threshold plus one interval is seen by a probe at least a threshold late; never more often
/// than the interval, never less often than [`MAX_PROBE_PERIOD`].
pub fn probe_period(interval: Duration, thresholds: &Thresholds) -> Duration {
    let half = Duration::from_secs_f64(thresholds.event_loop_ms / 2000.0);
    half.min(MAX_PROBE_PERIOD).max(interval)
}

/// What the sampler thread and the host share: the history both record into, and whether the
/// host wants a probe on every tick.
#[derive(Debug, Default)]
pub struct MonitorState {
    history: Mutex<History>,
    every_tick: AtomicBool,
    probes: AtomicU64,
}

impl MonitorState {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn history(&self) -> MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the host is probed on every tick (it wants every snapshot) or only at the rate of
    /// [`probe_period`]. Takes effect at the next tick.
    pub fn set_every_tick(&self, every_tick: bool) {
        self.every_tick.store(every_tick, Ordering::Relaxed);
    }

    /// How many probes the sampler has handed to the host: the host's wake-ups.
    pub fn probes(&self) -> u64 {
        self.probes.load(Ordering::Relaxed)
    }
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// What the host needs to finish a probe on its own thread: when it was asked for, and the
/// newest reading of the sampler thread at the time the probe runs.
pub struct ProbeTicket {
    scheduled: Instant,
    in_flight: Arc<AtomicBool>,
    latest: Arc<Mutex<SystemReading>>,
}

/// A probe as it ran: how late it ran, and the newest system reading.
#[derive(Debug, Clone, Copy)]
pub struct ProbeResult {
    pub lag_ms: f64,
    pub reading: SystemReading,
}

impl ProbeTicket {
    /// Called on the host's thread when the probe finally runs. Lets the sampler thread schedule
    /// the next probe.
    pub fn complete(self) -> ProbeResult {
        let lag_ms = self.scheduled.elapsed().as_secs_f64() * 1000.0;
        let reading = *self.latest.lock().unwrap_or_else(|e| e.into_inner());
        self.in_flight.store(false, Ordering::Release);
        ProbeResult { lag_ms, reading }
    }
}

impl Drop for ProbeTicket {
    fn drop(&mut self) {
        // A ticket the host never ran (queue closing at exit) must not stall the sampler.
        self.in_flight.store(false, Ordering::Release);
    }
}

/// Hands a ticket to the host. Returns `false` when the host is gone (its queue is closing),
/// which ends the thread.
pub type Schedule = Box<dyn FnMut(ProbeTicket) -> bool + Send>;

struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

/// A running sampler thread. Stops (and joins) on [`Ticker::stop`] or when dropped.
pub struct Ticker {
    stop: Arc<Stop>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    /// Starts the thread. `interval` must be at least 1 ms. Every tick gives one snapshot in
    /// `state`'s history: recorded by the host when the tick probes it, here otherwise.
    ///
    /// At most one probe is in flight: while the host's thread is blocked the ticks that fall
    /// due are not queued behind it (a burst of stale probes would report shrinking lags for one
    /// stall) nor recorded; the one pending probe reports the whole delay when it runs. Readings
    /// keep being taken every interval regardless, so the probe carries CPU figures of the last
    /// interval. Alerts raised by a reading recorded here make the next tick probe, so that the
    /// host can report them.
    pub fn start(
        interval: Duration,
        state: Arc<MonitorState>,
        mut schedule: Schedule,
    ) -> Result<Self, MonitorError> {
        if interval.is_zero() {
            return Err(MonitorError::out_of_range("interval", "at least 1 ms", "0"));
        }
        let mut sampler = SystemSampler::new()?;
        let latest = Arc::new(Mutex::new(sampler.read()));
        let in_flight = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(Stop {
            stopped: Mutex::new(false),
            wake: Condvar::new(),
        });
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("perf-monitor".into())
            .spawn(move || {
                let mut next = Instant::now() + interval;
                // The first tick probes, so that readings recorded here have the host's figures.
                let mut next_probe = Instant::now();
                loop {
                    // Sleep until the next tick or until told to stop.
                    {
                        let mut stopped = thread_stop
                            .stopped
                            .lock()
                            .unwrap_or_else(|e| e.into_inner());
                        loop {
                            if *stopped {
                                return;
                            }
                            let now = Instant::now();
                            if now >= next {
                                break;
                            }
                            stopped = thread_stop
                                .wake
                                .wait_timeout(stopped, next - now)
                                .unwrap_or_else(|e| e.into_inner())
                                .0;
                        }
                    }
                    let scheduled = Instant::now();
                    // Fixed-rate schedule: ticks do not drift with the time a tick takes; after a
                    // long pause of this thread, skip to the next tick in the future.
                    next += interval;
                    if next <= scheduled {
                        next = scheduled + interval;
                    }
                    let reading = sampler.read();
                    *latest.lock().unwrap_or_else(|e| e.into_inner()) = reading;
                    if in_flight.load(Ordering::Acquire) {
                        continue;
                    }
                    {
                        let mut history = state.history();
                        let due = state.every_tick.load(Ordering::Relaxed)
                            || scheduled >= next_probe
                            || history.unreported() > 0;
                        if !due {
                            history.record_reading(now_ms(), &reading);
                            continue;
                        }
                        next_probe = scheduled + probe_period(interval, &history.thresholds());
                    }
                    in_flight.store(true, Ordering::Release);
                    state.probes.fetch_add(1, Ordering::Relaxed);
                    let ticket = ProbeTicket {
                        scheduled,
                        in_flight: Arc::clone(&in_flight),
                        latest: Arc::clone(&latest),
                    };
                    if !schedule(ticket) {
                        return;
                    }
                }
            })
            .map_err(|e| MonitorError::Thread(e.to_string()))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it. The thread never waits on the host (scheduling a probe
    /// does not block), so joining from the host's thread cannot deadlock.
    pub fn stop(&mut self) {
        *self.stop.stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.stop.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ArgError;
    use crate::monitor::Snapshot;
    use std::sync::mpsc;

    /// A host whose "event loop" is a thread that runs probes after `busy` each.
    fn host(busy: Duration) -> (Schedule, mpsc::Receiver<ProbeResult>) {
        let (tickets_tx, tickets_rx) = mpsc::channel::<ProbeTicket>();
        let (results_tx, results_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for ticket in tickets_rx {
                std::thread::sleep(busy);
                if results_tx.send(ticket.complete()).is_err() {
                    return;
                }
            }
        });
        (
            Box::new(move |ticket| tickets_tx.send(ticket).is_ok()),
            results_rx,
        )
    }

    /// A state whose host wants every snapshot, as before the quiet rate existed.
    fn every_tick() -> Arc<MonitorState> {
        let state = Arc::new(MonitorState::new());
        state.set_every_tick(true);
        state
    }

    #[test]
    fn rejects_a_zero_interval() {
        let (schedule, _rx) = host(Duration::ZERO);
        assert!(matches!(
            Ticker::start(Duration::ZERO, every_tick(), schedule),
            Err(MonitorError::Arg(ArgError::OutOfRange { .. }))
        ));
    }

    #[test]
    fn a_prompt_host_has_near_zero_lag_and_every_tick_probes() {
        let (schedule, rx) = host(Duration::ZERO);
        let mut ticker = Ticker::start(Duration::from_millis(10), every_tick(), schedule).unwrap();
        let results: Vec<_> = (0..10)
            .map(|_| rx.recv_timeout(Duration::from_secs(2)).unwrap())
            .collect();
        ticker.stop();
        // Tests run in parallel on a shared machine: most probes are prompt, none is very late.
        let prompt = results.iter().filter(|r| r.lag_ms < 20.0).count();
        assert!(prompt >= 5, "{:?}", results);
        for r in &results {
            assert!(r.lag_ms < 500.0, "lag {}", r.lag_ms);
            assert!(r.reading.rss > 0);
        }
    }

    #[test]
    fn a_blocked_host_reports_the_whole_delay_once() {
        let (schedule, rx) = host(Duration::from_millis(150));
        let mut ticker = Ticker::start(Duration::from_millis(10), every_tick(), schedule).unwrap();
        let first = rx.recv_timeout(Duration::from_secs(2)).unwrap();
        let second = rx.recv_timeout(Duration::from_secs(2)).unwrap();
        ticker.stop();
        assert!(first.lag_ms >= 140.0, "lag {}", first.lag_ms);
        assert!(second.lag_ms >= 140.0, "lag {}", second.lag_ms);
    }

    #[test]
    fn stop_is_prompt_even_with_a_long_interval() {
        let (schedule, _rx) = host(Duration::ZERO);
        let mut ticker = Ticker::start(Duration::from_secs(3600), every_tick(), schedule).unwrap();
        let start = Instant::now();
        ticker.stop();
        assert!(start.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn a_host_that_goes_away_ends_the_thread() {
        let (schedule, rx) = host(Duration::ZERO);
        drop(rx);
        let ticker = Ticker::start(Duration::from_millis(1), every_tick(), schedule).unwrap();
        let start = Instant::now();
        while !ticker.thread.as_ref().unwrap().is_finished() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "thread still running"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn the_probe_period_is_half_the_lag_threshold_within_interval_and_a_second() {
        let t = |ms: f64| Thresholds {
            event_loop_ms: ms,
            ..Default::default()
        };
        let ms = Duration::from_millis;
        assert_eq!(probe_period(ms(10), &t(100.0)), ms(50));
        assert_eq!(probe_period(ms(10), &t(60_000.0)), MAX_PROBE_PERIOD);
        assert_eq!(probe_period(ms(200), &t(100.0)), ms(200));
        assert_eq!(probe_period(ms(5000), &t(100.0)), ms(5000));
    }

    #[test]
    fn a_quiet_host_is_probed_at_the_slow_rate_and_every_tick_still_records() {
        let state = Arc::new(MonitorState::new());
        // A 1 s probe period at a 10 ms interval.
        state.history().set_thresholds(Thresholds {
            event_loop_ms: 60_000.0,
            ..Default::default()
        });
        let (tickets_tx, tickets_rx) = mpsc::channel::<ProbeTicket>();
        let host_state = Arc::clone(&state);
        let host = std::thread::spawn(move || {
            for ticket in tickets_rx {
                let r = ticket.complete();
                host_state.history().record(Snapshot {
                    heap_used: 42.0,
                    rss: r.reading.rss as f64,
                    ..Default::default()
                });
            }
        });
        let mut ticker = Ticker::start(
            Duration::from_millis(10),
            Arc::clone(&state),
            Box::new(move |ticket| tickets_tx.send(ticket).is_ok()),
        )
        .unwrap();
        // Wait on the history rather than the clock: 30 snapshots is 300 ms of ticks.
        let start = Instant::now();
        while state.history().snapshots().count() < 30 {
            assert!(start.elapsed() < Duration::from_secs(20), "no snapshots");
            std::thread::sleep(Duration::from_millis(10));
        }
        let elapsed = start.elapsed();
        let quiet_probes = state.probes();
        // Wanting every snapshot: every tick probes from the next tick on.
        state.set_every_tick(true);
        let before = state.probes();
        while state.probes() < before + 5 {
            assert!(start.elapsed() < Duration::from_secs(20), "no probes");
            std::thread::sleep(Duration::from_millis(5));
        }
        ticker.stop();
        drop(ticker);
        host.join().unwrap();
        // One probe at the start and one per second after it (a slow machine stretches the
        // wait, so the bound follows the time it took).
        let allowed = 1 + (elapsed.as_secs_f64() / MAX_PROBE_PERIOD.as_secs_f64()).ceil() as u64;
        assert!(
            quiet_probes <= allowed,
            "{quiet_probes} probes in {elapsed:?}"
        );
        let h = state.history();
        let snaps: Vec<_> = h.snapshots().collect();
        // Readings recorded here carry the host's figures of the newest probe.
        assert!(snaps.iter().all(|s| s.heap_used == 42.0));
        assert!(snaps.iter().all(|s| s.rss > 0.0));
    }
}
