'use strict'
// The providers' configuration and options, checked and defaulted once, where they are given.

const os = require('node:os')
const path = require('node:path')

const { binding } = require('../native.js')
const v = require('../validate.js')
const { APIS, inferApi } = require('../../worker/clients')

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
  const server = checkServer('config', config)
  return { ...config, ...server, options: { ...(config.options ?? {}) } }
}

// An environment variable's name: what `apiKeyEnv` holds (never the key itself).
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * `api` and `apiKeyEnv` of a model server's settings (`where` names the object in messages):
 * the API is one of APIS, inferred from the endpoint when absent (OpenAI-style when it ends in
 * /v1); the key variable must be set now, so a run does not start only to fail on every request.
 * Messages name the variable, never its value.
 */
function checkServer(where, { endpoint, api, apiKeyEnv }) {
  const out = {}
  if (api !== undefined || endpoint !== undefined) {
    out.api = v.oneOf(`${where}.api`, api, APIS, endpoint === undefined ? undefined : inferApi(endpoint))
  }
  if (apiKeyEnv !== undefined) {
    // The value is not quoted back: a key given here by mistake must not reach a log.
    if (typeof apiKeyEnv !== 'string' || !ENV_NAME.test(apiKeyEnv)) {
      const err = new TypeError(`${where}.apiKeyEnv must be the name of an environment variable (like OPENAI_API_KEY), not the key itself`)
      err.code = 'ERR_INVALID_ARG_TYPE'
      throw err
    }
    if (!process.env[apiKeyEnv]) {
      const err = new TypeError(
        `${where}.apiKeyEnv names ${apiKeyEnv}, which is not set in the environment: set it to the API key, or leave apiKeyEnv out for a server without one`,
      )
      err.code = 'ERR_INVALID_ARG_VALUE'
      throw err
    }
    out.apiKeyEnv = apiKeyEnv
  }
  return out
}

// What one worker process may come to, beyond its V8 heap limit: the Node runtime, the compiler's
// code and V8's young generation (measured: docs/engine.md, "Where a worker's memory goes").
const WORKER_OVERHEAD_MB = 96
// Node's own old-space default on 64-bit machines, for `workerHeapMb: 0`.
const NODE_DEFAULT_HEAP_MB = 2048

/**
 * The most worker processes this machine runs well: one per core (each check is CPU-bound, so a
 * second worker per core only makes both slower and doubles the memory), and no more than fit in
 * half of the memory available to this process at `heapMb` each.
 */
function workerLimit(heapMb = 256) {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length
  const available = typeof process.availableMemory === 'function' ? process.availableMemory() : os.freemem()
  const perWorker = ((heapMb || NODE_DEFAULT_HEAP_MB) + WORKER_OVERHEAD_MB) * 1024 * 1024
  const byMemory = Math.floor(available / 2 / perWorker)
  return { limit: Math.max(1, Math.min(cores, byMemory)), cores, availableMb: Math.round(available / 1048576) }
}

/** `maxWorkers`/`minWorkers` as asked, or sized to the machine; more than it runs well is capped with a warning. */
function resolveWorkers(o, heapMb) {
  const asked = v.number('options.maxWorkers', o.maxWorkers, { min: 1, max: 256 })
  const min = v.number('options.minWorkers', o.minWorkers, { max: asked ?? 256 })
  const { limit, cores, availableMb } = workerLimit(heapMb)
  const maxWorkers = Math.min(asked ?? limit, limit)
  if (asked !== undefined && asked > limit) {
    process.emitWarning(
      `options.maxWorkers ${asked} is more worker processes than this machine runs well (${cores} cores, ` +
        `${availableMb} MB available, up to ${heapMb || NODE_DEFAULT_HEAP_MB + ' MB'} heap each): using ${limit}. ` +
        'Requests in flight are not bounded by it; they queue for the workers.',
      { type: 'BuildFixWarning', code: 'BUILDFIX_WORKERS_CAPPED' },
    )
  }
  if (min !== undefined && min > maxWorkers) {
    process.emitWarning(`options.minWorkers ${min} is more than the ${maxWorkers} worker processes this machine runs well: using ${maxWorkers}.`, {
      type: 'BuildFixWarning',
      code: 'BUILDFIX_WORKERS_CAPPED',
    })
  }
  // One warm worker: more start while jobs queue and stop again when idle.
  const minWorkers = Math.min(min ?? 1, maxWorkers)
  return { maxWorkers, minWorkers }
}

/** The options of EnhancedBuildFixProvider, defaults filled in. */
function resolveOptions(options) {
  const o = options
  const workerHeapMb = v.number('options.workerHeapMb', o.workerHeapMb, { max: 1 << 20, fallback: 256 })
  const { maxWorkers, minWorkers } = resolveWorkers(o, workerHeapMb)
  const breaker = v.optionsObject('options.circuitBreaker', o.circuitBreaker)
  const mode = v.oneOf('options.mode', o.mode, ['auto', 'bundled', 'command'], 'auto')
  if (o.command !== undefined && (!Array.isArray(o.command) || o.command.length === 0 || !o.command.every((a) => typeof a === 'string'))) {
    throw v.typeError('options.command', 'a non-empty array of strings (program and arguments; never run through a shell)', o.command)
  }
  return {
    mode,
    command: o.command,
    maxWorkers,
    minWorkers,
    workerGrowAfter: v.number('options.workerGrowAfter', o.workerGrowAfter, { max: 2 ** 31 - 1, fallback: 250 }),
    workerIdleTimeout: v.number('options.workerIdleTimeout', o.workerIdleTimeout, { min: 1, max: 2 ** 31 - 1, fallback: 30000 }),
    cache: v.boolean('options.cache', o.cache, true),
    cacheDir: path.resolve(v.string('options.cacheDir', o.cacheDir, path.join('.cache', 'buildfix'))),
    cacheTtl: v.number('options.cacheTtl', o.cacheTtl, { fallback: 3600000 }),
    // A Redis URL or {url, keyPrefix?, timeoutMs?}; its values live for cacheTtl.
    sharedCache: o.sharedCache === undefined ? undefined : binding.sharedCacheCheck(o.sharedCache, 'options.sharedCache'),
    metricsDir: path.resolve(v.string('options.metricsDir', o.metricsDir, '.buildfix-metrics')),
    workDir: o.workDir === undefined ? undefined : path.resolve(v.string('options.workDir', o.workDir)),
    jobTimeout: v.number('options.jobTimeout', o.jobTimeout, { min: 1, fallback: 120000 }),
    acquireTimeout: v.number('options.acquireTimeout', o.acquireTimeout, { min: 1, fallback: 300000 }),
    workerStartTimeout: v.number('options.workerStartTimeout', o.workerStartTimeout, { min: 1, fallback: 60000 }),
    workerHeapMb,
    workerLowMemory: v.boolean('options.workerLowMemory', o.workerLowMemory, true),
    // A thread runs on this process's runtime: naming another one (options.node) means processes.
    checkers: v.oneOf('options.checkers', o.checkers, ['thread', 'process'], o.node === undefined ? 'thread' : 'process'),
    commandTimeout: v.number('options.commandTimeout', o.commandTimeout, { min: 1, fallback: 600000 }),
    maxAttempts: v.number('options.maxAttempts', o.maxAttempts, { min: 1, max: 20, fallback: 1 }),
    attemptTimeout: v.number('options.attemptTimeout', o.attemptTimeout, { min: 1, fallback: 60000 }),
    failureThreshold: v.number('circuitBreaker.failureThreshold', breaker.failureThreshold, { min: 1, max: 1e6, fallback: 5 }),
    recoveryTimeout: v.number('circuitBreaker.recoveryTimeout', breaker.recoveryTimeout, { fallback: 30000 }),
    massiveCount: v.number('options.massiveCount', o.massiveCount, { min: 1, max: 100000, fallback: 200 }),
    massiveSeed: v.number('options.massiveSeed', o.massiveSeed, { max: 2 ** 32 - 1, fallback: 1 }),
    node: v.string('options.node', o.node, process.execPath),
    seed: v.number('options.seed', o.seed, { min: -(2 ** 53 - 1), fallback: undefined }),
    maxConcurrentRequests: v.number('options.maxConcurrentRequests', o.maxConcurrentRequests, { min: 1, max: 4096, fallback: undefined }),
  }
}

/** The options of the process-per-request BuildFixProvider, defaults filled in. */
function resolveBaselineOptions(o) {
  return {
    timeout: v.number('options.timeout', o.timeout, { min: 1, fallback: 120000 }),
    maxAttempts: v.number('options.maxAttempts', o.maxAttempts, { min: 1, max: 20, fallback: 1 }),
    attemptTimeout: v.number('options.attemptTimeout', o.attemptTimeout, { min: 1, fallback: 60000 }),
    node: v.string('options.node', o.node, process.execPath),
  }
}

module.exports = { checkServer, checkConfig, resolveOptions, resolveBaselineOptions, workerLimit }
