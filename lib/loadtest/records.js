'use strict'
// The per-request records of `getResponses()` / `getUserSimulations()` / `saveResults()`.

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

module.exports = { RecordSink }
