import { EventEmitter } from 'node:events'

export type ProviderType = 'openai' | 'anthropic' | 'ollama' | 'huggingface' | 'local' | 'buildfix' | (string & {})

export interface ProviderConfig {
  name: string
  type: ProviderType
  endpoint?: string
  apiKey?: string
  model: string
  /**
   * The API `endpoint` speaks: Ollama's (`/api/generate`) or OpenAI-compatible
   * (`/chat/completions`: vLLM, llama.cpp, LM Studio, SGLang, Ollama's `/v1`, hosted APIs).
   * Default: `'openai'` when the endpoint ends in `/v1`, else `'ollama'`.
   */
  api?: ModelApi
  /** The name of the environment variable holding the API key (e.g. `'OPENAI_API_KEY'`), never the key. */
  apiKeyEnv?: string
  options?: Record<string, any>
}

export interface BenchmarkRequest {
  prompt: string
  maxTokens?: number
  temperature?: number
  metadata?: Record<string, any>
}

export interface BenchmarkResponse {
  content: string
  tokens: number
  /** Milliseconds the request took. */
  time: number
  metadata?: Record<string, any>
}

/** One response's figures, from `BaseProvider.calculateMetrics(response, startTime)`; all ms but `tps`. */
export interface BenchmarkMetrics {
  /** Tokens per second. */
  tps: number
  latency: number
  /** `response.metadata.timeToFirstToken` when given, else the latency. */
  timeToFirstToken: number
  timeToCompletion: number
  /** The response's `metadata.effectiveness` (a 0..1 score) when it has one. */
  effectiveness?: number
  errorRate?: number
}

/** `BaseProvider.measureResources()`: the original's units, MB, % and W. */
export interface ResourceMetrics {
  /** Resident memory of this process, MB. */
  memoryUsage: number
  /** The machine's CPU load since the previous call, %. */
  cpuUsage: number
  /** The first GPU's utilisation, %: read from NVML; `undefined` without its library or a GPU. */
  gpuUsage?: number
  /** The first GPU's memory in use, MB (NVML). */
  gpuMemoryUsage?: number
  /** The first GPU's power draw, W (NVML). */
  powerConsumption?: number
  /** Disk throughput, MB/s: the original's field, which `measureResources()` does not fill. */
  diskIO?: { read: number; write: number }
}

/** One provider's answer to one request, with its figures (the original's runner type). */
export interface BenchmarkResult {
  provider: ProviderConfig
  request: BenchmarkRequest
  response: BenchmarkResponse
  metrics: BenchmarkMetrics
  resources: ResourceMetrics
  timestamp: Date
  success: boolean
  error?: string
}

/** Requests to send to providers (the original's runner type). */
export interface BenchmarkSuite {
  name: string
  requests: BenchmarkRequest[]
  providers: ProviderConfig[]
  iterations: number
  warmupIterations: number
}

/** A suite's results and their summary (the original's runner type). */
export interface BenchmarkReport {
  suite: BenchmarkSuite
  results: BenchmarkResult[]
  summary: {
    totalTests: number
    successRate: number
    averageMetrics: Record<string, BenchmarkMetrics>
    resourceUsage: Record<string, ResourceMetrics>
    rankings: Array<{ provider: string; score: number; metrics: BenchmarkMetrics }>
  }
  generatedAt: Date
}

/** One reading of a BuildFix response's `metadata.resourceUsage` (bytes and microseconds). */
export interface ProcessResourceSample {
  /** Resident memory of this process plus its worker processes, in bytes. */
  memoryUsage: number
  /** CPU time of this process (user + system), in microseconds. */
  cpuUsage: number
  timestamp: number
}

/** One fixture's outcome, as the engine's workers report it (`worker/index.d.ts`). */
export type { BuildFixResult, ModelApi, OutputMode } from '../worker/index'
import type { BuildFixResult, ModelApi } from '../worker/index'

/** Per-request timings, as the original provider recorded them (performance.now() ms). */
export interface PerformanceMetrics {
  requestStartTime: number
  processStartTime: number
  processEndTime: number
  ioStartTime: number
  ioEndTime: number
  memoryBefore: number
  memoryAfter: number
  cpuBefore: number
  cpuAfter: number
  cacheHits: number
  cacheMisses: number
}

export interface BuildFixCacheStats {
  hits: number
  misses: number
  evictions: number
  /** The shared level's own counters, with `options.sharedCache`. */
  shared?: { hits: number; misses: number; errors: number; writes: number }
}

export interface ProcessPoolStatus {
  size: number
  active: number
  maxSize: number
  idle?: number
  waiting?: number
  starting?: number
  minSize?: number
  created?: number
  destroyed?: number
  avgWaitTime?: number
  mode?: 'bundled' | 'command' | 'process-per-request' | null
  circuit?: 'closed' | 'open' | 'half-open'
}

export interface BuildFixRequestMetadata {
  /**
   * `'small'` or `'massive'`. Any string type-checks (a request held in a variable infers
   * `string`); another value rejects at run time with a RangeError.
   */
  fixtureType?: 'small' | 'massive' | (string & {})
  /** Only these fixtures of the set, by name. */
  fixtures?: string[]
  /**
   * A folder of fixture folders of your own, in place of the bundled `small` set (`fixtures` then
   * names fixtures of this folder; `fixtureType: 'massive'` cannot go with it). Only read: jobs
   * run on copies. See docs/fixtures.md.
   */
  fixturesDir?: string
  [key: string]: any
}

export interface BuildFixResponseMetadata {
  buildFixResults: BuildFixResult[]
  fixtureType: 'small' | 'massive'
  /** The request's `metadata.fixturesDir`, absolute, when it gave one. */
  fixturesDir?: string
  totalTests: number
  successfulTests: number
  performanceMetrics: PerformanceMetrics
  cacheStats: BuildFixCacheStats
  resourceUsage: { before: ProcessResourceSample; after: ProcessResourceSample; delta: { memory: number; cpu: number } }
  cached: boolean
  model: string
  /** False when `tokens` is the sum of the model servers' own counts; true when it is estimated. */
  tokensEstimated: boolean
}

export interface EnhancedBuildFixOptions {
  /** 'auto' (default): a monorepo's packages/buildfix when found, else the bundled engine. */
  mode?: 'auto' | 'bundled' | 'command'
  /** A BuildFix command as an argument vector (never run through a shell); `{model}`, `{fixtureType}` and `{fixtureFlag}` are filled in. */
  command?: string[]
  /** Warm worker processes kept ready (connect() waits for them). Default 1. */
  minWorkers?: number
  /**
   * Most worker processes. Default: what the machine runs well, one per core and no more than
   * fit in half of the available memory; a larger value is capped to that with a warning.
   */
  maxWorkers?: number
  /** How long a job waits for a busy worker before another worker is started, ms. Default 250. */
  workerGrowAfter?: number
  /** How long a worker above minWorkers may sit idle before it is stopped, ms. Default 30000. */
  workerIdleTimeout?: number
  /** Cache whole answers (memory + disk). Default true. */
  cache?: boolean
  /** Folder of the disk cache level. Default '.cache/buildfix'. */
  cacheDir?: string
  /** Time to live of cached answers, ms. Default 3600000. */
  cacheTtl?: number
  /**
   * A result cache level shared between machines, on Redis (`'redis://host:port'`, or
   * `{url, keyPrefix?, timeoutMs?}`): an answer computed on one machine is a hit on another.
   * Its values live for `cacheTtl`. Redis down or slow never fails a request
   * (`shared-cache-error`).
   */
  sharedCache?: string | { url: string; keyPrefix?: string; timeoutMs?: number }
  /** Where disconnect() saves the metrics. Default '.buildfix-metrics'. */
  metricsDir?: string
  /** Where working copies of fixtures live while connected. Default: a new temporary folder. */
  workDir?: string
  /** Hard limit of one fixture's job; past it the worker's process group is killed. Default 120000. */
  jobTimeout?: number
  /** How long a request may wait for a free worker. Default 300000. */
  acquireTimeout?: number
  /** How long a new worker may take to load the compiler. Default 60000. */
  workerStartTimeout?: number
  /**
   * V8 heap limit of each worker in MB (`--max-old-space-size`, or a thread's
   * `resourceLimits.maxOldGenerationSizeMb`); 0 keeps Node's default. Default 256.
   */
  workerHeapMb?: number
  /**
   * Run the workers with V8 flags that trade little speed for much memory (a 1 MB young
   * generation, no optimising compiler): about 30% less resident memory per worker process; a
   * thread gets the small young generation only. Default true.
   */
  workerLowMemory?: boolean
  /**
   * Where the checkers run: `'thread'`, `worker_threads` Workers of this process sharing its Node
   * runtime (less memory); `'process'`, a Node process each (a crash of Node itself stays in the
   * worker). Default `'thread'`, or `'process'` when `node` is given.
   */
  checkers?: 'thread' | 'process'
  /** Time limit of a command-mode run. Default 600000. */
  commandTimeout?: number
  /** Model attempts per fixture. Default 1. */
  maxAttempts?: number
  /** Time limit of one model request. Default 60000. */
  attemptTimeout?: number
  circuitBreaker?: { failureThreshold?: number; recoveryTimeout?: number }
  /** Size and seed of the generated massive set. Defaults 200 and 1. */
  massiveCount?: number
  massiveSeed?: number
  /** The Node.js executable for worker processes (giving it means `checkers: 'process'`). Default process.execPath. */
  node?: string
  /** Sampling seed sent to the model server. Default: none (the server's own). */
  seed?: number
  /**
   * At most this many model requests in flight per endpoint, across the workers (type checks
   * still run in parallel). Default: no limit beyond `maxWorkers`.
   */
  maxConcurrentRequests?: number
}

/** The second argument of `execute`. */
export interface ExecuteOptions {
  /**
   * Cancels the request: its queued jobs leave the queue, its running jobs are stopped in their
   * workers (their working copies restored), and the promise rejects with `signal.reason` (an
   * `AbortError`) once they have. An aborted request is not a failed run: no `request-failed`.
   */
  signal?: AbortSignal
}

export declare abstract class BaseProvider extends EventEmitter {
  constructor(config: ProviderConfig)
  readonly config: ProviderConfig
  readonly name: string
  abstract connect(): Promise<void>
  abstract disconnect(): Promise<void>
  abstract execute(request: BenchmarkRequest): Promise<BenchmarkResponse>
  abstract isHealthy(): Promise<boolean>
  listModels(): Promise<string[]>
  getConfig(): ProviderConfig
  getName(): string
  getType(): string
  getModel(): string
  /** Figures of `response`, timed from `startTime` (a `Date.now()` value) to now. Never NaN. */
  calculateMetrics(response: BenchmarkResponse, startTime: number): BenchmarkMetrics
  /** This process's memory, the machine's CPU load and, with NVML, the first GPU's figures. */
  measureResources(): Promise<ResourceMetrics>
}

/**
 * What `EnhancedBuildFixProvider.execute` resolves with: a `BenchmarkResponse` whose metadata,
 * as typed here, is the success or failure shape (a subclass may still override `execute` with
 * the original's `Promise<BenchmarkResponse>`).
 */
export interface BuildFixResponse extends BenchmarkResponse {
  metadata?: Partial<BuildFixResponseMetadata> & { error?: string; [key: string]: any }
}

export declare class EnhancedBuildFixProvider extends BaseProvider {
  constructor(config: ProviderConfig & { options?: EnhancedBuildFixOptions })
  readonly mode: 'bundled' | 'command' | null
  connect(): Promise<void>
  disconnect(): Promise<void>
  execute(request: BenchmarkRequest & { metadata?: BuildFixRequestMetadata }, options?: ExecuteOptions): Promise<BuildFixResponse>
  isHealthy(): Promise<boolean>
  listModels(): Promise<string[]>
  /** A plain array: usable with or without `await`. */
  getPerformanceMetrics(): PerformanceMetrics[]
  getCacheStats(): BuildFixCacheStats
  getProcessPoolStatus(): ProcessPoolStatus
  /** Rejects with an EnhancedBuildFixCacheError when the disk level's files could not all be removed. */
  clearCache(): Promise<void>
  workerPids(): number[]
  /** What the result cache could not do for a request (the answer stands without it). */
  on(event: 'cache-error', listener: (event: { error: EnhancedBuildFixCacheError }) => void): this
  /** The shared cache level (Redis) failed or was slow; the request went on without it. */
  on(event: 'shared-cache-error', listener: (event: { operation: 'get' | 'set'; key: string; error: Error }) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
}

export interface BuildFixProviderOptions {
  timeout?: number
  maxAttempts?: number
  attemptTimeout?: number
  node?: string
}

/** The guide's "before": one fresh process (a cold compiler) per request. */
export declare class BuildFixProvider extends BaseProvider {
  constructor(config: ProviderConfig & { options?: BuildFixProviderOptions })
  connect(): Promise<void>
  disconnect(): Promise<void>
  /** `options.signal` kills the run's process; the promise rejects with `signal.reason`. */
  execute(request: BenchmarkRequest & { metadata?: BuildFixRequestMetadata }, options?: ExecuteOptions): Promise<BenchmarkResponse>
  isHealthy(): Promise<boolean>
  listModels(): Promise<string[]>
  getPerformanceMetrics(): PerformanceMetrics[]
  getCacheStats(): BuildFixCacheStats
  getProcessPoolStatus(): ProcessPoolStatus
  clearCache(): Promise<void>
  workerPids(): number[]
}

export declare class EnhancedBuildFixTimeoutError extends Error {
  constructor(message: string, timeout: number, operation: string)
  readonly timeout: number
  readonly operation: string
}

export declare class EnhancedBuildFixProcessError extends Error {
  constructor(message: string, exitCode: number | null, stderr: string, operation: string)
  readonly exitCode: number | null
  readonly stderr: string
  readonly operation: string
}

export declare class EnhancedBuildFixCacheError extends Error {
  constructor(message: string, operation: string, cacheKey: string)
  readonly operation: string
  readonly cacheKey: string
}

/** What one fixture tests. */
export interface FixtureDetails {
  /** The folder name: what `metadata.fixtures` selects by. */
  name: string
  /** The error family, e.g. `possibly-null`; `null` for a fixture of your own that names none. */
  family: string | null
  /** The target's TypeScript error code, e.g. 18047. */
  code: number
  /**
   * Every code the target may have: `[code]`, except for generated fixtures where tsc's wording
   * depends on the generated names (e.g. `[2552, 2304]`, with or without "Did you mean").
   */
  codes: number[]
  file: string
  line: number
  description: string
  /** Set instead of the fields above when the fixture.json cannot be read. */
  error?: string
}

export interface ListFixturesOptions {
  /** The seeded massive set: how many fixtures (default 200) and which seed (default 1). */
  count?: number
  seed?: number
  /** A folder of fixture folders of your own instead of the bundled set. */
  fixturesDir?: string
}

/**
 * The fixtures of a set: the bundled `small` set (default), the seeded `massive` one, or the
 * folder `options.fixturesDir`. Names, or with `details: true` what each one tests.
 */
export declare function listFixtures(set?: 'small' | 'massive', options?: ListFixturesOptions & { details?: false }): string[]
export declare function listFixtures(set: 'small' | 'massive' | undefined, options: ListFixturesOptions & { details: true }): FixtureDetails[]
