'use strict'
// One HTTP load generator run in a process of its own, so that its CPU is that process's
// getrusage (as wrk's is), and it can be pinned to a core with taskset:
//
//   node loadtest-client.js native|autocannon URL CONNECTIONS SECONDS
//   node loadtest-client.js native-open URL CONNECTIONS SECONDS RATE
//
// Prints one line of JSON: {requests, seconds, cpuMs, errors, p50Us, p99Us, p999Us}. CPU is the
// process's user + system time (all threads) over the run alone, without node's start-up.

const { performance } = require('node:perf_hooks')

async function native(url, connections, seconds) {
  const { LoadTester } = require('../index.js')
  const tester = new LoadTester({
    concurrentUsers: connections,
    requestsPerUser: Number.MAX_SAFE_INTEGER,
    testDuration: seconds * 1000,
    timeout: 10000,
    maxRecordedResponses: 0,
  })
  const target = LoadTester.http({ url })
  return measure(async () => {
    const m = await tester.runTest(target)
    return fromMetrics(m)
  })
}

async function nativeOpen(url, connections, seconds, rate) {
  const { LoadTester } = require('../index.js')
  const tester = new LoadTester({ concurrentUsers: connections, requestsPerUser: 1, timeout: 10000, maxRecordedResponses: 0 })
  const target = LoadTester.http({ url })
  return measure(async () => {
    const m = await tester.runArrivalRateTest({ rate, duration: seconds * 1000, maxInFlight: connections }, target)
    return { ...fromMetrics(m), dropped: m.droppedIterations }
  })
}

function fromMetrics(m) {
  return {
    requests: m.totalRequests,
    seconds: m.testDuration / 1000,
    errors: m.failedRequests,
    p50Us: m.p50ResponseTime * 1000,
    p99Us: m.p99ResponseTime * 1000,
    p999Us: m.p999ResponseTime * 1000,
    bodyBytes: m.requestsPerSecond > 0 ? Math.round(m.throughput / m.requestsPerSecond) : 0,
  }
}

async function cannon(url, connections, seconds) {
  const autocannon = require('autocannon')
  return measure(async () => {
    const r = await autocannon({ url, connections, duration: seconds })
    return {
      requests: r.requests.total,
      seconds: r.duration,
      errors: r.errors + r.non2xx + r.timeouts,
      // autocannon's histogram is in whole milliseconds.
      p50Us: r.latency.p50 * 1000,
      p99Us: r.latency.p99 * 1000,
      p999Us: r.latency.p99_9 * 1000,
    }
  })
}

async function measure(fn) {
  const cpu = process.cpuUsage()
  const t0 = performance.now()
  const r = await fn()
  const c = process.cpuUsage(cpu)
  return { ...r, wallMs: performance.now() - t0, cpuMs: (c.user + c.system) / 1000 }
}

const MODES = { native, autocannon: cannon, 'native-open': nativeOpen }

async function main() {
  const [mode, url, connections, seconds, rate] = process.argv.slice(2)
  if (!MODES[mode]) throw new Error(`mode must be one of ${Object.keys(MODES).join(', ')}, got ${mode}`)
  const r = await MODES[mode](url, Number(connections), Number(seconds), Number(rate))
  process.stdout.write(`${JSON.stringify(r)}\n`)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
