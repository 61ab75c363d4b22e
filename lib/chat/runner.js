'use strict'
// BenchmarkRunner: the original package's runner of chat benchmarks. Holds providers by name,
// sends them requests one at a time (so that one measurement does not slow another), and
// summarises a suite with per-provider means, percentiles, error rates and a ranking.

const { EventEmitter } = require('node:events')

const { MetricsCalculator } = require('../metrics.js')
const v = require('../validate.js')
const { createProvider } = require('./providers.js')

function checkSuite(suite) {
  if (suite === null || typeof suite !== 'object' || Array.isArray(suite)) {
    throw v.typeError('suite', 'a BenchmarkSuite object {name, requests, providers, iterations, warmupIterations}', suite)
  }
  if (typeof suite.name !== 'string') throw v.typeError('suite.name', 'a string', suite.name)
  if (!Array.isArray(suite.requests) || suite.requests.length === 0)
    throw v.typeError('suite.requests', 'a non-empty array of BenchmarkRequest', suite.requests)
  if (!Array.isArray(suite.providers)) throw v.typeError('suite.providers', 'an array of ProviderConfig', suite.providers)
  for (const key of ['iterations', 'warmupIterations']) {
    const n = suite[key]
    if (n !== undefined && (!Number.isInteger(n) || n < 0)) throw new RangeError(`suite.${key} must be a whole number >= 0, got ${JSON.stringify(n)}`)
  }
}

/** The answer's expected text, if the request names one (`metadata.expected` or `expectedResponse`). */
function expectedOf(request) {
  const meta = request.metadata ?? {}
  const expected = meta.expected ?? meta.expectedResponse
  return typeof expected === 'string' ? expected : undefined
}

class BenchmarkRunner extends EventEmitter {
  constructor() {
    super()
    this.providers = new Map()
  }

  /** Creates the provider of `config` (createProvider), connects it and keeps it by its name. */
  async addProvider(config) {
    const provider = createProvider(config)
    if (this.providers.has(provider.name)) throw new Error(`a provider named ${JSON.stringify(provider.name)} is already added`)
    await provider.connect()
    this.providers.set(provider.name, provider)
    return provider
  }

  async removeProvider(name) {
    const provider = this.providers.get(name)
    if (!provider) return
    this.providers.delete(name)
    await provider.disconnect()
  }

  getProviders() {
    return [...this.providers.keys()]
  }

  /** One request to one provider; a failure is a result with `success: false` and its `error`. */
  async runSingleBenchmark(providerName, request, { signal } = {}) {
    const provider = this.providers.get(providerName)
    if (!provider) throw new Error(`Provider ${providerName} not found`)
    const started = performance.now()
    const timestamp = new Date()
    try {
      const response = await provider.execute(request, signal ? { signal } : undefined)
      const meta = response.metadata ?? {}
      const metrics = {
        tps: meta.tokensPerSecond ?? MetricsCalculator.calculateTPS(response.tokens, response.time),
        latency: response.time,
        timeToFirstToken: meta.timeToFirstToken ?? response.time,
        timeToCompletion: response.time,
        effectiveness: MetricsCalculator.calculateEffectiveness(response.content, expectedOf(request)),
      }
      const resources = await provider.measureResources()
      return { provider: provider.getConfig(), request, response, metrics, resources, timestamp, success: true }
    } catch (err) {
      const time = performance.now() - started
      return {
        provider: provider.getConfig(),
        request,
        response: { content: '', tokens: 0, time },
        metrics: { tps: 0, latency: time, timeToFirstToken: 0, timeToCompletion: time, effectiveness: 0 },
        resources: await provider.measureResources(),
        timestamp,
        success: false,
        error: err instanceof Error ? err.message : String(err),
      }
    }
  }

  /**
   * Adds the suite's providers that are not added yet, runs `warmupIterations` rounds whose
   * results are dropped, then `iterations` rounds of every request on every provider, and
   * reports. Emits `progress` ({done, total, result}) after each measured request. With
   * `signal`, an abort cancels the request in flight and starts no other: the report holds the
   * results so far.
   */
  async runSuite(suite, { signal } = {}) {
    checkSuite(suite)
    for (const config of suite.providers) {
      if (!this.providers.has(config?.name)) await this.addProvider(config)
    }
    const names = suite.providers.length > 0 ? suite.providers.map((c) => c.name) : [...this.providers.keys()]
    const iterations = suite.iterations ?? 1
    const warmup = suite.warmupIterations ?? 0
    for (let i = 0; i < warmup; i++) {
      for (const name of names) {
        for (const request of suite.requests) {
          if (signal?.aborted) return this.generateReport(suite, [])
          await this.runSingleBenchmark(name, request, { signal })
        }
      }
    }
    const results = []
    const total = iterations * names.length * suite.requests.length
    for (let i = 0; i < iterations; i++) {
      for (const name of names) {
        for (const request of suite.requests) {
          if (signal?.aborted) return this.generateReport(suite, results)
          const result = await this.runSingleBenchmark(name, request, { signal })
          results.push(result)
          this.emit('progress', { done: results.length, total, result })
        }
      }
    }
    return this.generateReport(suite, results)
  }

  /** The report of `results`: per-provider means (with error rates), percentiles, resources, a ranking. */
  generateReport(suite, results) {
    const byProvider = new Map()
    for (const r of results) {
      if (!byProvider.has(r.provider.name)) byProvider.set(r.provider.name, [])
      byProvider.get(r.provider.name).push(r)
    }
    const averageMetrics = {}
    const percentiles = {}
    const resourceUsage = {}
    for (const [name, own] of byProvider) {
      averageMetrics[name] = MetricsCalculator.calculateAverageMetrics(own)
      percentiles[name] = MetricsCalculator.calculatePercentiles(own)
      resourceUsage[name] = MetricsCalculator.calculateAverageResourceUsage(own)
    }
    return {
      suite,
      results,
      summary: {
        totalTests: results.length,
        successRate: results.length === 0 ? 0 : results.filter((r) => r.success).length / results.length,
        averageMetrics,
        percentiles,
        resourceUsage,
        rankings: MetricsCalculator.rankProviders(results),
      },
      generatedAt: new Date(),
    }
  }

  /** The models each provider's server offers, by provider name (`[]` for one that cannot say). */
  async listAvailableModels() {
    const out = {}
    for (const [name, provider] of this.providers) {
      try {
        out[name] = await provider.listModels()
      } catch {
        out[name] = []
      }
    }
    return out
  }

  /** Whether each provider's server answers, by provider name. */
  async healthCheck() {
    const out = {}
    for (const [name, provider] of this.providers) out[name] = await provider.isHealthy()
    return out
  }

  async disconnectAll() {
    const all = [...this.providers.values()]
    this.providers.clear()
    await Promise.all(all.map((p) => p.disconnect()))
  }
}

module.exports = { BenchmarkRunner }
