'use strict'
// BuildFixProvider, the guide's "before": one fresh process per request.

const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { describeFixtures } = require('../../worker/fixtures.js')
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
      const { fixtureType, fixtures, fixturesDir } = checkRequest(request)
      if (!this.#connected) return failedOutcome(fixtureType, NOT_CONNECTED)
      // A folder that is not there is bad input, as it is for EnhancedBuildFixProvider.
      const options = fixturesDir === undefined ? {} : { fixturesDir }
      if (fixturesDir !== undefined) listFixtures('small', options)
      if (fixtures && fixtureType === 'small') {
        const known = new Set(listFixtures('small', options))
        const unknown = fixtures.find((f) => !known.has(f))
        if (unknown !== undefined) {
          throw v.rangeError('metadata.fixtures', 'names of fixtures in the chosen set', unknown)
        }
      }
      return this.#runOnce(fixtureType, fixtures, fixturesDir, signal)
    })
  }

  /** Spawns the run synchronously (its pid is listed as soon as execute() returns). */
  #runOnce(fixtureType, fixtures, fixturesDir, signal) {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'promethean-buildfix-once-'))
    const set = fixturesDir !== undefined ? ['--fixtures-dir', fixturesDir] : [fixtureType === 'massive' ? '--massive' : '--small-fixtures']
    const args = [path.join(WORKER_DIR, 'run.js'), '--models', this.config.model, ...set]
    if (fixtures) args.push('--fixtures', fixtures.join(','))
    if (this.config.endpoint) args.push('--endpoint', this.config.endpoint)
    // The key's variable by name: the child inherits the environment that holds it.
    if (this.config.api) args.push('--api', this.config.api)
    if (this.config.apiKeyEnv) args.push('--api-key-env', this.config.apiKeyEnv)
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
        else if (code !== 0 && !/Results saved to:/.test(text))
          resolve(failed({ kind: 'process', message: `BuildFix run exited with code ${code}`, exitCode: code, stderr: err }))
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
    infos = require('../../fixtures/generate.js')
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

module.exports = { BuildFixProvider, listFixtures }
