// Child process for the monitor tests that need a process of their own.
// argv: <mode>
//   gc             (run with --expose-gc) forced and allocation-driven collections must show up
//   stop-exit      stop monitoring and let the process end: it must exit at once
//   never-stopped  start a fast monitor and never stop it: it must not keep the process alive
//   exit-running   process.exit() while a 1 ms monitor runs: the sampler stops cleanly
//   worker         a monitor inside a worker thread that is terminated while it runs
import { PerformanceMonitor } from '@promethean/benchmark/src/metrics/performance-monitor'
import { MemoryManager } from '@promethean/benchmark'

const mode = process.argv[2]
const say = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`)
// A started monitor never keeps the process alive on its own, so while this script waits for a
// snapshot something else must: a plain timer, cleared as soon as the snapshot is in.
const nextSnapshot = (m) =>
  new Promise((resolve) => {
    const keepAlive = setInterval(() => {}, 1000)
    m.once('snapshot-collected', (s) => {
      clearInterval(keepAlive)
      resolve(s)
    })
  })

if (mode === 'gc') {
  const m = new PerformanceMonitor({ interval: 25 })
  m.setThresholds({ gcDuration: 0.001 })
  const alerts = []
  m.on('alert', (a) => alerts.push(a))
  m.startMonitoring()
  const first = await nextSnapshot(m)
  const forced = []
  for (let i = 0; i < 5; i++) forced.push(MemoryManager.getInstance().forceGC())
  let keep = []
  for (let round = 0; round < 20; round++) {
    keep = []
    for (let i = 0; i < 50000; i++) keep.push({ i, s: `item-${i}`, a: [i, i + 1] })
  }
  // GC entries reach the observer a couple of loop turns after the collection: give them time,
  // then take the snapshots that count them.
  await new Promise((resolve) => setTimeout(resolve, 100))
  await nextSnapshot(m)
  const last = await nextSnapshot(m)
  m.stopMonitoring()
  say({ first: first.gc, last: last.gc, forced, kept: keep.length, gcAlerts: alerts.filter((a) => a.type === 'gc') })
} else if (mode === 'stop-exit') {
  const m = new PerformanceMonitor({ interval: 20 })
  m.startMonitoring()
  await nextSnapshot(m)
  await nextSnapshot(m)
  m.stopMonitoring()
  say({ stopped: true, monitoring: m.monitoring })
} else if (mode === 'never-stopped') {
  const m = new PerformanceMonitor({ interval: 5 })
  m.startMonitoring()
  await nextSnapshot(m)
  say({ snapshot: true, monitoring: m.monitoring })
  // Nothing else is pending: the process must end here although the monitor still runs.
} else if (mode === 'exit-running') {
  const m = new PerformanceMonitor({ interval: 1 })
  m.startMonitoring()
  await nextSnapshot(m)
  say({ exiting: true })
  process.exit(0)
} else if (mode === 'worker') {
  const { Worker } = await import('node:worker_threads')
  const code = `
    const { parentPort } = require('node:worker_threads')
    const { PerformanceMonitor } = require(${JSON.stringify(new URL('../../index.js', import.meta.url).pathname)})
    const m = new PerformanceMonitor({ interval: 1 })
    m.once('snapshot-collected', (s) => parentPort.postMessage(s.eventLoop.lag))
    m.startMonitoring()
    setInterval(() => {}, 1000)
  `
  const worker = new Worker(code, { eval: true })
  const lag = await new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  const exitCode = await worker.terminate()
  say({ lag: typeof lag, exitCode })
} else {
  throw new Error(`unknown mode ${mode}`)
}
