'use strict'
// A client of Ollama's native API (`POST {endpoint}/api/generate`, `GET {endpoint}/api/tags`).
// Same interface as the OpenAI-compatible client: a prompt and an optional JSON Schema in,
// {text, usage, ttftMs, mode, tries} out. Ollama takes a JSON Schema as `format` (0.5 and
// later), `"json"` before that.

const { ModelError, joinUrl, requestWithRetry, statusError, parseJson, estimateTokens, lineSplitter, streamTiming } = require('./http')
const modes = require('./modes')

function formatFor(mode, schema) {
  if (mode === 'json_schema') return schema
  if (mode === 'json_object') return 'json'
  return undefined
}

/** Ollama's `/api/generate` answer, or its NDJSON stream folded into one. */
function readAnswer(what, text, contentType) {
  if (!/ndjson/i.test(contentType ?? '')) return parseJson(what, text)
  const out = { response: '' }
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    const part = parseJson(what, line)
    out.response += typeof part.response === 'string' ? part.response : ''
    if (part.done) Object.assign(out, { ...part, response: out.response })
  }
  return out
}

function createOllamaClient({ endpoint }) {
  const generateUrl = joinUrl(endpoint, 'api/generate')
  const tagsUrl = joinUrl(endpoint, 'api/tags')

  async function complete(request) {
    const { model, prompt, schema, temperature = 0, seed, maxTokens, timeouts, retry, signal, stream = false } = request
    const what = `model request to ${model}`
    let mode = schema ? modes.firstMode(endpoint) : 'text'
    for (;;) {
      const options = { temperature }
      if (seed !== undefined) options.seed = seed
      if (maxTokens !== undefined) options.num_predict = maxTokens
      const body = { model, prompt, stream, options }
      const format = schema ? formatFor(mode, schema) : undefined
      if (format !== undefined) body.format = format
      const chunkTimes = []
      const tokenTimes = []
      const split = lineSplitter((line, at) => {
        try {
          if (JSON.parse(line).response) tokenTimes.push(at)
        } catch {}
      })
      const onChunk = stream
        ? (chunk, at) => {
            chunkTimes.push(at)
            split(chunk, at)
          }
        : undefined
      const answer = await requestWithRetry(generateUrl, { method: 'POST', body: JSON.stringify(body), timeouts, retry, signal, what, onChunk })
      if (answer.status < 200 || answer.status >= 300) {
        const lower = modes.nextMode(mode)
        if (schema && lower && modes.refusesFormat(answer.status)) {
          mode = lower
          continue
        }
        throw statusError(what, answer)
      }
      const json = readAnswer(what, answer.text, answer.headers['content-type'])
      if (typeof json.response !== 'string') throw new ModelError(`${what}: the reply has no "response" string`)
      if (schema) modes.remember(endpoint, mode)
      const real = Number.isInteger(json.prompt_eval_count) && Number.isInteger(json.eval_count)
      const usage = real
        ? { promptTokens: json.prompt_eval_count, completionTokens: json.eval_count, estimated: false }
        : { promptTokens: estimateTokens(prompt), completionTokens: estimateTokens(json.response), estimated: true }
      // Ollama's durations are nanoseconds; loading the model and reading the prompt come
      // before the first token.
      const ttftNs = (json.load_duration ?? 0) + (json.prompt_eval_duration ?? 0)
      const ttftMs = Number.isFinite(ttftNs) && ttftNs > 0 ? ttftNs / 1e6 : undefined
      const out = { text: json.response, usage, ttftMs, mode, tries: answer.tries, retryWaitMs: answer.retryWaitMs }
      if (stream) {
        out.stream = streamTiming(tokenTimes, chunkTimes, answer.firstByteMs)
        // The server's own clock: generating `eval_count` tokens took `eval_duration` ns.
        const ms = (ns) => (Number.isFinite(ns) && ns > 0 ? ns / 1e6 : undefined)
        out.server = {
          evalCount: Number.isInteger(json.eval_count) ? json.eval_count : undefined,
          evalDurationMs: ms(json.eval_duration),
          promptEvalDurationMs: ms(json.prompt_eval_duration),
          loadDurationMs: ms(json.load_duration),
          totalDurationMs: ms(json.total_duration),
        }
      }
      return out
    }
  }

  async function listModels({ timeouts, signal } = {}) {
    const what = 'listing models'
    const answer = await requestWithRetry(tagsUrl, { timeouts, signal, what, retry: { tries: 1 } })
    if (answer.status !== 200) throw statusError(what, answer)
    const json = parseJson(what, answer.text)
    if (!Array.isArray(json?.models)) throw new ModelError(`${what}: the /api/tags reply has no "models" list`)
    return json.models.map((m) => m && (m.name ?? m.model)).filter((n) => typeof n === 'string')
  }

  return { api: 'ollama', endpoint, complete, listModels }
}

module.exports = { createOllamaClient }
