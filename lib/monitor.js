'use strict'
// PerformanceMonitor: the public EventEmitter over the native sampler (src/monitor/).
//
// Division of work: a Rust thread ticks every interval, reads RSS, CPU, load average and the
// memory available to the process, and schedules a probe onto this thread; how late the probe
// runs is the event-loop lag. The probe (below) adds what only V8 knows here — heap figures,
// event-loop utilisation since the previous probe, garbage collections seen by a
// PerformanceObserver — and hands the snapshot back to the native history, which stores it and
// evaluates the thresholds. Nothing here uses a timer, so a started monitor never keeps the
// process alive: the native queue is unref'd and the thread stops at exit.
//
// Waking this thread is the monitor's main cost, so the probe runs every interval only while
// someone listens for 'snapshot-collected'. Otherwise the native thread probes at a slower rate
// (half the event-loop threshold, at most a second apart) and records the ticks in between
// itself, with the V8 figures of the newest probe.

const { EventEmitter } = require('node:events')
const fs = require('node:fs')
const path = require('node:path')
const v8 = require('node:v8')
const { performance, PerformanceObserver } = require('node:perf_hooks')
const { makeDir } = require('./dirs.js')
const { binding } = require('./native.js')
const validate = require('./validate.js')

/** The V8 heap limit: fixed for the life of the isolate, the denominator of `memory`. */
const HEAP_LIMIT = v8.getHeapStatistics().heap_size_limit

/** Positions in the Float64Array handed to the native history (generated from src/binding/monitor.rs). */
const SLOT = binding.MonitorSlot

let tempCounter = 0

/** The public snapshot shape from the typed array the probe filled. */
function snapshotOf(v) {
  return {
    timestamp: v[SLOT.Timestamp],
    memory: {
      used: v[SLOT.Rss],
      total: v[SLOT.Total],
      heapUsed: v[SLOT.HeapUsed],
      heapTotal: v[SLOT.HeapTotal],
      external: v[SLOT.External],
    },
    cpu: { usage: v[SLOT.Cpu], loadAverage: [v[SLOT.Load1], v[SLOT.Load5], v[SLOT.Load15]] },
    eventLoop: { utilization: v[SLOT.Utilization], lag: v[SLOT.Lag] },
    gc: { collections: v[SLOT.GcCollections], duration: v[SLOT.GcDuration] },
  }
}

class PerformanceMonitor extends EventEmitter {
  #native
  /** Bumped on every start/stop so a probe queued before a stop is ignored. */
  #generation = 0
  #monitoring = false
  #elu = null
  #gcObserver = null
  #gcCount = 0
  #gcDuration = 0
  #gcLongest = 0
  /** Refilled on every probe: the snapshot crosses to native as one typed array. */
  #values = new Float64Array(SLOT.Len)
  /** Whether the native thread was told to probe every tick. */
  #everyTick = false

  /**
   * @param {{interval?: number, outputDir?: string}} [options]
   */
  constructor(options) {
    super()
    // The options are checked, and the defaults filled in, natively.
    this.#native = new binding.NativeMonitor(options)
    this.#watchListeners()
  }

  // Keep the probe rate in step with the 'snapshot-collected' listeners. 'newListener' fires
  // before a listener is added, 'removeListener' after it is gone.
  #onNewListener = (event) => {
    if (event === 'snapshot-collected') this.#syncEveryTick(true)
  }
  #onRemoveListener = (event) => {
    if (event === 'snapshot-collected') this.#syncEveryTick(this.listenerCount(event) > 0)
  }

  /** Attaches the two watchers above unless they are attached. */
  #watchListeners() {
    if (!this.listeners('newListener').includes(this.#onNewListener)) this.on('newListener', this.#onNewListener)
    if (!this.listeners('removeListener').includes(this.#onRemoveListener)) this.on('removeListener', this.#onRemoveListener)
  }

  removeAllListeners(...args) {
    super.removeAllListeners(...args)
    // removeAllListeners() (or of 'newListener'/'removeListener') also removed the watchers.
    this.#watchListeners()
    this.#syncEveryTick(this.listenerCount('snapshot-collected') > 0)
    return this
  }

  #syncEveryTick(everyTick) {
    if (everyTick === this.#everyTick) return
    this.#everyTick = everyTick
    this.#native.setEveryTick(everyTick)
  }

  /**
   * How many times the monitor has run on the JS thread (its probes) since it was made: once per
   * interval with a 'snapshot-collected' listener, far less often without.
   */
  get probes() {
    return this.#native.probes
  }

  /** The sampling interval in ms. */
  get interval() {
    return this.#native.interval
  }

  get outputDir() {
    return this.#native.outputDir
  }

  /** Whether monitoring is on. */
  get monitoring() {
    return this.#monitoring
  }

  startMonitoring() {
    if (this.#monitoring) return
    const generation = ++this.#generation
    this.#gcCount = 0
    this.#gcDuration = 0
    this.#gcLongest = 0
    this.#elu = performance.eventLoopUtilization()
    this.#gcObserver = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        this.#gcCount++
        this.#gcDuration += entry.duration
        if (entry.duration > this.#gcLongest) this.#gcLongest = entry.duration
      }
    })
    this.#gcObserver.observe({ entryTypes: ['gc'] })
    try {
      this.#native.start((lag, rss, total, cpu, load1, load5, load15) => this.#probe(generation, lag, rss, total, cpu, load1, load5, load15))
    } catch (err) {
      this.#gcObserver.disconnect()
      this.#gcObserver = null
      throw err
    }
    this.#monitoring = true
    this.emit('monitoring-started')
  }

  stopMonitoring() {
    if (!this.#monitoring) return
    this.#generation++
    this.#native.stop()
    this.#gcObserver.disconnect()
    this.#gcObserver = null
    this.#monitoring = false
    this.emit('monitoring-stopped')
  }

  /**
   * Runs on this thread when the native sampler's probe comes due, with the probe's lag and the
   * sampler's newest readings. This is the monitor's whole cost on the JS thread, so it builds
   * no object unless someone listens for snapshots.
   */
  #probe(generation, lag, rss, total, cpu, load1, load5, load15) {
    if (generation !== this.#generation) return
    const heap = v8.getHeapStatistics()
    const elu = performance.eventLoopUtilization()
    const active = elu.active - this.#elu.active
    const elapsed = active + (elu.idle - this.#elu.idle)
    this.#elu = elu
    const v = this.#values
    v[SLOT.Timestamp] = Date.now()
    v[SLOT.Rss] = rss
    v[SLOT.Total] = total
    v[SLOT.HeapUsed] = heap.used_heap_size
    v[SLOT.HeapTotal] = heap.total_heap_size
    v[SLOT.External] = heap.external_memory
    v[SLOT.Cpu] = cpu
    v[SLOT.Load1] = load1
    v[SLOT.Load5] = load5
    v[SLOT.Load15] = load15
    v[SLOT.Utilization] = elapsed > 0 ? active / elapsed : 0
    v[SLOT.Lag] = lag
    v[SLOT.GcCollections] = this.#gcCount
    v[SLOT.GcDuration] = this.#gcDuration
    v[SLOT.HeapLimit] = HEAP_LIMIT
    v[SLOT.GcLongest] = this.#gcLongest
    const unreported = this.#native.record(v)
    this.#gcLongest = 0
    if (this.#everyTick) this.emit('snapshot-collected', snapshotOf(v))
    if (unreported > 0) {
      for (const alert of this.#native.takeAlerts()) this.emit('alert', alert)
    }
  }

  /**
   * Updates some thresholds. `memory` and `cpu` are fractions in (0, 1]; `eventLoop` and
   * `gcDuration` are ms > 0. A bad value throws and changes nothing.
   */
  setThresholds(thresholds) {
    // Checked natively, all fields before any is applied.
    this.#native.setThresholds(thresholds)
    warnOldEventLoopUnit(thresholds.eventLoop)
  }

  /** The thresholds in force: `{memory, cpu, eventLoop, gcDuration}`. */
  getThresholds() {
    return this.#native.thresholds()
  }

  /** A copy of the snapshot history (oldest first, at most 1000). */
  getSnapshots() {
    return this.#native.snapshots()
  }

  /** A copy of the alert history (oldest first, at most 100). */
  getAlerts() {
    return this.#native.alerts()
  }

  clearSnapshots() {
    this.#native.clearSnapshots()
  }

  clearAlerts() {
    this.#native.clearAlerts()
  }

  /** min/avg/max of the figures in history, or `null` when there are no snapshots. */
  getSummary() {
    return this.#native.summary() ?? null
  }

  /** The newest figures in the Prometheus text exposition format (version 0.0.4). */
  toPrometheus() {
    return this.#native.prometheus()
  }

  /**
   * Writes `{timestamp, snapshots, alerts, thresholds, summary}` as JSON to `filePath` (default
   * `<outputDir>/performance-metrics-<ms>.json`), creating folders; the file appears complete or
   * not at all. Resolves with the absolute path written.
   */
  async exportMetrics(filePath) {
    const target = path.resolve(validate.string('filePath', filePath, undefined) ?? path.join(this.#native.outputDir, `performance-metrics-${Date.now()}.json`))
    const data = {
      timestamp: Date.now(),
      snapshots: this.getSnapshots(),
      alerts: this.getAlerts(),
      thresholds: this.getThresholds(),
      summary: this.getSummary(),
    }
    const temp = `${target}.${process.pid}.${++tempCounter}.tmp`
    try {
      await makeDir(path.dirname(target))
      await fs.promises.writeFile(temp, JSON.stringify(data, null, 2))
      await fs.promises.rename(temp, target)
    } catch (cause) {
      await fs.promises.rm(temp, { force: true }).catch(() => {})
      const err = new Error(`exportMetrics: cannot write ${target}: ${cause.message}`, { cause })
      err.code = cause.code
      err.path = target
      throw err
    }
    this.emit('metrics-exported', { path: target })
    return target
  }
}

// The original's eventLoop threshold was a fraction (default 0.1); it is ms here, the guide's unit.
// A value below 1 ms most likely means the old unit: say so, once per process.
let warnedEventLoopUnit = false
function warnOldEventLoopUnit(ms) {
  if (warnedEventLoopUnit || typeof ms !== 'number' || !(ms < 1)) return
  warnedEventLoopUnit = true
  process.emitWarning(`setThresholds: eventLoop is ${ms} ms; it is in milliseconds (default 100), not the fraction the original module took (0.1)`, {
    type: 'DeprecationWarning',
    code: 'BENCHMARK_EVENTLOOP_UNIT',
  })
}

/** The shared monitor the original module exported. */
const globalPerformanceMonitor = new PerformanceMonitor()

module.exports = { PerformanceMonitor, globalPerformanceMonitor }
