// A short tour of the load tester: the guide's JS-executor test with a progress line, then the
// same local server hit from Rust with the native HTTP target, closed and open model.
'use strict'

const http = require('node:http')
const { setTimeout: sleep } = require('node:timers/promises')
const { LoadTester, LoadTestReporter } = require('@promethean/benchmark')

async function main() {
  // Stands in for a model server: answers in 2–20 ms.
  const server = http.createServer((req, res) => setTimeout(() => res.end('{"text":"fixed"}'), 2 + Math.random() * 18))
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${server.address().port}/api/generate`

  const tester = new LoadTester({ concurrentUsers: 20, requestsPerUser: 50, rampUpTime: 500, testDuration: 10000, thinkTime: 5, timeout: 1000 })
  tester.on('progress', (p) => console.log(`  ${p.done} done, ${p.inFlight} in flight, ${p.rps.toFixed(0)} req/s, p95 ${p.p95.toFixed(1)} ms`))

  const metrics = await tester.runTest(
    (userId, requestId) => ({ model: 'qwen3:8b', prompt: `Test request ${requestId}` }),
    async (payload) => {
      await sleep(5 + Math.random() * 10)
      return { text: payload.prompt }
    },
  )
  console.log(LoadTestReporter.generateReport(metrics))

  const target = LoadTester.http({ url, body: { model: 'qwen3:8b', prompt: 'hi' } })
  const closed = await tester.runTest(target)
  const open = await tester.runArrivalRateTest({ rate: 500, duration: 2000, maxInFlight: 50 }, target)
  console.log(`\n${LoadTestReporter.generateComparisonReport([closed, open])}`)

  server.close()
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
