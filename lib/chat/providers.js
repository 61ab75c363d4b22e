'use strict'
// The chat providers of the original package (Ollama, vLLM, OpenAI) over the one model client
// per protocol in worker/clients/. Each request is streamed, so that the time to first token is
// the arrival of the first streamed token, and its figures say where they came from.

const { BaseProvider } = require('../provider/base.js')
const { clientFor } = require('../../worker/clients')
const { createOpenAIClient } = require('../../worker/clients/openai')
const v = require('../validate.js')

const DEFAULT_ENDPOINTS = {
  ollama: 'http://localhost:11434',
  vllm: 'http://localhost:8000/v1',
  openai: 'https://api.openai.com/v1',
}
const DEFAULT_TIMEOUT_MS = 120000

function checkRequest(request) {
  if (request === null || typeof request !== 'object' || Array.isArray(request)) {
    throw v.typeError('request', 'a BenchmarkRequest object {prompt, maxTokens?, temperature?}', request)
  }
  if (typeof request.prompt !== 'string') throw v.typeError('request.prompt', 'a string', request.prompt)
  if (request.maxTokens !== undefined && (!Number.isInteger(request.maxTokens) || request.maxTokens < 1)) {
    throw v.typeError('request.maxTokens', 'a positive integer', request.maxTokens)
  }
  if (request.temperature !== undefined && (typeof request.temperature !== 'number' || !Number.isFinite(request.temperature))) {
    throw v.typeError('request.temperature', 'a finite number', request.temperature)
  }
}

/**
 * Tokens per second of generation and where the figure came from: the server's own count over
 * its own duration (Ollama's eval_count / eval_duration); else the server's (or estimated)
 * count over the stream's timestamps, first token to last (the first token ends the wait, the
 * other count - 1 tokens are what the interval measures); else over the whole request.
 */
function generationRate(answer, totalMs) {
  const server = answer.server
  if (server?.evalCount > 0 && server.evalDurationMs > 0) {
    return { tps: server.evalCount / (server.evalDurationMs / 1000), source: 'server-durations' }
  }
  const tokens = answer.usage.completionTokens
  const s = answer.stream
  if (s && s.tokenEvents > 1 && tokens > 1 && s.lastTokenMs > s.firstTokenMs) {
    return { tps: (tokens - 1) / ((s.lastTokenMs - s.firstTokenMs) / 1000), source: 'stream-timestamps' }
  }
  return { tps: totalMs > 0 ? tokens / (totalMs / 1000) : 0, source: 'total-time' }
}

class ChatProvider extends BaseProvider {
  constructor(config, type, api) {
    if (config === null || typeof config !== 'object' || Array.isArray(config)) {
      throw v.typeError('config', 'a ProviderConfig object {name, type, model, endpoint?, options?}', config)
    }
    // A key given in code (the original's `apiKey`) stays in the client: the config, which
    // results and reports carry, keeps no copy of it.
    const { apiKey, ...rest } = config
    if (apiKey !== undefined && (typeof apiKey !== 'string' || apiKey === '')) {
      // Not quoted back: a key must not reach a log.
      throw new TypeError('config.apiKey must be a non-empty string (or use apiKeyEnv, the name of the variable holding it)')
    }
    super({ ...rest, type: config.type ?? type, endpoint: config.endpoint ?? DEFAULT_ENDPOINTS[type], api })
    const timeout = this.config.options.timeout
    if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout > 0))) {
      throw v.typeError('config.options.timeout', 'a positive number of ms', timeout)
    }
    this.client =
      apiKey !== undefined && api === 'openai'
        ? createOpenAIClient({ endpoint: this.config.endpoint, apiKey })
        : clientFor({ endpoint: this.config.endpoint, api, apiKeyEnv: this.config.apiKeyEnv })
  }

  timeouts() {
    const totalMs = this.config.options.timeout ?? DEFAULT_TIMEOUT_MS
    return { connectMs: Math.min(10000, totalMs), firstByteMs: totalMs, totalMs }
  }

  /** Checks that the server answers (lists its models); throws when it does not. */
  async connect() {
    try {
      await this.client.listModels({ timeouts: this.timeouts() })
    } catch (err) {
      throw new Error(`Failed to connect to ${this.constructor.name.replace('Provider', '')} at ${this.config.endpoint}: ${err.message}`)
    }
  }

  /**
   * One streamed completion of `request.prompt`. `tokens` is the server's completion token
   * count; `metadata` holds the prompt and total counts, the time to first token, tokens per
   * second and `sources` naming where each figure came from.
   */
  async execute(request, { signal } = {}) {
    checkRequest(request)
    const started = performance.now()
    const answer = await this.client.complete({
      model: this.config.model,
      prompt: request.prompt,
      temperature: request.temperature ?? 0.7,
      maxTokens: request.maxTokens,
      seed: this.config.options.seed,
      timeouts: this.timeouts(),
      signal,
      stream: true,
    })
    const time = performance.now() - started
    const { tps, source } = generationRate(answer, time)
    const first = answer.stream?.firstTokenMs
    return {
      content: answer.text,
      tokens: answer.usage.completionTokens,
      time,
      metadata: {
        model: this.config.model,
        provider: this.config.type,
        promptTokens: answer.usage.promptTokens,
        completionTokens: answer.usage.completionTokens,
        totalTokens: answer.usage.promptTokens + answer.usage.completionTokens,
        tokensEstimated: answer.usage.estimated,
        timeToFirstToken: first ?? time,
        tokensPerSecond: tps,
        tries: answer.tries,
        retryWaitMs: answer.retryWaitMs,
        ...(answer.server ? { server: answer.server } : {}),
        sources: {
          tokens: answer.usage.estimated ? 'estimate' : 'server',
          timeToFirstToken: first !== undefined ? 'stream' : 'total-time',
          tokensPerSecond: source,
          clock: 'monotonic',
        },
      },
    }
  }

  async isHealthy() {
    try {
      await this.client.listModels({ timeouts: this.timeouts() })
      return true
    } catch {
      return false
    }
  }

  async listModels() {
    return this.client.listModels({ timeouts: this.timeouts() })
  }
}

/** Ollama's native API (`/api/generate`, streamed as NDJSON). */
class OllamaProvider extends ChatProvider {
  constructor(config) {
    super(config, 'ollama', 'ollama')
  }
}

/** A vLLM server's OpenAI-compatible API (`/v1/chat/completions`, streamed as events). */
class VLLMProvider extends ChatProvider {
  constructor(config) {
    super(config, 'vllm', 'openai')
  }
}

/** OpenAI's API, or any OpenAI-compatible one (`/v1/chat/completions`); the key from `apiKeyEnv`. */
class OpenAIProvider extends ChatProvider {
  constructor(config) {
    super(config, 'openai', 'openai')
  }
}

const PROVIDERS = { ollama: OllamaProvider, vllm: VLLMProvider, openai: OpenAIProvider }

/** The provider for `config.type`: 'ollama', 'vllm' or 'openai'. */
function createProvider(config) {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw v.typeError('config', 'a ProviderConfig object {name, type, model, endpoint?, options?}', config)
  }
  const Provider = Object.hasOwn(PROVIDERS, config.type) ? PROVIDERS[config.type] : undefined
  if (!Provider) throw new Error(`Unsupported provider type: ${config.type}`)
  return new Provider(config)
}

function getSupportedProviders() {
  return Object.keys(PROVIDERS)
}

module.exports = { OllamaProvider, VLLMProvider, OpenAIProvider, createProvider, getSupportedProviders, generationRate }
