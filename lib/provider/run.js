'use strict'
// One request of either BuildFix provider, from its run's outcome to the public response: the
// one place a run's outcome is read. A run resolves with `{resultsJson, fixtureType, cached?,
// totalTests?, successfulTests?, failure?, cacheFailures?}` and never rejects for a failure of
// its own: bad input rejects (TypeError/RangeError), an abort rejects with the signal's reason,
// and any other failure resolves as a failed response (`content: 'BuildFix benchmark failed:
// <reason>'`, `tokens: 0`, `metadata.error`), as the original did.

const path = require('node:path')
const { performance } = require('node:perf_hooks')

const { abortReason, signalOf } = require('../abort.js')
const debug = require('../debug.js')
const { binding } = require('../native.js')
const { failureError } = require('./errors.js')

const log = debug.createDebug('buildfix:provider')

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
  // Fixtures whose errors all went: the original's "Errors Resolved" counted these (a boolean per result).
  const fixed = results.filter((r) => r.errorsResolved === true).length
  return [
    // The original's title and four lines, exactly as code written against it matches them.
    'BuildFix Enhanced Benchmark Results:',
    `- Total Tests: ${s.total}`,
    `- Successful Tests: ${s.successful} (${pct(s.successful, s.total)}%)`,
    `- Errors Resolved: ${fixed} (${pct(fixed, s.total)}%)`,
    `- Average Duration: ${(s.avg / 1000).toFixed(1)}s`,
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

/**
 * Runs `run({request, signal})` for `provider` and describes the result. `run` checks the
 * request (the native layer does, once) before it starts anything.
 */
async function runRequest(provider, request, options, run) {
  const signal = signalOf('options', options)
  if (signal?.aborted) throw abortReason(signal, 'execute')
  const cacheBefore = provider.getCacheStats()
  const perf = emptyMetrics(cacheBefore)
  const before = measure(provider.workerPids())
  perf.memoryBefore = before.memoryUsage
  perf.cpuBefore = before.cpuUsage
  perf.processStartTime = performance.now()
  const outcome = await run({ request, signal })
  const fixturesDir = request?.metadata?.fixturesDir
  perf.processEndTime = performance.now()
  const fixtureType = outcome.fixtureType
  for (const f of outcome.cacheFailures ?? []) {
    // Redis failing is no fault of the cache: the request went on with the local levels.
    if (f.kind === 'shared-cache') provider.emit('shared-cache-error', { operation: f.operation, key: f.cacheKey, error: new Error(f.message) })
    else provider.emit('cache-error', { error: failureError(f) })
  }
  if (outcome.failure) {
    if (outcome.failure.kind === 'aborted') throw abortReason(signal, 'execute')
    const error = failureError(outcome.failure)
    const response = {
      content: `BuildFix benchmark failed: ${error.message}`,
      tokens: 0,
      time: performance.now() - perf.requestStartTime,
      metadata: { error: error.message, errorName: error.name, fixtureType, performanceMetrics: perf },
    }
    provider._record(perf)
    log('request failed: %s', error.message)
    provider.emit('request-failed', { request, error, response, metrics: perf })
    return response
  }
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
  // The model servers' own counts when the results carry them; else an estimate of the content.
  const counted = results.filter((r) => Number.isInteger(r.tokens))
  const tokensEstimated = counted.length === 0 || counted.some((r) => r.tokensEstimated)
  const response = {
    content,
    tokens: counted.length ? counted.reduce((sum, r) => sum + r.tokens, 0) : Math.ceil(content.length / 4),
    time: performance.now() - perf.requestStartTime,
    metadata: {
      buildFixResults: results,
      fixtureType,
      ...(typeof fixturesDir === 'string' ? { fixturesDir: path.resolve(fixturesDir) } : {}),
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
      tokensEstimated,
    },
  }
  provider._record(perf)
  log('request done in %d ms: %d/%d fixtures fixed%s', Math.round(response.time), successfulTests, totalTests, response.metadata.cached ? ' (cached)' : '')
  provider.emit('request-completed', { request, response, metrics: perf })
  return response
}

/** The outcome of a run that could not start. */
function failedOutcome(fixtureType, failure) {
  return { resultsJson: '[]', fixtureType, failure }
}

/** `{fixtureType, fixtures}` of a request, checked as the native execute checks it. */
function checkRequest(request) {
  return binding.checkBuildFixRequest(request)
}

module.exports = { runRequest, failedOutcome, checkRequest }
