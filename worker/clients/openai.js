'use strict'
// A client of the OpenAI-compatible chat API (`POST {endpoint}/chat/completions`,
// `GET {endpoint}/models`), as vLLM, llama.cpp's llama-server, LM Studio, SGLang, Ollama's /v1
// and hosted services speak it. Knows nothing of BuildFix: a prompt and an optional JSON Schema
// in, {text, usage, ttftMs, mode, tries} out.

const { ModelError, joinUrl, authHeaders, requestWithRetry, statusError, parseJson, estimateTokens, lineSplitter, streamTiming } = require('./http')
const modes = require('./modes')

function responseFormat(mode, schema) {
  if (mode === 'json_schema') return { type: 'json_schema', json_schema: { name: 'plan', strict: false, schema } }
  if (mode === 'json_object') return { type: 'json_object' }
  return undefined
}

/** Text, usage and time to first token of a server-sent-events answer (a stream not asked for). */
function readStream(text, chunkTimes) {
  let out = ''
  let usage
  for (const line of text.split('\n')) {
    const m = /^data:\s?(.*)$/.exec(line.trim())
    if (!m || m[1] === '[DONE]') continue
    let event
    try {
      event = JSON.parse(m[1])
    } catch {
      throw new ModelError('the model server streamed an event that is not JSON although no stream was asked for')
    }
    const choice = event.choices?.[0]
    out += choice?.delta?.content ?? choice?.message?.content ?? choice?.text ?? ''
    if (event.usage) usage = event.usage
  }
  return { text: out, usage, ttftMs: chunkTimes[0] }
}

function usageOf(usage, prompt, text) {
  if (usage && Number.isInteger(usage.prompt_tokens) && Number.isInteger(usage.completion_tokens)) {
    return { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens, estimated: false }
  }
  return { promptTokens: estimateTokens(prompt), completionTokens: estimateTokens(text), estimated: true }
}

/**
 * `apiKey` (the key itself) is for callers that were handed one in code, as the original
 * package's OpenAIProvider was; it is kept in this closure only and sent only as the bearer.
 */
function createOpenAIClient({ endpoint, apiKeyEnv, apiKey }) {
  const auth = () => (typeof apiKey === 'string' && apiKey !== '' ? { authorization: `Bearer ${apiKey}` } : authHeaders(apiKeyEnv))
  const chatUrl = joinUrl(endpoint, 'chat/completions')
  const modelsUrl = joinUrl(endpoint, 'models')

  async function once(mode, { model, prompt, schema, temperature = 0, seed, maxTokens, timeouts, retry, signal, stream = false }) {
    const what = `model request to ${model}`
    const body = { model, messages: [{ role: 'user', content: prompt }], temperature, stream }
    // The server's own token counts in the stream's last event.
    if (stream) body.stream_options = { include_usage: true }
    if (seed !== undefined) body.seed = seed
    if (maxTokens !== undefined) body.max_tokens = maxTokens
    const format = schema ? responseFormat(mode, schema) : undefined
    if (format) body.response_format = format
    const chunkTimes = []
    const tokenTimes = []
    const onLine = (line, at) => {
      const m = /^data:\s?(.*)$/.exec(line.trim())
      if (!m || m[1] === '[DONE]') return
      try {
        const choice = JSON.parse(m[1]).choices?.[0]
        if (choice?.delta?.content || choice?.text) tokenTimes.push(at)
      } catch {}
    }
    const split = stream ? lineSplitter(onLine) : undefined
    const answer = await requestWithRetry(chatUrl, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: auth(),
      timeouts,
      retry,
      signal,
      what,
      onChunk: (chunk, at) => {
        chunkTimes.push(at)
        split?.(chunk, at)
      },
    })
    return { answer, chunkTimes, tokenTimes, what }
  }

  /** One completion of `prompt`, in the strictest output mode the endpoint accepts. */
  async function complete(request) {
    let mode = request.schema ? modes.firstMode(endpoint) : 'text'
    for (;;) {
      const { answer, chunkTimes, tokenTimes, what } = await once(mode, request)
      if (answer.status < 200 || answer.status >= 300) {
        const lower = modes.nextMode(mode)
        if (request.schema && lower && modes.refusesFormat(answer.status)) {
          mode = lower
          continue
        }
        throw statusError(what, answer)
      }
      let text
      let usage
      let ttftMs
      if (/text\/event-stream/i.test(answer.headers['content-type'] ?? '')) {
        ;({ text, usage, ttftMs } = readStream(answer.text, chunkTimes))
      } else {
        const json = parseJson(what, answer.text)
        const content = json?.choices?.[0]?.message?.content
        if (typeof content !== 'string') throw new ModelError(`${what}: the reply has no choices[0].message.content string`)
        text = content
        usage = json.usage
      }
      if (request.schema) modes.remember(endpoint, mode)
      const out = { text, usage: usageOf(usage, request.prompt, text), ttftMs, mode, tries: answer.tries, retryWaitMs: answer.retryWaitMs }
      if (request.stream) out.stream = streamTiming(tokenTimes, chunkTimes, answer.firstByteMs)
      return out
    }
  }

  /** Ids of the models the server offers (`GET {endpoint}/models`). */
  async function listModels({ timeouts, signal } = {}) {
    const what = 'listing models'
    const answer = await requestWithRetry(modelsUrl, { headers: auth(), timeouts, signal, what, retry: { tries: 1 } })
    if (answer.status !== 200) throw statusError(what, answer)
    const json = parseJson(what, answer.text)
    if (!Array.isArray(json?.data)) throw new ModelError(`${what}: the /models reply has no "data" list`)
    return json.data.map((m) => m && m.id).filter((id) => typeof id === 'string')
  }

  return { api: 'openai', endpoint, complete, listModels }
}

module.exports = { createOpenAIClient }
