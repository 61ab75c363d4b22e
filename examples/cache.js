// A short tour of the caches: the guide's multi-level example, then a restart that reads the
// disk level back.
'use strict'

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { MultiLevelCache, CacheFactory } = require('@promethean/benchmark')

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promethean-cache-'))
  const config = {
    l1: { maxSize: 100, defaultTtl: 300000 },
    l2: { maxSize: 1000, defaultTtl: 3600000, persistToDisk: true, diskCacheDir: dir },
  }
  const result = { fixture: 'missing-export', model: 'gold', success: true, errorsResolved: 1 }

  const first = new MultiLevelCache(config)
  await first.set('buildfix:result', result, 600000)
  first.destroy()

  const second = new MultiLevelCache(config)
  second.on('l2-hit', ({ key }) => console.log(`l2 hit after restart: ${key}`))
  console.log('read back:', await second.get('buildfix:result'))
  console.log('stats:', second.getStats())
  second.destroy()

  const lru = CacheFactory.createLRUCache({ maxSize: 1000 })
  const started = process.hrtime.bigint()
  for (let i = 0; i < 100000; i++) await lru.set(`k${i}`, i)
  const ns = Number(process.hrtime.bigint() - started) / 100000
  console.log(`100k sets into a 1000-entry LRU: ${ns.toFixed(0)} ns per set, ${lru.getStats().evictionCount} evictions`)
  lru.destroy()
  fs.rmSync(dir, { recursive: true, force: true })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
