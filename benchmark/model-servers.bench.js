'use strict'
// Model servers: (1) the cost of one model request through the engine's client (plan schema,
// structured-output mode, token counts, retries, keep-alive) against an instant fake
// OpenAI-compatible server, next to a bare `fetch` of /v1/chat/completions (what a script would
// do) and with the per-endpoint request slots on; (2) a run of 2 models x 8 fixtures on two
// endpoints (answering in 40 ms, like a small GPU model) with maxConcurrentRequests 2 each,
// against the same run with the gold model (the type checks alone), so the difference is what
// the model requests add on top of the type checks.
//
//   node benchmark/model-servers.bench.js     (or: npm run bench -- model-servers)

const { fork } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { performance } = require('node:perf_hooks')

const { compare, report, median, formatNs, assertSame } = require('./harness')
const { generate } = require('../worker/models')
const { closeConnections } = require('../worker/clients/http')
const { createDefaults } = require('../lib/cli/runtime')

const OPS = Number(process.env.MODEL_BENCH_OPS || 300)
const ROUNDS = Number(process.env.MODEL_BENCH_ROUNDS || 5)
const RUN_ROUNDS = Number(process.env.MODEL_BENCH_RUN_ROUNDS || 3)
const PROMPT = 'Target error: TS2345 in src/catalog.ts at line 9.\n--- src/util/label.ts\n'

function startServers(specs) {
  const child = fork(path.join(__dirname, 'model-servers-child.mjs'), specs, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('message', (m) => {
      const stats = () =>
        new Promise((r) => {
          child.once('message', (s) => r(s.stats))
          child.send({ stats: true })
        })
      const stop = () => new Promise((r) => (child.once('exit', r), child.send({ exit: true })))
      resolve({ endpoints: m.ready, stats, stop })
    })
  })
}

async function bareFetch(endpoint) {
  const res = await fetch(`${endpoint}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm-a', messages: [{ role: 'user', content: PROMPT }], temperature: 0, stream: false }),
  })
  const json = await res.json()
  return json.choices[0].message.content
}

async function requestOverhead() {
  const { endpoints, stop } = await startServers(['openai:0'])
  const [endpoint] = endpoints
  try {
    const a = await generate({ endpoint, model: 'm-a', prompt: PROMPT })
    assertSame('the client and fetch get the same plan', a.text, await bareFetch(endpoint))
    const sequential = (fn) => ({
      run: async () => {
        for (let i = 0; i < OPS; i++) await fn()
      },
    })
    const results = await compare({
      ops: OPS,
      rounds: ROUNDS,
      contenders: [
        { name: 'fetch (bare)', ...sequential(() => bareFetch(endpoint)) },
        { name: 'engine client', ...sequential(() => generate({ endpoint, model: 'm-a', prompt: PROMPT })) },
        { name: 'engine client + slots', ...sequential(() => generate({ endpoint, model: 'm-a', prompt: PROMPT, maxConcurrentRequests: 2 })) },
      ],
    })
    report(`One model request, one at a time, instant server (${OPS} requests x ${ROUNDS} rounds, median)`, results, 'fetch (bare)')
    console.log(`  engine client: ${formatNs(results['engine client'].median)} per request in all (target: under 1 ms)`)
  } finally {
    closeConnections()
    await stop()
  }
}

async function twoModelsRun() {
  const { endpoints, stats, stop } = await startServers(['vllm:40', 'ollama:40'])
  const pkg = require('..')
  const fixtures = pkg.listFixtures('small').slice(0, 8)
  const defaults = createDefaults(() => pkg)
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-model-bench-'))
  const previous = process.cwd()
  process.chdir(cwd)
  const run = (targets) => defaults.runBenchmark({ models: targets.map((t) => t.name), targets, fixtures, concurrency: 4, cache: false })
  const models = [
    { name: 'm-a', endpoint: endpoints[0], api: 'openai', maxConcurrentRequests: 2 },
    { name: 'm-b', endpoint: `${endpoints[1]}/v1`, api: 'openai', maxConcurrentRequests: 2 },
  ]
  const gold = [{ name: 'gold' }, { name: 'gold' }]
  try {
    const check = await run(models)
    for (const r of check.filter((r) => !r.success)) console.log(`  failed: ${r.model} ${r.fixture}: ${r.errorMessage}`)
    assertSame('every model result passes', check.filter((r) => r.success).length, 16)
    const times = { gold: [], models: [] }
    for (let i = 0; i < RUN_ROUNDS; i++) {
      for (const [name, targets] of [
        ['gold', gold],
        ['models', models],
      ]) {
        const t0 = performance.now()
        const results = await run(targets)
        times[name].push(performance.now() - t0)
        assertSame(`${name}: 16 results`, results.length, 16)
      }
    }
    const s = await stats()
    const g = median(times.gold)
    const m = median(times.models)
    console.log(`\n2 models x 8 fixtures, concurrency 4, maxConcurrentRequests 2 per endpoint, 40 ms answers (${RUN_ROUNDS} rounds, median)`)
    console.log(`  gold x2 (type checks only)   ${(g / 1000).toFixed(2)} s  ${(16000 / g).toFixed(1)} fixtures/s`)
    console.log(`  two served models            ${(m / 1000).toFixed(2)} s  ${(16000 / m).toFixed(1)} fixtures/s  (${(m / g).toFixed(2)}x the time of gold)`)
    console.log(`  peak requests in flight per endpoint: ${s.map((x) => x.maxInFlight).join(', ')} (limit 2); requests: ${s.map((x) => x.requests).join(', ')}`)
  } finally {
    process.chdir(previous)
    fs.rmSync(cwd, { recursive: true, force: true })
    closeConnections()
    await stop()
  }
}

async function main() {
  await requestOverhead()
  await twoModelsRun()
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
