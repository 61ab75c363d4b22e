'use strict'
// What a hit costs in each level of a MultiLevelCache, side by side at the same value sizes:
// a memory hit (l1), a disk-level hit (l2, warm, and from a cache just opened on the folder, as
// another process on this machine would read it), and a hit of the shared level on Redis (l3,
// local levels empty: what another machine sees), against the alternative a user would write by
// hand, ioredis GET + JSON.parse. Reads are one at a time (latency). Skips with a message when
// redis-server is not installed.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const Redis = require('ioredis')
const { MultiLevelCache } = require('..')
const { compare, report, assertSame } = require('./harness.js')
const { startRedis } = require('./servers.js')

const SIZES = [1024, 16 * 1024]
const OPS = 2000
const KEYS = 50

/** A throw-away Redis and an ioredis client of it (for the by-hand contender). */
async function startRedisWithClient() {
  const redis = await startRedis()
  if (!redis) return null
  const client = new Redis(redis.url, { maxRetriesPerRequest: null })
  await client.ping()
  return { ...redis, client }
}

function answerOf(bytes, i) {
  const results = []
  while (JSON.stringify(results).length < bytes) {
    results.push({
      fixture: `fixture-${results.length}`,
      model: 'qwen3:8b',
      success: i % 2 === 0,
      errorCountBefore: 3,
      errorCountAfter: 0,
      planTitle: 'Export the helper and fix its call',
    })
  }
  return results
}

async function main() {
  const redis = await startRedisWithClient()
  if (!redis) {
    console.log('shared-cache: redis-server is not installed, skipped (apt-get install redis-server)')
    return
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-shared-bench-'))
  try {
    console.log(`shared-cache: one read at a time, ${OPS} reads per round over ${KEYS} keys; load ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores`)
    for (const size of SIZES) await bench(size, dir, redis)
  } finally {
    redis.client.disconnect()
    await redis.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

async function bench(size, dir, redis) {
  const values = Array.from({ length: KEYS }, (_, i) => answerOf(size, i))
  const key = (i) => `bench:${size}:${i % KEYS}`
  const l2Dir = path.join(dir, `l2-${size}`)
  // An l1 of one entry, reads cycling over KEYS keys: every read misses l1, hits the level
  // below and fills l1 (evicting the previous key), the whole path of a lower-level hit.
  const tooSmall = { maxSize: 1, cleanupInterval: 0 }
  const l3 = { url: redis.url, keyPrefix: 'bench' }

  const memory = new MultiLevelCache({ l1: { maxSize: KEYS * 2, defaultTtl: 0, cleanupInterval: 0 } })
  const disk = new MultiLevelCache({
    l1: tooSmall,
    l2: { diskCacheDir: l2Dir, maxSize: KEYS * 2, defaultTtl: 0, compressionEnabled: true, cleanupInterval: 0 },
  })
  const writer = new MultiLevelCache({ l1: { cleanupInterval: 0 }, l3 })
  for (let i = 0; i < KEYS; i++) {
    await memory.set(key(i), values[i])
    await disk.set(key(i), values[i])
    await writer.set(key(i), values[i])
    await redis.client.set(`plain:${key(i)}`, JSON.stringify(values[i]))
  }
  await Promise.all([disk.flush(), writer.flush()])
  // Another machine: nothing local, everything from Redis.
  const reader = new MultiLevelCache({ l1: tooSmall, l3 })

  const contenders = {
    'memory hit (l1)': (k) => memory.get(k),
    'disk-level hit (l2)': (k) => disk.get(k),
    'shared hit (l3, Redis)': (k) => reader.get(k),
    'ioredis GET + JSON.parse': async (k) => JSON.parse(await redis.client.get(`plain:${k}`)),
  }
  for (const [name, get] of Object.entries(contenders)) {
    for (let i = 0; i < KEYS; i++) assertSame(`${name} ${key(i)}`, await get(key(i)), values[i])
  }
  const rounds = await compare({
    ops: OPS,
    rounds: 7,
    contenders: Object.entries(contenders).map(([name, get]) => ({
      name,
      run: async () => {
        for (let i = 0; i < OPS; i++) await get(key(i))
      },
    })),
  })
  if (reader.getStats().l3.hitCount < OPS * 7) throw new Error('the shared level was not read on every l3 read')
  // A cache opened on the l2 folder (load, then one hit): what another process on this
  // machine pays for its first read of the disk level.
  const cold = await compare({
    ops: 1,
    rounds: 5,
    contenders: [
      {
        name: 'disk level, new cache (open + load + hit)',
        run: async () => {
          const c = new MultiLevelCache({
            l1: tooSmall,
            l2: { diskCacheDir: l2Dir, maxSize: KEYS * 2, defaultTtl: 0, compressionEnabled: true, cleanupInterval: 0 },
          })
          assertSame('cold l2', await c.get(key(0)), values[0])
          await c.destroy()
        },
      },
      {
        name: 'shared level, new cache (connect + hit)',
        run: async () => {
          const c = new MultiLevelCache({ l1: tooSmall, l3 })
          assertSame('cold l3', await c.get(key(0)), values[0])
          await c.destroy()
        },
      },
    ],
  })
  report(`hit latency, values of ${JSON.stringify(values[0]).length} bytes of JSON`, rounds, 'memory hit (l1)')
  const shared = rounds['shared hit (l3, Redis)'].median
  console.log(
    `  shared hit / disk-level hit: ${(shared / rounds['disk-level hit (l2)'].median).toFixed(1)}x; shared hit / ioredis by hand: ${(shared / rounds['ioredis GET + JSON.parse'].median).toFixed(2)}x`,
  )
  report('  first read of a new cache', cold, 'disk level, new cache (open + load + hit)')
  await Promise.all([memory.destroy(), disk.destroy(), writer.destroy(), reader.destroy()])
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
