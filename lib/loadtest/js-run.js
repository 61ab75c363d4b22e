'use strict'
// What the JS-executor runs share: the batch into the native recorder, the virtual users (small
// state machines driven by their own promise callbacks: no async function, no Promise.race and no
// new timer per request), the slices that keep the event loop turning, and the plan's times read
// in batches. When users start, arrivals are due and sending stops is the native plan's
// (src/loadtest/plan.rs), the same one the native scheduler follows.

const { performance } = require('node:perf_hooks')

const { binding } = require('../native.js')

// Results (and plan times) per native crossing: large enough to make the crossing negligible
// (<0.1 µs per request), small enough that progress and the final flush stay cheap.
const BATCH = 1024
// Longest stretch, ms, the JS-executor loop runs before the event loop gets a turn (timers, I/O,
// abort): at most one setImmediate per slice, so the cost is about 1 µs per 5 ms of work, and an
// abort or a timer waits at most about one slice.
const SLICE_MS = 5
const TIMEOUT_MESSAGE = 'Request timeout'

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

/** The plan's start or due times, fetched BATCH at a time: one crossing per batch, not per user. */
class PlanTimes {
  constructor(plan) {
    this.plan = plan
    this.buf = new Float64Array(BATCH)
    this.first = 0
    this.len = 0
  }

  /** Time of user (closed) or arrival (open) `i`, ms from the start. */
  at(i) {
    if (i < this.first || i >= this.first + this.len) {
      this.first = i
      this.len = this.plan.fillTimes(i, this.buf)
    }
    return this.buf[i - this.first]
  }
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

function timeoutUser(run, u) {
  run.onTimeout(u)
}

/**
 * The shared part of both models.
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
  constructor(plan, workload, sink) {
    this.plan = plan
    this.times = new PlanTimes(plan)
    this.timeout = plan.timeout
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

  /** Starts the run; resolves with {elapsed, metrics} when it ends or is cancelled. */
  start() {
    return new Promise((resolve) => {
      this.resolve = resolve
      this.origin = performance.now()
      this.sliceStart = this.origin
      this.deadline = this.origin + this.plan.cutOff
      this.begin()
    })
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
      u.timer = setTimeout(timeoutUser, this.timeout, this, u)
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
    const result = { elapsed, metrics: this.recorder.metrics(elapsed, this.plan.users) }
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

module.exports = { JsRun }
