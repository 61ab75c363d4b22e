'use strict'
// The link of a coordinator or a worker to Redis: the connection options every BullMQ object of
// the process gets, and one connection of its own that watches the server. When the server goes
// away and does not come back within `timeout`, the link emits 'lost' once (with an Error saying
// so); the owner then shuts everything down, so no reconnect loop keeps the process alive.

const { EventEmitter } = require('node:events')

const { parseRedisUrl, redactRedisUrl } = require('./url.js')

/**
 * bullmq and ioredis: optional peer dependencies, installed beside the package by those who run
 * distributed (a plain install stays without them, and without msgpackr's native install script).
 */
function queueDeps() {
  try {
    return { bullmq: require('bullmq'), ioredis: require('ioredis') }
  } catch (err) {
    if (err && err.code === 'MODULE_NOT_FOUND' && /'(bullmq|ioredis)'/.test(String(err.message))) {
      throw new Error(
        'distributed runs (--queue) need the optional packages bullmq and ioredis installed beside @promethean/benchmark: npm install bullmq ioredis',
      )
    }
    throw err
  }
}

/** The default of --redis-timeout: how long Redis may be unreachable before giving up. */
const DEFAULT_REDIS_TIMEOUT = 10_000

class RedisLink extends EventEmitter {
  /** @param {string} url a redis:// URL, already checked by the command line */
  constructor(url, { timeout = DEFAULT_REDIS_TIMEOUT } = {}) {
    super()
    this.url = url
    this.shown = redactRedisUrl(url)
    this.timeout = timeout
    this.lastError = null
    this.lostError = null
    this.closed = false
    this.timer = null
    // Reconnect quickly (the bound is `timeout`, not the retry schedule); BullMQ's blocking
    // connections require `maxRetriesPerRequest: null`, so commands wait for a reconnect
    // instead of failing: the watch below is what bounds that wait.
    this.connection = {
      ...parseRedisUrl(url),
      maxRetriesPerRequest: null,
      retryStrategy: (times) => Math.min(100 * times, 1000),
      connectTimeout: Math.min(timeout, 10_000),
    }
    const { Redis } = queueDeps().ioredis
    this.client = new Redis({ ...this.connection, lazyConnect: true })
    this.client.on('error', (err) => {
      this.lastError = err
    })
    this.client.on('close', () => this.#arm())
    this.client.on('ready', () => this.#disarm())
  }

  /** Resolves once Redis answers; rejects with one clear line when it does not within `timeout`. */
  async ready() {
    this.#arm()
    const lost = new Promise((_, reject) => this.once('lost', reject))
    lost.catch(() => {})
    await Promise.race([this.client.connect().catch(() => lost), lost])
    await Promise.race([this.client.ping(), lost])
    this.#disarm()
  }

  /** The Error of a lost link, for messages and rejections. */
  #failure() {
    const why = this.lastError ? `: ${String(this.lastError.message || this.lastError).split('\n')[0]}` : ''
    return new Error(`Redis at ${this.shown} is unreachable and did not answer within ${Math.round(this.timeout / 100) / 10} s${why}`)
  }

  #arm() {
    if (this.closed || this.timer || this.lostError) return
    this.timer = setTimeout(() => {
      this.timer = null
      if (this.closed) return
      this.lostError = this.#failure()
      this.emit('lost', this.lostError)
    }, this.timeout)
  }

  #disarm() {
    clearTimeout(this.timer)
    this.timer = null
  }

  /** Rejects when the link is lost (for Promise.race around any wait on Redis). */
  whenLost() {
    if (this.lostError) return Promise.reject(this.lostError)
    return new Promise((_, reject) => this.once('lost', reject))
  }

  /** Ends the watch connection at once (no reconnect after this). */
  close() {
    this.closed = true
    this.#disarm()
    this.client.disconnect()
  }
}

/**
 * Runs `close()` but waits at most `ms` for it (a close against a Redis that is gone may never
 * settle); then `force()`, which must end every connection at once.
 */
async function closeWithin(close, force, ms) {
  let timer
  try {
    await Promise.race([Promise.resolve().then(close), new Promise((resolve) => (timer = setTimeout(resolve, ms)))])
  } catch {}
  clearTimeout(timer)
  try {
    await force()
  } catch {}
}

module.exports = { RedisLink, closeWithin, queueDeps, DEFAULT_REDIS_TIMEOUT }
