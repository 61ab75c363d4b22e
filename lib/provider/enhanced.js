'use strict'
// EnhancedBuildFixProvider: warm checkers (threads of this process, or worker processes) over
// the native provider service (src/provider), or a monorepo's own BuildFix command.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { performance } = require('node:perf_hooks')

const { onAbort } = require('../abort.js')
const { makeDir } = require('../dirs.js')
const debug = require('../debug.js')
const { binding } = require('../native.js')
const v = require('../validate.js')
const { BoundedCollection } = require('../pool.js')
const { BaseProvider, serverModels } = require('./base.js')
const { failureError, NOT_CONNECTED } = require('./errors.js')
const { createThreadHost } = require('./checkers.js')
const { resolveOptions } = require('./options.js')
const { checkRequest, failedOutcome, runRequest } = require('./run.js')

const log = debug.createDebug('buildfix:provider')

const PACKAGE_ROOT = path.join(__dirname, '..', '..')
const WORKER_DIR = path.join(PACKAGE_ROOT, 'worker')

/** Creates the folder an option names; a refusal rejects naming the option (and never loops). */
async function optionDir(option, dir) {
  try {
    return await makeDir(dir)
  } catch (err) {
    err.message = `${option}: ${err.message}`
    throw err
  }
}

/** The result cache's counters; `shared` (the Redis level's own) only with `options.sharedCache`. */
function cacheStats({ hits, misses, evictions, shared }) {
  return shared ? { hits, misses, evictions, shared } : { hits, misses, evictions }
}

class EnhancedBuildFixProvider extends BaseProvider {
  #options
  #service = null
  #command = null // {root, argv} in command mode
  #metrics = new BoundedCollection(1000)
  #connecting = null
  #finalCacheStats = null // the cache counters of the last connection, kept after disconnect()

  constructor(config) {
    super(config)
    this.#options = resolveOptions(this.config.options)
  }

  /** 'bundled' (warm workers on the bundled engine), 'command' (a monorepo's BuildFix), or null before connect(). */
  get mode() {
    return this.#service ? 'bundled' : this.#command ? 'command' : null
  }

  async connect() {
    debug.refresh()
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
      const serviceConfig = {
        model: this.config.model,
        endpoint: this.config.endpoint,
        packageRoot: PACKAGE_ROOT,
        node: o.node,
        workDir,
        cacheDir: o.cache ? o.cacheDir : undefined,
        cacheEnabled: o.cache,
        cacheTtl: o.cacheTtl,
        sharedCache: o.sharedCache,
        minWorkers: o.minWorkers,
        maxWorkers: o.maxWorkers,
        workerGrowAfter: o.workerGrowAfter,
        workerIdleTimeout: o.workerIdleTimeout,
        workerStartTimeout: o.workerStartTimeout,
        workerHeapMb: o.workerHeapMb,
        workerLowMemory: o.workerLowMemory,
        acquireTimeout: o.acquireTimeout,
        jobTimeout: o.jobTimeout,
        maxAttempts: o.maxAttempts,
        attemptTimeout: o.attemptTimeout,
        breakerThreshold: o.failureThreshold,
        breakerRecovery: o.recoveryTimeout,
        massiveCount: o.massiveCount,
        massiveSeed: o.massiveSeed,
        api: this.config.api,
        apiKeyEnv: this.config.apiKeyEnv,
        seed: o.seed,
        maxConcurrentRequests: o.maxConcurrentRequests,
        checkers: o.checkers,
      }
      const threadHost = o.checkers === 'thread' ? createThreadHost() : undefined
      const connected = await binding.connectBuildFixService(serviceConfig, threadHost)
      if (typeof connected.kind === 'string') throw failureError(connected)
      this.#service = connected
    }
    log('connected in %d ms: mode %s, model %s', Math.round(performance.now() - started), this.mode, this.config.model)
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
    if (service) this.#finalCacheStats = cacheStats(service.cacheCounters())
    this.#service = null
    this.#command = null
    if (service) await service.close()
    if (wasConnected) log('disconnected: workers stopped')
    if (wasConnected) await this.#saveMetrics()
  }

  async #saveMetrics() {
    const dir = this.#options.metricsDir
    const file = path.join(dir, `buildfix-metrics-${Date.now()}.json`)
    const body = JSON.stringify({ timestamp: Date.now(), provider: this.config.name, model: this.config.model, metrics: this.getPerformanceMetrics() }, null, 2)
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

  /**
   * Runs the request's fixtures (see the contract). `options.signal` cancels it: queued jobs
   * leave the queue, running ones are stopped in their workers and their copies restored, and
   * the promise rejects with the signal's reason once they have.
   */
  async execute(request, options) {
    return runRequest(this, request, options, ({ signal }) => {
      if (this.#service) {
        const cancel = signal && new binding.NativeCancel()
        const done = onAbort(signal, () => cancel.cancel())
        if (signal?.aborted) cancel.cancel()
        return this.#service.execute(request, this.#options.cache, cancel ?? undefined).finally(done)
      }
      const { fixtureType, fixturesDir } = checkRequest(request)
      if (this.#command) {
        if (fixturesDir !== undefined) {
          throw v.rangeError('metadata.fixturesDir', "no folder: a provider in command mode runs its command's own fixtures", fixturesDir)
        }
        // A command runs to its end: it has no way to be told to stop but a kill.
        return binding.runBuildFixCommand(this.#command.argv, this.#command.root, this.config.model, fixtureType === 'massive', this.#options.commandTimeout)
      }
      return failedOutcome(fixtureType, NOT_CONNECTED)
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
    // After disconnect() the figures of the finished run stay (what people print then).
    if (this.#service) return cacheStats(this.#service.cacheCounters())
    return this.#finalCacheStats ? { ...this.#finalCacheStats } : { hits: 0, misses: 0, evictions: 0 }
  }

  getProcessPoolStatus() {
    if (!this.#service) {
      return { size: 0, active: 0, idle: 0, waiting: 0, starting: 0, maxSize: this.#options.maxWorkers, minSize: this.#options.minWorkers, mode: this.mode }
    }
    return { ...this.#service.poolStatus(), mode: 'bundled', circuit: this.#service.breakerState() }
  }

  /** Empties the result cache; rejects with an EnhancedBuildFixCacheError if its files could not all be removed. */
  async clearCache() {
    const failure = await this.#service?.clearCache()
    if (failure) throw failureError(failure)
  }

  /** Process ids of the live worker processes (checker threads have none of their own). */
  workerPids() {
    return this.#service ? this.#service.workerPids() : []
  }

  /** @internal */
  _record(metrics) {
    this.#metrics.push(metrics)
  }
}

module.exports = { EnhancedBuildFixProvider }
