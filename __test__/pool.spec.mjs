import test from 'ava'
import { spawn } from 'node:child_process'
import { EventEmitter } from 'node:events'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

import { BoundedCollection, ResourceManager, ResourcePool } from '@promethean/benchmark'
import * as subpath from '@promethean/benchmark/src/metrics/resource-manager'
import * as subpathJs from '@promethean/benchmark/src/metrics/resource-manager.js'

const here = path.dirname(fileURLToPath(import.meta.url))

/** A factory of distinct objects that records what it made and what was destroyed. */
function tracker({ delay = 0 } = {}) {
  const t = { made: [], destroyed: new Map(), live: 0, maxLive: 0 }
  t.create = async () => {
    if (delay) await sleep(delay)
    const r = { id: t.made.length }
    t.made.push(r)
    t.live++
    t.maxLive = Math.max(t.maxLive, t.live)
    return r
  }
  t.destroy = async (r) => {
    t.destroyed.set(r, (t.destroyed.get(r) ?? 0) + 1)
    t.live--
  }
  t.destroyedOnce = () => t.made.every((r) => t.destroyed.get(r) === 1)
  return t
}

function manager(t, options = { cleanupInterval: 0 }) {
  const m = new ResourceManager(options)
  t.teardown(() => m.destroy())
  return m
}

function pool(t, config) {
  const p = new ResourcePool(config)
  t.teardown(() => p.destroy())
  return p
}

const tick = () => new Promise((r) => setImmediate(r))

function settledState(promise) {
  let state = 'pending'
  promise.then(
    () => (state = 'resolved'),
    () => (state = 'rejected'),
  )
  return () => state
}

function runChild(t, script, args = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(here, 'helpers', script), ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    const killer = setTimeout(() => child.kill('SIGKILL'), 60000)
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      clearTimeout(killer)
      resolve({ code, signal, exitedAt: Date.now(), result: out.trim() ? JSON.parse(out.trim().split('\n').pop()) : null })
    })
  })
}

test('subpath exports the same classes as the root, with and without .js', (t) => {
  t.is(subpath.ResourceManager, ResourceManager)
  t.is(subpath.ResourcePool, ResourcePool)
  t.is(subpath.BoundedCollection, BoundedCollection)
  t.is(subpathJs.ResourceManager, ResourceManager)
  const m = manager(t)
  t.true(m instanceof EventEmitter)
  t.true(m.createPool('p', { createResource: async () => ({}) }) instanceof EventEmitter)
})

test('minSize resources are created up front', async (t) => {
  const f = tracker()
  const p = pool(t, { minSize: 3, maxSize: 5, createResource: f.create })
  await tick()
  t.is(f.made.length, 3)
  t.like(p.getStats(), { total: 3, idle: 3, active: 0, pending: 0 })
})

test('regression: acquire() right after createPool does not create a third resource', async (t) => {
  const f = tracker({ delay: 5 })
  const m = manager(t)
  const p = m.createPool('p', { minSize: 2, maxSize: 10, createResource: f.create })
  const r = await p.acquire()
  await sleep(30)
  t.is(f.made.length, 2)
  t.true(f.made.includes(r))
  t.like(p.getStats(), { total: 2, active: 1, idle: 1 })
})

test('regression: 20 simultaneous acquire() on maxSize 8 resolve only 8', async (t) => {
  const f = tracker()
  const p = pool(t, { minSize: 0, maxSize: 8, createResource: f.create })
  const states = Array.from({ length: 20 }, () => settledState(p.acquire()))
  await sleep(20)
  t.is(states.filter((s) => s() === 'resolved').length, 8)
  t.is(states.filter((s) => s() === 'pending').length, 12)
  t.is(f.made.length, 8)
  t.like(p.getStats(), { total: 8, active: 8, waiting: 12 })
})

test('regression: 64 concurrent loops never exceed maxSize live resources', async (t) => {
  const f = tracker()
  const p = pool(t, { minSize: 0, maxSize: 8, createResource: f.create, destroyResource: f.destroy })
  let held = 0
  let maxHeld = 0
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      for (let i = 0; i < 200; i++) {
        const r = await p.acquire()
        maxHeld = Math.max(maxHeld, ++held)
        await tick()
        held--
        p.release(r)
      }
    }),
  )
  t.is(maxHeld, 8)
  t.is(f.maxLive, 8)
  t.like(p.getStats(), { total: 8, idle: 8, active: 0, waiting: 0, maxUsed: 8 })
  t.is(p.checkInvariants(), '')
})

test('waiters are served first-come first-served', async (t) => {
  const f = tracker()
  const p = pool(t, { minSize: 1, maxSize: 1, createResource: f.create })
  const r = await p.acquire()
  const order = []
  const waits = [0, 1, 2, 3, 4].map((i) => p.acquire().then((x) => (order.push(i), p.release(x))))
  p.release(r)
  await Promise.all(waits)
  t.deepEqual(order, [0, 1, 2, 3, 4])
})

test('a waiter past acquireTimeout rejects saying so and leaves the queue', async (t) => {
  const f = tracker()
  const p = pool(t, { minSize: 1, maxSize: 1, acquireTimeout: 30, createResource: f.create })
  const r = await p.acquire()
  const started = Date.now()
  const err = await t.throwsAsync(p.acquire(), { message: /timed out after 30 ms/ })
  t.is(err.code, 'ERR_POOL_ACQUIRE_TIMEOUT')
  t.true(Date.now() - started >= 25)
  t.is(p.getStats().waiting, 0)
  p.release(r)
  t.is(await p.acquire(), r)
})

test('createResource that throws rejects that acquire, emits pool-error, and frees the slot', async (t) => {
  const m = manager(t)
  let fail = true
  const p = m.createPool('p', {
    minSize: 0,
    maxSize: 1,
    createResource: () => {
      if (fail) throw new Error('spawn failed')
      return Promise.resolve({})
    },
  })
  const errors = []
  m.on('pool-error', (e) => errors.push(e))
  await t.throwsAsync(p.acquire(), { message: 'spawn failed' })
  t.is(errors.length, 1)
  t.is(errors[0].name, 'p')
  t.is(errors[0].error.message, 'spawn failed')
  t.like(p.getStats(), { total: 0, pending: 0, waiting: 0 })
  fail = false
  t.truthy(await p.acquire())
})

test('createResource that rejects rejects that acquire and counts do not drift', async (t) => {
  const p = pool(t, { minSize: 0, maxSize: 2, createResource: async () => Promise.reject(new Error('nope')) })
  const errors = []
  p.on('pool-error', (e) => errors.push(e))
  const results = await Promise.allSettled([p.acquire(), p.acquire(), p.acquire()])
  t.true(results.every((r) => r.status === 'rejected'))
  t.is(errors.length, 3)
  t.like(p.getStats(), { total: 0, pending: 0, waiting: 0, active: 0 })
})

test('createResource that hangs past acquireTimeout: the acquire rejects, the slot is freed, a late value is destroyed', async (t) => {
  let release
  const late = { late: true }
  const destroyed = []
  let calls = 0
  const p = pool(t, {
    minSize: 0,
    maxSize: 1,
    acquireTimeout: 30,
    createResource: () => (++calls === 1 ? new Promise((r) => (release = r)) : Promise.resolve({ ok: true })),
    destroyResource: (r) => void destroyed.push(r),
  })
  await t.throwsAsync(p.acquire(), { message: /timed out/ })
  await sleep(10)
  t.like(p.getStats(), { pending: 0, total: 0 })
  t.deepEqual(await p.acquire(), { ok: true })
  release(late)
  await tick()
  t.deepEqual(destroyed, [late])
})

test('validateResource that throws or fails: the resource is destroyed and replaced', async (t) => {
  const f = tracker()
  let verdict = () => true
  const p = pool(t, {
    minSize: 1,
    maxSize: 2,
    createResource: f.create,
    destroyResource: f.destroy,
    validateResource: (r) => verdict(r),
  })
  const errors = []
  p.on('pool-error', (e) => errors.push(e))
  const first = await p.acquire()
  p.release(first)
  verdict = () => {
    throw new Error('probe crashed')
  }
  const second = await p.acquire()
  t.not(second, first)
  t.is(f.destroyed.get(first), 1)
  t.is(errors[0].message, 'probe crashed')
  p.release(second)
  verdict = (r) => r !== second
  const third = await p.acquire()
  t.not(third, second)
  t.is(f.destroyed.get(second), 1)
  t.like(p.getStats(), { total: 1, active: 1 })
})

test('a failing resource handed to a waiter is replaced and the waiter keeps its place', async (t) => {
  const f = tracker()
  const bad = new Set()
  const p = pool(t, {
    minSize: 1,
    maxSize: 1,
    createResource: f.create,
    destroyResource: f.destroy,
    validateResource: (r) => !bad.has(r),
  })
  const r = await p.acquire()
  const order = []
  const a = p.acquire().then((x) => (order.push('a'), x))
  const b = p.acquire().then((x) => (order.push('b'), x))
  bad.add(r)
  p.release(r)
  const got = await a
  t.not(got, r)
  p.release(got)
  await b
  t.deepEqual(order, ['a', 'b'])
})

test('destroyResource that rejects emits pool-error and destroy() still settles', async (t) => {
  const p = new ResourcePool({
    minSize: 2,
    maxSize: 2,
    createResource: async () => ({}),
    destroyResource: async () => {
      throw new Error('kill failed')
    },
  })
  const errors = []
  p.on('pool-error', (e) => errors.push(e.message))
  await p.acquire()
  await p.destroy()
  await tick()
  t.deepEqual(errors, ['kill failed', 'kill failed'])
  t.like(p.getStats(), { total: 0, created: 2, destroyed: 2 })
})

test('release twice, or of a foreign object, changes nothing', async (t) => {
  const p = pool(t, { minSize: 1, maxSize: 2, createResource: async () => ({}) })
  const released = []
  p.on('resource-released', (r) => released.push(r))
  const r = await p.acquire()
  p.release(r)
  const before = p.getStats()
  p.release(r)
  p.release({})
  p.release(undefined)
  p.release(42)
  t.deepEqual(p.getStats(), before)
  t.is(released.length, 1)
  t.is(p.checkInvariants(), '')
})

test('regression: destroy() rejects queued waiters, destroys every live resource once, and stops the pool', async (t) => {
  const f = tracker()
  const p = new ResourcePool({ minSize: 2, maxSize: 2, createResource: f.create, destroyResource: f.destroy })
  const a = await p.acquire()
  await p.acquire()
  const waiting = [p.acquire(), p.acquire(), p.acquire()]
  await tick()
  t.is(p.getStats().waiting, 3)
  await p.destroy()
  for (const w of waiting) await t.throwsAsync(w, { message: /destroyed/ })
  t.true(f.destroyedOnce())
  t.is(f.made.length, 2)
  // The original kept handing out resources after destroy().
  await t.throwsAsync(p.acquire(), { code: 'ERR_POOL_DESTROYED' })
  p.release(a)
  t.like(p.getStats(), { total: 0, waiting: 0 })
  t.is(await p.destroy(), undefined)
})

test('creations in flight at destroy() are destroyed when they land', async (t) => {
  const f = tracker({ delay: 20 })
  const p = new ResourcePool({ minSize: 3, maxSize: 3, createResource: f.create, destroyResource: f.destroy })
  await p.destroy()
  await sleep(40)
  t.is(f.made.length, 3)
  t.true(f.destroyedOnce())
})

test('idle resources above minSize are destroyed after idleTimeout, not on release', async (t) => {
  const f = tracker()
  const p = pool(t, { minSize: 1, maxSize: 4, idleTimeout: 200, createResource: f.create, destroyResource: f.destroy })
  const held = await Promise.all([p.acquire(), p.acquire(), p.acquire()])
  for (const r of held) p.release(r)
  const releasedAt = Date.now()
  t.is(p.getStats().total, 3)
  await sleep(60)
  // On a loaded machine the sleep may overshoot; only a check made before idleTimeout counts.
  if (Date.now() - releasedAt < 190) t.is(f.destroyed.size, 0)
  await sleep(400)
  t.like(p.getStats(), { total: 1, idle: 1 })
  t.is(f.destroyed.size, 2)
})

test('acquire({signal}): abort while waiting rejects with the reason and leaves the queue', async (t) => {
  const p = pool(t, { minSize: 1, maxSize: 1, createResource: async () => ({}) })
  const r = await p.acquire()
  const ac = new AbortController()
  const waiting = p.acquire({ signal: ac.signal })
  await tick()
  t.is(p.getStats().waiting, 1)
  ac.abort(new Error('user cancelled'))
  await t.throwsAsync(waiting, { message: 'user cancelled' })
  t.is(p.getStats().waiting, 0)
  await t.throwsAsync(p.acquire({ signal: AbortSignal.abort() }), { any: true, name: 'AbortError' })
  await t.throwsAsync(p.acquire({ signal: 'nope' }), { instanceOf: TypeError })
  p.release(r)
  // A signal that never fires does not disturb a normal acquire.
  const again = await p.acquire({ signal: new AbortController().signal })
  t.is(again, r)
})

test('use() releases whether fn resolves or throws', async (t) => {
  const p = pool(t, { minSize: 1, maxSize: 1, createResource: async () => ({}) })
  t.is(await p.use(async (r) => (r.n = 7)), 7)
  t.like(p.getStats(), { active: 0, idle: 1 })
  await t.throwsAsync(
    p.use(() => Promise.reject(new Error('boom'))),
    { message: 'boom' },
  )
  t.like(p.getStats(), { active: 0, idle: 1 })
  await t.throwsAsync(p.use('not a function'), { instanceOf: TypeError })
})

test('ResourceManager: names, stats, destroyPool, and forwarded events', async (t) => {
  const m = manager(t)
  const events = []
  for (const e of ['resource-created', 'resource-acquired', 'resource-released', 'resource-destroyed']) {
    m.on(e, ({ name, resource }) => events.push([e, name, resource.id]))
  }
  const p = m.createPool('workers', { minSize: 0, maxSize: 2, createResource: async () => ({ id: 1 }) })
  t.is(m.getPool('workers'), p)
  t.is(m.getPool('missing'), undefined)
  t.throws(() => m.createPool('workers', { createResource: async () => ({}) }), { message: /already exists/ })
  const r = await p.acquire()
  p.release(r)
  t.deepEqual(Object.keys(m.getAllStats()), ['workers'])
  t.like(m.getAllStats().workers, { total: 1, idle: 1 })
  t.true(await m.destroyPool('workers'))
  t.false(await m.destroyPool('workers'))
  t.deepEqual(events, [
    ['resource-created', 'workers', 1],
    ['resource-acquired', 'workers', 1],
    ['resource-released', 'workers', 1],
    ['resource-destroyed', 'workers', 1],
  ])
  await m.destroy()
  t.throws(() => m.createPool('again', { createResource: async () => ({}) }), { code: 'ERR_POOL_DESTROYED' })
})

test('ResourceManager alerts: high-utilization and pool-exhausted every cleanupInterval', async (t) => {
  const m = manager(t, { cleanupInterval: 10 })
  const p = m.createPool('busy', { minSize: 1, maxSize: 1, createResource: async () => ({}) })
  const alerts = []
  m.on('resource-alert', ({ name, alert }) => alerts.push({ name, ...alert }))
  await p.acquire()
  const waiter = p.acquire()
  await sleep(40)
  const types = new Set(alerts.map((a) => a.type))
  t.true(types.has('high-utilization'))
  t.true(types.has('pool-exhausted'))
  const exhausted = alerts.find((a) => a.type === 'pool-exhausted')
  t.like(exhausted, { name: 'busy', severity: 'critical', value: 1, threshold: 0 })
  t.like(
    alerts.find((a) => a.type === 'high-utilization'),
    { severity: 'warning', value: 1, threshold: 0.8 },
  )
  t.false(types.has('long-wait-time'))
  await p.destroy()
  await t.throwsAsync(waiter)
})

test('bad config throws a clear RangeError / TypeError and leaves nothing behind', (t) => {
  const m = manager(t)
  const ok = { createResource: async () => ({}) }
  const bad = [
    [{ ...ok, minSize: -1 }, RangeError, /minSize/],
    [{ ...ok, maxSize: 0 }, RangeError, /maxSize/],
    [{ ...ok, maxSize: Infinity }, RangeError, /maxSize/],
    [{ ...ok, minSize: 5, maxSize: 2 }, RangeError, /minSize must be at most maxSize/],
    [{ ...ok, acquireTimeout: NaN }, RangeError, /acquireTimeout/],
    [{ ...ok, idleTimeout: -5 }, RangeError, /idleTimeout/],
    [{ ...ok, minSize: 1.5 }, RangeError, /minSize/],
    [{ ...ok, maxSize: '8' }, TypeError, /maxSize/],
    [{ createResource: 'make' }, TypeError, /createResource must be a function/],
    [{ ...ok, destroyResource: 'kill' }, TypeError, /destroyResource/],
    [{ ...ok, validateResource: 1 }, TypeError, /validateResource/],
    [null, TypeError, /config/],
  ]
  for (const [config, Class, message] of bad) {
    t.throws(() => m.createPool('p', config), { instanceOf: Class, message })
    t.is(m.getPool('p'), undefined)
  }
  t.throws(() => m.createPool(7, ok), { instanceOf: TypeError, message: /name/ })
  t.throws(() => new ResourceManager({ cleanupInterval: -1 }), { instanceOf: RangeError })
  t.throws(() => new ResourceManager('fast'), { instanceOf: TypeError })
  t.deepEqual(m.getAllStats(), {})
})

test('BoundedCollection keeps the newest items, iterates oldest first, and cleans up by age', async (t) => {
  const c = new BoundedCollection(3)
  t.is(c.capacity, 3)
  t.is(c.push(1), undefined)
  c.push(2)
  c.push(3)
  t.is(c.push(4), 1)
  t.is(c.size, 3)
  t.deepEqual(c.toArray(), [2, 3, 4])
  t.deepEqual([...c], [2, 3, 4])
  t.is(c.cleanup(), 0)
  c.clear()
  t.is(c.size, 0)
  t.deepEqual(c.toArray(), [])
  const aged = new BoundedCollection(10, { maxAge: 20 })
  aged.push('old')
  aged.push('older?')
  await sleep(40)
  aged.push('new')
  t.is(aged.cleanup(), 2)
  t.deepEqual(aged.toArray(), ['new'])
  t.throws(() => new BoundedCollection(0), { instanceOf: RangeError })
  t.throws(() => new BoundedCollection(2.5), { instanceOf: RangeError })
  t.throws(() => new BoundedCollection('10'), { instanceOf: TypeError })
  t.throws(() => new BoundedCollection(5, { maxAge: -1 }), { instanceOf: RangeError })
})

test('stress: 64 loops with random faults keep every count exact, destroy each resource once, and exit promptly', async (t) => {
  const { code, result, exitedAt } = await runChild(t, 'pool-stress.mjs', ['100000'])
  t.is(code, 0)
  t.is(result.cycles >= 100000, true)
  t.is(result.invariantError, '')
  t.is(result.checkInvariants, '')
  t.is(result.before.total, result.before.idle + result.before.active)
  t.true(result.before.total <= 8)
  t.true(result.maxLive <= 8, `at most maxSize live resources, saw ${result.maxLive}`)
  t.true(result.maxHeld <= 8)
  t.like(result.after, { total: 0, idle: 0, active: 0, waiting: 0, pending: 0 })
  t.true(result.destroyedOnce, 'every created resource destroyed exactly once')
  t.true(result.createFaults > 0 && result.poolErrors > 0 && result.doubleReleases > 0, 'faults were injected')
  t.true(exitedAt - result.doneAt < 1000, `exited ${exitedAt - result.doneAt} ms after finishing`)
})

test('regression: the periodic check timer does not keep the process alive', async (t) => {
  const started = Date.now()
  const { code, result, exitedAt } = await runChild(t, 'pool-idle-exit.mjs')
  t.is(code, 0)
  t.like(result.stats, { total: 2, idle: 2 })
  t.true(exitedAt - result.doneAt < 1000, `exited ${exitedAt - result.doneAt} ms after finishing`)
  t.true(Date.now() - started < 10000)
})

test('an aborted waiter leaves no timer behind and a later abort after being served changes nothing', async (t) => {
  const p = pool(t, { minSize: 1, maxSize: 1, acquireTimeout: 60000, createResource: async () => ({}) })
  const r = await p.acquire()
  const ac = new AbortController()
  const served = p.acquire({ signal: ac.signal })
  p.release(r)
  t.is(await served, r)
  ac.abort()
  t.like(p.getStats(), { active: 1, waiting: 0 })
  p.release(r)
  t.is(p.checkInvariants(), '')
})

test('a waiter whose handed-over resource fails validation keeps its signal and can still abort', async (t) => {
  let calls = 0
  let ok = true
  const p = pool(t, {
    minSize: 1,
    maxSize: 1,
    acquireTimeout: 60000,
    // The first resource comes at once; its replacement never does.
    createResource: () => (++calls === 1 ? Promise.resolve({ first: true }) : new Promise(() => {})),
    validateResource: () => ok,
  })
  const r = await p.acquire()
  const ac = new AbortController()
  const waiting = p.acquire({ signal: ac.signal })
  ok = false
  p.release(r)
  t.like(p.getStats(), { waiting: 1, total: 0, pending: 1 })
  ac.abort(new Error('stop'))
  await t.throwsAsync(waiting, { message: 'stop' })
  t.like(p.getStats(), { waiting: 0 })
  t.is(p.checkInvariants(), '')
})

test('a throwing event listener neither strands a waiter nor corrupts counts', async (t) => {
  const { code, result } = await runChild(t, 'pool-throwing-listener.mjs')
  t.is(code, 0)
  t.true(result.sameResource)
  t.like(result.stats, { total: 1, active: 1, waiting: 0 })
  t.deepEqual(result.uncaught, ['listener bug'])
  t.is(result.invariants, '')
})

test('an async validateResource is awaited; a rejecting one counts as a failure', async (t) => {
  const f = tracker()
  let verdict = async () => true
  const p = pool(t, {
    minSize: 1,
    maxSize: 1,
    createResource: f.create,
    destroyResource: f.destroy,
    validateResource: (r) => verdict(r),
  })
  const errors = []
  p.on('pool-error', (e) => errors.push(e.message))
  const first = await p.acquire()
  p.release(first)
  t.is(await p.acquire(), first)
  p.release(first)
  verdict = async () => {
    await sleep(5)
    return false
  }
  const second = await p.acquire()
  t.not(second, first)
  t.is(f.destroyed.get(first), 1)
  p.release(second)
  verdict = () => Promise.reject(new Error('probe timed out'))
  const third = await p.acquire()
  t.not(third, second)
  t.deepEqual(errors, ['probe timed out'])
  t.like(p.getStats(), { total: 1, active: 1, created: 3, destroyed: 2 })
})

/** A validateResource whose verdicts the test gives: each call waits on the next `settle`. */
function heldVerdicts() {
  const pending = []
  return {
    validate: () => new Promise((resolve) => pending.push(resolve)),
    get count() {
      return pending.length
    },
    /** Settles every validation started so far with `ok`. */
    settleAll(ok) {
      for (const resolve of pending.splice(0)) resolve(ok)
    },
  }
}

const raceHung = (promise, ms = 5000) => Promise.race([promise, sleep(ms, 'hung', { ref: false })])

test('regression: releasing twice during a hand-off to a waiter whose async validator rejects changes nothing', async (t) => {
  const f = tracker()
  const v = heldVerdicts()
  const p = pool(t, { minSize: 1, maxSize: 1, createResource: f.create, destroyResource: f.destroy, validateResource: v.validate })
  const ignored = []
  p.on('release-ignored', (r) => ignored.push(r))
  const r = await p.acquire()
  const first = p.acquire()
  const second = p.acquire()
  const secondState = settledState(second)
  p.release(r)
  // r is being validated for `first`; nobody holds it, so this release matches no loan.
  p.release(r)
  t.deepEqual(ignored, [r])
  t.like(p.getStats(), { total: 1, active: 1, idle: 0, waiting: 1 })
  v.settleAll(false)
  const got = await raceHung(first)
  t.not(got, r)
  t.is(f.destroyed.get(r), 1)
  t.is(f.destroyed.get(got), undefined, 'the waiter holds a live resource')
  await tick()
  t.is(secondState(), 'pending', 'maxSize 1: the second waiter waits while the first holds')
  t.like(p.getStats(), { total: 1, active: 1, idle: 0, waiting: 1 })
  p.release(got)
  v.settleAll(true)
  t.is(await raceHung(second), got)
  t.like(p.getStats(), { total: 1, active: 1, idle: 0, waiting: 0 })
  t.is(p.checkInvariants(), '')
})

test('regression: releasing twice during a hand-off to a waiter whose async validator accepts never lends it twice', async (t) => {
  const v = heldVerdicts()
  const p = pool(t, { minSize: 1, maxSize: 1, createResource: async () => ({}), validateResource: v.validate })
  const r = await p.acquire()
  const first = p.acquire()
  const second = p.acquire()
  const secondState = settledState(second)
  p.release(r)
  p.release(r)
  v.settleAll(true)
  t.is(await raceHung(first), r)
  await tick()
  t.is(secondState(), 'pending', 'r is lent to one holder only')
  t.like(p.getStats(), { total: 1, active: 1, waiting: 1, maxUsed: 1 })
  p.release(r)
  v.settleAll(true)
  t.is(await raceHung(second), r)
  t.is(p.checkInvariants(), '')
})

test('regression: releasing twice in a row with callers waiting (no validator) lends the resource once', async (t) => {
  const p = pool(t, { minSize: 1, maxSize: 1, createResource: async () => ({}) })
  const ignored = []
  p.on('release-ignored', (r) => ignored.push(r))
  const r = await p.acquire()
  const first = p.acquire()
  const second = p.acquire()
  const secondState = settledState(second)
  p.release(r)
  p.release(r)
  t.is(await first, r)
  await tick()
  t.is(secondState(), 'pending')
  t.like(p.getStats(), { active: 1, waiting: 1 })
  // The same through an idle hand-out: acquire() got r, but has not received it yet.
  p.release(r)
  t.is(await second, r)
  p.release(r)
  const third = p.acquire()
  p.release(r)
  const fourth = p.acquire()
  const fourthState = settledState(fourth)
  t.is(await third, r)
  await tick()
  t.is(fourthState(), 'pending')
  t.like(p.getStats(), { total: 1, active: 1, waiting: 1 })
  t.is(ignored.length, 2)
  p.release(r)
  t.is(await fourth, r)
  t.is(p.checkInvariants(), '')
})

test('regression: a validator that never settles cannot hold acquire() past acquireTimeout', async (t) => {
  const f = tracker()
  let hang = false
  const p = pool(t, {
    minSize: 1,
    maxSize: 1,
    acquireTimeout: 50,
    createResource: f.create,
    destroyResource: f.destroy,
    validateResource: () => (hang ? new Promise(() => {}) : true),
  })
  const r = await p.acquire()
  p.release(r)
  hang = true
  // An idle resource lent at once, then stuck in validation.
  const err = await raceHung(t.throwsAsync(p.acquire(), { code: 'ERR_POOL_ACQUIRE_TIMEOUT' }))
  t.not(err, 'hung')
  t.is(f.destroyed.get(r), 1, 'the resource stuck in validation is destroyed')
  t.like(p.getStats(), { total: 0, active: 0, idle: 0, waiting: 0 })
  // A resource handed over by a release to a waiter, then stuck in validation.
  hang = false
  const second = await p.acquire()
  const waiter = p.acquire()
  hang = true
  p.release(second)
  const err2 = await raceHung(t.throwsAsync(waiter, { code: 'ERR_POOL_ACQUIRE_TIMEOUT' }))
  t.not(err2, 'hung')
  t.is(f.destroyed.get(second), 1)
  t.like(p.getStats(), { total: 0, active: 0, idle: 0, waiting: 0 })
  t.is(p.checkInvariants(), '')
  hang = false
  const fresh = await p.acquire()
  t.false(f.destroyed.has(fresh))
  t.like(p.getStats(), { total: 1, active: 1 })
})

test('regression: a validator that never settles cannot hold acquire() past an aborted signal', async (t) => {
  const f = tracker()
  let hang = false
  const p = pool(t, {
    minSize: 1,
    maxSize: 1,
    acquireTimeout: 0,
    createResource: f.create,
    destroyResource: f.destroy,
    validateResource: () => (hang ? new Promise(() => {}) : true),
  })
  const r = await p.acquire()
  p.release(r)
  hang = true
  const ac = new AbortController()
  const pending = p.acquire({ signal: ac.signal })
  await tick()
  t.like(p.getStats(), { total: 1, active: 1 })
  ac.abort(new Error('stop'))
  t.not(await raceHung(t.throwsAsync(pending, { message: 'stop' })), 'hung')
  t.is(f.destroyed.get(r), 1)
  t.like(p.getStats(), { total: 0, active: 0, idle: 0, waiting: 0 })
  t.is(p.checkInvariants(), '')
  // Already aborted when its resource is handed over for validation: leaves at once.
  hang = false
  const second = await p.acquire()
  const ac2 = new AbortController()
  const waiter = p.acquire({ signal: ac2.signal })
  hang = true
  p.release(second)
  ac2.abort(new Error('stop again'))
  t.not(await raceHung(t.throwsAsync(waiter, { message: 'stop again' })), 'hung')
  t.like(p.getStats(), { total: 0, active: 0, idle: 0, waiting: 0 })
  t.is(p.checkInvariants(), '')
})

test('destroy() turns away callers whose resource is being validated or is on its way', async (t) => {
  const f = tracker()
  const v = heldVerdicts()
  let hold = false
  const p = new ResourcePool({
    minSize: 1,
    maxSize: 1,
    createResource: f.create,
    destroyResource: f.destroy,
    validateResource: (r) => (hold ? v.validate(r) : true),
  })
  const a = await p.acquire()
  const validating = p.acquire()
  hold = true
  p.release(a)
  t.is(v.count, 1)
  await p.destroy()
  await t.throwsAsync(validating, { code: 'ERR_POOL_DESTROYED' })
  v.settleAll(true)
  t.is(f.destroyed.get(a), 1)
  t.like(p.getStats(), { total: 0, active: 0, idle: 0, waiting: 0 })

  // Handed to a waiter, destroyed before the waiter's code could receive it.
  const g = tracker()
  const q = new ResourcePool({ minSize: 1, maxSize: 1, createResource: g.create, destroyResource: g.destroy })
  const r = await q.acquire()
  const onItsWay = q.acquire()
  q.release(r)
  const destroyed = q.destroy()
  await t.throwsAsync(onItsWay, { code: 'ERR_POOL_DESTROYED' })
  await destroyed
  t.true(g.destroyedOnce())
  t.is(q.checkInvariants(), '')
})

test('the resource-manager subpath also exports MemoryManager, as the guide imports it', async (t) => {
  const sub = await import('@promethean/benchmark/src/metrics/resource-manager')
  const root = await import('@promethean/benchmark')
  t.is(sub.MemoryManager, root.MemoryManager)
  t.is(sub.MemoryManager.getInstance(), root.MemoryManager.getInstance())
  t.is(typeof sub.MemoryManager.getInstance().checkMemoryUsage().ok, 'boolean')
})

test('a hanging createResource keeping minSize is given up after acquireTimeout with ERR_POOL_CREATE_TIMEOUT', async (t) => {
  let calls = 0
  const p = pool(t, {
    minSize: 1,
    maxSize: 1,
    acquireTimeout: 30,
    createResource: () => (++calls === 1 ? new Promise(() => {}) : Promise.resolve({ ok: true })),
  })
  const errors = []
  p.on('pool-error', (e) => errors.push(e))
  t.like(p.getStats(), { pending: 1 })
  await sleep(80)
  t.is(errors.length, 1)
  t.is(errors[0].code, 'ERR_POOL_CREATE_TIMEOUT')
  t.like(p.getStats(), { pending: 0, total: 0 })
  t.deepEqual(await p.acquire(), { ok: true })
  t.is(p.checkInvariants(), '')
})

test('a sync validateResource that passes ends the deadline: a held resource is never revoked', async (t) => {
  const f = tracker()
  const p = pool(t, { minSize: 1, maxSize: 1, acquireTimeout: 20, createResource: f.create, destroyResource: f.destroy, validateResource: () => true })
  const r = await p.acquire()
  p.release(r)
  const again = await p.acquire()
  t.is(again, r)
  await sleep(60)
  t.like(p.getStats(), { total: 1, active: 1 })
  t.is(f.destroyed.size, 0)
  p.release(again)
  t.like(p.getStats(), { idle: 1, active: 0 })
  t.is(p.checkInvariants(), '')
})

test('a pool without createResource lends fresh plain objects, as the original did', async (t) => {
  const m = new ResourceManager({ cleanupInterval: 0 })
  t.teardown(() => m.destroy())
  const pool = m.createPool('plain', { minSize: 0, maxSize: 2 })
  const a = await pool.acquire()
  const b = await pool.acquire()
  t.deepEqual(a, {})
  t.deepEqual(b, {})
  t.not(a, b)
  pool.release(a)
  pool.release(b)
  t.is(pool.getStats().total, 2)
})
