// A local stand-in for an Ollama-compatible model server (127.0.0.1, a free port), scriptable
// per test. It speaks `POST /api/generate` (non-streaming) and `GET /api/tags`.
//
//   const server = await startFakeModelServer({ models: ['qwen3:8b'] })
//   server.reply((body) => replies.fenced(goldPlan))   // answer every request like this
//   server.reply(replies.slow(2000, replies.json(plan)))
//   ...  server.requests  // every /api/generate body received, parsed
//   await server.waitForRequests(2)                    // an event, not a poll
//   await server.close()

import { EventEmitter } from 'node:events'
import http from 'node:http'

/** Reply builders: each returns `{status?, delayMs?, body}` for one request. */
export const replies = {
  /** The plan as bare JSON text in `response`. */
  json: (plan) => ({ body: { response: JSON.stringify(plan) } }),
  /** The plan wrapped in a ```json fence, as chatty models do. */
  fenced: (plan) => ({
    body: { response: `Here is the plan:\n\`\`\`json\n${JSON.stringify(plan, null, 2)}\n\`\`\`\n` },
  }),
  /** Any text in `response`. */
  text: (response) => ({ body: { response } }),
  /** Not JSON at all, in `response`. */
  garbage: () => ({ body: { response: '{"title": "fix", "dsl": [ {op: ensureExported' } }),
  /** An HTTP error. */
  status: (status, message = 'model error') => ({ status, body: { error: message } }),
  /** Another reply, sent after `delayMs`. */
  slow: (delayMs, reply) => ({ ...reply, delayMs }),
}

export async function startFakeModelServer({ models = ['fake-coder:7b'] } = {}) {
  let handler = () => replies.status(500, 'no reply scripted')
  const requests = []
  const sockets = new Set()
  const timers = new Set()
  const events = new EventEmitter()

  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const send = (status, body) => {
        if (res.destroyed) return
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(body))
      }
      if (req.method === 'GET' && req.url === '/api/tags') {
        return send(200, { models: models.map((name) => ({ name, model: name, size: 1, digest: 'sha256:0' })) })
      }
      if (req.method !== 'POST' || req.url !== '/api/generate') return send(404, { error: 'not found' })
      let body
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      } catch {
        return send(400, { error: 'invalid JSON body' })
      }
      requests.push(body)
      events.emit('request', requests.length)
      const reply = handler(body, requests.length) || replies.status(500, 'empty script')
      const payload = reply.status && reply.status !== 200 ? reply.body : { model: body.model, created_at: new Date().toISOString(), done: true, ...reply.body }
      if (reply.delayMs) {
        const timer = setTimeout(() => {
          timers.delete(timer)
          send(reply.status ?? 200, payload)
        }, reply.delayMs)
        timers.add(timer)
      } else {
        send(reply.status ?? 200, payload)
      }
    })
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    /** Sets how every following /api/generate request is answered: `fn(body, n) -> reply`. */
    /**
     * Resolves once `n` /api/generate requests have arrived (at once if they have); rejects
     * after `timeoutMs`, saying how many came.
     */
    waitForRequests(n, timeoutMs = 90000) {
      if (requests.length >= n) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const onRequest = (count) => {
          if (count < n) return
          clearTimeout(timer)
          events.off('request', onRequest)
          resolve()
        }
        const timer = setTimeout(() => {
          events.off('request', onRequest)
          reject(new Error(`waited ${timeoutMs} ms for ${n} model requests, got ${requests.length}`))
        }, timeoutMs)
        events.on('request', onRequest)
      })
    },
    reply(fnOrReply) {
      handler = typeof fnOrReply === 'function' ? fnOrReply : () => fnOrReply
    },
    async close() {
      for (const t of timers) clearTimeout(t)
      timers.clear()
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
