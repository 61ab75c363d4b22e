'use strict'
// Where plans come from: a model server (Ollama's API or an OpenAI-compatible one, through the
// clients of ./clients), or the two built-in models.
//
// The model name is data: it travels only inside the JSON body of an HTTP request, never into a
// command line or a shell.

const { formatDiagnostic } = require('./diagnostics')
const { planInstructions, planSchema } = require('./plan')
const { ModelError, checkEndpoint, clientFor } = require('./clients')
const { acquireSlot } = require('./clients/slots')

const BUILTIN_MODELS = ['gold', 'none']

const PLAN_SCHEMA = planSchema()

/**
 * Asks `model` at `endpoint` for a plan for `prompt`, in the API the endpoint speaks (`api`,
 * inferred from the endpoint when absent), with the plan's JSON Schema as the output format
 * where the server takes one. At most `maxConcurrentRequests` requests are in flight per
 * endpoint across the workers. Resolves to the client's answer
 * ({text, usage, ttftMs, mode, tries, retryWaitMs}); rejects with ModelError.
 */
async function generate({
  endpoint,
  api,
  apiKeyEnv,
  model,
  prompt,
  temperature = 0,
  seed,
  maxTokens,
  timeoutMs = 60000,
  connectTimeoutMs,
  maxConcurrentRequests,
  signal,
}) {
  checkEndpoint(endpoint)
  const client = clientFor({ endpoint, api, apiKeyEnv })
  const started = performance.now()
  const release = maxConcurrentRequests
    ? await acquireSlot(endpoint, maxConcurrentRequests, { timeoutMs, signal, what: `model request to ${model}` })
    : undefined
  try {
    // The wait for a slot is part of the attempt's time; the messages name the attempt's limit.
    const left = release ? Math.max(1, timeoutMs - (performance.now() - started)) : timeoutMs
    const timeouts = { totalMs: left, deadlineMs: timeoutMs, firstByteMs: left, ...(connectTimeoutMs ? { connectMs: connectTimeoutMs } : {}) }
    return await client.complete({ model, prompt, schema: PLAN_SCHEMA, temperature, seed, maxTokens, timeouts, signal })
  } finally {
    release?.()
  }
}

/** Names of the models the server offers (`GET /api/tags`, or `/models` of an OpenAI-style API). */
async function listModels(endpoint, { api, apiKeyEnv, timeoutMs = 5000 } = {}) {
  checkEndpoint(endpoint)
  return clientFor({ endpoint, api, apiKeyEnv }).listModels({ timeouts: { totalMs: timeoutMs, firstByteMs: timeoutMs } })
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
  parts.push(`\nCompiler diagnostics (${diagnostics.length}):\n${diagnostics.map(formatDiagnostic).join('\n') || '(none)'}`)
  for (const [file, text] of files) parts.push(`\n--- ${file}\n${text}`)
  if (previousError) parts.push(`\nA previous plan failed: ${previousError}\nPropose a different plan.`)
  parts.push(`\n${PLAN_INSTRUCTIONS}`)
  return parts.join('\n')
}

module.exports = { BUILTIN_MODELS, ModelError, generate, listModels, buildPrompt, PLAN_INSTRUCTIONS }
