'use strict'
// The BuildFix engine: one warm worker process serving many jobs over its stdio protocol, against
// a fresh `node worker/buildfix-worker.js --once` per job (a cold TypeScript compiler per
// request, which is what the original did with `pnpm tsx ...`). Gold model on the small
// fixtures; every job gets a fresh copy of its fixture (copied outside the timed section).
//
//   node benchmark/engine.bench.js        (or: npm run bench -- engine)

const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const readline = require('node:readline')
const { performance } = require('node:perf_hooks')

const { compare, report, median, assertSame } = require('./harness')
const { SMALL_DIR, listFixtures } = require('../worker/fixtures')

const WORKER = path.join(__dirname, '..', 'worker', 'buildfix-worker.js')
const FIXTURES = listFixtures(SMALL_DIR)
const ROUNDS = Number(process.env.ENGINE_BENCH_ROUNDS || 5)

function copyAll() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-engine-bench-'))
  const dirs = FIXTURES.map((src) => {
    const dst = path.join(root, path.basename(src))
    fs.cpSync(src, dst, { recursive: true })
    return dst
  })
  return { root, dirs }
}

function job(fixtureDir, id) {
  return { type: 'job', id, fixtureDir, model: 'gold', maxAttempts: 1, attemptTimeoutMs: 30000 }
}

function essence(result) {
  const { fixture, success, errorCountBefore, errorCountAfter, errorsResolved, planTitle } = result
  return { fixture, success, errorCountBefore, errorCountAfter, errorsResolved, planTitle }
}

class WarmWorker {
  constructor() {
    this.child = spawn(process.execPath, [WORKER], { stdio: ['pipe', 'pipe', 'inherit'] })
    this.waiting = new Map()
    this.ready = new Promise((resolve) => (this.onReady = resolve))
    readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
      const msg = JSON.parse(line)
      if (msg.type === 'ready') return this.onReady()
      const w = this.waiting.get(msg.id)
      if (!w) return
      this.waiting.delete(msg.id)
      msg.type === 'result' ? w.resolve(msg.result) : w.reject(new Error(msg.message))
    })
    this.seq = 0
  }
  run(fixtureDir) {
    const id = `j${++this.seq}`
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      this.child.stdin.write(`${JSON.stringify(job(fixtureDir, id))}\n`)
    })
  }
  close() {
    this.child.stdin.end()
    return new Promise((resolve) => this.child.on('exit', resolve))
  }
}

function runOnce(fixtureDir) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, '--once'], { stdio: ['pipe', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (c) => (out += c))
    child.on('error', reject)
    child.on('close', (code) => {
      try {
        const msg = JSON.parse(out)
        if (msg.type !== 'result') throw new Error(msg.message)
        resolve(msg.result)
      } catch (err) {
        reject(new Error(`--once failed (${code}): ${err.message}`))
      }
    })
    child.stdin.end(JSON.stringify(job(fixtureDir)))
  })
}

function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}

async function main() {
  const warm = new WarmWorker()
  await warm.ready

  // Agreement first: both contenders give the same verdicts on every fixture.
  const a = copyAll()
  const b = copyAll()
  const warmAnswers = []
  const coldAnswers = []
  for (let i = 0; i < FIXTURES.length; i++) {
    warmAnswers.push(essence(await warm.run(a.dirs[i])))
    coldAnswers.push(essence(await runOnce(b.dirs[i])))
  }
  assertSame('engine gold verdicts', warmAnswers, coldAnswers)
  if (!warmAnswers.every((r) => r.success)) throw new Error('gold must resolve every small fixture')
  fs.rmSync(a.root, { recursive: true, force: true })
  fs.rmSync(b.root, { recursive: true, force: true })

  // Per-job wall-clock latencies, as a caller sees them (request written -> result parsed).
  const latencies = { 'warm worker': [], 'spawn per job (--once)': [] }
  const contender = (name, runJob) => ({
    name,
    setup: copyAll,
    async run(state) {
      for (const dir of state.dirs) {
        const t0 = performance.now()
        const r = await runJob(dir)
        latencies[name].push(performance.now() - t0)
        if (!r.success) throw new Error(`${name}: gold failed on ${r.fixture}`)
      }
    },
    teardown: (state) => fs.rmSync(state.root, { recursive: true, force: true }),
  })
  const results = await compare({
    contenders: [contender('warm worker', (d) => warm.run(d)), contender('spawn per job (--once)', runOnce)],
    ops: FIXTURES.length,
    rounds: ROUNDS,
    warmup: 1,
  })
  await warm.close()

  report(`BuildFix engine, gold model, ${FIXTURES.length} small fixtures, ${ROUNDS} rounds (time per job)`, results, 'spawn per job (--once)')
  console.log('\nPer-job latency over all rounds (including the warm-up round):')
  for (const [name, values] of Object.entries(latencies)) {
    console.log(`  ${name.padEnd(24)} median ${median(values).toFixed(1)} ms  p95 ${percentile(values, 95).toFixed(1)} ms  (${values.length} jobs)`)
  }
  const ratio = median(latencies['spawn per job (--once)']) / median(latencies['warm worker'])
  console.log(`  median latency ratio: spawn-per-job / warm worker = ${ratio.toFixed(1)}x`)

  // One warm check alone (what a job does twice), in this process, per small fixture.
  const { collectDiagnostics } = require('../worker/diagnostics')
  const checks = []
  for (let round = 0; round < 26; round++) {
    for (const dir of FIXTURES) {
      const t0 = performance.now()
      collectDiagnostics(dir)
      if (round > 0) checks.push(performance.now() - t0) // round 0 parses the lib files: cold
    }
  }
  console.log(
    `\nWarm diagnostics check of a small fixture (in process, ${checks.length} checks): median ${median(checks).toFixed(2)} ms, p95 ${percentile(checks, 95).toFixed(2)} ms`,
  )
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
