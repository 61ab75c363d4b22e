'use strict'
// The model clients, one module per protocol, all with one interface:
//   complete({model, prompt, schema?, temperature?, seed?, maxTokens?, timeouts?, retry?, signal?, stream?})
//     -> {text, usage: {promptTokens, completionTokens, estimated}, ttftMs?, mode, tries, retryWaitMs,
//         stream?: {firstTokenMs, lastTokenMs, endMs, tokenEvents}, server? (Ollama's durations)}
//   listModels({timeouts?, signal?}) -> string[]
// and a limit on the requests in flight per endpoint (./slots.js).

const { createOpenAIClient } = require('./openai')
const { createOllamaClient } = require('./ollama')
const http = require('./http')

const APIS = ['ollama', 'openai']

/** The API an endpoint speaks when none is named: OpenAI-style when its path ends in /v1. */
function inferApi(endpoint) {
  try {
    return /\/v1\/?$/.test(new URL(endpoint).pathname) ? 'openai' : 'ollama'
  } catch {
    return 'ollama'
  }
}

const clients = new Map()

/** The client of `endpoint` (one per endpoint, API and key variable, reused). */
function clientFor({ endpoint, api = inferApi(endpoint), apiKeyEnv }) {
  if (!APIS.includes(api)) throw new http.ModelError(`api must be one of ${APIS.join(', ')}, got ${JSON.stringify(api)}`)
  const id = `${api} ${endpoint} ${apiKeyEnv ?? ''}`
  let client = clients.get(id)
  if (!client) {
    client = api === 'openai' ? createOpenAIClient({ endpoint, apiKeyEnv }) : createOllamaClient({ endpoint })
    clients.set(id, client)
  }
  return client
}

module.exports = { APIS, inferApi, clientFor, ...http }
