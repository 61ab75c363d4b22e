'use strict'
// BaseProvider, EnhancedBuildFixProvider (warm native worker pool) and BuildFixProvider (the
// "before": one fresh process per request), over the provider service in src/provider.

const { spawn } = require('node:child_process')
const { EventEmitter } = require('node:events')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { performance } = require('node:perf_hooks')

const { makeDir } = require('./dirs.js')
const { binding, translate } = require('./native.js')
const { BoundedCollection } = require('./pool.js')
const { describeFixtures } = require('../worker/fixtures.js')
const v = require('./validate.js')

const PACKAGE_ROOT = path.join(__dirname, '..')
const WORKER_DIR = path.join(PACKAGE_ROOT, 'worker')
const SMALL_DIR = path.join(PACKAGE_ROOT, 'fixtures', 'small')

// ---------------------------------------------------------------------------------------------
// Errors of the contract

class EnhancedBuildFixTimeoutError extends Error {
  constructor(message, timeout, operation) {
    super(message)
    this.name = 'EnhancedBuildFixTimeoutError'
    this.timeout = timeout
    this.operation = operation
  }
}

class EnhancedBuildFixProcessError extends Error {
  constructor(message, exitCode, stderr, operation) {
    super(message)
    this.name = 'EnhancedBuildFixProcessError'
    this.exitCode = exitCode
    this.stderr = stderr
    this.operation = operation
  }
}

class EnhancedBuildFixCacheError extends Error {
  constructor(message, operation, cacheKey) {
    super(message)
    this.name = 'EnhancedBuildFixCacheError'
    this.operation = operation
    this.cacheKey = cacheKey
  }
}

/** A provider error (as data from the native side) as an instance of the contract's classes. */
function errorFromNative(e) {
  if (e.kind === 'timeout') return new EnhancedBuildFixTimeoutError(e.message, e.timeout ?? 0, e.operation ?? 'execute')
  if (e.kind === 'process') {
    return new EnhancedBuildFixProcessError(e.message, e.exitCode ?? null, e.stderr ?? '', e.operation ?? 'execute')
  }
  const err = new Error(e.message)
  err.code = `ERR_BUILDFIX_${e.kind.toUpperCase().replace(/-/g, '_')}`
  return err
}

/** A rejection of the native layer (by its code) as an instance of the contract's classes. */
function errorFromRejection(err, operation, timeout) {
  if (err && err.code === 'ERR_BUILDFIX_TIMEOUT') return new EnhancedBuildFixTimeoutError(err.message, timeout, operation)
  if (err && err.code === 'ERR_BUILDFIX_PROCESS') return new EnhancedBuildFixProcessError(err.message, null, '', operation)
  return translate(err)
}

// ---------------------------------------------------------------------------------------------
// Argument checks

function checkConfig(config) {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw v.typeError('config', 'a ProviderConfig object {name, type, model, endpoint?, options?}', config)
  }
  if (typeof config.name !== 'string') throw v.typeError('config.name', 'a string', config.name)
  if (typeof config.model !== 'string' || config.model.length === 0) {
    throw v.typeError('config.model', 'a non-empty string', config.model)
  }
  v.string('config.type', config.type)
  if (config.endpoint !== undefined) {
    if (typeof config.endpoint !== 'string') throw v.typeError('config.endpoint', 'a URL string', config.endpoint)
    let url
    try {
      url = new URL(config.endpoint)
    } catch {
      throw v.typeError('config.endpoint', 'an http(s) URL', config.endpoint)
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw v.typeError('config.endpoint', 'an http(s) URL', config.endpoint)
    }
  }
  v.string('config.apiKey', config.apiKey)
  v.optionsObject('config.options', config.options)
  return { ...config, options: { ...(config.options ?? {}) } }
}

function checkRequest(request) {
  if (request === null || typeof request !== 'object' || Array.isArray(request)) {
    throw v.typeError('request', 'a BenchmarkRequest object {prompt, maxTokens?, temperature?, metadata?}', request)
  }
  if (typeof request.prompt !== 'string') throw v.typeError('request.prompt', 'a string', request.prompt)
  v.number('request.maxTokens', request.maxTokens, { min: 1, max: 2 ** 31 - 1 })
  v.number('request.temperature', request.temperature, { integer: false, max: 100 })
  const metadata = v.optionsObject('request.metadata', request.metadata)
  const fixtureType = v.oneOf('metadata.fixtureType', metadata.fixtureType, ['small', 'massive'], 'small')
  let fixtures
  if (metadata.fixtures !== undefined) {
    if (!Array.isArray(metadata.fixtures) || !metadata.fixtures.every((f) => typeof f === 'string')) {
      throw v.typeError('metadata.fixtures', 'an array of fixture names', metadata.fixtures)
    }
    // An empty selection would answer "0 tests": almost surely a mistake, and never a benchmark.
    if (metadata.fixtures.length === 0) {
      throw v.rangeError('metadata.fixtures', 'at least one fixture name (leave it out for the whole set)', 'an empty array')
    }
    fixtures = metadata.fixtures
  }
  let fixturesDir
  if (metadata.fixturesDir !== undefined) {
    if (typeof metadata.fixturesDir !== 'string' || metadata.fixturesDir === '') {
      throw v.typeError('metadata.fixturesDir', 'a path to a folder of fixture folders', metadata.fixturesDir)
    }
    // A folder of your own replaces the bundled sets; `massive` would be a contradiction.
    if (metadata.fixtureType === 'massive') {
      throw v.rangeError('metadata.fixtureType', "'small' or nothing when metadata.fixturesDir is given", 'massive')
    }
    fixturesDir = path.resolve(metadata.fixturesDir)
  }
  return { fixtureType, fixtures, fixturesDir }
}

function resolveOptions(options) {
  const o = options
  const cpus = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length
  const maxWorkers = v.number('options.maxWorkers', o.maxWorkers, { min: 1, max: 256, fallback: Math.max(2, Math.min(cpus, 4)) })
  const breaker = v.optionsObject('options.circuitBreaker', o.circuitBreaker)
  const mode = v.oneOf('options.mode', o.mode, ['auto', 'bundled', 'command'], 'auto')
  if (o.command !== undefined && (!Array.isArray(o.command) || o.command.length === 0 || !o.command.every((a) => typeof a === 'string'))) {
    throw v.typeError('options.command', 'a non-empty array of strings (program and arguments; never run through a shell)', o.command)
  }
  return {
    mode,
    command: o.command,
    maxWorkers,
    minWorkers: v.number('options.minWorkers', o.minWorkers, { max: maxWorkers, fallback: Math.min(2, maxWorkers) }),
    cache: v.boolean('options.cache', o.cache, true),
    cacheDir: path.resolve(v.string('options.cacheDir', o.cacheDir, path.join('.cache', 'buildfix'))),
    cacheTtl: v.number('options.cacheTtl', o.cacheTtl, { fallback: 3600000 }),
    metricsDir: path.resolve(v.string('options.metricsDir', o.metricsDir, '.buildfix-metrics')),
    workDir: o.workDir === undefined ? undefined : path.resolve(v.string('options.workDir', o.workDir)),
    jobTimeout: v.number('options.jobTimeout', o.jobTimeout, { min: 1, fallback: 120000 }),
    acquireTimeout: v.number('options.acquireTimeout', o.acquireTimeout, { min: 1, fallback: 300000 }),
    workerStartTimeout: v.number('options.workerStartTimeout', o.workerStartTimeout, { min: 1, fallback: 60000 }),
    workerHeapMb: v.number('options.workerHeapMb', o.workerHeapMb, { max: 1 << 20, fallback: 256 }),
    commandTimeout: v.number('options.commandTimeout', o.commandTimeout, { min: 1, fallback: 600000 }),
    maxAttempts: v.number('options.maxAttempts', o.maxAttempts, { min: 1, max: 20, fallback: 1 }),
    attemptTimeout: v.number('options.attemptTimeout', o.attemptTimeout, { min: 1, fallback: 60000 }),
    failureThreshold: v.number('circuitBreaker.failureThreshold', breaker.failureThreshold, { min: 1, max: 1e6, fallback: 5 }),
    recoveryTimeout: v.number('circuitBreaker.recoveryTimeout', breaker.recoveryTimeout, { fallback: 30000 }),
    massiveCount: v.number('options.massiveCount', o.massiveCount, { min: 1, max: 100000, fallback: 200 }),
    massiveSeed: v.number('options.massiveSeed', o.massiveSeed, { max: 2 ** 32 - 1, fallback: 1 }),
    node: v.string('options.node', o.node, process.execPath),
  }
}

// ---------------------------------------------------------------------------------------------
// Responses

function summarize(results) {
  const total = results.length
  const successful = results.filter((r) => r.success).length
  const before = results.reduce((a, r) => a + (r.errorCountBefore || 0), 0)
  const resolved = results.reduce((a, r) => a + (r.errorsResolvedCount ?? Math.max(0, (r.errorCountBefore || 0) - (r.errorCountAfter || 0))), 0)
  const avg = total ? results.reduce((a, r) => a + (r.duration || 0), 0) / total : 0
  return { total, successful, before, resolved, avg }
}

function contentOf(model, fixtureType, results, cacheStats, totals) {
  const s = summarize(results)
  // A command that printed only its summary lines gives totals without per-fixture results.
  if (results.length === 0 && totals.total > 0) {
    s.total = totals.total
    s.successful = totals.successful
  }
  const pct = (n, d) => (d ? ((n / d) * 100).toFixed(1) : '0.0')
  const lookups = cacheStats.hits + cacheStats.misses
  return [
    `BuildFix benchmark: model ${model}, ${fixtureType} fixtures`,
    `Total tests: ${s.total}`,
    `Successful tests: ${s.successful} (${pct(s.successful, s.total)}% success rate)`,
    `Errors resolved: ${s.resolved} of ${s.before} (${pct(s.resolved, s.before)}% resolution rate)`,
    `Average duration: ${s.avg.toFixed(1)} ms`,
    `Cache hit rate: ${pct(cacheStats.hits, lookups)}%`,
  ].join('\n')
}

function measure(pids = []) {
  const cpu = process.cpuUsage()
  return {
    memoryUsage: process.memoryUsage().rss + (pids.length ? binding.processesRss(pids) : 0),
    cpuUsage: cpu.user + cpu.system,
    timestamp: Date.now(),
  }
}

function emptyMetrics(cache) {
  return {
    requestStartTime: performance.now(),
    processStartTime: 0,
    processEndTime: 0,
    ioStartTime: 0,
    ioEndTime: 0,
    memoryBefore: 0,
    memoryAfter: 0,
    cpuBefore: 0,
    cpuAfter: 0,
    cacheHits: cache.hits,
    cacheMisses: cache.misses,
  }
}

/** Creates the folder an option names; a refusal rejects naming the option (and never loops). */
async function optionDir(option, dir) {
  try {
    return await makeDir(dir)
  } catch (err) {
    err.message = `${option}: ${err.message}`
    throw err
  }
}

/** The models of the server at `config.endpoint` (GET /api/tags); `[config.model]` when it cannot say. */
async function serverModels(config) {
  if (config.endpoint) {
    try {
      const models = await require('../worker/models.js').listModels(config.endpoint)
      if (models.length > 0) return models
    } catch {}
  }
  return [config.model]
}

// ---------------------------------------------------------------------------------------------
// BaseProvider

class BaseProvider extends EventEmitter {
  constructor(config) {
    super()
    /** The provider's configuration (a copy). */
    this.config = checkConfig(config)
  }

  get name() {
    return this.config.name
  }

  async connect() {
    throw new Error(`${this.constructor.name} does not implement connect()`)
  }

  async disconnect() {}

  async execute() {
    throw new Error(`${this.constructor.name} does not implement execute()`)
  }

  async isHealthy() {
    return false
  }

  async listModels() {
    return [this.config.model]
  }
}

/** A TypeError/RangeError of the argument checks (ours or the native layer's, translated). */
function isBadInput(error) {
  return (
    (error instanceof TypeError || error instanceof RangeError) &&
    ['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE', 'ERR_OUT_OF_RANGE'].includes(error.code)
  )
}

/** Shared by both BuildFix providers: run, time and describe one request. */
async function runRequest(provider, request, run) {
  const { fixtureType, fixtures, fixturesDir } = checkRequest(request)
  const cacheBefore = provider.getCacheStats()
  const perf = emptyMetrics(cacheBefore)
  const before = measure(provider.workerPids())
  perf.memoryBefore = before.memoryUsage
  perf.cpuBefore = before.cpuUsage
  try {
    perf.processStartTime = performance.now()
    const outcome = await run({ fixtureType, fixtures, fixturesDir, request })
    perf.processEndTime = performance.now()
    perf.ioStartTime = performance.now()
    const results = JSON.parse(outcome.resultsJson)
    perf.ioEndTime = performance.now()
    const after = measure(provider.workerPids())
    perf.memoryAfter = after.memoryUsage
    perf.cpuAfter = after.cpuUsage
    const cacheStats = provider.getCacheStats()
    perf.cacheHits = cacheStats.hits
    perf.cacheMisses = cacheStats.misses
    const totalTests = outcome.totalTests ?? results.length
    const successfulTests = outcome.successfulTests ?? results.filter((r) => r.success).length
    const content = contentOf(provider.config.model, fixtureType, results, cacheStats, {
      total: totalTests,
      successful: successfulTests,
    })
    const response = {
      content,
      tokens: Math.ceil(content.length / 4),
      time: performance.now() - perf.requestStartTime,
      metadata: {
        buildFixResults: results,
        fixtureType,
        ...(fixturesDir === undefined ? {} : { fixturesDir }),
        totalTests,
        successfulTests,
        performanceMetrics: perf,
        cacheStats,
        resourceUsage: {
          before,
          after,
          delta: { memory: after.memoryUsage - before.memoryUsage, cpu: after.cpuUsage - before.cpuUsage },
        },
        cached: Boolean(outcome.cached),
        model: provider.config.model,
      },
    }
    provider._record(perf)
    provider.emit('request-completed', { request, response, metrics: perf })
    return response
  } catch (error) {
    // Bad input found on the native side (an unknown fixture name) rejects like bad input found
    // here: it is the caller's mistake, not a failed run.
    if (isBadInput(error)) throw error
    const reason = error instanceof Error ? error.message : String(error)
    const response = {
      content: `BuildFix benchmark failed: ${reason}`,
      tokens: 0,
      time: performance.now() - perf.requestStartTime,
      metadata: { error: reason, errorName: error?.name, fixtureType, performanceMetrics: perf },
    }
    provider._record(perf)
    provider.emit('request-failed', { request, error, response, metrics: perf })
    return response
  }
}

// ---------------------------------------------------------------------------------------------
// EnhancedBuildFixProvider

class EnhancedBuildFixProvider extends BaseProvider {
  #options
  #service = null
  #command = null // {root, argv} in command mode
  #metrics = new BoundedCollection(1000)
  #connecting = null

  constructor(config) {
    super(config)
    this.#options = resolveOptions(this.config.options)
  }

  /** 'bundled' (warm workers on the bundled engine), 'command' (a monorepo's BuildFix), or null before connect(). */
  get mode() {
    return this.#service ? 'bundled' : this.#command ? 'command' : null
  }

  async connect() {
    if (this.#service || this.#command) return
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = null
    })
    return this.#connecting
  }

  async #connect() {
    const started = performance.now()
    const o = this.#options
    const monorepo = o.command || o.mode === 'bundled' ? null : binding.findMonorepoBuildFix(process.cwd())
    if (o.command || o.mode === 'command' || monorepo) {
      if (o.command) {
        this.#command = { root: process.cwd(), argv: o.command }
      } else if (monorepo) {
        const [root, ...argv] = monorepo
        if (!fs.existsSync(path.join(root, 'packages', 'buildfix', 'package.json'))) {
          throw new Error(`BuildFix package not found at ${path.join(root, 'packages', 'buildfix')}`)
        }
        this.#command = { root, argv }
      } else {
        throw new Error(
          "options.mode is 'command' but no BuildFix was found: no pnpm-workspace.yaml with packages/buildfix above the working folder, and no options.command",
        )
      }
    } else {
      try {
        require.resolve('typescript', { paths: [WORKER_DIR] })
      } catch {
        throw new Error('the TypeScript compiler is missing: the BuildFix workers need the typescript package (npm install typescript@5)')
      }
      if (!fs.existsSync(path.join(WORKER_DIR, 'buildfix-worker.js'))) {
        throw new Error(`the BuildFix worker is missing: ${path.join(WORKER_DIR, 'buildfix-worker.js')} does not exist`)
      }
      await optionDir('options.metricsDir', o.metricsDir)
      // The service makes (and removes) a folder of its own in here, and removes the folders
      // of providers that died without cleaning up.
      const workDir = o.workDir === undefined ? os.tmpdir() : await optionDir('options.workDir', o.workDir)
      try {
        this.#service = await binding.connectBuildFixService({
          model: this.config.model,
          endpoint: this.config.endpoint,
          packageRoot: PACKAGE_ROOT,
          node: o.node,
          workDir,
          cacheDir: o.cache ? o.cacheDir : undefined,
          cacheEnabled: o.cache,
          cacheTtl: o.cacheTtl,
          minWorkers: o.minWorkers,
          maxWorkers: o.maxWorkers,
          workerStartTimeout: o.workerStartTimeout,
          workerHeapMb: o.workerHeapMb,
          acquireTimeout: o.acquireTimeout,
          jobTimeout: o.jobTimeout,
          maxAttempts: o.maxAttempts,
          attemptTimeout: o.attemptTimeout,
          breakerThreshold: o.failureThreshold,
          breakerRecovery: o.recoveryTimeout,
          massiveCount: o.massiveCount,
          massiveSeed: o.massiveSeed,
        })
      } catch (err) {
        throw errorFromRejection(err, 'connect', o.workerStartTimeout)
      }
    }
    this.emit('connection-established', {
      connectionTime: performance.now() - started,
      mode: this.mode,
      workers: this.#service ? this.#service.poolStatus().size : 0,
    })
  }

  async disconnect() {
    if (this.#connecting) await this.#connecting.catch(() => {})
    const service = this.#service
    const wasConnected = Boolean(service || this.#command)
    this.#service = null
    this.#command = null
    if (service) await service.close()
    if (wasConnected) await this.#saveMetrics()
  }

  async #saveMetrics() {
    const dir = this.#options.metricsDir
    const file = path.join(dir, `buildfix-metrics-${Date.now()}.json`)
    const body = JSON.stringify(
      { timestamp: Date.now(), provider: this.config.name, model: this.config.model, metrics: this.getPerformanceMetrics() },
      null,
      2,
    )
    try {
      await makeDir(dir)
      const tmp = `${file}.tmp-${process.pid}`
      await fs.promises.writeFile(tmp, body)
      await fs.promises.rename(tmp, file)
      this.emit('metrics-saved', { path: file })
    } catch (error) {
      this.emit('metrics-save-error', { path: file, error })
    }
  }

  async execute(request) {
    return runRequest(this, request, async ({ fixtureType, fixtures, fixturesDir }) => {
      const o = this.#options
      if (this.#service) {
        const outcome = await this.#service
          .execute({
            fixtureType,
            fixtures,
            fixturesDir,
            prompt: request.prompt,
            temperature: request.temperature,
            maxTokens: request.maxTokens,
            useCache: o.cache,
          })
          .catch((err) => {
            throw translate(err)
          })
        if (outcome.error) throw errorFromNative(outcome.error)
        return outcome
      }
      if (this.#command) {
        if (fixturesDir !== undefined) {
          throw v.rangeError('metadata.fixturesDir', 'no folder: a provider in command mode runs its command\'s own fixtures', fixturesDir)
        }
        const outcome = await binding.runBuildFixCommand(
          this.#command.argv,
          this.#command.root,
          this.config.model,
          fixtureType === 'massive',
          o.commandTimeout,
        )
        if (outcome.error) throw errorFromNative(outcome.error)
        return outcome
      }
      throw new Error('the provider is not connected; call connect() first')
    })
  }

  async isHealthy() {
    if (this.#command) return fs.existsSync(this.#command.root)
    if (!this.#service) return false
    return this.#service.poolStatus().size > 0 && this.#service.breakerState() !== 'open'
  }

  /** The models of the server at `endpoint` (GET /api/tags); `[config.model]` when it cannot say. */
  async listModels() {
    return serverModels(this.config)
  }

  /** Per-request metrics, oldest first (a plain array: usable with or without `await`). */
  getPerformanceMetrics() {
    return this.#metrics.toArray()
  }

  getCacheStats() {
    return this.#service ? this.#service.cacheCounters() : { hits: 0, misses: 0, evictions: 0 }
  }

  getProcessPoolStatus() {
    if (!this.#service) {
      return { size: 0, active: 0, idle: 0, waiting: 0, starting: 0, maxSize: this.#options.maxWorkers, minSize: this.#options.minWorkers, mode: this.mode }
    }
    return { ...this.#service.poolStatus(), mode: 'bundled', circuit: this.#service.breakerState() }
  }

  async clearCache() {
    this.#service?.clearCache()
  }

  /** Process ids of the live worker processes. */
  workerPids() {
    return this.#service ? this.#service.workerPids() : []
  }

  /** @internal */
  _record(metrics) {
    this.#metrics.push(metrics)
  }
}

// ---------------------------------------------------------------------------------------------
// BuildFixProvider: the guide's "before"

/**
 * One fresh Node process per request, which loads the TypeScript compiler cold and runs the
 * request's fixtures (on temporary copies), as the original provider did with `pnpm tsx`.
 * It has the same interface as EnhancedBuildFixProvider and no pool and no cache.
 */
class BuildFixProvider extends BaseProvider {
  #options
  #connected = false
  #metrics = new BoundedCollection(1000)
  #children = new Set()

  constructor(config) {
    super(config)
    const o = this.config.options
    this.#options = {
      timeout: v.number('options.timeout', o.timeout, { min: 1, fallback: 120000 }),
      maxAttempts: v.number('options.maxAttempts', o.maxAttempts, { min: 1, max: 20, fallback: 1 }),
      attemptTimeout: v.number('options.attemptTimeout', o.attemptTimeout, { min: 1, fallback: 60000 }),
      node: v.string('options.node', o.node, process.execPath),
    }
  }

  async connect() {
    const runner = path.join(WORKER_DIR, 'run.js')
    if (!fs.existsSync(runner)) throw new Error(`the BuildFix runner is missing: ${runner} does not exist`)
    this.#connected = true
    this.emit('connection-established', { connectionTime: 0, mode: 'process-per-request', workers: 0 })
  }

  async disconnect() {
    this.#connected = false
    const exits = []
    for (const child of this.#children) {
      child.stoppedByDisconnect = true
      exits.push(new Promise((resolve) => child.once('close', resolve)))
      child.kill('SIGKILL')
    }
    await Promise.all(exits)
  }

  async execute(request) {
    return runRequest(this, request, ({ fixtureType, fixtures, fixturesDir }) => {
      if (!this.#connected) throw new Error('the provider is not connected; call connect() first')
      // A folder that is not there is bad input, as it is for EnhancedBuildFixProvider.
      if (fixturesDir !== undefined) listFixtures('small', { fixturesDir })
      if (fixtures && fixtureType === 'small') {
        const known = new Set(listFixtures('small', { fixturesDir }))
        const unknown = fixtures.find((f) => !known.has(f))
        if (unknown !== undefined) {
          throw v.rangeError('metadata.fixtures', 'names of fixtures in the chosen set', unknown)
        }
      }
      return this.#runOnce(fixtureType, fixtures, fixturesDir)
    })
  }

  async #runOnce(fixtureType, fixtures, fixturesDir) {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'promethean-buildfix-once-'))
    const set = fixturesDir !== undefined ? ['--fixtures-dir', fixturesDir] : [fixtureType === 'massive' ? '--massive' : '--small-fixtures']
    const args = [path.join(WORKER_DIR, 'run.js'), '--models', this.config.model, ...set]
    if (fixtures) args.push('--fixtures', fixtures.join(','))
    if (this.config.endpoint) args.push('--endpoint', this.config.endpoint)
    args.push('--attempts', String(this.#options.maxAttempts), '--timeout', String(this.#options.attemptTimeout), '--out', out)
    try {
      const stdout = await new Promise((resolve, reject) => {
        const child = spawn(this.#options.node, args, { stdio: ['ignore', 'pipe', 'pipe'] })
        this.#children.add(child)
        let text = ''
        let err = ''
        child.stdout.on('data', (d) => (text += d))
        child.stderr.on('data', (d) => (err = (err + d).slice(-4000)))
        let timedOut = false
        const timer = setTimeout(() => {
          timedOut = true
          child.kill('SIGKILL')
        }, this.#options.timeout)
        child.on('error', reject)
        child.on('close', (code, signal) => {
          clearTimeout(timer)
          this.#children.delete(child)
          if (child.stoppedByDisconnect) reject(new Error('the provider was disconnected during the BuildFix run'))
          else if (timedOut) reject(new EnhancedBuildFixTimeoutError(`BuildFix run timed out after ${this.#options.timeout} ms`, this.#options.timeout, 'execute'))
          else if (signal) reject(new EnhancedBuildFixProcessError(`BuildFix run was killed by ${signal}`, null, err, 'execute'))
          else if (code !== 0 && !/Results saved to:/.test(text)) reject(new EnhancedBuildFixProcessError(`BuildFix run exited with code ${code}`, code, err, 'execute'))
          else resolve(text)
        })
      })
      const saved = /Results saved to: (.+)$/m.exec(stdout)
      if (!saved) throw new EnhancedBuildFixProcessError('BuildFix run printed no results file', 0, '', 'parse')
      const doc = JSON.parse(fs.readFileSync(saved[1].trim(), 'utf8'))
      return { resultsJson: JSON.stringify(doc.results), cached: false }
    } finally {
      fs.rmSync(out, { recursive: true, force: true })
    }
  }

  async isHealthy() {
    return this.#connected
  }

  async listModels() {
    return serverModels(this.config)
  }

  getPerformanceMetrics() {
    return this.#metrics.toArray()
  }

  getCacheStats() {
    return { hits: 0, misses: 0, evictions: 0 }
  }

  getProcessPoolStatus() {
    return { size: this.#children.size, active: this.#children.size, maxSize: Infinity, mode: 'process-per-request' }
  }

  async clearCache() {}

  workerPids() {
    return [...this.#children].map((c) => c.pid).filter(Boolean)
  }

  /** @internal */
  _record(metrics) {
    this.#metrics.push(metrics)
  }
}

/**
 * The fixtures of a set: the bundled `small` set (default), the seeded `massive` one, or the
 * folder `options.fixturesDir` (any folder of fixture folders). Names, or with `details: true`
 * what each one tests: `{name, family, code, codes, file, line, description}`.
 */
function listFixtures(set, options = {}) {
  set = v.oneOf('set', set, ['small', 'massive'], 'small')
  const o = v.optionsObject('options', options)
  const count = v.number('options.count', o.count, { min: 1, max: 100000, fallback: 200 })
  const seed = v.number('options.seed', o.seed, { min: 0, max: 2 ** 32 - 1, fallback: 1 })
  const details = v.boolean('options.details', o.details, false)
  let infos
  if (o.fixturesDir !== undefined) {
    if (typeof o.fixturesDir !== 'string' || o.fixturesDir === '') {
      throw v.typeError('options.fixturesDir', 'a path to a folder of fixture folders', o.fixturesDir)
    }
    if (set === 'massive') throw v.rangeError('set', "'small' or nothing when options.fixturesDir is given", set)
    const dir = path.resolve(o.fixturesDir)
    if (!isDirectory(dir)) throw v.rangeError('options.fixturesDir', 'an existing folder', o.fixturesDir)
    infos = describeFixtures(dir)
  } else if (set === 'small') {
    infos = describeFixtures(SMALL_DIR)
  } else {
    infos = require('../fixtures/generate.js')
      .generate({ count, seed })
      .map((f) => ({
        name: f.name,
        family: f.fixture.family,
        // Where tsc's wording depends on the generated names, the written fixture's code is the
        // one of `codes` the compiler reports.
        code: f.fixture.target.code,
        codes: f.codes,
        file: f.fixture.target.file,
        line: f.fixture.target.line,
        description: f.fixture.description,
      }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }
  if (!details) return infos.map((f) => f.name)
  return infos.map(({ dir, error, ...info }) => ({ ...info, codes: info.codes ?? [info.code], ...(error ? { error } : {}) }))
}

function isDirectory(dir) {
  try {
    return fs.statSync(dir).isDirectory()
  } catch {
    return false
  }
}

module.exports = {
  BaseProvider,
  EnhancedBuildFixProvider,
  BuildFixProvider,
  EnhancedBuildFixTimeoutError,
  EnhancedBuildFixProcessError,
  EnhancedBuildFixCacheError,
  listFixtures,
}
