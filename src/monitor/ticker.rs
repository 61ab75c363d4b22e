//! The sampler thread: every interval it takes a [`SystemReading`] and asks the host (the JS
//! thread, through the binding) to run a probe. How late the probe runs is the event-loop lag,
//! measured from outside the loop it describes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::system::{SystemReading, SystemSampler};
use super::MonitorError;

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
    /// Starts the thread. `interval` must be at least 1 ms.
    ///
    /// At most one probe is in flight: while the host's thread is blocked the ticks that fall
    /// due are not queued behind it (a burst of stale probes would report shrinking lags for one
    /// stall); the one pending probe reports the whole delay when it runs. Readings keep being
    /// taken every interval regardless, so the probe carries CPU figures of the last interval.
    pub fn start(interval: Duration, mut schedule: Schedule) -> Result<Self, MonitorError> {
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
                    if in_flight.swap(true, Ordering::AcqRel) {
                        continue;
                    }
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

    #[test]
    fn rejects_a_zero_interval() {
        let (schedule, _rx) = host(Duration::ZERO);
        assert!(matches!(
            Ticker::start(Duration::ZERO, schedule),
            Err(MonitorError::Arg(ArgError::OutOfRange { .. }))
        ));
    }

    #[test]
    fn a_prompt_host_has_near_zero_lag_and_every_tick_probes() {
        let (schedule, rx) = host(Duration::ZERO);
        let mut ticker = Ticker::start(Duration::from_millis(10), schedule).unwrap();
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
        let mut ticker = Ticker::start(Duration::from_millis(10), schedule).unwrap();
        let first = rx.recv_timeout(Duration::from_secs(2)).unwrap();
        let second = rx.recv_timeout(Duration::from_secs(2)).unwrap();
        ticker.stop();
        assert!(first.lag_ms >= 140.0, "lag {}", first.lag_ms);
        assert!(second.lag_ms >= 140.0, "lag {}", second.lag_ms);
    }

    #[test]
    fn stop_is_prompt_even_with_a_long_interval() {
        let (schedule, _rx) = host(Duration::ZERO);
        let mut ticker = Ticker::start(Duration::from_secs(3600), schedule).unwrap();
        let start = Instant::now();
        ticker.stop();
        assert!(start.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn a_host_that_goes_away_ends_the_thread() {
        let (schedule, rx) = host(Duration::ZERO);
        drop(rx);
        let ticker = Ticker::start(Duration::from_millis(1), schedule).unwrap();
        let start = Instant::now();
        while !ticker.thread.as_ref().unwrap().is_finished() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "thread still running"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
