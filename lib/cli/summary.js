'use strict'
// Figures computed from results, shared by every report. The run summary keeps the original
// runner's field names and units (run-memoized.ts: rates in percent, durations in seconds) so
// tools that read its results files keep working, and adds `successRate` / `failedTests`.

/** Nearest-rank percentile of numbers (0 when empty). */
function percentile(values, p) {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

function mean(values) {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length
}

// Loops rather than Math.min(...values): a long load test has more values than a call can take
// arguments.
function min(values) {
  let m = Infinity
  for (const v of values) if (v < m) m = v
  return m
}

function max(values) {
  let m = -Infinity
  for (const v of values) if (v > m) m = v
  return m
}

function finite(n) {
  return typeof n === 'number' && Number.isFinite(n) ? n : 0
}

/** Checks the shape of one BuildFixResult, so a broken runner is reported, not rendered as NaN. */
function checkResult(r, i) {
  const where = `result ${i}`
  if (!r || typeof r !== 'object') throw new TypeError(`${where} must be an object`)
  if (typeof r.fixture !== 'string') throw new TypeError(`${where}: fixture must be a string`)
  if (typeof r.model !== 'string') throw new TypeError(`${where}: model must be a string`)
  if (typeof r.success !== 'boolean') throw new TypeError(`${where}: success must be a boolean`)
  for (const k of ['errorCountBefore', 'errorCountAfter', 'duration', 'attempts']) {
    if (typeof r[k] !== 'number' || !Number.isFinite(r[k])) throw new TypeError(`${where}: ${k} must be a finite number`)
  }
  // A boolean, as in the original; the count, when given, is errorsResolvedCount.
  if (r.errorsResolved !== undefined && typeof r.errorsResolved !== 'boolean') {
    throw new TypeError(`${where}: errorsResolved must be a boolean (the count goes in errorsResolvedCount)`)
  }
  return r
}

/**
 * A model's token counts from its results (the model servers' own figures; `tokensEstimated`
 * when any was an estimate) and how many plans came in each output mode; nothing for models
 * without counts (the built-in ones).
 */
function tokenSummary(rs) {
  const counted = rs.filter((r) => Number.isInteger(r.promptTokens) && Number.isInteger(r.completionTokens))
  if (counted.length === 0) return {}
  const outputModes = {}
  for (const r of counted) if (r.outputMode) outputModes[r.outputMode] = (outputModes[r.outputMode] ?? 0) + 1
  return {
    promptTokens: counted.reduce((a, r) => a + r.promptTokens, 0),
    completionTokens: counted.reduce((a, r) => a + r.completionTokens, 0),
    tokensEstimated: counted.some((r) => r.tokensEstimated === true),
    outputModes,
  }
}

/** The summary of a list of BuildFixResult, in the original runner's format plus `successRate`. */
function summarize(results) {
  results.forEach(checkResult)
  const totalTests = results.length
  const successfulTests = results.filter((r) => r.success).length
  const errorsResolved = results.filter((r) => r.errorsResolved).length
  const modelResults = {}
  const byModel = new Map()
  for (const r of results) {
    if (!byModel.has(r.model)) byModel.set(r.model, [])
    byModel.get(r.model).push(r)
  }
  for (const [model, rs] of byModel) {
    const passed = rs.filter((r) => r.success).length
    const durations = rs.map((r) => r.duration)
    modelResults[model] = {
      tests: rs.length,
      successfulTests: passed,
      successRate: (100 * passed) / rs.length,
      errorResolution: (100 * rs.filter((r) => r.errorsResolved).length) / rs.length,
      avgDuration: mean(durations) / 1000,
      p50Duration: percentile(durations, 50) / 1000,
      p95Duration: percentile(durations, 95) / 1000,
      totalErrors: rs.reduce((a, r) => a + r.errorCountBefore, 0),
      errorsFixed: rs.reduce((a, r) => a + (r.errorCountBefore - r.errorCountAfter), 0),
      errorsAfter: rs.reduce((a, r) => a + r.errorCountAfter, 0),
      plansGenerated: rs.filter((r) => r.planGenerated).length,
      ...tokenSummary(rs),
    }
  }
  return {
    totalTests,
    successfulTests,
    failedTests: totalTests - successfulTests,
    successRate: totalTests === 0 ? 0 : (100 * successfulTests) / totalTests,
    errorsResolved,
    averageDuration: mean(results.map((r) => r.duration)) / 1000,
    modelResults,
  }
}

/**
 * Per-request load-test records in a common shape {start (ms since the first), duration, success, error}.
 * Accepts `startTime` or `timestamp` (epoch ms or ISO string) and `duration` or `endTime - startTime`.
 */
function normalizeRecords(records) {
  const rows = []
  for (const r of records ?? []) {
    if (!r || typeof r !== 'object') continue
    let start = r.startTime ?? r.timestamp
    if (typeof start === 'string') start = Date.parse(start)
    if (start instanceof Date) start = start.getTime()
    let duration = r.duration ?? r.responseTime
    if (typeof duration !== 'number' && typeof r.endTime === 'number' && typeof start === 'number') duration = r.endTime - start
    if (typeof start !== 'number' || !Number.isFinite(start) || typeof duration !== 'number' || !Number.isFinite(duration)) continue
    rows.push({ start, duration, success: r.success !== false && !r.error, error: r.error ? String(r.error.message ?? r.error) : undefined })
  }
  rows.sort((a, b) => a.start - b.start)
  const t0 = rows.length ? rows[0].start : 0
  for (const row of rows) row.start -= t0
  return rows
}

/**
 * LoadTestMetrics (API.md) from normalized records, for runs the CLI drives itself (the open
 * model, compare). Response-time figures are over successful requests, percentiles nearest-rank.
 */
function loadMetrics(rows, { users = 1, wallMs, bytes = 0 } = {}) {
  const ok = rows.filter((r) => r.success).map((r) => r.duration)
  const failed = rows.length - ok.length
  const span = wallMs ?? (rows.length ? max(rows.map((r) => r.start + r.duration)) : 0)
  const seconds = span > 0 ? span / 1000 : 0
  return {
    totalRequests: rows.length,
    successfulRequests: ok.length,
    failedRequests: failed,
    averageResponseTime: mean(ok),
    minResponseTime: ok.length ? min(ok) : 0,
    maxResponseTime: ok.length ? max(ok) : 0,
    p50ResponseTime: percentile(ok, 50),
    p95ResponseTime: percentile(ok, 95),
    p99ResponseTime: percentile(ok, 99),
    requestsPerSecond: seconds ? rows.length / seconds : 0,
    errorsPerSecond: seconds ? failed / seconds : 0,
    throughput: seconds ? bytes / seconds : 0,
    concurrentUsers: users,
    testDuration: span,
    errorRate: rows.length ? failed / rows.length : 0,
  }
}

const METRIC_FIELDS = [
  'totalRequests',
  'successfulRequests',
  'failedRequests',
  'averageResponseTime',
  'minResponseTime',
  'maxResponseTime',
  'p50ResponseTime',
  'p95ResponseTime',
  'p99ResponseTime',
  'requestsPerSecond',
  'errorsPerSecond',
  'throughput',
  'concurrentUsers',
  'testDuration',
  'errorRate',
]

/** Every LoadTestMetrics field present and finite (0 otherwise), extra fields kept. */
function completeMetrics(m) {
  const out = { ...m }
  for (const k of METRIC_FIELDS) out[k] = finite(m[k])
  return out
}

module.exports = { min, max, completeMetrics, loadMetrics, summarize, checkResult, percentile, mean, finite, normalizeRecords }
