// Local stand-ins (127.0.0.1, a free port) for the model servers people run, each in its own
// dialect of the OpenAI-compatible API, plus Ollama's native one. By default every server
// answers a BuildFix prompt with the gold plan of the bundled fixture the prompt is about.
//
//   const s = await startChatServer({ dialect: 'vllm' })     // openai | vllm | llamacpp | ollama
//   s.endpoint                                                // http://127.0.0.1:PORT/v1 (or /)
//   s.script((body, n) => ({status: 429, headers: {'retry-after': '0'}}))   // override replies
//   s.requests  // [{url, headers, body}]; s.inFlight / s.maxInFlight
//   await s.close()
//
// What each dialect does with `response_format` (from the servers' own error bodies):
//   openai    accepts json_schema and json_object
//   vllm      400 {"object":"error","message":...,"type":"BadRequestError","code":400} for
//             json_schema (as a vLLM build without guided decoding), accepts json_object
//   llamacpp  400 {"error":{"code":400,"message":...,"type":"invalid_request_error"}} for any
//   ollama    Ollama's /v1 (accepts both) and /api/generate, /api/tags

import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const SMALL = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'small')
const FIXTURES = fs.readdirSync(SMALL).map((name) => JSON.parse(fs.readFileSync(path.join(SMALL, name, 'fixture.json'), 'utf8')))

/** The gold plan of the fixture a BuildFix prompt is about (by its target line). */
export function goldPlanFor(prompt) {
  const m = /Target error: TS(\d+) in (\S+) at line (\d+)\./.exec(prompt)
  const candidates = m ? FIXTURES.filter((f) => String(f.target.code) === m[1] && f.target.file === m[2] && String(f.target.line) === m[3]) : []
  const fixture = candidates.find((f) => f.goldPlan.dsl.every((op) => prompt.includes(`--- ${op.file}`))) ?? candidates[0]
  return fixture ? fixture.goldPlan : { title: 'nothing', rationale: 'unknown prompt', dsl: [] }
}

function promptOf(body) {
  if (typeof body.prompt === 'string') return body.prompt
  return (body.messages ?? []).map((m) => m.content).join('\n')
}

const REFUSALS = {
  vllm: (format) =>
    format?.type === 'json_schema'
      ? {
          status: 400,
          body: {
            object: 'error',
            message: "[{'type': 'value_error', 'msg': 'guided decoding backend does not support json_schema'}]",
            type: 'BadRequestError',
            param: null,
            code: 400,
          },
        }
      : undefined,
  llamacpp: (format) =>
    format ? { status: 400, body: { error: { code: 400, message: 'Unsupported response_format type', type: 'invalid_request_error' } } } : undefined,
  openai: () => undefined,
  ollama: () => undefined,
}

export async function startChatServer({ dialect = 'openai', models = ['m-a', 'm-b'], usage = true } = {}) {
  const requests = []
  const sockets = new Set()
  let script = null
  const state = { inFlight: 0, maxInFlight: 0 }
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', async () => {
      state.inFlight++
      state.maxInFlight = Math.max(state.maxInFlight, state.inFlight)
      const done = () => state.inFlight--
      res.on('close', done)
      const send = (status, body, headers = {}) => {
        if (res.destroyed) return
        res.writeHead(status, { 'content-type': 'application/json', ...headers })
        res.end(typeof body === 'string' ? body : JSON.stringify(body))
      }
      const text = Buffer.concat(chunks).toString('utf8')
      const body = text ? JSON.parse(text) : undefined
      requests.push({ method: req.method, url: req.url, headers: req.headers, body })
      if (req.method === 'GET' && (req.url === '/v1/models' || req.url === '/models')) {
        return send(200, { object: 'list', data: models.map((id) => ({ id, object: 'model', owned_by: dialect })) })
      }
      if (req.method === 'GET' && req.url === '/api/tags') return send(200, { models: models.map((name) => ({ name, model: name })) })
      const scripted = script?.(body, requests.length, req)
      if (scripted) {
        if (scripted.delayMs) await new Promise((r) => setTimeout(r, scripted.delayMs))
        if (scripted.raw !== undefined) {
          if (res.destroyed) return
          res.writeHead(scripted.status ?? 200, scripted.headers ?? {})
          if (scripted.stallMs) {
            res.write(scripted.raw)
            await new Promise((r) => setTimeout(r, scripted.stallMs))
            return res.end()
          }
          return res.end(scripted.raw)
        }
        if (scripted.status && scripted.status !== 200) return send(scripted.status, scripted.body ?? { error: 'scripted' }, scripted.headers)
      }
      const plan = JSON.stringify(scripted?.plan ?? goldPlanFor(promptOf(body ?? {})))
      if (req.url === '/api/generate') {
        const counts = usage ? { prompt_eval_count: 100, eval_count: 20, load_duration: 1_000_000, prompt_eval_duration: 4_000_000 } : {}
        return send(200, { model: body.model, response: plan, done: true, ...counts })
      }
      if (req.url !== '/v1/chat/completions') return send(404, { error: 'not found' })
      const refusal = REFUSALS[dialect](body.response_format)
      if (refusal) return send(refusal.status, refusal.body)
      send(200, {
        id: 'chatcmpl-1',
        object: 'chat.completion',
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: plan }, finish_reason: 'stop' }],
        ...(usage ? { usage: { prompt_tokens: 321, completion_tokens: 45, total_tokens: 366 } } : {}),
      })
    })
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${server.address().port}`
  return {
    origin,
    endpoint: dialect === 'ollama' ? origin : `${origin}/v1`,
    requests,
    get inFlight() {
      return state.inFlight
    },
    get maxInFlight() {
      return state.maxInFlight
    },
    chats: () => requests.filter((r) => r.method === 'POST'),
    script(fn) {
      script = fn
    },
    close() {
      for (const s of sockets) s.destroy()
      return new Promise((resolve) => server.close(resolve))
    },
  }
}
