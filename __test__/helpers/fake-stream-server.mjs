// A local model server (127.0.0.1, a free port) that streams its answer token by token with
// known delays, in Ollama's (/api/generate, NDJSON) or the OpenAI-compatible (/v1/chat/completions,
// server-sent events) protocol, so that measured times can be checked against what it did.
//
//   const s = await startStreamServer({ protocol: 'openai', tokens: ['a', 'b'], firstDelayMs: 80, tokenDelayMs: 40 })
//   s.endpoint   // http://127.0.0.1:PORT/v1 (openai) or http://127.0.0.1:PORT (ollama)
//   s.sent       // [{firstTokenAt, lastTokenAt, receivedAt}] per answered request (performance.now)
//   s.requests   // request bodies
//   options: usage (false: no counts), onHeaders (sees each request's headers), stallAfter (tokens sent, then silence), fail ([status, ...]
//   answered in turn before streaming), models, evalDurationMs (Ollama's own figure)
//   await s.close()

import http from 'node:http'

export async function startStreamServer({
  protocol,
  tokens = ['Hello', ' there', ',', ' friend', '.'],
  firstDelayMs = 50,
  tokenDelayMs = 30,
  usage = true,
  stallAfter,
  fail = [],
  models = ['m-1', 'm-2'],
  evalDurationMs,
  promptTokens = 12,
  onHeaders,
} = {}) {
  const sent = []
  const requests = []
  const failures = [...fail]
  const sockets = new Set()
  // Pending delays end with the server, so no timer outlives it.
  const timers = new Set()
  const sleep = (ms) =>
    new Promise((resolve) => {
      const id = setTimeout(() => {
        timers.delete(id)
        resolve()
      }, ms)
      timers.add(id)
    })
  const server = http.createServer(async (req, res) => {
    let raw = ''
    for await (const chunk of req) raw += chunk
    onHeaders?.(req.headers)
    if (req.method === 'GET') {
      const body = protocol === 'ollama' ? { models: models.map((name) => ({ name })) } : { object: 'list', data: models.map((id) => ({ id })) }
      res.writeHead(200, { 'content-type': 'application/json' })
      return res.end(JSON.stringify(body))
    }
    const body = JSON.parse(raw)
    requests.push(body)
    const status = failures.shift()
    if (status) {
      res.writeHead(status, { 'content-type': 'application/json', ...(status === 429 ? { 'retry-after': '0' } : {}) })
      return res.end(JSON.stringify({ error: { message: `fake ${status}` } }))
    }
    const record = { receivedAt: performance.now() }
    sent.push(record)
    const ollama = protocol === 'ollama'
    res.writeHead(200, { 'content-type': ollama ? 'application/x-ndjson' : 'text/event-stream' })
    const line = (event) => res.write(ollama ? `${JSON.stringify(event)}\n` : `data: ${JSON.stringify(event)}\n\n`)
    await sleep(firstDelayMs)
    for (let i = 0; i < tokens.length; i++) {
      if (i > 0) await sleep(tokenDelayMs)
      if (stallAfter !== undefined && i >= stallAfter) return // silence: the client's deadline ends it
      if (res.destroyed) return
      const at = performance.now()
      if (i === 0) record.firstTokenAt = at
      record.lastTokenAt = at
      line(ollama ? { model: body.model, response: tokens[i], done: false } : { choices: [{ index: 0, delta: { content: tokens[i] } }] })
    }
    if (ollama) {
      const done = { model: body.model, response: '', done: true }
      if (usage) {
        Object.assign(done, {
          prompt_eval_count: promptTokens,
          eval_count: tokens.length,
          eval_duration: Math.round((evalDurationMs ?? record.lastTokenAt - record.firstTokenAt) * 1e6),
          prompt_eval_duration: 1e6,
          total_duration: Math.round((performance.now() - record.receivedAt) * 1e6),
        })
      }
      line(done)
    } else {
      line({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })
      if (usage && body.stream_options?.include_usage) {
        line({ choices: [], usage: { prompt_tokens: promptTokens, completion_tokens: tokens.length, total_tokens: promptTokens + tokens.length } })
      }
      res.write('data: [DONE]\n\n')
    }
    res.end()
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${server.address().port}`
  return {
    endpoint: protocol === 'ollama' ? base : `${base}/v1`,
    sent,
    requests,
    close: () =>
      new Promise((resolve) => {
        for (const id of timers) clearTimeout(id)
        for (const s of sockets) s.destroy()
        server.close(resolve)
      }),
  }
}
