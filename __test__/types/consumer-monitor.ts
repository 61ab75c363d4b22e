// Written the way the optimisation guide's examples are written: if these lines type-check,
// existing benchmark code that uses the monitor compiles against this package unchanged.
import { globalPerformanceMonitor } from '@promethean/benchmark/src/metrics/performance-monitor'
import { PerformanceMonitor as FromJs } from '@promethean/benchmark/src/metrics/performance-monitor.js'
import { MemoryManager, PerformanceMonitor, type PerformanceAlert, type PerformanceSnapshot, type PerformanceSummary } from '@promethean/benchmark'

export async function monitorExample(): Promise<void> {
  // Start monitoring
  globalPerformanceMonitor.startMonitoring()

  // Set custom thresholds
  globalPerformanceMonitor.setThresholds({
    memory: 0.7, // 70% memory usage
    cpu: 0.6, // 60% CPU usage
    eventLoop: 50, // 50ms event loop lag
  })

  // Listen for alerts
  globalPerformanceMonitor.on('alert', (alert) => {
    console.warn(`Performance alert: ${alert.message}`)
    const kind: 'memory' | 'cpu' | 'eventloop' | 'gc' = alert.type
    void kind
  })

  // Export metrics
  globalPerformanceMonitor.exportMetrics('./performance-metrics.json')

  const monitor: PerformanceMonitor = new FromJs({ interval: 100, outputDir: '/tmp/metrics' })
  monitor.on('snapshot-collected', (s: PerformanceSnapshot) => {
    const lag: number = s.eventLoop.lag
    const rssRatio: number = s.memory.used / s.memory.total
    const [oneMinute] = s.cpu.loadAverage
    console.log(lag, rssRatio, oneMinute, s.gc.collections)
  })
  monitor.once('metrics-exported', ({ path }) => console.log(path))
  const alerts: PerformanceAlert[] = monitor.getAlerts()
  const summary: PerformanceSummary | null = monitor.getSummary()
  console.log(alerts.length, summary?.eventLoopLag.max, monitor.toPrometheus())
  // How often the monitor ran on the JS thread.
  const wakeups: number = monitor.probes
  console.log(wakeups)
  const written: string = await monitor.exportMetrics()
  console.log(written)
  monitor.stopMonitoring()
  globalPerformanceMonitor.stopMonitoring()
}

export function memoryExample(): void {
  const memoryManager = MemoryManager.getInstance()

  // Check memory usage
  const { ok, issues } = memoryManager.checkMemoryUsage()
  if (!ok) {
    console.warn('Memory issues detected:', issues)
    memoryManager.forceGC()
  }

  // Set custom thresholds
  memoryManager.setThresholds({
    heapUsed: 0.8, // 80% of heap
    external: 0.5, // 50% of external memory
    rss: 0.9, // 90% of RSS
  })
  const ran: boolean = memoryManager.forceGC()
  void ran
}
