'use strict'
// Checker threads: the JS half of the native provider's thread carrier (src/binding/checkers.rs).
// The pool in the native core decides when a checker starts, what it is sent, and when it is
// stopped (deadlines, cancellation, health pings, idle reaping: the same rules as for worker
// processes); this host only carries those decisions out on `worker_threads` Workers running
// worker/buildfix-thread.js, and hands each line a thread sends, and its exit, back.

const path = require('node:path')
const { Worker } = require('node:worker_threads')

const { binding } = require('../native.js')

const THREAD_SCRIPT = path.join(__dirname, '..', '..', 'worker', 'buildfix-thread.js')

// The young generation of a low-memory checker, MB: what `--max-semi-space-size=1` gives a
// worker process (V8 sizes the young generation at three semi-spaces).
const LOW_MEMORY_YOUNG_MB = 3

/** The limits of a checker's V8 heap (`resourceLimits` of its Worker). */
function resourceLimits({ heapMb, lowMemory }) {
  const limits = {}
  if (heapMb > 0) limits.maxOldGenerationSizeMb = heapMb
  if (lowMemory) limits.maxYoungGenerationSizeMb = LOW_MEMORY_YOUNG_MB
  return limits
}

/**
 * A host for one provider service: `(op, id, payload)` with op `start` (payload: the limits as
 * JSON), `send` (payload: one protocol line) or `terminate`. Calls arrive in the order the core
 * made them, on this thread.
 */
function createThreadHost() {
  const threads = new Map()
  const start = (id, limits) => {
    let thrown = ''
    let worker
    try {
      worker = new Worker(THREAD_SCRIPT, { resourceLimits: resourceLimits(limits), name: `buildfix-checker-${id}` })
    } catch (err) {
      binding.checkerEvent(id, undefined, undefined, String(err?.stack ?? err))
      return
    }
    // Only a request in flight keeps the process alive, as with worker processes.
    worker.unref()
    threads.set(id, worker)
    worker.on('message', (line) => binding.checkerEvent(id, String(line)))
    worker.on('error', (err) => {
      thrown = String(err?.stack ?? err)
    })
    worker.on('exit', (code) => {
      threads.delete(id)
      binding.checkerEvent(id, undefined, code, thrown)
    })
  }
  return (op, id, payload) => {
    switch (op) {
      case 'start':
        return start(id, JSON.parse(payload))
      case 'send':
        return threads.get(id)?.postMessage(payload)
      case 'terminate':
        return void threads.get(id)?.terminate()
    }
  }
}

module.exports = { createThreadHost, THREAD_SCRIPT }
