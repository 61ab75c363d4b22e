'use strict'
// The default engines behind the commands, built on the package's public classes. They are
// looked up lazily, at call time, so `--help`, bad usage and the report code never load the
// native addon, and tests (or other front ends) can inject their own engines instead:
//
//   runBenchmark({models, targets?, fixtures, fixturesDir?, jobs?, endpoint, concurrency, cache, sharedCache?, onProgress, onNotice?}) -> BuildFixResult[]
//     (targets: [{name, endpoint?, api?, apiKeyEnv?, seed?, maxConcurrentRequests?}], one per model;
//      jobs: [{fixture, model}], when given exactly the jobs to run, as for a shard)
//   fixtureSet({fixtures, fixturesDir?}) -> [{name, hash}]   the fixtures a run goes through, in
//     order, with their content hashes (what a shard's job set is made of)
//   runLoadTest({users, requests, rampUp, duration, rate, timeout, url, model, fixtures, endpoint,
//                cache, onProgress}) -> {metrics, records, config}
//   runCompare({model, fixtures, requests, concurrency, endpoint, cache, onProgress})
//                -> {before: ProviderStats, after: ProviderStats}
//   loadTestReport(metrics) -> string          (LoadTestReporter.generateReport)
//
// onProgress({done, total, result?, success?}) is called as work finishes. Every engine also gets
// `signal` (an AbortSignal, aborted on Ctrl-C): it should stop starting work, let what is in flight
// finish, clean up, and return what it has.

const path = require('node:path')

const { UsageError } = require('./args.js')
const { hashFiles, hashFixtureDir } = require('./analysis.js')
const { normalizeRecords, loadMetrics, percentile, mean } = require('./summary.js')
const { startSampler } = require('./proc.js')

function requirePackage() {
  return require('../../index.js')
}

function need(pkg, name) {
  const value = pkg[name]
  if (typeof value !== 'function') {
    throw new Error(`this build of @promethean/benchmark has no ${name}; the command needs it`)
  }
  return value
}

/**
 * Runs `jobs` (functions returning promises) with at most `limit` in flight, in order of start.
 * Once `signal` aborts no new job starts; those in flight finish.
 */
async function pooled(jobs, limit, signal) {
  const out = new Array(jobs.length)
  let next = 0
  async function lane() {
    while (next < jobs.length && !(signal && signal.aborted)) {
      const i = next++
      out[i] = await jobs[i]()
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, lane))
  return out
}

// Requests in flight and worker processes are different things: the provider sizes its pool to
// the machine (and caps a larger `workers` with a warning); requests beyond it queue.
function providerConfig({ model, endpoint, cache, workers, checkers, sharedCache, target = {} }) {
  const options = { cache }
  if (workers) options.maxWorkers = workers
  if (checkers) options.checkers = checkers
  // A result cache shared through Redis (another machine's answers are hits here).
  if (cache && sharedCache) options.sharedCache = sharedCache
  const config = { name: `buildfix-${model}`, type: 'buildfix', model, options }
  // The provider takes an http(s) URL or nothing: an absent endpoint is left out; so are the
  // server settings a target does not give.
  endpoint = target.endpoint ?? endpoint
  if (endpoint) config.endpoint = endpoint
  if (target.api) config.api = target.api
  if (target.apiKeyEnv) config.apiKeyEnv = target.apiKeyEnv
  if (target.seed !== undefined) config.options.seed = target.seed
  if (target.maxConcurrentRequests !== undefined) config.options.maxConcurrentRequests = target.maxConcurrentRequests
  return config
}

function fixtureRequest(fixtureType, names, fixturesDir) {
  const metadata = names ? { fixtureType, fixtures: names } : { fixtureType }
  if (fixturesDir) metadata.fixturesDir = fixturesDir
  return {
    prompt: names ? `BuildFix: ${names.join(', ')}` : `BuildFix: ${fixturesDir ?? fixtureType} fixtures`,
    metadata,
  }
}

/** A BuildFixResult for a fixture whose request failed before the engine produced one. */
function failedResult(fixture, model, message, duration) {
  return {
    fixture,
    model,
    success: false,
    errorCountBefore: 0,
    errorCountAfter: 0,
    errorsResolved: false,
    errorsResolvedCount: 0,
    planGenerated: false,
    duration,
    attempts: 0,
    errorMessage: message,
  }
}

/**
 * The BuildFixResults of one request of `provider` for the fixtures `batch` (null: the whole set);
 * a request that failed before the engine produced results gives one failed result per fixture.
 * The one way a fixture is run, here and by the queue workers (lib/queue/worker.js).
 */
/**
 * Tells about a shared result cache that fails (Redis down or slow): the first failure, then
 * every 100th, so a run against a dead Redis says so once and goes on with its local cache.
 */
function noticeSharedCacheErrors(provider, notice) {
  if (typeof notice !== 'function' || typeof provider.on !== 'function') return
  let count = 0
  provider.on('shared-cache-error', (e) => {
    count++
    if (count === 1 || count % 100 === 0) {
      const what = e && e.error && e.error.message ? e.error.message : String(e && e.error)
      notice(`shared cache: ${e && e.operation} failed (${count} so far), the run goes on with the local cache: ${what}`)
    }
  })
}

async function runFixtures(provider, model, fixtureType, batch, fixturesDir) {
  const t0 = performance.now()
  let response
  try {
    response = await provider.execute(fixtureRequest(fixtureType, batch, fixturesDir))
  } catch (err) {
    response = { content: String(err && err.message), metadata: { error: String(err && err.message) } }
  }
  const md = response.metadata ?? {}
  const got = Array.isArray(md.buildFixResults) ? md.buildFixResults : []
  if (got.length === 0 && batch) return batch.map((f) => failedResult(f, model, md.error ?? response.content, performance.now() - t0))
  return got
}

/**
 * Fixture names from the command line must name fixtures of the bundled set: anything else is a
 * usage error (exit 2), found before any provider starts, not a run whose every fixture failed.
 */
function checkFixtureNames(pkg, fixtures, fixturesDir) {
  if (!Array.isArray(fixtures) || typeof pkg.listFixtures !== 'function') return
  const known = fixturesDir ? pkg.listFixtures('small', { fixturesDir }) : pkg.listFixtures('small')
  const unknown = fixtures.filter((name) => !known.includes(name))
  if (unknown.length > 0) {
    const names = unknown.map((name) => JSON.stringify(name)).join(', ')
    const where = fixturesDir ? `no fixture of ${fixturesDir}` : 'no bundled fixture'
    throw new UsageError(`--fixtures: ${where} is named ${names} (expected ${fixturesDir ? '' : 'small, massive or '}names among ${known.join(', ')})`)
  }
}

async function listFixtureNames(pkg, fixtures, fixturesDir) {
  if (Array.isArray(fixtures)) return fixtures
  if (typeof pkg.listFixtures === 'function') return fixturesDir ? pkg.listFixtures('small', { fixturesDir }) : pkg.listFixtures(fixtures)
  return null
}

/** ProviderStats from raw measurements (also used by test fakes to stay honest). */
function statsFrom({ latencies, failed, usage }) {
  const total = latencies.length + failed
  return {
    totalRequests: total,
    failedRequests: failed,
    averageResponseTime: mean(latencies),
    p50ResponseTime: percentile(latencies, 50),
    p95ResponseTime: percentile(latencies, 95),
    requestsPerSecond: total / (usage.wallMs / 1000),
    peakRss: usage.peakRss,
    cpuPercent: usage.cpuPercent,
    errorRate: total ? failed / total : 0,
    wallMs: usage.wallMs,
    scope: usage.scope,
  }
}

/** Resolves after `ms`, or at once when `signal` aborts; the timer never outlives the wait. */
function pause(ms, signal) {
  return new Promise((resolve) => {
    if (signal && signal.aborted) return resolve()
    const done = () => {
      clearTimeout(timer)
      if (signal) signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    if (signal) signal.addEventListener('abort', done, { once: true })
  })
}

/** Executes one request against an HTTP URL: GET, success on a 2xx status. */
function httpExecutor(url, timeout) {
  return async () => {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeout) })
    const body = await res.text()
    if (!res.ok) throw new Error(`HTTP ${res.status}`)
    return body
  }
}

/** The open model: requests start at a fixed rate whatever the response times, for `duration`. */
async function openModel({ rate, duration, timeout, execute, onProgress, signal }) {
  const interval = 1000 / rate
  const total = Math.max(1, Math.floor((duration / 1000) * rate))
  const records = []
  const pending = []
  const t0 = Date.now()
  for (let n = 0; n < total; n++) {
    const due = t0 + n * interval
    const wait = due - Date.now()
    if (wait > 0) await pause(wait, signal)
    if (signal && signal.aborted) break
    const startTime = Date.now()
    pending.push(
      (async () => {
        let timer
        const record = { requestId: `open-req-${n}`, startTime, success: true }
        try {
          await Promise.race([
            execute(),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error('Request timeout')), timeout)
            }),
          ])
        } catch (err) {
          record.success = false
          record.error = String((err && err.message) || err)
        } finally {
          clearTimeout(timer)
        }
        record.endTime = Date.now()
        record.duration = record.endTime - startTime
        records.push(record)
        onProgress({ done: records.length, total, success: record.success })
      })(),
    )
  }
  await Promise.all(pending)
  return { records, wallMs: Date.now() - t0 }
}

/**
 * The default engines over a package object (the root export of @promethean/benchmark unless
 * `loadPackage` says otherwise), loaded on first use.
 */
function createDefaults(loadPackage = requirePackage) {
  async function runBenchmark({
    models,
    targets,
    fixtures,
    fixturesDir,
    jobs,
    endpoint,
    concurrency = 1,
    workers,
    cache = true,
    sharedCache,
    onProgress = () => {},
    onNotice,
    signal,
  }) {
    const pkg = loadPackage()
    checkFixtureNames(pkg, fixtures, fixturesDir)
    if (typeof pkg.runBenchmark === 'function') {
      const given = jobs ? { jobs } : {}
      return pkg.runBenchmark({ models, targets, fixtures, fixturesDir, ...given, endpoint, concurrency, workers, cache, sharedCache, onProgress, signal })
    }
    const Provider = need(pkg, 'EnhancedBuildFixProvider')
    const fixtureType = fixtures === 'massive' ? 'massive' : 'small'
    const names = await listFixtureNames(pkg, fixtures, fixturesDir)
    const results = []
    let done = 0
    const total = jobs ? jobs.length : names ? names.length * models.length : 0
    // Each model on its own endpoint and API when the run says so (`name@endpoint`, a config file).
    const runs = targets ?? models.map((name) => ({ name }))
    for (const target of runs) {
      const model = target.name
      if (signal && signal.aborted) break
      // Given jobs (a shard): this model's fixtures among them, and no provider for a model without any.
      const mine = jobs ? jobs.filter((j) => j.model === model).map((j) => j.fixture) : names
      if (jobs && mine.length === 0) continue
      const provider = new Provider(providerConfig({ model, endpoint, cache, workers, sharedCache, target }))
      noticeSharedCacheErrors(provider, onNotice)
      await provider.connect()
      try {
        // One request per fixture when the names are known, for a live count; else one per model.
        const batches = mine ? mine.map((n) => [n]) : [null]
        await pooled(
          batches.map((batch) => async () => {
            for (const r of await runFixtures(provider, model, fixtureType, batch, fixturesDir)) {
              results.push(r)
              done++
              onProgress({ done, total, result: r })
            }
          }),
          concurrency,
          signal,
        )
      } finally {
        await provider.disconnect()
      }
    }
    return results
  }

  async function makeExecutor(pkg, { url, model, fixtures, endpoint, cache, workers, timeout }) {
    if (url) {
      const exec = typeof pkg.createHttpExecutor === 'function' ? pkg.createHttpExecutor({ url, timeout }) : httpExecutor(url, timeout)
      return { execute: exec, close: async () => {} }
    }
    const Provider = need(pkg, 'EnhancedBuildFixProvider')
    checkFixtureNames(pkg, fixtures)
    const names = await listFixtureNames(pkg, fixtures)
    const provider = new Provider(providerConfig({ model, endpoint, cache, workers }))
    await provider.connect()
    let i = 0
    return {
      async execute() {
        const batch = names ? [names[i++ % names.length]] : null
        const response = await provider.execute(fixtureRequest(fixtures === 'massive' ? 'massive' : 'small', batch))
        if (response.metadata && response.metadata.error) throw new Error(String(response.metadata.error))
        return response
      },
      close: () => provider.disconnect(),
    }
  }

  async function runLoadTest(opts) {
    const { users, requests, rampUp, duration, rate, timeout, onProgress = () => {}, signal } = opts
    const pkg = loadPackage()
    const target = await makeExecutor(pkg, opts)
    try {
      if (rate) {
        const { records, wallMs } = await openModel({ rate, duration, timeout, execute: target.execute, onProgress, signal })
        const rows = normalizeRecords(records)
        return { metrics: loadMetrics(rows, { users: 0, wallMs }), records, config: { rate, duration, timeout } }
      }
      const LoadTester = need(pkg, 'LoadTester')
      const tester = new LoadTester({ concurrentUsers: users, requestsPerUser: requests, rampUpTime: rampUp, testDuration: duration, thinkTime: 0, timeout })
      const total = users * requests
      let done = 0
      const metrics = await tester.runTest(
        (userId, requestId) => ({ userId, requestId }),
        async () => {
          let ok = false
          try {
            // LoadTester has no cancellation of its own: after Ctrl-C the remaining requests
            // fail at once, so the test ends quickly and its report says what happened.
            if (signal && signal.aborted) throw new Error('interrupted')
            const out = await target.execute()
            ok = true
            return out
          } finally {
            onProgress({ done: ++done, total, success: ok })
          }
        },
      )
      return { metrics, records: tester.getResponses(), config: { users, requests, rampUp, duration, timeout } }
    } finally {
      await target.close()
    }
  }

  /** One provider through the compare workload, with latencies, throughput, memory and CPU. */
  async function measureProvider(Provider, { model, fixtures, requests, concurrency, workers, checkers, endpoint, cache, onRequest, signal }) {
    const pkg = loadPackage()
    const names = await listFixtureNames(pkg, fixtures)
    const provider = new Provider(providerConfig({ model, endpoint, cache, workers, checkers }))
    await provider.connect()
    const fixtureType = fixtures === 'massive' ? 'massive' : 'small'
    const sampler = startSampler()
    const latencies = []
    let failed = 0
    let usage
    try {
      await pooled(
        Array.from({ length: requests }, (_, i) => async () => {
          const batch = names ? [names[i % names.length]] : null
          const t0 = performance.now()
          let ok = true
          try {
            const response = await provider.execute(fixtureRequest(fixtureType, batch))
            if (response.metadata && response.metadata.error) ok = false
          } catch {
            ok = false
          }
          if (ok) latencies.push(performance.now() - t0)
          else failed++
          onRequest(ok)
        }),
        concurrency,
        signal,
      )
    } finally {
      usage = sampler.stop()
      await provider.disconnect()
    }
    return statsFrom({ latencies, failed, usage })
  }

  async function runCompare({ model, fixtures, requests, concurrency, workers, checkers, endpoint, cache, onProgress = () => {}, signal }) {
    const pkg = loadPackage()
    checkFixtureNames(pkg, fixtures)
    const Before = need(pkg, 'BuildFixProvider')
    const After = need(pkg, 'EnhancedBuildFixProvider')
    const total = requests * 2
    let done = 0
    const onRequest = (success) => onProgress({ done: ++done, total, success })
    const common = { model, fixtures, requests, concurrency, workers, checkers, endpoint, cache, onRequest, signal }
    const before = await measureProvider(Before, common)
    const after = await measureProvider(After, common)
    return { before, after }
  }

  function loadTestReport(metrics) {
    const pkg = loadPackage()
    const Reporter = pkg.LoadTestReporter
    if (Reporter && typeof Reporter.generateReport === 'function') return Reporter.generateReport(metrics)
    if (typeof Reporter === 'function') return new Reporter().generateReport(metrics)
    return null
  }

  /** The run's fixtures in run order with content hashes (generated ones hashed as generated). */
  async function fixtureSet({ fixtures, fixturesDir }) {
    const pkg = loadPackage()
    checkFixtureNames(pkg, fixtures, fixturesDir)
    const names = await listFixtureNames(pkg, fixtures, fixturesDir)
    if (!names) throw new Error('this build of @promethean/benchmark has no listFixtures; --shard needs it')
    let hashOf
    if (fixtures === 'massive' && !fixturesDir) {
      const generated = new Map(
        require('../../fixtures/generate.js')
          .generate()
          .map((f) => [f.name, hashFiles({ ...f.files, 'fixture.json': JSON.stringify(f.fixture) })]),
      )
      hashOf = (name) => generated.get(name) ?? null
    } else {
      const root = fixturesDir ? path.resolve(fixturesDir) : require('../../worker/fixtures.js').SMALL_DIR
      hashOf = (name) => hashFixtureDir(path.join(root, name))
    }
    return names.map((name) => ({ name, hash: hashOf(name) }))
  }

  return { runBenchmark, runLoadTest, runCompare, loadTestReport, fixtureSet }
}

const defaults = createDefaults()

module.exports = {
  defaults,
  createDefaults,
  statsFrom,
  pooled,
  providerConfig,
  noticeSharedCacheErrors,
  runFixtures,
  failedResult,
  checkFixtureNames,
  listFixtureNames,
  requirePackage,
}
