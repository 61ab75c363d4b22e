import test from 'ava'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'

import { startChatServer, goldPlanFor } from './helpers/fake-chat-server.mjs'

const require = createRequire(import.meta.url)
const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..')
const BIN = path.join(root, 'bin', 'promethean-bench.js')

const { generate, listModels, runJob, ModelError } = require('../worker/index.js')
const clients = require('../worker/clients/index.js')
const { retryAfterMs, backoffMs, closeConnections } = require('../worker/clients/http.js')
const { acquireSlot, dirFor, removeDirs } = require('../worker/clients/slots.js')
const { checkConfig } = require('../lib/provider/options.js')
const { EnhancedBuildFixProvider, BuildFixProvider } = require('../index.js')

// A key no file, message or log line may ever hold.
const KEY = 'sk-test-DO-NOT-WRITE-7f3a9c1e5b'
process.env.BENCH_TEST_KEY = KEY

const made = []
function tmpdir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promethean-clients-'))
  made.push(dir)
  return dir
}
const servers = []
async function server(options) {
  const s = await startChatServer(options)
  servers.push(s)
  return s
}
test.after.always(async () => {
  closeConnections()
  removeDirs()
  await Promise.all(servers.map((s) => s.close()))
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true })
})

const PROMPT = 'Target error: TS2345 in src/catalog.ts at line 9.\n--- src/util/label.ts\n...'

test("OpenAI: json_schema with the plan schema, the key from its variable, the server's token counts", async (t) => {
  const s = await server({ dialect: 'openai' })
  const answer = await generate({ endpoint: s.endpoint, apiKeyEnv: 'BENCH_TEST_KEY', model: 'm-a', prompt: PROMPT, seed: 7, maxTokens: 300 })
  t.deepEqual(JSON.parse(answer.text), goldPlanFor(PROMPT))
  t.is(answer.mode, 'json_schema')
  t.deepEqual(answer.usage, { promptTokens: 321, completionTokens: 45, estimated: false })
  const [req] = s.chats()
  t.is(req.url, '/v1/chat/completions')
  t.is(req.headers.authorization, `Bearer ${KEY}`)
  t.is(req.body.response_format.type, 'json_schema')
  t.deepEqual(req.body.response_format.json_schema.schema.required, ['title', 'rationale', 'dsl'])
  t.like(req.body, { model: 'm-a', temperature: 0, seed: 7, max_tokens: 300, stream: false })
})

test('vLLM refuses json_schema: json_object instead, once per endpoint and remembered', async (t) => {
  const s = await server({ dialect: 'vllm' })
  const first = await generate({ endpoint: s.endpoint, model: 'm-a', prompt: PROMPT })
  t.is(first.mode, 'json_object')
  t.deepEqual(
    s.chats().map((r) => r.body.response_format.type),
    ['json_schema', 'json_object'],
  )
  const second = await generate({ endpoint: s.endpoint, model: 'm-a', prompt: PROMPT })
  t.is(second.mode, 'json_object')
  t.is(s.chats().length, 3, 'the refused mode is not asked again')
})

test('llama.cpp refuses every response_format: plain text and the plan parser', async (t) => {
  const s = await server({ dialect: 'llamacpp' })
  const answer = await generate({ endpoint: s.endpoint, model: 'm-a', prompt: PROMPT })
  t.is(answer.mode, 'text')
  t.deepEqual(
    s.chats().map((r) => r.body.response_format?.type),
    ['json_schema', 'json_object', undefined],
  )
  t.deepEqual(JSON.parse(answer.text), goldPlanFor(PROMPT))
})

test("an endpoint ending in /v1 speaks the OpenAI API (Ollama's /v1 too); listModels reads /v1/models", async (t) => {
  const s = await server({ dialect: 'ollama', models: ['qwen3:8b'] })
  t.is(clients.inferApi(`${s.origin}/v1`), 'openai')
  t.is(clients.inferApi(s.origin), 'ollama')
  t.deepEqual(await listModels(`${s.origin}/v1`), ['qwen3:8b'])
  t.deepEqual(await listModels(s.origin), ['qwen3:8b'])
  const answer = await generate({ endpoint: `${s.origin}/v1`, model: 'qwen3:8b', prompt: PROMPT })
  t.is(answer.mode, 'json_schema')
  t.is(s.chats().at(-1).url, '/v1/chat/completions')
})

test('Ollama native: the schema as format, prompt_eval_count/eval_count, time to first token from its durations', async (t) => {
  const s = await server({ dialect: 'ollama' })
  const answer = await generate({ endpoint: s.endpoint, model: 'qwen3:8b', prompt: PROMPT, seed: 3 })
  t.deepEqual(answer.usage, { promptTokens: 100, completionTokens: 20, estimated: false })
  t.is(answer.ttftMs, 5)
  const [req] = s.chats()
  t.is(req.url, '/api/generate')
  t.is(req.body.format.type, 'object')
  t.deepEqual(req.body.options, { temperature: 0, seed: 3 })
})

test('a server without token counts: estimated, and marked so', async (t) => {
  const s = await server({ dialect: 'openai', usage: false })
  const answer = await generate({ endpoint: s.endpoint, model: 'm-a', prompt: PROMPT })
  t.true(answer.usage.estimated)
  t.is(answer.usage.promptTokens, Math.ceil(PROMPT.length / 4))
})

test('a stream nobody asked for is read whole, with its time to first token', async (t) => {
  const s = await server({ dialect: 'openai' })
  const plan = JSON.stringify(goldPlanFor(PROMPT))
  const events = [plan.slice(0, 20), plan.slice(20)].map((c) => `data: ${JSON.stringify({ choices: [{ delta: { content: c } }] })}\n\n`)
  events.push(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 9, completion_tokens: 8 } })}\n\ndata: [DONE]\n\n`)
  s.script(() => ({ raw: events.join(''), headers: { 'content-type': 'text/event-stream' } }))
  const answer = await generate({ endpoint: s.endpoint, model: 'm-a', prompt: PROMPT })
  t.is(answer.text, plan)
  t.deepEqual(answer.usage, { promptTokens: 9, completionTokens: 8, estimated: false })
  t.true(answer.ttftMs > 0)
})

test('Ollama streaming NDJSON although asked not to: folded into one answer with its counts', async (t) => {
  const s = await server({ dialect: 'ollama' })
  const plan = JSON.stringify(goldPlanFor(PROMPT))
  const lines = [plan.slice(0, 10), plan.slice(10)].map((response) => JSON.stringify({ model: 'm', response, done: false }))
  lines.push(JSON.stringify({ model: 'm', response: '', done: true, prompt_eval_count: 11, eval_count: 7 }))
  s.script(() => ({ raw: `${lines.join('\n')}\n`, headers: { 'content-type': 'application/x-ndjson' } }))
  const answer = await generate({ endpoint: s.endpoint, model: 'm', prompt: PROMPT })
  t.is(answer.text, plan)
  t.deepEqual(answer.usage, { promptTokens: 11, completionTokens: 7, estimated: false })
})

test('a 429 storm: Retry-After honoured, then the answer', async (t) => {
  const s = await server({ dialect: 'openai' })
  s.script((_body, n) => (n <= 3 ? { status: 429, headers: { 'retry-after': '0.05' }, body: { error: { message: 'Rate limit reached' } } } : undefined))
  const started = performance.now()
  const answer = await generate({ endpoint: s.endpoint, model: 'm-a', prompt: PROMPT, timeoutMs: 20000 })
  t.is(answer.tries, 4)
  t.is(answer.retryWaitMs, 150)
  t.true(performance.now() - started >= 150, 'each Retry-After was waited out')
})

test('a storm past the bounded tries: a ModelError the breaker counts, the key nowhere in it', async (t) => {
  const s = await server({ dialect: 'openai' })
  s.script(() => ({ status: 429, headers: { 'retry-after': '0' }, body: { error: { message: 'slow down' } } }))
  const err = await t.throwsAsync(generate({ endpoint: s.endpoint, apiKeyEnv: 'BENCH_TEST_KEY', model: 'm-a', prompt: PROMPT }), { instanceOf: ModelError })
  t.true(err.unavailable)
  t.is(err.status, 429)
  t.regex(err.message, /HTTP 429 after 4 tries/)
  t.false(err.message.includes(KEY))
  t.is(s.chats().length, 4)
})

test('Retry-After as seconds or a date; full-jitter backoff stays within its bound', (t) => {
  t.is(retryAfterMs('2'), 2000)
  t.is(retryAfterMs(new Date(10_000).toUTCString(), 4_000), 6000)
  t.is(retryAfterMs('soon'), undefined)
  t.is(retryAfterMs(undefined), undefined)
  const retry = { baseMs: 100, maxDelayMs: 1000 }
  t.is(
    backoffMs(3, retry, () => 0.999999),
    400,
  )
  t.is(
    backoffMs(10, retry, () => 1),
    1000,
  )
  t.is(
    backoffMs(1, retry, () => 0),
    0,
  )
})

test('timeouts: the first byte and the whole answer, each named', async (t) => {
  const s = await server({ dialect: 'openai' })
  s.script(() => ({ delayMs: 2000, status: 500 }))
  let err = await t.throwsAsync(generate({ endpoint: s.endpoint, model: 'm-a', prompt: PROMPT, timeoutMs: 200 }))
  t.true(err.timeout)
  s.script(() => ({ raw: '{"choices": [', headers: { 'content-type': 'application/json' }, stallMs: 2000 }))
  const client = clients.clientFor({ endpoint: s.endpoint })
  err = await t.throwsAsync(client.complete({ model: 'm-a', prompt: 'p', timeouts: { totalMs: 300, firstByteMs: 5000 } }))
  t.regex(err.message, /whole answer/)
})

test('per-endpoint request slots: never more in flight than the limit', async (t) => {
  const s = await server({ dialect: 'openai' })
  s.script(() => ({ delayMs: 30 }))
  const answers = await Promise.all(Array.from({ length: 8 }, () => generate({ endpoint: s.endpoint, model: 'm-a', prompt: PROMPT, maxConcurrentRequests: 2 })))
  t.is(answers.length, 8)
  t.is(s.maxInFlight, 2)
  t.deepEqual(fs.readdirSync(dirFor(s.endpoint)), [], 'every slot was given back')
})

test('the slot folders go when their process exits', async (t) => {
  const endpoint = 'http://127.0.0.1:9/slot-exit-test'
  const script = `require(${JSON.stringify(path.join(root, 'worker', 'clients', 'slots.js'))}).acquireSlot(${JSON.stringify(endpoint)}, 1).then((release) => { release(); console.log('done') })`
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  await new Promise((r) => child.on('exit', r))
  t.is(out.trim(), 'done')
  t.false(fs.existsSync(dirFor(endpoint)))
})

test('a slot left by a process that died is taken over', async (t) => {
  const endpoint = 'http://127.0.0.1:9/stale-slot-test'
  const dir = dirFor(endpoint)
  fs.mkdirSync(dir, { recursive: true })
  // A pid that is not running: a child that has exited.
  const child = spawn(process.execPath, ['-e', '0'])
  await new Promise((r) => child.on('exit', r))
  fs.writeFileSync(path.join(dir, 'slot-0'), String(child.pid))
  const release = await acquireSlot(endpoint, 1, { timeoutMs: 5000 })
  t.is(fs.readFileSync(path.join(dir, 'slot-0'), 'utf8'), String(process.pid))
  release()
  t.deepEqual(fs.readdirSync(dir), [])
})

test('a slot wait is bounded and cancellable', async (t) => {
  const endpoint = 'http://127.0.0.1:9/slot-wait-test'
  const release = await acquireSlot(endpoint, 1)
  try {
    const err = await t.throwsAsync(acquireSlot(endpoint, 1, { timeoutMs: 50 }))
    t.true(err.timeout)
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 20)
    t.true((await t.throwsAsync(acquireSlot(endpoint, 1, { timeoutMs: 60000, signal: ac.signal }))).aborted)
  } finally {
    release()
  }
})

test('bad server settings are refused with the field named, before anything starts', (t) => {
  const base = { name: 'p', type: 'buildfix', model: 'm' }
  t.throws(() => checkConfig({ ...base, endpoint: 'http://h/v1', api: 'grpc' }), {
    instanceOf: TypeError,
    message: /config\.api must be one of 'ollama', 'openai'/,
  })
  delete process.env.BENCH_TEST_UNSET_KEY
  t.throws(() => checkConfig({ ...base, endpoint: 'http://h/v1', apiKeyEnv: 'BENCH_TEST_UNSET_KEY' }), {
    instanceOf: TypeError,
    message: /config\.apiKeyEnv names BENCH_TEST_UNSET_KEY, which is not set/,
  })
  const err = t.throws(() => checkConfig({ ...base, endpoint: 'http://h/v1', apiKeyEnv: KEY }), {
    instanceOf: TypeError,
    message: /config\.apiKeyEnv must be the name of an environment variable/,
  })
  t.false(err.message.includes(KEY))
  t.throws(() => checkConfig({ ...base, endpoint: 'ftp://h/v1' }), { instanceOf: TypeError, message: /config\.endpoint must be an http\(s\) URL/ })
  t.like(checkConfig({ ...base, endpoint: 'http://h:8000/v1' }), { api: 'openai' })
  t.like(checkConfig({ ...base, endpoint: 'http://h:11434' }), { api: 'ollama' })
  t.throws(() => new EnhancedBuildFixProvider({ ...base, options: { maxConcurrentRequests: 0 } }), {
    instanceOf: RangeError,
    message: /options\.maxConcurrentRequests/,
  })
})

test('the engine: a job against an OpenAI-style server records the real tokens and the output mode', async (t) => {
  const s = await server({ dialect: 'vllm' })
  const dir = tmpdir()
  fs.cpSync(path.join(root, 'fixtures', 'small', 'argument-type'), dir, { recursive: true })
  const r = await runJob({ fixtureDir: dir, model: 'm-a', endpoint: s.endpoint, apiKeyEnv: 'BENCH_TEST_KEY', seed: 1 })
  t.true(r.success, r.errorMessage)
  t.like(r, { promptTokens: 321, completionTokens: 45, tokens: 366, tokensEstimated: false, outputMode: 'json_object' })
})

test('the provider: a 503 burst is infrastructure and opens the circuit breaker', async (t) => {
  const s = await server({ dialect: 'openai' })
  s.script(() => ({ status: 503, headers: { 'retry-after': '0' }, body: { error: { message: 'overloaded' } } }))
  const p = new EnhancedBuildFixProvider({
    name: 'p',
    type: 'buildfix',
    model: 'm-a',
    endpoint: s.endpoint,
    options: {
      cache: false,
      minWorkers: 1,
      maxWorkers: 1,
      workDir: tmpdir(),
      metricsDir: tmpdir(),
      circuitBreaker: { failureThreshold: 2, recoveryTimeout: 60000 },
    },
  })
  await p.connect()
  try {
    const request = { prompt: 'x', metadata: { fixtures: ['argument-type', 'missing-export'] } }
    // The breaker counts requests whose every job failed for the infrastructure.
    for (let i = 0; i < 2; i++) {
      const failed = await p.execute(request)
      t.true(failed.metadata.buildFixResults.every((r) => r.errorKind === 'model-unavailable'))
    }
    t.is(s.chats().length, 16, 'each fixture tried 4 times')
    t.is(p.getProcessPoolStatus().circuit, 'open')
    const refused = await p.execute(request)
    t.regex(refused.metadata.error, /circuit/i)
    t.is(s.chats().length, 16, 'an open breaker sends nothing')
  } finally {
    await p.disconnect()
  }
})

test("the process-per-request provider speaks the same APIs, with the server's token counts", async (t) => {
  const s = await server({ dialect: 'vllm' })
  const p = new BuildFixProvider({ name: 'b', type: 'buildfix', model: 'm-a', endpoint: s.endpoint, apiKeyEnv: 'BENCH_TEST_KEY' })
  await p.connect()
  try {
    const r = await p.execute({ prompt: 'x', metadata: { fixtures: ['argument-type'] } })
    t.like(r.metadata.buildFixResults[0], { success: true, outputMode: 'json_object', tokens: 366 })
    t.is(r.tokens, 366)
    t.false(r.metadata.tokensEstimated)
    t.true(s.chats().every((c) => c.headers.authorization === `Bearer ${KEY}`))
  } finally {
    await p.disconnect()
  }
})

function runBin(args, { cwd, env = {} }) {
  return new Promise((resolve, reject) => {
    const childEnv = { ...process.env, ...env }
    delete childEnv.PROMETHEAN_BENCH_TEST_RUNNER
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

function filesUnder(dir) {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath ?? e.path, e.name))
}

test('two models on two endpoints in one run; the key is in no file the run writes', async (t) => {
  const vllm = await server({ dialect: 'vllm' })
  const ollama = await server({ dialect: 'ollama' })
  const cwd = tmpdir()
  const { code, stdout, stderr } = await runBin(
    [
      'run',
      '--models',
      `qwen3:8b@${ollama.endpoint},llama-3.1-8b@${vllm.endpoint}`,
      '--fixtures',
      'argument-type,missing-export',
      '--api-key-env',
      'BENCH_TEST_KEY',
      '--max-concurrent-requests',
      '1',
      '--json',
      '--out',
      'out',
    ],
    { cwd, env: { BENCH_TEST_KEY: KEY } },
  )
  t.is(code, 0, stderr)
  const doc = JSON.parse(stdout)
  const saved = JSON.parse(fs.readFileSync(path.resolve(cwd, doc.files.json), 'utf8'))
  t.deepEqual(saved.results.map((r) => `${r.model} ${r.fixture} ${r.success}`).sort(), [
    'llama-3.1-8b argument-type true',
    'llama-3.1-8b missing-export true',
    'qwen3:8b argument-type true',
    'qwen3:8b missing-export true',
  ])
  t.true(saved.results.every((r) => r.tokensEstimated === false && r.tokens > 0))
  // Side by side: the per-model summary carries each server's counts and output modes.
  t.like(saved.summary.modelResults['llama-3.1-8b'], { promptTokens: 642, completionTokens: 90, tokensEstimated: false, outputModes: { json_object: 2 } })
  t.like(saved.summary.modelResults['qwen3:8b'], { promptTokens: 200, completionTokens: 40, outputModes: { json_schema: 2 } })
  t.deepEqual(saved.run.endpoints['qwen3:8b'], { endpoint: ollama.endpoint, api: 'ollama' })
  const markdown = fs.readFileSync(path.resolve(cwd, doc.files.markdown), 'utf8')
  t.true(markdown.includes(`| llama-3.1-8b | ${vllm.endpoint} | openai | 642 | 90 | json_object 2 |`), markdown)
  const html = fs.readFileSync(path.resolve(cwd, doc.files.html), 'utf8')
  t.regex(html, /<h2>Model servers<\/h2>.*json_schema 2/s)
  t.is(vllm.chats().filter((r) => r.url === '/v1/chat/completions').length, 3, 'one refused json_schema, then json_object')
  t.true(vllm.chats().every((r) => r.headers.authorization === `Bearer ${KEY}`))
  t.is(ollama.chats().length, 2)
  const written = filesUnder(cwd)
  t.true(written.length >= 3)
  for (const file of written) t.false(fs.readFileSync(file).includes(KEY), `${path.relative(cwd, file)} holds the key`)
  t.false(stdout.includes(KEY) || stderr.includes(KEY))
})

test('the CLI refuses bad model settings before anything starts, naming the flag or field', async (t) => {
  const cwd = tmpdir()
  const cases = [
    [['run', '--models', 'm@ftp://h/v1'], /--models: the endpoint of m must be an http:\/\/ or https:\/\/ URL/],
    [['run', '--models', 'm@http://127.0.0.1:9/v1', '--api', 'grpc'], /--api must be one of ollama, openai/],
    [
      ['run', '--models', 'm@http://127.0.0.1:9/v1', '--api-key-env', 'BENCH_TEST_UNSET_KEY'],
      /--models \(m\)\.apiKeyEnv names BENCH_TEST_UNSET_KEY, which is not set/,
    ],
  ]
  fs.writeFileSync(path.join(cwd, 'bad-api.json'), JSON.stringify({ models: [{ name: 'm', endpoint: 'http://127.0.0.1:9/v1', api: 'grpc' }] }))
  cases.push([['run', '--config', 'bad-api.json'], /bad-api\.json: models\[0\]\.api must be one of 'ollama', 'openai'/])
  fs.writeFileSync(path.join(cwd, 'bad-field.json'), JSON.stringify({ models: ['gold'], endpoints: [] }))
  cases.push([['run', '--config', 'bad-field.json'], /bad-field\.json: endpoints is not a setting/])
  fs.writeFileSync(path.join(cwd, 'bad-endpoint.json'), JSON.stringify({ models: [{ name: 'm', endpoint: 'file:///etc' }] }))
  cases.push([['run', '--config', 'bad-endpoint.json'], /models\[0\]\.endpoint must be an http:\/\/ or https:\/\/ URL/])
  for (const [args, message] of cases) {
    const { code, stderr } = await runBin(args, { cwd, env: { BENCH_TEST_UNSET_KEY: '' } })
    t.is(code, 2, args.join(' '))
    t.regex(stderr, message)
  }
  t.deepEqual(fs.readdirSync(cwd).sort(), ['bad-api.json', 'bad-endpoint.json', 'bad-field.json'], 'nothing was written')
})

test('a config file: models on their own endpoints, APIs and key variables', async (t) => {
  const a = await server({ dialect: 'llamacpp' })
  const cwd = tmpdir()
  fs.writeFileSync(
    path.join(cwd, 'promethean-bench.config.json'),
    JSON.stringify({
      models: [{ name: 'm-a', endpoint: a.endpoint, apiKeyEnv: 'BENCH_TEST_KEY', seed: 5 }, 'gold'],
      fixtures: 'argument-type',
      concurrency: 1,
    }),
  )
  const { code, stdout, stderr } = await runBin(['run', '--json', '--out', 'out', '--no-history'], { cwd, env: { BENCH_TEST_KEY: KEY } })
  t.is(code, 0, stderr)
  const doc = JSON.parse(stdout)
  const saved = JSON.parse(fs.readFileSync(path.resolve(cwd, doc.files.json), 'utf8'))
  t.deepEqual(
    saved.results.map((r) => `${r.model} ${r.success} ${r.outputMode ?? '-'}`),
    ['m-a true text', 'gold true -'],
  )
  t.is(a.chats().at(-1).body.seed, 5)
  for (const file of filesUnder(cwd)) t.false(fs.readFileSync(file).includes(KEY))
})
