// DEBUG=buildfix:*: the `debug` package's namespace syntax, lines on stderr, the Rust cores'
// events through the one switch, and silence when off.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const debug = require('../lib/debug.js')
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** Runs `script` (CommonJS, `bench` = the package) in a child with DEBUG=`value`; its stderr lines. */
function child(value, script) {
  const env = { ...process.env }
  delete env.DEBUG
  if (value !== undefined) env.DEBUG = value
  const r = spawnSync(process.execPath, ['-e', `const bench = require(${JSON.stringify(root)});\n${script}`], {
    env,
    encoding: 'utf8',
    timeout: 60000,
  })
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`)
  return r.stderr.split('\n').filter(Boolean)
}

test.serial('namespaces: wildcards, lists and exclusions as the debug package reads them', (t) => {
  const was = process.env.DEBUG
  t.teardown(() => debug.enable(was ?? ''))
  debug.enable('buildfix:*,-buildfix:cache')
  t.true(debug.enabled('buildfix:pool'))
  t.true(debug.enabled('buildfix:worker'))
  t.false(debug.enabled('buildfix:cache'))
  t.false(debug.enabled('other:pool'))
  debug.enable('buildfix:p* buildfix:worker')
  t.true(debug.enabled('buildfix:pool'))
  t.true(debug.enabled('buildfix:provider'))
  t.true(debug.enabled('buildfix:worker'))
  t.false(debug.enabled('buildfix:loadtest'))
  debug.enable('*')
  t.true(debug.enabled('buildfix:cache'))
  debug.enable('*,-*')
  t.false(debug.enabled('buildfix:cache'), 'an exclusion wins over an inclusion')
  debug.enable('buildfix:c.che')
  t.false(debug.enabled('buildfix:cache'), 'a dot is a dot, not any character')
  const log = debug.createDebug('buildfix:pool')
  debug.enable('buildfix:pool')
  t.true(log.enabled, 'a logger follows enable()')
  t.is(debug.disable(), 'buildfix:pool')
  t.false(log.enabled)
})

test('DEBUG=buildfix:* logs JS and core events; the lines name their namespace', (t) => {
  const lines = child(
    'buildfix:*',
    `const { binding } = require(${JSON.stringify(path.join(root, 'lib', 'native.js'))})
     const cache = new bench.AdvancedCache({ maxSize: 1, cleanupInterval: 0 })
     ;(async () => {
       await cache.set('a', 1)
       await cache.set('b', 2)
       cache.destroy()
       const pool = new bench.ResourcePool({ minSize: 0, maxSize: 1, createResource: () => ({}) })
       await pool.destroy()
       binding.debugEvent('worker', 'worker 42 spawned')
       setTimeout(() => {}, 50)
     })()`,
  )
  t.true(
    lines.some((l) => / buildfix:cache cache created: lru/.test(l)),
    lines.join('\n'),
  )
  t.true(
    lines.some((l) => / buildfix:cache evicted an entry of \d+ bytes/.test(l)),
    'a core eviction reaches JS',
  )
  t.true(lines.some((l) => / buildfix:pool pool created: minSize 0, maxSize 1/.test(l)))
  t.true(lines.some((l) => / buildfix:worker worker 42 spawned/.test(l)))
  // Not a terminal: an ISO time first, as the debug package writes.
  t.true(
    lines.every((l) => /^\d{4}-\d\d-\d\dT[\d:.]+Z buildfix:/.test(l)),
    lines.join('\n'),
  )
})

test('exclusions reach the cores too; unset DEBUG prints nothing', (t) => {
  const script = `const { binding } = require(${JSON.stringify(path.join(root, 'lib', 'native.js'))})
    const cache = new bench.AdvancedCache({ maxSize: 1, cleanupInterval: 0 })
    ;(async () => {
      await cache.set('a', 1)
      await cache.set('b', 2)
      cache.destroy()
      binding.debugEvent('worker', 'worker 42 spawned')
      setTimeout(() => {}, 50)
    })()`
  const some = child('buildfix:*,-buildfix:cache', script)
  t.false(
    some.some((l) => l.includes('buildfix:cache')),
    some.join('\n'),
  )
  t.true(some.some((l) => l.includes('buildfix:worker worker 42 spawned')))
  t.deepEqual(child(undefined, script), [])
  t.deepEqual(child('other:*', script), [])
})

test("process.env.DEBUG set after loading, before creating a component, is picked up (the guide's way)", (t) => {
  const lines = child(
    undefined,
    `process.env.DEBUG = 'buildfix:*'
     const cache = new bench.AdvancedCache({ maxSize: 1, cleanupInterval: 0 })
     ;(async () => { await cache.set('a', 1); await cache.set('b', 2); cache.destroy(); setTimeout(() => {}, 50) })()`,
  )
  t.true(
    lines.some((l) => l.includes('buildfix:cache cache created')),
    lines.join('\n'),
  )
  t.true(
    lines.some((l) => l.includes('buildfix:cache evicted')),
    lines.join('\n'),
  )
})

test('core events of the provider: workers spawned, leased and stopped', (t) => {
  const lines = child(
    'buildfix:worker,buildfix:provider',
    `const os = require('node:os'), fs = require('node:fs'), path = require('node:path')
     const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-debug-'))
     const p = new bench.EnhancedBuildFixProvider({ name: 'd', type: 'buildfix', model: 'gold',
       options: { maxWorkers: 1, minWorkers: 1, cacheDir: path.join(dir, 'c'), metricsDir: path.join(dir, 'm'), workDir: path.join(dir, 'w') } })
     ;(async () => {
       await p.connect()
       await p.execute({ prompt: 'x', metadata: { fixtures: bench.listFixtures().slice(0, 1) } })
       await p.disconnect()
       fs.rmSync(dir, { recursive: true, force: true })
       setTimeout(() => {}, 50)
     })()`,
  )
  const text = lines.join('\n')
  // A checker is a thread of this process ("worker thread 1") or a process ("worker 4321").
  t.regex(text, /buildfix:worker worker (thread \d+|\d+) spawned and ready/)
  const id = text.match(/worker (thread \d+|\d+) spawned/)[1]
  t.regex(text, new RegExp(`buildfix:worker worker ${id} leased`))
  t.regex(text, /buildfix:provider connected in \d+ ms: mode bundled, model gold/)
  t.regex(text, /buildfix:provider request done in \d+ ms: 1\/1 fixtures fixed/)
  t.regex(text, /buildfix:provider disconnected/)
})
