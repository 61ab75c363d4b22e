'use strict'
// Where plans come from: an Ollama-compatible model server, or the two built-in models.
//
// The model name is data: it travels only inside the JSON body of an HTTP request, never into a
// command line or a shell.

const { formatDiagnostic } = require('./diagnostics')
const { planInstructions } = require('./plan')

const BUILTIN_MODELS = ['gold', 'none']
// A plan is a few hundred bytes; a reply past this is not one, and must not exhaust the worker.
const MAX_BODY_BYTES = 8 * 1024 * 1024

class ModelError extends Error {
  constructor(message, { timeout = false, unavailable = timeout, aborted = false } = {}) {
    super(message)
    this.name = 'ModelError'
    this.timeout = timeout
    // Cancelled by the caller's AbortSignal, not failed.
    this.aborted = aborted
    // The server could not be reached, did not answer in time, or failed (5xx): the fault is the
    // model server's, not the plan's. Callers' circuit breakers count these.
    this.unavailable = unavailable
  }
}

function checkEndpoint(endpoint) {
  let url
  try {
    url = new URL(endpoint)
  } catch {
    throw new ModelError(`endpoint must be an http(s) URL, got ${JSON.stringify(endpoint)}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ModelError(`endpoint must be an http(s) URL, got ${JSON.stringify(endpoint)}`)
  return url
}

/**
 * `fetch` under a deadline, also cancelled by `signal` (the job's: aborted when the worker's
 * owner is gone). Rejects with ModelError; `aborted: true` when `signal` cancelled it.
 */
async function fetchWithTimeout(url, init, timeoutMs, what, signal) {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeoutMs)
  timer.unref?.()
  const cancel = () => controller.abort()
  if (signal) {
    if (signal.aborted) cancel()
    else signal.addEventListener('abort', cancel, { once: true })
  }
  try {
    const res = await fetch(url, { ...init, signal: controller.signal })
    // The body is read under the same deadline, and only up to MAX_BODY_BYTES.
    const chunks = []
    let size = 0
    for await (const chunk of res.body ?? []) {
      size += chunk.length
      if (size > MAX_BODY_BYTES) {
        controller.abort()
        throw new ModelError(`${what} failed: the reply is larger than ${MAX_BODY_BYTES} bytes`)
      }
      chunks.push(chunk)
    }
    return { res, text: Buffer.concat(chunks).toString('utf8') }
  } catch (err) {
    if (err instanceof ModelError) throw err
    if (signal?.aborted) throw new ModelError(`${what} was cancelled`, { aborted: true })
    if (controller.signal.aborted) throw new ModelError(`${what} timed out after ${timeoutMs} ms`, { timeout: true })
    const cause = err.cause?.code || err.cause?.message || err.message
    throw new ModelError(`${what} failed: cannot reach ${url.origin} (${cause})`, { unavailable: true })
  } finally {
    clearTimeout(timer)
    signal?.removeEventListener('abort', cancel)
  }
}

/**
 * Asks `model` at `endpoint` for a completion of `prompt`. Resolves to the raw response text
 * (the plan JSON, possibly fenced); rejects with ModelError on HTTP errors or timeout.
 */
async function generate({ endpoint, model, prompt, temperature = 0, maxTokens, timeoutMs = 60000, signal }) {
  const url = new URL('/api/generate', checkEndpoint(endpoint))
  const options = { temperature }
  if (maxTokens !== undefined) options.num_predict = maxTokens
  const body = JSON.stringify({ model, prompt, stream: false, options, format: 'json' })
  const { res, text } = await fetchWithTimeout(
    url,
    { method: 'POST', headers: { 'content-type': 'application/json' }, body },
    timeoutMs,
    `model request to ${model}`,
    signal,
  )
  if (!res.ok) {
    throw new ModelError(`model server answered HTTP ${res.status}: ${text.slice(0, 200)}`, { unavailable: res.status >= 500 })
  }
  let json
  try {
    json = JSON.parse(text)
  } catch {
    throw new ModelError(`model server sent a body that is not JSON: ${text.slice(0, 200)}`)
  }
  if (typeof json.response !== 'string') throw new ModelError('model server reply has no "response" string')
  return json.response
}

/** Names of the models the server offers (`GET /api/tags`). */
async function listModels(endpoint, { timeoutMs = 5000 } = {}) {
  const url = new URL('/api/tags', checkEndpoint(endpoint))
  const { res, text } = await fetchWithTimeout(url, { method: 'GET' }, timeoutMs, 'listing models')
  if (!res.ok) throw new ModelError(`model server answered HTTP ${res.status} to /api/tags`)
  let json
  try {
    json = JSON.parse(text)
  } catch {
    throw new ModelError('model server sent /api/tags a body that is not JSON')
  }
  if (!Array.isArray(json.models)) throw new ModelError('model server /api/tags reply has no "models" list')
  return json.models.map((m) => m && (m.name ?? m.model)).filter((n) => typeof n === 'string')
}

// The operation list is generated from the plan format's own table (worker/plan.js).
const PLAN_INSTRUCTIONS = planInstructions()

/**
 * The prompt for a plan: the caller's task text, the diagnostics, every fixture file, the plan
 * format, and (on a retry) why the previous attempt failed.
 */
function buildPrompt({ task, target, diagnostics, files, previousError }) {
  const parts = []
  parts.push(task && task.trim() ? task.trim() : 'Fix the TypeScript compile error in this project.')
  parts.push(`\nTarget error: TS${target.code} in ${target.file} at line ${target.line}.`)
  parts.push(
    `\nCompiler diagnostics (${diagnostics.length}):\n${diagnostics.map(formatDiagnostic).join('\n') || '(none)'}`,
  )
  for (const [file, text] of files) parts.push(`\n--- ${file}\n${text}`)
  if (previousError) parts.push(`\nA previous plan failed: ${previousError}\nPropose a different plan.`)
  parts.push(`\n${PLAN_INSTRUCTIONS}`)
  return parts.join('\n')
}

module.exports = { BUILTIN_MODELS, ModelError, generate, listModels, buildPrompt, PLAN_INSTRUCTIONS }
