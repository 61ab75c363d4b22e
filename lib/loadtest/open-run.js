'use strict'
// The open model on the JS thread: arrivals sent on free slots when the plan says they are due.

const { performance } = require('node:perf_hooks')

const { JsRun } = require('./js-run.js')

/**
 * Arrival `i` is due at the plan's due time and is sent by a free slot (at most `maxInFlight` at
 * once, made only when all others are busy); its latency counts from the due time, so waiting
 * for a slot shows. Nothing starts after the cut-off: the plan counts the arrivals left as
 * dropped (k6's `dropped_iterations`), so the duration bounds the run.
 */
class JsOpenRun extends JsRun {
  begin() {
    this.slots = this.plan.users
    this.total = this.plan.arrivals
    this.nextIndex = 0
    this.closedArrivals = false
    this.idle = []
    this.made = 0
    this.dispatchTimer = null
    this.dispatchParked = false
    this.dispatch(true)
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
      if (now >= this.deadline) {
        this.closedArrivals = true // what is left could not start in time: dropped
        break
      }
      const due = this.origin + this.times.at(this.nextIndex)
      if (due - now >= 1) {
        this.dispatchTimer = setTimeout(() => this.dispatch(false), due - now)
        return
      }
      if (this.idle.length === 0 && this.made >= this.slots) return // a settle resumes
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
    const stoppedAt = this.stopped ? result.elapsed : undefined
    result.metrics.droppedIterations = this.plan.dropped(this.nextIndex, stoppedAt)
    for (const u of this.idle) if (u.sim) u.sim.endTime = performance.now()
  }
}

module.exports = { JsOpenRun }
