'use strict'
// ResourceManager: named pools, their events forwarded, and a periodic check that reports the
// alerts the pool core raises (src/pool/alerts.rs).

const { EventEmitter } = require('node:events')

const v = require('../validate.js')
const { ResourcePool, alertsOf, poolError, MAX_TIMER_MS } = require('./resource-pool.js')

// Default from the public contract (API.md, ResourceManager).
const DEFAULT_CLEANUP_INTERVAL = 30000

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
      fallback: DEFAULT_CLEANUP_INTERVAL,
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
    if (this.#pools.has(name)) throw poolError(`Resource pool '${name}' already exists`, 'ERR_POOL_EXISTS')
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
      for (const alert of alertsOf(pool, name)) this.emit('resource-alert', { name, alert })
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

module.exports = { ResourceManager }
