// Code written against the original module's chat side: createProvider, the three providers,
// BenchmarkRunner over a suite, MetricsCalculator over the report's results.
import {
  BenchmarkRunner,
  MetricsCalculator,
  OllamaProvider,
  OpenAIProvider,
  VLLMProvider,
  createProvider,
  getSupportedProviders,
  type BaseProvider,
  type BenchmarkReport,
  type BenchmarkRequest,
  type BenchmarkResult,
  type BenchmarkSuite,
  type ChatResponse,
  type MetricPercentiles,
  type ProviderConfig,
} from '@promethean/benchmark'

const configs: ProviderConfig[] = [
  { name: 'llama', type: 'ollama', model: 'llama3', endpoint: 'http://localhost:11434' },
  { name: 'vllm', type: 'vllm', model: 'qwen', endpoint: 'http://localhost:8000/v1', options: { timeout: 30000 } },
  { name: 'gpt', type: 'openai', model: 'gpt-4o-mini', apiKeyEnv: 'OPENAI_API_KEY' },
]

export async function compare(): Promise<BenchmarkReport> {
  const supported: string[] = getSupportedProviders()
  const provider: BaseProvider = createProvider(configs[0])
  const ollama = new OllamaProvider({ name: 'o', model: 'm' })
  const vllm = new VLLMProvider({ name: 'v', model: 'm', type: 'vllm' })
  const openai = new OpenAIProvider({ name: 'g', model: 'm', apiKeyEnv: 'OPENAI_API_KEY' })
  const request: BenchmarkRequest = { prompt: 'hi', maxTokens: 10, temperature: 0 }
  const response: ChatResponse = await ollama.execute(request)
  const ttft: number = response.metadata.timeToFirstToken
  const source: 'server-durations' | 'stream-timestamps' | 'total-time' = response.metadata.sources.tokensPerSecond
  const models: string[] = await vllm.listModels()
  const healthy: boolean = await openai.isHealthy()
  void [supported, provider, ttft, source, models, healthy]

  const runner = new BenchmarkRunner()
  runner.on('progress', ({ done, total }) => console.log(done, total))
  await runner.addProvider(configs[0])
  const single: BenchmarkResult = await runner.runSingleBenchmark('llama', request)
  const suite: BenchmarkSuite = { name: 's', requests: [request], providers: configs, iterations: 3, warmupIterations: 1 }
  const report = await runner.runSuite(suite, { signal: AbortSignal.timeout(60000) })
  const p: MetricPercentiles = report.summary.percentiles.llama
  const p95: number = p.timeToFirstToken.p95
  const health: Record<string, boolean> = await runner.healthCheck()
  const listed: Record<string, string[]> = await runner.listAvailableModels()
  const percentiles = MetricsCalculator.calculatePercentiles(report.results)
  void [single, p95, health, listed, percentiles]
  await runner.removeProvider('llama')
  await runner.disconnectAll()
  return report
}
