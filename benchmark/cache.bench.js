'use strict'
// AdvancedCache against the alternatives a user would pick: `lru-cache`, a plain Map used as an
// LRU, and the original module's approach (a Map rescanned on every write to find a victim),
// rebuilt in a few lines. set and get at 1k, 10k and 100k entries with eviction on every set.

const { execFileSync } = require('node:child_process')
const { LRUCache } = require('lru-cache')
const { AdvancedCache } = require('..')
const { compare, report, assertSame, formatNs } = require('./harness.js')

const SIZES = [1000, 10000, 100000]
const OPS = 20000
const value = (i) => ({ fixture: 'missing-export', model: 'gold', n: i })

// The original's eviction: scan every entry for the oldest access time on each write.
class OriginalScanCache {
  constructor(max) {
    this.max = max
    this.map = new Map()
    this.access = new Map()
    this.clock = 0
  }
  async set(key, v) {
    while (this.map.size >= this.max && !this.map.has(key)) {
      let victim
      let oldest = Infinity
      for (const [k, t] of this.access) {
        if (t < oldest) {
          oldest = t
          victim = k
        }
      }
      this.map.delete(victim)
      this.access.delete(victim)
    }
    this.map.set(key, v)
    this.access.set(key, ++this.clock)
  }
  async get(key) {
    const v = this.map.get(key)
    if (v !== undefined) this.access.set(key, ++this.clock)
    return v
  }
}

class MapLru {
  constructor(max) {
    this.max = max
    this.map = new Map()
  }
  set(key, v) {
    if (this.map.has(key)) this.map.delete(key)
    else if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value)
    this.map.set(key, v)
  }
  get(key) {
    const v = this.map.get(key)
    if (v !== undefined) {
      this.map.delete(key)
      this.map.set(key, v)
    }
    return v
  }
}

function makers(size) {
  return {
    AdvancedCache: () => {
      const c = new AdvancedCache({ maxSize: size, maxMemory: 1 << 30, defaultTtl: 0, cleanupInterval: 0 })
      return { set: (k, v) => c.set(k, v), get: (k) => c.get(k), destroy: () => c.destroy(), async: true }
    },
    'lru-cache': () => {
      const c = new LRUCache({ max: size })
      return { set: (k, v) => c.set(k, v), get: (k) => c.get(k), destroy() {}, async: false }
    },
    'Map (as LRU)': () => {
      const c = new MapLru(size)
      return { set: (k, v) => c.set(k, v), get: (k) => c.get(k), destroy() {}, async: false }
    },
    'original (O(n) scan)': () => {
      const c = new OriginalScanCache(size)
      return { set: (k, v) => c.set(k, v), get: (k) => c.get(k), destroy() {}, async: true }
    },
  }
}

async function filled(make, size) {
  const c = make()
  for (let i = 0; i < size; i++) {
    if (c.async) await c.set(`key-${i}`, value(i))
    else c.set(`key-${i}`, value(i))
  }
  return c
}

// The original's scan costs ~1 ms per set at 100k; fewer operations keep the run short.
const opsFor = (name, size) => (name.startsWith('original') ? Math.max(200, OPS / (size / 1000)) : OPS)

async function main() {
  console.log('Times are CPU time per operation (user + system), median of 5 interleaved rounds.')
  const growth = {}
  for (const size of SIZES) {
    const m = makers(size)
    // Same answers first: after the same writes every contender holds the same keys.
    const answers = {}
    for (const [name, make] of Object.entries(m)) {
      const c = await filled(make, Math.min(size, 2000))
      for (let i = 0; i < 3000; i++) await c.set(`extra-${i}`, value(i))
      answers[name] = [await c.get('extra-2999'), await c.get('key-0'), await c.get(`extra-${3000 - Math.min(size, 2000) - 1}`)]
      c.destroy()
    }
    for (const [name, a] of Object.entries(answers)) assertSame(`cache ${size} ${name}`, a, answers.AdvancedCache)

    for (const op of ['set', 'get']) {
      const contenders = Object.entries(m).map(([name, make]) => {
        const ops = opsFor(name, size)
        return {
          name,
          ops,
          setup: () => filled(make, size),
          teardown: (c) => c.destroy(),
          run: async (c) => {
            if (op === 'set') {
              // Every set is a new key: each one evicts.
              if (c.async) for (let i = 0; i < ops; i++) await c.set(`new-${i}`, value(i))
              else for (let i = 0; i < ops; i++) c.set(`new-${i}`, value(i))
            } else if (c.async) {
              for (let i = 0; i < ops; i++) await c.get(`key-${(i * 7919) % size}`)
            } else {
              for (let i = 0; i < ops; i++) c.get(`key-${(i * 7919) % size}`)
            }
          },
        }
      })
      // compare() divides by one `ops`; contenders with fewer ops are scaled here.
      const results = await compare({
        contenders: contenders.map((c) => ({ ...c, run: c.run })),
        ops: OPS,
        rounds: 5,
        clock: 'cpu',
      })
      for (const c of contenders) {
        const scale = OPS / c.ops
        results[c.name].median *= scale
        results[c.name].rounds = results[c.name].rounds.map((r) => r * scale)
      }
      report(`${op} at ${size} entries (every set evicts)`, results, 'AdvancedCache')
      for (const [name, r] of Object.entries(results)) {
        growth[`${op} ${name}`] ??= {}
        growth[`${op} ${name}`][size] = r.median
      }
    }
  }

  console.log('\nHow per-op cost grows with size (100k vs 1k; flat is 1.0x)')
  for (const [label, bySize] of Object.entries(growth)) {
    const g = bySize[100000] / bySize[1000]
    console.log(`  ${label.padEnd(32)} 1k ${formatNs(bySize[1000]).padStart(9)}  100k ${formatNs(bySize[100000]).padStart(9)}  ${g.toFixed(2)}x`)
  }

  console.log('\nMemory per entry at 100k entries (RSS growth in a fresh process; values ~50 bytes of JSON)')
  for (const name of ['AdvancedCache', 'lru-cache', 'Map (as LRU)']) {
    const out = execFileSync(process.execPath, ['--expose-gc', __filename, '--memory', name], { encoding: 'utf8' })
    const { rss, heap } = JSON.parse(out)
    console.log(`  ${name.padEnd(14)} ${(rss / 100000).toFixed(0).padStart(5)} B/entry  (${(heap / 100000).toFixed(0)} B of it JS heap)`)
  }
}

// Child mode: fill one contender with 100k entries and print how much the process grew.
async function memory(name) {
  global.gc()
  const before = process.memoryUsage()
  const c = await filled(makers(100000)[name], 100000)
  global.gc()
  const after = process.memoryUsage()
  process.stdout.write(JSON.stringify({ rss: after.rss - before.rss, heap: after.heapUsed - before.heapUsed }))
  c.destroy()
}

// `--memory` runs one contender alone in this process (see memory()); otherwise the whole bench.
const run = process.argv[2] === '--memory' ? memory(process.argv[3]) : main()
run.catch((err) => {
  console.error(err)
  process.exit(1)
})
