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
// (4) `nginx`: the native HTTP executor against wrk (the C reference for closed-model HTTP load)
//     and autocannon, on a server that is not the bottleneck: nginx serving a small file, pinned
//     to one core, each generator pinned to the other in a process of its own (CPU = that
//     process's getrusage). Then the open model at a constant rate, latency from the intended
//     send time. Skipped, with a message, without nginx, wrk, taskset or a second core.
//     LOADTEST_CONNECTIONS (50) and LOADTEST_SECONDS (5) change the run.
//
// Requests/s and CPU (user + system of this process, all threads) of (1)-(3) come from the same
// interleaved rounds; medians are printed with ratios.

const { fork, spawn } = require('node:child_process')
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

/** Runs `cmd args` to the end; resolves {code, stdout, stderr} (read after 'close'). */
function run(cmd, args, owner) {
  return new Promise((resolve, reject) => {
    // Its own process group, so that a signal to the benchmark can stop it and its children.
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    owner.own(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += d
    })
    child.stderr.on('data', (d) => {
      stderr += d
    })
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** The last line of `text` that parses as a JSON object. */
function lastJson(text, what) {
  const line = text
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'))
  if (!line) throw new Error(`${what} printed no result:\n${text}`)
  return JSON.parse(line)
}

// wrk's own figures as one JSON line: latency is in µs in wrk's histogram.
const WRK_SCRIPT = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"seconds":%f,"errors":%d,"p50Us":%d,"p99Us":%d,"p999Us":%d}\\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
`

/**
 * wrk, autocannon and the native executor against nginx, each generator on one core and nginx on
 * the other (taskset), the same connections and duration, interleaved rounds. CPU per request
 * is the generator process's user + system time (getrusage: `times` of the shell that waited
 * for wrk; process.cpuUsage() around the run in the node child, so node's start-up is left out).
 */
async function nginxVersusWrk() {
  const { startNginx, which, cores } = require('./nginx.js')
  const wrk = which('wrk')
  if (!wrk) return console.log('\nnginx section skipped: wrk not found (Debian: apt-get install wrk)')
  if (cores() < 2) return console.log('\nnginx section skipped: it needs two cores (one for nginx, one for the load generator)')
  const server = await startNginx({ core: 0 })
  if (server.skipped) return console.log(`\nnginx section skipped: ${server.skipped}`)
  const os = require('node:os')
  const fs = require('node:fs')
  const { binding } = require('../lib/native.js')
  const connections = Number(process.env.LOADTEST_CONNECTIONS ?? 50)
  const seconds = Number(process.env.LOADTEST_SECONDS ?? 5)
  const client = path.join(__dirname, 'loadtest-client.js')
  const serverCpuMs = () => binding.processTree(server.pid).reduce((sum, p) => sum + p.cpuMs, 0)
  try {
    const script = path.join(server.dir, 'report.lua')
    fs.writeFileSync(script, WRK_SCRIPT)
    const contenders = {
      wrk: async (secs) => {
        // `times` after wrk: the shell's children's user and system time (wrk's getrusage).
        const cmd = `${wrk} -t1 -c${connections} -d${secs}s -s ${script} ${server.url}; times`
        const r = await run('taskset', ['-c', '1', 'sh', '-c', cmd], server)
        if (r.code !== 0) throw new Error(`wrk failed (${r.code}): ${r.stderr}`)
        const out = lastJson(r.stdout, 'wrk')
        const times = r.stdout.trim().split('\n').slice(-1)[0].split(/\s+/)
        const secsOf = (t) => {
          const m = /^(\d+)m([\d.]+)s$/.exec(t)
          if (!m) throw new Error(`cannot read times output: ${r.stdout}`)
          return Number(m[1]) * 60 + Number(m[2])
        }
        return { ...out, cpuMs: (secsOf(times[0]) + secsOf(times[1])) * 1000 }
      },
      autocannon: async (secs) => child('autocannon', secs),
      'LoadTester.http (native)': async (secs) => child('native', secs),
    }
    async function child(mode, secs) {
      const r = await run('taskset', ['-c', '1', process.execPath, client, mode, server.url, String(connections), String(secs)], server)
      if (r.code !== 0) throw new Error(`${mode} failed (${r.code}): ${r.stderr}`)
      return lastJson(r.stdout, mode)
    }
    const samples = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]))
    for (let round = -1; round < 2; round++) {
      for (const [name, fn] of Object.entries(contenders)) {
        const before = serverCpuMs()
        const r = await fn(round < 0 ? 1 : seconds)
        const serverMs = serverCpuMs() - before
        // Contenders agree: every request answered 200, and the native one counted the file.
        assertSame(`${name}: failed requests`, r.errors, 0)
        if (r.bodyBytes !== undefined) assertSame(`${name}: body bytes per response`, r.bodyBytes, server.bodyBytes)
        if (round >= 0) {
          samples[name].push({
            rps: r.requests / r.seconds,
            cpuUsPerReq: (r.cpuMs * 1000) / r.requests,
            serverBusy: serverMs / (r.seconds * 1000),
            p50Us: r.p50Us,
            p99Us: r.p99Us,
            p999Us: r.p999Us,
          })
        }
      }
    }
    const load = os.loadavg()[0].toFixed(1)
    console.log(
      `\nHTTP GET of a ${server.bodyBytes}-byte file from nginx (1 worker, keep-alive, core 0); each generator alone on core 1; ${connections} connections, ${seconds} s; medians of 2 interleaved rounds; load ${load}`,
    )
    const med = (name, k) => median(samples[name].map((x) => x[k]))
    const base = { rps: med('wrk', 'rps'), cpu: med('wrk', 'cpuUsPerReq') }
    const width = Math.max(...Object.keys(samples).map((k) => k.length))
    for (const name of Object.keys(samples)) {
      const rps = med(name, 'rps')
      const cpu = med(name, 'cpuUsPerReq')
      const lat = ['p50Us', 'p99Us', 'p999Us'].map((k) => Math.round(med(name, k)))
      const rel = name === 'wrk' ? '(baseline)' : `${(rps / base.rps).toFixed(2)}x wrk's req/s, ${(cpu / base.cpu).toFixed(2)}x its CPU per request`
      console.log(
        `  ${name.padEnd(width)}  ${Math.round(rps).toString().padStart(7)} req/s  ${cpu.toFixed(2).padStart(6)} µs CPU/req  p50/p99/p99.9 ${lat.join('/')} µs  nginx core ${Math.round(med(name, 'serverBusy') * 100)}% busy  ${rel}`,
      )
    }
    console.log('  (autocannon reports latency in whole milliseconds)')

    // The open model at a constant rate below saturation: latency counted from each request's
    // intended send time (coordinated omission corrected, as wrk2 does).
    const rate = Math.round(base.rps / 2)
    const r = await run('taskset', ['-c', '1', process.execPath, client, 'native-open', server.url, String(connections), String(seconds), String(rate)], server)
    if (r.code !== 0) throw new Error(`native-open failed (${r.code}): ${r.stderr}`)
    const o = lastJson(r.stdout, 'native-open')
    assertSame('open model: failed requests', o.errors, 0)
    console.log(
      `  open model at ${rate} req/s (half of wrk's closed-model rate): ${Math.round(o.requests / o.seconds)} req/s, ${o.dropped} dropped, ` +
        `p50/p99/p99.9 ${[o.p50Us, o.p99Us, o.p999Us].map(Math.round).join('/')} µs from the intended send time, ${((o.cpuMs * 1000) / o.requests).toFixed(2)} µs CPU/req`,
    )
    if (!which('wrk2')) console.log('  (wrk2 is not installed here, so there is no constant-rate run of wrk2 to set beside it)')
  } finally {
    await server.stop()
  }
}

// `node benchmark/loadtest.bench.js sync` runs one section; no argument runs them all.
const SECTIONS = { overhead, sync: syncExecutor, http: httpVersusAutocannon, nginx: nginxVersusWrk }

async function main() {
  const only = process.argv[2]
  if (only !== undefined && !SECTIONS[only]) throw new Error(`unknown section ${only}: one of ${Object.keys(SECTIONS).join(', ')}`)
  for (const [name, section] of Object.entries(SECTIONS)) if (only === undefined || only === name) await section()
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
