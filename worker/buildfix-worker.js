#!/usr/bin/env node
'use strict'
// The BuildFix worker: a long-lived process that loads the TypeScript compiler once and runs
// jobs sent over stdio. Protocol (docs/engine.md has the full text): newline-delimited JSON, one
// UTF-8 JSON object per line in each direction.
//
//   -> {"type":"ping","id":7}                     <- {"type":"pong","id":7,"pid":..,"protocol":1,...}
//   -> {"type":"job","id":"j1","fixtureDir":..,"model":..,...}
//                                                  <- {"type":"result","id":"j1","result":{BuildFixResult}}
//   -> {"type":"cancel","id":"j1"}                 <- {"type":"cancelled","id":"j1"}
//                                                    (a queued job is dropped, a running one aborted;
//                                                     no answer when j1 was already answered)
//   -> {"type":"shutdown"}                          (exits once the running job is answered)
//   any bad line                                   <- {"type":"error","id":<id or null>,"message":".."}
//   stdin closed without a shutdown                 (the owner is gone: the running job is
//                                                    cancelled, its model request aborted, and
//                                                    the worker exits at once)
//
// On start, after loading and warming the compiler: {"type":"ready","pid":..,"protocol":N,...};
// N is worker/protocol.json's version, which the native side checks before it sends anything.
// Jobs run one at a time, in arrival order; pings are answered at once, even during a job.
// stdout carries protocol lines only; anything else the process prints goes to stderr.
//
// One-shot mode (the spawn-per-request baseline): `buildfix-worker.js --once [--job JSON]` reads
// one job object from --job or from stdin, runs it cold, prints one result line, exits 0 (exit 2
// and an error line when the job itself is malformed).

const path = require('node:path')
const readline = require('node:readline')

const { PROTOCOL_VERSION } = require('./protocol')
const MAX_LINE_BYTES = 16 * 1024 * 1024

// Keep stray logging off the protocol channel.
const out = process.stdout
// The reader went away (EPIPE): nobody can receive results any more.
out.on('error', () => process.exit(0))
console.log = console.info = console.debug = (...args) => console.error(...args)

const ts = require('typescript')
const { runJob, JobError } = require('./engine')

let jobsDone = 0

function send(message) {
  out.write(`${JSON.stringify(message)}\n`)
}

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

// After the owner is gone, the job in flight gets this long to notice the abort.
const ORPHAN_EXIT_MS = 500

function serve() {
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
    if (closing) out.write('', () => process.exit(0))
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
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
  rl.on('line', (line) => {
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
        rl.close()
        return void pump()
      default:
        return send({
          type: 'error',
          id: idOf(msg),
          message: `unknown message type ${JSON.stringify(msg.type)} (expected ping, job, cancel or shutdown)`,
        })
    }
  })
  rl.on('close', () => {
    closing = true
    if (!shutdownAsked) {
      // stdin ended without a shutdown: the owner died (its end of the pipe closes with it), so
      // nobody will read an answer. The job is cancelled rather than run to its end, which could
      // be the full attempt timeout of a hanging model server. The event loop is free during a
      // model request, so this runs at once; a bound covers a job stuck in synchronous work.
      queue.length = 0
      orphaned = true
      current?.controller.abort()
      setTimeout(() => process.exit(0), ORPHAN_EXIT_MS)
    }
    void pump()
  })
  warmUp()
  send({ type: 'ready', pid: process.pid, protocol: PROTOCOL_VERSION, typescript: ts.version })
}

async function once(argv) {
  const i = argv.indexOf('--job')
  let text
  if (i >= 0) {
    text = argv[i + 1]
  } else {
    const chunks = []
    for await (const c of process.stdin) chunks.push(c)
    text = Buffer.concat(chunks).toString('utf8')
  }
  const { msg, error } = parseLine(String(text ?? '').trim())
  if (error) {
    send({ type: 'error', id: null, message: error })
    process.exitCode = 2
    return
  }
  const reply = await answerJob(msg)
  send(reply)
  process.exitCode = reply.type === 'result' ? 0 : 2
}

if (require.main === module) {
  const argv = process.argv.slice(2)
  if (argv.includes('--once')) {
    once(argv).catch((err) => {
      console.error(err)
      process.exitCode = 1
    })
  } else {
    serve()
  }
}

module.exports = { PROTOCOL_VERSION }
