'use strict'
// The BuildFix worker on a thread: the same protocol as buildfix-worker.js (worker/serve.js),
// each line one message on the thread's port instead of one line on stdio. Started by
// lib/provider/checkers.js as a `worker_threads` Worker of the provider's own process, so it
// shares that process's Node runtime instead of loading one of its own.

const { parentPort } = require('node:worker_threads')

if (!parentPort) throw new Error('buildfix-thread.js runs as a worker_threads Worker (worker/buildfix-worker.js is the process)')

// This thread's console only: the process's stdout may be its owner's output.
console.log = console.info = console.debug = (...args) => console.error(...args)

const { serve } = require('./serve')

serve({
  send: (text) => parentPort.postMessage(text),
  onLine: (fn) => parentPort.on('message', (line) => fn(String(line))),
  // The port closes only with the owner, and the thread then goes with it.
  onClose: (fn) => parentPort.once('close', fn),
  // With the port closed and no job running, nothing is left to keep the thread: it ends.
  finish: () => parentPort.close(),
  abandon: () => process.exit(0),
})
