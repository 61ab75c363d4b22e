'use strict'
// Test-only engines for promethean-bench, loaded through PROMETHEAN_BENCH_TEST_RUNNER=<this file>.
// They stand in for EnhancedBuildFixProvider / BuildFixProvider / LoadTester and produce data of
// the real shapes with real timings:
// - runBenchmark: the six small fixtures of the bundled set (or the names given). `gold` fixes
//   every one, `none` fixes nothing (no plan), any other model is asked for a plan over HTTP at
//   `endpoint` with the Ollama protocol (POST /api/generate) and passes when the plan's dsl holds
//   known operations — so a local fake model server decides the outcome.
// - runLoadTest: users x requests (or an open-model rate) of real async work, or GETs of `url`;
//   FAKE_FAIL_EVERY=n fails every n-th request.
// - runCompare: "before" starts a fresh Node process per request, "after" answers in-process;
//   both measured with the CLI's own process-tree sampler.

const { spawn } = require('node:child_process')
const { setTimeout: sleep } = require('node:timers/promises')

const { startSampler } = require('../../lib/cli/proc.js')
const { statsFrom, pooled } = require('../../lib/cli/runtime.js')
const { loadMetrics, normalizeRecords } = require('../../lib/cli/summary.js')

const SMALL = [
  { name: 'missing-export-TS2305', errors: 1 },
  { name: 'wrong-argument-count-TS2554', errors: 2 },
  { name: 'implicit-any-TS7006', errors: 1 },
  { name: 'missing-return-type-TS7010', errors: 1 },
  { name: 'misspelled-name-TS2552', errors: 3 },
  { name: 'class-not-exported-TS2459', errors: 1 },
]

const OPS = new Set(['ensureExported', 'renameSymbol', 'makeParamOptional', 'addImport', 'addTypeAnnotation', 'insertStubFunction'])
const delay = () => Number(process.env.FAKE_DELAY ?? 5)

function fixtureList(fixtures) {
  if (Array.isArray(fixtures)) return fixtures.map((name, i) => ({ name, errors: 1 + (i % 3) }))
  if (fixtures === 'massive') return Array.from({ length: 40 }, (_, i) => ({ name: `massive-${String(i).padStart(4, '0')}`, errors: 1 + (i % 4) }))
  return SMALL
}

async function askModel(endpoint, model, fixture) {
  const res = await fetch(new URL('/api/generate', endpoint), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, prompt: `Fix ${fixture}`, stream: false, options: { temperature: 0 }, format: 'json' }),
  })
  if (!res.ok) throw new Error(`model server answered HTTP ${res.status}`)
  const body = await res.json()
  const text = String(body.response ?? '').replace(/^```(?:json)?\s*|\s*```$/g, '')
  let plan
  try {
    plan = JSON.parse(text)
  } catch {
    throw new Error(`plan is not JSON: ${text.slice(0, 40)}`)
  }
  if (!Array.isArray(plan.dsl) || plan.dsl.length === 0) throw new Error('plan has no operations')
  const unknown = plan.dsl.find((op) => !OPS.has(op.op))
  if (unknown) throw new Error(`unknown operation ${unknown.op}`)
  return plan
}

async function oneFixture(model, fx, endpoint) {
  if (process.env.FAKE_TRACE) process.stderr.write(`fake: fixture ${fx.name} started\n`)
  const t0 = performance.now()
  await sleep(delay())
  const base = { fixture: fx.name, model, errorCountBefore: fx.errors, attempts: 1 }
  let out
  if (model === 'gold') {
    out = { ...base, success: true, errorCountAfter: 0, errorsResolved: true, planGenerated: true, planTitle: `Reference fix for ${fx.name}` }
  } else if (model === 'none') {
    out = { ...base, success: false, errorCountAfter: fx.errors, errorsResolved: false, planGenerated: false, errorMessage: 'empty plan: nothing to apply' }
  } else {
    if (!endpoint) throw new Error(`model ${model} needs --endpoint`)
    try {
      const plan = await askModel(endpoint, model, fx.name)
      out = { ...base, success: true, errorCountAfter: 0, errorsResolved: true, planGenerated: true, planTitle: plan.title }
    } catch (err) {
      out = { ...base, attempts: 3, success: false, errorCountAfter: fx.errors, errorsResolved: false, planGenerated: false, errorMessage: err.message }
    }
  }
  return { ...out, duration: performance.now() - t0 }
}

async function runBenchmark({ models, fixtures, jobs, endpoint, concurrency, onProgress, signal }) {
  if (process.env.FAKE_THROW) throw new Error(process.env.FAKE_THROW)
  const list = fixtureList(fixtures)
  const total = jobs ? jobs.length : list.length * models.length
  const results = []
  for (const model of models) {
    if (signal.aborted) break
    // FAKE_IGNORE_JOBS: an engine that runs everything whatever it is given.
    const mine = jobs && !process.env.FAKE_IGNORE_JOBS ? list.filter((fx) => jobs.some((j) => j.model === model && j.fixture === fx.name)) : list
    await pooled(
      mine.map((fx) => async () => {
        const r = await oneFixture(model, fx, endpoint)
        results.push(r)
        onProgress({ done: results.length, total, result: r })
        // FAKE_HOLD: the run cannot finish on its own, only by being interrupted (or after 20 s).
        if (process.env.FAKE_HOLD && !signal.aborted) {
          await new Promise((resolve) => {
            const timer = setTimeout(resolve, 20000)
            signal.addEventListener('abort', () => resolve(clearTimeout(timer)), { once: true })
          })
        }
      }),
      concurrency,
      signal,
    )
  }
  return results
}

async function runLoadTest({ users, requests, rampUp, rate, duration, url, onProgress }) {
  const failEvery = Number(process.env.FAKE_FAIL_EVERY ?? 0)
  const records = []
  let n = 0
  const one = async (userId, requestId) => {
    const index = n++
    const startTime = Date.now()
    const record = { requestId, userId, startTime, success: true }
    try {
      if (url) {
        const res = await fetch(url)
        await res.text()
        if (!res.ok) throw new Error(`HTTP ${res.status}`)
      } else {
        await sleep(delay() + (index % 5))
      }
      if (failEvery && (index + 1) % failEvery === 0) throw new Error('BuildFix benchmark failed: <b>worker crashed</b>')
    } catch (err) {
      record.success = false
      record.error = err.message
    }
    record.endTime = Date.now()
    record.duration = record.endTime - startTime
    records.push(record)
    onProgress({ done: records.length, total, success: record.success })
  }
  const t0 = Date.now()
  let total
  if (rate) {
    total = Math.max(1, Math.floor((duration / 1000) * rate))
    const pending = []
    for (let i = 0; i < total; i++) {
      const wait = t0 + (i * 1000) / rate - Date.now()
      if (wait > 0) await sleep(wait)
      pending.push(one(0, `open-req-${i}`))
    }
    await Promise.all(pending)
  } else {
    total = users * requests
    await Promise.all(
      Array.from({ length: users }, async (_, u) => {
        await sleep(users > 1 ? (rampUp * u) / (users - 1) : 0)
        for (let r = 0; r < requests; r++) await one(u + 1, `user-${u + 1}-req-${r}`)
      }),
    )
  }
  const rows = normalizeRecords(records)
  return { metrics: loadMetrics(rows, { users: rate ? 0 : users, wallMs: Date.now() - t0 }), records, config: { users, requests } }
}

function loadTestReport(m) {
  return [
    'Load Test Report (LoadTestReporter)',
    '## Test Configuration',
    `Concurrent Users: ${m.concurrentUsers}`,
    '## Results',
    `Total Requests: ${m.totalRequests}`,
    `Failed Requests: ${m.failedRequests}`,
    '## Performance Assessment',
    m.errorRate > 0.05 ? 'High error rate' : 'Error rate acceptable',
  ].join('\n')
}

function freshProcess() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', 'let s = 0; for (let i = 0; i < 2e6; i++) s += i'], { stdio: 'ignore' })
    child.on('error', reject)
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))))
  })
}

async function measure(requests, concurrency, work, onRequest) {
  const sampler = startSampler({ interval: 20 })
  const latencies = []
  let failed = 0
  await pooled(
    Array.from({ length: requests }, () => async () => {
      const t0 = performance.now()
      try {
        await work()
        latencies.push(performance.now() - t0)
        onRequest(true)
      } catch {
        failed++
        onRequest(false)
      }
    }),
    concurrency,
  )
  return statsFrom({ latencies, failed, usage: sampler.stop() })
}

async function runCompare({ requests, concurrency, onProgress }) {
  let done = 0
  const total = requests * 2
  const onRequest = (success) => onProgress({ done: ++done, total, success })
  const before = await measure(requests, concurrency, freshProcess, onRequest)
  const after = await measure(requests, concurrency, () => sleep(2), onRequest)
  return { before, after }
}

/** The fixtures runBenchmark goes through, with a content hash (FAKE_FIXTURE_SALT changes them). */
async function fixtureSet({ fixtures }) {
  const { createHash } = require('node:crypto')
  const salt = process.env.FAKE_FIXTURE_SALT ?? ''
  return fixtureList(fixtures).map((fx) => ({ name: fx.name, hash: createHash('sha256').update(`${fx.name}\0${fx.errors}\0${salt}`).digest('hex') }))
}

module.exports = { runBenchmark, runLoadTest, loadTestReport, runCompare, fixtureSet }
