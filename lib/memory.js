'use strict'
// MemoryManager: a point-in-time check of the process's memory against thresholds, using the
// real limits — the V8 heap limit for the heap and external memory, and the memory available
// to the process (machine total, or the cgroup limit when lower) for RSS.

const v8 = require('node:v8')
const { binding } = require('./native.js')

// Defaults from the public contract (API.md, MemoryManager).
const DEFAULTS = Object.freeze({ heapUsed: 0.8, external: 0.5, rss: 0.9 })

function mib(bytes) {
  return `${(bytes / 1048576).toFixed(1)} MiB`
}

function percent(fraction) {
  return `${(fraction * 100).toFixed(1)}%`
}

let instance = null

class MemoryManager {
  #thresholds = { ...DEFAULTS }

  /** The shared instance. */
  static getInstance() {
    if (instance === null) instance = new MemoryManager()
    return instance
  }

  /**
   * Compares heap used and external memory with the V8 heap limit, and RSS with the memory
   * available to the process. `issues` says what is over, by how much.
   */
  checkMemoryUsage() {
    const heap = v8.getHeapStatistics()
    const { rss, available } = binding.NativeMonitor.processMemory()
    const limit = heap.heap_size_limit
    const t = this.#thresholds
    const issues = []
    const heapRatio = heap.used_heap_size / limit
    if (heapRatio > t.heapUsed) {
      issues.push(`heap used is ${percent(heapRatio)} of the V8 heap limit (${mib(heap.used_heap_size)} of ${mib(limit)}; threshold ${percent(t.heapUsed)})`)
    }
    const externalRatio = heap.external_memory / limit
    if (externalRatio > t.external) {
      issues.push(
        `external memory is ${percent(externalRatio)} of the V8 heap limit (${mib(heap.external_memory)} of ${mib(limit)}; threshold ${percent(t.external)})`,
      )
    }
    const rssRatio = available > 0 ? rss / available : 0
    if (rssRatio > t.rss) {
      issues.push(`RSS is ${percent(rssRatio)} of the memory available to the process (${mib(rss)} of ${mib(available)}; threshold ${percent(t.rss)})`)
    }
    return { ok: issues.length === 0, issues }
  }

  /**
   * Updates some thresholds, each a fraction in (0, 1]: `heapUsed` and `external` of the V8 heap
   * limit, `rss` of the memory available to the process. A bad value throws and changes nothing.
   */
  setThresholds(thresholds) {
    // Checked natively (the monitor's rule for fractions); only the fields given come back.
    this.#thresholds = { ...this.#thresholds, ...binding.checkMemoryThresholds(thresholds) }
  }

  /** The thresholds in force: `{heapUsed, external, rss}`. */
  getThresholds() {
    return { ...this.#thresholds }
  }

  /**
   * Runs a full garbage collection when the runtime exposes one (`node --expose-gc`); returns
   * whether it did.
   */
  forceGC() {
    if (typeof globalThis.gc !== 'function') return false
    globalThis.gc()
    return true
  }
}

module.exports = { MemoryManager }
