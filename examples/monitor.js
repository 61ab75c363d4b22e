'use strict'
// node examples/monitor.js — watch the monitor catch a blocked event loop, then export.
const { PerformanceMonitor, MemoryManager } = require('..')

const monitor = new PerformanceMonitor({ interval: 50 })
monitor.setThresholds({ memory: 0.7, cpu: 0.6, eventLoop: 50 })
monitor.on('alert', (alert) => console.warn(`Performance alert: ${alert.message}`))
monitor.startMonitoring()

setTimeout(() => {
  const end = Date.now() + 120
  while (Date.now() < end); // block the event loop for 120 ms
}, 200)

// The monitor never keeps the process alive; this timer does, then stops it.
setTimeout(async () => {
  const last = monitor.getSnapshots().at(-1)
  console.log('last snapshot:', JSON.stringify(last))
  console.log('summary lag (ms):', monitor.getSummary().eventLoopLag)
  console.log('memory check:', MemoryManager.getInstance().checkMemoryUsage())
  monitor.stopMonitoring()
  const file = await monitor.exportMetrics(require('node:path').join(require('node:os').tmpdir(), 'monitor-example.json'))
  console.log('exported to', file)
  console.log(
    monitor
      .toPrometheus()
      .split('\n')
      .filter((l) => l.includes('lag') && !l.startsWith('#'))
      .join('\n'),
  )
}, 600)
