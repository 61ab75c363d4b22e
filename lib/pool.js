'use strict'
// ResourceManager, ResourcePool and BoundedCollection. The pool's decisions (who waits, who gets
// which resource, when to create or destroy) come from the native state machine (src/pool); this
// layer keeps the resource values, runs the user's callbacks and settles promises. An acquire of
// an idle resource and a release are one synchronous native call each, returning one number
// (see src/binding/pool.rs for the encoding).

const { EventEmitter } = require('node:events')

const { binding, call } = require('./native.js')
const v = require('./validate.js')

const {
  poolCreate,
  poolFree,
  poolAcquire,
  poolRelease,
  poolRejectBorrowed,
  poolCreated,
  poolCreateFailed,
  poolCancel,
  poolExpire,
  poolMaintain,
  poolClose,
  poolTakeActions,
  poolStats,
  poolCheckInvariants,
} = binding
// A native pool lives until its JS pool object is collected.
const handles = new FinalizationRegistry((handle) => poolFree(handle))

// Defaults from the public contract (API.md, ResourceManager).
const DEFAULTS = { minSize: 2, maxSize: 10, acquireTimeout: 30000, idleTimeout: 60000 }
const MANAGER_DEFAULTS = { cleanupInterval: 30000 }
// Thresholds of the periodic checks (API.md, ResourceManager).
const HIGH_UTILIZATION = 0.8
const LONG_WAIT_MS = 5000
// Node clamps larger timer delays to 1 ms.
const MAX_TIMER_MS = 2 ** 31 - 1
const MAX_POOL_SIZE = 2 ** 20

// Kinds in the low two bits of a native code, mirroring src/binding/pool.rs.
const READY = 0
const QUEUED = 1
const CLOSED = 2
const IDLE = 0
const HANDOFF = 1
const DESTROY = 2
const IGNORED = 3
const REJECT = 1
const ACT_CREATE = 0
const ACT_DESTROY = 1
const ACT_TIMEOUT = 2
const ACT_CLOSED = 3

function kindOf(code) {
  return code % 4
}
function idOf(code) {
  return (code - (code % 8)) / 8
}
function hasActions(code) {
  return code % 8 >= 4
}

function poolError(message, code) {
  const err = new Error(message)
  err.code = code
  return err
}

function asError(value, what) {
  if (value instanceof Error) return value
  const err = new Error(`${what}: ${String(value)}`)
  err.cause = value
  return err
}

function resolveConfig(config) {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw v.typeError('config', 'an object with createResource', config)
  }
  const c = config
  const maxSize = v.number('maxSize', c.maxSize, { min: 1, max: MAX_POOL_SIZE, fallback: DEFAULTS.maxSize })
  const minSize = v.number('minSize', c.minSize, { max: MAX_POOL_SIZE, fallback: Math.min(DEFAULTS.minSize, maxSize) })
  if (minSize > maxSize) throw v.rangeError('minSize', `at most maxSize (${maxSize})`, minSize)
  const timeout = (name, fallback) => Math.ceil(v.number(name, c[name], { integer: false, max: 9e12, fallback }))
  const optionalFunc = (name) => (c[name] === undefined ? null : v.func(name, c[name]))
  return {
    minSize,
    maxSize,
    acquireTimeout: timeout('acquireTimeout', DEFAULTS.acquireTimeout),
    idleTimeout: timeout('idleTimeout', DEFAULTS.idleTimeout),
    createResource: v.func('createResource', c.createResource),
    destroyResource: optionalFunc('destroyResource'),
    validateResource: optionalFunc('validateResource'),
  }
}

/**
 * A pool of resources made by `createResource`. Events: `resource-created`,
 * `resource-acquired`, `resource-released`, `resource-destroyed` (the resource) and
 * `pool-error` (an Error: a failing create, destroy or validate callback).
 */
class ResourcePool extends EventEmitter {
  /** Handle of the native pool core. */
  #h
  #config
  #create
  #destroyCb
  #validate
  /** Resource id → value (undefined while the slot is free or being created). */
  #values = []
  /** Value → resource id, for `release`. */
  #ids = new Map()
  /** Waiter id → {resolve, reject, signal, onAbort}. */
  #waiters = new Map()
  /** Resource id → attempt token of a creation in flight. */
  #creating = new Map()
  /** destroyResource calls in flight. */
  #destroying = new Set()
  #waitTimer = null
  #maintainTimer = null
  #destroyed = null
  #name
  #manager

  constructor(config, owner = undefined) {
    super()
    const c = resolveConfig(config)
    this.#config = c
    this.#create = c.createResource
    this.#destroyCb = c.destroyResource
    this.#validate = c.validateResource
    this.#name = owner?.name
    this.#manager = owner?.manager ?? null
    this.#h = call(() =>
      poolCreate({
        minSize: c.minSize,
        maxSize: c.maxSize,
        acquireTimeout: c.acquireTimeout,
        idleTimeout: c.idleTimeout,
        validate: c.validateResource !== null,
      }),
    )
    handles.register(this, this.#h)
    // Idle reaping and keeping minSize run on a slow, unref'd tick: a quarter of idleTimeout,
    // between 10 ms and 5 s.
    const period = Math.min(Math.max(Math.ceil(c.idleTimeout / 4), 10), 5000)
    // The timer holds the pool weakly, so a pool dropped without destroy() can still be collected.
    const ref = new WeakRef(this)
    const timer = setInterval(() => {
      const pool = ref.deref()
      if (pool === undefined) clearInterval(timer)
      else pool.#maintain()
    }, period)
    timer.unref()
    this.#maintainTimer = timer
    this.#drain()
  }

  /** The resolved configuration (defaults filled in). */
  get config() {
    return { ...this.#config }
  }

  /**
   * Resolves with a resource; waits first-come first-served when none is free, and rejects
   * after `acquireTimeout` ms, when `signal` aborts, or when the pool is destroyed.
   */
  acquire(options) {
    if (options !== undefined) return this.#acquireWith(options)
    const code = poolAcquire(this.#h)
    const kind = kindOf(code)
    if (kind === READY) {
      const id = idOf(code)
      if (hasActions(code)) this.#drain()
      return this.#lendNow(id)
    }
    if (kind === QUEUED) {
      return new Promise((resolve, reject) => {
        this.#park(idOf(code), { resolve, reject, signal: null, onAbort: null })
        if (hasActions(code)) this.#drain()
      })
    }
    return Promise.reject(this.#closedError())
  }

  #acquireWith(options) {
    let signal
    try {
      const o = v.optionsObject('options', options)
      signal = o.signal
      if (signal !== undefined && !isAbortSignal(signal)) throw v.typeError('options.signal', 'an AbortSignal', signal)
    } catch (err) {
      return Promise.reject(err)
    }
    if (signal === undefined) return this.acquire()
    if (signal.aborted) return Promise.reject(abortReason(signal))
    const code = poolAcquire(this.#h)
    const kind = kindOf(code)
    if (kind === READY) {
      if (hasActions(code)) this.#drain()
      return this.#lendNow(idOf(code), signal)
    }
    if (kind === QUEUED) {
      return new Promise((resolve, reject) => {
        this.#park(idOf(code), { resolve, reject, signal, onAbort: null })
        if (hasActions(code)) this.#drain()
      })
    }
    return Promise.reject(this.#closedError())
  }

  /** Acquires a resource, runs `fn` with it, and releases it however `fn` ends. */
  async use(fn, options) {
    v.func('fn', fn)
    const resource = await this.acquire(options)
    try {
      return await fn(resource)
    } finally {
      this.release(resource)
    }
  }

  /**
   * Gives a resource back. Releasing a resource twice, one that was destroyed, or one that never
   * came from this pool changes nothing.
   */
  release(resource) {
    const id = this.#ids.get(resource)
    if (id === undefined) return
    const code = poolRelease(this.#h, id)
    const kind = kindOf(code)
    if (kind === IGNORED) return
    if (kind === HANDOFF) {
      const entry = this.#take(idOf(code))
      if (hasActions(code)) this.#drain()
      this.#emit('resource-released', resource)
      this.#vet(id, entry, this.#check(resource))
      return
    }
    if (hasActions(code)) this.#drain()
    this.#emit('resource-released', resource)
  }

  /**
   * Rejects every waiter, destroys every live resource once (`destroyResource`), and resolves
   * when those calls have settled. Creations still in flight are destroyed when they finish.
   */
  destroy() {
    if (this.#destroyed !== null) return this.#destroyed
    clearInterval(this.#maintainTimer)
    this.#clearWaitTimer()
    poolClose(this.#h)
    // Give up on creations in flight: their values are destroyed when they arrive.
    for (const id of [...this.#creating.keys()]) {
      this.#creating.delete(id)
      poolCreateFailed(this.#h, id)
    }
    this.#drain()
    this.#destroyed = Promise.allSettled([...this.#destroying]).then(() => undefined)
    return this.#destroyed
  }

  /** `{total, active, idle, waiting, maxUsed, avgWaitTime}` plus `pending`, `created`, `destroyed`. */
  getStats() {
    const s = poolStats(this.#h)
    return {
      total: s.total,
      active: s.active,
      idle: s.idle,
      waiting: s.waiting,
      maxUsed: s.maxUsed,
      avgWaitTime: s.avgWaitTime,
      pending: s.pending,
      created: s.created,
      destroyed: s.destroyed,
    }
  }

  /** Whether `destroy()` was called. */
  get destroyed() {
    return this.#destroyed !== null
  }

  /** Checks the native state machine's invariants; an empty string when they all hold. */
  checkInvariants() {
    return poolCheckInvariants(this.#h)
  }

  // --- lending ---

  /** An idle resource was lent to a caller of acquire() that never waited. */
  #lendNow(id, signal = null) {
    const value = this.#values[id]
    const verdict = this.#check(value)
    if (verdict === true) {
      this.#emit('resource-acquired', value)
      return Promise.resolve(value)
    }
    return new Promise((resolve, reject) => {
      this.#vet(id, { resolve, reject, signal, onAbort: null }, verdict)
    })
  }

  /** true, false, or a promise of the verdict (an async validateResource). */
  #check(value) {
    if (this.#validate === null) return true
    let ok
    try {
      ok = this.#validate(value)
    } catch (err) {
      this.#fault(asError(err, 'validateResource threw'))
      return false
    }
    if (ok !== null && typeof ok === 'object' && typeof ok.then === 'function') return ok
    return Boolean(ok)
  }

  /**
   * Hands borrowed resource `id` to the caller behind `entry` once it passes validation; a
   * failing resource is destroyed and the core serves the same caller again, in its place.
   */
  #vet(id, entry, verdict) {
    for (;;) {
      if (verdict !== true && verdict !== false) {
        Promise.resolve(verdict).then(
          (ok) => this.#vet(id, entry, this.#destroyed === null && Boolean(ok)),
          (err) => {
            this.#fault(asError(err, 'validateResource rejected'))
            this.#vet(id, entry, false)
          },
        )
        return
      }
      if (verdict) {
        const value = this.#values[id]
        this.#emit('resource-acquired', value)
        entry.resolve(value)
        return
      }
      const code = poolRejectBorrowed(this.#h, id)
      if (code < 0) {
        entry.reject(this.#closedError())
        return
      }
      const kind = kindOf(code)
      if (kind === READY) {
        if (hasActions(code)) this.#drain()
        id = idOf(code)
        verdict = this.#check(this.#values[id])
        continue
      }
      if (kind === QUEUED) this.#park(idOf(code), entry)
      if (hasActions(code)) this.#drain()
      if (kind === CLOSED) entry.reject(this.#closedError())
      return
    }
  }

  // --- waiters ---

  #park(wid, entry) {
    this.#waiters.set(wid, entry)
    if (this.#waitTimer === null && this.#config.acquireTimeout > 0) {
      this.#armWaitTimer(this.#config.acquireTimeout)
    }
    const signal = entry.signal
    if (signal !== null) {
      entry.onAbort = () => {
        if (poolCancel(this.#h, wid)) {
          this.#take(wid)
          entry.reject(abortReason(signal))
        }
      }
      signal.addEventListener('abort', entry.onAbort, { once: true })
      // Aborted while its resource was being validated: leave at once.
      if (signal.aborted) entry.onAbort()
    }
  }

  /** Removes a waiter's entry (it is being settled). */
  #take(wid) {
    const entry = this.#waiters.get(wid)
    this.#waiters.delete(wid)
    if (entry.signal !== null) entry.signal.removeEventListener('abort', entry.onAbort)
    // A waiting caller keeps the process alive until its deadline; nobody waiting, no timer.
    if (this.#waiters.size === 0) this.#clearWaitTimer()
    return entry
  }

  #armWaitTimer(ms) {
    this.#waitTimer = setTimeout(() => this.#onWaitTimer(), Math.min(Math.max(ms, 1), MAX_TIMER_MS))
  }

  #clearWaitTimer() {
    if (this.#waitTimer !== null) {
      clearTimeout(this.#waitTimer)
      this.#waitTimer = null
    }
  }

  // The timer is armed for the oldest waiter's deadline; it may fire for a waiter served
  // meanwhile, in which case it re-arms for the new oldest: one timer for all waiters.
  #onWaitTimer() {
    this.#waitTimer = null
    const next = poolExpire(this.#h)
    this.#drain()
    if (next >= 0 && this.#waitTimer === null && this.#waiters.size > 0) this.#armWaitTimer(next)
  }

  // --- side effects decided by the core ---

  #drain() {
    const actions = poolTakeActions(this.#h)
    for (let i = 0; i < actions.length; i += 2) {
      const id = actions[i + 1]
      switch (actions[i]) {
        case ACT_CREATE:
          this.#startCreate(id)
          break
        case ACT_DESTROY:
          this.#destroyAt(id)
          break
        case ACT_TIMEOUT:
          this.#take(id).reject(
            poolError(
              `acquire timed out after ${this.#config.acquireTimeout} ms waiting for a resource${this.#label()}`,
              'ERR_POOL_ACQUIRE_TIMEOUT',
            ),
          )
          break
        case ACT_CLOSED:
          this.#take(id).reject(this.#closedError())
          break
      }
    }
  }

  #startCreate(id) {
    const token = {}
    this.#creating.set(id, token)
    let made
    try {
      made = Promise.resolve(this.#create())
    } catch (err) {
      made = Promise.reject(err)
    }
    // A creation that outlives acquireTimeout is given up on, so a hanging factory cannot hold
    // a slot forever; its value is destroyed if it ever arrives.
    let guard = null
    if (this.#config.acquireTimeout > 0) {
      guard = setTimeout(() => {
        this.#createFailed(
          id,
          token,
          poolError(
            `createResource did not settle within acquireTimeout (${this.#config.acquireTimeout} ms)${this.#label()}`,
            'ERR_POOL_CREATE_TIMEOUT',
          ),
        )
      }, Math.min(this.#config.acquireTimeout, MAX_TIMER_MS))
      guard.unref()
    }
    made.then(
      (value) => {
        if (guard !== null) clearTimeout(guard)
        this.#created(id, token, value)
      },
      (err) => {
        if (guard !== null) clearTimeout(guard)
        this.#createFailed(id, token, asError(err, 'createResource failed'))
      },
    )
  }

  #created(id, token, value) {
    if (this.#creating.get(id) !== token) {
      // Given up on (timed out, or the pool was destroyed): not ours any more.
      this.#destroyValue(value)
      return
    }
    if (this.#ids.has(value)) {
      this.#createFailed(
        id,
        token,
        v.typeError('createResource()', 'a value not already in the pool (each resource must be distinct)', value),
      )
      return
    }
    this.#creating.delete(id)
    this.#values[id] = value
    this.#ids.set(value, id)
    const code = poolCreated(this.#h, id)
    const kind = kindOf(code)
    if (kind === IGNORED) return
    if (kind === DESTROY) {
      this.#destroyAt(id)
      return
    }
    let entry = null
    if (kind === HANDOFF) entry = this.#take(idOf(code))
    if (hasActions(code)) this.#drain()
    this.#emit('resource-created', value)
    if (entry !== null) {
      this.#emit('resource-acquired', value)
      entry.resolve(value)
    }
  }

  #createFailed(id, token, err) {
    if (this.#creating.get(id) !== token) return
    this.#creating.delete(id)
    const code = poolCreateFailed(this.#h, id)
    const entry = kindOf(code) === REJECT ? this.#take(idOf(code)) : null
    if (hasActions(code)) this.#drain()
    this.#fault(err)
    if (entry !== null) entry.reject(err)
  }

  #destroyAt(id) {
    const value = this.#values[id]
    this.#values[id] = undefined
    this.#ids.delete(value)
    this.#destroyValue(value)
  }

  #destroyValue(value) {
    if (this.#destroyCb !== null) {
      let done
      try {
        done = this.#destroyCb(value)
      } catch (err) {
        this.#fault(asError(err, 'destroyResource threw'))
      }
      if (done !== null && typeof done === 'object' && typeof done.then === 'function') {
        const tracked = Promise.resolve(done).then(
          () => this.#destroying.delete(tracked),
          (err) => {
            this.#destroying.delete(tracked)
            this.#fault(asError(err, 'destroyResource rejected'))
          },
        )
        this.#destroying.add(tracked)
      }
    }
    this.#emit('resource-destroyed', value)
  }

  #maintain() {
    poolMaintain(this.#h)
    this.#drain()
  }

  // --- events ---

  // Events are emitted in the middle of a state change (a release handing its resource to a
  // waiter, say). A listener that throws must not leave a waiter unsettled or a resource lent to
  // nobody, so its exception is rethrown on the next tick, as an uncaught exception from a timer
  // callback would be, and the pool carries on.
  #emit(event, value) {
    try {
      if (this.listenerCount(event) > 0) this.emit(event, value)
      const m = this.#manager
      if (m !== null && m.listenerCount(event) > 0) m.emit(event, { name: this.#name, resource: value })
    } catch (err) {
      process.nextTick(rethrow, err)
    }
  }

  #fault(error) {
    try {
      if (this.listenerCount('pool-error') > 0) this.emit('pool-error', error)
      const m = this.#manager
      if (m !== null && m.listenerCount('pool-error') > 0) m.emit('pool-error', { name: this.#name, error })
    } catch (err) {
      process.nextTick(rethrow, err)
    }
  }

  #label() {
    return this.#name === undefined ? '' : ` (pool '${this.#name}')`
  }

  #closedError() {
    return poolError(`the pool${this.#label()} was destroyed; create a new one`, 'ERR_POOL_DESTROYED')
  }
}

function rethrow(err) {
  throw err
}

function isAbortSignal(s) {
  return s !== null && typeof s === 'object' && typeof s.aborted === 'boolean' && typeof s.addEventListener === 'function'
}

function abortReason(signal) {
  if (signal.reason !== undefined) return signal.reason
  const err = new Error('acquire was aborted')
  err.name = 'AbortError'
  err.code = 'ABORT_ERR'
  return err
}

/**
 * Named pools, their events forwarded as `{name, resource}` / `{name, error}`, and a periodic
 * check that emits `resource-alert` `{name, alert}`.
 */
class ResourceManager extends EventEmitter {
  #pools = new Map()
  #timer = null
  #destroyed = false
  #cleanupInterval

  constructor(options = {}) {
    super()
    const o = v.optionsObject('options', options)
    this.#cleanupInterval = v.number('cleanupInterval', o.cleanupInterval, {
      max: MAX_TIMER_MS,
      fallback: MANAGER_DEFAULTS.cleanupInterval,
    })
    if (this.#cleanupInterval > 0) {
      this.#timer = setInterval(() => this.checkPools(), this.#cleanupInterval)
      // The check never keeps the process alive on its own (the original's did).
      this.#timer.unref()
    }
  }

  createPool(name, config) {
    v.string('name', name)
    if (name === undefined) throw v.typeError('name', 'a string', name)
    if (this.#destroyed) throw poolError('the resource manager was destroyed; create a new one', 'ERR_POOL_DESTROYED')
    if (this.#pools.has(name)) throw poolError(`a pool named '${name}' already exists`, 'ERR_POOL_EXISTS')
    const pool = new ResourcePool(config, { name, manager: this })
    this.#pools.set(name, pool)
    return pool
  }

  getPool(name) {
    return this.#pools.get(name)
  }

  /** Destroys the named pool; resolves with whether there was one. */
  async destroyPool(name) {
    const pool = this.#pools.get(name)
    if (pool === undefined) return false
    this.#pools.delete(name)
    await pool.destroy()
    return true
  }

  getAllStats() {
    const out = {}
    for (const [name, pool] of this.#pools) out[name] = pool.getStats()
    return out
  }

  /** Runs the periodic check now: emits `resource-alert` for every pool that needs attention. */
  checkPools() {
    for (const [name, pool] of this.#pools) {
      for (const alert of alertsFor(name, pool.getStats())) this.emit('resource-alert', { name, alert })
    }
  }

  /** Destroys every pool and stops the periodic check. */
  async destroy() {
    this.#destroyed = true
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    const pools = [...this.#pools.values()]
    this.#pools.clear()
    await Promise.all(pools.map((p) => p.destroy()))
  }
}

function alertsFor(name, s) {
  const alerts = []
  const utilization = s.total > 0 ? s.active / s.total : 0
  if (utilization > HIGH_UTILIZATION) {
    alerts.push({
      type: 'high-utilization',
      severity: 'warning',
      message: `pool '${name}' is ${Math.round(utilization * 100)}% utilized (${s.active} of ${s.total} in use)`,
      value: utilization,
      threshold: HIGH_UTILIZATION,
    })
  }
  if (s.avgWaitTime > LONG_WAIT_MS) {
    alerts.push({
      type: 'long-wait-time',
      severity: 'warning',
      message: `pool '${name}' callers wait ${Math.round(s.avgWaitTime)} ms on average for a resource`,
      value: s.avgWaitTime,
      threshold: LONG_WAIT_MS,
    })
  }
  if (s.waiting > 0 && s.idle === 0 && s.active === s.total) {
    alerts.push({
      type: 'pool-exhausted',
      severity: 'critical',
      message: `pool '${name}' is exhausted: all ${s.total} resources busy and ${s.waiting} callers waiting`,
      value: s.waiting,
      threshold: 0,
    })
  }
  return alerts
}

/** A ring buffer that keeps the newest `capacity` items, oldest dropped first. */
class BoundedCollection {
  #items
  #times
  #start = 0
  #size = 0
  #maxAge

  constructor(capacity, options = {}) {
    if (typeof capacity !== 'number') throw v.typeError('capacity', 'a number', capacity)
    v.number('capacity', capacity, { min: 1, max: 2 ** 32 - 1 })
    const o = v.optionsObject('options', options)
    this.#maxAge = v.number('maxAge', o.maxAge, { integer: false, max: Number.MAX_SAFE_INTEGER })
    this.#items = new Array(capacity)
    this.#times = this.#maxAge === undefined ? null : new Float64Array(capacity)
  }

  get capacity() {
    return this.#items.length
  }

  get size() {
    return this.#size
  }

  /** Adds an item; returns the item dropped to make room, if any. */
  push(item) {
    const cap = this.#items.length
    let dropped
    let at
    if (this.#size === cap) {
      at = this.#start
      dropped = this.#items[at]
      this.#start = (this.#start + 1) % cap
    } else {
      at = (this.#start + this.#size) % cap
      this.#size++
    }
    this.#items[at] = item
    if (this.#times !== null) this.#times[at] = Date.now()
    return dropped
  }

  /** Items oldest first. */
  toArray() {
    const out = new Array(this.#size)
    const cap = this.#items.length
    for (let i = 0; i < this.#size; i++) out[i] = this.#items[(this.#start + i) % cap]
    return out
  }

  clear() {
    this.#items.fill(undefined)
    this.#start = 0
    this.#size = 0
  }

  /** Drops items older than `maxAge` ms; returns how many. Without `maxAge`, drops nothing. */
  cleanup() {
    if (this.#times === null) return 0
    const cutoff = Date.now() - this.#maxAge
    const cap = this.#items.length
    let dropped = 0
    while (this.#size > 0 && this.#times[this.#start] < cutoff) {
      this.#items[this.#start] = undefined
      this.#start = (this.#start + 1) % cap
      this.#size--
      dropped++
    }
    return dropped
  }

  *[Symbol.iterator]() {
    const cap = this.#items.length
    for (let i = 0; i < this.#size; i++) yield this.#items[(this.#start + i) % cap]
  }
}

module.exports = { ResourceManager, ResourcePool, BoundedCollection }
