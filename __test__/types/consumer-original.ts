// Code written against the original module, unchanged: its provider base class and helpers, a
// request held in a variable, its stats shapes, a pool of one's own, and its type names.
import {
  BaseProvider,
  EnhancedBuildFixProvider,
  ResourceManager,
  type BenchmarkMetrics,
  type BenchmarkReport,
  type BenchmarkRequest,
  type BenchmarkResult,
  type BenchmarkSuite,
  type BenchmarkResponse,
  type CacheStats,
  type PoolStats,
  type ProviderConfig,
  type ResourceMetrics,
  type ResourcePool,
} from '@promethean/benchmark'
import type { ResourceConfig } from '@promethean/benchmark/src/metrics/resource-manager'

// A provider of one's own, as the original's users wrote them.
export class EchoProvider extends BaseProvider {
  constructor(config: ProviderConfig) {
    super(config)
  }
  async connect(): Promise<void> {}
  async disconnect(): Promise<void> {}
  async execute(request: BenchmarkRequest): Promise<BenchmarkResponse> {
    return { content: request.prompt, tokens: 1, time: 0 }
  }
  async isHealthy(): Promise<boolean> {
    return true
  }
}

// A subclass overriding execute with the original's signature.
export class LoggingProvider extends EnhancedBuildFixProvider {
  async execute(request: BenchmarkRequest): Promise<BenchmarkResponse> {
    const response = await super.execute(request)
    console.log(response.content)
    return response
  }
}

// The original's runner loop over any provider.
export async function runOnce(provider: BaseProvider, prompt: string): Promise<[BenchmarkMetrics, ResourceMetrics]> {
  const config: ProviderConfig = provider.getConfig()
  const label: string = `${provider.getName()} ${provider.getType()} ${provider.getModel()} ${config.name}`
  const startTime = Date.now()
  // A request held in a variable: fixtureType infers as string.
  const request = { prompt, metadata: { fixtureType: 'small' } }
  const response = await provider.execute(request)
  const metrics = provider.calculateMetrics(response, startTime)
  const tps: number = metrics.tps
  const latency: number = metrics.latency + metrics.timeToFirstToken + metrics.timeToCompletion
  const resources = await provider.measureResources()
  const mb: number = resources.memoryUsage
  const gpu: number | undefined = resources.gpuUsage ?? resources.gpuMemoryUsage ?? resources.powerConsumption
  console.log(label, tps, latency, mb, resources.cpuUsage, gpu)
  return [metrics, resources]
}

export async function enhancedRequest(provider: EnhancedBuildFixProvider): Promise<string> {
  const request = { prompt: 'Fix it', metadata: { fixtureType: 'small' } }
  const response = await provider.execute(request)
  return response.content
}

// The original's stats shapes, as object literals.
export const poolStats: PoolStats = { total: 2, active: 1, idle: 1, waiting: 0, maxUsed: 2, avgWaitTime: 3 }
export const cacheStats: CacheStats = {
  totalEntries: 1,
  totalSize: 10,
  hitCount: 1,
  missCount: 0,
  hitRate: 1,
  evictionCount: 0,
  avgAccessTime: 0.1,
  oldestEntry: 0,
  newestEntry: 0,
}

// A pool of one's own implementing the original's interface.
export class ArrayPool<T> implements ResourcePool<T> {
  #items: T[] = []
  async acquire(): Promise<T> {
    const item = this.#items.pop()
    if (item === undefined) throw new Error('Resource acquire timeout')
    return item
  }
  release(resource: T): void {
    this.#items.push(resource)
  }
  destroy(): void {
    this.#items = []
  }
  getStats(): PoolStats {
    return { total: this.#items.length, active: 0, idle: this.#items.length, waiting: 0, maxUsed: 0, avgWaitTime: 0 }
  }
}

export function pools(): ResourcePool<number>[] {
  const manager = new ResourceManager()
  const config: ResourceConfig<number> = { minSize: 0, maxSize: 2, createResource: async () => 1 }
  const native: ResourcePool<number> = manager.createPool('numbers', config)
  // The package's pools still give every figure.
  const pending: number = manager.createPool('more', config).getStats().pending
  console.log(pending)
  return [native, new ArrayPool<number>()]
}

// The original runner's types, built from a provider's figures.
export async function report(provider: BaseProvider, suite: BenchmarkSuite): Promise<BenchmarkReport> {
  const results: BenchmarkResult[] = []
  for (const request of suite.requests) {
    const [metrics, resources] = await runOnce(provider, request.prompt)
    results.push({
      provider: provider.getConfig(),
      request,
      response: { content: '', tokens: 0, time: metrics.latency },
      metrics: { ...metrics, errorRate: 0 },
      resources: { ...resources, diskIO: { read: 0, write: 0 } },
      timestamp: new Date(),
      success: true,
    })
  }
  const untyped: ResourceConfig = { maxSize: 1, createResource: async () => ({}) }
  console.log(untyped.maxSize)
  return {
    suite,
    results,
    summary: { totalTests: results.length, successRate: 1, averageMetrics: {}, resourceUsage: {}, rankings: [] },
    generatedAt: new Date(),
  }
}

// The original's MetricsCalculator over the runner's results.
import { MetricsCalculator } from '@promethean/benchmark'
export function rank(results: BenchmarkResult[]): string[] {
  const avg: BenchmarkMetrics = MetricsCalculator.calculateAverageMetrics(results)
  const score: number = MetricsCalculator.calculateScore(avg, { tps: 0.5 })
  const usage: ResourceMetrics = MetricsCalculator.calculateAverageResourceUsage(results)
  console.log(score, usage.memoryUsage, MetricsCalculator.calculateTPS(10, 1000), MetricsCalculator.calculateEffectiveness('a', 'a'))
  return MetricsCalculator.rankProviders(results).map((r) => `${r.provider} ${r.score.toFixed(2)}`)
}
