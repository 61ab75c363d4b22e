// 64 concurrent loops of acquire/release against one pool with random faults injected in every
// callback, then destroy(). Prints one JSON line with what it saw and lets the process end on
// its own: the parent times how long the exit takes.
import { ResourceManager } from '@promethean/benchmark'

const cycles = Number(process.argv[2] ?? 100000)
const loops = 64
const maxSize = 8

// Deterministic faults: a small xorshift so a failure reproduces.
let seed = 0x9e3779b9
function chance(p) {
  seed ^= seed << 13
  seed ^= seed >>> 17
  seed ^= seed << 5
  return (seed >>> 0) / 2 ** 32 < p
}

const created = new Set()
const destroyedCount = new Map()
let live = 0
let maxLive = 0
let held = 0
const holding = new Set()
let maxHeld = 0
let next = 0
let createFaults = 0
let acquireErrors = 0
let doubleReleases = 0

const manager = new ResourceManager({ cleanupInterval: 5 })
const pool = manager.createPool('stress', {
  minSize: 2,
  maxSize,
  acquireTimeout: 10000,
  idleTimeout: 5,
  createResource: async () => {
    if (chance(0.05)) {
      createFaults++
      throw new Error('injected create failure')
    }
    if (chance(0.3)) await new Promise((r) => setImmediate(r))
    const r = { id: next++, alive: true }
    created.add(r)
    live++
    maxLive = Math.max(maxLive, live)
    return r
  },
  destroyResource: async (r) => {
    destroyedCount.set(r, (destroyedCount.get(r) ?? 0) + 1)
    r.alive = false
    live--
    if (chance(0.2)) throw new Error('injected destroy failure')
  },
  validateResource: (r) => {
    if (chance(0.002)) throw new Error('injected validate throw')
    return r.alive && !chance(0.005)
  },
})
let poolErrors = 0
manager.on('pool-error', () => poolErrors++)
let alerts = 0
manager.on('resource-alert', () => alerts++)

let done = 0
let invariantError = ''
async function loop() {
  while (done < cycles) {
    let r
    try {
      r = await pool.acquire()
    } catch {
      acquireErrors++
      continue
    }
    held++
    maxHeld = Math.max(maxHeld, held)
    if (!r.alive) invariantError = `handed out a destroyed resource ${r.id}`
    if (holding.has(r)) invariantError = `resource ${r.id} lent to two holders`
    holding.add(r)
    done++
    if (chance(0.2)) await null
    held--
    holding.delete(r)
    // Released twice in a row: the resource is idle, or on its way to a waiting caller who does
    // not hold it yet, so the second release changes nothing.
    const twice = chance(0.05)
    pool.release(r)
    if (twice) {
      doubleReleases++
      pool.release(r)
      pool.release({ id: -1 })
    }
    // Now and then yield to the event loop, so creations land and the queue drains.
    if (chance(0.05)) await new Promise((r) => setImmediate(r))
    if (done % 997 === 0) {
      const s = pool.getStats()
      if (s.total !== s.idle + s.active || s.total > maxSize) invariantError = JSON.stringify(s)
      invariantError ||= pool.checkInvariants()
    }
  }
}

const started = performance.now()
await Promise.all(Array.from({ length: loops }, loop))
const elapsed = performance.now() - started
const before = pool.getStats()
await manager.destroy()
// Creations still in flight are destroyed when they land.
while (pool.getStats().pending > 0 || live > 0) await new Promise((r) => setTimeout(r, 1))
const after = pool.getStats()
const destroyedOnce = [...created].every((r) => destroyedCount.get(r) === 1)
console.log(
  JSON.stringify({
    cycles: done,
    elapsedMs: Math.round(elapsed),
    before,
    after,
    created: created.size,
    destroyedOnce,
    maxLive,
    maxHeld,
    createFaults,
    acquireErrors,
    poolErrors,
    doubleReleases,
    alerts,
    invariantError,
    checkInvariants: pool.checkInvariants(),
    doneAt: Date.now(),
  }),
)
