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

const readline = require('node:readline')

// Keep stray logging off the protocol channel.
const out = process.stdout
// The reader went away (EPIPE): nobody can receive results any more.
out.on('error', () => process.exit(0))
console.log = console.info = console.debug = (...args) => console.error(...args)

const { serve, answerJob, parseLine, PROTOCOL_VERSION } = require('./serve')

function send(message) {
  out.write(`${JSON.stringify(message)}\n`)
}

// After the owner is gone, the job in flight gets this long to notice the abort.
const ORPHAN_EXIT_MS = 500

/** The protocol over this process's stdio: stdin closing means the owner is gone. */
function stdioCarrier() {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
  return {
    send: (text) => out.write(`${text}\n`),
    onLine: (fn) => rl.on('line', fn),
    onClose: (fn) => rl.on('close', fn),
    // Exits once the answers written have been flushed.
    finish: () => {
      rl.close()
      out.write('', () => process.exit(0))
    },
    abandon: () => setTimeout(() => process.exit(0), ORPHAN_EXIT_MS),
  }
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
    serve(stdioCarrier())
  }
}

module.exports = { PROTOCOL_VERSION }
