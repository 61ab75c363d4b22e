'use strict'
// MetricsCalculator: the original package's figures over runner results (BenchmarkResult[]):
// tokens per second, averages of successful results, error rate, a weighted 0..1 score and a
// ranking of providers by it. Plain arithmetic on small arrays; no native code needed.

const v = require('./validate.js')

function finite(name, value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw v.typeError(name, 'a finite number', value)
  return value
}

function resultsArray(results) {
  if (!Array.isArray(results)) throw v.typeError('results', 'an array of BenchmarkResult', results)
  return results
}

const mean = (items, pick) => items.reduce((sum, r) => sum + (pick(r) || 0), 0) / items.length

const ZERO_METRICS = { tps: 0, latency: 0, timeToFirstToken: 0, timeToCompletion: 0, effectiveness: 0 }

class MetricsCalculator {
  /** Tokens per second; 0 when no time passed. */
  static calculateTPS(tokens, timeMs) {
    finite('tokens', tokens)
    finite('timeMs', timeMs)
    return timeMs > 0 ? (tokens / timeMs) * 1000 : 0
  }

  static calculateLatency(startTime, endTime) {
    return finite('endTime', endTime) - finite('startTime', startTime)
  }

  /**
   * How much of `expected` the response holds, 0..1: the response's words (case-insensitive)
   * found in `expected`, over the distinct words of both. 0.5 without an expected text.
   */
  static calculateEffectiveness(response, expected) {
    if (typeof response !== 'string') throw v.typeError('response', 'a string', response)
    if (expected === undefined || expected === '') return 0.5
    if (typeof expected !== 'string') throw v.typeError('expected', 'a string', expected)
    const words = (text) => text.toLowerCase().split(/\s+/)
    const got = words(response)
    const want = new Set(words(expected))
    const union = new Set([...got, ...want])
    return got.filter((w) => want.has(w)).length / union.size
  }

  /** The failed part of `results`, 0..1. */
  static calculateErrorRate(results) {
    resultsArray(results)
    if (results.length === 0) return 0
    return results.filter((r) => !r.success).length / results.length
  }

  /** Means over the successful results, with the error rate over all of them. */
  static calculateAverageMetrics(results) {
    resultsArray(results)
    if (results.length === 0) return { ...ZERO_METRICS, errorRate: 0 }
    const ok = results.filter((r) => r.success)
    if (ok.length === 0) return { ...ZERO_METRICS, errorRate: 1 }
    return {
      tps: mean(ok, (r) => r.metrics.tps),
      latency: mean(ok, (r) => r.metrics.latency),
      timeToFirstToken: mean(ok, (r) => r.metrics.timeToFirstToken),
      timeToCompletion: mean(ok, (r) => r.metrics.timeToCompletion),
      effectiveness: mean(ok, (r) => r.metrics.effectiveness),
      errorRate: MetricsCalculator.calculateErrorRate(results),
    }
  }

  /** Means of the successful results' resource figures (a missing GPU figure counts as 0). */
  static calculateAverageResourceUsage(results) {
    resultsArray(results)
    const ok = results.filter((r) => r.success)
    if (ok.length === 0) return { memoryUsage: 0, cpuUsage: 0 }
    return {
      memoryUsage: mean(ok, (r) => r.resources.memoryUsage),
      cpuUsage: mean(ok, (r) => r.resources.cpuUsage),
      gpuUsage: mean(ok, (r) => r.resources.gpuUsage),
      gpuMemoryUsage: mean(ok, (r) => r.resources.gpuMemoryUsage),
      powerConsumption: mean(ok, (r) => r.resources.powerConsumption),
    }
  }

  /**
   * p50, p95 and p99 (nearest rank) of the successful results' latency, time to first token and
   * tokens per second, beside the means of calculateAverageMetrics.
   */
  static calculatePercentiles(results) {
    resultsArray(results)
    const ok = results.filter((r) => r.success)
    const of = (pick) => {
      const sorted = ok.map((r) => pick(r.metrics) || 0).sort((a, b) => a - b)
      const rank = (p) => (sorted.length === 0 ? 0 : sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)])
      return { p50: rank(50), p95: rank(95), p99: rank(99) }
    }
    return { latency: of((m) => m.latency), timeToFirstToken: of((m) => m.timeToFirstToken), tps: of((m) => m.tps) }
  }

  /**
   * A 0..1 score: tps (100/s or more is full marks), latency (0 ms full, 10 s or more none),
   * effectiveness and 1 - errorRate, weighted 0.3 / 0.3 / 0.3 / 0.1 unless `weights` says.
   */
  static calculateScore(metrics, weights = {}) {
    if (metrics === null || typeof metrics !== 'object') throw v.typeError('metrics', 'a BenchmarkMetrics object', metrics)
    v.optionsObject('weights', weights)
    const w = {
      tps: weights.tps ?? 0.3,
      latency: weights.latency ?? 0.3,
      effectiveness: weights.effectiveness ?? 0.3,
      errorRate: weights.errorRate ?? 0.1,
    }
    const tps = Math.min(finite('metrics.tps', metrics.tps) / 100, 1)
    const latency = Math.max(0, 1 - finite('metrics.latency', metrics.latency) / 10000)
    const effectiveness = metrics.effectiveness || 0
    const reliability = Math.max(0, 1 - (metrics.errorRate || 0))
    return tps * w.tps + latency * w.latency + effectiveness * w.effectiveness + reliability * w.errorRate
  }

  /** Providers (by `result.provider.name`) with their average metrics, best score first. */
  static rankProviders(results) {
    resultsArray(results)
    const byProvider = new Map()
    for (const r of results) {
      const name = r.provider.name
      if (!byProvider.has(name)) byProvider.set(name, [])
      byProvider.get(name).push(r)
    }
    return [...byProvider]
      .map(([provider, own]) => {
        const metrics = MetricsCalculator.calculateAverageMetrics(own)
        return { provider, score: MetricsCalculator.calculateScore(metrics), metrics }
      })
      .sort((a, b) => b.score - a.score)
  }
}

module.exports = { MetricsCalculator }
