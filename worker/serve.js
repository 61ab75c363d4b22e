'use strict'
// The worker protocol's serving loop (docs/engine.md has the full text), over any carrier: a
// process's stdio (buildfix-worker.js) or a thread's message port (buildfix-thread.js). Both
// carry the same lines; the carrier only says how a line arrives, how one leaves, and how the
// worker ends.
//
// A carrier is {send(text), onLine(fn), onClose(fn), finish(), abandon()}: `send` writes one
// protocol line (no newline), `onLine` delivers each line received, `onClose` fires when the
// owner can send no more, `finish()` ends the worker once the answers sent have left, and
// `abandon()` ends it soon whatever it is doing (its owner is gone).

const path = require('node:path')

const { PROTOCOL_VERSION } = require('./protocol')
const MAX_LINE_BYTES = 16 * 1024 * 1024

const ts = require('typescript')
const { runJob, JobError } = require('./engine')

let jobsDone = 0

function idOf(msg) {
  const id = msg && typeof msg === 'object' ? msg.id : undefined
  return typeof id === 'string' || typeof id === 'number' ? id : null
}

async function answerJob(msg, signal) {
  const id = idOf(msg)
  try {
    const { type, id: _id, ...job } = msg
    const result = await runJob(job, { signal })
    // Cancelled while it ran: the engine stopped at its next step; its partial result is moot.
    if (signal?.aborted) return { type: 'cancelled', id }
    jobsDone++
    return { type: 'result', id, result }
  } catch (err) {
    return {
      type: 'error',
      id,
      message: err instanceof JobError ? err.message : `internal error: ${err && err.stack ? err.stack : err}`,
    }
  }
}

function parseLine(line) {
  if (Buffer.byteLength(line) > MAX_LINE_BYTES) return { error: `message longer than ${MAX_LINE_BYTES} bytes` }
  try {
    const msg = JSON.parse(line)
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) return { error: 'message must be a JSON object' }
    return { msg }
  } catch (err) {
    return { error: `message is not valid JSON: ${err.message}` }
  }
}

/** Runs a check of one bundled fixture so the lib files are parsed before the first job. */
function warmUp() {
  try {
    const { collectDiagnostics } = require('./diagnostics')
    const dir = path.join(__dirname, '..', 'fixtures', 'small', 'wrong-arg-count')
    collectDiagnostics(dir)
  } catch (err) {
    console.error(`warm-up skipped: ${err.message}`)
  }
}

/** Serves the protocol over `carrier` until shutdown, or until the owner is gone. */
function serve(carrier) {
  const send = (message) => carrier.send(JSON.stringify(message))
  // Queued jobs: {msg, controller}; `current` is the one running.
  const queue = []
  let current = null
  let closing = false
  let shutdownAsked = false
  // Set when the owner is gone: the job in flight is cancelled (its model request included).
  let orphaned = false
  const pump = async () => {
    if (current) return
    while (queue.length && !orphaned) {
      current = queue.shift()
      const reply = await answerJob(current.msg, current.controller.signal)
      current = null
      send(reply)
    }
    if (closing) carrier.finish()
  }
  const cancel = (msg) => {
    const id = idOf(msg)
    const queued = queue.findIndex((job) => idOf(job.msg) === id)
    if (queued >= 0) {
      queue.splice(queued, 1)
      return send({ type: 'cancelled', id })
    }
    // Running: answered `cancelled` by pump once the engine stops. Unknown: already answered.
    if (current && idOf(current.msg) === id) current.controller.abort()
  }
  carrier.onLine((line) => {
    if (line.trim() === '') return
    const { msg, error } = parseLine(line)
    if (error) return send({ type: 'error', id: null, message: error })
    switch (msg.type) {
      case 'ping':
        return send({
          type: 'pong',
          id: idOf(msg),
          pid: process.pid,
          protocol: PROTOCOL_VERSION,
          typescript: ts.version,
          jobsDone,
          busy: current !== null,
          queued: queue.length,
        })
      case 'job':
        if (closing) return send({ type: 'error', id: idOf(msg), message: 'worker is shutting down' })
        queue.push({ msg, controller: new AbortController() })
        return void pump()
      case 'cancel':
        return cancel(msg)
      case 'shutdown':
        closing = true
        shutdownAsked = true
        return void pump()
      default:
        return send({
          type: 'error',
          id: idOf(msg),
          message: `unknown message type ${JSON.stringify(msg.type)} (expected ping, job, cancel or shutdown)`,
        })
    }
  })
  carrier.onClose(() => {
    closing = true
    if (!shutdownAsked) {
      // The owner is gone without a shutdown: nobody will read an answer. The job is cancelled
      // rather than run to its end, which could be the full attempt timeout of a hanging model
      // server. The event loop is free during a model request, so this runs at once; the
      // carrier's abandon() bounds a job stuck in synchronous work.
      queue.length = 0
      orphaned = true
      current?.controller.abort()
      carrier.abandon()
    }
    void pump()
  })
  warmUp()
  send({ type: 'ready', pid: process.pid, protocol: PROTOCOL_VERSION, typescript: ts.version })
}

module.exports = { serve, answerJob, parseLine, PROTOCOL_VERSION }
