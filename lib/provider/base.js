'use strict'
// BaseProvider: the interface every provider has (the original's abstract class).

const { EventEmitter } = require('node:events')

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

class BaseProvider extends EventEmitter {
  constructor(config) {
    super()
    /** The provider's configuration (a copy). */
    this.config = checkConfig(config)
  }

  get name() {
    return this.config.name
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
