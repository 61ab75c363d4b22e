'use strict'
// BoundedCollection: a ring buffer of the newest items.

const v = require('../validate.js')

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

module.exports = { BoundedCollection }
