// CommonJS consumers get the same types through require.
import bench = require('@promethean/benchmark')
import sub = require('@promethean/benchmark/src/cache/advanced-cache.js')

const cache: bench.AdvancedCache<string> = new sub.AdvancedCache<string>({ maxSize: 10 })
cache.set('k', 'v').then(() => cache.destroy())

import rm = require('@promethean/benchmark/src/metrics/resource-manager.js')

const manager: bench.ResourceManager = new rm.ResourceManager({ cleanupInterval: 0 })
const pool: bench.ManagedResourcePool<{ id: number }> = manager.createPool('cjs', {
  maxSize: 2,
  createResource: async () => ({ id: 1 }),
})
pool.use(async (r) => r.id).then(() => manager.destroy())
const ring: bench.BoundedCollection<number> = new rm.BoundedCollection<number>(4, { maxAge: 1000 })
ring.push(1)
