// The shared cache level on Redis: MultiLevelCache's `l3` and the provider's
// `options.sharedCache`, against a real redis-server (__test__/helpers/redis-server.mjs).

import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import test from 'ava'
import { EnhancedBuildFixProvider, MultiLevelCache } from '@promethean/benchmark'
import { replies, startFakeModelServer } from './helpers/fake-model-server.mjs'
import { freePort, redisTest, startRedis } from './helpers/redis-server.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const PROVIDER_CHILD = path.join(here, 'helpers', 'provider-shared-cache.mjs')
const SMALL_DIR = path.join(here, '..', 'fixtures', 'small')
const run = promisify(execFile)

async function redis(t) {
  const r = await startRedis()
  t.teardown(() => r.close())
  return r
}

/**
 * A memory-only MultiLevelCache over `url`, destroyed when the test ends. Its deadline is 10 s
 * unless given: far above a command's time on a busy machine, so only the tests about slowness
 * see timeouts.
 */
function shared(t, url, l3 = {}) {
  const cache = new MultiLevelCache({ l1: { cleanupInterval: 0 }, l3: { url, keyPrefix: 'spec', timeoutMs: 10_000, ...l3 } })
  t.teardown(() => cache.destroy())
  return cache
}

/** Records the `shared-cache-error` events of `cache`. */
function failures(cache) {
  const seen = []
  cache.on('shared-cache-error', (e) => seen.push(e))
  return seen
}

/** Tries `attempt` until it returns true, waiting `everyMs` between tries; fails after `limitMs`. */
async function eventually(t, attempt, { everyMs = 100, limitMs = 30_000 } = {}) {
  const deadline = Date.now() + limitMs
  while (!(await attempt())) {
    if (Date.now() > deadline) return t.fail('never happened')
    await sleep(everyMs)
  }
  t.pass()
}

// ---------------------------------------------------------------------------------------------
// Options

test('bad l3 options are refused, naming the option', (t) => {
  const cases = [
    [{ l3: 'redis://127.0.0.1:6379' }, TypeError, /^l3 must be an object/],
    [{ l3: {} }, TypeError, /^l3\.url must be a redis:\/\/ URL/],
    [{ l3: { url: 'http://127.0.0.1:6379' } }, TypeError, /^l3\.url must be a redis:\/\/ URL/],
    [{ l3: { url: 6379 } }, TypeError, /^l3\.url must be a string/],
    [{ l3: { url: 'redis://' } }, TypeError, /^l3\.url/],
    [{ l3: { url: 'redis://127.0.0.1', keyPrefix: '' } }, TypeError, /^l3\.keyPrefix must be a non-empty string/],
    [{ l3: { url: 'redis://127.0.0.1', keyPrefix: 7 } }, TypeError, /^l3\.keyPrefix must be a string/],
    [{ l3: { url: 'redis://127.0.0.1', timeoutMs: 0 } }, RangeError, /^l3\.timeoutMs must be a whole number from 1 to 60000/],
    [{ l3: { url: 'redis://127.0.0.1', timeoutMs: 1.5 } }, RangeError, /^l3\.timeoutMs/],
    [{ l3: { url: 'redis://127.0.0.1', defaultTtl: -1 } }, RangeError, /^l3\.defaultTtl/],
  ]
  for (const [config, Class, message] of cases) {
    const err = t.throws(() => new MultiLevelCache(config), { instanceOf: Class }, JSON.stringify(config))
    t.regex(err.message, message)
  }
  // A bad l1 after a good l3 closes the shared level it had opened.
  t.throws(() => new MultiLevelCache({ l1: { maxSize: -1 }, l3: { url: 'redis://127.0.0.1' } }), { instanceOf: RangeError })
})

test('l3 reports its configuration with the defaults filled in', (t) => {
  const cache = new MultiLevelCache({ l3: { url: 'redis://127.0.0.1:1' } })
  t.teardown(() => cache.destroy())
  t.deepEqual(cache.l3, { url: 'redis://127.0.0.1:1', keyPrefix: 'promethean-bench', defaultTtl: 3600000, timeoutMs: 250 })
  t.is(new MultiLevelCache().l3, undefined)
})

// ---------------------------------------------------------------------------------------------
// Sharing

redisTest('a value set through one cache is a hit of another, which fills its own levels', async (t) => {
  const r = await redis(t)
  const a = shared(t, r.url)
  const b = shared(t, r.url)
  const value = { plan: ['ensureExported', 'x'], n: 1.5, nested: { ok: true } }
  await a.set('result', value, 60_000)
  await a.flush()
  t.is(a.getStats().l3.writeCount, 1)
  t.is(a.getStats().l3.pendingWrites, 0)
  const hits = []
  b.on('l3-hit', (e) => hits.push(e.key))
  t.false(b.has('result'))
  t.deepEqual(await b.get('result'), value)
  t.deepEqual(hits, ['result'])
  t.true(b.l1.has('result'), 'the hit filled l1')
  const entry = b.l1.getStats()
  t.is(entry.totalEntries, 1)
  // The next read is an l1 hit: Redis is not asked again.
  t.deepEqual(await b.get('result'), value)
  t.deepEqual(b.getStats().l3, { hitCount: 1, missCount: 0, errorCount: 0, writeCount: 0, pendingWrites: 0 })
  t.is(await b.get('absent'), undefined)
  t.is(b.getStats().l3.missCount, 1)
  // delete() removes it everywhere, Redis included.
  t.true(await a.delete('result'))
  const c = shared(t, r.url)
  t.is(await c.get('result'), undefined)
})

redisTest('a shared hit keeps the expiry it was stored with', async (t) => {
  const r = await redis(t)
  const a = shared(t, r.url)
  const b = new MultiLevelCache({ l1: { cleanupInterval: 0, defaultTtl: 0 }, l3: { url: r.url, keyPrefix: 'spec' } })
  t.teardown(() => b.destroy())
  await a.set('k', 1, 60_000)
  await a.flush()
  t.is(await b.get('k'), 1)
  const hit = await new Promise((resolve) => {
    b.l1.once('cache-hit', resolve)
    b.get('k')
  })
  t.is(hit.entry.ttl, 60_000, 'not l1 defaultTtl (0: never)')
})

redisTest('hostile keys are exact keys in Redis: long, binary, lone surrogates, patterns, newlines', async (t) => {
  const r = await redis(t)
  const a = shared(t, r.url)
  const b = shared(t, r.url)
  const keys = ['*', 'a*', '?', '[a-z]', 'line\nbreak\r\n', '\ud800', '\udc00', '\ufffd', 'x'.repeat(100_000), 'x'.repeat(100_001), '', '\0bin\u0001']
  for (const [i, key] of keys.entries()) await a.set(key, i)
  await a.flush()
  for (const [i, key] of keys.entries()) t.is(await b.get(key), i, JSON.stringify(key.slice(0, 20)))
  t.is(await b.get('a'), undefined, 'no pattern matches')
  t.is(b.getStats().l3.errorCount, 0)
})

redisTest('a value Redis holds that this level did not write is a miss, not a crash', async (t) => {
  const r = await redis(t)
  const a = shared(t, r.url)
  await a.set('k', 1)
  await a.flush()
  // Overwrite it with garbage through the CLI protocol (inline command).
  const net = await import('node:net')
  const reply = await new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: r.port }, () => socket.write('SET spec:v1:k:k garbage\r\n'))
    socket.once('data', (d) => {
      socket.destroy()
      resolve(String(d))
    })
    socket.once('error', reject)
  })
  t.is(reply, '+OK\r\n')
  const b = shared(t, r.url)
  t.is(await b.get('k'), undefined)
  t.is(b.getStats().l3.missCount, 1)
})

// ---------------------------------------------------------------------------------------------
// Redis down, slow, back

test('with no Redis listening, reads and writes fall back to the local levels with shared-cache-error', async (t) => {
  const port = await freePort()
  const cache = shared(t, `redis://127.0.0.1:${port}`)
  const seen = failures(cache)
  await cache.set('k', { v: 1 })
  t.deepEqual(await cache.get('k'), { v: 1 }, 'served by l1')
  t.is(await cache.get('other'), undefined)
  await cache.flush()
  t.true(await cache.delete('k'), 'deleted from l1')
  t.deepEqual(seen.map((e) => e.operation).sort(), ['delete', 'get', 'set'])
  for (const e of seen) {
    t.true(e.error instanceof Error)
    t.regex(e.error.message, /shared cache level \(Redis\)/)
    t.true(['k', 'other'].includes(e.key))
  }
  t.is(cache.getStats().l3.errorCount, 3)
})

redisTest('Redis stopped mid-run: operations fall back with events, and hit again once it is back', async (t) => {
  const r = await redis(t)
  const a = shared(t, r.url)
  const b = shared(t, r.url)
  const seen = failures(b)
  await a.set('before', 1)
  await a.flush()
  t.is(await b.get('before'), 1)
  await r.stop()
  const started = Date.now()
  t.is(await b.get('during'), undefined)
  await b.set('during', 2)
  t.is(await b.get('during'), 2, 'the local level took it')
  await b.flush()
  t.true(Date.now() - started < 20_000, 'no hang')
  t.true(seen.length >= 2)
  t.true(seen.some((e) => e.operation === 'get' && e.key === 'during'))
  t.true(seen.some((e) => e.operation === 'set' && e.key === 'during'))
  await r.start()
  // It reconnects on its own: a value written through one is read by the other again.
  await eventually(t, async () => {
    await a.set('after', 3)
    await a.flush()
    return (await shared(t, r.url).get('after')) === 3
  })
})

redisTest('a Redis that does not answer costs a read its deadline, not more', async (t) => {
  const r = await redis(t)
  const cache = shared(t, r.url, { timeoutMs: 200 })
  // Connected first (on a busy machine a connection may take a few tries within 200 ms).
  await eventually(t, async () => {
    await cache.set('warm', 1)
    await cache.flush()
    return cache.getStats().l3.writeCount > 0
  })
  const seen = failures(cache)
  process.kill(r.child.pid, 'SIGSTOP')
  t.teardown(() => r.child && process.kill(r.child.pid, 'SIGCONT'))
  const started = Date.now()
  t.is(await cache.get('k'), undefined)
  const took = Date.now() - started
  process.kill(r.child.pid, 'SIGCONT')
  t.true(took < 2_000, `${took} ms for a 200 ms deadline`)
  t.regex(seen[0].error.message, /within 200 ms|timed out/)
})

// ---------------------------------------------------------------------------------------------
// Lifetime

redisTest('destroy() closes the connection: a process that used a shared level exits on its own', async (t) => {
  const r = await redis(t)
  const script = `
    const { MultiLevelCache } = require(${JSON.stringify(path.join(here, '..', 'index.js'))})
    ;(async () => {
      const before = process.getActiveResourcesInfo().length
      const l3 = { url: ${JSON.stringify(r.url)}, timeoutMs: 10000 }
      const cache = new MultiLevelCache({ l3 })
      await cache.set('k', 1)
      await cache.flush()
      const other = new MultiLevelCache({ l3 })
      const got = await other.get('k')
      await cache.destroy()
      await other.destroy()
      const after = process.getActiveResourcesInfo()
      console.log(JSON.stringify({ got, before, after: after.length, resources: after }))
    })()
  `
  const { stdout } = await run(process.execPath, ['-e', script], { timeout: 60_000 })
  const out = JSON.parse(stdout)
  t.is(out.got, 1, 'the value went through Redis')
  t.true(out.after <= out.before, JSON.stringify(out.resources))
})

redisTest('destroy() waits for pending writes; later calls only use the local levels', async (t) => {
  const r = await redis(t)
  const cache = shared(t, r.url)
  for (let i = 0; i < 20; i++) await cache.set(`k${i}`, i)
  const destroyed = cache.destroy()
  t.is(cache.destroy(), destroyed, 'idempotent')
  await destroyed
  t.is(cache.getStats().l3.writeCount, 20)
  t.is(cache.getStats().l3.pendingWrites, 0)
  const other = shared(t, r.url)
  t.is(await other.get('k19'), 19)
})

// ---------------------------------------------------------------------------------------------
// The provider

function gold(name) {
  return JSON.parse(fs.readFileSync(path.join(SMALL_DIR, name, 'fixture.json'), 'utf8')).goldPlan
}

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-shared-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Runs one provider process; resolves with its report once it has closed. */
function providerChild(t, args, { pause = false } = {}) {
  const child = spawn(process.execPath, [PROVIDER_CHILD, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...(pause ? { PAUSE_AFTER_FIRST: '1' } : {}) },
  })
  t.teardown(() => child.exitCode === null && child.kill('SIGKILL'))
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => {
    stdout += d
    if (stdout.includes('first-done\n')) child.emit('first-done')
  })
  child.stderr.on('data', (d) => {
    stderr += d
  })
  const closed = once(child, 'close').then(([code]) => {
    if (code !== 0) throw new Error(`provider child exited ${code}: ${stderr}`)
    return JSON.parse(stdout.trim().split('\n').pop())
  })
  return { child, closed }
}

test('options.sharedCache is checked where it is given', (t) => {
  const make = (sharedCache) => () => new EnhancedBuildFixProvider({ name: 'x', type: 'buildfix', model: 'gold', options: { sharedCache } })
  t.throws(make('http://127.0.0.1:6379'), { instanceOf: TypeError, message: /^options\.sharedCache\.url must be a redis:\/\/ URL/ })
  t.throws(make({ url: 'redis://127.0.0.1', timeoutMs: -5 }), { instanceOf: RangeError, message: /^options\.sharedCache\.timeoutMs/ })
  t.throws(make(42), { instanceOf: TypeError, message: /^options\.sharedCache must be a redis:\/\/ URL or an object/ })
  t.notThrows(make('redis://127.0.0.1:1'))
  t.notThrows(make({ url: 'redis://127.0.0.1:1', keyPrefix: 'team' }))
})

redisTest('two provider processes share answers through Redis: the second never calls the model', async (t) => {
  const r = await redis(t)
  const model = await startFakeModelServer({ models: ['fake-coder:7b'] })
  t.teardown(() => model.close())
  model.reply(() => replies.json(gold('missing-export')))
  const first = await providerChild(t, [tempDir(t), r.url, model.url, 'missing-export']).closed
  t.deepEqual(first.results, [{ cached: false, successfulTests: 1 }])
  t.deepEqual(first.events, [])
  t.is(first.stats.shared.writes, 1)
  const asked = model.requests.length
  t.true(asked >= 1)
  const second = await providerChild(t, [tempDir(t), r.url, model.url, 'missing-export']).closed
  t.deepEqual(second.results, [{ cached: true, successfulTests: 1 }])
  t.is(model.requests.length, asked, 'the second process did not call the model')
  t.is(second.stats.shared.hits, 1)
  t.deepEqual(second.events, [])
})

redisTest('Redis stopped mid-run: the provider answers every request, with shared-cache-error, and no hang', async (t) => {
  const r = await redis(t)
  const model = await startFakeModelServer({ models: ['fake-coder:7b'] })
  t.teardown(() => model.close())
  model.reply(() => replies.json(gold('missing-export')))
  const { child, closed } = providerChild(t, [tempDir(t), r.url, model.url, 'missing-export', 'wrong-arg-count'], { pause: true })
  await once(child, 'first-done')
  await r.stop()
  child.stdin.write('go\n')
  const report = await closed
  t.deepEqual(
    report.results.map((r) => r.cached),
    [false, false],
  )
  t.is(report.results[0].successfulTests, 1, 'answered before Redis stopped')
  t.is(typeof report.results[1].successfulTests, 'number', 'answered after it stopped')
  t.deepEqual(
    report.events.map((e) => e.operation),
    ['get', 'set'],
  )
  for (const e of report.events) {
    t.is(e.key, 'string')
    t.regex(e.message, /shared result cache could not/)
  }
  t.true(report.stats.shared.errors >= 2)
})
