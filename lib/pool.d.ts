// Types of lib/pool.js: ResourceManager, ResourcePool and BoundedCollection.

import { EventEmitter } from 'node:events'

export interface ResourcePoolConfig<T> {
  /** Resources created up front and kept. Default 2 (or maxSize when smaller). */
  minSize?: number
  /** Most live resources, counting creations in flight. Default 10. */
  maxSize?: number
  /** ms a caller may wait before acquire() rejects; 0 waits without limit. Default 30000. */
  acquireTimeout?: number
  /** ms a resource above minSize may sit idle before it is destroyed. Default 60000. */
  idleTimeout?: number
  /** Makes a resource. Optional, as in the original: without one the pool lends fresh plain objects (`{}`). */
  createResource?: () => Promise<T> | T
  destroyResource?: (resource: T) => Promise<void> | void
  /**
   * Checked before an idle resource is handed out; a failing one is destroyed and replaced. An
   * async check runs inside acquireTimeout and the acquire's signal: one still running past them
   * has its resource destroyed and the acquire rejects.
   */
  validateResource?: (resource: T) => boolean | Promise<boolean>
}

export interface PoolStats {
  /** Live resources: idle + active. */
  total: number
  active: number
  idle: number
  waiting: number
  /** The most resources ever borrowed at once. */
  maxUsed: number
  /** Mean ms from acquire() to getting a resource, over all successful acquires. */
  avgWaitTime: number
  /** Creations in flight (always there in what a pool returns; optional so the original's shape fits). */
  pending?: number
  /** Resources created and destroyed so far. */
  created?: number
  destroyed?: number
}

/** The original module's name of the pool configuration (not generic there: `T` defaults to `any`). */
export type ResourceConfig<T = any> = ResourcePoolConfig<T>

export interface AcquireOptions {
  /**
   * Aborting it rejects a waiting acquire() (or one whose resource is being validated) with the
   * signal's reason; it leaves the queue, and a resource being validated for it is destroyed.
   */
  signal?: AbortSignal
}

export interface ResourcePoolEvents<T> {
  'resource-created': [resource: T]
  'resource-acquired': [resource: T]
  'resource-released': [resource: T]
  'resource-destroyed': [resource: T]
  /**
   * release() changed nothing: the value was released already, is still on its way to its next
   * borrower, was destroyed, or never came from this pool.
   */
  'release-ignored': [resource: T]
  'pool-error': [error: Error]
}

/**
 * What a pool is, as the original module defined it: what `createPool` returns at least, and what
 * a pool of one's own implements (`destroy()` may return `void`).
 */
export interface ResourcePool<T = unknown> {
  acquire(): Promise<T>
  release(resource: T): void
  destroy(): void | Promise<void>
  getStats(): PoolStats
}

/** `new ResourcePool(config)`: a pool without a manager; `instanceof ResourcePool` holds for every pool of the package. */
export declare const ResourcePool: {
  new <T = unknown>(config: ResourcePoolConfig<T>): ManagedResourcePool<T>
  readonly prototype: ManagedResourcePool<any>
}

/** The package's pools (`createPool`, `getPool`, `new ResourcePool`): the original's interface and more. */
export interface ManagedResourcePool<T = unknown> extends EventEmitter, ResourcePool<T> {
  readonly config: Required<Omit<ResourcePoolConfig<T>, 'destroyResource' | 'validateResource'>> &
    Pick<ResourcePoolConfig<T>, 'destroyResource' | 'validateResource'>
  readonly destroyed: boolean
  acquire(options?: AcquireOptions): Promise<T>
  /** Acquires, runs fn, and always releases. */
  use<R>(fn: (resource: T) => R | Promise<R>, options?: AcquireOptions): Promise<R>
  release(resource: T): void
  destroy(): Promise<void>
  getStats(): Required<PoolStats>
  checkInvariants(): string
  on<E extends keyof ResourcePoolEvents<T>>(event: E, listener: (...args: ResourcePoolEvents<T>[E]) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
  once<E extends keyof ResourcePoolEvents<T>>(event: E, listener: (...args: ResourcePoolEvents<T>[E]) => void): this
  once(event: string | symbol, listener: (...args: any[]) => void): this
}

export type ResourceAlertType = 'high-utilization' | 'long-wait-time' | 'pool-exhausted'

export interface ResourceAlert {
  type: ResourceAlertType
  severity: 'warning' | 'critical'
  message: string
  value: number
  threshold: number
}

export interface ResourceManagerOptions {
  /** ms between pool checks (resource-alert); 0 disables them. Default 30000. */
  cleanupInterval?: number
}

export interface ResourceEvent<T = unknown> {
  name: string
  resource: T
}

export interface ResourceManagerEvents {
  'resource-created': [event: ResourceEvent]
  'resource-acquired': [event: ResourceEvent]
  'resource-released': [event: ResourceEvent]
  'resource-destroyed': [event: ResourceEvent]
  'release-ignored': [event: ResourceEvent]
  'pool-error': [event: { name: string; error: Error }]
  'resource-alert': [event: { name: string; alert: ResourceAlert }]
}

export declare class ResourceManager extends EventEmitter {
  constructor(options?: ResourceManagerOptions)
  createPool<T>(name: string, config: ResourcePoolConfig<T>): ManagedResourcePool<T>
  getPool<T = unknown>(name: string): ManagedResourcePool<T> | undefined
  destroyPool(name: string): Promise<boolean>
  getAllStats(): Record<string, Required<PoolStats>>
  /** Runs the periodic check now. */
  checkPools(): void
  destroy(): Promise<void>
  on<E extends keyof ResourceManagerEvents>(event: E, listener: (...args: ResourceManagerEvents[E]) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
  once<E extends keyof ResourceManagerEvents>(event: E, listener: (...args: ResourceManagerEvents[E]) => void): this
  once(event: string | symbol, listener: (...args: any[]) => void): this
}

export interface BoundedCollectionOptions {
  /** ms after which cleanup() drops an item. */
  maxAge?: number
}

export declare class BoundedCollection<T = unknown> implements Iterable<T> {
  constructor(capacity: number, options?: BoundedCollectionOptions)
  readonly capacity: number
  readonly size: number
  /** Adds an item; returns the item dropped to make room, if any. */
  push(item: T): T | undefined
  /** Items oldest first. */
  toArray(): T[]
  clear(): void
  /** Drops items older than maxAge; returns how many. */
  cleanup(): number
  [Symbol.iterator](): Iterator<T>
}
