'use strict'
// The BuildFix engine: one warm worker process serving many jobs over its stdio protocol, against
// a fresh `node worker/buildfix-worker.js --once` per job (a cold TypeScript compiler per
// request, which is what the original did with `pnpm tsx ...`). Gold model on the small
// fixtures; every job gets a fresh copy of its fixture (copied outside the timed section).
//
// Then a job against its floor: one check of the edited fixture with only the lib files cached
// (`collectDiagnosticsFloor`: a fresh program, the fixture's files read and parsed afresh), beside
// the whole job in its steady state (a working copy at a fixed path, restored after each job
// outside the timed part, as the provider does), in this process and through the warm worker,
// interleaved fixture by fixture in the same rounds.
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

  await jobAgainstFloor()
}

/** The per-fixture job (in process and through a warm worker) against one check from scratch. */
async function jobAgainstFloor() {
  const { runJob } = require('../worker/engine')
  const { applyPlan, parsePlan } = require('../worker/plan')
  const { collectDiagnosticsFloor } = require('../worker/diagnostics')
  const worker = new WarmWorker()
  await worker.ready
  // Working copies at fixed paths (one set per contender) and their pristine texts; the floor's
  // copies hold the gold plan's edits, as a job's folder does when it checks after the plan.
  const inProcess = copyAll()
  const viaWorker = copyAll()
  const edited = copyAll()
  const pristine = inProcess.dirs.map((dir) => snapshot(dir))
  for (const dir of edited.dirs) applyPlan(dir, parsePlan(JSON.stringify(JSON.parse(fs.readFileSync(path.join(dir, 'fixture.json'), 'utf8')).goldPlan)))
  const restore = (dir, i) => {
    for (const [rel, text] of pristine[i]) fs.writeFileSync(path.join(dir, rel), text)
  }
  // The worker's own time for the job (its result's duration) beside the round trip: the rest is
  // the protocol and waking another process.
  const times = { floor: [], 'job in process': [], 'job, warm worker': [], '(inside the worker)': [] }
  const rounds = ROUNDS * 4
  for (let round = -1; round < rounds; round++) {
    for (let i = 0; i < FIXTURES.length; i++) {
      let t0 = performance.now()
      collectDiagnosticsFloor(edited.dirs[i])
      const floor = performance.now() - t0
      t0 = performance.now()
      const a = await runJob({ fixtureDir: inProcess.dirs[i], model: 'gold' })
      const job = performance.now() - t0
      restore(inProcess.dirs[i], i)
      t0 = performance.now()
      const b = await worker.run(viaWorker.dirs[i])
      const remote = performance.now() - t0
      restore(viaWorker.dirs[i], i)
      if (!a.success || !b.success) throw new Error(`gold failed on ${a.fixture}`)
      // Round -1 warms up: the first check of each folder and the first jobs are cold.
      if (round < 0) continue
      times.floor.push(floor)
      times['job in process'].push(job)
      times['job, warm worker'].push(remote)
      times['(inside the worker)'].push(b.duration)
    }
  }
  await worker.close()
  for (const c of [inProcess, viaWorker, edited]) fs.rmSync(c.root, { recursive: true, force: true })
  const floor = median(times.floor)
  console.log(`\nA job against its floor, gold model, ${FIXTURES.length} small fixtures x ${rounds} rounds, interleaved (load ${os.loadavg()[0].toFixed(1)})`)
  console.log('  floor: one check of the edited fixture, only the lib files cached (collectDiagnosticsFloor)')
  for (const [name, values] of Object.entries(times)) {
    const ratio = name === 'floor' ? '(the floor)' : `${(median(values) / floor).toFixed(2)}x the floor`
    console.log(`  ${name.padEnd(19)} median ${median(values).toFixed(2)} ms  p95 ${percentile(values, 95).toFixed(2)} ms  ${ratio}`)
  }
}

/** Every file of a folder: Map relative path -> text. */
function snapshot(dir) {
  const out = new Map()
  for (const rel of fs.readdirSync(dir, { recursive: true })) {
    const abs = path.join(dir, rel)
    if (fs.statSync(abs).isFile()) out.set(rel, fs.readFileSync(abs, 'utf8'))
  }
  return out
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
