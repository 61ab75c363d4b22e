// Runs a native HTTP load test against a local server (closed afterwards), then JS-executor
// tests whose requests each have a 30 s timeout and a think pause (the original kept one live
// 30 s timer per request), then prints what still holds the event loop (besides stdio) right
// after the last one resolves, and does nothing else: the process must exit on its own.
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'

import { LoadTester } from '@promethean/benchmark'

const lt = new LoadTester({ concurrentUsers: 20, requestsPerUser: 20, rampUpTime: 10, testDuration: 60000, thinkTime: 1, timeout: 30000 })
lt.on('progress', () => {})

const server = http.createServer((req, res) => res.end('ok'))
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
const url = `http://127.0.0.1:${server.address().port}/`
const m = await lt.runTest(LoadTester.http({ url }))
const closed = new Promise((resolve) => server.close(resolve))
server.closeAllConnections()
await closed
if (m.successfulRequests !== 400) throw new Error(`expected 400 successes, got ${JSON.stringify(m)}`)

// The JS-executor runs last, so the server's own closing handles are long gone when they end.
await lt.runTest(
  (u, id) => id,
  (id) => (id.endsWith('7') ? sleep(1, id) : Promise.resolve(id)),
)
await lt.runStressTest(
  4,
  2,
  1000,
  () => 0,
  async () => 0,
  { stepPause: 10 },
)
await lt.runArrivalRateTest(
  { rate: 2000, duration: 50, maxInFlight: 3 },
  () => 0,
  () => sleep(1, 0),
)
// stdout/stderr themselves show up as TTYWrap or PipeWrap: they are not the tester's.
const left = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap')
process.stdout.write(`${JSON.stringify({ resolved: true, left })}\n`)
