'use strict'
// LoadTester: the run methods, their events, and the results of the last test. Options are
// checked and completed natively (src/binding/loadtest/options.rs); a test's timing is the
// native plan's, followed by the JS loop (./closed-run.js, ./open-run.js) for a JS executor and
// by the tokio scheduler for an HTTP target.

const { EventEmitter } = require('node:events')
const fsp = require('node:fs/promises')
const path = require('node:path')
const { performance } = require('node:perf_hooks')

const { makeDir } = require('../dirs.js')
const debug = require('../debug.js')
const { binding } = require('../native.js')
const v = require('../validate.js')
const { JsClosedRun } = require('./closed-run.js')
const { HttpTarget } = require('./http-target.js')
const { JsOpenRun } = require('./open-run.js')
const { RecordSink } = require('./records.js')

const log = debug.createDebug('buildfix:loadtest')

// Most virtual users (or arrival-rate slots) one test may have, from the native core, which
// enforces the same bound: users are made as they start, but this many running at once is
// already a few hundred MB of JS heap.
const MAX_USERS = binding.MAX_USERS
// Largest delay Node timers accept (2^31 - 1 ms); longer ones fire at once.
const MAX_TIMER = 2 ** 31 - 1
const RUNNING_MESSAGE = 'Load test is already running'

function emptyMetrics(users = 0) {
  return new binding.NativeRecorder().metrics(0, users)
}

function abortError(signal) {
  const err = new Error('The load test was aborted')
  err.name = 'AbortError'
  err.code = 'ABORT_ERR'
  if (signal.reason !== undefined) err.cause = signal.reason
  return err
}

function checkSignal(signal) {
  if (signal === undefined) return undefined
  if (signal === null || typeof signal !== 'object' || typeof signal.aborted !== 'boolean') {
    throw v.typeError('options.signal', 'an AbortSignal', signal)
  }
  return signal
}

/** Resolves after `ms`, or at once when `signal` aborts; the timer never outlives the wait. */
function pause(ms, signal) {
  return new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}

/**
 * Reads `(gen, exec, options)` or `(target, options)` from a run method's trailing arguments.
 * Returns {workload, options}.
 */
function workloadArgs(args, offset) {
  const first = args[offset]
  if (first instanceof HttpTarget) {
    return { workload: { http: first }, options: v.optionsObject('options', args[offset + 1]) }
  }
  const gen = v.func('requestGenerator', first)
  const exec = v.func('requestExecutor', args[offset + 1])
  return { workload: { gen, exec }, options: v.optionsObject('options', args[offset + 2]) }
}

class LoadTester extends EventEmitter {
  #config
  #running = false
  #sink = new RecordSink(0)
  #metrics = null

  /**
   * A target for the native HTTP executor: `{url, method?, headers?, body?}`. Pass it to
   * `runTest(target)` (or any run method) instead of a generator and an executor.
   */
  static http(options) {
    return new HttpTarget(options)
  }

  /** Most users (stress steps, spike phases, arrival-rate slots) a test may have. */
  static get MAX_USERS() {
    return MAX_USERS
  }

  constructor(config) {
    super()
    debug.refresh()
    // Checked and completed by the native side; unknown keys are kept as given.
    this.#config = { ...config, ...binding.resolveLoadTestConfig(config) }
  }

  /** The resolved configuration (defaults filled in). */
  get config() {
    return { ...this.#config }
  }

  /**
   * `runTest(requestGenerator, requestExecutor, options?)` or `runTest(httpTarget, options?)`;
   * options: `{signal}`. Resolves with the test's LoadTestMetrics.
   */
  async runTest(...args) {
    const { workload, options } = workloadArgs(args, 0)
    const signal = checkSignal(options.signal)
    return this.#exclusive(async () => {
      this.emit('test-started', { config: this.config })
      log('test started: %d users x %d requests', this.#config.concurrentUsers, this.#config.requestsPerUser)
      const { metrics, elapsed } = await this.#run(this.#config, workload, signal)
      log('test completed in %d ms: %d requests, %d failed', Math.round(elapsed), metrics.totalRequests, metrics.failedRequests)
      this.emit('test-completed', { metrics, duration: elapsed })
      return metrics
    })
  }

  /**
   * Steps of `stepSize` users up to `maxUsers`, each lasting `stepDuration`; stops after a step
   * whose error rate exceeds 10%. Options: `{signal, stepPause}`.
   */
  async runStressTest(maxUsers, stepSize, stepDuration, ...rest) {
    v.number('maxUsers', maxUsers, { min: 1, max: MAX_USERS })
    v.number('stepSize', stepSize, { min: 1, max: MAX_USERS })
    v.number('stepDuration', stepDuration)
    const { workload, options } = workloadArgs(rest, 0)
    const signal = checkSignal(options.signal)
    const stepPause = v.number('options.stepPause', options.stepPause, {
      max: MAX_TIMER,
      fallback: this.#config.stepPause,
    })
    return this.#exclusive(async () => {
      const results = []
      for (let users = stepSize, step = 1; users <= maxUsers; users += stepSize, step++) {
        this.emit('stress-step-started', { users, step })
        const cfg = { ...this.#config, concurrentUsers: users, testDuration: stepDuration }
        const { metrics } = await this.#run(cfg, workload, signal)
        results.push(metrics)
        this.emit('stress-step-completed', { users, metrics })
        if (metrics.errorRate > 0.1) {
          this.emit('stress-test-threshold-reached', { users, errorRate: metrics.errorRate })
          break
        }
        if (users + stepSize <= maxUsers) await this.#pause(stepPause, signal)
      }
      return results
    })
  }

  /** Runs the configured load for `duration`, measured per interval. Options: `{signal, interval}`. */
  async runEnduranceTest(duration, ...rest) {
    v.number('duration', duration, { min: 1 })
    const { workload, options } = workloadArgs(rest, 0)
    const signal = checkSignal(options.signal)
    const interval = v.number('options.interval', options.interval, {
      min: 1,
      fallback: this.#config.enduranceInterval,
    })
    return this.#exclusive(async () => {
      const intervals = Math.ceil(duration / interval)
      this.emit('endurance-test-started', { duration, intervals })
      const results = []
      for (let i = 1; i <= intervals; i++) {
        const length = Math.min(interval, duration - (i - 1) * interval)
        const { metrics } = await this.#run({ ...this.#config, testDuration: length }, workload, signal)
        results.push(metrics)
        this.emit('endurance-interval-completed', { interval: i, metrics })
      }
      return results
    })
  }

  /**
   * A baseline load, a sudden jump to `spikeUsers` (no ramp-up), then the baseline again to
   * watch the recovery; each phase measured. Spec: `{spikeUsers, baselineUsers?,
   * baselineDuration?, spikeDuration?, recoveryDuration?}` (users default to the config's
   * `concurrentUsers`, durations to its `testDuration`). Options: `{signal}`.
   */
  async runSpikeTest(spec, ...rest) {
    const s = v.optionsObject('spec', spec)
    if (s.spikeUsers === undefined) throw v.typeError('spec.spikeUsers', 'a number', undefined)
    const c = this.#config
    const spikeUsers = v.number('spec.spikeUsers', s.spikeUsers, { min: 1, max: MAX_USERS })
    const baselineUsers = v.number('spec.baselineUsers', s.baselineUsers, {
      min: 1,
      max: MAX_USERS,
      fallback: c.concurrentUsers,
    })
    const durations = {
      baseline: v.number('spec.baselineDuration', s.baselineDuration, { fallback: c.testDuration }),
      spike: v.number('spec.spikeDuration', s.spikeDuration, { fallback: c.testDuration }),
      recovery: v.number('spec.recoveryDuration', s.recoveryDuration, { fallback: c.testDuration }),
    }
    const { workload, options } = workloadArgs(rest, 0)
    const signal = checkSignal(options.signal)
    return this.#exclusive(async () => {
      const result = {}
      for (const phase of ['baseline', 'spike', 'recovery']) {
        const users = phase === 'spike' ? spikeUsers : baselineUsers
        this.emit('spike-phase-started', { phase, users })
        const cfg = { ...c, concurrentUsers: users, rampUpTime: 0, testDuration: durations[phase] }
        const { metrics } = await this.#run(cfg, workload, signal)
        result[phase] = metrics
        this.emit('spike-phase-completed', { phase, users, metrics })
      }
      return result
    })
  }

  /**
   * Open model (beyond the original): `rate` requests per second for `duration` ms, at most
   * `maxInFlight` at once (connections, for an HTTP target); each latency is measured from the
   * request's intended send time, so queueing is never hidden (coordinated omission).
   */
  async runArrivalRateTest(spec, ...rest) {
    const open = binding.resolveArrivalSpec(spec, this.#config.concurrentUsers)
    const { workload, options } = workloadArgs(rest, 0)
    const signal = checkSignal(options.signal)
    return this.#exclusive(async () => {
      const config = { ...this.config, ...open }
      this.emit('test-started', { config })
      const { metrics, elapsed } = await this.#run(this.#config, workload, signal, open)
      this.emit('test-completed', { metrics, duration: elapsed })
      return metrics
    })
  }

  /** Runs `work` as the tester's one test: a second test while it runs is refused. */
  async #exclusive(work) {
    if (this.#running) throw new Error(RUNNING_MESSAGE)
    this.#running = true
    try {
      return await work()
    } finally {
      this.#running = false
    }
  }

  async #pause(ms, signal) {
    await pause(ms, signal)
    if (signal?.aborted) throw abortError(signal)
  }

  /** Runs one test of either workload; emits `progress`; rejects with AbortError on abort. */
  async #run(cfg, workload, signal, open) {
    if (signal?.aborted) throw abortError(signal)
    const sink = new RecordSink(cfg.maxRecordedResponses)
    this.#sink = sink
    // The one plan both schedulers follow: when users start, arrivals are due, sending stops.
    const plan = open ? binding.NativePlan.open(open, cfg) : binding.NativePlan.closed(cfg)
    let run
    let outcome
    if (workload.http) {
      const handle = new binding.NativeHttpRun(workload.http.toNative(), plan, cfg.maxRecordedResponses)
      run = { progress: () => handle.progress(), cancel: () => handle.cancel() }
      const origin = performance.now()
      outcome = handle.run().then((r) => {
        sink.keepNative(handle.takeRecords(), origin, Boolean(open))
        if (open) r.metrics.droppedIterations = r.dropped
        return r
      })
    } else {
      run = open ? new JsOpenRun(plan, workload, sink) : new JsClosedRun(plan, workload, sink)
      outcome = run.start()
    }
    const stopProgress = this.#watchProgress(run, cfg.progressInterval)
    const onAbort = () => run.cancel()
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const result = await outcome
      this.#metrics = result.metrics
      if (signal?.aborted) {
        const err = abortError(signal)
        err.metrics = result.metrics
        throw err
      }
      return result
    } finally {
      stopProgress()
      signal?.removeEventListener('abort', onAbort)
    }
  }

  /** `progress` about once per interval: {done, inFlight, rps, p95}; the timer never holds the process. */
  #watchProgress(run, interval) {
    let last = performance.now()
    let lastDone = 0
    const timer = setInterval(() => {
      if (this.listenerCount('progress') === 0) return
      const now = performance.now()
      const p = run.progress()
      const rps = ((p.done - lastDone) * 1000) / Math.max(1, now - last)
      last = now
      lastDone = p.done
      this.emit('progress', { done: p.done, inFlight: p.inFlight, rps, p95: p.p95 })
    }, interval)
    timer.unref()
    return () => clearInterval(timer)
  }

  /** Writes `{config, metrics, responses, userSimulations, timestamp}` as JSON; resolves with the path. */
  async saveResults(filePath) {
    const outputPath = v.string('filePath', filePath) ?? path.join('.load-test-results', `load-test-${Date.now()}.json`)
    const results = {
      config: this.config,
      metrics: this.#metrics ?? emptyMetrics(this.#config.concurrentUsers),
      responses: this.#sink.responses,
      userSimulations: this.getUserSimulations(),
      timestamp: new Date().toISOString(),
    }
    await makeDir(path.dirname(outputPath))
    await fsp.writeFile(outputPath, JSON.stringify(results, null, 2))
    this.emit('results-saved', { path: outputPath })
    return outputPath
  }

  /** The last test's kept per-request records (up to `maxRecordedResponses`). */
  getResponses() {
    return [...this.#sink.responses]
  }

  getUserSimulations() {
    return Array.from(this.#sink.sims.values())
  }

  /** The last test's metrics, or undefined before any test. */
  getMetrics() {
    return this.#metrics ?? undefined
  }

  isTestRunning() {
    return this.#running
  }
}

module.exports = { LoadTester }
