import test from 'ava'
import { execFileSync, spawn } from 'node:child_process'
import { EventEmitter } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

import { AdvancedCache, CacheFactory, MultiLevelCache } from '@promethean/benchmark'
import * as subpath from '@promethean/benchmark/src/cache/advanced-cache'

const here = path.dirname(fileURLToPath(import.meta.url))

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-cache-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

function cache(t, config) {
  const c = new AdvancedCache({ cleanupInterval: 0, ...config })
  t.teardown(() => c.destroy())
  return c
}

test('subpath exports the same classes as the root', (t) => {
  t.is(subpath.AdvancedCache, AdvancedCache)
  t.is(subpath.CacheFactory, CacheFactory)
  t.is(subpath.MultiLevelCache, MultiLevelCache)
  t.true(new AdvancedCache({ cleanupInterval: 0 }) instanceof EventEmitter)
})

test('get returns an equal copy, not the stored object', async (t) => {
  const c = cache(t)
  const value = { plan: { title: 'fix', dsl: [{ op: 'ensureExported' }] }, n: 1.5, ok: true, none: null }
  await c.set('k', value)
  const got = await c.get('k')
  t.deepEqual(got, value)
  got.plan.title = 'changed'
  t.is((await c.get('k')).plan.title, 'fix')
  t.is(await c.get('missing'), undefined)
  t.true(c.has('k'))
  t.false(c.has('missing'))
})

test('get reads every kind of key and value exactly: long keys, non-ASCII, lone surrogates, compressed', async (t) => {
  const binding = (await import('../lib/native.js')).default.binding
  for (const compressionEnabled of [false, true]) {
    const c = cache(t, { compressionEnabled })
    const long = 'k'.repeat(5000)
    const cases = [
      ['short', { a: 1 }],
      // Longer than the reused key buffer's first size: read again at full length.
      [long, { long: true }],
      [`${'x'.repeat(127)}`, 'exactly at the first buffer size'],
      [`${'y'.repeat(128)}`, 'one past it'],
      ['clé ✓ 🎉', { text: 'naïve ✓ 🎉', list: ['é', '\u{10ffff}'] }],
      ['\ud800', 'lone lead surrogate'],
      ['\udc00', 'lone trail surrogate'],
      ['\ufffd', 'replacement character'],
      ['', 'the empty key'],
      ['big', 'v'.repeat(100000)],
    ]
    for (const [key, value] of cases) await c.set(key, value)
    for (const [key, value] of cases) t.deepEqual(await c.get(key), value, `key of length ${key.length}`)
    // A long key read must not leave its tail in the buffer the next, shorter key is read into.
    t.is(await c.get(long.slice(0, 200)), undefined)
    t.is(await c.get('shor'), undefined)
    t.is(await c.get('shortt'), undefined)
    // Values are copies: mutating one changes nothing stored.
    const got = await c.get('clé ✓ 🎉')
    got.list.push('more')
    t.deepEqual((await c.get('clé ✓ 🎉')).list, ['é', '\u{10ffff}'])
  }
  // The native read refuses a key that is not a string, naming it, and keeps working.
  const c = cache(t)
  await c.set('k', 1)
  const handle = binding.cacheOpen({ cleanupInterval: 0 }).handle
  t.teardown(() => binding.cacheFree(handle))
  for (const bad of [1, undefined, null, {}, Symbol('s')]) {
    t.throws(() => binding.cacheGet(handle, bad), { instanceOf: TypeError, message: /key/ })
  }
  t.is(binding.cacheGet(handle, 'missing'), null)
  // So does a handle that is not a number; an unknown handle is a destroyed cache.
  for (const bad of ['1', undefined, {}]) {
    t.throws(() => binding.cacheGet(bad, 'k'), { instanceOf: TypeError, message: /handle/ })
  }
  const freed = binding.cacheOpen({ cleanupInterval: 0 }).handle
  binding.cacheFree(freed)
  t.throws(() => binding.cacheGet(freed, 'k'), { message: /destroyed/ })
  t.is(await c.get('k'), 1)
})

test('values JSON cannot hold reject with TypeError and change nothing', async (t) => {
  const c = cache(t)
  await c.set('k', 1)
  const cyclic = {}
  cyclic.self = cyclic
  for (const bad of [undefined, cyclic, 10n, () => 1, Symbol('s')]) {
    const err = await t.throwsAsync(c.set('k', bad), { instanceOf: TypeError })
    t.regex(err.message, /value/)
  }
  t.is(await c.get('k'), 1)
  t.is(c.getStats().totalEntries, 1)
})

test('bad keys, TTLs and options throw TypeError/RangeError naming the argument', async (t) => {
  const c = cache(t)
  for (const key of [1, null, undefined, {}, Symbol('k')]) {
    await t.throwsAsync(c.set(key, 1), { instanceOf: TypeError, message: /key/ })
    await t.throwsAsync(c.get(key), { instanceOf: TypeError, message: /key/ })
    t.throws(() => c.has(key), { instanceOf: TypeError, message: /key/ })
  }
  for (const ttl of [-1, NaN, Infinity, 1.5]) {
    await t.throwsAsync(c.set('k', 1, ttl), { instanceOf: RangeError, message: /ttl/ })
  }
  await t.throwsAsync(c.set('k', 1, '10'), { instanceOf: TypeError, message: /ttl/ })
  for (const [name, value] of [
    ['maxSize', -1],
    ['maxSize', 0],
    ['maxSize', NaN],
    ['maxMemory', Infinity],
    ['defaultTtl', -5],
    ['cleanupInterval', -1],
  ]) {
    t.throws(() => new AdvancedCache({ [name]: value }), { instanceOf: RangeError, message: new RegExp(name) })
  }
  t.throws(() => new AdvancedCache({ evictionPolicy: 'random' }), { instanceOf: TypeError, message: /evictionPolicy/ })
  t.throws(() => new AdvancedCache('big'), { instanceOf: TypeError, message: /config/ })
  t.is(c.getStats().totalEntries, 0)
})

test('diskCacheDir that is a file or unwritable gives a clear TypeError', (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'file')
  fs.writeFileSync(file, 'x')
  t.throws(() => new AdvancedCache({ persistToDisk: true, diskCacheDir: file }), {
    instanceOf: TypeError,
    message: /diskCacheDir.*not a folder/,
  })
  if (process.getuid?.() !== 0) {
    const ro = path.join(dir, 'ro')
    fs.mkdirSync(ro, { mode: 0o500 })
    t.throws(() => new AdvancedCache({ persistToDisk: true, diskCacheDir: ro }), { instanceOf: TypeError })
  }
})

test('lru evicts the least recently read or written', async (t) => {
  const c = cache(t, { maxSize: 3 })
  await c.set('a', 1)
  await c.set('b', 2)
  await c.set('c', 3)
  await c.get('a')
  await c.set('d', 4)
  t.false(c.has('b'))
  t.true(c.has('a') && c.has('c') && c.has('d'))
  t.is(c.getStats().evictionCount, 1)
})

test('lfu evicts the fewest reads, ties to the least recent', async (t) => {
  const c = CacheFactory.createLFUCache({ maxSize: 3, cleanupInterval: 0 })
  t.teardown(() => c.destroy())
  await c.set('a', 1)
  await c.set('b', 2)
  await c.set('c', 3)
  await c.get('a')
  await c.get('a')
  await c.get('b')
  await c.get('c')
  await c.set('d', 4)
  t.false(c.has('b'))
  t.true(c.has('a') && c.has('c'))
})

test('ttl policy evicts the entry closest to expiry', async (t) => {
  const c = CacheFactory.createTTLCache({ maxSize: 2, cleanupInterval: 0 })
  t.teardown(() => c.destroy())
  await c.set('long', 1, 60000)
  await c.set('short', 2, 30000)
  await c.set('x', 3, 90000)
  t.false(c.has('short'))
  t.true(c.has('long'))
})

test('size policy evicts the largest value', async (t) => {
  const c = CacheFactory.createSizeBasedCache({ maxSize: 3, cleanupInterval: 0 })
  t.teardown(() => c.destroy())
  await c.set('small', 'x')
  await c.set('big', 'x'.repeat(1000))
  await c.set('mid', 'x'.repeat(100))
  await c.set('new', 'x'.repeat(10))
  t.false(c.has('big'))
  t.is(c.getStats().totalEntries, 3)
})

test('maxMemory is enforced on stored bytes', async (t) => {
  const c = cache(t, { maxMemory: 100 })
  for (let i = 0; i < 20; i++) await c.set(`k${i}`, 'x'.repeat(20)) // 22 bytes of JSON each
  const s = c.getStats()
  t.true(s.totalSize <= 100)
  t.is(s.totalEntries, 4)
  await t.throwsAsync(c.set('huge', 'x'.repeat(200)), { instanceOf: RangeError })
})

test('regression: updating a key in a full cache evicts nothing', async (t) => {
  const c = cache(t, { maxSize: 2 })
  await c.set('a', 1)
  await c.set('b', 2)
  await c.set('a', 10)
  t.true(c.has('b'))
  t.is(await c.get('a'), 10)
  t.is(c.getStats().evictionCount, 0)
})

test('regression: entries set in the same millisecond still evict (no spin)', async (t) => {
  const c = cache(t, { maxSize: 100 })
  for (let i = 0; i < 10000; i++) await c.set(`k${i}`, i)
  t.is(c.getStats().totalEntries, 100)
  t.true(c.has('k9999'))
  t.false(c.has('k9899'))
})

test('regression: an expired entry is never returned and its size is released', async (t) => {
  const c = cache(t)
  await c.set('k', 'x'.repeat(50), 20)
  t.true(c.getStats().totalSize > 0)
  await sleep(40)
  t.false(c.has('k'))
  t.is(await c.get('k'), undefined)
  t.is(c.getStats().totalSize, 0)
  t.is(c.getStats().totalEntries, 0)
})

test('regression: 150k entries do not overflow the stack', async (t) => {
  const c = cache(t, { maxSize: 200000 })
  for (let i = 0; i < 150000; i++) await c.set(`k${i}`, i)
  const s = c.getStats()
  t.is(s.totalEntries, 150000)
  t.true(s.oldestEntry <= s.newestEntry)
})

test('defaultTtl and per-entry ttl; 0 never expires', async (t) => {
  const c = cache(t, { defaultTtl: 20 })
  await c.set('default', 1)
  await c.set('forever', 2, 0)
  await c.set('long', 3, 60000)
  await sleep(40)
  t.false(c.has('default'))
  t.true(c.has('forever'))
  t.true(c.has('long'))
})

test('periodic cleanup sweeps expired entries and emits cleanup', async (t) => {
  const c = new AdvancedCache({ cleanupInterval: 20 })
  t.teardown(() => c.destroy())
  await c.set('a', 1, 10)
  await c.set('b', 1, 10)
  await c.set('c', 1, 60000)
  const event = await new Promise((resolve) => c.once('cleanup', resolve))
  t.deepEqual(event, { evicted: 2 })
  t.is(c.getStats().totalEntries, 1)
})

test('events carry the key and the entry', async (t) => {
  const c = cache(t)
  const seen = []
  for (const name of ['cache-hit', 'cache-set', 'cache-delete', 'cache-clear']) {
    c.on(name, (e) => seen.push([name, e]))
  }
  await c.set('k', { v: 1 }, 1000, { source: 'test' })
  await c.get('k')
  await c.delete('k')
  t.false(await c.delete('k'))
  await c.clear()
  t.deepEqual(
    seen.map(([n]) => n),
    ['cache-set', 'cache-hit', 'cache-delete', 'cache-clear'],
  )
  const hit = seen[1][1]
  t.is(hit.key, 'k')
  t.deepEqual(hit.entry.value, { v: 1 })
  t.deepEqual(hit.entry.metadata, { source: 'test' })
  t.is(hit.entry.ttl, 1000)
  t.is(hit.entry.accessCount, 1)
})

test('stats: hits, misses, rate and access time', async (t) => {
  const c = cache(t)
  await c.set('a', 1)
  await c.get('a')
  await c.get('a')
  await c.get('zz')
  const s = c.getStats()
  t.is(s.hitCount, 2)
  t.is(s.missCount, 1)
  t.is(s.hitRate, 2 / 3)
  t.true(s.avgAccessTime >= 0 && s.avgAccessTime < 1)
  t.true(s.newestEntry > 0)
})

test('compressionEnabled really stores fewer bytes', async (t) => {
  const value = Array.from({ length: 200 }, (_, i) => ({ fixture: 'missing-export', step: i % 3 }))
  const plain = cache(t)
  const packed = cache(t, { compressionEnabled: true })
  await plain.set('k', value)
  await packed.set('k', value)
  t.true(packed.getStats().totalSize * 5 < plain.getStats().totalSize)
  t.deepEqual(await packed.get('k'), value)
})

test('persistent cache: a new cache on the folder loads valid entries with their remaining TTL', async (t) => {
  const dir = tempDir(t)
  const a = new AdvancedCache({ persistToDisk: true, diskCacheDir: dir, cleanupInterval: 0 })
  await a.set('buildfix:result', { ok: true }, 60000)
  await a.set('short', 1, 30)
  await a.set('deleted', 2)
  await a.delete('deleted')
  a.destroy()
  await sleep(50)
  const b = cache(t, { persistToDisk: true, diskCacheDir: dir })
  t.deepEqual(await b.get('buildfix:result'), { ok: true })
  t.is(await b.get('short'), undefined)
  t.is(await b.get('deleted'), undefined)
})

test('persistent cache: any string is a key and nothing is written outside the folder', async (t) => {
  const root = tempDir(t)
  const dir = path.join(root, 'cache')
  const keys = ['../../etc/passwd', '../escape', '/abs/path', 'a\\b', '\u0000', '😀'.repeat(2500), '', 'buildfix:result']
  const a = new AdvancedCache({ persistToDisk: true, diskCacheDir: dir, cleanupInterval: 0 })
  for (const [i, k] of keys.entries()) await a.set(k, i)
  a.destroy()
  t.deepEqual(fs.readdirSync(root), ['cache'])
  const b = cache(t, { persistToDisk: true, diskCacheDir: dir })
  for (const [i, k] of keys.entries()) t.is(await b.get(k), i)
})

test('persistent cache: a damaged file is skipped and reported, never fatal', async (t) => {
  const dir = tempDir(t)
  const a = new AdvancedCache({ persistToDisk: true, diskCacheDir: dir, cleanupInterval: 0 })
  await a.set('good', 1)
  await a.set('bad', 2)
  a.destroy()
  const files = fs.readdirSync(dir)
  t.is(files.length, 2)
  // Damage one file: cut it in half.
  const victim = path.join(dir, files[0])
  const bytes = fs.readFileSync(victim)
  fs.writeFileSync(victim, bytes.subarray(0, bytes.length >> 1))
  const b = cache(t, { persistToDisk: true, diskCacheDir: dir })
  const report = await new Promise((resolve) => b.once('disk-load-error', resolve))
  t.is(report.path, victim)
  t.true(report.error instanceof Error)
  t.is(b.getStats().totalEntries, 1)
})

test('persistent cache: write failures emit disk-save-error and keep the memory entry', async (t) => {
  const dir = tempDir(t)
  const c = cache(t, { persistToDisk: true, diskCacheDir: dir })
  // Replace the folder with a file after start: every later write fails.
  fs.rmSync(dir, { recursive: true })
  fs.writeFileSync(dir, 'not a folder')
  const errors = []
  c.on('disk-save-error', (e) => errors.push(e))
  await c.set('k', 1)
  t.is(errors.length, 1)
  t.is(errors[0].key, 'k')
  t.is(await c.get('k'), 1)
  fs.rmSync(dir)
})

test('crash safety: SIGKILL during a write storm never leaves a damaged visible entry', async (t) => {
  const dir = tempDir(t)
  const child = path.join(here, 'helpers', 'cache-write-storm.mjs')
  const rounds = 12
  for (let round = 0; round < rounds; round++) {
    const proc = spawn(process.execPath, [child, dir, String(round)], { stdio: ['ignore', 'pipe', 'inherit'] })
    // Wait until it is writing, then kill it at a random moment.
    await new Promise((resolve) => proc.stdout.once('data', resolve))
    await sleep(5 + Math.random() * 60)
    proc.kill('SIGKILL')
    await new Promise((resolve) => proc.once('exit', resolve))
  }
  const loadErrors = []
  const c = new AdvancedCache({ persistToDisk: true, diskCacheDir: dir, cleanupInterval: 0, maxSize: 100000 })
  c.on('disk-load-error', (e) => loadErrors.push(e))
  await c.ready
  const entries = fs.readdirSync(dir).filter((f) => f.endsWith('.entry'))
  t.true(entries.length > 0)
  t.is(c.getStats().totalEntries, entries.length)
  for (let i = 0; i < 500; i++) {
    const value = await c.get(`key-${i}`)
    if (value === undefined) continue
    // Every value proves its own integrity: it names its key and carries its checksum.
    t.is(value.key, `key-${i}`)
    t.is(value.payload.length, value.len)
    t.is(
      value.sum,
      [...value.payload].reduce((a, ch) => (a * 31 + ch.charCodeAt(0)) >>> 0, 7),
    )
  }
  t.deepEqual(loadErrors, [])
  c.destroy()
})

test('MultiLevelCache: the guide example works and l2 survives a restart', async (t) => {
  const dir = tempDir(t)
  const make = () =>
    new MultiLevelCache({
      l1: { maxSize: 100, defaultTtl: 300000 },
      l2: { maxSize: 1000, defaultTtl: 3600000, persistToDisk: true, diskCacheDir: dir },
    })
  const result = { fixture: 'missing-export', success: true, errorsResolved: 1 }
  const first = make()
  await first.set('buildfix:result', result, 600000)
  const hits = []
  first.on('l1-hit', () => hits.push('l1'))
  t.deepEqual(await first.get('buildfix:result'), result)
  t.deepEqual(hits, ['l1'])
  first.destroy()

  const second = make()
  t.teardown(() => second.destroy())
  second.on('l1-hit', () => hits.push('l1'))
  second.on('l2-hit', () => hits.push('l2'))
  t.deepEqual(await second.get('buildfix:result'), result)
  t.deepEqual(await second.get('buildfix:result'), result)
  t.deepEqual(hits, ['l1', 'l2', 'l1'])
  const stats = second.getStats()
  t.is(stats.l1.totalEntries, 1)
  t.is(stats.l2.totalEntries, 1)
  t.true(await second.delete('buildfix:result'))
  t.is(await second.get('buildfix:result'), undefined)
})

test('MultiLevelCache without l2 is memory only', async (t) => {
  const m = new MultiLevelCache()
  t.teardown(() => m.destroy())
  await m.set('k', 1)
  t.is(await m.get('k'), 1)
  t.is(m.getStats().l2, undefined)
  t.is(m.l1.config.maxSize, 100)
})

test('a live cache does not keep the process alive', async (t) => {
  // The child prints "ready" once its caches are live; with nothing else pending it must exit
  // right after. A cache whose timer or writer kept it alive would never exit at all.
  const code = `
    const { AdvancedCache, MultiLevelCache } = require('@promethean/benchmark')
    const c = new AdvancedCache({ cleanupInterval: 10 })
    const m = new MultiLevelCache({ l2: { diskCacheDir: process.argv[1] } })
    Promise.all([c.set('k', 1), m.set('k', 2)]).then(() => process.stdout.write('ready'))
  `
  const dir = tempDir(t)
  const proc = spawn(process.execPath, ['-e', code, dir], { stdio: ['ignore', 'pipe', 'inherit'], cwd: path.join(here, '..') })
  await new Promise((resolve) => proc.stdout.once('data', resolve))
  const ready = Date.now()
  const killer = setTimeout(() => proc.kill('SIGKILL'), 20000)
  const [exitCode, signal] = await new Promise((resolve) => proc.once('exit', (c, s) => resolve([c, s])))
  clearTimeout(killer)
  t.is(signal, null, 'the child had to be killed: something kept it alive')
  t.is(exitCode, 0)
  t.log(`exit ${Date.now() - ready} ms after its caches were live`)
})

test('stress: caches dropped without destroy() are freed (no native leak)', async (t) => {
  // 400 caches of ~1 MB each, never destroyed: 400 MB if the native side leaked.
  const code = `
    const { AdvancedCache } = require('@promethean/benchmark')
    const value = 'x'.repeat(1000)
    let peak = 0
    for (let round = 0; round < 400; round++) {
      const c = new AdvancedCache({ cleanupInterval: 0, maxSize: 2000 })
      for (let i = 0; i < 1000; i++) c.set('k' + i, value)
      if (round % 20 === 0) {
        global.gc()
        await new Promise((r) => setTimeout(r, 5))
        global.gc()
        peak = Math.max(peak, process.memoryUsage().rss)
      }
    }
    process.stdout.write(JSON.stringify({ peak }))
  `
  const proc = spawn(process.execPath, ['--expose-gc', '--input-type=commonjs', '-e', `(async () => {${code}})()`], {
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: path.join(here, '..'),
  })
  let out = ''
  proc.stdout.on('data', (d) => (out += d))
  const exitCode = await new Promise((resolve) => proc.once('close', resolve))
  t.is(exitCode, 0)
  const { peak } = JSON.parse(out)
  t.log(`peak RSS ${(peak / 1e6).toFixed(0)} MB`)
  t.true(peak < 250e6, `peak RSS ${(peak / 1e6).toFixed(0)} MB`)
})

// Lone surrogates are valid JS strings; so is U+FFFD, which a lossy conversion turns them into.
const SURROGATE_KEYS = ['\ud800', '\udc00', '\ufffd', 'a\ud800b', '\udc00\ud800', '😀']

test('regression: keys made of lone surrogates are distinct keys in memory and on disk', async (t) => {
  const dir = tempDir(t)
  const a = new AdvancedCache({ persistToDisk: true, diskCacheDir: dir, cleanupInterval: 0 })
  const setKeys = []
  a.on('cache-set', (e) => setKeys.push(e.key))
  for (const [i, k] of SURROGATE_KEYS.entries()) await a.set(k, i)
  t.is(a.getStats().totalEntries, SURROGATE_KEYS.length)
  for (const [i, k] of SURROGATE_KEYS.entries()) t.is(await a.get(k), i)
  t.deepEqual(setKeys, SURROGATE_KEYS)
  a.destroy()
  t.is(fs.readdirSync(dir).filter((f) => f.endsWith('.entry')).length, SURROGATE_KEYS.length)

  const b = cache(t, { persistToDisk: true, diskCacheDir: dir })
  await b.ready
  t.is(b.getStats().totalEntries, SURROGATE_KEYS.length)
  for (const [i, k] of SURROGATE_KEYS.entries()) t.is(await b.get(k), i, `key ${JSON.stringify(k)}`)
  t.true(await b.delete('\ud800'))
  t.is(await b.get('\udc00'), 1)
  t.is(await b.get('\ufffd'), 2)
})

test('regression: keys handed back by the native layer are the exact original strings', async (t) => {
  // The key of a failed disk write is built from the native store's own copy of each key (the
  // core's round trip of every UTF-16 string is tested in src/cache/key.rs).
  const dir = tempDir(t)
  const c = cache(t, { persistToDisk: true, diskCacheDir: dir })
  fs.rmSync(dir, { recursive: true })
  fs.writeFileSync(dir, 'not a folder')
  const errors = []
  c.on('disk-save-error', (e) => errors.push(e.key))
  for (const k of SURROGATE_KEYS) await c.set(k, 1)
  t.deepEqual(errors, SURROGATE_KEYS)
  fs.rmSync(dir)
})

test('regression: a MultiLevelCache value too large for l1 is stored in l2 only and get serves it', async (t) => {
  const big = 'x'.repeat(1000)
  const m = new MultiLevelCache({
    l1: { maxMemory: 100, cleanupInterval: 0 },
    l2: { diskCacheDir: tempDir(t), cleanupInterval: 0 },
  })
  t.teardown(() => m.destroy())
  await m.set('big', big)
  t.false(m.l1.has('big'))
  t.true(m.l2.has('big'))
  // Served from l2 every time, never promoted into a level that cannot hold it.
  t.is(await m.get('big'), big)
  t.is(await m.get('big'), big)
  t.false(m.l1.has('big'))
  // A key whose new value no longer fits l1 loses its older l1 copy: nothing stale is served.
  await m.set('k', 1)
  t.true(m.l1.has('k'))
  await m.set('k', big)
  t.false(m.l1.has('k'))
  t.is(await m.get('k'), big)
})

test('MultiLevelCache: a value too large for every level rejects and changes nothing', async (t) => {
  const m = new MultiLevelCache({
    l1: { maxMemory: 100, cleanupInterval: 0 },
    l2: { maxMemory: 100, diskCacheDir: tempDir(t), cleanupInterval: 0 },
  })
  t.teardown(() => m.destroy())
  await m.set('k', 1)
  await t.throwsAsync(m.set('k', 'x'.repeat(1000)), { instanceOf: RangeError, message: /maxMemory/ })
  t.is(await m.l1.get('k'), 1)
  t.is(await m.l2.get('k'), 1)
  t.is(await m.get('k'), 1)
})

test('regression: MultiLevelCache promotes an l2 entry with its remaining TTL, never past it', async (t) => {
  const m = new MultiLevelCache({ l1: { cleanupInterval: 0 }, l2: { persistToDisk: false, cleanupInterval: 0 } })
  t.teardown(() => m.destroy())
  const expiry = (e) => e.entry.timestamp + e.entry.ttl
  const seen = {}
  m.on('l1-hit', (e) => (seen.l1 = e))
  m.on('l2-hit', (e) => (seen.l2 = e))

  // The promoted copy expires exactly when the l2 entry does (not after l1's defaultTtl).
  await m.set('long', 1, 60000)
  await m.l1.delete('long')
  t.is(await m.get('long'), 1)
  t.true(m.l1.has('long'))
  t.is(await m.get('long'), 1)
  t.is(seen.l1.entry.ttl, 60000)
  t.is(expiry(seen.l1), expiry(seen.l2))

  // An entry that never expires stays so when promoted.
  await m.set('forever', 2, 0)
  await m.l1.delete('forever')
  t.is(await m.get('forever'), 2)
  t.is(await m.get('forever'), 2)
  t.is(seen.l1.entry.ttl, 0)

  // Once its TTL has passed, a promoted entry is gone from both levels.
  await m.set('short', 3, 300)
  await m.l1.delete('short')
  await m.get('short')
  while (m.l2.has('short')) await sleep(20)
  t.false(m.l1.has('short'))
  t.is(await m.get('short'), undefined)
})

test('regression: an empty diskCacheDir is refused, naming it, and nothing is left running', (t) => {
  // Cleanup timers are unref'd, so process.getActiveResourcesInfo() does not list them: count
  // the intervals started and not cleared instead (the test is synchronous, nothing interleaves).
  const live = new Set()
  const { setInterval: start, clearInterval: stop } = globalThis
  globalThis.setInterval = (...args) => {
    const timer = start(...args)
    live.add(timer)
    return timer
  }
  globalThis.clearInterval = (timer) => {
    live.delete(timer)
    stop(timer)
  }
  try {
    for (const persistToDisk of [true, false]) {
      t.throws(() => new AdvancedCache({ persistToDisk, diskCacheDir: '' }), {
        instanceOf: TypeError,
        message: /diskCacheDir/,
      })
    }
    t.throws(() => new MultiLevelCache({ l2: { diskCacheDir: '' } }), { instanceOf: TypeError, message: /diskCacheDir/ })
  } finally {
    Object.assign(globalThis, { setInterval: start, clearInterval: stop })
  }
  t.is(live.size, 0)
})

test('regression: clear() that cannot empty the folder rejects and emits disk-save-error', async (t) => {
  const dir = tempDir(t)
  const c = cache(t, { persistToDisk: true, diskCacheDir: dir })
  await c.set('a', 1)
  await c.set('b', 2)
  const [first] = fs.readdirSync(dir).filter((f) => f.endsWith('.entry'))
  // A non-empty folder where an entry file was: unlink fails with EISDIR, for root too (a
  // read-only folder would not stop root, and a read-only mount needs privileges tests lack).
  const blocked = path.join(dir, first)
  fs.rmSync(blocked)
  fs.mkdirSync(blocked)
  fs.writeFileSync(path.join(blocked, 'inside'), '')
  const errors = []
  c.on('disk-save-error', (e) => errors.push(e))
  const err = await t.throwsAsync(c.clear())
  t.regex(err.message, /clear/)
  t.is(errors.length, 1)
  t.is(errors[0].path, blocked)
  t.true(errors[0].error instanceof Error)
  // The other entry file did go.
  t.deepEqual(
    fs.readdirSync(dir).filter((f) => f.endsWith('.entry')),
    [first],
  )
  fs.rmSync(blocked, { recursive: true })

  // The folder itself replaced by a file: it cannot even be listed.
  await c.set('c', 3)
  fs.rmSync(dir, { recursive: true })
  fs.writeFileSync(dir, 'not a folder')
  errors.length = 0
  await t.throwsAsync(c.clear(), { message: /clear/ })
  t.is(errors.length, 1)
  t.is(errors[0].path, dir)
  fs.rmSync(dir)
})

/** Runs the hostile-folder helper on `dir`; resolves with its report, or fails if it hangs or dies. */
async function openInChild(t, dir) {
  const child = path.join(here, 'helpers', 'cache-hostile-folder.mjs')
  // Address space capped at 3 GB: an unbounded read dies here instead of eating the machine.
  const proc = spawn('/bin/sh', ['-c', 'ulimit -v 3000000 && exec "$0" "$@"', process.execPath, child, dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  proc.stdout.on('data', (d) => (out += d))
  proc.stderr.on('data', (d) => (err += d))
  // 'close', not 'exit': the child's output may still be in the pipe when it has exited.
  const killer = setTimeout(() => proc.kill('SIGKILL'), 120000)
  const [code, signal] = await new Promise((resolve) => proc.once('close', (c, s) => resolve([c, s])))
  clearTimeout(killer)
  t.is(signal, null, `the child was killed (${signal}): it hung; output ${JSON.stringify(out)}`)
  t.is(code, 0, `the child failed: ${err}`)
  const lines = out.trim().split('\n')
  t.is(lines[0], 'constructed')
  return JSON.parse(lines[1])
}

async function folderWithVictim(t) {
  const dir = tempDir(t)
  const a = new AdvancedCache({ persistToDisk: true, diskCacheDir: dir, cleanupInterval: 0 })
  await a.set('good', 1)
  const before = new Set(fs.readdirSync(dir))
  await a.set('victim', 2)
  a.destroy()
  const victim = path.join(
    dir,
    fs.readdirSync(dir).find((f) => !before.has(f)),
  )
  fs.rmSync(victim)
  return { dir, victim }
}

test('regression: a FIFO named like an entry file does not hang the constructor', async (t) => {
  const { dir, victim } = await folderWithVictim(t)
  execFileSync('mkfifo', [victim])
  const report = await openInChild(t, dir)
  t.is(report.good, 1)
  t.is(report.entries, 1)
  t.deepEqual(
    report.loadErrors.map((e) => e.path),
    [victim],
  )
  t.regex(report.loadErrors[0].message, /regular file/)
})

test('regression: a symlink to /dev/zero named like an entry file is skipped, not read', async (t) => {
  const { dir, victim } = await folderWithVictim(t)
  fs.symlinkSync('/dev/zero', victim)
  const report = await openInChild(t, dir)
  t.is(report.good, 1)
  t.is(report.entries, 1)
  t.deepEqual(
    report.loadErrors.map((e) => e.path),
    [victim],
  )
})

test('regression: a symlink to a valid entry elsewhere is not followed', async (t) => {
  const { dir, victim } = await folderWithVictim(t)
  // A real entry file for 'victim', kept outside the folder and linked in.
  const other = tempDir(t)
  const b = new AdvancedCache({ persistToDisk: true, diskCacheDir: other, cleanupInterval: 0 })
  await b.set('victim', 3)
  b.destroy()
  fs.symlinkSync(path.join(other, path.basename(victim)), victim)
  const report = await openInChild(t, dir)
  t.is(report.entries, 1)
  t.deepEqual(
    report.loadErrors.map((e) => e.path),
    [victim],
  )
})

test('regression: an entry file whose header disagrees with its size is damaged, not trusted', async (t) => {
  const { dir, victim } = await folderWithVictim(t)
  const other = tempDir(t)
  const b = new AdvancedCache({ persistToDisk: true, diskCacheDir: other, cleanupInterval: 0 })
  await b.set('victim', 'x'.repeat(100))
  b.destroy()
  // A real entry with 1 MB of zeros appended: the header says how long it is.
  const bytes = fs.readFileSync(path.join(other, path.basename(victim)))
  fs.writeFileSync(victim, Buffer.concat([bytes, Buffer.alloc(1 << 20)]))
  const report = await openInChild(t, dir)
  t.is(report.entries, 1)
  t.deepEqual(
    report.loadErrors.map((e) => e.path),
    [victim],
  )
  t.regex(report.loadErrors[0].message, /header/)
})

test('regression: caches dropped without destroy() do not leak writer threads or timers', async (t) => {
  // 200 persistent caches with the default cleanup interval, dropped: every one must be
  // collected (a timer holding its cache would prevent that), and the threads that write for
  // them are a shared few, not one per cache.
  const code = `
    const fs = require('node:fs')
    const { AdvancedCache } = require('@promethean/benchmark')
    const threads = () => fs.readdirSync('/proc/self/task').length
    const collected = new FinalizationRegistry(() => finalized++)
    let finalized = 0
    async function make(dir) {
      const readies = []
      for (let i = 0; i < 200; i++) {
        const c = new AdvancedCache({ persistToDisk: true, diskCacheDir: dir })
        collected.register(c, i)
        readies.push(c.ready)
        c.set('k' + i, i)
      }
      const peak = threads()
      await Promise.all(readies)
      return peak
    }
    ;(async () => {
      const peak = await make(process.argv[1])
      // Wait for the collections to be observed (an event), with a cap so a leak still ends.
      for (let i = 0; i < 200 && finalized < 200; i++) {
        global.gc()
        await new Promise((r) => setTimeout(r, 10))
      }
      await new Promise((r) => setImmediate(r))
      process.stdout.write(JSON.stringify({ peak, finalized, threads: threads() }))
    })()
  `
  const dir = tempDir(t)
  const proc = spawn(process.execPath, ['--expose-gc', '-e', code, dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: path.join(here, '..'),
  })
  let out = ''
  proc.stdout.on('data', (d) => (out += d))
  const killer = setTimeout(() => proc.kill('SIGKILL'), 60000)
  const [exitCode, signal] = await new Promise((resolve) => proc.once('close', (c, s) => resolve([c, s])))
  clearTimeout(killer)
  t.is(signal, null, `the child had to be killed: something kept it alive; output ${out}`)
  t.is(exitCode, 0)
  const { peak, finalized, threads } = JSON.parse(out)
  t.log(`peak ${peak} threads, ${threads} after gc, ${finalized}/200 caches collected`)
  t.is(finalized, 200)
  t.true(peak < 20, `${peak} threads while 200 caches were live`)
  t.true(threads < 20, `${threads} threads after 200 dropped caches`)
})

test('persistent cache: ready, AdvancedCache.open, and calls made before the load', async (t) => {
  const dir = tempDir(t)
  const a = await AdvancedCache.open({ persistToDisk: true, diskCacheDir: dir, cleanupInterval: 0 })
  t.true(a instanceof AdvancedCache)
  await a.set('disk', 'old')
  await a.set('kept', 1)
  a.destroy()
  const b = cache(t, { persistToDisk: true, diskCacheDir: dir })
  // Made before the folder is read: they wait for it and run in order, so the set wins over
  // the value on disk and the get sees the set.
  const set = b.set('disk', 'new')
  const got = b.get('disk')
  const kept = b.get('kept')
  await b.ready
  await set
  t.is(await got, 'new')
  t.is(await kept, 1)
  t.true(b.has('kept'))
  t.is(b.getStats().totalEntries, 2)
  // A memory-only cache is ready at once.
  const m = cache(t)
  t.is(await m.ready, undefined)
  const loaded = await AdvancedCache.open({ persistToDisk: true, diskCacheDir: dir, cleanupInterval: 0 })
  t.teardown(() => loaded.destroy())
  t.is(loaded.getStats().totalEntries, 2)
  await t.throwsAsync(AdvancedCache.open({ maxSize: -1 }), { instanceOf: RangeError, message: /maxSize/ })
})

test('persistent cache: destroy() leaves queued writes to land, and a new cache on the folder sees them', async (t) => {
  const dir = tempDir(t)
  const a = new AdvancedCache({ persistToDisk: true, diskCacheDir: dir, cleanupInterval: 0 })
  await a.ready
  const pending = []
  for (let i = 0; i < 300; i++) pending.push(a.set(`k${i}`, 'x'.repeat(1000)))
  // Once loaded, each set reaches the native side before it returns. destroy() returns at once
  // (it used to join the writer thread); the queued writes still land.
  a.destroy()
  const b = await AdvancedCache.open({ persistToDisk: true, diskCacheDir: dir, cleanupInterval: 0, maxSize: 1000 })
  t.teardown(() => b.destroy())
  t.is(b.getStats().totalEntries, 300)
  await Promise.all(pending)
})

test('persistent cache: a script that ends with destroy() still has its writes on disk', async (t) => {
  // destroy() no longer waits for the writes; the process must, before it exits on its own.
  const dir = tempDir(t)
  const code = `
    const { AdvancedCache } = require('@promethean/benchmark')
    AdvancedCache.open({ persistToDisk: true, diskCacheDir: process.argv[1], maxSize: 10000 }).then((c) => {
      for (let i = 0; i < 3000; i++) c.set('k' + i, 'x'.repeat(2000))
      c.destroy()
    })
  `
  const proc = spawn(process.execPath, ['-e', code, dir], { stdio: ['ignore', 'ignore', 'inherit'], cwd: path.join(here, '..') })
  const killer = setTimeout(() => proc.kill('SIGKILL'), 60000)
  const [exitCode, signal] = await new Promise((resolve) => proc.once('exit', (c, s) => resolve([c, s])))
  clearTimeout(killer)
  t.is(signal, null)
  t.is(exitCode, 0)
  t.is(fs.readdirSync(dir).filter((f) => f.endsWith('.entry')).length, 3000)
})
