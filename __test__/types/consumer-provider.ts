// The guide's provider example, as users write it.
import { EnhancedBuildFixProvider } from '@promethean/benchmark/src/providers/buildfix-enhanced'
import {
  BuildFixProvider,
  EnhancedBuildFixTimeoutError,
  type BenchmarkRequest,
  type BenchmarkResponse,
  type ProviderConfig,
  type ModelApi,
  type OutputMode,
  type BuildFixResponseMetadata,
} from '@promethean/benchmark'

export async function providerExample(): Promise<BenchmarkResponse> {
  const provider = new EnhancedBuildFixProvider({
    name: 'buildfix-enhanced',
    type: 'buildfix',
    model: 'qwen3:8b',
    endpoint: 'http://localhost:11434',
  })
  await provider.connect()
  const response = await provider.execute({
    prompt: 'Fix TypeScript errors',
    metadata: { fixtureType: 'small' },
  })
  const metrics = provider.getPerformanceMetrics()
  const awaited = await provider.getPerformanceMetrics()
  const cacheStats = provider.getCacheStats()
  const poolStatus = provider.getProcessPoolStatus()
  console.log(metrics.length, awaited.length, cacheStats.hits, poolStatus.size, poolStatus.maxSize)
  provider.on('request-completed', ({ response }: { response: BenchmarkResponse }) => console.log(response.time))
  await provider.disconnect()
  return response
}

export async function before(config: ProviderConfig, request: BenchmarkRequest): Promise<number> {
  const baseline = new BuildFixProvider(config)
  await baseline.connect()
  try {
    const r = await baseline.execute(request)
    return r.tokens
  } catch (err) {
    if (err instanceof EnhancedBuildFixTimeoutError) return err.timeout
    throw err
  } finally {
    await baseline.disconnect()
  }
}

// Results grouped by error family, over a folder of one's own fixtures.
import { listFixtures, type FixtureDetails } from '@promethean/benchmark/src/providers/buildfix-enhanced'
export async function byFamily(fixturesDir: string): Promise<Record<string, number>> {
  const details: FixtureDetails[] = listFixtures('small', { fixturesDir, details: true })
  const names: string[] = listFixtures('massive', { count: 26 })
  const provider = new BuildFixProvider({ name: 'own', type: 'buildfix', model: 'gold' })
  await provider.connect()
  const response = await provider.execute({ prompt: 'own', metadata: { fixturesDir, fixtures: details.map((d) => d.name) } })
  await provider.disconnect()
  const passed: Record<string, number> = {}
  for (const r of response.metadata?.buildFixResults ?? []) if (r.success) passed[r.family ?? 'none'] = (passed[r.family ?? 'none'] ?? 0) + 1
  console.log(names.length, response.metadata?.fixturesDir)
  return passed
}

// A model served by vLLM behind an OpenAI-compatible API, two requests at a time.
export async function vllmRun(): Promise<boolean> {
  const api: ModelApi = 'openai'
  const provider = new EnhancedBuildFixProvider({
    name: 'buildfix-vllm',
    type: 'buildfix',
    model: 'llama-3.1-8b',
    endpoint: 'http://gpu2:8000/v1',
    api,
    apiKeyEnv: 'VLLM_API_KEY',
    options: { seed: 42, maxConcurrentRequests: 2 },
  })
  await provider.connect()
  const response = await provider.execute({ prompt: 'Fix', metadata: { fixtureType: 'small' } })
  await provider.disconnect()
  const md = response.metadata as BuildFixResponseMetadata
  const modes: (OutputMode | undefined)[] = md.buildFixResults.map((r) => r.outputMode)
  console.log(response.tokens, modes)
  return md.tokensEstimated
}

// Workers sized to the machine and scaled to demand: one warm, more while jobs queue.
import type { EnhancedBuildFixOptions } from '@promethean/benchmark'
export async function scaled(): Promise<number> {
  const options: EnhancedBuildFixOptions = {
    minWorkers: 1,
    maxWorkers: 4,
    workerGrowAfter: 500,
    workerIdleTimeout: 10_000,
    workerLowMemory: true,
    checkers: 'thread',
  }
  const provider = new EnhancedBuildFixProvider({ name: 'scaled', type: 'buildfix', model: 'gold', options })
  await provider.connect()
  const status = provider.getProcessPoolStatus()
  await provider.disconnect()
  // @ts-expect-error: checkers are threads or processes
  const wrong: EnhancedBuildFixOptions = { checkers: 'fiber' }
  void wrong
  return status.maxSize
}

// Several machines sharing answers through Redis.
export async function sharedRun(): Promise<number> {
  const provider = new EnhancedBuildFixProvider({
    name: 'buildfix-shared',
    type: 'buildfix',
    model: 'gold',
    options: { sharedCache: { url: 'redis://cache.internal:6379', keyPrefix: 'team-a', timeoutMs: 500 } },
  })
  provider.on('shared-cache-error', ({ operation, key, error }) => console.warn(operation, key, error.message))
  await provider.connect()
  await provider.execute({ prompt: 'Fix', metadata: { fixtureType: 'small' } })
  const hits = provider.getCacheStats().shared?.hits ?? 0
  await provider.disconnect()
  const other = new EnhancedBuildFixProvider({ name: 'b', type: 'buildfix', model: 'gold', options: { sharedCache: 'redis://127.0.0.1:6379' } })
  void other
  return hits
}
