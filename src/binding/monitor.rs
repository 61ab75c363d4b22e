// napi-derive registers `#[napi]` functions only outside `cfg(test)`.
#![cfg_attr(test, allow(dead_code))]

//! Binding of the monitor core: the sampler thread, the probe it runs on the JS thread, and the
//! history. `lib/monitor.js` wraps `NativeMonitor` in the public `PerformanceMonitor`.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use napi::bindgen_prelude::{Env, Float64ArraySlice, FnArgs, Function, Unknown};
use napi::threadsafe_function::{
    ThreadsafeCallContext, ThreadsafeFunction, ThreadsafeFunctionCallMode,
};
use napi::Status;
use napi_derive::napi;

use super::args::{fraction, number, number_where, string, Arg, Options, Range};
use super::error::Result;
use crate::error::ArgError;
use crate::monitor::{
    prometheus_text, Alert, MonitorState, ProbeResult, ProbeTicket, Snapshot, Stat, Summary,
    SystemSampler, Thresholds, Ticker,
};

/// What the JS probe receives, as plain numbers (no object to build on every tick):
/// (lag ms, rss bytes, available bytes, cpu % of one core, load 1m, load 5m, load 15m).
type SampleArgs = FnArgs<(f64, f64, f64, f64, f64, f64, f64)>;

/// The probe the sampler thread runs on the JS thread.
type ProbeFn = ThreadsafeFunction<
    // What the sampler thread sends: the ticket of one probe.
    ProbeTicket,
    // What the JS callback returns: ignored.
    Unknown<'static>,
    // What the JS callback receives: the finished probe (lag and newest readings).
    SampleArgs,
    // Error status of the queue.
    Status,
    // CalleeHandled = false: the callback gets the sample, not (err, sample).
    false,
    // Weak = true: an unref'd queue, so a running monitor never keeps Node alive on its own.
    true,
>;

fn sample_args(r: ProbeResult) -> SampleArgs {
    let [l1, l5, l15] = r.reading.load_average;
    FnArgs::from((
        r.lag_ms,
        r.reading.rss as f64,
        r.reading.available as f64,
        r.reading.cpu_percent,
        l1,
        l5,
        l15,
    ))
}

/// Positions in the `Float64Array` the JS layer fills for [`NativeMonitor::record`]: one
/// table, exported to `lib/monitor.js` as `MonitorSlot`.
#[napi]
pub enum MonitorSlot {
    Timestamp = 0,
    Rss = 1,
    Total = 2,
    HeapUsed = 3,
    HeapTotal = 4,
    External = 5,
    Cpu = 6,
    Load1 = 7,
    Load5 = 8,
    Load15 = 9,
    Utilization = 10,
    Lag = 11,
    GcCollections = 12,
    GcDuration = 13,
    HeapLimit = 14,
    GcLongest = 15,
    /// How many slots there are.
    Len = 16,
}

#[napi(object)]
pub struct NativeMemory {
    pub used: f64,
    pub total: f64,
    pub heap_used: f64,
    pub heap_total: f64,
    pub external: f64,
}

#[napi(object)]
pub struct NativeCpu {
    pub usage: f64,
    pub load_average: Vec<f64>,
}

#[napi(object)]
pub struct NativeEventLoop {
    pub utilization: f64,
    pub lag: f64,
}

#[napi(object)]
pub struct NativeGc {
    pub collections: f64,
    pub duration: f64,
}

/// The public snapshot shape.
#[napi(object)]
pub struct NativeSnapshot {
    pub timestamp: f64,
    pub memory: NativeMemory,
    pub cpu: NativeCpu,
    pub event_loop: NativeEventLoop,
    pub gc: NativeGc,
}

impl From<&Snapshot> for NativeSnapshot {
    fn from(s: &Snapshot) -> Self {
        Self {
            timestamp: s.timestamp_ms,
            memory: NativeMemory {
                used: s.rss,
                total: s.available,
                heap_used: s.heap_used,
                heap_total: s.heap_total,
                external: s.external,
            },
            cpu: NativeCpu {
                usage: s.cpu_percent,
                load_average: s.load_average.to_vec(),
            },
            event_loop: NativeEventLoop {
                utilization: s.utilization,
                lag: s.lag_ms,
            },
            gc: NativeGc {
                collections: s.gc_collections,
                duration: s.gc_duration_ms,
            },
        }
    }
}

#[napi(object)]
pub struct NativeAlert {
    #[napi(js_name = "type", ts_type = "'memory' | 'cpu' | 'eventloop' | 'gc'")]
    pub kind: String,
    #[napi(ts_type = "'warning' | 'critical'")]
    pub severity: String,
    pub message: String,
    pub value: f64,
    pub threshold: f64,
    pub timestamp: f64,
}

impl From<&Alert> for NativeAlert {
    fn from(a: &Alert) -> Self {
        Self {
            kind: a.kind.as_str().into(),
            severity: a.severity.as_str().into(),
            message: a.message.clone(),
            value: a.value,
            threshold: a.threshold,
            timestamp: a.timestamp_ms,
        }
    }
}

#[napi(object)]
pub struct NativeThresholds {
    pub memory: f64,
    pub cpu: f64,
    pub event_loop: f64,
    pub gc_duration: f64,
}

impl From<Thresholds> for NativeThresholds {
    fn from(t: Thresholds) -> Self {
        Self {
            memory: t.memory,
            cpu: t.cpu,
            event_loop: t.event_loop_ms,
            gc_duration: t.gc_duration_ms,
        }
    }
}

/// Some thresholds as the caller wrote them; [`to_thresholds`] checks them.
#[napi(object, object_to_js = false)]
pub struct NativeThresholdUpdate {
    #[napi(ts_type = "number")]
    pub memory: Option<Arg>,
    #[napi(ts_type = "number")]
    pub cpu: Option<Arg>,
    #[napi(ts_type = "number")]
    pub event_loop: Option<Arg>,
    #[napi(ts_type = "number")]
    pub gc_duration: Option<Arg>,
}

/// A duration threshold: a finite number of ms greater than 0.
fn millis(name: &'static str, arg: Option<Arg>) -> std::result::Result<Option<f64>, ArgError> {
    number_where(
        name,
        arg,
        "a finite number of milliseconds greater than 0",
        |v| v.is_finite() && v > 0.0,
    )
}

/// The one conversion of a threshold update: `current` with every given field checked and
/// applied, or the first bad field (so a bad field changes nothing).
fn to_thresholds(
    current: Thresholds,
    u: NativeThresholdUpdate,
) -> std::result::Result<Thresholds, ArgError> {
    Ok(Thresholds {
        memory: fraction("thresholds.memory", u.memory)?.unwrap_or(current.memory),
        cpu: fraction("thresholds.cpu", u.cpu)?.unwrap_or(current.cpu),
        event_loop_ms: millis("thresholds.eventLoop", u.event_loop)?
            .unwrap_or(current.event_loop_ms),
        gc_duration_ms: millis("thresholds.gcDuration", u.gc_duration)?
            .unwrap_or(current.gc_duration_ms),
    })
}

/// `PerformanceMonitor`'s options as the caller wrote them.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct NativeMonitorOptions {
    #[napi(ts_type = "number")]
    pub interval: Option<Arg>,
    #[napi(ts_type = "string")]
    pub output_dir: Option<Arg>,
}

/// Defaults from the public contract (API.md, PerformanceMonitor).
const DEFAULT_INTERVAL_MS: f64 = 1000.0;
const DEFAULT_OUTPUT_DIR: &str = ".performance-metrics";
/// The longest sampling interval, in ms: `setInterval`'s bound (a 32-bit count of ms); past it
/// the sampler's deadlines would overflow.
const MAX_INTERVAL_MS: f64 = 2_147_483_647.0;

#[napi(object)]
pub struct NativeStat {
    pub min: f64,
    pub avg: f64,
    pub max: f64,
}

impl From<Stat> for NativeStat {
    fn from(s: Stat) -> Self {
        Self {
            min: s.min,
            avg: s.avg,
            max: s.max,
        }
    }
}

#[napi(object)]
pub struct NativeAlertCounts {
    pub total: f64,
    pub warning: f64,
    pub critical: f64,
    pub memory: f64,
    pub cpu: f64,
    pub eventloop: f64,
    pub gc: f64,
}

#[napi(object)]
pub struct NativeGcTotals {
    pub collections: f64,
    pub duration: f64,
}

#[napi(object)]
pub struct NativeSummary {
    pub snapshots: f64,
    pub start: f64,
    pub end: f64,
    /// Heap used / V8 heap limit.
    pub memory: NativeStat,
    /// Process CPU, percent of one core.
    pub cpu: NativeStat,
    /// Event-loop lag, ms.
    pub event_loop_lag: NativeStat,
    pub event_loop_utilization: NativeStat,
    pub gc: NativeGcTotals,
    pub alerts: NativeAlertCounts,
}

impl From<Summary> for NativeSummary {
    fn from(s: Summary) -> Self {
        let a = s.alerts;
        Self {
            snapshots: s.snapshots as f64,
            start: s.start_ms,
            end: s.end_ms,
            memory: s.memory_ratio.into(),
            cpu: s.cpu_percent.into(),
            event_loop_lag: s.lag_ms.into(),
            event_loop_utilization: s.utilization.into(),
            gc: NativeGcTotals {
                collections: s.gc_collections,
                duration: s.gc_duration_ms,
            },
            alerts: NativeAlertCounts {
                total: a.total as f64,
                warning: a.warning as f64,
                critical: a.critical as f64,
                memory: a.by_type[0] as f64,
                cpu: a.by_type[1] as f64,
                eventloop: a.by_type[2] as f64,
                gc: a.by_type[3] as f64,
            },
        }
    }
}

fn napi_failure(e: napi::Error) -> napi::Error<&'static str> {
    super::error::failure(e.reason.clone())
}

/// The running sampler, shared with the environment's cleanup hook so it stops at exit.
type Running = Arc<Mutex<Option<Ticker>>>;

fn stop_running(running: &Running) {
    // Take the ticker out before joining so the lock is not held across the join.
    let ticker = running.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(mut ticker) = ticker {
        ticker.stop();
    }
}

#[napi]
pub struct NativeMonitor {
    state: Arc<MonitorState>,
    running: Running,
    hooked: bool,
    interval_ms: f64,
    output_dir: String,
}

#[napi]
impl NativeMonitor {
    /// Checks the options once (`options` absent takes every default).
    #[napi(
        catch_unwind,
        constructor,
        ts_args_type = "options?: NativeMonitorOptions"
    )]
    pub fn new(options: Options<NativeMonitorOptions>) -> Result<Self> {
        let o = options.check("options")?.unwrap_or_default();
        let interval_ms = number("interval", o.interval, Range::finite(1.0, MAX_INTERVAL_MS))?
            .unwrap_or(DEFAULT_INTERVAL_MS);
        let output_dir =
            string("outputDir", o.output_dir)?.unwrap_or_else(|| DEFAULT_OUTPUT_DIR.into());
        Ok(Self {
            state: Arc::new(MonitorState::new()),
            running: Arc::new(Mutex::new(None)),
            hooked: false,
            interval_ms,
            output_dir,
        })
    }

    /// The sampling interval, ms.
    #[napi(catch_unwind, getter)]
    pub fn interval(&self) -> f64 {
        self.interval_ms
    }

    /// Where `exportMetrics` writes by default.
    #[napi(catch_unwind, getter)]
    pub fn output_dir(&self) -> String {
        self.output_dir.clone()
    }

    /// Starts the sampler thread (stopping a running one first). `probe` runs on the JS thread
    /// with the finished sample: every interval while `setEveryTick(true)`, otherwise at the
    /// slower rate of the core's `probe_period`.
    #[napi(
        catch_unwind,
        ts_args_type = "probe: (lag: number, rss: number, total: number, cpu: number, load1: number, load5: number, load15: number) => void"
    )]
    pub fn start(
        &mut self,
        env: &Env,
        probe: Function<'_, SampleArgs, Unknown<'static>>,
    ) -> Result<()> {
        stop_running(&self.running);
        let tsfn: ProbeFn = probe
            .build_threadsafe_function::<ProbeTicket>()
            .weak::<true>()
            .callee_handled::<false>()
            .build_callback(|ctx: ThreadsafeCallContext<ProbeTicket>| {
                // Runs on the JS thread: the moment the probe runs is what the lag measures.
                Ok(sample_args(ctx.value.complete()))
            })
            .map_err(napi_failure)?;
        let schedule = Box::new(move |ticket: ProbeTicket| {
            // NonBlocking: the sampler thread never waits on the JS thread. With an unbounded
            // queue this only fails once Node is closing the queue (exit, worker teardown).
            tsfn.call(ticket, ThreadsafeFunctionCallMode::NonBlocking) == Status::Ok
        });
        let ticker = Ticker::start(
            Duration::from_secs_f64(self.interval_ms / 1000.0),
            Arc::clone(&self.state),
            schedule,
        )?;
        *self.running.lock().unwrap_or_else(|e| e.into_inner()) = Some(ticker);
        if !self.hooked {
            // One hook per monitor, for its lifetime: stops the thread when the environment
            // is torn down (process exit, worker exit) even if stop() was never called.
            env.add_env_cleanup_hook(Arc::clone(&self.running), |running| stop_running(&running))
                .map_err(napi_failure)?;
            self.hooked = true;
        }
        Ok(())
    }

    /// Stops and joins the sampler thread. A probe already queued may still run once; the JS
    /// layer ignores it.
    #[napi(catch_unwind)]
    pub fn stop(&mut self) {
        stop_running(&self.running);
    }

    #[napi(catch_unwind, getter)]
    pub fn running(&self) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Whether the JS thread wants a probe on every tick (someone listens for every snapshot).
    #[napi(catch_unwind)]
    pub fn set_every_tick(&self, every_tick: bool) {
        self.state.set_every_tick(every_tick);
    }

    /// How many probes the sampler has scheduled on the JS thread since this monitor was made.
    #[napi(catch_unwind, getter)]
    pub fn probes(&self) -> f64 {
        self.state.probes() as f64
    }

    /// Stores a snapshot given as the numbers of a `Float64Array` laid out as in [`MonitorSlot`] (one
    /// typed array refilled each tick, rather than an object converted field by field); returns
    /// how many alerts are waiting to be reported (this one's and those raised off the JS
    /// thread since), which `take_alerts` then returns.
    #[napi(catch_unwind)]
    pub fn record(&mut self, values: Float64ArraySlice<'_>) -> Result<u32> {
        let v: &[f64] = &values;
        let at = |slot: MonitorSlot| v[slot as usize];
        if v.len() < MonitorSlot::Len as usize {
            return Err(ArgError::invalid_type("values", "a Float64Array of 16 numbers").into());
        }
        let snapshot = Snapshot {
            timestamp_ms: at(MonitorSlot::Timestamp),
            rss: at(MonitorSlot::Rss),
            available: at(MonitorSlot::Total),
            heap_used: at(MonitorSlot::HeapUsed),
            heap_total: at(MonitorSlot::HeapTotal),
            external: at(MonitorSlot::External),
            cpu_percent: at(MonitorSlot::Cpu),
            load_average: [
                at(MonitorSlot::Load1),
                at(MonitorSlot::Load5),
                at(MonitorSlot::Load15),
            ],
            utilization: at(MonitorSlot::Utilization),
            lag_ms: at(MonitorSlot::Lag),
            gc_collections: at(MonitorSlot::GcCollections),
            gc_duration_ms: at(MonitorSlot::GcDuration),
            heap_limit: at(MonitorSlot::HeapLimit),
            gc_longest_ms: at(MonitorSlot::GcLongest),
        };
        let mut history = self.state.history();
        history.record(snapshot);
        Ok(history.unreported() as u32)
    }

    /// The alerts raised since the previous call, oldest first.
    #[napi(catch_unwind)]
    pub fn take_alerts(&self) -> Vec<NativeAlert> {
        let taken = self.state.history().take_unreported();
        taken.iter().map(NativeAlert::from).collect()
    }

    #[napi(catch_unwind)]
    pub fn snapshots(&self) -> Vec<NativeSnapshot> {
        self.state
            .history()
            .snapshots()
            .map(NativeSnapshot::from)
            .collect()
    }

    #[napi(catch_unwind)]
    pub fn alerts(&self) -> Vec<NativeAlert> {
        self.state
            .history()
            .alerts()
            .map(NativeAlert::from)
            .collect()
    }

    #[napi(catch_unwind)]
    pub fn clear_snapshots(&mut self) {
        self.state.history().clear_snapshots();
    }

    #[napi(catch_unwind)]
    pub fn clear_alerts(&mut self) {
        self.state.history().clear_alerts();
    }

    #[napi(catch_unwind)]
    pub fn thresholds(&self) -> NativeThresholds {
        self.state.history().thresholds().into()
    }

    /// Applies a partial update; a bad field changes nothing.
    #[napi(catch_unwind, ts_args_type = "thresholds: NativeThresholdUpdate")]
    pub fn set_thresholds(&mut self, thresholds: Options<NativeThresholdUpdate>) -> Result<()> {
        let Some(update) = thresholds.check("thresholds")? else {
            return Ok(());
        };
        let mut history = self.state.history();
        let next = to_thresholds(history.thresholds(), update)?;
        history.set_thresholds(next);
        Ok(())
    }

    #[napi(catch_unwind)]
    pub fn summary(&self) -> Option<NativeSummary> {
        self.state.history().summary().map(Into::into)
    }

    #[napi(catch_unwind)]
    pub fn prometheus(&self) -> String {
        prometheus_text(&self.state.history())
    }

    /// RSS and the memory available to the process, read now (for `MemoryManager`).
    #[napi(catch_unwind)]
    pub fn process_memory() -> Result<NativeProcessMemory> {
        static SAMPLER: OnceLock<Mutex<Option<SystemSampler>>> = OnceLock::new();
        let cell = SAMPLER.get_or_init(|| Mutex::new(None));
        let mut guard = cell.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(SystemSampler::new()?);
        }
        let sampler = guard.as_mut().expect("initialised above");
        Ok(NativeProcessMemory {
            rss: sampler.rss() as f64,
            available: sampler.available_memory() as f64,
        })
    }
}

impl Drop for NativeMonitor {
    fn drop(&mut self) {
        stop_running(&self.running);
    }
}

#[napi(object)]
pub struct NativeProcessMemory {
    /// Resident set size, bytes.
    pub rss: f64,
    /// Memory available to the process: machine total, or the cgroup limit when lower.
    pub available: f64,
}

/// Some of `MemoryManager`'s thresholds as the caller wrote them.
#[napi(object, object_to_js = false)]
pub struct NativeMemoryThresholdUpdate {
    #[napi(ts_type = "number")]
    pub heap_used: Option<Arg>,
    #[napi(ts_type = "number")]
    pub external: Option<Arg>,
    #[napi(ts_type = "number")]
    pub rss: Option<Arg>,
}

/// The fields of a [`NativeMemoryThresholdUpdate`] that were given, checked.
#[napi(object)]
pub struct NativeMemoryThresholds {
    pub heap_used: Option<f64>,
    pub external: Option<f64>,
    pub rss: Option<f64>,
}

/// Checks an update of `MemoryManager`'s thresholds, each a fraction in (0, 1] as the
/// monitor's are; returns the fields given (none for `undefined`), or the first bad one.
#[napi(
    catch_unwind,
    ts_args_type = "thresholds?: NativeMemoryThresholdUpdate",
    ts_return_type = "NativeMemoryThresholds"
)]
pub fn check_memory_thresholds(
    thresholds: Options<NativeMemoryThresholdUpdate>,
) -> Result<NativeMemoryThresholds> {
    let Some(u) = thresholds.check("thresholds")? else {
        return Ok(NativeMemoryThresholds {
            heap_used: None,
            external: None,
            rss: None,
        });
    };
    Ok(NativeMemoryThresholds {
        heap_used: fraction("thresholds.heapUsed", u.heap_used)?,
        external: fraction("thresholds.external", u.external)?,
        rss: fraction("thresholds.rss", u.rss)?,
    })
}
