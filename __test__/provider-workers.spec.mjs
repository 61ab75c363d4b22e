// The provider's workers sized to the machine and scaled to demand: one warm worker by default,
// more started while jobs queue, stopped again once idle, never more than the machine runs well.
import test from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

import { EnhancedBuildFixProvider } from '@promethean/benchmark'

const CORES = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-workers-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

function make(t, options = {}) {
  const dir = tempDir(t)
  const p = new EnhancedBuildFixProvider({
    name: 'buildfix-workers',
    type: 'buildfix',
    model: 'gold',
    options: {
      cache: false,
      metricsDir: path.join(dir, 'metrics'),
      workDir: path.join(dir, 'work'),
      ...options,
    },
  })
  t.teardown(() => p.disconnect())
  return p
}

/** The warnings `fn` makes the process emit, synchronously. */
function warningsOf(fn) {
  const seen = []
  const on = (w) => seen.push(w)
  process.on('warning', on)
  const emit = process.emitWarning
  // emitWarning delivers on the next tick; record at the call so the test need not wait.
  process.emitWarning = (message, options) => seen.push({ message: String(message), ...options })
  try {
    return { value: fn(), seen }
  } finally {
    process.emitWarning = emit
    process.off('warning', on)
  }
}

/** A process exists and is not a zombie. */
function alive(pid) {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

async function until(t, what, check, ms = 30000) {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(25)
  }
}

test('by default one worker is warm and at most one per core may run', async (t) => {
  const { value: p, seen } = warningsOf(() => make(t))
  t.deepEqual(seen, [], 'defaults never warn')
  await p.connect()
  const status = p.getProcessPoolStatus()
  t.is(status.minSize, 1)
  t.is(status.size, 1, 'connect() resolved with one warm worker')
  t.deepEqual(p.workerPids(), [], 'the warm checker is a thread of this process: no process of its own')
  t.true(status.maxSize >= 1 && status.maxSize <= CORES, `maxSize ${status.maxSize} within ${CORES} cores`)
})

test('maxWorkers above what the machine runs well is capped with a warning that says why', (t) => {
  const { value: p, seen } = warningsOf(() => make(t, { maxWorkers: CORES + 6, minWorkers: CORES + 6 }))
  const status = p.getProcessPoolStatus()
  t.true(status.maxSize <= CORES, 'capped to the cores')
  t.is(status.minSize, status.maxSize, 'the warm count follows the cap')
  t.true(seen.length >= 1)
  t.is(seen[0].code, 'BUILDFIX_WORKERS_CAPPED')
  t.is(seen[0].type, 'BuildFixWarning')
  t.regex(seen[0].message, new RegExp(`options\\.maxWorkers ${CORES + 6} .*${CORES} cores.*using ${status.maxSize}`))
})

test('a maxWorkers the machine can run is kept and not warned about', (t) => {
  const { value: p, seen } = warningsOf(() => make(t, { maxWorkers: 1 }))
  t.deepEqual(seen, [])
  t.is(p.getProcessPoolStatus().maxSize, 1)
  t.is(p.getProcessPoolStatus().minSize, 1)
})

test('bad worker options throw naming the option', (t) => {
  t.throws(() => make(t, { workerGrowAfter: -1 }), { instanceOf: RangeError, message: /options\.workerGrowAfter/ })
  t.throws(() => make(t, { workerGrowAfter: '1s' }), { instanceOf: TypeError, message: /options\.workerGrowAfter/ })
  t.throws(() => make(t, { workerIdleTimeout: 0 }), { instanceOf: RangeError, message: /options\.workerIdleTimeout/ })
  t.throws(() => make(t, { workerIdleTimeout: Infinity }), { instanceOf: RangeError, message: /options\.workerIdleTimeout/ })
  t.throws(() => make(t, { maxWorkers: 0 }), { instanceOf: RangeError, message: /options\.maxWorkers/ })
})

test.serial('workers grow while jobs queue, up to maxWorkers, and the extra one stops when idle', async (t) => {
  if (CORES < 2) return t.pass('one core: the pool never grows past one worker')
  // Worker processes, so the test can watch them start and exit (the pool's rules are the same
  // for threads).
  const p = make(t, { checkers: 'process', maxWorkers: 2, workerGrowAfter: 0, workerIdleTimeout: 1000 })
  await p.connect()
  const [warm] = p.workerPids()
  t.is(p.workerPids().length, 1)
  // The whole small set at once: seven jobs queue behind the one warm worker.
  const response = await p.execute({ prompt: 'Fix', metadata: { fixtureType: 'small' } })
  t.is(response.metadata.successfulTests, response.metadata.totalTests, response.content)
  // A worker started for the queue counts once it is ready, maybe after the request ended.
  await until(t, 'the second worker to start', () => p.getProcessPoolStatus().created === 2)
  const both = p.workerPids()
  t.true(both.includes(warm) && both.length === 2)
  await until(t, 'the idle worker above minWorkers to stop', () => p.getProcessPoolStatus().size === 1)
  const [kept] = p.workerPids()
  const stopped = both.find((pid) => pid !== kept)
  await until(t, 'the stopped worker to exit', () => !alive(stopped))
  t.true(alive(kept))
  t.is(p.getProcessPoolStatus().destroyed, 1)
  t.is(p.getProcessPoolStatus().created, 2, 'never more than maxWorkers')
  // Demand again: it grows again.
  await p.execute({ prompt: 'Fix', metadata: { fixtureType: 'small' } })
  await until(t, 'a worker to start for the new queue', () => p.getProcessPoolStatus().created === 3)
  t.true(p.getProcessPoolStatus().size <= 2)
})

test.serial('a queue that drains within workerGrowAfter starts no worker', async (t) => {
  const p = make(t, { maxWorkers: Math.min(2, CORES), workerGrowAfter: 600000 })
  await p.connect()
  const response = await p.execute({ prompt: 'Fix', metadata: { fixtureType: 'small' } })
  t.is(response.metadata.successfulTests, response.metadata.totalTests, response.content)
  const status = p.getProcessPoolStatus()
  t.is(status.created, 1, 'the one warm worker ran all eight jobs')
  t.is(status.size, 1)
})
