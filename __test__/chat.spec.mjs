import { createRequire } from 'node:module'
import test from 'ava'
import * as esm from '../index.mjs'
import { startStreamServer } from './helpers/fake-stream-server.mjs'

const require = createRequire(import.meta.url)
const {
  OllamaProvider,
  VLLMProvider,
  OpenAIProvider,
  createProvider,
  getSupportedProviders,
  BenchmarkRunner,
  MetricsCalculator,
  BaseProvider,
} = require('../index.js')
const { closeConnections } = require('../worker/clients/http.js')

const servers = []
async function server(options) {
  const s = await startStreamServer(options)
  servers.push(s)
  return s
}
test.after.always(async () => {
  closeConnections()
  await Promise.all(servers.map((s) => s.close()))
})

const TOKENS = ['The', ' answer', ' is', ' forty', '-two']

test('the root exports the chat providers, createProvider and BenchmarkRunner (CJS and ESM alike)', (t) => {
  const fromEsm = { ...esm }
  for (const name of ['OllamaProvider', 'VLLMProvider', 'OpenAIProvider', 'createProvider', 'getSupportedProviders', 'BenchmarkRunner']) {
    t.is(typeof fromEsm[name], 'function', name)
    t.is(fromEsm[name], require('../index.js')[name], name)
  }
  t.deepEqual(getSupportedProviders(), ['ollama', 'vllm', 'openai'])
  t.true(new OllamaProvider({ name: 'o', model: 'm' }) instanceof BaseProvider)
})

test("createProvider picks the class by type and refuses an unknown one with the original's message", (t) => {
  t.true(createProvider({ name: 'a', type: 'ollama', model: 'm' }) instanceof OllamaProvider)
  t.true(createProvider({ name: 'b', type: 'vllm', model: 'm' }) instanceof VLLMProvider)
  t.true(createProvider({ name: 'c', type: 'openai', model: 'm', endpoint: 'http://127.0.0.1:9/v1' }) instanceof OpenAIProvider)
  t.throws(() => createProvider({ name: 'x', type: 'anthropic', model: 'm' }), { message: 'Unsupported provider type: anthropic' })
  t.throws(() => createProvider({ name: 'x', type: 'toString', model: 'm' }), { message: 'Unsupported provider type: toString' })
  t.throws(() => createProvider(null), { instanceOf: TypeError, message: /config/ })
  const vllm = new VLLMProvider({ name: 'v', model: 'm' })
  t.is(vllm.getType(), 'vllm')
  t.is(vllm.getConfig().endpoint, 'http://localhost:8000/v1')
  t.is(new OllamaProvider({ name: 'o', model: 'm' }).getConfig().endpoint, 'http://localhost:11434')
})

test('bad input: clear TypeErrors naming the argument, no request sent', async (t) => {
  const s = await server({ protocol: 'openai' })
  const p = new OpenAIProvider({ name: 'o', model: 'm', endpoint: s.endpoint })
  await t.throwsAsync(p.execute({ prompt: 5 }), { instanceOf: TypeError, message: /request\.prompt/ })
  await t.throwsAsync(p.execute(null), { instanceOf: TypeError, message: /request/ })
  await t.throwsAsync(p.execute({ prompt: 'x', maxTokens: 0 }), { instanceOf: TypeError, message: /request\.maxTokens/ })
  await t.throwsAsync(p.execute({ prompt: 'x', temperature: Number.NaN }), { instanceOf: TypeError, message: /request\.temperature/ })
  t.throws(() => new OllamaProvider({ name: 'o', model: 'm', options: { timeout: -1 } }), { instanceOf: TypeError, message: /config\.options\.timeout/ })
  t.throws(() => new OllamaProvider({ name: 'o', model: '' }), { instanceOf: TypeError, message: /config\.model/ })
  t.is(s.requests.length, 0)
})

test.serial("OpenAI-compatible: streamed, TTFT is the first token's arrival, tokens are the server's, tps from the stream's timestamps", async (t) => {
  const s = await server({ protocol: 'openai', tokens: TOKENS, firstDelayMs: 150, tokenDelayMs: 60 })
  const p = new OpenAIProvider({ name: 'gpt', model: 'm-1', endpoint: s.endpoint })
  const t0 = performance.now()
  const r = await p.execute({ prompt: 'What is the answer?', maxTokens: 20, temperature: 0 })
  const [sent] = s.sent
  t.is(r.content, TOKENS.join(''))
  t.is(r.tokens, 5)
  t.like(r.metadata, { promptTokens: 12, completionTokens: 5, totalTokens: 17, tokensEstimated: false, tries: 1 })
  t.deepEqual(r.metadata.sources, { tokens: 'server', timeToFirstToken: 'stream', tokensPerSecond: 'stream-timestamps', clock: 'monotonic' })
  // The server waited 150 ms before the first token; the client saw it no earlier, and within a
  // few ms of when the server sent it (same process, same clock).
  const serverFirst = sent.firstTokenAt - t0
  t.true(r.metadata.timeToFirstToken >= 150, `${r.metadata.timeToFirstToken}`)
  t.true(r.metadata.timeToFirstToken <= serverFirst + 50, `${r.metadata.timeToFirstToken} vs ${serverFirst}`)
  // Not the total time: four more tokens came 60 ms apart after it.
  t.true(r.time - r.metadata.timeToFirstToken >= 4 * 60 - 5, `${r.time} ${r.metadata.timeToFirstToken}`)
  // tps: (5 - 1) tokens over the first-to-last span the server produced.
  const serverTps = 4 / ((sent.lastTokenAt - sent.firstTokenAt) / 1000)
  t.true(Math.abs(r.metadata.tokensPerSecond - serverTps) / serverTps < 0.2, `${r.metadata.tokensPerSecond} vs ${serverTps}`)
  const [body] = s.requests
  t.like(body, { model: 'm-1', stream: true, stream_options: { include_usage: true }, max_tokens: 20, temperature: 0 })
})

test.serial("Ollama: streamed NDJSON, tps from the server's eval_count / eval_duration, TTFT from the stream", async (t) => {
  const s = await server({ protocol: 'ollama', tokens: TOKENS, firstDelayMs: 120, tokenDelayMs: 60, evalDurationMs: 200 })
  const p = new OllamaProvider({ name: 'llama', model: 'm-2', endpoint: s.endpoint })
  await p.connect()
  const r = await p.execute({ prompt: 'hi' })
  t.is(r.content, TOKENS.join(''))
  t.is(r.tokens, 5)
  t.is(r.metadata.tokensPerSecond, 25) // 5 tokens in 200 ms, as the server said
  t.deepEqual(r.metadata.sources, { tokens: 'server', timeToFirstToken: 'stream', tokensPerSecond: 'server-durations', clock: 'monotonic' })
  t.true(r.metadata.timeToFirstToken >= 120)
  // Not the total time: four more tokens came 60 ms apart after it.
  t.true(r.time - r.metadata.timeToFirstToken >= 4 * 60 - 5, `${r.time} ${r.metadata.timeToFirstToken}`)
  t.is(r.metadata.server.evalDurationMs, 200)
  t.like(s.requests[0], { model: 'm-2', prompt: 'hi', stream: true })
  t.deepEqual(await p.listModels(), ['m-1', 'm-2'])
  t.true(await p.isHealthy())
})

test('a server that gives no counts: estimated tokens, and the results say so', async (t) => {
  const s = await server({ protocol: 'openai', tokens: TOKENS, usage: false, firstDelayMs: 10, tokenDelayMs: 10 })
  const r = await createProvider({ name: 'v', type: 'vllm', model: 'm', endpoint: s.endpoint }).execute({ prompt: 'q' })
  t.true(r.metadata.tokensEstimated)
  t.is(r.metadata.sources.tokens, 'estimate')
  t.is(r.tokens, Math.ceil(TOKENS.join('').length / 4))
})

test('a stream that stalls mid-answer fails at the request deadline, not later', async (t) => {
  const s = await server({ protocol: 'openai', tokens: TOKENS, firstDelayMs: 10, tokenDelayMs: 10, stallAfter: 2 })
  const p = new VLLMProvider({ name: 'v', model: 'm', endpoint: s.endpoint, options: { timeout: 300 } })
  const t0 = performance.now()
  await t.throwsAsync(p.execute({ prompt: 'q' }), { name: 'ModelError', message: /timed out after 300 ms/ })
  t.true(performance.now() - t0 < 3000)
})

test('429 is tried again (Retry-After honoured); 500 fails with the status', async (t) => {
  const s = await server({ protocol: 'ollama', fail: [429], firstDelayMs: 5, tokenDelayMs: 5 })
  const r = await new OllamaProvider({ name: 'o', model: 'm', endpoint: s.endpoint }).execute({ prompt: 'q' })
  t.is(r.metadata.tries, 2)
  const bad = await server({ protocol: 'openai', fail: [500] })
  await t.throwsAsync(new OpenAIProvider({ name: 'o', model: 'm', endpoint: bad.endpoint }).execute({ prompt: 'q' }), { message: /HTTP 500/ })
})

test('an unreachable server: connect() says where, isHealthy() is false', async (t) => {
  const s = await server({ protocol: 'ollama' })
  await s.close()
  const p = new OllamaProvider({ name: 'o', model: 'm', endpoint: s.endpoint })
  await t.throwsAsync(p.connect(), { message: new RegExp(`Failed to connect to Ollama at ${s.endpoint}`) })
  t.false(await p.isHealthy())
})

test('BenchmarkRunner: a suite over two providers with warm-up and repetitions, a report with means, percentiles and error rates', async (t) => {
  const fast = await server({ protocol: 'ollama', tokens: TOKENS, firstDelayMs: 5, tokenDelayMs: 5, evalDurationMs: 50 })
  const flaky = await server({ protocol: 'openai', tokens: TOKENS, firstDelayMs: 5, tokenDelayMs: 5, fail: [500, 500, 500] })
  const runner = new BenchmarkRunner()
  const progress = []
  runner.on('progress', (p) => progress.push(p.done))
  const suite = {
    name: 'two',
    requests: [{ prompt: 'q1', metadata: { expected: 'The answer is forty-two' } }, { prompt: 'q2' }],
    providers: [
      { name: 'fast', type: 'ollama', model: 'm', endpoint: fast.endpoint },
      { name: 'flaky', type: 'vllm', model: 'm', endpoint: flaky.endpoint },
    ],
    iterations: 3,
    warmupIterations: 1,
  }
  const report = await runner.runSuite(suite)
  t.is(report.results.length, 2 * 2 * 3)
  t.deepEqual(
    progress,
    Array.from({ length: 12 }, (_, i) => i + 1),
  )
  t.is(fast.requests.length, 2 * 4) // warm-up included, not reported
  // flaky failed its first 3 requests: 2 in the warm-up, 1 measured.
  t.is(report.results.filter((r) => !r.success).length, 1)
  t.is(report.summary.totalTests, 12)
  t.is(report.summary.successRate, 11 / 12)
  t.is(report.summary.averageMetrics.fast.errorRate, 0)
  t.is(report.summary.averageMetrics.flaky.errorRate, 1 / 6)
  t.is(report.summary.averageMetrics.fast.tps, 100)
  const pct = report.summary.percentiles.fast
  t.true(pct.latency.p50 <= pct.latency.p95 && pct.latency.p95 <= pct.latency.p99)
  t.is(pct.tps.p99, 100)
  t.is(report.summary.rankings.length, 2)
  const scored = report.results.find((r) => r.success && r.request.prompt === 'q1')
  t.true(scored.metrics.effectiveness > 0.5)
  t.true(report.generatedAt instanceof Date)
  t.deepEqual(await runner.healthCheck(), { fast: true, flaky: true })
  t.deepEqual(await runner.listAvailableModels(), { fast: ['m-1', 'm-2'], flaky: ['m-1', 'm-2'] })
  t.deepEqual(MetricsCalculator.calculatePercentiles([]).latency, { p50: 0, p95: 0, p99: 0 })
  await runner.removeProvider('flaky')
  t.deepEqual(runner.getProviders(), ['fast'])
  await runner.disconnectAll()
  t.deepEqual(runner.getProviders(), [])
  await t.throwsAsync(runner.runSingleBenchmark('fast', { prompt: 'q' }), { message: 'Provider fast not found' })
  await t.throwsAsync(runner.runSuite({ name: 's', requests: [{ prompt: 'q' }], providers: [], iterations: -1 }), {
    instanceOf: RangeError,
    message: /suite\.iterations/,
  })
})

// The CLI, in-process: main(argv, io) returns the exit code.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { main } = require('../lib/cli/main.js')

function sink() {
  let text = ''
  return {
    write: (s) => ((text += s), true),
    get text() {
      return text
    },
  }
}
async function cli(argv) {
  const stdout = sink()
  const stderr = sink()
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'promethean-chat-cli-'))
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'promethean-chat-cwd-'))
  try {
    const code = await main([...argv, '--out', out], { stdout, stderr, env: {}, cwd })
    const files = fs.readdirSync(out).map((f) => ({ name: f, text: fs.readFileSync(path.join(out, f), 'utf8') }))
    return { code, stdout: stdout.text, stderr: stderr.text, files }
  } finally {
    fs.rmSync(out, { recursive: true, force: true })
    fs.rmSync(cwd, { recursive: true, force: true })
  }
}

test('CLI chat: a suite file over two servers, the comparison table, JSON, Markdown and HTML reports', async (t) => {
  const a = await server({ protocol: 'ollama', tokens: TOKENS, firstDelayMs: 5, tokenDelayMs: 5, evalDurationMs: 50 })
  const b = await server({ protocol: 'openai', tokens: TOKENS, firstDelayMs: 5, tokenDelayMs: 5 })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promethean-chat-suite-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const suiteFile = path.join(dir, 'suite.json')
  fs.writeFileSync(
    suiteFile,
    JSON.stringify({ name: 'mine', requests: [{ prompt: 'one' }, { prompt: 'two', metadata: { expected: 'The answer is forty-two' } }], iterations: 2 }),
  )
  const r = await cli(['chat', '--models', `llama@${a.endpoint},gpt@${b.endpoint}`, '--suite', suiteFile, '--warmup', '1'])
  t.is(r.code, 0, r.stderr)
  t.regex(r.stdout, /Chat benchmark: mine \(2 prompts x 2 iterations, 1 warm-up\)/)
  t.regex(r.stdout, /^llama\s+4\/4\s+0\.0%/m)
  t.regex(r.stdout, /^gpt\s+4\/4\s+0\.0%/m)
  t.regex(r.stdout, /server-durations/)
  t.regex(r.stdout, /stream-timestamps/)
  t.is(a.requests.length, 6)
  const json = JSON.parse(r.files.find((f) => f.name.endsWith('.json')).text)
  t.is(json.results.length, 8)
  t.is(json.summary.averageMetrics.llama.tps, 100)
  t.deepEqual(
    json.comparison.map((c) => c.provider),
    ['llama', 'gpt'],
  )
  t.regex(r.files.find((f) => f.name.endsWith('.md')).text, /\| llama \| 4\/4 \|/)
  t.regex(r.files.find((f) => f.name.endsWith('.html')).text, /<th>gpt<\/th>/)
})

test('CLI chat: failures give exit 1 and are listed; bad usage gives 2 before any request', async (t) => {
  const bad = await server({ protocol: 'openai', fail: [500, 500, 500, 500, 500, 500, 500, 500] })
  const r = await cli(['chat', '--models', `m@${bad.endpoint}`, '--iterations', '1'])
  t.is(r.code, 1)
  t.regex(r.stdout, /Errors:[\s\S]*HTTP 500/)
  t.is(bad.requests.length, 4) // the built-in prompts, once each
  const usage = await cli(['chat'])
  t.is(usage.code, 2)
  t.regex(usage.stderr, /no model servers/)
  t.is((await cli(['chat', '--models', 'gold'])).code, 2)
  t.regex((await cli(['chat', '--models', 'x@http://127.0.0.1:9', '--suite', '/nonexistent.json'])).stderr, /--suite: cannot read/)
  t.is((await cli(['chat', '--models', 'x@http://127.0.0.1:9', '--iterations', '0'])).code, 2)
  t.is(bad.requests.length, 4)
})

test('CLI health and models per server', async (t) => {
  const up = await server({ protocol: 'ollama', models: ['qwen3:8b', 'llama3'] })
  const down = await server({ protocol: 'openai' })
  await down.close()
  const h = await cli(['health', '--models', `a@${up.endpoint},b@${down.endpoint}`])
  t.is(h.code, 1)
  t.regex(h.stdout, /^ok\s+a\s+ollama/m)
  t.regex(h.stdout, /^DOWN\s+b\s+openai/m)
  const m = await cli(['models', '--endpoint', up.endpoint, '--json'])
  t.is(m.code, 0, m.stderr)
  t.deepEqual(JSON.parse(m.stdout).providers[0].models, ['qwen3:8b', 'llama3'])
  t.is((await cli(['health', '--endpoint', up.endpoint])).code, 0)
})

test("a key given in code (the original's apiKey) is sent as the bearer and kept out of the config and results", async (t) => {
  const KEY = 'sk-in-code-DO-NOT-WRITE-91b2'
  const seen = []
  const s = await server({ protocol: 'openai', firstDelayMs: 1, tokenDelayMs: 1, onHeaders: (h) => seen.push(h.authorization) })
  const runner = new BenchmarkRunner()
  await runner.addProvider({ name: 'gpt', type: 'openai', model: 'm', endpoint: s.endpoint, apiKey: KEY })
  const result = await runner.runSingleBenchmark('gpt', { prompt: 'q' })
  t.true(result.success)
  t.deepEqual(seen, [`Bearer ${KEY}`, `Bearer ${KEY}`])
  t.false(JSON.stringify(result).includes(KEY))
  t.false(JSON.stringify(runner.providers.get('gpt').getConfig()).includes(KEY))
  await runner.disconnectAll()
  t.throws(() => new OpenAIProvider({ name: 'g', model: 'm', apiKey: 42 }), { instanceOf: TypeError, message: /config\.apiKey/ })
})

test('the installed command: promethean-bench models and chat from a separate process', async (t) => {
  const { execFile } = await import('node:child_process')
  const s = await server({ protocol: 'ollama', models: ['qwen3:8b'], firstDelayMs: 1, tokenDelayMs: 1 })
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'promethean-chat-bin-'))
  t.teardown(() => fs.rmSync(out, { recursive: true, force: true }))
  const bin = path.join(path.dirname(require.resolve('../index.js')), 'bin', 'promethean-bench.js')
  const run = (args) =>
    new Promise((resolve) => {
      execFile(process.execPath, [bin, ...args, '--out', out], { cwd: out, timeout: 60000 }, (err, stdout, stderr) =>
        resolve({ code: err ? err.code : 0, stdout, stderr }),
      )
    })
  const models = await run(['models', '--endpoint', s.endpoint])
  t.is(models.code, 0, models.stderr)
  t.regex(models.stdout, /^ {2}qwen3:8b$/m)
  const chat = await run(['chat', '--models', `qwen3:8b@${s.endpoint}`, '--json'])
  t.is(chat.code, 0, chat.stderr)
  t.is(JSON.parse(chat.stdout).summary.totalTests, 4)
  t.is(fs.readdirSync(out).filter((f) => f.startsWith('chat-results-')).length, 3)
})

test('streamed lines cut across chunks are put back together, each with the arrival of the chunk that completed it', (t) => {
  const { lineSplitter } = require('../worker/clients/http.js')
  const seen = []
  const feed = lineSplitter((line, at) => seen.push([line, at]))
  feed(Buffer.from('data: {"a"'), 1)
  feed(Buffer.from(':1}\n\ndata: {"b":2}\nda'), 2)
  feed(Buffer.from('ta: [DONE]\n'), 3)
  t.deepEqual(seen, [
    ['data: {"a":1}', 2],
    ['data: {"b":2}', 2],
    ['data: [DONE]', 3],
  ])
})

test('runSuite with a signal: an abort cancels the request in flight, starts no other, and reports what was done', async (t) => {
  const s = await server({ protocol: 'openai', tokens: TOKENS, firstDelayMs: 5, tokenDelayMs: 5 })
  const slow = await server({ protocol: 'openai', tokens: TOKENS, firstDelayMs: 60000 })
  const runner = new BenchmarkRunner()
  const controller = new AbortController()
  runner.on('progress', ({ done }) => {
    if (done === 1) setTimeout(() => controller.abort(), 50)
  })
  const suite = {
    name: 'cut',
    requests: [{ prompt: 'q' }],
    providers: [
      { name: 'fast', type: 'vllm', model: 'm', endpoint: s.endpoint },
      { name: 'slow', type: 'vllm', model: 'm', endpoint: slow.endpoint },
    ],
    iterations: 3,
    warmupIterations: 0,
  }
  const t0 = performance.now()
  const report = await runner.runSuite(suite, { signal: controller.signal })
  t.true(performance.now() - t0 < 30000)
  t.is(report.results.length, 2)
  t.true(report.results[0].success)
  t.false(report.results[1].success)
  t.regex(report.results[1].error, /cancelled/)
  t.is(slow.requests.length, 1)
  await runner.disconnectAll()
})
