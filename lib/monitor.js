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

const { EventEmitter } = require('node:events')
const fs = require('node:fs')
const path = require('node:path')
const v8 = require('node:v8')
const { performance, PerformanceObserver } = require('node:perf_hooks')
const { makeDir } = require('./dirs.js')
const { binding, call } = require('./native.js')
const validate = require('./validate.js')

/** The V8 heap limit: fixed for the life of the isolate, the denominator of `memory`. */
const HEAP_LIMIT = v8.getHeapStatistics().heap_size_limit

const THRESHOLD_KEYS = ['memory', 'cpu', 'eventLoop', 'gcDuration']

/** Positions in the Float64Array handed to the native history (mirrors `slot` in src/binding/monitor.rs). */
const SLOT = {
  TIMESTAMP: 0,
  RSS: 1,
  TOTAL: 2,
  HEAP_USED: 3,
  HEAP_TOTAL: 4,
  EXTERNAL: 5,
  CPU: 6,
  LOAD: 7, // 7, 8, 9
  UTILIZATION: 10,
  LAG: 11,
  GC_COLLECTIONS: 12,
  GC_DURATION: 13,
  HEAP_LIMIT: 14,
  GC_LONGEST: 15,
  LEN: 16,
}

let tempCounter = 0

/** The public snapshot shape from the typed array the probe filled. */
function snapshotOf(v) {
  return {
    timestamp: v[SLOT.TIMESTAMP],
    memory: {
      used: v[SLOT.RSS],
      total: v[SLOT.TOTAL],
      heapUsed: v[SLOT.HEAP_USED],
      heapTotal: v[SLOT.HEAP_TOTAL],
      external: v[SLOT.EXTERNAL],
    },
    cpu: { usage: v[SLOT.CPU], loadAverage: [v[SLOT.LOAD], v[SLOT.LOAD + 1], v[SLOT.LOAD + 2]] },
    eventLoop: { utilization: v[SLOT.UTILIZATION], lag: v[SLOT.LAG] },
    gc: { collections: v[SLOT.GC_COLLECTIONS], duration: v[SLOT.GC_DURATION] },
  }
}

class PerformanceMonitor extends EventEmitter {
  #native = new binding.NativeMonitor()
  #interval
  #outputDir
  /** Bumped on every start/stop so a probe queued before a stop is ignored. */
  #generation = 0
  #monitoring = false
  #elu = null
  #gcObserver = null
  #gcCount = 0
  #gcDuration = 0
  #gcLongest = 0
  /** Refilled on every probe: the snapshot crosses to native as one typed array. */
  #values = new Float64Array(SLOT.LEN)

  /**
   * @param {{interval?: number, outputDir?: string}} [options]
   */
  constructor(options) {
    super()
    const o = validate.optionsObject('options', options)
    this.#interval = validate.number('interval', o.interval, {
      min: 1,
      max: 2 ** 31 - 1,
      integer: false,
      fallback: 1000,
    })
    this.#outputDir = validate.string('outputDir', o.outputDir, '.performance-metrics')
  }

  /** The sampling interval in ms. */
  get interval() {
    return this.#interval
  }

  get outputDir() {
    return this.#outputDir
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
      call(() =>
        this.#native.start(this.#interval, (lag, rss, total, cpu, load1, load5, load15) =>
          this.#probe(generation, lag, rss, total, cpu, load1, load5, load15),
        ),
      )
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
    v[SLOT.TIMESTAMP] = Date.now()
    v[SLOT.RSS] = rss
    v[SLOT.TOTAL] = total
    v[SLOT.HEAP_USED] = heap.used_heap_size
    v[SLOT.HEAP_TOTAL] = heap.total_heap_size
    v[SLOT.EXTERNAL] = heap.external_memory
    v[SLOT.CPU] = cpu
    v[SLOT.LOAD] = load1
    v[SLOT.LOAD + 1] = load5
    v[SLOT.LOAD + 2] = load15
    v[SLOT.UTILIZATION] = elapsed > 0 ? active / elapsed : 0
    v[SLOT.LAG] = lag
    v[SLOT.GC_COLLECTIONS] = this.#gcCount
    v[SLOT.GC_DURATION] = this.#gcDuration
    v[SLOT.HEAP_LIMIT] = HEAP_LIMIT
    v[SLOT.GC_LONGEST] = this.#gcLongest
    const raised = this.#native.record(v)
    this.#gcLongest = 0
    if (this.listenerCount('snapshot-collected') > 0) this.emit('snapshot-collected', snapshotOf(v))
    if (raised > 0) {
      for (const alert of this.#native.recentAlerts(raised)) this.emit('alert', alert)
    }
  }

  /**
   * Updates some thresholds. `memory` and `cpu` are fractions in (0, 1]; `eventLoop` and
   * `gcDuration` are ms > 0. A bad value throws and changes nothing.
   */
  setThresholds(thresholds) {
    const t = validate.optionsObject('thresholds', thresholds)
    const update = {}
    for (const key of THRESHOLD_KEYS) {
      if (t[key] === undefined) continue
      if (typeof t[key] !== 'number') throw validate.typeError(`thresholds.${key}`, 'a number', t[key])
      update[key] = t[key]
    }
    // Ranges are checked natively, all fields before any is applied.
    call(() => this.#native.setThresholds(update))
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
    const target = path.resolve(
      validate.string('filePath', filePath, undefined) ??
        path.join(this.#outputDir, `performance-metrics-${Date.now()}.json`),
    )
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

/** The shared monitor the original module exported. */
const globalPerformanceMonitor = new PerformanceMonitor()

module.exports = { PerformanceMonitor, globalPerformanceMonitor }
