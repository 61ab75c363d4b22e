'use strict'
// LoadTester and LoadTestReporter: the public load-testing surface.
//
// Two executor paths share one accounting core (src/loadtest, exact metrics in bounded memory):
// - a JS executor (the original's `requestExecutor(payload) => Promise`): the per-request loop
//   stays here on the JS thread, where calling a JS function costs nanoseconds, and results
//   cross into Rust in batches of BATCH requests (one crossing per batch, not per request);
// - a native HTTP target (`LoadTester.http({...})`): every request is sent from Rust on tokio,
//   with no JS crossing per request at all.
// See docs/loadtest.md for why and for the measurements.

const { EventEmitter } = require('node:events')
const fsp = require('node:fs/promises')
const path = require('node:path')
const { performance } = require('node:perf_hooks')

const { makeDir } = require('./dirs.js')
const { binding, call, translate } = require('./native.js')
const v = require('./validate.js')

// Most virtual users (or arrival-rate slots) one test may have, from the native core, which
// enforces the same bound: users are made as they start, but this many running at once is
// already a few hundred MB of JS heap.
const MAX_USERS = binding.MAX_USERS

// Largest delay Node timers accept (2^31 - 1 ms); longer ones fire at once.
const MAX_TIMER = 2 ** 31 - 1
// Results per native crossing: large enough to make the crossing negligible (<0.1 µs per
// request), small enough that progress and the final flush stay cheap.
const BATCH = 1024
// Longest stretch, ms, the JS-executor loop runs before the event loop gets a turn (timers, I/O,
// abort): at most one setImmediate per slice, so the cost is about 1 µs per 5 ms of work, and an
// abort or a timer waits at most about one slice.
const SLICE_MS = 5
const TIMEOUT_MESSAGE = 'Request timeout'
const RUNNING_MESSAGE = 'Load test is already running'

// Defaults of the options beyond the original's six (see docs/loadtest.md).
const DEFAULTS = {
  rampUpTime: 0,
  testDuration: Number.MAX_SAFE_INTEGER,
  thinkTime: 0,
  timeout: 30000,
  maxRecordedResponses: 10000,
  stepPause: 5000,
  enduranceInterval: 60000,
  progressInterval: 1000,
}

function resolveConfig(config) {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw v.typeError('config', 'an object with concurrentUsers and requestsPerUser', config)
  }
  const c = config
  if (c.concurrentUsers === undefined) throw v.typeError('concurrentUsers', 'a number', undefined)
  if (c.requestsPerUser === undefined) throw v.typeError('requestsPerUser', 'a number', undefined)
  return {
    ...c,
    concurrentUsers: v.number('concurrentUsers', c.concurrentUsers, { min: 1, max: MAX_USERS }),
    requestsPerUser: v.number('requestsPerUser', c.requestsPerUser),
    rampUpTime: v.number('rampUpTime', c.rampUpTime, { max: MAX_TIMER, fallback: DEFAULTS.rampUpTime }),
    testDuration: v.number('testDuration', c.testDuration, { fallback: DEFAULTS.testDuration }),
    thinkTime: v.number('thinkTime', c.thinkTime, { max: MAX_TIMER, fallback: DEFAULTS.thinkTime }),
    timeout: v.number('timeout', c.timeout, { min: 1, max: MAX_TIMER, fallback: DEFAULTS.timeout }),
    maxRecordedResponses: v.number('maxRecordedResponses', c.maxRecordedResponses, {
      fallback: DEFAULTS.maxRecordedResponses,
    }),
    stepPause: v.number('stepPause', c.stepPause, { max: MAX_TIMER, fallback: DEFAULTS.stepPause }),
    enduranceInterval: v.number('enduranceInterval', c.enduranceInterval, {
      min: 1,
      fallback: DEFAULTS.enduranceInterval,
    }),
    progressInterval: v.number('progressInterval', c.progressInterval, {
      min: 1,
      max: MAX_TIMER,
      fallback: DEFAULTS.progressInterval,
    }),
  }
}

function emptyMetrics(users = 0) {
  return call(() => new binding.NativeRecorder().metrics(0, users))
}

function errorMessage(err) {
  if (err instanceof Error) return err.message
  try {
    return String(err)
  } catch {
    return 'non-printable error'
  }
}

/** JSON length of a result, the original's response size; 0 for what JSON cannot encode. */
function sizeOf(value) {
  if (value === undefined) return 0
  try {
    const json = JSON.stringify(value)
    return json === undefined ? 0 : json.length
  } catch {
    return 0
  }
}

function isThenable(p) {
  return p !== null && (typeof p === 'object' || typeof p === 'function') && typeof p.then === 'function'
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
 * A target for the native HTTP executor, made by `LoadTester.http()`. The request is built once
 * and sent from Rust; pass it to any run method in place of the generator and executor.
 */
class HttpTarget {
  constructor(options) {
    const o = v.optionsObject('options', options)
    const url = v.string('url', o.url)
    if (url === undefined) throw v.typeError('url', 'a string such as "http://127.0.0.1:8080/"', url)
    // WHATWG URL parsing refuses what no client could send to (`http://a b/`, `http://a<b/`);
    // the native side checks the host again and says what it supports (http://, no credentials).
    if (!URL.canParse(url)) throw v.typeError('url', 'a valid URL such as "http://127.0.0.1:8080/"', url)
    const method = v.string('method', o.method, o.body === undefined ? 'GET' : 'POST')
    const headers = {}
    if (o.headers !== undefined) {
      for (const [name, value] of Object.entries(v.optionsObject('headers', o.headers))) {
        if (typeof value !== 'string' && typeof value !== 'number') {
          throw v.typeError(`headers[${JSON.stringify(name)}]`, 'a string or number', value)
        }
        headers[name] = String(value)
      }
    }
    let body
    if (typeof o.body === 'string') body = o.body
    else if (o.body instanceof Uint8Array) body = Buffer.from(o.body) // a copy: later edits do not leak in
    else if (o.body !== undefined) {
      body = JSON.stringify(o.body)
      if (body === undefined) throw v.typeError('body', 'a string, Buffer or JSON-serialisable value', o.body)
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
        headers['Content-Type'] = 'application/json'
      }
    }
    this.url = url
    this.method = method
    this.headers = headers
    this.body = body
    // Validated now, so a bad URL fails where it was written rather than when a test starts.
    const nothing = { concurrentUsers: 1, requestsPerUser: 0, rampUpTime: 0, testDuration: 0, thinkTime: 0, timeout: 1, maxRecordedResponses: 0 }
    call(() => binding.NativeHttpRun.closed(this.#native(), closedOptions(nothing)))
    Object.freeze(this)
  }

  #native() {
    const body = typeof this.body === 'string' ? Buffer.from(this.body, 'utf8') : this.body
    return { url: this.url, method: this.method, headers: this.headers, body }
  }

  /** @internal */
  toNative() {
    return this.#native()
  }
}

function closedOptions(c) {
  return {
    concurrentUsers: c.concurrentUsers,
    requestsPerUser: c.requestsPerUser,
    rampUpTime: c.rampUpTime,
    testDuration: c.testDuration,
    thinkTime: c.thinkTime,
    timeout: c.timeout,
    maxRecords: c.maxRecordedResponses,
  }
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

/** One virtual user (or arrival-rate slot): a plain record with a fixed shape. */
class User {
  constructor(id, sim) {
    this.id = id
    this.n = 0 // requests sent
    this.gen = 0 // bumped when a request is abandoned, so its late settlement is ignored
    this.busy = false
    this.done = false
    this.start = 0
    this.requestId = ''
    this.payload = undefined
    this.timer = null // timeout timer, made at the first pending request and re-armed after
    this.thinkTimer = null
    this.onOk = null // settle callbacks of the current generation, made at the first pending request
    this.onErr = null
    this.sim = sim
  }
}

// Timer callbacks shared by every user (the user rides along as an argument: no closure each).
function resumeUser(run, u) {
  run.next(u, false)
}

function timeoutUser(run, u) {
  run.onTimeout(u)
}

/**
 * What the JS-executor runs share: the batch into the native recorder, the virtual users (small
 * state machines driven by their own promise callbacks: no async function, no Promise.race and no
 * new timer per request), and the slices that keep the event loop turning.
 *
 * Slices: a synchronous or already-resolved executor continues in microtasks, which run before
 * any timer, I/O callback or abort listener, so a loop made only of them would hold the JS
 * thread until the test ends. Every continuation therefore checks how long the current slice has
 * run; past SLICE_MS it is parked and an immediate (a macrotask: timers and I/O run first) resumes
 * the parked work in order, each part at least one step, so every slice makes progress.
 *
 * Users exist only while they run: a user object is made when the user starts and dropped when it
 * ends, so memory follows what runs at once, not the configured user count.
 */
class JsRun {
  constructor(cfg, workload, sink) {
    this.cfg = cfg
    this.gen = workload.gen
    this.exec = workload.exec
    this.sink = sink
    this.recorder = new binding.NativeRecorder()
    this.batch = new Float64Array(BATCH * 2)
    this.batchLen = 0
    this.inFlight = 0
    this.stopped = false
    this.finished = false
    this.timed = new Set() // users holding a timer: cleared when the run ends
    this.ready = [] // users whose synchronous result continues in the next microtask
    this.runReady = () => this.onReady()
    this.parked = []
    this.parkedHead = 0
    this.immediate = null
    this.sliceStart = 0
    this.resumeParked = () => this.onImmediate()
  }

  flush() {
    if (this.batchLen > 0) {
      this.recorder.addBatch(this.batch, this.batchLen)
      this.batchLen = 0
    }
  }

  progress() {
    this.flush()
    return { done: this.recorder.total(), inFlight: this.inFlight, p95: this.recorder.percentile(0.95) }
  }

  /** Continues `u` in a microtask (one microtask for every user that became ready meanwhile). */
  later(u) {
    if (this.ready.length === 0) queueMicrotask(this.runReady)
    this.ready.push(u)
  }

  onReady() {
    const q = this.ready
    this.ready = []
    for (let i = 0; i < q.length; i++) this.next(q[i], false)
  }

  /** True once the current slice has run SLICE_MS: the caller parks its work. */
  sliceUsed(now) {
    return now - this.sliceStart >= SLICE_MS
  }

  /** Runs `u`'s next step from the immediate that ends the current slice. */
  park(u) {
    this.parked.push(u)
    this.wake()
  }

  wake() {
    if (this.immediate === null && !this.stopped) this.immediate = setImmediate(this.resumeParked)
  }

  onImmediate() {
    this.immediate = null
    this.sliceStart = performance.now()
    this.resume() // the run's own parked work (starting users, dispatching arrivals)
    const q = this.parked
    let i = this.parkedHead
    while (i < q.length && !this.stopped) {
      const u = q[i++]
      this.next(u, true)
      if (this.sliceUsed(performance.now())) break
    }
    if (i >= q.length) {
      this.parked = []
      this.parkedHead = 0
    } else {
      // Dropping the done part only when it is most of the array keeps this O(1) per user.
      if (i > 1024 && i * 2 > q.length) {
        this.parked = q.slice(i)
        i = 0
      }
      this.parkedHead = i
      this.wake()
    }
  }

  makeUser(id) {
    return new User(id, this.sink.simulation(id, performance.now()))
  }

  /** Fresh settle callbacks for the user's current generation (one pair until a timeout). */
  handlers(u) {
    const gen = u.gen
    u.onOk = (value) => {
      if (u.gen === gen) this.settle(u, true, value)
    }
    u.onErr = (err) => {
      if (u.gen === gen) this.settle(u, false, err)
    }
  }

  /**
   * Calls the generator and the executor for `u`'s current request. Returns true when the
   * result came synchronously (recorded already); false when it is pending on a promise.
   */
  send(u) {
    let p
    try {
      u.payload = this.gen(u.id, u.requestId)
      p = this.exec(u.payload)
    } catch (err) {
      this.record(u, false, errorMessage(err), 0)
      return true
    }
    if (!isThenable(p)) {
      this.record(u, true, undefined, sizeOf(p))
      return true
    }
    u.busy = true
    this.inFlight++
    if (u.onOk === null) this.handlers(u)
    // One timer per user, re-armed when a request is sent (the timeout counts from the send).
    if (u.timer === null) {
      u.timer = setTimeout(timeoutUser, this.cfg.timeout, this, u)
      this.timed.add(u)
    } else u.timer.refresh()
    try {
      p.then(u.onOk, u.onErr)
    } catch (err) {
      this.settle(u, false, err)
    }
    return false
  }

  settle(u, ok, value) {
    if (!u.busy || this.stopped) return
    u.busy = false
    this.inFlight--
    if (ok) this.record(u, true, undefined, sizeOf(value))
    else this.record(u, false, errorMessage(value), 0)
    this.settled(u)
  }

  onTimeout(u) {
    // The timer was re-armed when the current request started, so firing while it is still
    // pending means it has run for at least `timeout`.
    if (!u.busy || this.stopped) return
    u.busy = false
    this.inFlight--
    u.gen++
    this.handlers(u) // the abandoned request's late settlement is ignored
    this.record(u, false, TIMEOUT_MESSAGE, 0)
    this.settled(u)
  }

  record(u, ok, error, size) {
    const end = performance.now()
    const duration = end - u.start
    const b = this.batch
    b[this.batchLen++] = duration
    b[this.batchLen++] = ok ? size : -1
    if (this.batchLen === b.length) this.flush()
    this.sink.keep(u.sim, u.id, u.requestId, u.payload, u.start, end, ok, error, size)
    u.payload = undefined // kept in the records if at all, not by the user
    u.requestId = ''
  }

  /** Clears the user's timers. */
  release(u) {
    if (u.timer !== null) clearTimeout(u.timer)
    if (u.thinkTimer !== null) clearTimeout(u.thinkTimer)
    u.timer = null
    u.thinkTimer = null
    this.timed.delete(u)
  }

  finish() {
    if (this.finished) return
    this.finished = true
    this.stopTimers()
    for (const u of this.timed) this.release(u)
    this.flush()
    const elapsed = performance.now() - this.origin
    const result = { elapsed, metrics: this.recorder.metrics(elapsed, this.users()) }
    this.done(result)
    this.resolve(result)
  }

  stopTimers() {
    if (this.immediate !== null) clearImmediate(this.immediate)
    this.immediate = null
    this.parked = []
    this.parkedHead = 0
  }

  /** Stops sending: pending requests are abandoned, every timer is cleared, the run resolves. */
  cancel() {
    if (this.finished) return
    this.stopped = true // every callback still to come sees it and does nothing
    this.inFlight = 0
    this.finish()
  }

  done() {}
}

/**
 * The closed model: user `id` (1-based) starts at `(id - 1) * rampUpTime / concurrentUsers`,
 * sends its requests one after another, and nothing new is sent after `testDuration`.
 */
class JsClosedRun extends JsRun {
  start() {
    return new Promise((resolve) => {
      this.resolve = resolve
      this.origin = performance.now()
      this.sliceStart = this.origin
      this.deadline = this.origin + this.cfg.testDuration
      this.nextId = 1
      this.active = 0
      this.rampTimer = null
      this.startParked = false
      this.startDue(true)
    })
  }

  users() {
    return this.cfg.concurrentUsers
  }

  /** Ramp-up offset of user `id`, ms from the start (the original's spacing). */
  offsetOf(id) {
    return (this.cfg.rampUpTime * (id - 1)) / this.cfg.concurrentUsers
  }

  resume() {
    if (this.startParked) {
      this.startParked = false
      this.startDue(true)
    }
  }

  /** Starts every user whose time has come, a slice at a time; arms a timer for the next one. */
  startDue(fromImmediate) {
    this.rampTimer = null
    const { concurrentUsers: n, testDuration } = this.cfg
    let first = fromImmediate
    while (this.nextId <= n && !this.stopped) {
      const offset = this.offsetOf(this.nextId)
      const now = performance.now()
      // A user due after the cut-off (or started only after it) would send nothing: none of the
      // remaining users start.
      if (offset >= testDuration || now >= this.deadline) {
        this.nextId = n + 1
        break
      }
      const wait = this.origin + offset - now
      if (wait > 0) {
        this.rampTimer = setTimeout(() => this.startDue(false), Math.max(1, wait))
        return
      }
      if (!first && this.sliceUsed(now)) {
        this.startParked = true
        this.wake()
        return
      }
      first = false
      const u = this.makeUser(this.nextId++)
      this.active++
      this.next(u, true)
    }
    if (this.active === 0) this.finish()
  }

  /**
   * Sends the user's next request, or ends the user. A synchronous result (or throw) continues
   * in a microtask, as the original's `await` did, so users interleave and one user with a
   * synchronous executor cannot take the whole test duration for itself; past the slice, the
   * continuation waits for the next turn of the event loop.
   */
  next(u, fromImmediate) {
    if (this.stopped || u.done) return
    const now = performance.now()
    if (u.n >= this.cfg.requestsPerUser || now >= this.deadline) return this.endUser(u)
    if (!fromImmediate && this.sliceUsed(now)) return this.park(u)
    const n = u.n++
    u.requestId = `user-${u.id}-req-${n}`
    u.payload = undefined
    u.start = now
    if (this.send(u) && !this.think(u)) this.later(u)
  }

  settled(u) {
    if (!this.think(u)) this.next(u, false)
  }

  /** Starts the think pause; true if the user is now waiting (or has ended). */
  think(u) {
    const { thinkTime, requestsPerUser } = this.cfg
    if (thinkTime === 0 || u.n >= requestsPerUser) return false
    if (performance.now() + thinkTime >= this.deadline) {
      // Nothing may be sent after the cut-off, so the pause could only end the user.
      this.endUser(u)
      return true
    }
    // Back to back, the timeout timer is re-armed for the next request at once; across a pause
    // it is cleared, so it never outlives its request by more than a synchronous step.
    if (u.timer !== null) {
      clearTimeout(u.timer)
      u.timer = null
    }
    if (u.thinkTimer === null) {
      u.thinkTimer = setTimeout(resumeUser, thinkTime, this, u)
      this.timed.add(u)
    } else u.thinkTimer.refresh()
    return true
  }

  endUser(u) {
    if (u.done) return
    u.done = true
    this.release(u)
    if (u.sim) u.sim.endTime = performance.now()
    if (--this.active === 0 && this.nextId > this.cfg.concurrentUsers) this.finish()
  }

  stopTimers() {
    super.stopTimers()
    if (this.rampTimer) clearTimeout(this.rampTimer)
    this.rampTimer = null
  }
}

/**
 * The open model: arrival `i` is due at `i / rate` s and is sent by a free slot (at most
 * `maxInFlight` at once, made only when all others are busy); its latency counts from the due
 * time, so waiting for a slot shows. Nothing starts once `duration` has passed: the arrivals
 * left are counted as dropped (k6's `dropped_iterations`), so the duration bounds the run.
 */
class JsOpenRun extends JsRun {
  constructor(cfg, workload, sink, open) {
    super(cfg, workload, sink)
    this.open = open
  }

  start() {
    return new Promise((resolve) => {
      this.resolve = resolve
      this.origin = performance.now()
      this.sliceStart = this.origin
      const { rate, duration } = this.open
      this.end = this.origin + duration
      this.total = Math.floor((rate * duration) / 1000)
      this.period = 1000 / rate
      this.nextIndex = 0
      this.closedArrivals = false
      this.idle = []
      this.made = 0
      this.dispatchTimer = null
      this.dispatchParked = false
      this.dispatch(true)
    })
  }

  users() {
    return this.open.maxInFlight
  }

  resume() {
    if (this.dispatchParked) {
      this.dispatchParked = false
      this.dispatch(true)
    }
  }

  /** Sends every due arrival a slot is free for, a slice at a time. */
  dispatch(fromImmediate) {
    if (this.stopped || this.dispatchParked) return
    if (this.dispatchTimer !== null) {
      clearTimeout(this.dispatchTimer)
      this.dispatchTimer = null
    }
    let first = fromImmediate
    while (!this.closedArrivals) {
      if (this.nextIndex >= this.total) {
        this.closedArrivals = true
        break
      }
      const now = performance.now()
      if (now >= this.end) {
        this.closedArrivals = true // what is left could not start in time: dropped
        break
      }
      const due = this.origin + this.nextIndex * this.period
      if (due - now >= 1) {
        this.dispatchTimer = setTimeout(() => this.dispatch(false), due - now)
        return
      }
      if (this.idle.length === 0 && this.made >= this.open.maxInFlight) return // a settle resumes
      if (!first && this.sliceUsed(now)) {
        this.dispatchParked = true
        this.wake()
        return
      }
      first = false
      const u = this.idle.pop() ?? this.makeUser(++this.made)
      const index = this.nextIndex++
      u.requestId = `req-${index}`
      u.payload = undefined
      u.start = due // latency from the intended time: queueing behind busy slots counts
      if (this.send(u)) this.idle.push(u)
    }
    if (this.inFlight === 0) this.finish()
  }

  settled(u) {
    this.idle.push(u)
    this.dispatch(false)
  }

  next() {}

  stopTimers() {
    super.stopTimers()
    if (this.dispatchTimer !== null) clearTimeout(this.dispatchTimer)
    this.dispatchTimer = null
  }

  done(result) {
    const elapsed = Math.min(result.elapsed, this.open.duration)
    // Arrivals due by the end (all of them, unless aborted) that never started.
    const due = this.stopped ? Math.min(this.total, Math.floor(elapsed / this.period) + 1) : this.total
    result.metrics.droppedIterations = Math.max(0, due - this.nextIndex)
    for (const u of this.idle) if (u.sim) u.sim.endTime = performance.now()
  }
}

/**
 * Keeps per-request records up to the cap, and the simulations of the first users to start, up
 * to the same cap: both stay bounded whatever the user count.
 */
class RecordSink {
  constructor(max) {
    this.max = max
    this.responses = []
    this.sims = new Map()
  }

  /** The user's simulation record, or null once `max` users have one. */
  simulation(userId, startTime = 0) {
    let sim = this.sims.get(userId)
    if (!sim) {
      if (this.sims.size >= this.max) return null
      sim = { userId, requests: [], responses: [], startTime, endTime: 0 }
      this.sims.set(userId, sim)
    }
    return sim
  }

  keep(sim, userId, requestId, payload, start, end, ok, error, size) {
    if (this.responses.length >= this.max) return
    const response = { requestId, userId, startTime: start, endTime: end, duration: end - start, success: ok }
    if (ok) response.responseSize = size
    else response.error = error
    this.responses.push(response)
    if (sim) {
      sim.requests.push({ id: requestId, userId, timestamp: start, payload })
      sim.responses.push(response)
    }
  }

  /** Adds the records a native run kept, shifted to this process's performance clock. */
  keepNative(records, origin, open) {
    for (const r of records) {
      const sim = this.simulation(r.userId)
      const requestId = open ? `req-${r.seq}` : `user-${r.userId}-req-${r.seq}`
      const start = origin + r.startTime
      const end = origin + r.endTime
      if (sim) {
        if (!sim.startTime || start < sim.startTime) sim.startTime = start
        if (end > sim.endTime) sim.endTime = end
      }
      if (this.responses.length >= this.max) continue
      const response = { requestId, userId: r.userId, startTime: start, endTime: end, duration: end - start, success: r.success }
      if (r.statusCode != null) response.statusCode = r.statusCode
      if (r.success) response.responseSize = r.responseSize
      else response.error = r.error
      this.responses.push(response)
      if (sim) {
        sim.requests.push({ id: requestId, userId: r.userId, timestamp: start, payload: null })
        sim.responses.push(response)
      }
    }
  }
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
    this.#config = resolveConfig(config)
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
      const { metrics, elapsed } = await this.#run(this.#config, workload, signal)
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
    const s = v.optionsObject('spec', spec)
    if (s.rate === undefined) throw v.typeError('spec.rate', 'a number', undefined)
    if (s.duration === undefined) throw v.typeError('spec.duration', 'a number', undefined)
    const open = {
      rate: v.number('spec.rate', s.rate, { min: Number.MIN_VALUE, integer: false }),
      duration: v.number('spec.duration', s.duration),
      maxInFlight: v.number('spec.maxInFlight', s.maxInFlight, {
        min: 1,
        max: MAX_USERS,
        fallback: this.#config.concurrentUsers,
      }),
    }
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
    let run
    let origin
    let outcome
    if (workload.http) {
      const native = workload.http.toNative()
      const handle = open
        ? call(() =>
            binding.NativeHttpRun.open(native, {
              rate: open.rate,
              duration: open.duration,
              connections: open.maxInFlight,
              timeout: cfg.timeout,
              maxRecords: cfg.maxRecordedResponses,
            }),
          )
        : call(() => binding.NativeHttpRun.closed(native, closedOptions(cfg)))
      run = { progress: () => handle.progress(), cancel: () => handle.cancel() }
      origin = performance.now()
      outcome = handle.run().catch((err) => {
        throw translate(err)
      })
      outcome = outcome.then((r) => {
        sink.keepNative(handle.takeRecords(), origin, Boolean(open))
        if (open) r.metrics.droppedIterations = r.dropped
        return r
      })
    } else {
      run = open ? new JsOpenRun(cfg, workload, sink, open) : new JsClosedRun(cfg, workload, sink)
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
    const outputPath =
      v.string('filePath', filePath) ?? path.join('.load-test-results', `load-test-${Date.now()}.json`)
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

function fixed(n, digits) {
  return (Number.isFinite(n) ? n : 0).toFixed(digits)
}

function percentOf(part, total) {
  return total > 0 ? fixed((part / total) * 100, 1) : fixed(0, 1)
}

function checkMetrics(name, m) {
  if (m === null || typeof m !== 'object') throw v.typeError(name, 'a LoadTestMetrics object', m)
  return m
}

class LoadTestReporter {
  /** A text report with the original's sections, labels and assessment thresholds. */
  static generateReport(metrics) {
    const m = checkMetrics('metrics', metrics)
    return `
Load Test Report
================

Test Configuration:
- Concurrent Users: ${m.concurrentUsers}
- Test Duration: ${fixed(m.testDuration / 1000, 2)}s
- Total Requests: ${m.totalRequests}

Results:
- Successful Requests: ${m.successfulRequests} (${percentOf(m.successfulRequests, m.totalRequests)}%)
- Failed Requests: ${m.failedRequests} (${percentOf(m.failedRequests, m.totalRequests)}%)
- Error Rate: ${fixed(m.errorRate * 100, 2)}%

Performance Metrics:
- Average Response Time: ${fixed(m.averageResponseTime, 2)}ms
- Min Response Time: ${fixed(m.minResponseTime, 2)}ms
- Max Response Time: ${fixed(m.maxResponseTime, 2)}ms
- 50th Percentile: ${fixed(m.p50ResponseTime, 2)}ms
- 95th Percentile: ${fixed(m.p95ResponseTime, 2)}ms
- 99th Percentile: ${fixed(m.p99ResponseTime, 2)}ms

Throughput:
- Requests per Second: ${fixed(m.requestsPerSecond, 2)}
- Errors per Second: ${fixed(m.errorsPerSecond, 2)}
- Data Throughput: ${fixed(m.throughput / 1024, 2)} KB/s

Performance Assessment:
${LoadTestReporter.assess(m)}`.trim()
  }

  /** The assessment lines (thresholds from API.md). */
  static assess(m) {
    const lines = []
    if (m.errorRate > 0.05) lines.push('❌ High error rate detected')
    else if (m.errorRate > 0.01) lines.push('⚠️  Moderate error rate')
    else lines.push('✅ Low error rate')

    if (m.averageResponseTime > 5000) lines.push('❌ Very slow response times')
    else if (m.averageResponseTime > 2000) lines.push('⚠️  Slow response times')
    else if (m.averageResponseTime > 1000) lines.push('🟡 Moderate response times')
    else lines.push('✅ Fast response times')

    if (m.p95ResponseTime > 10000) lines.push('❌ Poor 95th percentile performance')
    else if (m.p95ResponseTime > 5000) lines.push('⚠️  Moderate 95th percentile performance')
    else lines.push('✅ Good 95th percentile performance')

    if (m.requestsPerSecond < 10) lines.push('❌ Low throughput')
    else if (m.requestsPerSecond < 50) lines.push('🟡 Moderate throughput')
    else lines.push('✅ High throughput')
    return lines.join('\n')
  }

  /** A Markdown table of several results and the best-throughput / best-response-time rows. */
  static generateComparisonReport(results) {
    if (!Array.isArray(results)) throw v.typeError('results', 'an array of LoadTestMetrics', results)
    if (results.length === 0) return 'No results to compare'
    results.forEach((r, i) => checkMetrics(`results[${i}]`, r))
    let report = 'Load Test Comparison Report\n============================\n\n'
    report += '| Users | RPS (req/s) | Avg Time (ms) | 95th %ile (ms) | Error Rate |\n'
    report += '|-------|------------|---------------|----------------|------------|\n'
    for (const r of results) {
      report += `| ${r.concurrentUsers} | ${fixed(r.requestsPerSecond, 1)} | ${fixed(r.averageResponseTime, 1)} | ${fixed(r.p95ResponseTime, 1)} | ${fixed(r.errorRate * 100, 1)}% |\n`
    }
    const best = (better) => results.reduce((b, r) => (better(r, b) ? r : b))
    const fastest = best((r, b) => r.requestsPerSecond > b.requestsPerSecond)
    const quickest = best((r, b) => r.averageResponseTime < b.averageResponseTime)
    report += '\nPerformance Summary:\n'
    report += `- Best Throughput: ${fastest.concurrentUsers} users (${fixed(fastest.requestsPerSecond, 1)} req/s)\n`
    report += `- Best Response Time: ${quickest.concurrentUsers} users (${fixed(quickest.averageResponseTime, 1)}ms avg)\n`
    return report
  }
}

module.exports = { LoadTester, LoadTestReporter, HttpTarget }
