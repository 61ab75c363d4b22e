'use strict'
// The run history: every benchmark run appended to an embedded SQLite file (the native store in
// src/history/: WAL, one transaction per run, safe for several processes at once), and what can
// be read from it: the trend per model and a regression check of the latest run against the
// runs before it.

const path = require('node:path')

const { binding } = require('./native.js')
const { makeDirSync } = require('./dirs.js')
const { percentile } = require('./cli/summary.js')
const { fixtureFacts } = require('./cli/analysis.js')
const { comparePaired } = require('./cli/stats.js')

/** Defaults of the regression check. */
const CHECK_DEFAULTS = {
  /** Previous runs the latest is compared with. */
  window: 5,
  /** A p50 duration this much above the baseline's (0.5 = +50%) is a regression... */
  durationThreshold: 0.5,
  /** ...and only when it is also at least this many ms slower (ms-level jitter is not a regression). */
  minDurationDelta: 50,
}

function typeError(name, expected, value) {
  const err = new TypeError(`${name} must be ${expected}, got ${value === undefined ? 'nothing' : JSON.stringify(value)}`)
  err.code = 'ERR_INVALID_ARG_TYPE'
  return err
}

function rangeError(name, expected, value) {
  const err = new RangeError(`${name} must be ${expected}, got ${JSON.stringify(value)}`)
  err.code = 'ERR_OUT_OF_RANGE'
  return err
}

function packageVersion() {
  return require('../package.json').version
}

function planFormatVersion() {
  return require('../worker/plan.js').PLAN_FORMAT_VERSION
}

/**
 * The history rows of a results document (`{results, fixtures?, timestamp, run?}` as `run`
 * writes it): family, code and content hash from the document's fixture facts.
 */
function historyRun(doc, { endpoint = '', label } = {}) {
  if (!doc || typeof doc !== 'object' || !Array.isArray(doc.results)) throw typeError('doc', 'a results document {results: BuildFixResult[], ...}', doc)
  const catalog = doc.fixtures ?? {}
  return {
    timestamp: typeof doc.timestamp === 'string' && doc.timestamp ? doc.timestamp : new Date().toISOString(),
    packageVersion: packageVersion(),
    planFormatVersion: planFormatVersion(),
    label: label ?? String(doc.run?.fixtures ?? ''),
    results: doc.results.map((r) => {
      const facts = catalog[r.fixture] ?? fixtureFacts(r.fixture, { result: r })
      const row = {
        model: r.model,
        endpoint,
        fixture: r.fixture,
        family: String(facts.family),
        code: String(facts.code),
        success: r.success,
        errorCountBefore: r.errorCountBefore,
        errorCountAfter: r.errorCountAfter,
        duration: r.duration,
        attempts: r.attempts,
      }
      if (facts.hash) row.fixtureHash = facts.hash
      if (Number.isInteger(r.tokens)) row.tokens = r.tokens
      return row
    }),
  }
}

/** The figures of one stored run of one model, for the trend. */
function runFigures(run) {
  const rs = run.results
  const durations = rs.map((r) => r.duration)
  const tokens = rs.filter((r) => r.tokens !== undefined && r.tokens !== null).map((r) => r.tokens)
  const passed = rs.filter((r) => r.success).length
  return {
    id: run.id,
    timestamp: run.timestamp,
    packageVersion: run.packageVersion,
    planFormatVersion: run.planFormatVersion,
    label: run.label,
    tests: rs.length,
    passed,
    passRate: rs.length ? (100 * passed) / rs.length : 0,
    p50Duration: percentile(durations, 50),
    p95Duration: percentile(durations, 95),
    tokens: tokens.length ? tokens.reduce((a, b) => a + b, 0) : null,
  }
}

function fixtureKey(r) {
  return r.fixtureHash ? `${r.fixture}#${r.fixtureHash}` : r.fixture
}

/**
 * The latest run against the `window` runs before it (oldest first in `runs`):
 * - pass rate: each fixture of the latest run is paired with its baseline outcome, a pass when
 *   it passed in at least half of the earlier runs that ran the same fixture (same name and
 *   content hash); McNemar's exact test on those pairs. A regression when p < 0.05 and the
 *   latest passes fewer of them.
 * - duration: the latest p50 against the median of the earlier runs' p50s; a regression when it
 *   is more than `durationThreshold` above it and at least `minDurationDelta` ms slower.
 * Returns {status: 'ok' | 'regression' | 'no-baseline', reasons, passRate: {...}, duration: {...}}.
 */
function checkRuns(runs, options = {}) {
  const o = { ...CHECK_DEFAULTS, ...options }
  if (!Number.isInteger(o.window) || o.window < 1) throw rangeError('options.window', 'a whole number >= 1', o.window)
  if (typeof o.durationThreshold !== 'number' || !(o.durationThreshold >= 0))
    throw rangeError('options.durationThreshold', 'a fraction >= 0 (0.5 = +50%)', o.durationThreshold)
  if (typeof o.minDurationDelta !== 'number' || !(o.minDurationDelta >= 0))
    throw rangeError('options.minDurationDelta', 'a number of ms >= 0', o.minDurationDelta)
  if (runs.length === 0) return { status: 'no-baseline', reasons: ['no run recorded'] }
  const latest = runs[runs.length - 1]
  const baseline = runs.slice(Math.max(0, runs.length - 1 - o.window), runs.length - 1)
  if (baseline.length === 0) return { status: 'no-baseline', reasons: ['only one run recorded: nothing to compare with yet'], latest: runFigures(latest) }
  const history = new Map()
  for (const run of baseline) {
    for (const r of run.results) {
      const k = fixtureKey(r)
      const h = history.get(k) ?? { runs: 0, passes: 0 }
      h.runs++
      if (r.success) h.passes++
      history.set(k, h)
    }
  }
  const pairs = []
  const slipped = []
  const seen = new Set()
  for (const r of latest.results) {
    const k = fixtureKey(r)
    const h = history.get(k)
    if (!h || seen.has(k)) continue
    seen.add(k)
    const before = h.passes * 2 >= h.runs
    pairs.push([before, r.success])
    if (before && !r.success) slipped.push(r.fixture)
  }
  const paired = comparePaired(pairs)
  const passRegression = paired.significant && paired.passRateB < paired.passRateA
  const latestFig = runFigures(latest)
  const baseP50 = percentile(
    baseline.map((run) => runFigures(run).p50Duration),
    50,
  )
  const delta = latestFig.p50Duration - baseP50
  const durationRegression = baseP50 > 0 && delta > o.durationThreshold * baseP50 && delta >= o.minDurationDelta
  const reasons = []
  const pct = (x) => `${(100 * x).toFixed(1)}%`
  if (passRegression) {
    reasons.push(
      `pass rate ${pct(paired.passRateB)} vs ${pct(paired.passRateA)} before on ${paired.n} shared fixtures (fixed before, failing now: ${paired.onlyA}; McNemar p=${paired.pValue.toPrecision(2)})`,
    )
  }
  if (durationRegression) {
    reasons.push(
      `p50 duration ${Math.round(latestFig.p50Duration)}ms vs ${Math.round(baseP50)}ms before (+${pct(delta / baseP50)}, threshold +${pct(o.durationThreshold)} and ${o.minDurationDelta}ms)`,
    )
  }
  if (reasons.length === 0) {
    reasons.push(
      `pass rate ${pct(paired.passRateB)} vs ${pct(paired.passRateA)} on ${paired.n} shared fixtures (McNemar p=${paired.pValue.toPrecision(2)}), p50 ${Math.round(latestFig.p50Duration)}ms vs ${Math.round(baseP50)}ms over ${baseline.length} earlier run${baseline.length === 1 ? '' : 's'}`,
    )
  }
  return {
    status: passRegression || durationRegression ? 'regression' : 'ok',
    reasons,
    latest: latestFig,
    baselineRuns: baseline.map((r) => r.id),
    passRate: { ...paired, slipped, regression: passRegression },
    duration: {
      latestP50: latestFig.p50Duration,
      baselineP50: baseP50,
      threshold: o.durationThreshold,
      minDelta: o.minDurationDelta,
      regression: durationRegression,
    },
  }
}

/** One open history file. Create with `openHistory(path)`; `close()` when done. */
class RunHistory {
  #native
  constructor(native) {
    this.#native = native
  }

  get path() {
    return this.#native.path
  }

  /** Appends a results document as one run (one transaction); resolves with the run's id. */
  async append(doc, { endpoint = '', label } = {}) {
    if (typeof endpoint !== 'string') throw typeError('options.endpoint', 'a string', endpoint)
    return this.#native.append(historyRun(doc, { endpoint, label }))
  }

  /** [{model, endpoint, runs}] for every model the history holds. */
  series() {
    return this.#native.series()
  }

  /** The last `limit` runs of `model` at `endpoint`, oldest first, with that model's results. */
  runs(model, { endpoint = '', limit = 20 } = {}) {
    if (typeof model !== 'string' || model === '') throw typeError('model', 'a non-empty string', model)
    if (typeof endpoint !== 'string') throw typeError('options.endpoint', 'a string', endpoint)
    if (!Number.isInteger(limit) || limit < 1 || limit > 0xffffffff) throw rangeError('options.limit', 'a whole number >= 1', limit)
    return this.#native.runs(model, endpoint, limit)
  }

  /** Per model: the trend of its last `limit` runs. */
  async trend({ limit = 20 } = {}) {
    const out = []
    for (const s of await this.series()) {
      const runs = await this.runs(s.model, { endpoint: s.endpoint, limit })
      out.push({ model: s.model, endpoint: s.endpoint, totalRuns: s.runs, runs: runs.map(runFigures) })
    }
    return out
  }

  /** Per model: the latest run checked against the ones before it (see `checkRuns`). */
  async check(options = {}) {
    const window = options.window ?? CHECK_DEFAULTS.window
    const out = []
    for (const s of await this.series()) {
      const runs = await this.runs(s.model, { endpoint: s.endpoint, limit: (Number.isInteger(window) && window > 0 ? window : 1) + 1 })
      out.push({ model: s.model, endpoint: s.endpoint, ...checkRuns(runs, options) })
    }
    return out
  }

  close() {
    return this.#native.close()
  }
}

/**
 * Opens (creating, with its folder, when missing) the history file at `file`. Rejects with code
 * ERR_HISTORY_UNREADABLE for a file that is not a history (not SQLite, damaged, another
 * application's database) and ERR_HISTORY_NEWER_SCHEMA for one written by a newer version;
 * neither is ever changed.
 */
async function openHistory(file) {
  if (typeof file !== 'string' || file === '') throw typeError('path', 'a non-empty file path', file)
  const abs = path.resolve(file)
  makeDirSync(path.dirname(abs))
  return new RunHistory(await binding.openHistory(abs))
}

module.exports = { openHistory, RunHistory, checkRuns, runFigures, historyRun, CHECK_DEFAULTS }
