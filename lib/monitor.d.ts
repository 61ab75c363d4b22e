import { EventEmitter } from 'node:events'

export interface PerformanceMonitorOptions {
  /** Sampling interval in ms (>= 1). Default 1000. */
  interval?: number
  /** Folder of `exportMetrics()` files when no path is given. Default '.performance-metrics'. */
  outputDir?: string
}

export interface PerformanceSnapshot {
  /** When the snapshot was taken (ms since the epoch). */
  timestamp: number
  memory: {
    /** Resident set size of the process, bytes. */
    used: number
    /** Memory available to the process: machine total, or the cgroup limit when lower. */
    total: number
    heapUsed: number
    heapTotal: number
    external: number
  }
  cpu: {
    /** Process CPU over the last interval, percent of one core (can pass 100 with threads). */
    usage: number
    /** Machine load average: [1m, 5m, 15m]. */
    loadAverage: number[]
  }
  eventLoop: {
    /** Event-loop utilisation over the last interval, 0..1. */
    utilization: number
    /** How late, in ms, a probe scheduled onto the JS thread ran. */
    lag: number
  }
  gc: {
    /** Garbage collections since monitoring started. */
    collections: number
    /** Their total duration, ms. */
    duration: number
  }
}

export interface PerformanceThresholds {
  /** Fraction (0, 1] of the V8 heap limit in use. Default 0.8. */
  memory: number
  /** Fraction (0, 1] of one core, compared with `cpu.usage / 100`. Default 0.8. */
  cpu: number
  /** Event-loop lag, ms. Default 100. */
  eventLoop: number
  /** Longest single garbage collection in an interval, ms. Default 100. */
  gcDuration: number
}

export type PerformanceAlertType = 'memory' | 'cpu' | 'eventloop' | 'gc'

export interface PerformanceAlert {
  type: PerformanceAlertType
  severity: 'warning' | 'critical'
  message: string
  /** In the threshold's unit: a fraction for memory/cpu, ms for eventloop/gc. */
  value: number
  threshold: number
  timestamp: number
}

export interface MetricStat {
  min: number
  avg: number
  max: number
}

export interface PerformanceSummary {
  /** Snapshots in history. */
  snapshots: number
  /** Timestamps of the oldest and newest snapshot. */
  start: number
  end: number
  /** Heap used as a fraction of the V8 heap limit. */
  memory: MetricStat
  /** Process CPU, percent of one core. */
  cpu: MetricStat
  /** Event-loop lag, ms. */
  eventLoopLag: MetricStat
  eventLoopUtilization: MetricStat
  /** Garbage collections since monitoring started, and their total ms. */
  gc: { collections: number; duration: number }
  /** Alerts in history, by severity and type. */
  alerts: {
    total: number
    warning: number
    critical: number
    memory: number
    cpu: number
    eventloop: number
    gc: number
  }
}

export interface PerformanceMetricsExport {
  timestamp: number
  snapshots: PerformanceSnapshot[]
  alerts: PerformanceAlert[]
  thresholds: PerformanceThresholds
  summary: PerformanceSummary | null
}

export interface PerformanceMonitorEvents {
  'monitoring-started': []
  'monitoring-stopped': []
  'snapshot-collected': [snapshot: PerformanceSnapshot]
  alert: [alert: PerformanceAlert]
  'metrics-exported': [event: { path: string }]
}

export declare class PerformanceMonitor extends EventEmitter {
  constructor(options?: PerformanceMonitorOptions)
  /** Sampling interval, ms. */
  readonly interval: number
  readonly outputDir: string
  /** Whether monitoring is on. */
  readonly monitoring: boolean
  /**
   * How many times the monitor has run on the JS thread since it was made: every interval while
   * a 'snapshot-collected' listener is attached, otherwise every half event-loop threshold (at
   * most a second apart, never more often than the interval).
   */
  readonly probes: number
  /** Starts sampling (idempotent); emits 'monitoring-started'. Never keeps the process alive. */
  startMonitoring(): void
  /** Stops sampling (idempotent); emits 'monitoring-stopped'. */
  stopMonitoring(): void
  /** Updates some thresholds; a value out of range throws RangeError and changes nothing. */
  setThresholds(thresholds: Partial<PerformanceThresholds>): void
  getThresholds(): PerformanceThresholds
  /** A copy of the snapshot history (oldest first, at most 1000). */
  getSnapshots(): PerformanceSnapshot[]
  /** A copy of the alert history (oldest first, at most 100). */
  getAlerts(): PerformanceAlert[]
  clearSnapshots(): void
  clearAlerts(): void
  /** min/avg/max over the history; `null` when there are no snapshots. */
  getSummary(): PerformanceSummary | null
  /** The newest figures in the Prometheus text exposition format 0.0.4. */
  toPrometheus(): string
  /**
   * Writes the metrics as JSON, atomically, creating folders. Default path
   * `<outputDir>/performance-metrics-<ms>.json`. Resolves with the absolute path written.
   */
  exportMetrics(filePath?: string): Promise<string>

  on<K extends keyof PerformanceMonitorEvents>(event: K, listener: (...args: PerformanceMonitorEvents[K]) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
  once<K extends keyof PerformanceMonitorEvents>(event: K, listener: (...args: PerformanceMonitorEvents[K]) => void): this
  once(event: string | symbol, listener: (...args: any[]) => void): this
  off<K extends keyof PerformanceMonitorEvents>(event: K, listener: (...args: PerformanceMonitorEvents[K]) => void): this
  off(event: string | symbol, listener: (...args: any[]) => void): this
}

/** The shared monitor. */
export declare const globalPerformanceMonitor: PerformanceMonitor
