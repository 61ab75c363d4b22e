// Written the way the optimisation guide's examples are written: if these lines type-check,
// existing benchmark code compiles against this package unchanged.
import { CacheFactory, MultiLevelCache } from '@promethean/benchmark/src/cache/advanced-cache'
import { AdvancedCache, type CacheStats } from '@promethean/benchmark'

interface BuildFixResult {
  fixture: string
  success: boolean
}

export async function cacheExample(): Promise<BuildFixResult | undefined> {
  const lruCache = CacheFactory.createLRUCache({
    maxSize: 1000,
    maxMemory: 100 * 1024 * 1024, // 100MB
    defaultTtl: 300000, // 5 minutes
    evictionPolicy: 'lru',
  })
  lruCache.on('cache-hit', ({ key, entry }) => console.log(key, entry.accessCount))
  const multiCache = new MultiLevelCache<BuildFixResult>({
    l1: { maxSize: 100, defaultTtl: 300000 },
    l2: { maxSize: 1000, defaultTtl: 3600000, persistToDisk: true },
  })
  const result: BuildFixResult = { fixture: 'missing-export', success: true }
  await multiCache.set('buildfix:result', result, 600000)
  const cached = await multiCache.get('buildfix:result')
  const stats: CacheStats = lruCache.getStats()
  const rate: number = stats.hitRate
  const typed = new AdvancedCache<number>({ evictionPolicy: 'lfu', compressionEnabled: true })
  await typed.set('n', rate, undefined, { source: 'example' })
  const n: number | undefined = await typed.get('n')
  void n
  const persistent = await AdvancedCache.open<BuildFixResult>({ persistToDisk: true, diskCacheDir: '.cache' })
  await persistent.ready
  const loaded: BuildFixResult | undefined = await persistent.get('buildfix:result')
  void loaded
  persistent.destroy()
  lruCache.destroy()
  typed.destroy()
  multiCache.destroy()
  const sharedCache = new MultiLevelCache<BuildFixResult>({
    l1: { maxSize: 100 },
    l3: { url: 'redis://127.0.0.1:6379', keyPrefix: 'team-a', defaultTtl: 3600000, timeoutMs: 250 },
  })
  sharedCache.on('shared-cache-error', ({ operation, key, error }) => console.warn(operation, key, error.message))
  await sharedCache.set('buildfix:result', result)
  await sharedCache.flush()
  const shared = sharedCache.getStats().l3
  const sharedHits: number | undefined = shared?.hitCount
  const timeout: number | undefined = sharedCache.l3?.timeoutMs
  void sharedHits
  void timeout
  await sharedCache.destroy()
  return cached
}
