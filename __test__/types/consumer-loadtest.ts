// Written the way the guide's examples use the load tester (seed guide, "Load Tester").
import { LoadTester, LoadTestReporter } from '@promethean/benchmark/src/load-testing/load-tester'
import type { ArrivalRateMetrics, LoadTestMetrics, LoadTestResponse } from '@promethean/benchmark/src/load-testing/load-tester.js'
import * as root from '@promethean/benchmark'

async function executeBuildFixBenchmark(payload: { prompt: string }): Promise<{ text: string }> {
  return { text: payload.prompt }
}

export async function main(): Promise<void> {
  const config = {
    concurrentUsers: 50,
    requestsPerUser: 10,
    rampUpTime: 30000,
    testDuration: 300000,
    thinkTime: 1000,
    timeout: 30000,
  }
  const loadTester = new LoadTester(config)
  const requestGenerator = (userId: number, requestId: string) => ({
    model: 'qwen3:8b',
    fixtureType: 'small',
    prompt: `Test request ${requestId} from ${userId}`,
  })
  const requestExecutor = async (payload: { prompt: string }) => await executeBuildFixBenchmark(payload)

  loadTester.on('test-completed', ({ metrics, duration }) => {
    const rps: number = metrics.requestsPerSecond
    console.log(rps, duration.toFixed(1))
  })
  loadTester.on('progress', (p) => console.log(p.done, p.inFlight, p.rps, p.p95))
  loadTester.on('stress-test-threshold-reached', ({ users, errorRate }) => console.log(users, errorRate))

  const metrics: LoadTestMetrics = await loadTester.runTest(requestGenerator, requestExecutor)
  console.log(LoadTestReporter.generateReport(metrics))

  const steps = await loadTester.runStressTest(100, 10, 60000, requestGenerator, requestExecutor, { stepPause: 1000 })
  console.log(LoadTestReporter.generateComparisonReport(steps))
  const intervals: LoadTestMetrics[] = await loadTester.runEnduranceTest(600000, requestGenerator, requestExecutor)
  const spike = await loadTester.runSpikeTest({ spikeUsers: 200 }, requestGenerator, requestExecutor)
  console.log(intervals.length, spike.recovery.p95ResponseTime)

  const controller = new AbortController()
  const server = LoadTester.http({ url: 'http://127.0.0.1:11434/api/generate', body: { model: 'qwen3:8b', prompt: 'hi' } })
  await loadTester.runTest(server, { signal: controller.signal })
  const open: ArrivalRateMetrics = await loadTester.runArrivalRateTest({ rate: 200, duration: 10000, maxInFlight: 64 }, server)
  const dropped: number = open.droppedIterations
  const most: number = LoadTester.MAX_USERS
  console.log(dropped, most, open.p99ResponseTime)
  // Beyond the original: the 99.9th percentile, and a target sending from more than one thread.
  const tailUs: number = open.p999ResponseTime * 1000
  const wide = LoadTester.http({ url: 'http://127.0.0.1:8080/', threads: 2 })
  const threads: number = wide.threads
  console.log(tailUs, threads)

  const responses: LoadTestResponse[] = loadTester.getResponses()
  const failed = responses.filter((r) => !r.success).map((r) => r.error ?? '')
  console.log(failed, loadTester.getUserSimulations()[0]?.requests[0]?.payload, loadTester.isTestRunning())
  const path: string = await loadTester.saveResults()
  console.log(path, new root.LoadTester(config) instanceof root.LoadTester)
}
