'use strict'
// Load tester benchmarks (npm run bench -- loadtest):
//
// (1) Overhead of the JS-executor path: a no-op executor at 50 users x 2000 requests and at
//     1000 users x 100, against the original's approach rebuilt in a few lines (payloads made up
//     front, an async loop per user, Promise.race against a setTimeout per request, a 0 ms
//     ramp-up wait per user, all responses kept, durations sorted for percentiles). Its timer is
//     cleared after each request here, a kindness the original did not do (it left 30 s timers
//     behind), so the baseline is if anything faster than the original was.
// (2) The cost of yielding: a synchronous executor (`() => 1`), where LoadTester hands the event
//     loop a turn (one setImmediate) every 5 ms slice so timers, I/O and aborts keep working,
//     against the original approach, whose `await` chain never yields until the test ends.
// (3) The native HTTP executor against autocannon on the same local HTTP server (a child
//     process, so it does not share the client's event loop) with the same connection count.
//
// Requests/s and CPU (user + system of this process, all threads) come from the same
// interleaved rounds; medians are printed with ratios.

const { fork } = require('node:child_process')
const path = require('node:path')
const { performance } = require('node:perf_hooks')

const autocannon = require('autocannon')

const { LoadTester } = require('../index.js')
const { median, assertSame } = require('./harness.js')

const ROUNDS = 5

/** The original's runTest, reduced to its mechanics (see the header). */
async function originalApproach(cfg, gen, exec) {
  const start = performance.now()
  const users = []
  for (let userId = 1; userId <= cfg.concurrentUsers; userId++) {
    const requests = []
    for (let n = 0; n < cfg.requestsPerUser; n++) {
      const id = `user-${userId}-req-${n}`
      requests.push({ id, userId, timestamp: 0, payload: gen(userId, id) })
    }
    users.push(requests)
  }
  const responses = []
  const simulate = async (requests) => {
    for (const request of requests) {
      if (performance.now() - start > cfg.testDuration) break
      const t0 = performance.now()
      request.timestamp = t0
      let timer
      try {
        const result = await Promise.race([
          exec(request.payload),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('Request timeout')), cfg.timeout)
          }),
        ])
        const t1 = performance.now()
        responses.push({
          requestId: request.id,
          userId: request.userId,
          startTime: t0,
          endTime: t1,
          duration: t1 - t0,
          success: true,
          responseSize: JSON.stringify(result).length,
        })
      } catch (error) {
        const t1 = performance.now()
        responses.push({ requestId: request.id, userId: request.userId, startTime: t0, endTime: t1, duration: t1 - t0, success: false, error: error.message })
      } finally {
        clearTimeout(timer)
      }
    }
  }
  const running = []
  for (let i = 0; i < users.length; i++) {
    running.push(simulate(users[i]))
    if (i < users.length - 1) await new Promise((resolve) => setTimeout(resolve, cfg.rampUpTime / cfg.concurrentUsers))
  }
  await Promise.all(running)
  const ok = responses.filter((r) => r.success)
  const times = ok.map((r) => r.duration).sort((a, b) => a - b)
  const p95 = times[Math.max(0, Math.ceil(times.length * 0.95) - 1)] ?? 0
  return { totalRequests: responses.length, successfulRequests: ok.length, p95ResponseTime: p95 }
}

/** Runs `fn` and returns {value, ms, cpuMs}. */
async function measure(fn) {
  const cpu = process.cpuUsage()
  const t0 = performance.now()
  const value = await fn()
  const ms = performance.now() - t0
  const c = process.cpuUsage(cpu)
  return { value, ms, cpuMs: (c.user + c.system) / 1000 }
}

/** Interleaved rounds of named contenders; each `run()` resolves {requests, ...extra}. */
async function rounds(contenders, n = ROUNDS) {
  const samples = Object.fromEntries(contenders.map((c) => [c.name, []]))
  for (let round = -1; round < n; round++) {
    for (const c of contenders) {
      globalThis.gc?.()
      const { value, ms, cpuMs } = await measure(() => c.run())
      if (round >= 0) samples[c.name].push({ rps: (value.requests * 1000) / ms, cpuUsPerReq: (cpuMs * 1000) / value.requests, ...value })
    }
  }
  const out = {}
  for (const [name, s] of Object.entries(samples)) {
    out[name] = {
      rps: median(s.map((x) => x.rps)),
      cpuUsPerReq: median(s.map((x) => x.cpuUsPerReq)),
      p99: median(s.map((x) => x.p99 ?? 0)),
      ticks: median(s.map((x) => x.ticks ?? 0)),
    }
  }
  return out
}

function print(title, results, baseline, withP99 = false) {
  console.log(`\n${title}`)
  const base = results[baseline]
  const width = Math.max(...Object.keys(results).map((k) => k.length))
  for (const [name, r] of Object.entries(results)) {
    const rel =
      name === baseline ? '(baseline)' : `${(r.rps / base.rps).toFixed(2)}x the req/s, ${(r.cpuUsPerReq / base.cpuUsPerReq).toFixed(2)}x the CPU per request`
    const p99 = withP99 ? `  p99 ${r.p99.toFixed(2)} ms` : ''
    const ticks = r.ticks ? `  ${r.ticks} timer ticks` : ''
    console.log(
      `  ${name.padEnd(width)}  ${Math.round(r.rps).toString().padStart(8)} req/s  ${r.cpuUsPerReq.toFixed(2).padStart(6)} µs CPU/req${p99}${ticks}  ${rel}`,
    )
  }
}

async function overhead() {
  const gen = (userId, requestId) => requestId
  const exec = async () => 1
  for (const [users, perUser] of [
    [50, 2000],
    [1000, 100],
  ]) {
    const cfg = { concurrentUsers: users, requestsPerUser: perUser, rampUpTime: 0, testDuration: 300000, thinkTime: 0, timeout: 30000 }
    const tester = new LoadTester(cfg)
    const ours = await tester.runTest(gen, exec)
    const theirs = await originalApproach(cfg, gen, exec)
    assertSame('no-op totals', [ours.totalRequests, ours.successfulRequests], [theirs.totalRequests, theirs.successfulRequests])
    const results = await rounds([
      { name: 'original approach (Promise.race + setTimeout)', run: async () => ({ requests: (await originalApproach(cfg, gen, exec)).totalRequests }) },
      { name: 'LoadTester (JS loop, native batches)', run: async () => ({ requests: (await tester.runTest(gen, exec)).totalRequests }) },
    ])
    print(`no-op JS executor, ${users} users x ${perUser} requests`, results, 'original approach (Promise.race + setTimeout)')
  }
}

async function syncExecutor() {
  const gen = (userId, requestId) => requestId
  const exec = () => 1
  const cfg = { concurrentUsers: 50, requestsPerUser: 2000, rampUpTime: 0, testDuration: 300000, thinkTime: 0, timeout: 30000 }
  const tester = new LoadTester(cfg)
  const ours = await tester.runTest(gen, exec)
  const theirs = await originalApproach(cfg, gen, exec)
  assertSame('sync totals', [ours.totalRequests, ours.successfulRequests], [theirs.totalRequests, theirs.successfulRequests])
  // How often each lets a 1 ms timer run while it works: the price of yielding, and what it buys.
  const ticking = async (run) => {
    let ticks = 0
    const timer = setInterval(() => ticks++, 1)
    const requests = await run()
    clearInterval(timer)
    return { requests, ticks }
  }
  const results = await rounds([
    { name: 'original approach (never yields)', run: () => ticking(async () => (await originalApproach(cfg, gen, exec)).totalRequests) },
    { name: 'LoadTester (yields every 5 ms)', run: () => ticking(async () => (await tester.runTest(gen, exec)).totalRequests) },
  ])
  print(`synchronous executor, ${cfg.concurrentUsers} users x ${cfg.requestsPerUser} requests`, results, 'original approach (never yields)')
}

async function httpVersusAutocannon() {
  const server = fork(path.join(__dirname, 'loadtest-server.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const port = await new Promise((resolve) => server.once('message', (m) => resolve(m.port)))
  const url = `http://127.0.0.1:${port}/`
  const connections = 50
  const seconds = 3
  try {
    const tester = new LoadTester({
      concurrentUsers: connections,
      requestsPerUser: Number.MAX_SAFE_INTEGER,
      testDuration: seconds * 1000,
      timeout: 10000,
      maxRecordedResponses: 0,
    })
    const target = LoadTester.http({ url })
    const cannon = () => autocannon({ url, connections, duration: seconds })
    // Contenders agree: every request answered 200 with the same body.
    const a = await autocannon({ url, connections, amount: 2000 })
    const m = await tester.runTest(target)
    assertSame('all requests succeed', [a.errors + a.non2xx + a.timeouts, m.failedRequests], [0, 0])
    assertSame('native body bytes per response ("ok")', Math.round(m.throughput / m.requestsPerSecond), 2)

    const results = await rounds(
      [
        {
          name: 'autocannon',
          run: async () => {
            const r = await cannon()
            return { requests: r.requests.total, p99: r.latency.p99 }
          },
        },
        {
          name: 'LoadTester.http (native)',
          run: async () => {
            const r = await tester.runTest(target)
            return { requests: r.totalRequests, p99: r.p99ResponseTime }
          },
        },
      ],
      3,
    )
    print(`HTTP GET against a local node http server (child process), ${connections} connections, ${seconds} s rounds`, results, 'autocannon', true)
    console.log('  (autocannon reports latency in whole milliseconds; the native figure is to 0.1% of nearest rank)')
  } finally {
    server.kill()
  }
}

// `node benchmark/loadtest.bench.js sync` runs one section; no argument runs them all.
const SECTIONS = { overhead, sync: syncExecutor, http: httpVersusAutocannon }

async function main() {
  const only = process.argv[2]
  if (only !== undefined && !SECTIONS[only]) throw new Error(`unknown section ${only}: one of ${Object.keys(SECTIONS).join(', ')}`)
  for (const [name, section] of Object.entries(SECTIONS)) if (only === undefined || only === name) await section()
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
