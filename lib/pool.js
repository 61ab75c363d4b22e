'use strict'
// ResourceManager, ResourcePool and BoundedCollection. The pool's decisions (who waits, who gets
// which resource, when to create or destroy) come from the native state machine (src/pool); this
// layer keeps the resource values, runs the user's callbacks and settles promises. An acquire of
// an idle resource, its arrival in the caller's hands and a release are one synchronous native
// call each, taking and returning numbers (see src/binding/pool.rs for the encoding).

const { EventEmitter } = require('node:events')

const { binding, call } = require('./native.js')
const v = require('./validate.js')

const {
  poolCreate,
  poolFree,
  poolAcquire,
  poolRelease,
  poolLent,
  poolAbandon,
  poolRejectBorrowed,
  poolCreated,
  poolCreateFailed,
  poolCancel,
  poolExpire,
  poolNextDeadline,
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
const ACT_REVOKE_TIMEOUT = 4
const ACT_REVOKE_CLOSED = 5

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
 * `resource-acquired`, `resource-released`, `resource-destroyed`, `release-ignored` (the
 * resource) and `pool-error` (an Error: a failing create, destroy or validate callback).
 *
 * Every acquire is a ticket `{resolve, reject, signal, onAbort, loan, vetting}`: parked under its
 * waiter id while it waits, then, once the core lends it resource `loan`, kept in `#loans[loan]`
 * while the resource is validated and handed over. The caller's promise is derived from the
 * ticket's, through `#arrive`, which reports `lent` to the core before any of the caller's code
 * can see the resource: until then nobody holds it, and the core ignores releases of it.
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
  /** Waiter id → ticket of a caller in the queue. */
  #waiters = new Map()
  /** Resource id → ticket of the caller it is being lent to (validated or handed over). */
  #loans = []
  /** Tickets whose async validateResource is running (they keep the wait timer). */
  #vetting = 0
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
    return this.#acquire(null)
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
    if (signal === undefined) return this.#acquire(null)
    if (signal.aborted) return Promise.reject(abortReason(signal))
    return this.#acquire(signal)
  }

  #acquire(signal) {
    const code = poolAcquire(this.#h)
    const kind = kindOf(code)
    if (kind === CLOSED) return Promise.reject(this.#closedError())
    const ticket = { resolve: null, reject: null, signal, onAbort: null, loan: -1, vetting: false }
    const handed = new Promise((resolve, reject) => {
      ticket.resolve = resolve
      ticket.reject = reject
    })
    // Registered before the caller can register anything: the loan is reported `lent` before
    // the caller's code runs with the resource.
    const got = handed.then((value) => this.#arrive(ticket, value))
    if (kind === READY) {
      const id = idOf(code)
      this.#claim(id, ticket)
      if (hasActions(code)) this.#drain()
      this.#vet(id, ticket, this.#check(this.#values[id]))
    } else {
      this.#park(idOf(code), ticket)
      if (hasActions(code)) this.#drain()
    }
    return got
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
   * Gives a resource back. Releasing a resource twice, one that was destroyed, one that is still
   * on its way to its next borrower, or one that never came from this pool changes nothing but
   * emits `release-ignored`.
   */
  release(resource) {
    const id = this.#ids.get(resource)
    const code = id === undefined ? IGNORED : poolRelease(this.#h, id)
    const kind = kindOf(code)
    if (kind === IGNORED) {
      this.#emit('release-ignored', resource)
      return
    }
    if (kind === HANDOFF) {
      const ticket = this.#take(idOf(code))
      this.#claim(id, ticket)
      if (hasActions(code)) this.#drain()
      this.#emit('resource-released', resource)
      this.#vet(id, ticket, this.#check(resource))
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

  /**
   * The core chose resource `id` for the caller behind `ticket`. Recorded at once, before any
   * callback or listener runs, so that a destroy() from one of them finds and settles it.
   */
  #claim(id, ticket) {
    ticket.loan = id
    this.#loans[id] = ticket
  }

  /** The first reaction to a handed-over resource, before the caller's own. */
  #arrive(ticket, value) {
    const id = ticket.loan
    // Turned away meanwhile (the pool was destroyed while the resource was on its way).
    if (this.#loans[id] !== ticket) throw this.#closedError()
    this.#loans[id] = undefined
    poolLent(this.#h, id)
    this.#emit('resource-acquired', value)
    return value
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
   * Hands resource `id` to the caller behind `ticket` once it passes validation; a failing
   * resource is destroyed and the core serves the same caller again, in its place.
   */
  #vet(id, ticket, verdict) {
    for (;;) {
      // Turned away meanwhile (and settled so): the pool was destroyed by a callback.
      if (this.#loans[id] !== ticket) return
      if (verdict === true) {
        ticket.resolve(this.#values[id])
        return
      }
      if (verdict !== false) {
        this.#awaitVerdict(id, ticket, verdict)
        return
      }
      this.#loans[id] = undefined
      const code = poolRejectBorrowed(this.#h, id)
      // The loan was current (checked by the callers of #vet), so the core cannot refuse it.
      if (code < 0) throw new Error(`pool core refused a current loan of resource ${id}`)
      const kind = kindOf(code)
      if (kind === READY) this.#claim(idOf(code), ticket)
      else if (kind === QUEUED) this.#park(idOf(code), ticket)
      if (hasActions(code)) this.#drain()
      if (kind === QUEUED) return
      if (kind === CLOSED) {
        ticket.reject(this.#closedError())
        return
      }
      id = idOf(code)
      if (this.#loans[id] !== ticket) return
      verdict = this.#check(this.#values[id])
    }
  }

  /**
   * An async validateResource runs inside the acquire's deadline and signal. Past the deadline
   * the core turns the caller away (a timeout) and destroys the resource at once: a validator
   * that never settles must neither hold the slot nor leak the resource, and whatever it is
   * doing with the resource is moot once nobody will get it. An abort does the same. A verdict
   * that arrives afterwards is ignored (its loan is gone).
   */
  #awaitVerdict(id, ticket, verdict) {
    ticket.vetting = true
    this.#vetting++
    this.#keepTime()
    const signal = ticket.signal
    if (signal !== null) {
      ticket.onAbort = () => {
        if (this.#loans[id] !== ticket) return
        this.#loans[id] = undefined
        this.#endVetting(ticket)
        poolAbandon(this.#h, id)
        this.#drain()
        ticket.reject(abortReason(signal))
      }
      signal.addEventListener('abort', ticket.onAbort, { once: true })
    }
    Promise.resolve(verdict).then(
      (ok) => this.#verdict(id, ticket, Boolean(ok)),
      (err) => {
        this.#fault(asError(err, 'validateResource rejected'))
        this.#verdict(id, ticket, false)
      },
    )
    if (signal !== null && signal.aborted) ticket.onAbort()
  }

  #verdict(id, ticket, ok) {
    if (this.#loans[id] !== ticket) return
    this.#endVetting(ticket)
    this.#vet(id, ticket, ok)
  }

  #endVetting(ticket) {
    if (!ticket.vetting) return
    ticket.vetting = false
    this.#vetting--
    if (ticket.onAbort !== null) {
      ticket.signal.removeEventListener('abort', ticket.onAbort)
      ticket.onAbort = null
    }
    this.#dropTimeIfIdle()
  }

  // --- waiters ---

  #park(wid, ticket) {
    this.#waiters.set(wid, ticket)
    this.#keepTime()
    const signal = ticket.signal
    if (signal !== null) {
      ticket.onAbort = () => {
        if (poolCancel(this.#h, wid)) {
          this.#take(wid)
          ticket.reject(abortReason(signal))
        }
      }
      signal.addEventListener('abort', ticket.onAbort, { once: true })
      // Aborted while its resource was being validated: leave at once.
      if (signal.aborted) ticket.onAbort()
    }
  }

  /** Removes a waiter's ticket (it is being settled or served). */
  #take(wid) {
    const ticket = this.#waiters.get(wid)
    this.#waiters.delete(wid)
    if (ticket.onAbort !== null) {
      ticket.signal.removeEventListener('abort', ticket.onAbort)
      ticket.onAbort = null
    }
    this.#dropTimeIfIdle()
    return ticket
  }

  // One timer for every deadline (waiters' and validations'), armed for the earliest the core
  // knows. A waiting or validating caller keeps the process alive until its deadline; nobody
  // waiting, no timer.
  #keepTime() {
    if (this.#waitTimer !== null || this.#config.acquireTimeout === 0) return
    const next = poolNextDeadline(this.#h)
    if (next >= 0) this.#armWaitTimer(next)
  }

  #dropTimeIfIdle() {
    if (this.#waiters.size === 0 && this.#vetting === 0) this.#clearWaitTimer()
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

  // The timer may fire for a caller served meanwhile, in which case it re-arms for the next
  // deadline.
  #onWaitTimer() {
    this.#waitTimer = null
    const next = poolExpire(this.#h)
    this.#drain()
    if (next >= 0 && this.#waitTimer === null && this.#waiters.size + this.#vetting > 0) this.#armWaitTimer(next)
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
          this.#take(id).reject(this.#timeoutError('waiting for a resource'))
          break
        case ACT_CLOSED:
          this.#take(id).reject(this.#closedError())
          break
        case ACT_REVOKE_TIMEOUT:
          this.#revoke(id, this.#timeoutError('while validateResource checked its resource'))
          break
        case ACT_REVOKE_CLOSED:
          this.#revoke(id, this.#closedError())
          break
      }
    }
  }

  /** The core turned away the caller resource `id` was being lent to; a Destroy follows. */
  #revoke(id, err) {
    const ticket = this.#loans[id]
    // Every hand-over is claimed right after the core's answer, before any callback runs.
    if (ticket === undefined) throw new Error(`pool core revoked an unknown hand-over of resource ${id}`)
    this.#loans[id] = undefined
    this.#endVetting(ticket)
    // A ticket already resolved (the resource on its way) fails in #arrive instead.
    ticket.reject(err)
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
    let ticket = null
    if (kind === HANDOFF) {
      ticket = this.#take(idOf(code))
      this.#claim(id, ticket)
    }
    if (hasActions(code)) this.#drain()
    this.#emit('resource-created', value)
    // Fresh resources are not validated.
    if (ticket !== null) this.#vet(id, ticket, true)
  }

  #createFailed(id, token, err) {
    if (this.#creating.get(id) !== token) return
    this.#creating.delete(id)
    const code = poolCreateFailed(this.#h, id)
    const ticket = kindOf(code) === REJECT ? this.#take(idOf(code)) : null
    if (hasActions(code)) this.#drain()
    this.#fault(err)
    if (ticket !== null) ticket.reject(err)
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

  #timeoutError(what) {
    return poolError(
      `acquire timed out after ${this.#config.acquireTimeout} ms ${what}${this.#label()}`,
      'ERR_POOL_ACQUIRE_TIMEOUT',
    )
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
