'use strict'
// BuildFixProvider, the guide's "before": one fresh process per request.

const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { onAbort } = require('../abort.js')
const { BoundedCollection } = require('../pool.js')
const v = require('../validate.js')
const { BaseProvider, serverModels } = require('./base.js')
const { NOT_CONNECTED } = require('./errors.js')
const { resolveBaselineOptions } = require('./options.js')
const { checkRequest, failedOutcome, runRequest } = require('./run.js')

const PACKAGE_ROOT = path.join(__dirname, '..', '..')
const WORKER_DIR = path.join(PACKAGE_ROOT, 'worker')
const SMALL_DIR = path.join(PACKAGE_ROOT, 'fixtures', 'small')

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
    this.#options = resolveBaselineOptions(this.config.options)
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

  /** Runs the request in a fresh process; `options.signal` kills it (the promise rejects with the signal's reason). */
  async execute(request, options) {
    return runRequest(this, request, options, ({ signal }) => {
      const { fixtureType, fixtures } = checkRequest(request)
      if (!this.#connected) return failedOutcome(fixtureType, NOT_CONNECTED)
      if (fixtures && fixtureType === 'small') {
        const known = new Set(listFixtures('small'))
        const unknown = fixtures.find((f) => !known.has(f))
        if (unknown !== undefined) {
          throw v.rangeError('metadata.fixtures', 'names of fixtures in the chosen set', unknown)
        }
      }
      return this.#runOnce(fixtureType, fixtures, signal)
    })
  }

  /** Spawns the run synchronously (its pid is listed as soon as execute() returns). */
  #runOnce(fixtureType, fixtures, signal) {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'promethean-buildfix-once-'))
    const args = [path.join(WORKER_DIR, 'run.js'), '--models', this.config.model, fixtureType === 'massive' ? '--massive' : '--small-fixtures']
    if (fixtures) args.push('--fixtures', fixtures.join(','))
    if (this.config.endpoint) args.push('--endpoint', this.config.endpoint)
    args.push('--attempts', String(this.#options.maxAttempts), '--timeout', String(this.#options.attemptTimeout), '--out', out)
    const timeout = this.#options.timeout
    const failed = (failure) => failedOutcome(fixtureType, { operation: 'execute', ...failure })
    return new Promise((resolve) => {
      const child = spawn(this.#options.node, args, { stdio: ['ignore', 'pipe', 'pipe'] })
      this.#children.add(child)
      let text = ''
      let err = ''
      child.stdout.on('data', (d) => (text += d))
      child.stderr.on('data', (d) => (err = (err + d).slice(-4000)))
      let timedOut = false
      let aborted = false
      const timer = setTimeout(() => {
        timedOut = true
        child.kill('SIGKILL')
      }, timeout)
      const done = onAbort(signal, () => {
        aborted = true
        child.kill('SIGKILL')
      })
      child.on('error', (e) => resolve(failed({ kind: 'process', message: e.message, exitCode: null, stderr: err })))
      child.on('close', (code, killedBy) => {
        clearTimeout(timer)
        done()
        this.#children.delete(child)
        if (aborted) resolve(failed({ kind: 'aborted', message: 'execute was aborted' }))
        else if (child.stoppedByDisconnect) resolve(failed({ kind: 'not-connected', message: 'the provider was disconnected during the BuildFix run' }))
        else if (timedOut) resolve(failed({ kind: 'timeout', message: `BuildFix run timed out after ${timeout} ms`, timeout }))
        else if (killedBy) resolve(failed({ kind: 'process', message: `BuildFix run was killed by ${killedBy}`, exitCode: null, stderr: err }))
        else if (code !== 0 && !/Results saved to:/.test(text)) resolve(failed({ kind: 'process', message: `BuildFix run exited with code ${code}`, exitCode: code, stderr: err }))
        else resolve(this.#readResults(fixtureType, text, failed))
      })
    }).finally(() => fs.rmSync(out, { recursive: true, force: true }))
  }

  #readResults(fixtureType, stdout, failed) {
    const saved = /Results saved to: (.+)$/m.exec(stdout)
    if (!saved) return failed({ kind: 'process', message: 'BuildFix run printed no results file', exitCode: 0, stderr: '', operation: 'parse' })
    try {
      const doc = JSON.parse(fs.readFileSync(saved[1].trim(), 'utf8'))
      return { resultsJson: JSON.stringify(doc.results), fixtureType, cached: false }
    } catch (e) {
      return failed({ kind: 'process', message: `BuildFix run left an unreadable results file: ${e.message}`, exitCode: 0, stderr: '', operation: 'parse' })
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

/** Names of the fixtures of a set: the bundled `small` set (default) or the seeded `massive` one. */
function listFixtures(set = 'small', { count = 200, seed = 1 } = {}) {
  v.oneOf('set', set, ['small', 'massive'])
  if (set === 'small') {
    return fs
      .readdirSync(SMALL_DIR, { withFileTypes: true })
      .filter((e) => e.isDirectory() && fs.existsSync(path.join(SMALL_DIR, e.name, 'fixture.json')))
      .map((e) => e.name)
      .sort()
  }
  return require('../fixtures/generate.js')
    .generate({ count, seed })
    .map((f) => f.name)
    .sort()
}

module.exports = { BuildFixProvider, listFixtures }
