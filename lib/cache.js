'use strict'
// AdvancedCache, CacheFactory and MultiLevelCache: the public cache surface over the native
// store (src/cache). Values cross as JSON text, once per call; events are built only when
// somebody listens, so an unobserved get/set costs one native call.

const { EventEmitter } = require('node:events')

const debug = require('./debug.js')
const { binding } = require('./native.js')
const v = require('./validate.js')

const log = debug.createDebug('buildfix:cache')

// Native caches live behind numeric handles (see src/binding/handles.rs); a cache collected
// without destroy() is freed here (its queued disk writes still land) and its cleanup timer
// stopped. What is registered must not reach the cache, or it would never be collected.
const handles = new FinalizationRegistry((owned) => {
  clearInterval(owned.timer)
  binding.cacheFree(owned.handle)
})
// What a MultiLevelCache needs of its AdvancedCache levels: their handles (the fill and
// promote rule is MultiLevelCache in src/cache/multilevel.rs, run natively over them), and
// their load wait, events and disk barrier. Set in AdvancedCache's static block, the one place
// that can reach a cache's private state.
let level

function checkKey(key) {
  if (typeof key !== 'string') throw v.typeError('key', 'a string', key)
}

/** JSON text of `value`, or a TypeError saying why it cannot be stored. */
function serialize(name, value) {
  let json
  try {
    json = JSON.stringify(value)
  } catch (err) {
    throw v.typeError(name, `JSON-serialisable data (${err.message})`, value)
  }
  if (json === undefined) throw v.typeError(name, 'JSON-serialisable data', value)
  return json
}

function diskFailure(f) {
  return { key: f.key ?? undefined, path: f.path, error: new Error(f.error) }
}

/** The rejection of a clear() that left entry files behind (they would load again). */
function clearError(failures) {
  const [first] = failures
  const more = failures.length > 1 ? ` (and ${failures.length - 1} more)` : ''
  const err = new Error(`clear() could not remove every entry file of the disk cache, so they would load again: ` + `${first.path}: ${first.error}${more}`)
  err.code = 'ERR_CACHE_CLEAR'
  err.path = first.path
  return err
}

function entryFrom(key, info) {
  if (!info) return undefined
  return {
    key,
    value: JSON.parse(info.value),
    timestamp: info.timestamp,
    ttl: info.ttl,
    accessCount: info.accessCount,
    lastAccessed: info.lastAccessed,
    size: info.size,
    metadata: info.metadata == null ? undefined : JSON.parse(info.metadata),
  }
}

class AdvancedCache extends EventEmitter {
  #handle
  // {handle, timer}: what the FinalizationRegistry needs to free a dropped cache.
  #owned
  #config
  #pendingWrite = null
  // Read once: a native getter per call would cost a boundary crossing on the hot path.
  #persistent = false
  #ready
  // While the disk level loads, and until every call made meanwhile has run: calls wait on it.
  #loading = null
  #waiting = 0

  /** Creates a cache and resolves once its disk level (if any) is loaded. */
  static async open(config = {}) {
    const cache = new this(config)
    await cache.ready
    return cache
  }

  static {
    level = {
      handle: (c) => c.#handle,
      ready: (c) => (c.#loading ? c.#afterLoad() : undefined),
      hit(c, key) {
        if (c.listenerCount('cache-hit') > 0) c.emit('cache-hit', { key, entry: entryFrom(key, binding.cacheInspect(c.#handle, key)) })
      },
      stored(c, key) {
        if (c.listenerCount('cache-set') > 0) c.emit('cache-set', { key, entry: entryFrom(key, binding.cacheInspect(c.#handle, key)) })
        return c.#persistent ? c.#written() : undefined
      },
      dropped(c, key, old) {
        c.emit('cache-delete', { key, entry: entryFrom(key, old) })
        return c.#persistent ? c.#written() : undefined
      },
    }
  }

  constructor(config = {}) {
    super()
    debug.refresh()
    // Checks the options (the defaults are filled in natively) and makes the folder at once, so
    // bad options throw here; the folder is read off the JS thread (cacheLoad below).
    const opened = binding.cacheOpen(config)
    this.#handle = opened.handle
    this.#config = opened.config
    const c = this.#config
    this.#owned = { handle: this.#handle, timer: null }
    handles.register(this, this.#owned)
    this.#persistent = binding.cachePersistent(this.#handle)
    if (c.cleanupInterval > 0) this.#owned.timer = AdvancedCache.#startCleanup(this, c.cleanupInterval)
    log(
      'cache created: %s, maxSize %d, maxMemory %d bytes%s',
      c.evictionPolicy,
      c.maxSize,
      c.maxMemory,
      this.#persistent ? `, on disk in ${c.diskCacheDir}` : '',
    )
    if (this.#persistent) {
      this.#loading = binding.cacheLoad(this.#handle).then((failures) => {
        // Nobody waits: later calls need not either (waiters clear it in #afterLoad).
        if (this.#waiting === 0) this.#loading = null
        for (const f of failures) {
          try {
            this.emit('disk-load-error', { path: f.path, error: new Error(f.error) })
          } catch (err) {
            // A throwing listener is the listener's bug, reported as uncaught; it must not
            // make `ready` and every waiting call reject.
            queueMicrotask(() => {
              throw err
            })
          }
        }
      })
      this.#ready = this.#loading
    } else {
      this.#ready = Promise.resolve()
    }
  }

  // The timer holds the cache weakly: holding it would keep a dropped cache alive forever. A
  // static method, not a closure in the constructor: V8 shares one context between the closures
  // of a scope, so any closure there that uses `this` would make the timer hold it too.
  static #startCleanup(cache, interval) {
    const ref = new WeakRef(cache)
    const timer = setInterval(() => {
      const self = ref.deref()
      if (self) self.#cleanup()
      else clearInterval(timer)
    }, interval)
    // The cleanup timer never keeps the process alive on its own.
    timer.unref()
    return timer
  }

  /**
   * Resolves once the disk level is loaded (at once for a memory-only cache); never rejects,
   * unreadable files are reported with `disk-load-error` before it resolves.
   */
  get ready() {
    return this.#ready
  }

  // Calls made while the disk level loads wait for it, in the order they were made. `#loading`
  // is cleared only when no call waits any more, so a later call never overtakes an earlier one.
  async #afterLoad() {
    this.#waiting++
    try {
      await this.#loading
    } finally {
      if (--this.#waiting === 0) this.#loading = null
    }
  }

  /** The resolved configuration (defaults filled in). */
  get config() {
    return { ...this.#config }
  }

  async get(key) {
    checkKey(key)
    if (this.#loading) await this.#afterLoad()
    const json = binding.cacheGet(this.#handle, key)
    if (json === null) return undefined
    if (this.listenerCount('cache-hit') > 0) {
      this.emit('cache-hit', { key, entry: entryFrom(key, binding.cacheInspect(this.#handle, key)) })
    }
    return JSON.parse(json)
  }

  async set(key, value, ttl, metadata) {
    checkKey(key)
    const json = serialize('value', value)
    const meta = metadata === undefined ? undefined : serialize('metadata', metadata)
    if (this.#loading) await this.#afterLoad()
    binding.cacheSet(this.#handle, key, json, ttl, meta)
    if (this.listenerCount('cache-set') > 0) {
      this.emit('cache-set', { key, entry: entryFrom(key, binding.cacheInspect(this.#handle, key)) })
    }
    if (this.#persistent) await this.#written()
  }

  async delete(key) {
    checkKey(key)
    if (this.#loading) await this.#afterLoad()
    const entry = this.listenerCount('cache-delete') > 0 ? binding.cacheInspect(this.#handle, key) : null
    const deleted = binding.cacheDelete(this.#handle, key)
    if (deleted) this.emit('cache-delete', { key, entry: entryFrom(key, entry) })
    if (deleted && this.#persistent) await this.#written()
    return deleted
  }

  /** Rejects (after `disk-save-error`) if entry files were left on disk: they would load again. */
  async clear() {
    if (this.#loading) await this.#afterLoad()
    binding.cacheClear(this.#handle)
    this.emit('cache-clear')
    if (!this.#persistent) return
    const failed = (await this.#written()).filter((f) => f.op === 'clear')
    if (failed.length > 0) throw clearError(failed)
  }

  /** Synchronous: before `ready`, it answers from memory only (entries still on disk are not seen). */
  has(key) {
    checkKey(key)
    return binding.cacheHas(this.#handle, key)
  }

  getStats() {
    const s = binding.cacheStats(this.#handle)
    return {
      totalEntries: s.totalEntries,
      totalSize: s.totalSize,
      hitCount: s.hitCount,
      missCount: s.missCount,
      hitRate: s.hitRate,
      // Entries that left without being deleted: pushed out by the limits, or expired.
      evictionCount: s.evictionCount + s.expiredCount,
      expiredCount: s.expiredCount,
      avgAccessTime: s.avgAccessTime,
      oldestEntry: s.oldestEntry ?? 0,
      newestEntry: s.newestEntry ?? 0,
    }
  }

  /** Drops expired entries now; resolves with how many went. */
  async cleanup() {
    if (this.#loading) await this.#afterLoad()
    return this.#cleanup()
  }

  /** Resolves once every disk write made so far is done (at once for a memory-only cache). */
  async flush() {
    if (this.#loading) await this.#afterLoad()
    if (this.#persistent) await this.#written()
  }

  /**
   * Stops the cleanup timer and frees every entry, without waiting for anything. The disk
   * writes already queued still land, in the background, before a later cache of this process
   * reads the same folder and before the process exits on its own (not on `process.exit()`);
   * `await flush()` first to know they are on disk.
   */
  destroy() {
    clearInterval(this.#owned.timer)
    this.#owned.timer = null
    // A pending barrier keeps the process from exiting on its own before the writes land (a
    // script that ends with destroy() loses nothing); nothing waits for it here.
    if (this.#persistent) binding.cacheWhenWritten(this.#handle)
    binding.cacheDestroy(this.#handle)
  }

  #cleanup() {
    const evicted = binding.cacheCleanup(this.#handle)
    if (evicted > 0) this.emit('cleanup', { evicted })
    return evicted
  }

  // One barrier serves every write made in the same tick: the barrier is requested in a
  // microtask, after all of them were queued. Resolves with the failures it reported.
  #written() {
    if (this.#pendingWrite) return this.#pendingWrite
    this.#pendingWrite = new Promise((resolve) => queueMicrotask(resolve))
      .then(() => {
        this.#pendingWrite = null
        return binding.cacheWhenWritten(this.#handle)
      })
      .then((failures) => {
        for (const f of failures) this.emit('disk-save-error', diskFailure(f))
        return failures
      })
    return this.#pendingWrite
  }
}

class CacheFactory {
  static createLRUCache(config = {}) {
    return new AdvancedCache({ ...v.optionsObject('config', config), evictionPolicy: 'lru' })
  }

  static createLFUCache(config = {}) {
    return new AdvancedCache({ ...v.optionsObject('config', config), evictionPolicy: 'lfu' })
  }

  static createTTLCache(config = {}) {
    return new AdvancedCache({ ...v.optionsObject('config', config), evictionPolicy: 'ttl' })
  }

  static createSizeBasedCache(config = {}) {
    return new AdvancedCache({ ...v.optionsObject('config', config), evictionPolicy: 'size' })
  }

  static createPersistentCache(config = {}) {
    return new AdvancedCache({ ...v.optionsObject('config', config), persistToDisk: true })
  }
}

// A shared level dropped without destroy() still lets its writes finish and closes its
// connection.
const sharedLevels = new FinalizationRegistry((handle) => {
  binding.sharedCacheClose(handle)
})

class MultiLevelCache extends EventEmitter {
  #l1
  #l2
  // The shared level on Redis (`l3`): its native handle and configuration, when given.
  #l3
  #l3Config
  // Set by destroy(): its promise, and the shared level's last counters.
  #closed = null
  #finalShared = null
  // Fastest first, and their native handles.
  #levels
  #handles

  constructor(config = {}) {
    super()
    const c = v.optionsObject('config', config)
    // Checked first: a bad l3 must not leave local levels behind. Connects on first use.
    const shared = c.l3 === undefined ? undefined : binding.sharedCacheOpen(v.optionsObject('l3', c.l3), 'l3')
    try {
      this.#l1 = new AdvancedCache({ maxSize: 100, defaultTtl: 300000, ...v.optionsObject('l1', c.l1) })
    } catch (err) {
      if (shared) binding.sharedCacheClose(shared.handle)
      throw err
    }
    if (c.l2 !== undefined) {
      try {
        this.#l2 = new AdvancedCache({
          persistToDisk: true,
          maxSize: 1000,
          defaultTtl: 3600000,
          ...v.optionsObject('l2', c.l2),
        })
      } catch (err) {
        // No half-built cache: l1's timer and store go with the failed constructor.
        this.#l1.destroy()
        if (shared) binding.sharedCacheClose(shared.handle)
        throw err
      }
    }
    if (shared) {
      this.#l3 = shared.handle
      this.#l3Config = shared.config
      sharedLevels.register(this, shared.handle, this)
      log('shared cache level: %s, prefix %s, timeout %d ms', redactUrl(shared.config.url), shared.config.keyPrefix, shared.config.timeoutMs)
    }
    this.#levels = this.#l2 ? [this.#l1, this.#l2] : [this.#l1]
    this.#handles = this.#levels.map(level.handle)
    this.#l1.on('cache-hit', (event) => this.emit('l1-hit', event))
    this.#l2?.on('cache-hit', (event) => this.emit('l2-hit', event))
    for (const level of [this.#l1, this.#l2]) {
      level?.on('disk-save-error', (event) => this.emit('disk-save-error', event))
      level?.on('disk-load-error', (event) => this.emit('disk-load-error', event))
    }
  }

  get l1() {
    return this.#l1
  }

  get l2() {
    return this.#l2
  }

  /** The shared level's configuration (defaults filled in), when there is one. */
  get l3() {
    return this.#l3Config ? { ...this.#l3Config } : undefined
  }

  // Calls made while a level's disk part loads wait for it, as the level's own calls do.
  async #ready() {
    const waits = this.#levels.map(level.ready).filter(Boolean)
    if (waits.length > 0) await Promise.all(waits)
  }

  #sharedFailed(operation, key, message) {
    log('shared level: %s failed, the local levels answer: %s', operation, message)
    this.emit('shared-cache-error', { operation, key, error: new Error(`shared cache level (Redis): ${message}`) })
  }

  // Whether the shared level can still be used (not after destroy()).
  get #shared() {
    return this.#l3 !== undefined && this.#closed === null
  }

  /**
   * l1, then l2, then the shared level (read off the JS thread). A lower hit is copied into
   * every level above it with the expiry it has where it was found (never a level's default
   * TTL, which could outlive it), unless it is too large for a level: the one below keeps
   * serving it. A shared level that fails or is slow is a miss, with `shared-cache-error`.
   */
  async get(key) {
    checkKey(key)
    await this.#ready()
    let hit = binding.cacheLevelsGet(this.#handles, key)
    if (hit === null && this.#shared) {
      const read = await binding.sharedCacheGet(this.#handles, this.#l3, key)
      if (read.error != null) this.#sharedFailed('get', key, read.error)
      hit = read.hit ?? null
      if (hit !== null) {
        if (this.listenerCount('l3-hit') > 0) this.emit('l3-hit', { key })
        return JSON.parse(hit.value)
      }
    }
    if (hit === null) return undefined
    level.hit(this.#levels[hit.level], key)
    return JSON.parse(hit.value)
  }

  /**
   * Stores the value in every local level that can hold it (a level whose `maxMemory` it
   * exceeds drops its older copy of the key instead, so no stale value is served; a value no
   * level can hold rejects with the RangeError and changes nothing), then in the shared level
   * in the background: `flush()` waits for that write, and a failed one is reported with
   * `shared-cache-error`.
   */
  async set(key, value, ttl) {
    checkKey(key)
    const json = serialize('value', value)
    if (ttl !== undefined) v.number('ttl', ttl)
    await this.#ready()
    const writes = binding.cacheLevelsSet(this.#handles, key, json, ttl)
    if (this.#shared) {
      binding.sharedCacheSet(this.#l3, key, json, ttl).then((error) => {
        if (error !== null) this.#sharedFailed('set', key, error)
      })
    }
    await Promise.all(
      writes.map((w, i) => {
        if (w.stored) return level.stored(this.#levels[i], key)
        return w.dropped ? level.dropped(this.#levels[i], key, w.dropped) : undefined
      }),
    )
  }

  /** Synchronous: the local levels only (the shared level is a network call away). */
  has(key) {
    return this.#l1.has(key) || (this.#l2?.has(key) ?? false)
  }

  async delete(key) {
    checkKey(key)
    const shared = this.#shared ? binding.sharedCacheDelete(this.#l3, key) : null
    const [a, b, s] = await Promise.all([this.#l1.delete(key), this.#l2 ? this.#l2.delete(key) : false, shared])
    if (s?.error != null) this.#sharedFailed('delete', key, s.error)
    return a || b || (s?.deleted ?? false)
  }

  /** Empties the local levels. The shared level is left alone: other machines use it too. */
  async clear() {
    await Promise.all([this.#l1.clear(), this.#l2?.clear()])
  }

  /** Resolves once the disk level's writes and the shared level's writes made so far are done. */
  async flush() {
    await Promise.all([this.#l2?.flush(), this.#shared ? binding.sharedCacheFlush(this.#l3) : undefined])
  }

  getStats() {
    const stats = { l1: this.#l1.getStats(), l2: this.#l2?.getStats() }
    if (this.#l3 !== undefined) {
      const s = this.#closed === null ? binding.sharedCacheStats(this.#l3) : this.#finalShared
      stats.l3 = { hitCount: s.hits, missCount: s.misses, errorCount: s.errors, writeCount: s.writes, pendingWrites: s.pendingWrites }
    }
    return stats
  }

  /**
   * Frees the local levels at once; the shared level lets its pending writes finish (each
   * within its deadline), then closes its connection. The promise resolves then (at once
   * without a shared level); calling it again returns the same promise.
   */
  destroy() {
    if (this.#closed) return this.#closed
    this.#l1.destroy()
    this.#l2?.destroy()
    if (this.#l3 === undefined) {
      this.#closed = Promise.resolve()
      return this.#closed
    }
    this.#finalShared = binding.sharedCacheStats(this.#l3)
    sharedLevels.unregister(this)
    this.#closed = binding.sharedCacheClose(this.#l3).then((final) => {
      // What the writes that were pending came to.
      if (final) this.#finalShared = final
    })
    return this.#closed
  }
}

/** The URL without its password, for logs. */
function redactUrl(url) {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')
}

module.exports = { AdvancedCache, CacheFactory, MultiLevelCache }
