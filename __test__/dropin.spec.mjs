// Code written against the original module keeps working: the BaseProvider helpers, the
// provider's content lines, the figures left after disconnect(), the original's error texts and
// the monitor's threshold unit.
import test from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'

import {
  BaseProvider,
  BuildFixProvider,
  EnhancedBuildFixProvider,
  PerformanceMonitor,
  ResourceManager,
  ResourcePool,
  listFixtures,
} from '@promethean/benchmark'

const require = createRequire(import.meta.url)
const { binding } = require('../lib/native.js')

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-dropin-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

const config = { name: 'drop-in', type: 'buildfix', model: 'gold', endpoint: 'http://127.0.0.1:9' }

/** A provider of one's own, as the original's users wrote them. */
class EchoProvider extends BaseProvider {
  async connect() {}
  async disconnect() {}
  async execute(request) {
    return { content: request.prompt, tokens: 3, time: 1, metadata: { timeToFirstToken: 7, effectiveness: 0.5 } }
  }
  async isHealthy() {
    return true
  }
}

test('the getters return the configuration', (t) => {
  for (const p of [new EchoProvider(config), new EnhancedBuildFixProvider(config), new BuildFixProvider(config)]) {
    t.is(p.getName(), 'drop-in')
    t.is(p.getType(), 'buildfix')
    t.is(p.getModel(), 'gold')
    t.is(p.getConfig().endpoint, 'http://127.0.0.1:9')
    t.is(p.getConfig(), p.config)
  }
})

test('calculateMetrics: tokens per second and latency since startTime, metadata figures passed on', async (t) => {
  const p = new EchoProvider(config)
  const startTime = Date.now() - 2000
  const response = await p.execute({ prompt: 'hi' })
  const m = p.calculateMetrics({ ...response, tokens: 400 }, startTime)
  // At least 2000 ms passed; the bound above is generous for a busy machine.
  t.true(m.latency >= 2000 && m.latency < 20000, String(m.latency))
  t.is(m.timeToCompletion, m.latency)
  t.true(Math.abs(m.tps - (400 / m.latency) * 1000) < 1e-9)
  t.is(m.timeToFirstToken, 7)
  t.is(m.effectiveness, 0.5)
  const plain = p.calculateMetrics({ content: '', tokens: 10, time: 0 }, startTime)
  t.is(plain.timeToFirstToken, plain.latency, 'without metadata the first token is the whole latency')
  t.is(plain.effectiveness, undefined)
})

test('calculateMetrics never gives NaN or Infinity, and rejects bad input by name', (t) => {
  const p = new EchoProvider(config)
  const future = p.calculateMetrics({ content: '', tokens: 5, time: 0 }, Date.now() + 60000)
  for (const v of [future.tps, future.latency, future.timeToFirstToken]) t.true(Number.isFinite(v))
  t.is(future.tps, 0)
  t.throws(() => p.calculateMetrics(null, Date.now()), { instanceOf: TypeError, message: /response/ })
  t.throws(() => p.calculateMetrics({ content: '', tokens: '5' }, Date.now()), { instanceOf: TypeError, message: /response\.tokens/ })
  t.throws(() => p.calculateMetrics({ content: '', tokens: 5 }, NaN), { instanceOf: TypeError, message: /startTime/ })
  t.throws(() => p.calculateMetrics({ content: '', tokens: 5 }), { instanceOf: TypeError, message: /startTime/ })
})

test('measureResources: memory in MB, CPU in %, GPU figures from NVML or undefined', async (t) => {
  const p = new EchoProvider(config)
  const r = await p.measureResources()
  const rssMb = process.memoryUsage.rss() / 1024 / 1024
  t.true(r.memoryUsage > rssMb / 2 && r.memoryUsage < rssMb * 2, `${r.memoryUsage} MB vs rss ${rssMb} MB`)
  t.true(r.cpuUsage >= 0 && r.cpuUsage <= 100)
  const again = await p.measureResources()
  t.true(again.cpuUsage >= 0 && again.cpuUsage <= 100)
  const gpu = binding.gpuSample()
  if (gpu === null) {
    t.is(r.gpuUsage, undefined)
    t.is(r.gpuMemoryUsage, undefined)
    t.is(r.powerConsumption, undefined)
  } else {
    t.true(r.gpuUsage >= 0 && r.gpuUsage <= 100)
    t.true(r.gpuMemoryUsage >= 0)
  }
})

test('measureResources reads the GPU only through NVML: without its library, no GPU figures and no error', (t) => {
  // The driver's library sits in the loader's default paths: ask the loader's cache whether it is there.
  const ldconfig = spawnSync('sh', ['-c', 'ldconfig -p 2>/dev/null | grep -c libnvidia-ml'], { encoding: 'utf8' })
  const hasLib = Number(ldconfig.stdout.trim() || 0) > 0
  if (!hasLib) t.is(binding.gpuSample(), null)
  else t.pass('NVML is installed here; the figures are checked by the test above')
})

test.serial('content begins with the original lines; the cache figures stay after disconnect()', async (t) => {
  const dir = tempDir(t)
  const p = new EnhancedBuildFixProvider({
    name: 'drop-in',
    type: 'buildfix',
    model: 'gold',
    options: { maxWorkers: 1, minWorkers: 1, cacheDir: path.join(dir, 'cache'), metricsDir: path.join(dir, 'metrics'), workDir: path.join(dir, 'work') },
  })
  t.teardown(() => p.disconnect())
  await p.connect()
  const names = listFixtures().slice(0, 2)
  // A request held in a variable, as the original's users wrote it.
  const request = { prompt: 'Fix the TypeScript compile error.', metadata: { fixtureType: 'small', fixtures: names } }
  const r = await p.execute(request)
  const lines = r.content.split('\n')
  t.is(lines[0], 'BuildFix Enhanced Benchmark Results:')
  t.is(lines[1], `- Total Tests: 2`)
  t.is(lines[2], `- Successful Tests: 2 (100.0%)`)
  t.is(lines[3], `- Errors Resolved: 2 (100.0%)`)
  t.regex(lines[4], /^- Average Duration: \d+\.\ds$/)
  const avg = r.metadata.buildFixResults.reduce((a, x) => a + x.duration, 0) / 2 / 1000
  t.is(lines[4], `- Average Duration: ${avg.toFixed(1)}s`)
  t.regex(r.content, /Total tests: 2/, "the package's own lines follow")
  await p.execute(request)
  const stats = p.getCacheStats()
  t.deepEqual(stats, { hits: 1, misses: 1, evictions: 0 })
  await p.disconnect()
  t.deepEqual(p.getCacheStats(), stats, "the finished run's figures stay after disconnect()")
})

test('a waiter past acquireTimeout rejects with the original text first', async (t) => {
  const pool = new ResourcePool({ minSize: 0, maxSize: 1, acquireTimeout: 30, createResource: async () => ({}) })
  t.teardown(() => pool.destroy())
  const held = await pool.acquire()
  const err = await t.throwsAsync(pool.acquire())
  t.true(err.message.startsWith('Resource acquire timeout'), err.message)
  t.regex(err.message, /30 ms/)
  pool.release(held)
})

test('a waiter at destroy() and a second pool of one name get the original texts first', async (t) => {
  const manager = new ResourceManager({ cleanupInterval: 0 })
  t.teardown(() => manager.destroy())
  const pool = manager.createPool('p', { minSize: 0, maxSize: 1, acquireTimeout: 0, createResource: async () => ({}) })
  t.throws(() => manager.createPool('p', { createResource: async () => ({}) }), { message: /^Resource pool 'p' already exists/ })
  const held = await pool.acquire()
  const waiting = pool.acquire()
  await pool.destroy()
  const err = await t.throwsAsync(waiting)
  t.true(err.message.startsWith('Pool is being destroyed'), err.message)
  t.truthy(held)
})

test("a pool of its own shape (destroy(): void) lives beside the package's pools", async (t) => {
  const manager = new ResourceManager({ cleanupInterval: 0 })
  t.teardown(() => manager.destroy())
  const pool = manager.createPool('p', { minSize: 0, maxSize: 1, createResource: async () => 1 })
  t.true(pool instanceof ResourcePool)
  const s = pool.getStats()
  for (const k of ['total', 'active', 'idle', 'waiting', 'maxUsed', 'avgWaitTime', 'pending', 'created', 'destroyed']) t.is(typeof s[k], 'number', k)
})

test('an eventLoop threshold below 1 ms warns once that the unit is ms', async (t) => {
  const script = `
    const { PerformanceMonitor } = require(${JSON.stringify(path.resolve('index.js'))})
    const m = new PerformanceMonitor()
    m.setThresholds({ eventLoop: 50 })
    m.setThresholds({ eventLoop: 0.1 })
    m.setThresholds({ eventLoop: 0.2 })
    console.log(JSON.stringify(m.getThresholds()))`
  const out = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' })
  t.is(out.status, 0, out.stderr)
  t.is(JSON.parse(out.stdout).eventLoop, 0.2, 'the value is kept, in ms')
  t.is(out.stderr.match(/BENCHMARK_EVENTLOOP_UNIT/g)?.length, 1, out.stderr)
  t.regex(out.stderr, /milliseconds/)
  t.truthy(PerformanceMonitor)
})

test('exportMetrics(): the file exists when the promise resolves, default name in outputDir', async (t) => {
  const dir = tempDir(t)
  const m = new PerformanceMonitor({ outputDir: path.join(dir, 'out') })
  const file = await m.exportMetrics()
  t.regex(path.basename(file), /^performance-metrics-\d+\.json$/)
  t.is(path.dirname(file), path.join(dir, 'out'))
  t.deepEqual(Object.keys(JSON.parse(fs.readFileSync(file, 'utf8'))).sort(), ['alerts', 'snapshots', 'summary', 'thresholds', 'timestamp'])
})

test('MetricsCalculator: averages over successful results, error rate over all, ranking by score', async (t) => {
  const { MetricsCalculator } = await import('@promethean/benchmark')
  const result = (name, success, tps, latency, effectiveness) => ({
    provider: { name, type: 'ollama', model: 'm' },
    request: { prompt: 'p' },
    response: { content: '', tokens: 0, time: latency },
    metrics: { tps, latency, timeToFirstToken: latency / 2, timeToCompletion: latency, effectiveness },
    resources: { memoryUsage: 100, cpuUsage: 50 },
    timestamp: new Date(),
    success,
  })
  const results = [result('fast', true, 100, 1000, 1), result('fast', false, 0, 0, 0), result('slow', true, 10, 9000, 0.2)]
  t.is(MetricsCalculator.calculateTPS(50, 2000), 25)
  t.is(MetricsCalculator.calculateTPS(50, 0), 0)
  t.is(MetricsCalculator.calculateLatency(10, 35), 25)
  t.is(MetricsCalculator.calculateEffectiveness('anything'), 0.5)
  t.is(MetricsCalculator.calculateEffectiveness('fix the error', 'fix the error'), 1)
  t.is(MetricsCalculator.calculateEffectiveness('a b', 'b c'), 1 / 3)
  t.is(MetricsCalculator.calculateErrorRate(results), 1 / 3)
  const fast = MetricsCalculator.calculateAverageMetrics(results.slice(0, 2))
  t.deepEqual(fast, { tps: 100, latency: 1000, timeToFirstToken: 500, timeToCompletion: 1000, effectiveness: 1, errorRate: 0.5 })
  t.deepEqual(MetricsCalculator.calculateAverageMetrics([]), { tps: 0, latency: 0, timeToFirstToken: 0, timeToCompletion: 0, effectiveness: 0, errorRate: 0 })
  t.is(MetricsCalculator.calculateAverageMetrics([results[1]]).errorRate, 1)
  t.deepEqual(MetricsCalculator.calculateAverageResourceUsage(results), { memoryUsage: 100, cpuUsage: 50, gpuUsage: 0, gpuMemoryUsage: 0, powerConsumption: 0 })
  // 0.3 * 1 + 0.3 * 0.9 + 0.3 * 1 + 0.1 * 0.5
  t.true(Math.abs(MetricsCalculator.calculateScore(fast) - 0.92) < 1e-12)
  t.true(Math.abs(MetricsCalculator.calculateScore(fast, { tps: 0, latency: 0, effectiveness: 0, errorRate: 1 }) - 0.5) < 1e-12)
  const ranking = MetricsCalculator.rankProviders(results)
  t.deepEqual(
    ranking.map((r) => r.provider),
    ['fast', 'slow'],
  )
  t.throws(() => MetricsCalculator.calculateErrorRate('x'), { instanceOf: TypeError, message: /results/ })
  t.throws(() => MetricsCalculator.calculateTPS('1', 2), { instanceOf: TypeError, message: /tokens/ })
  t.throws(() => MetricsCalculator.calculateScore({ tps: NaN, latency: 1 }), { instanceOf: TypeError, message: /metrics\.tps/ })
})
