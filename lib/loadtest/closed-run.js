'use strict'
// The closed model on the JS thread: virtual users that start, send and stop when the plan says.

const { performance } = require('node:perf_hooks')

const { JsRun } = require('./js-run.js')

function resumeUser(run, u) {
  run.next(u, false)
}

/**
 * Users start at the plan's start times (the first `usersToStart` of them: later ones would be
 * due after the cut-off), each sends its requests one after another, pausing `thinkTime` while
 * the plan allows a pause, and nothing new is sent after the cut-off.
 */
class JsClosedRun extends JsRun {
  begin() {
    const plan = this.plan
    this.requestsPerUser = plan.requestsPerUser
    this.thinkTime = plan.thinkTime
    this.pausesBefore = plan.pausesBefore
    this.thinkDeadline = this.origin + plan.thinkUntil
    this.lastUser = plan.usersToStart
    this.nextId = 1
    this.active = 0
    this.rampTimer = null
    this.startParked = false
    this.startDue(true)
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
    let first = fromImmediate
    while (this.nextId <= this.lastUser && !this.stopped) {
      const now = performance.now()
      // Started only after the cut-off (a busy event loop): it would send nothing, nor the rest.
      if (now >= this.deadline) {
        this.nextId = this.lastUser + 1
        break
      }
      const wait = this.origin + this.times.at(this.nextId) - now
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
    if (u.n >= this.requestsPerUser || now >= this.deadline) return this.endUser(u)
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
    if (u.n >= this.pausesBefore) return false
    if (performance.now() >= this.thinkDeadline) {
      this.endUser(u) // the pause would end after the cut-off: nothing could follow it
      return true
    }
    // Back to back, the timeout timer is re-armed for the next request at once; across a pause
    // it is cleared, so it never outlives its request by more than a synchronous step.
    if (u.timer !== null) {
      clearTimeout(u.timer)
      u.timer = null
    }
    if (u.thinkTimer === null) {
      u.thinkTimer = setTimeout(resumeUser, this.thinkTime, this, u)
      this.timed.add(u)
    } else u.thinkTimer.refresh()
    return true
  }

  endUser(u) {
    if (u.done) return
    u.done = true
    this.release(u)
    if (u.sim) u.sim.endTime = performance.now()
    if (--this.active === 0 && this.nextId > this.lastUser) this.finish()
  }

  stopTimers() {
    super.stopTimers()
    if (this.rampTimer) clearTimeout(this.rampTimer)
    this.rampTimer = null
  }
}

module.exports = { JsClosedRun }
