'use strict'
// Resource pool: acquire/release cycles per second, one caller at a time and with 64 concurrent
// loops sharing 8 resources, against generic-pool and tarn configured alike (min = max = 8,
// 30 s acquire timeout, no validation). Then fairness: the longest any single acquire() waited
// in the contended run, and the spread of waits.

const { performance } = require('node:perf_hooks')
const genericPool = require('generic-pool')
const tarn = require('tarn')

const { ResourceManager } = require('..')
const { compare, report, assertSame, median } = require('./harness.js')

const SIZE = 8
const LOOPS = 64
const SEQ_OPS = 200_000
const CONC_OPS = 200_000

function makeResource() {
  let n = 0
  return async () => ({ id: n++ })
}

// Each contender: make(), acquire(pool) → Promise<resource>, release(pool, r), end(pool).
const kinds = {
  'promethean ResourcePool': {
    async make() {
      const manager = new ResourceManager({ cleanupInterval: 0 })
      const pool = manager.createPool('bench', {
        minSize: SIZE,
        maxSize: SIZE,
        acquireTimeout: 30000,
        createResource: makeResource(),
        destroyResource: async () => {},
      })
      return { manager, pool }
    },
    acquire: (s) => s.pool.acquire(),
    release: (s, r) => s.pool.release(r),
    end: (s) => s.manager.destroy(),
  },
  'generic-pool': {
    async make() {
      const pool = genericPool.createPool({ create: makeResource(), destroy: async () => {} }, { min: SIZE, max: SIZE, acquireTimeoutMillis: 30000 })
      return { pool }
    },
    acquire: (s) => s.pool.acquire(),
    release: (s, r) => s.pool.release(r),
    end: async (s) => {
      await s.pool.drain()
      await s.pool.clear()
    },
  },
  tarn: {
    async make() {
      const pool = new tarn.Pool({
        create: makeResource(),
        destroy: async () => {},
        min: SIZE,
        max: SIZE,
        acquireTimeoutMillis: 30000,
      })
      return { pool }
    },
    acquire: (s) => s.pool.acquire().promise,
    release: (s, r) => s.pool.release(r),
    end: (s) => s.pool.destroy(),
  },
}

async function setup(kind) {
  const k = kinds[kind]
  const s = await k.make()
  // Warm up: all SIZE resources exist and are idle before timing.
  const held = await Promise.all(Array.from({ length: SIZE }, () => k.acquire(s)))
  for (const r of held) k.release(s, r)
  await new Promise((r) => setImmediate(r))
  return s
}

async function sequential(kind, s, ops) {
  const k = kinds[kind]
  const seen = new Set()
  for (let i = 0; i < ops; i++) {
    const r = await k.acquire(s)
    if (i < 64) seen.add(r)
    k.release(s, r)
  }
  return { ops, distinctAtMostSize: seen.size <= SIZE }
}

async function concurrent(kind, s, ops, waits) {
  const k = kinds[kind]
  const per = ops / LOOPS
  let held = 0
  let maxHeld = 0
  await Promise.all(
    Array.from({ length: LOOPS }, async () => {
      for (let i = 0; i < per; i++) {
        const started = waits ? performance.now() : 0
        const r = await k.acquire(s)
        if (waits) waits.push(performance.now() - started)
        if (++held > maxHeld) maxHeld = held
        held--
        k.release(s, r)
      }
    }),
  )
  return { ops, maxHeld }
}

async function main() {
  const names = Object.keys(kinds)

  // Contenders first agree: same cycles done, the bound held.
  for (const name of names) {
    const s = await setup(name)
    assertSame(`${name} sequential`, await sequential(name, s, 1000), { ops: 1000, distinctAtMostSize: true })
    const c = await concurrent(name, s, 6400)
    assertSame(`${name} concurrent`, c.ops, 6400)
    if (c.maxHeld > SIZE) throw new Error(`${name} lent ${c.maxHeld} resources at once, max is ${SIZE}`)
    await kinds[name].end(s)
  }

  const seq = await compare({
    ops: SEQ_OPS,
    rounds: 7,
    contenders: names.map((name) => ({
      name,
      setup: () => setup(name),
      run: (s) => sequential(name, s, SEQ_OPS),
      teardown: (s) => kinds[name].end(s),
    })),
  })
  report(`sequential acquire/release cycles (min = max = ${SIZE})`, seq, 'generic-pool')
  printRate(seq)

  const conc = await compare({
    ops: CONC_OPS,
    rounds: 7,
    contenders: names.map((name) => ({
      name,
      setup: () => setup(name),
      run: (s) => concurrent(name, s, CONC_OPS),
      teardown: (s) => kinds[name].end(s),
    })),
  })
  report(`${LOOPS} concurrent loops sharing ${SIZE} resources`, conc, 'generic-pool')
  printRate(conc)

  // Fairness: every acquire's wait in a contended run, per contender (3 runs, median of each figure).
  console.log(`\nwait per acquire() with ${LOOPS} loops on ${SIZE} resources (median of 3 runs)`)
  for (const name of names) {
    const figures = { p50: [], p99: [], max: [] }
    for (let run = 0; run < 3; run++) {
      const s = await setup(name)
      const waits = []
      await concurrent(name, s, 64_000, waits)
      await kinds[name].end(s)
      waits.sort((a, b) => a - b)
      figures.p50.push(waits[waits.length >> 1])
      figures.p99.push(waits[Math.floor(waits.length * 0.99)])
      figures.max.push(waits[waits.length - 1])
    }
    const us = (ms) => `${(median(ms) * 1000).toFixed(0)} µs`.padStart(9)
    console.log(`  ${name.padEnd(24)} p50 ${us(figures.p50)}  p99 ${us(figures.p99)}  max ${us(figures.max)}`)
  }
}

function printRate(results) {
  for (const [name, r] of Object.entries(results)) {
    console.log(`    ${name.padEnd(24)} ${(1e9 / r.median / 1e6).toFixed(2)} M cycles/s`)
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
