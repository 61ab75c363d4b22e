'use strict'
// The BuildFix providers end to end: the same requests through `BuildFixProvider` (the original's
// approach: one fresh Node process per request, a cold TypeScript compiler) and
// `EnhancedBuildFixProvider` (warm checkers: threads of this process with the result cache off,
// then on, and worker processes with it off), `gold` model on the small fixtures, with 1 and 8
// concurrent callers.
//
// Two workloads:
//   set      one request = `{prompt, metadata: {fixtureType: 'small'}}`: all 8 small fixtures
//            (the original runner's `--small-fixtures` run). The headline figures.
//   fixture  one request = one fixture (`metadata.fixtures: [name]`), cycling through the 8.
//
// Per configuration: p50/p95 latency per request (execute() call to answer), requests/s (requests
// over the batch's wall time), peak RSS of this process plus every descendant (workers, per-request
// processes), sampled every ~20 ms by `proc-sampler.js`, CPU time of the same tree per request,
// and the error rate (failed requests, or answers that differ from the agreed reference).
// `connect()` (for the enhanced provider: starting and warming its workers) is timed separately
// and is not part of any request's latency.
//
// First all contenders must agree: the same fixtures succeed with the same error counts. Then
// interleaved rounds: each round connects each provider in turn (order rotated per round), runs
// every batch on it, and disconnects it, so drift on the shared machine hits all alike. The
// cache-on provider's disk cache is primed once, untimed: its batches measure served answers.
//
//   npm run bench -- provider
//   PROVIDER_BENCH_ROUNDS=3 PROVIDER_BENCH_SCALE=1 node benchmark/provider.bench.js
//   PROVIDER_BENCH_MASSIVE=only node benchmark/provider.bench.js    (the massive row alone; =0: without it)
//
// Last, the massive set (200 generated fixtures) through the enhanced provider on 2 workers, cache
// off, beside its floor: one check of each edited fixture from scratch, summed, over 2 workers.
//
// The slow baseline runs fewer requests per batch than the enhanced provider (counts below);
// every figure is per request or per second, so the counts only set the precision.

const { fork } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { performance } = require('node:perf_hooks')

const { BuildFixProvider, EnhancedBuildFixProvider, listFixtures } = require('..')
const { assertSame, median } = require('./harness.js')

const ROUNDS = Number(process.env.PROVIDER_BENCH_ROUNDS || 3)
const SCALE = Number(process.env.PROVIDER_BENCH_SCALE || 1)
const CALLERS = [1, 8]
const FIXTURES = listFixtures('small')
const MASSIVE_COUNT = 200
const PROMPT = 'Fix the TypeScript compile error in this project.'

// Requests per batch (per round), by workload, contender kind and callers.
const COUNTS = {
  set: { baseline: { 1: 2, 8: 8 }, enhanced: { 1: 6, 8: 16 }, cached: { 1: 200, 8: 400 } },
  fixture: { baseline: { 1: 3, 8: 8 }, enhanced: { 1: 24, 8: 48 }, cached: { 1: 400, 8: 800 } },
}
const count = (workload, kind, callers) => Math.max(1, Math.round(COUNTS[workload][kind][callers] * SCALE))

const WORKLOADS = {
  set: () => ({ prompt: PROMPT, metadata: { fixtureType: 'small' } }),
  fixture: (i) => ({ prompt: PROMPT, metadata: { fixtureType: 'small', fixtures: [FIXTURES[i % FIXTURES.length]] } }),
}

// ---------------------------------------------------------------------------------------------
// The process-tree sampler (a child excluded from what it measures)

function startSampler() {
  const child = fork(path.join(__dirname, 'proc-sampler.js'), [String(process.pid)], { stdio: 'inherit' })
  const next = () => new Promise((resolve) => child.once('message', resolve))
  const ready = next()
  return {
    ready,
    async begin() {
      const answer = next()
      child.send({ cmd: 'begin' })
      await answer
    },
    async end() {
      const answer = next()
      child.send({ cmd: 'end' })
      return answer
    },
    async close() {
      const gone = new Promise((resolve) => child.once('exit', resolve))
      child.send({ cmd: 'exit' })
      await gone
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Contenders

function contenders(tmp) {
  const folders = (name) => {
    const dir = path.join(tmp, name)
    return { cacheDir: path.join(dir, 'cache'), metricsDir: path.join(dir, 'metrics'), workDir: path.join(dir, 'work') }
  }
  const config = (name, options) => ({ name, type: 'buildfix', model: 'gold', options })
  return [
    { name: 'BuildFixProvider', kind: 'baseline', make: () => new BuildFixProvider(config('baseline', {})) },
    {
      name: 'Enhanced, cache off',
      kind: 'enhanced',
      make: () => new EnhancedBuildFixProvider(config('enhanced', { mode: 'bundled', cache: false, ...folders('off') })),
    },
    // The checkers as worker processes instead of threads of this process (the default).
    {
      name: 'Enhanced, processes',
      kind: 'enhanced',
      make: () => new EnhancedBuildFixProvider(config('enhanced-processes', { mode: 'bundled', cache: false, checkers: 'process', ...folders('processes') })),
    },
    {
      name: 'Enhanced, cache on',
      kind: 'cached',
      make: () => new EnhancedBuildFixProvider(config('enhanced-cached', { mode: 'bundled', cache: true, ...folders('on') })),
    },
  ]
}

/** What must agree: per fixture, whether it was fixed and the error counts before and after. */
function essence(response) {
  if (response.metadata.error) return { error: response.metadata.error }
  return response.metadata.buildFixResults.map((r) => ({
    fixture: r.fixture,
    success: r.success,
    before: r.errorCountBefore,
    after: r.errorCountAfter,
  }))
}

// ---------------------------------------------------------------------------------------------
// Measuring

/** Resident bytes of a process (`VmRSS`), 0 when it is gone. */
function vmRss(pid) {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m)[1]) * 1024
  } catch {
    return 0
  }
}

function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]
}

/** `total` requests from `callers` closed-loop callers; latencies, wall time, failures. */
async function batch(provider, workload, total, callers, reference) {
  const latencies = []
  let next = 0
  let errors = 0
  let cached = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < total) {
        const i = next++
        const request = WORKLOADS[workload](i)
        const t0 = performance.now()
        const response = await provider.execute(request)
        latencies.push(performance.now() - t0)
        if (JSON.stringify(essence(response)) !== reference[workload](i)) errors++
        if (response.metadata.cached) cached++
      }
    }),
  )
  return { latencies, wallMs: performance.now() - started, errors, cached, requests: total }
}

async function agree(list) {
  // The reference: what the baseline answers, for the whole set and for each fixture alone.
  const answers = {}
  for (const c of list) {
    const provider = c.make()
    await provider.connect()
    try {
      const [set, ...each] = (await Promise.all([WORKLOADS.set(), ...FIXTURES.map((_, i) => WORKLOADS.fixture(i))].map((r) => provider.execute(r)))).map(
        essence,
      )
      // The cache-on provider answers once more, now from its cache (this also primes it).
      if (c.kind === 'cached') {
        const again = await provider.execute(WORKLOADS.set())
        if (!again.metadata.cached) throw new Error('the cache-on provider did not serve a repeated request from its cache')
        assertSame(`${c.name} (cached answer)`, essence(again), set)
      }
      answers[c.name] = { set, each }
    } finally {
      await provider.disconnect()
    }
  }
  const base = answers[list[0].name]
  for (const c of list.slice(1)) assertSame(c.name, answers[c.name], base)
  if (base.set.error) throw new Error(`the baseline failed: ${base.set.error}`)
  const fixed = base.set.filter((r) => r.success).length
  console.log(`All contenders agree: gold fixes ${fixed} of ${base.set.length} small fixtures (same fixtures, same error counts).`)
  return {
    set: () => JSON.stringify(base.set),
    fixture: (i) => JSON.stringify(base.each[i % FIXTURES.length]),
  }
}

// ---------------------------------------------------------------------------------------------
// Reporting

const mb = (bytes) => bytes / 1048576

function summarize(runs) {
  const latencies = runs.flatMap((r) => r.latencies)
  const requests = runs.reduce((a, r) => a + r.requests, 0)
  const wallMs = runs.reduce((a, r) => a + r.wallMs, 0)
  const cpuMs = runs.reduce((a, r) => a + r.cpuMs, 0)
  return {
    requests,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    mean: latencies.reduce((a, b) => a + b, 0) / latencies.length,
    rps: (requests * 1000) / wallMs,
    peakRssMb: mb(Math.max(...runs.map((r) => r.peakRss))),
    peakOwnRssMb: mb(Math.max(...runs.map((r) => r.peakOwnRss))),
    peakProcs: Math.max(...runs.map((r) => r.peakProcs)),
    cpuMsPerRequest: cpuMs / requests,
    cpuPercent: (cpuMs / wallMs) * 100,
    errorRate: runs.reduce((a, r) => a + r.errors, 0) / requests,
    hitRate: runs.reduce((a, r) => a + r.cached, 0) / requests,
  }
}

function fmtMs(ms) {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`
  if (ms >= 10) return `${ms.toFixed(0)} ms`
  return `${ms.toFixed(2)} ms`
}

function table(title, rows) {
  console.log(`\n${title}`)
  const head = ['configuration', 'n', 'p50', 'p95', 'req/s', 'peak RSS', '(this)', 'procs', 'CPU/req', 'CPU', 'errors', 'cached']
  const body = rows.map(([name, s]) => [
    name,
    String(s.requests),
    fmtMs(s.p50),
    fmtMs(s.p95),
    s.rps >= 100 ? s.rps.toFixed(0) : s.rps.toFixed(2),
    `${s.peakRssMb.toFixed(0)} MB`,
    `${s.peakOwnRssMb.toFixed(0)} MB`,
    String(s.peakProcs),
    fmtMs(s.cpuMsPerRequest),
    `${s.cpuPercent.toFixed(0)}%`,
    `${(s.errorRate * 100).toFixed(1)}%`,
    `${(s.hitRate * 100).toFixed(0)}%`,
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)))
  const line = (cells) => `  ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')}`
  console.log(line(head))
  for (const r of body) console.log(line(r))
}

function legend() {
  console.log(
    [
      '',
      "n: requests over all rounds; p50/p95: latency of one execute(); req/s: requests over the batches' wall time;",
      'peak RSS: this process + every descendant, sampled every 20 ms ((this): this process alone); procs: most',
      'descendants alive at once; CPU/req: user + system time of the whole tree per request; CPU: that time over',
      'wall time (100% = one core of 2); errors: failed requests or answers differing from the reference;',
      'cached: answers served from the result cache.',
    ].join('\n'),
  )
}

function ratios(label, base, s) {
  // Rounded toward zero, so that 99.97% never prints as 100%.
  const pct = (x) => {
    const fine = Math.abs(x) >= 0.99 && Math.abs(x) < 1
    return `${(Math.trunc(x * (fine ? 1000 : 100)) / (fine ? 10 : 1)).toFixed(fine ? 1 : 0)}%`
  }
  const less = (x) => (x >= 0 ? `${pct(x)} less` : `${pct(-x)} more`)
  return {
    label,
    p50Reduction: 1 - s.p50 / base.p50,
    meanReduction: 1 - s.mean / base.mean,
    throughput: s.rps / base.rps,
    memoryReduction: 1 - s.peakRssMb / base.peakRssMb,
    cpuReduction: 1 - s.cpuMsPerRequest / base.cpuMsPerRequest,
    text() {
      return [
        `  ${label}`,
        `    latency: p50 ${pct(this.p50Reduction)} lower (${(base.p50 / s.p50).toFixed(base.p50 / s.p50 >= 100 ? 0 : 1)}x faster), mean ${pct(this.meanReduction)} lower   (guide: 70% lower; issue, cache off: >= 80% lower)`,
        `    throughput: ${this.throughput >= 100 ? this.throughput.toFixed(0) : this.throughput.toFixed(2)}x   (guide: 4x; issue, cache off: 10x)`,
        `    peak memory: ${less(this.memoryReduction)}, ${(s.peakRssMb / base.peakRssMb).toFixed(2)}x   (guide: 60% less; issue: <= 0.75x with 1 caller, <= 0.4x with 8)`,
        `    CPU per request: ${less(this.cpuReduction)}   (guide: 50% less)`,
      ].join('\n')
    },
  }
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-provider-bench-'))
  const sampler = startSampler()
  const started = performance.now()
  const list = contenders(tmp)
  const runs = {} // `${workload}|${name}|${callers}` -> [run]
  const connects = Object.fromEntries(list.map((c) => [c.name, []]))
  const readyRss = Object.fromEntries(list.map((c) => [c.name, []]))
  try {
    await sampler.ready
    console.log(
      `gold model, ${FIXTURES.length} small fixtures; ${ROUNDS} interleaved rounds; callers ${CALLERS.join(' and ')}; ${os.availableParallelism?.() ?? os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}`,
    )
    const reference = await agree(list)
    for (let round = 0; round < ROUNDS; round++) {
      const order = list.map((_, i) => list[(i + round) % list.length])
      for (const c of order) {
        const provider = c.make()
        const ownBefore = vmRss(process.pid)
        const t0 = performance.now()
        await provider.connect()
        connects[c.name].push(performance.now() - t0)
        if (c.kind !== 'baseline') {
          // A worker process's own RSS; a checker thread's is what this process grew by.
          const pids = provider.workerPids()
          if (pids.length) for (const pid of pids) readyRss[c.name].push(vmRss(pid))
          else readyRss[c.name].push(vmRss(process.pid) - ownBefore)
        }
        try {
          for (const workload of Object.keys(WORKLOADS)) {
            for (const callers of CALLERS) {
              const n = count(workload, c.kind, callers)
              await sampler.begin()
              const run = await batch(provider, workload, n, callers, reference)
              const usage = await sampler.end()
              Object.assign(run, { peakRss: usage.peakRss, peakOwnRss: usage.peakOwnRss, peakProcs: usage.peakProcs, cpuMs: usage.cpuMs })
              ;(runs[`${workload}|${c.name}|${callers}`] ??= []).push(run)
            }
          }
        } finally {
          await provider.disconnect()
        }
      }
      console.log(`round ${round + 1}/${ROUNDS} done (${((performance.now() - started) / 1000).toFixed(0)} s)`)
    }
  } finally {
    await sampler.close()
    fs.rmSync(tmp, { recursive: true, force: true })
  }

  const results = {}
  for (const workload of Object.keys(WORKLOADS)) {
    const rows = []
    for (const callers of CALLERS) {
      for (const c of list) {
        const s = summarize(runs[`${workload}|${c.name}|${callers}`])
        ;(results[workload] ??= {})[`${c.name}|${callers}`] = s
        rows.push([`${c.name}, ${callers} caller${callers > 1 ? 's' : ''}`, s])
      }
    }
    const what =
      workload === 'set'
        ? `Workload "set" (headline): one request = all ${FIXTURES.length} small fixtures`
        : 'Workload "fixture": one request = one small fixture (metadata.fixtures: [name])'
    table(what, rows)
  }

  legend()
  console.log('\nconnect() (not part of request latency): median, per connect')
  for (const c of list) console.log(`  ${c.name.padEnd(20)} ${fmtMs(median(connects[c.name]))}  (${connects[c.name].map(fmtMs).join(', ')})`)

  console.log('\nresident memory of one warm checker right after connect() (ready): median; a process its own RSS, a thread what this process grew by')
  for (const c of list) {
    if (readyRss[c.name].length) console.log(`  ${c.name.padEnd(20)} ${mb(median(readyRss[c.name])).toFixed(0)} MB  (${readyRss[c.name].length} workers)`)
  }

  const all = []
  for (const workload of Object.keys(WORKLOADS)) {
    console.log(`\nRatios, workload "${workload}" (enhanced vs BuildFixProvider, same run)`)
    for (const callers of CALLERS) {
      const base = results[workload][`BuildFixProvider|${callers}`]
      for (const name of ['Enhanced, cache off', 'Enhanced, processes', 'Enhanced, cache on']) {
        const r = ratios(`${name}, ${callers} caller${callers > 1 ? 's' : ''}`, base, results[workload][`${name}|${callers}`])
        console.log(r.text())
        all.push({ workload, callers, name, ...r })
      }
    }
  }
  if (MASSIVE !== '0') await massiveAgainstFloor()
  console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s`)
  if (process.env.PROVIDER_BENCH_JSON) {
    fs.writeFileSync(process.env.PROVIDER_BENCH_JSON, JSON.stringify({ results, connects, ratios: all }, null, 2))
  }
}

/**
 * The massive set through the enhanced provider on 2 workers (cache off), beside its floor: one
 * check of every edited fixture with only the lib files cached, summed and shared by 2 workers.
 * The first request also makes the 200 working copies; the second is the steady state.
 */
async function massiveAgainstFloor() {
  const { applyPlan, parsePlan } = require('../worker/plan')
  const { collectDiagnosticsFloor } = require('../worker/diagnostics')
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-provider-massive-'))
  const provider = new EnhancedBuildFixProvider({
    name: 'massive',
    type: 'buildfix',
    model: 'gold',
    options: {
      mode: 'bundled',
      cache: false,
      minWorkers: 2,
      maxWorkers: 2,
      cacheDir: path.join(tmp, 'cache'),
      metricsDir: path.join(tmp, 'metrics'),
      workDir: path.join(tmp, 'work'),
    },
  })
  try {
    await provider.connect()
    const request = { prompt: PROMPT, metadata: { fixtureType: 'massive' } }
    const walls = []
    for (let i = 0; i < 2; i++) {
      const t0 = performance.now()
      const response = await provider.execute(request)
      walls.push(performance.now() - t0)
      const results = response.metadata.buildFixResults ?? []
      if (response.metadata.error || results.length !== MASSIVE_COUNT || !results.every((r) => r.success))
        throw new Error(`the massive set: ${response.metadata.error ?? `${results.filter((r) => r.success).length} of ${results.length} fixed`}`)
    }
    await provider.disconnect()
    // The floor, on copies holding the gold plans' edits (made outside the timed part).
    // The same generator, count and seed as the provider's set.
    const floors = []
    for (const dir of require('../fixtures/generate.js').writeFixtures(path.join(tmp, 'floor'), { count: MASSIVE_COUNT, seed: 1 })) {
      applyPlan(dir, parsePlan(JSON.stringify(JSON.parse(fs.readFileSync(path.join(dir, 'fixture.json'), 'utf8')).goldPlan)))
      const t0 = performance.now()
      collectDiagnosticsFloor(dir)
      floors.push(performance.now() - t0)
    }
    const floor = floors.reduce((a, b) => a + b, 0) / 2
    console.log(`\nThe massive set (${floors.length} fixtures) on 2 workers, cache off, against its floor (load ${os.loadavg()[0].toFixed(1)})`)
    console.log(
      `  floor: one check of each edited fixture (lib files cached), x ${floors.length} / 2 workers: ${fmtMs(floor)}  (median check ${fmtMs(median(floors))})`,
    )
    console.log(`  first request (makes the working copies): ${fmtMs(walls[0])}  ${(walls[0] / floor).toFixed(2)}x the floor`)
    console.log(`  second request (steady state):            ${fmtMs(walls[1])}  ${(walls[1] / floor).toFixed(2)}x the floor`)
  } finally {
    await provider.disconnect()
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

const MASSIVE = process.env.PROVIDER_BENCH_MASSIVE // 'only': the massive row alone; '0': without it
;(MASSIVE === 'only' ? massiveAgainstFloor() : main()).catch((err) => {
  console.error(err)
  process.exitCode = 1
})
