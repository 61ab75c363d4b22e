'use strict'
// BaseProvider: the interface every provider has (the original's abstract class), with the
// helpers the original's runners call on every provider.

const { EventEmitter } = require('node:events')
const os = require('node:os')

const { binding } = require('../native.js')
const v = require('../validate.js')
const { checkConfig } = require('./options.js')

/** The models of the server at `config.endpoint` (GET /api/tags, or /models of an OpenAI-style API); `[config.model]` when it cannot say. */
async function serverModels(config) {
  if (config.endpoint) {
    try {
      const models = await require('../../worker/models.js').listModels(config.endpoint, { api: config.api, apiKeyEnv: config.apiKeyEnv })
      if (models.length > 0) return models
    } catch {}
  }
  return [config.model]
}

/** Busy and total CPU ticks of the machine, summed over its cores. */
function cpuTicks() {
  let busy = 0
  let total = 0
  for (const { times } of os.cpus()) {
    const all = times.user + times.nice + times.sys + times.idle + times.irq
    total += all
    busy += all - times.idle
  }
  return { busy, total }
}

// The machine's CPU ticks at the previous measureResources() of any provider: its cpuUsage is
// the machine's load since then (since boot the first time), as the original's system-wide figure.
let lastTicks = null

class BaseProvider extends EventEmitter {
  constructor(config) {
    super()
    /** The provider's configuration (a copy). */
    this.config = checkConfig(config)
  }

  get name() {
    return this.config.name
  }

  getConfig() {
    return this.config
  }

  getName() {
    return this.config.name
  }

  getType() {
    return this.config.type
  }

  getModel() {
    return this.config.model
  }

  /**
   * The original's per-response figures: tokens per second, and latency / time to completion as
   * the ms since `startTime` (a `Date.now()` value); `timeToFirstToken` and `effectiveness` come
   * from the response's metadata when it has them. Never NaN or Infinity.
   */
  calculateMetrics(response, startTime) {
    if (response === null || typeof response !== 'object' || Array.isArray(response)) {
      throw v.typeError('response', 'a BenchmarkResponse object {content, tokens, time}', response)
    }
    if (typeof response.tokens !== 'number' || !Number.isFinite(response.tokens)) {
      throw v.typeError('response.tokens', 'a finite number', response.tokens)
    }
    if (typeof startTime !== 'number' || !Number.isFinite(startTime)) {
      throw v.typeError('startTime', 'a finite number (a Date.now() value)', startTime)
    }
    const totalTime = Math.max(0, Date.now() - startTime)
    const meta = response.metadata ?? {}
    const first = meta.timeToFirstToken
    return {
      tps: totalTime > 0 ? (response.tokens / totalTime) * 1000 : 0,
      latency: totalTime,
      timeToFirstToken: typeof first === 'number' && Number.isFinite(first) && first > 0 ? first : totalTime,
      timeToCompletion: totalTime,
      effectiveness: meta.effectiveness,
    }
  }

  /**
   * The original's resource figures: this process's resident memory in MB, the machine's CPU
   * load in % since the previous call, and the first GPU's use, memory (MB) and power (W) read
   * from NVML when its library is there (`undefined` otherwise, never an error).
   */
  async measureResources() {
    const now = cpuTicks()
    const prev = lastTicks ?? { busy: 0, total: 0 }
    lastTicks = now
    const dTotal = now.total - prev.total
    const cpuUsage = dTotal > 0 ? Math.min(100, Math.max(0, ((now.busy - prev.busy) / dTotal) * 100)) : 0
    let gpu = null
    try {
      gpu = binding.gpuSample()
    } catch {}
    return {
      memoryUsage: process.memoryUsage.rss() / 1024 / 1024,
      cpuUsage,
      gpuUsage: gpu?.usage,
      gpuMemoryUsage: gpu?.memoryUsedMb,
      powerConsumption: gpu?.powerWatts ?? undefined,
    }
  }

  async connect() {
    throw new Error(`${this.constructor.name} does not implement connect()`)
  }

  async disconnect() {}

  async execute() {
    throw new Error(`${this.constructor.name} does not implement execute()`)
  }

  async isHealthy() {
    return false
  }

  async listModels() {
    return [this.config.model]
  }
}

module.exports = { BaseProvider, serverModels }
