import { EventEmitter } from 'node:events'

export type EvictionPolicy = 'lru' | 'lfu' | 'ttl' | 'size'

export interface CacheConfig {
  /** Most entries held at once. Default 1000. */
  maxSize?: number
  /** Most bytes of stored value held at once. Default 100 MiB. */
  maxMemory?: number
  /** Time to live in ms of an entry set without one; 0 means never expires. Default 300000. */
  defaultTtl?: number
  /** How often expired entries are swept, in ms; 0 turns the sweep off. Default 60000. */
  cleanupInterval?: number
  /** Mirror entries on disk (crash-safe) and load them back on the next start. Default false. */
  persistToDisk?: boolean
  /** Folder of the disk mirror, not empty. Default '.cache'. */
  diskCacheDir?: string
  /** Store values zstd-compressed. Default false. */
  compressionEnabled?: boolean
  /** Which entry goes when the cache is full. Default 'lru'. */
  evictionPolicy?: EvictionPolicy
}

export interface CacheEntry<T = any> {
  key: string
  value: T
  /** When the entry was set (ms since the epoch). */
  timestamp: number
  /** Time to live in ms; 0 when it never expires. */
  ttl: number
  accessCount: number
  lastAccessed: number
  /** Stored bytes (after compression). */
  size: number
  metadata?: Record<string, any>
}

export interface CacheStats {
  totalEntries: number
  /** Stored bytes of all values. */
  totalSize: number
  hitCount: number
  missCount: number
  hitRate: number
  /** Entries that left without being deleted: evicted by the limits, or expired. */
  evictionCount: number
  /** The part of evictionCount that expired (always there in what a cache returns; optional so the original's shape fits). */
  expiredCount?: number
  /** Mean time of a lookup, in ms. */
  avgAccessTime: number
  /** Creation time of the oldest entry, 0 when empty. */
  oldestEntry: number
  /** Creation time of the newest entry, 0 when empty. */
  newestEntry: number
}

export interface CacheEvent<T = any> {
  key: string
  entry: CacheEntry<T>
}

export interface DiskSaveErrorEvent {
  key?: string
  path: string
  error: Error
}

export interface DiskLoadErrorEvent {
  path: string
  error: Error
}

export interface AdvancedCacheEvents<T = any> {
  'cache-hit': [CacheEvent<T>]
  'cache-set': [CacheEvent<T>]
  'cache-delete': [CacheEvent<T>]
  'cache-clear': []
  cleanup: [{ evicted: number }]
  'disk-save-error': [DiskSaveErrorEvent]
  'disk-load-error': [DiskLoadErrorEvent]
}

export declare class AdvancedCache<T = any> extends EventEmitter {
  /** Creates a cache and resolves with it once its disk level (if any) is loaded. */
  static open<T = any>(config?: CacheConfig): Promise<AdvancedCache<T>>
  /** Returns at once: a persistent cache reads its folder in the background (see `ready`). */
  constructor(config?: CacheConfig)
  /**
   * Resolves once the disk level is loaded (at once for a memory-only cache). Never rejects:
   * files that cannot be used are reported with `disk-load-error` before it resolves. Calls made
   * before then wait for it, in order; only the synchronous `has`/`getStats` answer from memory.
   */
  readonly ready: Promise<void>
  /** The resolved configuration, defaults filled in. */
  readonly config: Required<CacheConfig>
  /** A copy of the value, or undefined when absent or expired. */
  get(key: string): Promise<T | undefined>
  /** Stores a JSON-serialisable value; rejects with a TypeError for anything else. */
  set(key: string, value: T, ttl?: number, metadata?: Record<string, any>): Promise<void>
  delete(key: string): Promise<boolean>
  /**
   * Empties the cache and its disk folder. Rejects (after `disk-save-error` for each) when entry
   * files could not be removed, since they would load again.
   */
  clear(): Promise<void>
  /** Synchronous: before `ready`, entries still on disk are not seen yet. */
  has(key: string): boolean
  getStats(): Required<CacheStats>
  /** Drops expired entries now; resolves with how many went. */
  cleanup(): Promise<number>
  /** Resolves once every disk write made so far is done. */
  flush(): Promise<void>
  /**
   * Stops the cleanup timer and frees every entry, without waiting: queued disk writes land in
   * the background (before a later cache of this process reads the same folder).
   */
  destroy(): void
  on<K extends keyof AdvancedCacheEvents<T>>(event: K, listener: (...args: AdvancedCacheEvents<T>[K]) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
  once<K extends keyof AdvancedCacheEvents<T>>(event: K, listener: (...args: AdvancedCacheEvents<T>[K]) => void): this
  once(event: string | symbol, listener: (...args: any[]) => void): this
}

export declare class CacheFactory {
  static createLRUCache<T = any>(config?: CacheConfig): AdvancedCache<T>
  static createLFUCache<T = any>(config?: CacheConfig): AdvancedCache<T>
  static createTTLCache<T = any>(config?: CacheConfig): AdvancedCache<T>
  static createSizeBasedCache<T = any>(config?: CacheConfig): AdvancedCache<T>
  static createPersistentCache<T = any>(config?: CacheConfig): AdvancedCache<T>
}

export interface MultiLevelCacheConfig {
  /** Memory level. Defaults: maxSize 100, defaultTtl 300000. */
  l1?: CacheConfig
  /** Disk-backed level, present only when given. Defaults: persistToDisk true, maxSize 1000, defaultTtl 3600000. */
  l2?: CacheConfig
  /**
   * A level shared between machines, on Redis, below l1 and l2: a value set on one machine is a
   * hit on another. When Redis is down or slow, reads and writes fall back to the local levels
   * with `shared-cache-error`; the cache reconnects on its own.
   */
  l3?: SharedCacheConfig
}

export interface SharedCacheConfig {
  /** `redis://[user:password@]host[:port][/db]` (a non-redis URL is a TypeError). */
  url: string
  /** Namespace of the keys in Redis: `keyPrefix:v1:key`. Default 'promethean-bench'. */
  keyPrefix?: string
  /** Time to live of a value set without one, ms; 0 never expires. Default 3600000. */
  defaultTtl?: number
  /** Deadline of each Redis command (connecting included), ms, 1 to 60000. Default 250. */
  timeoutMs?: number
}

/** The shared level's configuration in force (`MultiLevelCache#l3`). */
export type ResolvedSharedCacheConfig = Required<SharedCacheConfig>

export interface SharedCacheStats {
  hitCount: number
  missCount: number
  /** Commands that failed or timed out (each also a `shared-cache-error`). */
  errorCount: number
  writeCount: number
  /** Writes not finished yet (`flush()` waits for them). */
  pendingWrites: number
}

export interface SharedCacheErrorEvent {
  operation: 'get' | 'set' | 'delete'
  key: string
  error: Error
}

export declare class MultiLevelCache<T = any> extends EventEmitter {
  constructor(config?: MultiLevelCacheConfig)
  readonly l1: AdvancedCache<T>
  readonly l2: AdvancedCache<T> | undefined
  /** The shared level's configuration, when there is one. */
  readonly l3: ResolvedSharedCacheConfig | undefined
  /**
   * l1, then l2, then the shared level; a lower hit is copied into the levels above with the
   * expiry it has where it was found (unless too large for a level). A failing shared level is
   * a miss, with `shared-cache-error`.
   */
  get(key: string): Promise<T | undefined>
  /**
   * Stores the value in every level that can hold it (a level it is too large for drops its
   * older copy); rejects with a RangeError, changing nothing, when no level can.
   */
  set(key: string, value: T, ttl?: number): Promise<void>
  /** The local levels only. */
  has(key: string): boolean
  delete(key: string): Promise<boolean>
  /** Empties the local levels; the shared level, which other machines use, is left alone. */
  clear(): Promise<void>
  /** Resolves once the disk level's and the shared level's writes made so far are done. */
  flush(): Promise<void>
  getStats(): { l1: Required<CacheStats>; l2: Required<CacheStats> | undefined; l3?: SharedCacheStats }
  /**
   * Frees the local levels at once; resolves once the shared level's pending writes are done
   * and its connection is closed (at once without one).
   */
  destroy(): Promise<void>
  on(event: 'shared-cache-error', listener: (event: SharedCacheErrorEvent) => void): this
  on(event: 'l3-hit', listener: (event: { key: string }) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
}
