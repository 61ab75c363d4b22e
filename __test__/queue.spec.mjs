// Distributed runs on BullMQ (lib/queue/): `run --queue URL` and `worker --queue URL`, end to end
// through bin/promethean-bench.js against a real Redis on 127.0.0.1.

import { spawn } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import test from 'ava'

import { redisTest, startRedis } from './helpers/redis-server.mjs'
import { runGuarded } from './helpers/run-guarded.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const BIN = path.join(here, '..', 'bin', 'promethean-bench.js')
const require = createRequire(import.meta.url)
const { parseRedisUrl, redactRedisUrl } = require('../lib/queue/url.js')
const { RUNS_KEY, PREFIX, JOB_VERSION, queueName, newRunId, fixtureHashes } = require('../lib/queue/jobs.js')

// Fast stall handling for the tests: a killed worker's job is taken again within seconds.
const FAST_LOCKS = ['--lock-duration', '2s', '--stalled-interval', '1s']
const ENV = { ...process.env, PROMETHEAN_BENCH_TEST_RUNNER: '' }
delete ENV.PROMETHEAN_BENCH_TEST_RUNNER

function tempDir(t, name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `promethean-queue-${name}-`))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * A long-lived bench process: its output as it comes, `waitFor(regex)` on stdout+stderr, `closed`
 * (resolves after 'close' with the code and the whole output). A guard SIGKILLs it after
 * `timeoutMs`, and the test's teardown does too, so no child outlives its test.
 */
function startBench(t, args, { timeoutMs = 240_000 } = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] })
  const out = { stdout: '', stderr: '' }
  const waiters = []
  const check = () => {
    for (const w of [...waiters]) {
      if (w.test(out.stdout + out.stderr)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve()
      }
    }
  }
  child.stdout.on('data', (d) => {
    out.stdout += d
    check()
  })
  child.stderr.on('data', (d) => {
    out.stderr += d
    check()
  })
  const guard = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const closed = new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(guard)
      for (const w of waiters.splice(0)) w.reject(new Error(`exited (${code ?? signal}) before ${w.what}: ${out.stderr.slice(-2000)}`))
      resolve({ code, signal, ...out })
    }),
  )
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    return closed
  })
  return {
    child,
    out,
    closed,
    /** Resolves when the output so far matches `what` (a RegExp, or a predicate of the text). */
    waitFor(what) {
      const test = typeof what === 'function' ? what : (text) => what.test(text)
      if (test(out.stdout + out.stderr)) return Promise.resolve()
      if (child.exitCode !== null || child.signalCode !== null) return Promise.reject(new Error(`already exited before ${what}`))
      return new Promise((resolve, reject) => waiters.push({ test, what, resolve, reject }))
    },
  }
}

/** Every process whose parent chain leads to `pid` (Linux /proc). */
function descendants(pid) {
  const parents = new Map()
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      parents.set(Number(entry), Number(fields[1]))
    } catch {}
  }
  const out = []
  const walk = (p) => {
    for (const [child, parent] of parents) {
      if (parent === p) {
        out.push(child)
        walk(child)
      }
    }
  }
  walk(pid)
  return out
}

function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

/** Resolves once none of `pids` lives, polling /proc (a process has no event to wait on here). */
async function allGone(pids, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs
  while (pids.some(alive)) {
    if (Date.now() > deadline) return false
    await new Promise((r) => setTimeout(r, 50))
  }
  return true
}

/** How many jobs a worker's output says it finished. */
function doneCount(stdout) {
  return (stdout.match(/^done /gm) ?? []).length
}

function resultsFile(stdout) {
  const m = /Results saved to: (.+\.json)/.exec(stdout)
  return m ? JSON.parse(fs.readFileSync(m[1], 'utf8')) : null
}

/** A results document without what differs between two runs of the same jobs: timings, the time. */
function content(doc) {
  const strip = (v) => {
    if (Array.isArray(v)) return v.map(strip)
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.entries(v)
          .filter(([k]) => !/duration|^timestamp$|^files$/i.test(k))
          .map(([k, x]) => [k, strip(x)]),
      )
    }
    return v
  }
  return strip(doc)
}

async function redisKeys(url, pattern) {
  const { Redis } = require('ioredis')
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    await client.connect()
    return await client.keys(pattern)
  } finally {
    client.disconnect()
  }
}

// ---------------------------------------------------------------------------------------------
// usage, no Redis needed

test('the Redis URL: host, port, database, credentials; the password never shown', (t) => {
  t.deepEqual(parseRedisUrl('redis://127.0.0.1:6380/2'), { host: '127.0.0.1', port: 6380, db: 2 })
  t.deepEqual(parseRedisUrl('redis://localhost'), { host: 'localhost', port: 6379, db: 0 })
  t.like(parseRedisUrl('rediss://u:p%40ss@h:1/0'), { host: 'h', port: 1, db: 0, username: 'u', password: 'p@ss', tls: { servername: 'h' } })
  for (const bad of ['http://h:6379', 'redis://', 'redis://h/x', 'redis://h/1?x=1', 'nonsense', 'redis://h/99999']) {
    t.throws(() => parseRedisUrl(bad), undefined, bad)
  }
  t.is(redactRedisUrl('redis://u:secret@h:1/0'), 'redis://u:***@h:1/0')
  t.is(redactRedisUrl('redis://u:secret@h:99999'), 'redis://u:***@h:99999')
})

test('without the optional bullmq and ioredis, run --queue and worker say what to install, in one line', async (t) => {
  const hide = path.join(here, 'helpers', 'hide-queue-deps.cjs')
  for (const args of [
    ['run', '--queue', 'redis://127.0.0.1:1', '--fixtures', 'missing-export'],
    ['worker', '--queue', 'redis://127.0.0.1:1'],
  ]) {
    const r = await runGuarded(['-r', hide, BIN, ...args], { env: ENV })
    t.is(r.code, 1, args.join(' '))
    const lines = r.stderr.trim().split('\n')
    t.is(lines.length, 1, r.stderr)
    t.regex(lines[0], /need the optional packages bullmq and ioredis .*: npm install bullmq ioredis/)
  }
})

test('bad --queue usage exits 2 with one line, before anything starts', async (t) => {
  const cases = [
    [['run', '--queue', 'http://127.0.0.1:6379'], /--queue must be a redis:\/\/ or rediss:\/\/ URL/],
    [['run', '--queue', 'redis://:hunter2@127.0.0.1/x'], /--queue must be a redis:\/\/ URL whose path is a database number/],
    [['run', '--queue'], /--queue needs a value/],
    [['run', '--queue', 'redis://127.0.0.1', '--workers', '2'], /--workers cannot be combined with --queue/],
    [['run', '--redis-timeout', '1s'], /--redis-timeout needs --queue/],
    [['run', '--queue', 'redis://127.0.0.1', '--shard', '1/2'], /--shard cannot be combined with --queue/],
    [['worker'], /--queue is required/],
    [['worker', '--queue', 'redis://127.0.0.1', '--lock-duration', '10ms'], /--lock-duration must be a duration >= 1000ms/],
    [['worker', '--queue', 'redis://127.0.0.1', '--concurrency', '0'], /--concurrency must be a whole number/],
  ]
  for (const [args, re] of cases) {
    const r = await runGuarded([BIN, ...args], { env: ENV })
    t.is(r.code, 2, args.join(' '))
    t.is(r.stdout, '', args.join(' '))
    const lines = r.stderr.trim().split('\n')
    t.is(lines.length, 1, r.stderr)
    t.regex(lines[0], re)
    t.notRegex(r.stderr, /hunter2/)
  }
})

test('worker --help and run --help describe the queue flags', async (t) => {
  const worker = await runGuarded([BIN, 'worker', '--help'], { env: ENV })
  t.is(worker.code, 0, worker.stderr)
  for (const flag of ['--queue', '--concurrency', '--workers', '--lock-duration', '--stalled-interval', '--redis-timeout'])
    t.true(worker.stdout.includes(flag), flag)
  const run = await runGuarded([BIN, 'run', '--help'], { env: ENV })
  t.regex(run.stdout, /--queue URL/)
  const program = await runGuarded([BIN, '--help'], { env: ENV })
  t.regex(program.stdout, /^ {2}worker {5}/m)
})

test('a coordinator that cannot reach Redis fails with one line within --redis-timeout', async (t) => {
  const { freePort } = await import('./helpers/redis-server.mjs')
  const port = await freePort()
  const out = tempDir(t, 'unreachable')
  const r = await runGuarded([BIN, 'run', '--queue', `redis://127.0.0.1:${port}`, '--redis-timeout', '500ms', '--out', out, '--no-history'], {
    env: ENV,
    timeoutMs: 60_000,
  })
  t.false(r.hung)
  t.is(r.code, 1)
  t.regex(r.stderr, new RegExp(`failed: Redis at redis://127.0.0.1:${port}/? is unreachable`))
})

// ---------------------------------------------------------------------------------------------
// with a real Redis

redisTest('a queue run reports the same content as a local run of the same jobs', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const dir = tempDir(t, 'same')
  const common = [
    '--models',
    'gold,none',
    '--fixtures',
    'missing-export,implicit-any,wrong-arg-count,possibly-null,misspelled-name',
    '--no-cache',
    '--no-history',
  ]
  const local = await runGuarded([BIN, 'run', ...common, '--out', path.join(dir, 'local')], { env: ENV })
  t.is(local.code, 1, local.stderr) // `none` fails every fixture, by design
  const workers = [startBench(t, ['worker', '--queue', redis.url, ...FAST_LOCKS]), startBench(t, ['worker', '--queue', redis.url, ...FAST_LOCKS])]
  await Promise.all(workers.map((w) => w.waitFor(/waiting for jobs/)))
  const queued = await runGuarded([BIN, 'run', ...common, '--queue', redis.url, '--out', path.join(dir, 'queued')], { env: ENV })
  t.false(queued.hung)
  t.is(queued.code, 1, queued.stderr)
  const a = resultsFile(local.stdout)
  const b = resultsFile(queued.stdout)
  t.is(b.results.length, 10)
  t.deepEqual(content(b), content(a))
  // The queue is gone: once the workers let the run go, nothing of it is left in Redis.
  await Promise.all(workers.map((w) => w.waitFor(/run \S+ ended/)))
  t.deepEqual(await redisKeys(redis.url, `${PREFIX}:*`), [])
  for (const w of workers) w.child.kill('SIGINT')
  for (const w of workers) {
    const r = await w.closed
    t.is(r.code, 130, r.stderr)
    t.regex(r.stdout, /^took .+ gold$/m)
  }
})

redisTest('a worker refuses a job whose fixture it lacks, holds with other content, or names outside the set', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const { Queue, QueueEvents } = require('bullmq')
  const { Redis } = require('ioredis')
  const runId = newRunId()
  const connection = { ...parseRedisUrl(redis.url), maxRetriesPerRequest: null }
  const queue = new Queue(queueName(runId), { connection, prefix: PREFIX })
  const events = new QueueEvents(queueName(runId), { connection, prefix: PREFIX })
  const admin = new Redis(redis.url)
  t.teardown(async () => {
    await events.close()
    await queue.close()
    admin.disconnect()
  })
  await events.waitUntilReady()
  const worker = startBench(t, ['worker', '--queue', redis.url, ...FAST_LOCKS])
  await worker.waitFor(/waiting for jobs/)
  const hash = fixtureHashes({ set: 'small', names: ['missing-export'] }).get('missing-export')
  const base = { v: JOB_VERSION, runId, model: { name: 'gold' }, endpoint: null, set: 'small', cache: false }
  const failed = new Map()
  const completed = new Map()
  const settled = new Promise((resolve) => {
    const check = () => failed.size + completed.size === 4 && resolve()
    events.on('failed', ({ jobId, failedReason }) => {
      failed.set(jobId, failedReason)
      check()
    })
    events.on('completed', ({ jobId, returnvalue }) => {
      completed.set(jobId, returnvalue)
      check()
    })
  })
  await queue.add('x', { ...base, index: 0, fixture: 'missing-export', hash: '0'.repeat(64) }, { jobId: 'j0' })
  await queue.add('x', { ...base, index: 1, fixture: 'no-such-fixture', hash }, { jobId: 'j1' })
  await queue.add('x', { ...base, index: 2, fixture: 'missing-export', hash }, { jobId: 'j2' })
  await queue.add('x', { ...base, index: 3, fixture: '../../etc', hash }, { jobId: 'j3' })
  await admin.sadd(RUNS_KEY, runId)
  await settled
  t.regex(failed.get('j0'), /has another fixture "missing-export" of the small set \(content hash [0-9a-f]{12} here, 000000000000 on the coordinator\)/)
  t.regex(failed.get('j1'), /has no fixture "no-such-fixture" of the small set/)
  t.regex(failed.get('j3'), /a malformed job \(fixture\)/)
  const ok = typeof completed.get('j2') === 'string' ? JSON.parse(completed.get('j2')) : completed.get('j2')
  t.like(ok.results[0], { fixture: 'missing-export', model: 'gold', success: true })
  worker.child.kill('SIGINT')
  t.is((await worker.closed).code, 130)
})

redisTest('--fixtures-dir: a fixture changed after the jobs were queued is refused, the others run', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const dir = tempDir(t, 'own')
  const fixtures = path.join(dir, 'fixtures')
  for (const name of ['missing-export', 'implicit-any'])
    fs.cpSync(path.join(here, '..', 'fixtures', 'small', name), path.join(fixtures, name), { recursive: true })
  const coordinator = startBench(t, ['run', '--queue', redis.url, '--fixtures-dir', fixtures, '--no-cache', '--no-history', '--out', path.join(dir, 'out')])
  await coordinator.waitFor(/2 jobs on queue/)
  fs.appendFileSync(path.join(fixtures, 'implicit-any', 'fixture.json'), '\n')
  const worker = startBench(t, ['worker', '--queue', redis.url, ...FAST_LOCKS])
  const r = await coordinator.closed
  t.is(r.code, 1, r.stderr)
  t.regex(r.stderr, /job j\d \(implicit-any, gold\) failed on its worker: worker \S+ has another fixture "implicit-any" in \//)
  const doc = resultsFile(r.stdout)
  t.deepEqual(
    doc.results.map((x) => [x.fixture, x.success]),
    [
      ['implicit-any', false],
      ['missing-export', true],
    ],
  )
  t.regex(doc.results[0].errorMessage, /content hash [0-9a-f]{12} here, [0-9a-f]{12} on the coordinator/)
  worker.child.kill('SIGINT')
  t.is((await worker.closed).code, 130)
})

redisTest('coordinator Ctrl-C removes the run from Redis and exits 130', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const out = tempDir(t, 'sigint')
  const coordinator = startBench(t, ['run', '--queue', redis.url, '--out', out, '--no-history'])
  await coordinator.waitFor(/26 jobs on queue/)
  t.true((await redisKeys(redis.url, `${PREFIX}:*`)).length > 0)
  coordinator.child.kill('SIGINT')
  const r = await coordinator.closed
  t.is(r.code, 130, r.stderr)
  t.is(resultsFile(r.stdout).run.interrupted, true)
  t.deepEqual(await redisKeys(redis.url, `${PREFIX}:*`), [])
})

redisTest('200 massive fixtures, three workers, one SIGKILLed mid-run: every job once in the report', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const out = tempDir(t, 'massive')
  const workers = [0, 1, 2].map(() => startBench(t, ['worker', '--queue', redis.url, ...FAST_LOCKS]))
  await Promise.all(workers.map((w) => w.waitFor(/waiting for jobs/)))
  const coordinator = startBench(t, ['run', '--queue', redis.url, '--fixtures', 'massive', '--no-cache', '--no-history', '--out', out])
  const victim = workers[0]
  // Mid-run, mid-job: after it finished a few jobs, right after it took the next one.
  await victim.waitFor(() => doneCount(victim.out.stdout) >= 3 && /^took [^\n]+\n$/m.test(victim.out.stdout.split(/(?<=\n)/).at(-1)))
  const children = descendants(victim.child.pid)
  victim.child.kill('SIGKILL')
  const killed = await victim.closed
  t.is(killed.signal, 'SIGKILL')
  // Its provider's worker processes die with it.
  t.true(await allGone(children), `left behind: ${children.filter(alive).join(', ')}`)
  const r = await coordinator.closed
  t.is(r.code, 0, r.stderr.slice(-3000))
  const doc = resultsFile(r.stdout)
  t.is(doc.results.length, 200)
  t.is(new Set(doc.results.map((x) => x.fixture)).size, 200)
  t.is(doc.summary.successfulTests, 200)
  // The job the victim held when it died was given to another worker and counted once.
  const lines = killed.stdout.trim().split('\n')
  const last = lines.at(-1)
  const held = /^took \S+\/(j\d+) /.exec(last)
  if (held && !lines.some((l) => l.startsWith('done ') && l.includes(`/${held[1]} `))) {
    t.log(`the victim died holding ${held[1]}`)
    t.regex(r.stderr, new RegExp(`job ${held[1]} stalled \\(its worker went away\\)`))
    const byOthers = workers.slice(1).map((w) => w.out.stdout)
    t.true(
      byOthers.some((s) => new RegExp(`^done \\S+/${held[1]} pass$`, 'm').test(s)),
      'another worker ran the held job',
    )
  }
  await Promise.all(workers.slice(1).map((w) => w.waitFor(/run \S+ ended/)))
  t.deepEqual(await redisKeys(redis.url, `${PREFIX}:*`), [])
  for (const w of workers.slice(1)) w.child.kill('SIGINT')
  for (const w of workers.slice(1)) t.is((await w.closed).code, 130)
})

redisTest('Redis back within --redis-timeout but without the run (restarted empty): the coordinator fails, never hangs', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const out = tempDir(t, 'empty')
  const coordinator = startBench(t, ['run', '--queue', redis.url, '--fixtures', 'massive', '--no-history', '--redis-timeout', '2m', '--out', out])
  await coordinator.waitFor(/200 jobs on queue/)
  await redis.stop()
  await redis.start()
  const r = await coordinator.closed
  t.is(r.code, 1, r.stderr)
  t.regex(r.stderr.trim().split('\n').at(-1), /failed: the run's jobs are gone from Redis at redis:\/\/127\.0\.0\.1:\d+\/? \(0 of 200 left\)/)
})

redisTest('Redis stopped mid-run: the coordinator and the worker exit 1 with one clear line, nothing left behind', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const out = tempDir(t, 'gone')
  const worker = startBench(t, ['worker', '--queue', redis.url, '--redis-timeout', '2s', ...FAST_LOCKS])
  await worker.waitFor(/waiting for jobs/)
  const coordinator = startBench(t, ['run', '--queue', redis.url, '--fixtures', 'massive', '--no-cache', '--no-history', '--redis-timeout', '2s', '--out', out])
  await worker.waitFor(() => doneCount(worker.out.stdout) >= 3)
  const children = descendants(worker.child.pid)
  await redis.stop()
  const c = await coordinator.closed
  t.is(c.code, 1, c.stderr)
  const failure = c.stderr.trim().split('\n').at(-1)
  t.regex(failure, /^promethean-bench run: failed: Redis at redis:\/\/127\.0\.0\.1:\d+\/? is unreachable and did not answer within 2 s/)
  t.false(
    fs.readdirSync(out).some((f) => f.endsWith('.json')),
    'no report of a run that could not finish',
  )
  const w = await worker.closed
  t.is(w.code, 1, w.stderr)
  t.regex(w.stderr.trim().split('\n').at(-1), /stopping: Redis at .* is unreachable/)
  t.true(await allGone(children), `left behind: ${children.filter(alive).join(', ')}`)
})
