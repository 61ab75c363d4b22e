// CommonJS consumers of the monitor subpath get the same types through require.
import bench = require('@promethean/benchmark')
import monitor = require('@promethean/benchmark/src/metrics/performance-monitor')

const m: bench.PerformanceMonitor = new monitor.PerformanceMonitor({ interval: 500 })
m.on('alert', (a: bench.PerformanceAlert) => console.warn(a.severity, a.message))
monitor.globalPerformanceMonitor.startMonitoring()
const check: bench.MemoryCheck = bench.MemoryManager.getInstance().checkMemoryUsage()
console.log(check.ok, m.getThresholds().eventLoop)
