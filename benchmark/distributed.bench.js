'use strict'
// Distributed runs: the massive set (200 generated fixtures) with the `gold` model, no result
// cache, through
//   one process, concurrency 1     `promethean-bench run` as it comes (one fixture at a time)
//   one process, concurrency N     `run --concurrency <cores>`: what a user tunes on one machine
//   queue, K workers               `run --queue URL` with K `worker --queue URL` processes
// all on this machine, against one Redis on 127.0.0.1. Each round runs every contender once,
// interleaved; the table gives the median wall time of the whole run (the workers are started,
// and wait for jobs, before the clock starts: their providers warm up inside the timed run, as a
// local run's do) and the ratio to the one-process run measured in the same round.
//
// Every contender must give the same answer (per fixture: success, errors before and after)
// before any time is reported.
//
//   npm run bench -- distributed
//   DISTRIBUTED_ROUNDS=1 DISTRIBUTED_WORKERS=1,2 node benchmark/distributed.bench.js

const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { median, assertSame } = require('./harness.js')
const { startRedis } = require('./servers.js')
const { startSampler } = require('../lib/cli/proc.js')

const BIN = path.join(__dirname, '..', 'bin', 'promethean-bench.js')
const ROUNDS = Number(process.env.DISTRIBUTED_ROUNDS || 3)
const WORKER_COUNTS = (process.env.DISTRIBUTED_WORKERS || '1,2,3').split(',').map(Number)
const CORES = os.availableParallelism()
const RUN = ['--fixtures', 'massive', '--models', 'gold', '--no-cache', '--no-history', '--json']

function start(args) {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let text = ''
  let stdout = ''
  const waiters = []
  const feed = () => {
    for (const w of [...waiters]) if (w.re.test(text)) waiters.splice(waiters.indexOf(w), 1)[0].resolve()
  }
  child.stdout.on('data', (d) => {
    stdout += d
    text += d
    feed()
  })
  child.stderr.on('data', (d) => {
    text += d
    feed()
  })
  const closed = new Promise((resolve) =>
    child.on('close', (code) => {
      for (const w of waiters.splice(0)) w.reject(new Error(`exited (${code}) before ${w.re}: ${text.slice(-1000)}`))
      resolve({ code, stdout, text })
    }),
  )
  return {
    child,
    closed,
    until: (re) => (re.test(text) ? Promise.resolve() : new Promise((resolve, reject) => waiters.push({ re, resolve, reject }))),
  }
}

/** Per fixture: what the run found, without timings. */
function answer(doc) {
  return doc.results.map((r) => [r.fixture, r.success, r.errorCountBefore, r.errorCountAfter]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
}

/**
 * One run, timed; with the CPU time and peak memory of this process's whole tree (the
 * coordinator or the one process, the workers, their providers' worker processes, Redis),
 * sampled before the workers stop.
 */
async function timedRun(args) {
  const sampler = startSampler({ interval: 100 })
  const t0 = performance.now()
  const run = start(['run', ...RUN, ...args])
  const r = await run.closed
  const ms = performance.now() - t0
  const usage = sampler.stop()
  if (r.code !== 0) throw new Error(`run ${args.join(' ')} exited ${r.code}: ${r.text.slice(-1500)}`)
  return { ms, cpuMs: (usage.cpuPercent * usage.wallMs) / 100, peakRss: usage.peakRss, doc: JSON.parse(r.stdout) }
}

async function main() {
  const redis = await startRedis()
  if (!redis) {
    console.log('distributed: skipped: redis-server is not installed (apt-get install redis-server)')
    return
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promethean-distributed-bench-'))
  const url = redis.url
  const live = new Set()
  try {
    const contenders = [
      { name: 'one process, concurrency 1', args: () => ['--out', path.join(dir, 'out')] },
      { name: `one process, concurrency ${CORES}`, args: () => ['--concurrency', String(CORES), '--out', path.join(dir, 'out')] },
      ...WORKER_COUNTS.map((k) => ({
        name: `queue, ${k} worker${k > 1 ? 's' : ''}`,
        workers: k,
        args: () => ['--queue', url, '--out', path.join(dir, 'out')],
      })),
    ]
    const samples = Object.fromEntries(contenders.map((c) => [c.name, []]))
    const cpu = Object.fromEntries(contenders.map((c) => [c.name, []]))
    const rss = Object.fromEntries(contenders.map((c) => [c.name, []]))
    const ratios = Object.fromEntries(contenders.map((c) => [c.name, []]))
    let reference = null
    console.log(`massive set (200 fixtures), gold model, no cache; ${CORES} cores; ${ROUNDS} rounds; load average ${os.loadavg()[0].toFixed(1)} at start`)
    for (let round = 0; round < ROUNDS; round++) {
      let base = null
      for (const c of contenders) {
        const workers = []
        for (let i = 0; i < (c.workers ?? 0); i++) {
          const w = start(['worker', '--queue', url])
          live.add(w)
          workers.push(w)
        }
        await Promise.all(workers.map((w) => w.until(/waiting for jobs/)))
        const { ms, cpuMs, peakRss, doc } = await timedRun(c.args())
        for (const w of workers) w.child.kill('SIGINT')
        await Promise.all(workers.map((w) => w.closed))
        for (const w of workers) live.delete(w)
        if (reference === null) reference = answer(doc)
        else assertSame(c.name, answer(doc), reference)
        if (base === null) base = ms
        samples[c.name].push(ms)
        ratios[c.name].push(ms / base)
        cpu[c.name].push(cpuMs)
        rss[c.name].push(peakRss)
        console.log(
          `  round ${round + 1}: ${c.name.padEnd(30)} ${(ms / 1000).toFixed(1)} s, CPU ${(cpuMs / 1000).toFixed(1)} s, peak ${(peakRss / 2 ** 20).toFixed(0)} MB  (load ${os.loadavg()[0].toFixed(1)})`,
        )
      }
    }
    console.log(
      '\nmedians: wall time of the whole run (lower is better) and its ratio to one process, concurrency 1, in the same round; CPU time and peak memory of the process tree',
    )
    for (const c of contenders) {
      const r = median(ratios[c.name])
      console.log(
        `  ${c.name.padEnd(30)} ${(median(samples[c.name]) / 1000).toFixed(1).padStart(6)} s  ${r.toFixed(2)}x the time (${(1 / r).toFixed(2)}x as fast)  CPU ${(median(cpu[c.name]) / 1000).toFixed(1)} s  peak ${(median(rss[c.name]) / 2 ** 20).toFixed(0)} MB`,
      )
    }
  } finally {
    for (const w of live) w.child.kill('SIGKILL')
    await redis.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
