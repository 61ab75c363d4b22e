// Huge load-test configurations in a small heap (run with --max-old-space-size): each must be
// refused at once with a RangeError or run within memory until its duration ends, never abort
// the process. Prints one JSON line per case, then "done".
import { LoadTester } from '@promethean/benchmark'

const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`)
const base = { requestsPerUser: 1e9, rampUpTime: 0, thinkTime: 0, timeout: 30000 }

async function attempt(name, fn) {
  const started = performance.now()
  try {
    const value = await fn()
    out({ name, ok: true, ms: performance.now() - started, ...value })
  } catch (err) {
    out({ name, ok: false, ms: performance.now() - started, error: err.name, message: err.message })
  }
}

const sync = () => 1
const resolved = async () => 1

await attempt('constructor 1e9 users', () => {
  new LoadTester({ ...base, concurrentUsers: 1e9, testDuration: 300 })
  return {}
})
await attempt('stress 1e9 x 1e9', async () => {
  const lt = new LoadTester({ ...base, concurrentUsers: 1, testDuration: 300 })
  const steps = await lt.runStressTest(1e9, 1e9, 300, () => 0, sync)
  return { steps: steps.length }
})
await attempt('spike 1e9', async () => {
  const lt = new LoadTester({ ...base, concurrentUsers: 1, testDuration: 300 })
  await lt.runSpikeTest({ spikeUsers: 1e9, baselineDuration: 100, spikeDuration: 100, recoveryDuration: 100 }, () => 0, sync)
  return {}
})
for (const [kind, exec] of [
  ['sync', sync],
  ['resolved', resolved],
]) {
  await attempt(`most users, ${kind} executor, 300 ms`, async () => {
    const lt = new LoadTester({ ...base, concurrentUsers: LoadTester.MAX_USERS ?? 1e9, testDuration: 300 })
    const m = await lt.runTest(() => 0, exec)
    return { total: m.totalRequests, sims: lt.getUserSimulations().length, responses: lt.getResponses().length }
  })
}
await attempt('arrival rate 1e9/s over the most slots, 300 ms', async () => {
  const lt = new LoadTester({ ...base, concurrentUsers: 1, testDuration: 300 })
  const m = await lt.runArrivalRateTest({ rate: 1e9, duration: 300, maxInFlight: LoadTester.MAX_USERS ?? 1e9 }, () => 0, resolved)
  return { total: m.totalRequests, dropped: m.droppedIterations }
})
out({ done: true, heapUsed: process.memoryUsage().heapUsed })
