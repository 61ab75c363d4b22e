// Types of lib/chat.js: the original package's chat providers and BenchmarkRunner.

import { EventEmitter } from 'node:events'

import type { MetricPercentiles } from './metrics'
import type {
  BaseProvider,
  BenchmarkMetrics,
  BenchmarkReport,
  BenchmarkRequest,
  BenchmarkResponse,
  BenchmarkResult,
  BenchmarkSuite,
  ProviderConfig,
} from './provider'

export type ChatProviderType = 'ollama' | 'vllm' | 'openai'

/** Where a chat response's figures came from. */
export interface ChatFigureSources {
  /** `server`: the server's own counts; `estimate`: 4 characters a token. */
  tokens: 'server' | 'estimate'
  /** `stream`: the arrival of the first streamed token; `total-time`: no token was streamed. */
  timeToFirstToken: 'stream' | 'total-time'
  /** `server-durations`: Ollama's eval_count / eval_duration; `stream-timestamps`: first to last streamed token; `total-time`: the whole request. */
  tokensPerSecond: 'server-durations' | 'stream-timestamps' | 'total-time'
  clock: 'monotonic'
}

/** `metadata` of a chat provider's response. Times in ms. */
export interface ChatResponseMetadata {
  model: string
  provider: string
  promptTokens: number
  completionTokens: number
  totalTokens: number
  tokensEstimated: boolean
  timeToFirstToken: number
  tokensPerSecond: number
  tries: number
  retryWaitMs: number
  /** Ollama's own durations (ms) and count. */
  server?: {
    evalCount?: number
    evalDurationMs?: number
    promptEvalDurationMs?: number
    loadDurationMs?: number
    totalDurationMs?: number
  }
  sources: ChatFigureSources
}

export interface ChatResponse extends BenchmarkResponse {
  metadata: ChatResponseMetadata
}

/** `config.options` of a chat provider. */
export interface ChatProviderOptions {
  /** Deadline of one request, ms (default 120000). */
  timeout?: number
  seed?: number
  [key: string]: any
}

declare abstract class ChatProvider extends BaseProvider {
  connect(): Promise<void>
  disconnect(): Promise<void>
  execute(request: BenchmarkRequest, options?: { signal?: AbortSignal }): Promise<ChatResponse>
  isHealthy(): Promise<boolean>
  listModels(): Promise<string[]>
}

/** Ollama's native API (`/api/generate`); endpoint default `http://localhost:11434`. */
export declare class OllamaProvider extends ChatProvider {
  constructor(config: Omit<ProviderConfig, 'type'> & { type?: ProviderConfig['type']; options?: ChatProviderOptions })
}
/** vLLM's OpenAI-compatible API; endpoint default `http://localhost:8000/v1`. */
export declare class VLLMProvider extends ChatProvider {
  constructor(config: Omit<ProviderConfig, 'type'> & { type?: ProviderConfig['type']; options?: ChatProviderOptions })
}
/** OpenAI's (or a compatible) API; endpoint default `https://api.openai.com/v1`, key from `apiKeyEnv`. */
export declare class OpenAIProvider extends ChatProvider {
  constructor(config: Omit<ProviderConfig, 'type'> & { type?: ProviderConfig['type']; options?: ChatProviderOptions })
}

/** The provider for `config.type`; `Unsupported provider type: <type>` for any other. */
export declare function createProvider(config: ProviderConfig): OllamaProvider | VLLMProvider | OpenAIProvider
export declare function getSupportedProviders(): ChatProviderType[]

export interface BenchmarkProgress {
  done: number
  total: number
  result: BenchmarkResult
}

/** `BenchmarkRunner`'s report: the original's, with percentiles beside the means. */
export interface ChatBenchmarkReport extends BenchmarkReport {
  summary: BenchmarkReport['summary'] & { percentiles: Record<string, MetricPercentiles> }
}

export declare class BenchmarkRunner extends EventEmitter {
  constructor()
  addProvider(config: ProviderConfig): Promise<BaseProvider>
  removeProvider(name: string): Promise<void>
  getProviders(): string[]
  runSingleBenchmark(providerName: string, request: BenchmarkRequest, options?: { signal?: AbortSignal }): Promise<BenchmarkResult>
  /** With `signal`: an abort cancels the request in flight and starts no other; the report holds the results so far. */
  runSuite(suite: BenchmarkSuite, options?: { signal?: AbortSignal }): Promise<ChatBenchmarkReport>
  generateReport(suite: BenchmarkSuite, results: BenchmarkResult[]): ChatBenchmarkReport
  listAvailableModels(): Promise<Record<string, string[]>>
  healthCheck(): Promise<Record<string, boolean>>
  disconnectAll(): Promise<void>
  on(event: 'progress', listener: (progress: BenchmarkProgress) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
}

export type { BenchmarkMetrics }
