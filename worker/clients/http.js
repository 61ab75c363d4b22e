'use strict'
// The HTTP exchange the model clients share: one JSON POST or GET with a connect timeout, a
// first-byte timeout and a deadline for the whole answer, a bounded body, retries of 429 and 503
// (Retry-After honoured, else exponential backoff with jitter), and a bearer key read from an
// environment variable at the moment of the request. The key is never part of a message, a log
// line or a returned value: errors name the variable, never its content.
//
// Built on node:http rather than fetch: fetch has no separate connect and first-byte deadlines,
// and a keep-alive agent per origin makes a request cost a few tens of microseconds, not a new
// connection.

const http = require('node:http')
const https = require('node:https')

// A plan is a few hundred bytes; a reply past this is not one, and must not exhaust the worker.
const MAX_BODY_BYTES = 8 * 1024 * 1024
const DEFAULT_TIMEOUTS = { connectMs: 10000, firstByteMs: 60000, totalMs: 60000 }
const DEFAULT_RETRY = { tries: 4, baseMs: 250, maxDelayMs: 30000 }

class ModelError extends Error {
  constructor(message, { timeout = false, unavailable = timeout, aborted = false, status } = {}) {
    super(message)
    this.name = 'ModelError'
    this.timeout = timeout
    // Cancelled by the caller's AbortSignal, not failed.
    this.aborted = aborted
    // The server could not be reached, did not answer in time, was overloaded (429, 503 after
    // the retries) or failed (5xx): the fault is the model server's, not the plan's. Callers'
    // circuit breakers count these.
    this.unavailable = unavailable
    if (status !== undefined) this.status = status
  }
}

function checkEndpoint(endpoint) {
  let url
  try {
    url = new URL(endpoint)
  } catch {
    throw new ModelError(`endpoint must be an http(s) URL, got ${JSON.stringify(endpoint)}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ModelError(`endpoint must be an http(s) URL, got ${JSON.stringify(endpoint)}`)
  return url
}

/** `path` under the endpoint's own path (`http://h/v1` + `chat/completions`). */
function joinUrl(endpoint, path) {
  const base = checkEndpoint(endpoint)
  const prefix = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`
  return new URL(prefix + path.replace(/^\//, ''), base)
}

// Idle keep-alive sockets close after this long, so none outlives a quiet worker for long.
const IDLE_SOCKET_MS = 4000
const agents = new Map()
function agentFor(url) {
  let agent = agents.get(url.origin)
  if (!agent) {
    const Agent = url.protocol === 'https:' ? https.Agent : http.Agent
    agent = new Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS })
    agents.set(url.origin, agent)
  }
  return agent
}

/** Closes the idle connections of every origin (tests, and a worker that shuts down). */
function closeConnections() {
  for (const agent of agents.values()) agent.destroy()
  agents.clear()
}

/** The `Authorization` header from the variable named `apiKeyEnv`; {} without one. */
function authHeaders(apiKeyEnv) {
  if (apiKeyEnv === undefined) return {}
  const key = process.env[apiKeyEnv]
  if (typeof key !== 'string' || key === '') {
    throw new ModelError(`the API key variable ${apiKeyEnv} is not set in the environment of the benchmark`)
  }
  return { authorization: `Bearer ${key}` }
}

/**
 * One exchange. Resolves to {status, headers, text, firstByteMs}; rejects with ModelError on a
 * transport fault, a timeout (which one is said) or cancellation through `signal`.
 * `onChunk(text)` sees the body as it arrives (streamed answers).
 */
function exchange(url, { method = 'GET', body, headers = {}, timeouts, signal, what, onChunk }) {
  const t = { ...DEFAULT_TIMEOUTS, ...timeouts }
  const started = performance.now()
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new ModelError(`${what} was cancelled`, { aborted: true }))
    const lib = url.protocol === 'https:' ? https : http
    const payload = body === undefined ? undefined : Buffer.from(body)
    const req = lib.request(url, {
      method,
      agent: agentFor(url),
      headers: {
        accept: 'application/json',
        ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
        ...headers,
      },
    })
    let settled = false
    const timers = []
    const fail = (err) => {
      if (settled) return
      settled = true
      cleanup()
      req.destroy()
      reject(err)
    }
    const timer = (ms, make) => {
      const id = setTimeout(() => fail(make()), Math.max(1, ms))
      timers.push(id)
      return id
    }
    const onAbort = () => fail(new ModelError(`${what} was cancelled`, { aborted: true }))
    const cleanup = () => {
      for (const id of timers) clearTimeout(id)
      signal?.removeEventListener('abort', onAbort)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    // Retries spend the deadline: the message names the whole of it, not what was left.
    const whole = t.deadlineMs ?? t.totalMs
    timer(t.totalMs, () => new ModelError(`${what} timed out after ${whole} ms (the whole answer)`, { timeout: true }))
    const connectTimer = timer(
      t.connectMs,
      () => new ModelError(`${what} timed out: no connection to ${url.origin} within ${t.connectMs} ms`, { timeout: true }),
    )
    let firstByteTimer
    const connected = () => {
      clearTimeout(connectTimer)
      firstByteTimer = timer(
        t.firstByteMs,
        () => new ModelError(`${what} timed out: no answer from ${url.origin} within ${t.firstByteMs} ms of connecting`, { timeout: true }),
      )
    }
    req.on('socket', (socket) => {
      if (socket.connecting) socket.once('connect', connected)
      else connected()
    })
    req.on('error', (err) => {
      fail(new ModelError(`${what} failed: cannot reach ${url.origin} (${err.code || err.message})`, { unavailable: true }))
    })
    req.on('response', (res) => {
      clearTimeout(firstByteTimer)
      const firstByteMs = performance.now() - started
      const chunks = []
      let size = 0
      res.on('data', (chunk) => {
        size += chunk.length
        if (size > MAX_BODY_BYTES) return fail(new ModelError(`${what} failed: the reply is larger than ${MAX_BODY_BYTES} bytes`))
        chunks.push(chunk)
        if (onChunk) onChunk(chunk, performance.now() - started)
      })
      res.on('error', (err) => fail(new ModelError(`${what} failed: the answer broke off (${err.code || err.message})`, { unavailable: true })))
      res.on('end', () => {
        if (settled) return
        settled = true
        cleanup()
        resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8'), firstByteMs })
      })
    })
    req.end(payload)
  })
}

/** Milliseconds a `Retry-After` header asks for (seconds or an HTTP date); undefined if none. */
function retryAfterMs(value, now = Date.now()) {
  if (typeof value !== 'string' || value.trim() === '') return undefined
  if (/^\s*\d+(\.\d+)?\s*$/.test(value)) return Math.round(Number(value) * 1000)
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

/** Full-jitter exponential backoff: uniform in [0, min(max, base * 2^(try-1))]. */
function backoffMs(tryNumber, { baseMs, maxDelayMs }, random = Math.random) {
  return Math.round(random() * Math.min(maxDelayMs, baseMs * 2 ** (tryNumber - 1)))
}

const RETRIED = new Set([429, 503])

function sleep(ms, signal, what) {
  return new Promise((resolve, reject) => {
    const id = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(id)
      reject(new ModelError(`${what} was cancelled`, { aborted: true }))
    }
    if (signal?.aborted) return onAbort()
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * `exchange` with the retries of an overloaded server: 429 and 503 are tried again, up to
 * `retry.tries` tries in all, waiting what `Retry-After` asks (or a jittered backoff) as long
 * as that fits before `timeouts.totalMs` runs out. Resolves to the last answer with
 * `{..., tries, retryWaitMs}`; the caller judges its status.
 */
async function requestWithRetry(url, options) {
  const retry = { ...DEFAULT_RETRY, ...options.retry }
  const totalMs = { ...DEFAULT_TIMEOUTS, ...options.timeouts }.totalMs
  const deadline = performance.now() + totalMs
  let retryWaitMs = 0
  for (let tryNumber = 1; ; tryNumber++) {
    const left = deadline - performance.now()
    if (left <= 0) throw new ModelError(`${options.what} timed out after ${options.timeouts?.deadlineMs ?? totalMs} ms (the whole answer)`, { timeout: true })
    const answer = await exchange(url, { ...options, timeouts: { ...options.timeouts, totalMs: left, deadlineMs: options.timeouts?.deadlineMs ?? totalMs } })
    if (!RETRIED.has(answer.status) || tryNumber >= retry.tries) return { ...answer, tries: tryNumber, retryWaitMs }
    const asked = retryAfterMs(answer.headers['retry-after'])
    const wait = asked ?? backoffMs(tryNumber, retry)
    // A wait that cannot end before the deadline is not worth starting: the answer stands.
    if (wait > Math.min(retry.maxDelayMs, deadline - performance.now())) return { ...answer, tries: tryNumber, retryWaitMs }
    await sleep(wait, options.signal, options.what)
    retryWaitMs += wait
  }
}

/** A ModelError for an answer with a status that is not 2xx; 429 and 5xx are the server's fault. */
function statusError(what, answer) {
  const tries = answer.tries > 1 ? ` after ${answer.tries} tries` : ''
  return new ModelError(`${what}: the model server answered HTTP ${answer.status}${tries}: ${answer.text.slice(0, 200)}`, {
    unavailable: answer.status === 429 || answer.status >= 500,
    status: answer.status,
  })
}

function parseJson(what, text) {
  try {
    return JSON.parse(text)
  } catch {
    throw new ModelError(`${what}: the model server sent a body that is not JSON: ${text.slice(0, 200)}`)
  }
}

/**
 * An `onChunk` for `exchange` that cuts a streamed body (server-sent events, NDJSON) into lines
 * as they arrive and calls `onLine(line, atMs)` with each complete line and the arrival time of
 * the chunk that completed it (ms since the exchange started, monotonic).
 */
function lineSplitter(onLine) {
  let rest = ''
  return (chunk, at) => {
    const lines = (rest + chunk.toString('utf8')).split('\n')
    rest = lines.pop()
    for (const line of lines) if (line.trim()) onLine(line, at)
  }
}

/**
 * When the tokens of a streamed answer arrived, in ms since the request was sent (monotonic):
 * the first and last events that carried text, the end of the answer, and how many such events.
 */
function streamTiming(tokenTimes, chunkTimes, firstByteMs) {
  return {
    firstTokenMs: tokenTimes[0],
    lastTokenMs: tokenTimes[tokenTimes.length - 1],
    endMs: chunkTimes[chunkTimes.length - 1] ?? firstByteMs,
    tokenEvents: tokenTimes.length,
  }
}

/** A rough token count (4 characters a token) for servers that give none; marked as estimated. */
function estimateTokens(text) {
  return Math.ceil(String(text).length / 4)
}

module.exports = {
  ModelError,
  MAX_BODY_BYTES,
  checkEndpoint,
  joinUrl,
  authHeaders,
  exchange,
  requestWithRetry,
  retryAfterMs,
  backoffMs,
  statusError,
  parseJson,
  estimateTokens,
  lineSplitter,
  streamTiming,
  closeConnections,
}
