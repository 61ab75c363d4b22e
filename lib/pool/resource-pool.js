'use strict'
// ResourcePool: a driver of the native pool core (src/pool). The core decides everything (who
// waits, who gets which resource, when to create or destroy, when a wait, a validation or a
// creation has taken too long); this layer keeps the resource values, runs the user's callbacks
// and the one timer the core asks for, settles promises and emits events. An acquire of an idle
// resource and a release are one synchronous native call each, taking and returning numbers (see
// src/binding/pool.rs for the encoding).

const { EventEmitter } = require('node:events')

const debug = require('../debug.js')
const { binding } = require('../native.js')
const { abortReason, signalOf } = require('../abort.js')
const v = require('../validate.js')

const log = debug.createDebug('buildfix:pool')

const {
  poolCreate,
  poolConfig,
  poolFree,
  poolAcquire,
  poolRelease,
  poolValidated,
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
  poolAlerts,
  poolCheckInvariants,
  POOL_CODE_ACTIONS,
  POOL_CODE_ID_FACTOR,
  PoolAcquireKind,
  PoolReleaseKind,
  PoolCreateFailedKind,
  PoolActionKind,
} = binding
// A native pool lives until its JS pool object is collected.
const handles = new FinalizationRegistry((handle) => poolFree(handle))

// Node clamps larger timer delays to 1 ms.
const MAX_TIMER_MS = 2 ** 31 - 1

const { Ready, Queued, Closed } = PoolAcquireKind
const { Handoff, Destroy, Ignored } = PoolReleaseKind
const { Reject } = PoolCreateFailedKind
const IGNORED_CODE = Ignored

function kindOf(code) {
  return code % POOL_CODE_ACTIONS
}
function idOf(code) {
  return Math.floor(code / POOL_CODE_ID_FACTOR)
}
function hasActions(code) {
  return code % POOL_CODE_ID_FACTOR >= POOL_CODE_ACTIONS
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

/** The callbacks, checked here (they stay in JS); the numbers are checked by the binding. */
function callbacksOf(config) {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw v.typeError('config', 'an object with createResource', config)
  }
  const optionalFunc = (name) => (config[name] === undefined ? null : v.func(name, config[name]))
  return {
    // Optional, as in the original: without one the pool lends fresh plain objects.
    createResource: config.createResource === undefined ? async () => ({}) : v.func('createResource', config.createResource),
    destroyResource: optionalFunc('destroyResource'),
    validateResource: optionalFunc('validateResource'),
  }
}

/** Reads a pool's native handle (for the manager's alerts), set in the class's static block. */
let handleOf

/**
 * A pool of resources made by `createResource`. Events: `resource-created`,
 * `resource-acquired`, `resource-released`, `resource-destroyed`, `release-ignored` (the
 * resource) and `pool-error` (an Error: a failing create, destroy or validate callback).
 *
 * Every acquire is a ticket `{resolve, reject, signal, onAbort, loan, vetting}`: parked under its
 * waiter id while it waits, then, once the core lends it resource `loan`, kept in `#loans[loan]`
 * while the resource is validated and delivered. Delivery resolves the caller's promise from a
 * microtask, before any of the caller's code can see the resource: until then nobody holds it,
 * and a release of it is a former holder's, which the core ignores. The core learns that the
 * caller received it with the holder's release (`delivered`), the crossing made anyway.
 */
class ResourcePool extends EventEmitter {
  static {
    handleOf = (pool) => pool.#h
  }

  /** Handle of the native pool core. */
  #h
  #config
  #create
  #destroyCb
  #validate
  /** Whether the core has deadlines at all (acquireTimeout > 0). */
  #timed
  /** Resource id → value (undefined while the slot is free or being created). */
  #values = []
  /** Value → resource id, for `release`. */
  #ids = new Map()
  /** Waiter id → ticket of a caller in the queue. */
  #waiters = new Map()
  /** Resource id → ticket of the caller it is being lent to (validated or on its way). */
  #loans = []
  /** Tickets whose async validateResource is running (they keep the process alive). */
  #vetting = 0
  /** Tickets to resolve in the next microtask, and whether one is queued. */
  #arriving = []
  #arrivalQueued = false
  /** Resource id → attempt token of a creation in flight. */
  #creating = new Map()
  /** destroyResource calls in flight. */
  #destroying = new Set()
  /** The one timer for the core's next deadline; ref'd only while a caller waits on it. */
  #timer = null
  #maintainTimer = null
  #destroyed = null
  #name
  #manager

  constructor(config, owner = undefined) {
    super()
    debug.refresh()
    const callbacks = callbacksOf(config)
    this.#create = callbacks.createResource
    this.#destroyCb = callbacks.destroyResource
    this.#validate = callbacks.validateResource
    this.#name = owner?.name
    this.#manager = owner?.manager ?? null
    this.#h = poolCreate(config, this.#validate !== null)
    handles.register(this, this.#h)
    const { maintainEvery, ...numbers } = poolConfig(this.#h)
    this.#config = { ...numbers, ...callbacks }
    this.#timed = numbers.acquireTimeout > 0
    // The timer holds the pool weakly, so a pool dropped without destroy() can still be collected.
    const ref = new WeakRef(this)
    const timer = setInterval(() => {
      const pool = ref.deref()
      if (pool === undefined) clearInterval(timer)
      else pool.#maintain()
    }, maintainEvery)
    timer.unref()
    log('pool%s created: minSize %d, maxSize %d, acquireTimeout %d ms', this.#label(), numbers.minSize, numbers.maxSize, numbers.acquireTimeout)
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
      signal = signalOf('options', options)
    } catch (err) {
      return Promise.reject(err)
    }
    if (signal === null) return this.#acquire(null)
    if (signal.aborted) return Promise.reject(abortReason(signal, 'acquire'))
    return this.#acquire(signal)
  }

  #acquire(signal) {
    const code = poolAcquire(this.#h)
    const kind = kindOf(code)
    if (kind === Closed) return Promise.reject(this.#closedError())
    const ticket = { resolve: null, reject: null, signal, onAbort: null, loan: -1, vetting: false }
    const promise = new Promise((resolve, reject) => {
      ticket.resolve = resolve
      ticket.reject = reject
    })
    if (kind === Ready) {
      const id = idOf(code)
      this.#claim(id, ticket)
      if (hasActions(code)) this.#drain()
      this.#vet(id, ticket, this.#check(id))
    } else {
      this.#park(idOf(code), ticket)
      if (hasActions(code)) this.#drain()
    }
    return promise
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
    const code = id === undefined ? IGNORED_CODE : poolRelease(this.#h, id, this.#loans[id] === undefined)
    const kind = kindOf(code)
    if (kind === Ignored) {
      this.#emit('release-ignored', resource)
      return
    }
    if (kind === Handoff) {
      const ticket = this.#take(idOf(code))
      this.#claim(id, ticket)
      if (hasActions(code)) this.#drain()
      this.#emit('resource-released', resource)
      this.#vet(id, ticket, this.#check(id))
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
    this.#clearTimer()
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

  /** Resolves the caller's promise from a microtask (see the class comment). */
  #deliver(ticket) {
    this.#arriving.push(ticket)
    if (!this.#arrivalQueued) {
      this.#arrivalQueued = true
      queueMicrotask(this.#arrive)
    }
  }

  #arrive = () => {
    this.#arrivalQueued = false
    const tickets = this.#arriving
    this.#arriving = []
    for (const ticket of tickets) {
      const id = ticket.loan
      // Turned away meanwhile (the pool was destroyed while the resource was on its way), and
      // rejected then.
      if (this.#loans[id] !== ticket) continue
      this.#loans[id] = undefined
      const value = this.#values[id]
      this.#emit('resource-acquired', value)
      ticket.resolve(value)
    }
  }

  /**
   * Validates resource `id`, lent to a caller: true, false, or a promise of the verdict (an
   * async validateResource). A verdict given at once ends the core's deadline for it here.
   */
  #check(id) {
    if (this.#validate === null) return true
    let ok
    try {
      ok = this.#validate(this.#values[id])
    } catch (err) {
      this.#fault(asError(err, 'validateResource threw'))
      return false
    }
    if (ok !== null && typeof ok === 'object' && typeof ok.then === 'function') return ok
    if (ok && this.#timed) poolValidated(this.#h, id)
    return Boolean(ok)
  }

  /**
   * Delivers resource `id` to the caller behind `ticket` once it passes validation; a failing
   * resource is destroyed and the core serves the same caller again, in its place.
   */
  #vet(id, ticket, verdict) {
    for (;;) {
      // Turned away meanwhile (and settled so): the pool was destroyed by a callback.
      if (this.#loans[id] !== ticket) return
      if (verdict === true) {
        this.#deliver(ticket)
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
      if (kind === Ready) this.#claim(idOf(code), ticket)
      else if (kind === Queued) this.#park(idOf(code), ticket)
      if (hasActions(code)) this.#drain()
      if (kind === Queued) return
      if (kind === Closed) {
        ticket.reject(this.#closedError())
        return
      }
      id = idOf(code)
      if (this.#loans[id] !== ticket) return
      verdict = this.#check(id)
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
        ticket.reject(abortReason(signal, 'acquire'))
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
    if (ok && this.#timed) poolValidated(this.#h, id)
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
    this.#callersChanged()
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
          ticket.reject(abortReason(signal, 'acquire'))
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
    if (this.#waiters.size === 0) this.#callersChanged()
    return ticket
  }

  // --- the core's deadlines ---

  // One timer, armed for the earliest deadline the core knows (a waiter's, a validation's, a
  // creation's). Deadlines are all "then + acquireTimeout", so a new one is never earlier than
  // the armed one: the timer is asked for only when none is armed. It keeps the process alive
  // only while a caller waits or is validated (a creation alone does not).
  #keepTime() {
    if (this.#timer !== null) this.#callersChanged()
    else if (this.#timed) this.#armTimer(poolNextDeadline(this.#h))
  }

  #armTimer(ms) {
    if (ms < 0) return
    this.#timer = setTimeout(this.#onTimer, Math.min(Math.max(ms, 1), MAX_TIMER_MS))
    this.#callersChanged()
  }

  #callersChanged() {
    if (this.#timer === null) return
    if (this.#waiters.size + this.#vetting > 0) this.#timer.ref()
    else this.#timer.unref()
  }

  #clearTimer() {
    if (this.#timer !== null) {
      clearTimeout(this.#timer)
      this.#timer = null
    }
  }

  // The timer may fire for a caller served meanwhile: the core then expires nothing and names
  // the next deadline.
  #onTimer = () => {
    this.#timer = null
    const next = poolExpire(this.#h)
    this.#drain()
    if (this.#timer === null) this.#armTimer(next)
  }

  // --- side effects decided by the core ---

  #drain() {
    const actions = poolTakeActions(this.#h)
    for (let i = 0; i < actions.length; i += 2) {
      const id = actions[i + 1]
      switch (actions[i]) {
        case PoolActionKind.Create:
          this.#startCreate(id)
          break
        case PoolActionKind.Destroy:
          this.#destroyAt(id)
          break
        case PoolActionKind.Timeout:
          this.#take(id).reject(this.#timeoutError('waiting for a resource'))
          break
        case PoolActionKind.Closed:
          this.#take(id).reject(this.#closedError())
          break
        case PoolActionKind.RevokeTimeout:
          this.#revoke(id, this.#timeoutError('while validateResource checked its resource'))
          break
        case PoolActionKind.RevokeClosed:
          this.#revoke(id, this.#closedError())
          break
        case PoolActionKind.GiveUp:
          // A hanging factory holds no slot: its value is destroyed if it ever arrives.
          this.#creating.delete(id)
          this.#fault(this.#createTimeoutError())
          break
      }
    }
  }

  /** The core turned away the caller resource `id` was being lent to; a Destroy follows. */
  #revoke(id, err) {
    const ticket = this.#loans[id]
    // Delivered already: its holder has it, and it is destroyed like any borrowed resource.
    if (ticket === undefined) return
    this.#loans[id] = undefined
    this.#endVetting(ticket)
    ticket.reject(err)
  }

  #startCreate(id) {
    const token = {}
    this.#creating.set(id, token)
    this.#keepTime()
    let made
    try {
      made = Promise.resolve(this.#create())
    } catch (err) {
      made = Promise.reject(err)
    }
    made.then(
      (value) => this.#created(id, token, value),
      (err) => this.#createFailed(id, token, asError(err, 'createResource failed')),
    )
  }

  #created(id, token, value) {
    if (this.#creating.get(id) !== token) {
      // Given up on (timed out, or the pool was destroyed): not ours any more.
      this.#destroyValue(value)
      return
    }
    if (this.#ids.has(value)) {
      this.#createFailed(id, token, v.typeError('createResource()', 'a value not already in the pool (each resource must be distinct)', value))
      return
    }
    this.#creating.delete(id)
    this.#values[id] = value
    this.#ids.set(value, id)
    const code = poolCreated(this.#h, id)
    const kind = kindOf(code)
    if (kind === Ignored) return
    if (kind === Destroy) {
      this.#destroyAt(id)
      return
    }
    let ticket = null
    if (kind === Handoff) {
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
    const ticket = kindOf(code) === Reject ? this.#take(idOf(code)) : null
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
    log('pool%s error: %s', this.#label(), error?.message)
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

  // Both acquire timeouts begin with the original's text, which callers match on.
  #timeoutError(what) {
    return poolError(`Resource acquire timeout: acquire timed out after ${this.#config.acquireTimeout} ms ${what}${this.#label()}`, 'ERR_POOL_ACQUIRE_TIMEOUT')
  }

  #createTimeoutError() {
    return poolError(
      `Resource acquire timeout: createResource did not settle within acquireTimeout (${this.#config.acquireTimeout} ms)${this.#label()}`,
      'ERR_POOL_CREATE_TIMEOUT',
    )
  }

  #closedError() {
    return poolError(`Pool is being destroyed: the pool${this.#label()} was destroyed; create a new one`, 'ERR_POOL_DESTROYED')
  }
}

function rethrow(err) {
  throw err
}

/** The alerts a pool's statistics raise (API.md, ResourceManager), its messages naming it `name`. */
function alertsOf(pool, name) {
  return poolAlerts(handleOf(pool), name)
}

module.exports = { ResourcePool, alertsOf, poolError, MAX_TIMER_MS }
