// CommonJS consumers get the same types through require.
import bench = require('@promethean/benchmark')
import sub = require('@promethean/benchmark/src/cache/advanced-cache.js')

const cache: bench.AdvancedCache<string> = new sub.AdvancedCache<string>({ maxSize: 10 })
cache.set('k', 'v').then(() => cache.destroy())
