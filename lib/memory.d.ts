export interface MemoryThresholds {
  /** Fraction (0, 1] of the V8 heap limit in use. Default 0.8. */
  heapUsed: number
  /** External memory as a fraction (0, 1] of the V8 heap limit. Default 0.5. */
  external: number
  /** RSS as a fraction (0, 1] of the memory available to the process. Default 0.9. */
  rss: number
}

export interface MemoryCheck {
  ok: boolean
  /** One line per figure over its threshold. */
  issues: string[]
}

export declare class MemoryManager {
  private constructor()
  /** The shared instance. */
  static getInstance(): MemoryManager
  checkMemoryUsage(): MemoryCheck
  /** Updates some thresholds; a value out of range throws RangeError and changes nothing. */
  setThresholds(thresholds: Partial<MemoryThresholds>): void
  getThresholds(): MemoryThresholds
  /** Runs a garbage collection when the runtime exposes one (`--expose-gc`); says whether it did. */
  forceGC(): boolean
}
