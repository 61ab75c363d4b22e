import test from 'ava'
import { execFile, spawn } from 'node:child_process'
import crypto from 'node:crypto'
import { EventEmitter, once } from 'node:events'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

import {
  BaseProvider,
  BuildFixProvider,
  EnhancedBuildFixCacheError,
  EnhancedBuildFixProcessError,
  EnhancedBuildFixProvider,
  EnhancedBuildFixTimeoutError,
  listFixtures,
} from '@promethean/benchmark'
import * as subpath from '@promethean/benchmark/src/providers/buildfix-enhanced'

import { replies, startFakeModelServer } from './helpers/fake-model-server.mjs'
import { runGuarded } from './helpers/run-guarded.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const SMALL_DIR = path.join(here, '..', 'fixtures', 'small')
const FAKE_BUILDFIX = path.join(here, 'helpers', 'provider-fake-buildfix.cjs')
const DISCONNECT_CHILD = path.join(here, 'helpers', 'provider-disconnect.mjs')
const ORPHAN_CHILD = path.join(here, 'helpers', 'provider-orphan.mjs')
const SMALL = listFixtures()
const run = promisify(execFile)
// The checkers of the tests that do not pin them: the default, or `process` to run this file
// over the other carrier (BUILDFIX_TEST_CHECKERS=process npx ava __test__/provider.spec.mjs).
const CHECKERS = process.env.BUILDFIX_TEST_CHECKERS ? { checkers: process.env.BUILDFIX_TEST_CHECKERS } : {}

// ---------------------------------------------------------------------------------------------
// Helpers

function tempDir(t, prefix = 'pb-provider-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A connected provider with its folders in a temp folder; disconnected when the test ends. */
async function provider(t, { model = 'gold', endpoint, options = {}, Class = EnhancedBuildFixProvider, connect = true } = {}) {
  const dir = tempDir(t)
  const p = new Class({
    name: 'buildfix-test',
    type: 'buildfix',
    model,
    endpoint,
    options:
      Class === EnhancedBuildFixProvider
        ? {
            maxWorkers: 2,
            minWorkers: 2,
            cacheDir: path.join(dir, 'cache'),
            metricsDir: path.join(dir, 'metrics'),
            workDir: path.join(dir, 'work'),
            ...(options.node === undefined ? CHECKERS : {}),
            ...options,
          }
        : options,
  })
  p.dirs = { root: dir, work: path.join(dir, 'work'), metrics: path.join(dir, 'metrics') }
  t.teardown(() => p.disconnect())
  if (connect) await p.connect()
  return p
}

async function server(t, options) {
  const s = await startFakeModelServer(options)
  t.teardown(() => s.close())
  return s
}

function gold(name) {
  return JSON.parse(fs.readFileSync(path.join(SMALL_DIR, name, 'fixture.json'), 'utf8')).goldPlan
}

const request = (metadata = {}) => ({ prompt: 'Fix the TypeScript compile error.', metadata })
const one = (name) => request({ fixtureType: 'small', fixtures: [name] })

/** Every file below `dir` (relative path -> bytes, as base64), symlinks as their target. */
function tree(dir) {
  const out = {}
  for (const rel of fs.readdirSync(dir, { recursive: true })) {
    const full = path.join(dir, rel)
    const st = fs.lstatSync(full)
    if (st.isSymbolicLink()) out[rel] = `link:${fs.readlinkSync(full)}`
    else if (st.isFile()) out[rel] = `${st.mode & 0o777}:${fs.readFileSync(full).toString('base64')}`
    else if (st.isDirectory()) out[rel] = 'dir'
  }
  return out
}

/** Working copies of `fixture` in the provider's work folder. */
function copiesOf(p, fixture) {
  const found = []
  for (const session of fs.readdirSync(p.dirs.work)) {
    for (const entry of fs.readdirSync(path.join(p.dirs.work, session))) {
      if (entry.startsWith(`${fixture}-`) && /-\d+$/.test(entry)) found.push(path.join(p.dirs.work, session, entry))
    }
  }
  return found
}

/** A process exists and is not a zombie. */
function running(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

/** Live processes of the process group `pgid`. */
function groupMembers(pgid) {
  const found = []
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') found.push(Number(entry))
    } catch {}
  }
  return found
}

async function until(t, what, check, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) return t.fail(`timed out waiting for ${what}`)
    await sleep(25)
  }
  return true
}

/** A port nothing listens on. */
async function closedPort() {
  const s = net.createServer()
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve))
  const { port } = s.address()
  await new Promise((resolve) => s.close(resolve))
  return port
}

/** The first line a stream writes. */
async function firstLine(stream) {
  let text = ''
  for await (const chunk of stream) {
    text += chunk
    const end = text.indexOf('\n')
    if (end >= 0) return text.slice(0, end)
  }
  throw new Error(`the stream ended before a line: ${JSON.stringify(text)}`)
}

const marker = () => path.join(os.tmpdir(), `pwned-${crypto.randomBytes(6).toString('hex')}`)

// ---------------------------------------------------------------------------------------------
// Processes: these measure processes, so they run alone (ava runs serial tests first). Those
// that watch worker pids pin `checkers: 'process'`; threads have their own file
// (provider-threads.spec.mjs).

test.serial('a worker killed mid-job fails that request cleanly, the copy is restored byte for byte, the pool heals', async (t) => {
  const s = await server(t)
  s.reply(replies.slow(30000, replies.json(gold('missing-export'))))
  const p = await provider(t, {
    model: 'some-model',
    endpoint: s.url,
    options: { checkers: 'process', maxWorkers: 1, minWorkers: 1, cache: false, attemptTimeout: 60000 },
  })
  const [pid] = p.workerPids()
  t.true(running(pid))
  const pending = p.execute(one('missing-export'))
  await s.waitForRequests(1)
  // The job is in flight: scribble over its working copy as a half-applied plan would.
  const [copy] = copiesOf(p, 'missing-export')
  t.truthy(copy)
  fs.writeFileSync(path.join(copy, 'src', 'models', 'index.ts'), '// half written\n')
  fs.writeFileSync(path.join(copy, 'src', 'stray.ts'), 'export const stray = 1\n')
  fs.rmSync(path.join(copy, 'tsconfig.json'))
  process.kill(pid, 'SIGKILL')

  const response = await pending // resolves: a crash is a failed fixture, not a rejection
  const [r] = response.metadata.buildFixResults
  t.is(response.metadata.totalTests, 1)
  t.is(response.metadata.successfulTests, 0)
  t.false(r.success)
  t.is(r.fixture, 'missing-export')
  t.regex(r.errorMessage, /worker|exited|killed|signal/i)
  t.deepEqual(tree(copy), tree(path.join(SMALL_DIR, 'missing-export')), 'the working copy is restored byte for byte')

  await until(t, 'a replacement worker', () => p.getProcessPoolStatus().size === 1 && p.workerPids().length === 1)
  t.false(p.workerPids().includes(pid))
  t.false(running(pid))
  s.reply(replies.json(gold('missing-export')))
  const next = await p.execute(one('missing-export'))
  t.is(next.metadata.successfulTests, 1, next.content)
  t.deepEqual(tree(copy), tree(path.join(SMALL_DIR, 'missing-export')))
})

test.serial('a worker that died while idle is replaced, not handed the next request', async (t) => {
  const p = await provider(t, { options: { checkers: 'process', maxWorkers: 1, minWorkers: 1, cache: false } })
  const [pid] = p.workerPids()
  process.kill(pid, 'SIGKILL')
  await until(t, 'the worker to die', () => !running(pid))
  const response = await p.execute(one('missing-export'))
  t.is(response.metadata.successfulTests, 1, response.content)
  t.false(p.workerPids().includes(pid))
  t.is(p.getProcessPoolStatus().size, 1)
})

test.serial('a job past options.jobTimeout kills the worker process group and fails that fixture with a timeout', async (t) => {
  const s = await server(t)
  s.reply(replies.slow(30000, replies.json(gold('misspelled-name'))))
  const p = await provider(t, {
    model: 'some-model',
    endpoint: s.url,
    options: { checkers: 'process', maxWorkers: 1, minWorkers: 1, cache: false, attemptTimeout: 60000, jobTimeout: 1500 },
  })
  const [pid] = p.workerPids()
  t.deepEqual(groupMembers(pid), [pid], 'the worker leads a process group of its own')
  const started = Date.now()
  const response = await p.execute(one('misspelled-name'))
  t.true(Date.now() - started < 20000, 'the job was cut short, not left to the model timeout')
  const [r] = response.metadata.buildFixResults
  t.false(r.success)
  t.regex(r.errorMessage, /timed out after 1500 ms/)
  await until(t, 'the process group to be gone', () => groupMembers(pid).length === 0)
  t.false(running(pid))
  await until(t, 'a replacement worker', () => p.getProcessPoolStatus().size === 1)
})

test.serial('disconnect() leaves no process and saves the metrics', async (t) => {
  const dir = tempDir(t)
  const { stdout } = await run(process.execPath, [DISCONNECT_CHILD, dir], { timeout: 60000 })
  const report = JSON.parse(stdout)
  t.is(report.successful, 2)
  t.is(report.pids.length, 2)
  t.deepEqual([...report.before].sort(), [...report.pids].sort(), 'the scan sees the workers while connected')
  t.deepEqual(report.after, [], 'no worker process below the provider after disconnect()')
  for (const pid of report.pids) {
    t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `worker ${pid} is gone`)
  }
  const saved = fs.readdirSync(path.join(dir, 'metrics')).filter((f) => /^buildfix-metrics-\d+\.json$/.test(f))
  t.is(saved.length, 1)
  const doc = JSON.parse(fs.readFileSync(path.join(dir, 'metrics', saved[0]), 'utf8'))
  t.is(doc.model, 'gold')
  t.is(doc.metrics.length, 1)
  t.is(typeof doc.metrics[0].processEndTime, 'number')
  t.deepEqual(fs.readdirSync(path.join(dir, 'work')), [], 'the working copies are removed')
})

test.serial('disconnect() during a request: the request resolves failed, its working copy and snapshot store are gone', async (t) => {
  const s = await server(t)
  s.reply(replies.slow(30000, replies.json(gold('missing-export'))))
  const p = await provider(t, { model: 'some-model', endpoint: s.url, options: { cache: false, attemptTimeout: 60000 } })
  const stores = () => fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith(`promethean-snapshot-${process.pid}-`))
  const pending = p.execute(request({ fixtures: ['missing-export', 'implicit-any'] }))
  await s.waitForRequests(2)
  t.is(stores().length, 2)
  await p.disconnect()
  t.deepEqual(stores(), [], 'no private snapshot store outlives disconnect()')
  t.false(fs.existsSync(p.dirs.work) && fs.readdirSync(p.dirs.work).length > 0, 'no working copy outlives disconnect()')
  const response = await pending
  t.is(response.metadata.totalTests, 2)
  t.is(response.metadata.successfulTests, 0)
  for (const r of response.metadata.buildFixResults) t.regex(r.errorMessage, /worker|killed|connected/i)
})

test.serial('disconnect() in this process: every worker pid is gone (ESRCH)', async (t) => {
  const p = await provider(t, { options: { checkers: 'process', cache: false } })
  await p.execute(one('implicit-any'))
  const pids = p.workerPids()
  t.is(pids.length, 2)
  await p.disconnect()
  for (const pid of pids) t.throws(() => process.kill(pid, 0), { code: 'ESRCH' })
  t.deepEqual(p.workerPids(), [])
  t.is(p.getProcessPoolStatus().size, 0)
  t.false(await p.isHealthy())
  const after = await p.execute(one('implicit-any'))
  t.regex(after.content, /^BuildFix benchmark failed: .*not connected/)
})

test.serial(
  'regression: a kill -9 of the provider process takes its workers with it mid-request, and the next provider removes its working folder',
  async (t) => {
    const s = await server(t)
    s.reply(replies.slow(600000, replies.json(gold('missing-export'))))
    const dir = tempDir(t)
    const workDir = path.join(dir, 'work')
    const child = spawn(process.execPath, [ORPHAN_CHILD, workDir, s.url], { stdio: ['ignore', 'pipe', 'inherit'] })
    const exited = once(child, 'exit')
    t.teardown(() => child.kill('SIGKILL'))
    const report = JSON.parse(await firstLine(child.stdout))
    await s.waitForRequests(1) // a worker is now waiting on the model server (attemptTimeout: 600 s)
    t.is(report.workers.length, 2)
    for (const pid of report.workers) t.true(running(pid), `worker ${pid} runs before the kill`)
    t.is(report.folders.length, 1, 'the provider made one working folder')

    const killed = Date.now()
    child.kill('SIGKILL')
    await exited
    // Both workers notice at once (the busy one included); 10 s is a generous bound on a busy
    // machine, and far below the 600 s the hanging request would otherwise hold the worker.
    await until(t, 'the workers to exit', () => report.workers.every((pid) => !running(pid)), 10000)
    t.true(Date.now() - killed < 10000, 'the workers did not wait for attemptTimeout')
    t.deepEqual(fs.readdirSync(workDir), report.folders, 'the killed provider could not remove its folder')

    const next = new EnhancedBuildFixProvider({
      name: 'next',
      type: 'buildfix',
      model: 'gold',
      options: { maxWorkers: 1, minWorkers: 1, cache: false, workDir, metricsDir: path.join(dir, 'metrics') },
    })
    t.teardown(() => next.disconnect())
    await next.connect()
    const left = fs.readdirSync(workDir)
    t.false(left.includes(report.folders[0]), "the next provider on the work folder removed the dead one's folder")
    t.is(left.length, 1, "only the live provider's folder is there")
    await next.disconnect()
    t.deepEqual(fs.readdirSync(workDir), [])
  },
)

test.serial('regression: one process per request is not what the enhanced provider does', async (t) => {
  const p = await provider(t, { options: { checkers: 'process', cache: false } })
  const pids = p.workerPids().sort()
  t.is(pids.length, 2)
  const a = await p.execute(one('missing-import'))
  const b = await p.execute(one('missing-import'))
  t.is(a.metadata.successfulTests, 1)
  t.is(b.metadata.successfulTests, 1)
  t.deepEqual(p.workerPids().sort(), pids, 'the same worker processes served both requests')
  t.is(p.getProcessPoolStatus().created, 2)
  for (const pid of pids) t.true(running(pid))
})

test.serial('50 concurrent execute() calls on 2 workers are all answered', async (t) => {
  const p = await provider(t, { options: { maxWorkers: 2, minWorkers: 2, cache: false } })
  const names = Array.from({ length: 50 }, (_, i) => SMALL[i % SMALL.length])
  const responses = await Promise.all(names.map((name) => p.execute(one(name))))
  t.is(responses.length, 50)
  responses.forEach((r, i) => {
    t.is(r.metadata.buildFixResults.length, 1)
    t.is(r.metadata.buildFixResults[0].fixture, names[i])
    t.true(r.metadata.buildFixResults[0].success, r.content)
  })
  const status = p.getProcessPoolStatus()
  t.is(status.size, 2)
  t.is(status.active, 0)
  t.is(status.created, 2, 'no worker was replaced')
})

test.serial('execute() with an aborted signal: a running job is stopped in its worker, its copy restored, the worker kept', async (t) => {
  const s = await server(t)
  s.reply(replies.slow(30000, replies.json(gold('missing-export'))))
  const p = await provider(t, {
    model: 'some-model',
    endpoint: s.url,
    options: { checkers: 'process', maxWorkers: 1, minWorkers: 1, cache: false, attemptTimeout: 60000 },
  })
  const [pid] = p.workerPids()
  const failed = []
  p.on('request-failed', (e) => failed.push(e))
  const controller = new AbortController()
  const pending = p.execute(one('missing-export'), { signal: controller.signal })
  await s.waitForRequests(1)
  const [copy] = copiesOf(p, 'missing-export')
  fs.writeFileSync(path.join(copy, 'src', 'stray.ts'), 'export const stray = 1\n')
  const aborted = Date.now()
  controller.abort()
  // The default reason is a DOMException, which is not an Error in Node 20: no throwsAsync.
  const err = await pending.then(
    () => null,
    (e) => e,
  )
  t.is(err, controller.signal.reason, "rejects with the signal's reason")
  t.is(err.name, 'AbortError')
  t.true(Date.now() - aborted < 5000, 'stopped at once, not left to the model timeout')
  t.deepEqual(tree(copy), tree(path.join(SMALL_DIR, 'missing-export')), 'the working copy is restored')
  t.deepEqual(p.workerPids(), [pid], 'the worker confirmed the cancel and was kept')
  t.is(p.getProcessPoolStatus().active, 0)
  t.is(failed.length, 0, 'an abort is not a failed run')
  t.is(p.getPerformanceMetrics().length, 0)
  s.reply(replies.json(gold('missing-export')))
  const next = await p.execute(one('missing-export'))
  t.is(next.metadata.successfulTests, 1, next.content)
})

test.serial('execute() with an aborted signal: a queued job leaves the queue; an aborted signal runs nothing', async (t) => {
  const s = await server(t)
  s.reply(replies.slow(30000, replies.json(gold('missing-export'))))
  const p = await provider(t, {
    model: 'some-model',
    endpoint: s.url,
    options: { maxWorkers: 1, minWorkers: 1, cache: false, attemptTimeout: 60000 },
  })
  const first = new AbortController()
  const running = p.execute(one('missing-export'), { signal: first.signal })
  await s.waitForRequests(1)
  const second = new AbortController()
  const queued = p.execute(one('implicit-any'), { signal: second.signal })
  await until(t, 'the second request to queue', () => p.getProcessPoolStatus().waiting === 1)
  second.abort(new Error('changed my mind'))
  await t.throwsAsync(queued, { message: 'changed my mind' })
  t.is(p.getProcessPoolStatus().waiting, 0, 'the queued job left the queue')
  t.deepEqual(copiesOf(p, 'implicit-any'), [], 'a queued job made no working copy')
  first.abort()
  t.is(
    (
      await running.then(
        () => null,
        (e) => e,
      )
    )?.name,
    'AbortError',
  )
  t.is(s.requests.length, 1)

  const before = s.requests.length
  const early = await p.execute(one('missing-export'), { signal: AbortSignal.abort() }).then(
    () => null,
    (e) => e,
  )
  t.is(early?.name, 'AbortError')
  t.is(s.requests.length, before, 'nothing ran')
  await t.throwsAsync(p.execute(one('missing-export'), { signal: 'stop' }), { instanceOf: TypeError, message: /options\.signal/ })
})

test.serial('regression: a worker of another protocol version is refused at connect, naming both versions', async (t) => {
  const dir = tempDir(t)
  // Stands in for node: whatever it is asked to run, it says ready in protocol version 1.
  const fake = path.join(dir, 'old-worker.sh')
  fs.writeFileSync(fake, '#!/bin/sh\necho \'{"type":"ready","pid":1,"protocol":1}\'\nexec cat >/dev/null\n', { mode: 0o755 })
  const p = await provider(t, { connect: false, options: { node: fake, cache: false, minWorkers: 1 } })
  const err = await t.throwsAsync(p.connect(), { instanceOf: EnhancedBuildFixProcessError })
  const { PROTOCOL_VERSION } = createRequire(import.meta.url)('../worker/protocol.js')
  t.regex(err.message, /protocol version 1\b/)
  t.regex(err.message, new RegExp(`speaks version ${PROTOCOL_VERSION}\\b`))
  t.is(err.operation, 'spawn')
  t.deepEqual(p.workerPids(), [])
})

// ---------------------------------------------------------------------------------------------
// Results, the built-in models, the cache

test('gold resolves every small fixture; the content gives the rates; a repeat is answered from the cache', async (t) => {
  const p = await provider(t)
  const first = await p.execute(request({ fixtureType: 'small' }))
  const m = first.metadata
  t.is(m.fixtureType, 'small')
  t.is(m.totalTests, SMALL.length)
  t.is(m.successfulTests, SMALL.length)
  t.false(m.cached)
  t.deepEqual(m.buildFixResults.map((r) => r.fixture).sort(), [...SMALL].sort())
  for (const r of m.buildFixResults) {
    t.true(r.success, `${r.fixture}: ${r.errorMessage}`)
    t.is(r.model, 'gold')
    t.true(r.errorCountBefore >= 1)
    t.is(r.errorCountAfter, 0)
    t.truthy(r.errorsResolved)
    t.true(r.planGenerated)
    t.is(r.planTitle, gold(r.fixture).title)
  }
  t.regex(first.content, new RegExp(`Total tests: ${SMALL.length}`))
  t.regex(first.content, /100\.0% success rate/)
  t.regex(first.content, /100\.0% resolution rate/)
  t.regex(first.content, /Cache hit rate: 0\.0%/)
  t.true(first.tokens > 0)
  t.true(first.time > 0)
  for (const k of ['before', 'after', 'delta']) t.truthy(m.resourceUsage[k])
  t.true(m.resourceUsage.before.memoryUsage > 0)
  t.deepEqual(p.getCacheStats(), { hits: 0, misses: 1, evictions: 0 })

  const second = await p.execute(request({ fixtureType: 'small' }))
  t.true(second.metadata.cached)
  t.deepEqual(second.metadata.buildFixResults, m.buildFixResults)
  t.deepEqual(p.getCacheStats(), { hits: 1, misses: 1, evictions: 0 })
  t.regex(second.content, /Cache hit rate: 50\.0%/)
  t.deepEqual(second.metadata.cacheStats, { hits: 1, misses: 1, evictions: 0 })

  // Another request (another prompt) is another key.
  const other = await p.execute({ prompt: 'Another prompt.', metadata: { fixtures: ['wrong-arg-count'] } })
  t.false(other.metadata.cached)

  await p.clearCache()
  t.deepEqual(p.getCacheStats(), { hits: 0, misses: 0, evictions: 0 })
  const third = await p.execute(request({ fixtureType: 'small' }))
  t.false(third.metadata.cached, 'clearCache() emptied both levels')
  t.is(third.metadata.successfulTests, SMALL.length)
  t.is(p.getPerformanceMetrics().length, 4)
  t.is((await p.getPerformanceMetrics()).length, 4, 'usable with await too')
})

test('the disk level answers a new provider with the same cacheDir', async (t) => {
  const dir = tempDir(t)
  const options = { cacheDir: path.join(dir, 'cache'), minWorkers: 1, maxWorkers: 1 }
  const a = await provider(t, { options })
  t.false((await a.execute(one('class-not-exported'))).metadata.cached)
  await a.disconnect()
  const b = await provider(t, { options })
  const again = await b.execute(one('class-not-exported'))
  t.true(again.metadata.cached)
  t.is(again.metadata.successfulTests, 1)
})

test('none is the floor: it fails every fixture it is given', async (t) => {
  const p = await provider(t, { model: 'none', options: { cache: false } })
  const response = await p.execute(request({ fixtures: ['missing-export', 'wrong-arg-count', 'missing-helper'] }))
  t.is(response.metadata.totalTests, 3)
  t.is(response.metadata.successfulTests, 0)
  for (const r of response.metadata.buildFixResults) {
    t.false(r.success)
    t.is(r.errorCountAfter, r.errorCountBefore)
    t.regex(r.errorMessage, /target error is still there/)
  }
  t.regex(response.content, /0\.0% success rate/)
  t.regex(response.content, /0\.0% resolution rate/)
})

test('with options.cache false nothing is cached', async (t) => {
  const p = await provider(t, { options: { cache: false } })
  const a = await p.execute(one('missing-return-type'))
  const b = await p.execute(one('missing-return-type'))
  t.false(a.metadata.cached)
  t.false(b.metadata.cached)
  t.is(b.metadata.successfulTests, 1)
  t.deepEqual(p.getCacheStats(), { hits: 0, misses: 0, evictions: 0 })
  t.false(fs.existsSync(path.join(p.dirs.root, 'cache')) && fs.readdirSync(path.join(p.dirs.root, 'cache')).length > 0)
})

// ---------------------------------------------------------------------------------------------
// A model server

test('against a model server: a correct plan resolves, bad plans fail the attempt with an errorMessage', async (t) => {
  const s = await server(t)
  const p = await provider(t, { model: 'some-model', endpoint: s.url, options: { cache: false, minWorkers: 1 } })
  const ask = async (reply) => {
    s.reply(reply)
    const response = await p.execute(one('class-not-exported'))
    return response.metadata.buildFixResults[0]
  }

  const good = await ask(replies.fenced(gold('class-not-exported')))
  t.true(good.success, good.errorMessage)
  t.is(good.model, 'some-model')
  t.is(good.planTitle, gold('class-not-exported').title)
  const body = s.requests.at(-1)
  t.is(body.model, 'some-model')
  t.is(body.stream, false)
  // The plan's JSON Schema as the output format (Ollama 0.5 and later).
  t.deepEqual(body.format.required, ['title', 'rationale', 'dsl'])
  t.regex(body.prompt, /Fix the TypeScript compile error/)

  const garbage = await ask(replies.garbage())
  t.false(garbage.success)
  t.false(garbage.planGenerated)
  t.regex(garbage.errorMessage, /JSON/i)

  const plan = gold('class-not-exported')
  const wrongFile = await ask(replies.json({ ...plan, dsl: [{ ...plan.dsl[0], file: 'src/no/such/file.ts' }] }))
  t.false(wrongFile.success)
  t.regex(wrongFile.errorMessage, /src\/no\/such\/file\.ts/)

  const unknownOp = await ask(replies.json({ title: 'Delete it', dsl: [{ op: 'deleteEverything', file: 'src/app.ts' }] }))
  t.false(unknownOp.success)
  t.regex(unknownOp.errorMessage, /deleteEverything/)
  t.is(unknownOp.errorCountAfter, unknownOp.errorCountBefore)

  // The request's prompt, temperature and maxTokens reach the model server.
  s.reply(replies.json(plan))
  const tuned = await p.execute({ prompt: 'Export what app.ts needs.', temperature: 0.3, maxTokens: 256, metadata: { fixtures: ['class-not-exported'] } })
  t.is(tuned.metadata.successfulTests, 1)
  const sent = s.requests.at(-1)
  t.regex(sent.prompt, /Export what app\.ts needs\./)
  t.is(sent.options.temperature, 0.3)
  t.is(sent.options.num_predict, 256)
})

test('regression: a plan that applies but leaves the error is not a fix', async (t) => {
  const s = await server(t)
  // Applies without error (the original counted that as a success) but exports the wrong symbol.
  s.reply(
    replies.json({
      title: 'Export createLogger',
      dsl: [{ op: 'ensureExported', file: 'src/logging/logger.ts', symbol: 'createLogger', kind: 'function' }],
    }),
  )
  const p = await provider(t, { model: 'some-model', endpoint: s.url, options: { cache: false, minWorkers: 1 } })
  const response = await p.execute(one('class-not-exported'))
  const [r] = response.metadata.buildFixResults
  t.true(r.planGenerated)
  t.false(r.success)
  t.regex(r.errorMessage, /TS2459/)
  t.is(response.metadata.successfulTests, 0)
})

test('a slow model server times out (options.attemptTimeout)', async (t) => {
  const s = await server(t)
  s.reply(replies.slow(10000, replies.json(gold('missing-helper'))))
  const p = await provider(t, { model: 'some-model', endpoint: s.url, options: { cache: false, minWorkers: 1, attemptTimeout: 300 } })
  const started = Date.now()
  const response = await p.execute(one('missing-helper'))
  t.true(Date.now() - started < 8000)
  const [r] = response.metadata.buildFixResults
  t.false(r.success)
  t.regex(r.errorMessage, /time|300 ms/i)
  t.is(r.errorKind, 'model-unavailable')
  t.is(p.getProcessPoolStatus().destroyed, 0, 'the worker itself was not stopped for a slow model')
  t.is(p.getProcessPoolStatus().size, 1)
})

test('listModels() reads /api/tags and falls back to [config.model] when the server is down', async (t) => {
  const s = await startFakeModelServer({ models: ['qwen3:8b', 'llama3.2:3b'] })
  const p = await provider(t, { model: 'some-model', endpoint: s.url, connect: false })
  t.deepEqual(await p.listModels(), ['qwen3:8b', 'llama3.2:3b'])
  await s.close()
  t.deepEqual(await p.listModels(), ['some-model'])
  const base = await provider(t, { model: 'some-model', endpoint: s.url, Class: BuildFixProvider, connect: false })
  t.deepEqual(await base.listModels(), ['some-model'])
})

// ---------------------------------------------------------------------------------------------
// No shell

test('regression: no shell is involved in running a model', async (t) => {
  const s = await server(t)
  s.reply(replies.json(gold('missing-export')))
  const file = marker()
  const model = `x; touch ${file} $(id) \`touch ${file}\` && touch ${file} | touch ${file}`
  t.teardown(() => fs.rmSync(file, { force: true }))

  const enhanced = await provider(t, { model, endpoint: s.url, options: { cache: false, minWorkers: 1 } })
  const a = await enhanced.execute(one('missing-export'))
  t.is(a.metadata.successfulTests, 1, a.content)
  t.is(a.metadata.buildFixResults[0].model, model)

  const baseline = await provider(t, { model, endpoint: s.url, Class: BuildFixProvider })
  const b = await baseline.execute(one('missing-export'))
  t.is(b.metadata.successfulTests, 1, b.content)

  t.deepEqual(
    s.requests.map((r) => r.model),
    [model, model],
    'the model name reached the server unchanged, as data',
  )
  await sleep(100)
  t.false(fs.existsSync(file), 'nothing ran the model name')
})

// ---------------------------------------------------------------------------------------------
// Command mode

function commandOptions(t, extra = []) {
  const out = tempDir(t, 'pb-provider-cmd-')
  return {
    out,
    options: { command: [process.execPath, FAKE_BUILDFIX, '--out', out, ...extra, '--models', '{model}', '{fixtureFlag}'] },
  }
}

test('command mode reads the results file the command reports; the model stays one argument', async (t) => {
  const file = marker()
  const model = `qwen3:8b; touch ${file} $(id)`
  const { out, options } = commandOptions(t)
  const p = await provider(t, { model, options })
  t.is(p.mode, 'command')
  t.deepEqual(p.workerPids(), [])
  const response = await p.execute(request({ fixtureType: 'small' }))
  t.is(response.metadata.totalTests, 3)
  t.is(response.metadata.successfulTests, 2)
  t.deepEqual(
    response.metadata.buildFixResults.map((r) => [r.fixture, r.success]),
    [
      ['a', true],
      ['b', true],
      ['c', false],
    ],
  )
  t.regex(response.content, /Total tests: 3/)
  t.regex(response.content, /66\.7% success rate/)
  t.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'argv.json'), 'utf8')), ['--out', out, '--models', model, '--small-fixtures'])
  t.false(fs.existsSync(file))

  await p.execute(request({ fixtureType: 'massive' }))
  t.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'argv.json'), 'utf8')), ['--out', out, '--models', model], 'no fixture flag for the massive set')
})

test('command mode falls back to the Total Tests / Successful Tests lines', async (t) => {
  const { options } = commandOptions(t, ['--summary-only'])
  const p = await provider(t, { options })
  const response = await p.execute(request())
  t.is(response.metadata.totalTests, 3)
  t.is(response.metadata.successfulTests, 2)
  t.deepEqual(response.metadata.buildFixResults, [])
  t.regex(response.content, /Total tests: 3/)
  t.regex(response.content, /Successful tests: 2 \(66\.7% success rate\)/)
})

test('command mode: a command that cannot run fails the request saying what', async (t) => {
  const p = await provider(t, { options: { command: ['/nonexistent/buildfix-runner', '--models', '{model}'] } })
  const response = await p.execute(request())
  t.is(response.tokens, 0)
  t.regex(response.content, /^BuildFix benchmark failed: .*\/nonexistent\/buildfix-runner/)
  t.regex(response.metadata.error, /nonexistent/)
})

test.serial('command mode is chosen in a monorepo with packages/buildfix (pnpm-workspace.yaml)', async (t) => {
  const root = tempDir(t, 'pb-provider-monorepo-')
  fs.writeFileSync(path.join(root, 'pnpm-workspace.yaml'), "packages:\n  - 'packages/*'\n")
  fs.mkdirSync(path.join(root, 'packages', 'buildfix', 'src', 'benchmark'), { recursive: true })
  fs.writeFileSync(path.join(root, 'packages', 'buildfix', 'package.json'), '{"name": "@promethean/buildfix"}\n')
  const inside = path.join(root, 'packages', 'buildfix', 'src')
  const cwd = process.cwd()
  process.chdir(inside)
  let p
  try {
    p = await provider(t)
  } finally {
    process.chdir(cwd)
  }
  t.is(p.mode, 'command')
  t.deepEqual(p.workerPids(), [])
  t.true(await p.isHealthy())
})

// ---------------------------------------------------------------------------------------------
// Connecting, the breaker, bad input

test('regression: connect() with workDir or metricsDir under /proc rejects at once naming the option', async (t) => {
  for (const option of ['workDir', 'metricsDir']) {
    const code = `
      import { EnhancedBuildFixProvider } from '@promethean/benchmark'
      const p = new EnhancedBuildFixProvider({ name: 'x', type: 'buildfix', model: 'gold', options: { cache: false, ${option}: '/proc/x/${option}' } })
      p.connect().then(
        () => console.log(JSON.stringify({ connected: true })),
        (err) => console.log(JSON.stringify({ message: err.message })),
      ).finally(() => p.disconnect())`
    const r = await runGuarded(['--input-type=module', '-e', code], { cwd: path.join(here, '..'), timeoutMs: 60000 })
    t.false(r.hung, `connect() with ${option} under /proc did not settle within 60 s`)
    const out = JSON.parse(r.stdout)
    t.regex(out.message ?? '', new RegExp(`options\\.${option}: cannot create folder "/proc/x`), r.stderr)
  }
})

test('connect() without a runtime rejects saying what is missing', async (t) => {
  const p = await provider(t, { connect: false, options: { node: '/nonexistent/node' } })
  const err = await t.throwsAsync(p.connect())
  t.regex(err.message, /\/nonexistent\/node/)
  t.false(await p.isHealthy())
  t.deepEqual(p.workerPids(), [])
  t.deepEqual(fs.readdirSync(p.dirs.work), [], 'no working folder is left behind')
})

test('the circuit breaker opens after failureThreshold failing requests', async (t) => {
  const port = await closedPort()
  const p = await provider(t, {
    model: 'some-model',
    endpoint: `http://127.0.0.1:${port}`,
    options: { minWorkers: 1, circuitBreaker: { failureThreshold: 2, recoveryTimeout: 600000 } },
  })
  for (let i = 0; i < 2; i++) {
    const r = await p.execute(one('missing-export'))
    t.is(r.metadata.buildFixResults[0].errorKind, 'model-unavailable')
    t.false(r.metadata.cached, 'a failure of the server is not cached')
  }
  t.is(p.getProcessPoolStatus().circuit, 'open')
  t.false(await p.isHealthy())
  const started = Date.now()
  const third = await p.execute(one('missing-export'))
  t.true(Date.now() - started < 1000)
  t.regex(third.content, /^BuildFix benchmark failed: circuit open/)
  t.is(third.tokens, 0)
  t.regex(third.metadata.error, /circuit open after 2 consecutive failures/)
})

test('an open circuit does not call the model server', async (t) => {
  const s = await server(t)
  // A 500 is tried once (a 503 is retried with backoff: __test__/clients.spec.mjs).
  s.reply(replies.status(500, 'broken'))
  const p = await provider(t, {
    model: 'some-model',
    endpoint: s.url,
    options: { minWorkers: 1, cache: false, circuitBreaker: { failureThreshold: 2, recoveryTimeout: 600000 } },
  })
  await p.execute(one('missing-export'))
  await p.execute(one('missing-export'))
  t.is(s.requests.length, 2)
  const third = await p.execute(one('missing-export'))
  t.regex(third.content, /circuit open/)
  t.is(s.requests.length, 2)
})

test('the circuit breaker half-opens after recoveryTimeout: a failing probe opens it again, a good one closes it', async (t) => {
  const s = await server(t)
  // A 500 is tried once (a 503 is retried with backoff: __test__/clients.spec.mjs).
  s.reply(replies.status(500, 'broken'))
  const p = await provider(t, {
    model: 'some-model',
    endpoint: s.url,
    options: { minWorkers: 1, cache: false, circuitBreaker: { failureThreshold: 2, recoveryTimeout: 300 } },
  })
  await p.execute(one('missing-export'))
  await p.execute(one('missing-export'))
  t.is(p.getProcessPoolStatus().circuit, 'open')
  t.regex((await p.execute(one('missing-export'))).content, /circuit open/)
  await sleep(400)
  const probe = await p.execute(one('missing-export'))
  t.is(s.requests.length, 3, 'one probe went through')
  t.is(probe.metadata.buildFixResults[0].errorKind, 'model-unavailable')
  t.is(p.getProcessPoolStatus().circuit, 'open', 'a failed probe opens the circuit again')
  t.regex((await p.execute(one('missing-export'))).content, /circuit open/)
  await sleep(400)
  s.reply(replies.json(gold('missing-export')))
  const good = await p.execute(one('missing-export'))
  t.is(good.metadata.successfulTests, 1, good.content)
  t.is(p.getProcessPoolStatus().circuit, 'closed')
  t.true(await p.isHealthy())
})

test('bad config and options throw TypeError/RangeError naming the argument', (t) => {
  const make = (config) => () => new EnhancedBuildFixProvider(config)
  const base = { name: 'b', type: 'buildfix', model: 'gold' }
  t.throws(make(null), { instanceOf: TypeError, message: /config/ })
  t.throws(make('gold'), { instanceOf: TypeError, message: /config/ })
  t.throws(make({ name: 'b', type: 'buildfix' }), { instanceOf: TypeError, message: /config\.model/ })
  t.throws(make({ ...base, model: '' }), { instanceOf: TypeError, message: /config\.model/ })
  t.throws(make({ ...base, endpoint: 'not a url' }), { instanceOf: TypeError, message: /config\.endpoint/ })
  t.throws(make({ ...base, endpoint: 'ftp://127.0.0.1/' }), { instanceOf: TypeError, message: /config\.endpoint/ })
  t.throws(make({ ...base, endpoint: 42 }), { instanceOf: TypeError, message: /config\.endpoint/ })
  t.throws(make({ ...base, options: 'fast' }), { instanceOf: TypeError, message: /config\.options/ })
  t.throws(make({ ...base, options: { maxWorkers: -1 } }), { instanceOf: RangeError, message: /options\.maxWorkers/ })
  t.throws(make({ ...base, options: { maxWorkers: 1.5 } }), { instanceOf: RangeError, message: /options\.maxWorkers/ })
  t.throws(make({ ...base, options: { maxWorkers: '4' } }), { instanceOf: TypeError, message: /options\.maxWorkers/ })
  t.throws(make({ ...base, options: { maxWorkers: 2, minWorkers: 3 } }), { instanceOf: RangeError, message: /options\.minWorkers/ })
  t.throws(make({ ...base, options: { jobTimeout: 0 } }), { instanceOf: RangeError, message: /options\.jobTimeout/ })
  t.throws(make({ ...base, options: { cache: 'yes' } }), { instanceOf: TypeError, message: /options\.cache/ })
  t.throws(make({ ...base, options: { mode: 'fast' } }), { instanceOf: TypeError, message: /options\.mode/ })
  t.throws(make({ ...base, options: { command: 'pnpm buildfix' } }), { instanceOf: TypeError, message: /options\.command/ })
  t.throws(make({ ...base, options: { circuitBreaker: { failureThreshold: 0 } } }), {
    instanceOf: RangeError,
    message: /failureThreshold/,
  })
  t.throws(() => new BuildFixProvider({ ...base, options: { timeout: -5 } }), { instanceOf: RangeError, message: /options\.timeout/ })
  t.throws(() => new BuildFixProvider(undefined), { instanceOf: TypeError, message: /config/ })
})

test('bad requests reject with TypeError/RangeError and the provider keeps working', async (t) => {
  const p = await provider(t, { options: { minWorkers: 1, cache: false } })
  const failed = []
  p.on('request-failed', (e) => failed.push(e))
  await t.throwsAsync(p.execute(null), { instanceOf: TypeError, message: /request/ })
  await t.throwsAsync(p.execute('fix it'), { instanceOf: TypeError, message: /request/ })
  await t.throwsAsync(p.execute({ prompt: 42 }), { instanceOf: TypeError, message: /request\.prompt/ })
  await t.throwsAsync(p.execute({ prompt: 'x', maxTokens: -1 }), { instanceOf: RangeError, message: /request\.maxTokens/ })
  await t.throwsAsync(p.execute({ prompt: 'x', metadata: 'small' }), { instanceOf: TypeError, message: /request\.metadata/ })
  await t.throwsAsync(p.execute(request({ fixtureType: 'huge' })), { instanceOf: TypeError, message: /fixtureType/ })
  await t.throwsAsync(p.execute(request({ fixtures: 'missing-export' })), { instanceOf: TypeError, message: /metadata\.fixtures/ })
  await t.throwsAsync(p.execute(request({ fixtures: [1, 2] })), { instanceOf: TypeError, message: /metadata\.fixtures/ })
  await t.throwsAsync(p.execute(request({ fixtures: [] })), { instanceOf: RangeError, message: /metadata\.fixtures.*at least one/ })
  await t.throwsAsync(p.execute(request({ fixtures: ['no-such-fixture'] })), {
    instanceOf: RangeError,
    message: /metadata\.fixtures.*no-such-fixture/,
  })
  t.is(failed.length, 0, 'bad input is not a failed run')
  t.is(p.getPerformanceMetrics().length, 0)
  const ok = await p.execute(one('wrong-arg-count'))
  t.is(ok.metadata.successfulTests, 1)
  t.is(p.getProcessPoolStatus().size, 1)
})

// ---------------------------------------------------------------------------------------------
// Classes and events

test('the error classes keep their fields and names; both entry points export the same classes', (t) => {
  const timeout = new EnhancedBuildFixTimeoutError('too slow', 1500, 'execute')
  t.true(timeout instanceof Error)
  t.is(timeout.name, 'EnhancedBuildFixTimeoutError')
  t.is(timeout.message, 'too slow')
  t.is(timeout.timeout, 1500)
  t.is(timeout.operation, 'execute')
  const proc = new EnhancedBuildFixProcessError('crashed', 137, 'Segmentation fault', 'job')
  t.true(proc instanceof Error)
  t.is(proc.name, 'EnhancedBuildFixProcessError')
  t.is(proc.exitCode, 137)
  t.is(proc.stderr, 'Segmentation fault')
  t.is(proc.operation, 'job')
  const cache = new EnhancedBuildFixCacheError('bad entry', 'get', 'buildfix:abc')
  t.true(cache instanceof Error)
  t.is(cache.name, 'EnhancedBuildFixCacheError')
  t.is(cache.operation, 'get')
  t.is(cache.cacheKey, 'buildfix:abc')
  t.regex(String(cache), /^EnhancedBuildFixCacheError: bad entry/)
  t.is(subpath.EnhancedBuildFixProvider, EnhancedBuildFixProvider)
  t.is(subpath.EnhancedBuildFixTimeoutError, EnhancedBuildFixTimeoutError)
  t.is(subpath.EnhancedBuildFixProcessError, EnhancedBuildFixProcessError)
  t.is(subpath.EnhancedBuildFixCacheError, EnhancedBuildFixCacheError)
})

test('BaseProvider is an EventEmitter; connection-established, request-completed and request-failed fire', async (t) => {
  const p = await provider(t, { connect: false, options: { minWorkers: 1, cache: false } })
  t.true(p instanceof BaseProvider)
  t.true(p instanceof EventEmitter)
  t.true(new BuildFixProvider({ name: 'b', type: 'buildfix', model: 'gold' }) instanceof BaseProvider)
  const events = []
  for (const name of ['connection-established', 'request-completed', 'request-failed']) {
    p.on(name, (e) => events.push([name, e]))
  }
  await p.connect()
  t.is(events[0][0], 'connection-established')
  t.is(events[0][1].mode, 'bundled')
  t.is(events[0][1].workers, 1)
  const ok = await p.execute(one('missing-export'))
  t.is(events[1][0], 'request-completed')
  t.is(events[1][1].response, ok)
  t.is(typeof events[1][1].metrics.processEndTime, 'number')
  await p.disconnect()
  const failed = await p.execute(one('missing-export'))
  t.is(events[2][0], 'request-failed')
  t.is(events[2][1].response, failed)
  t.true(events[2][1].error instanceof Error)
  t.is(events.length, 3)
})

// ---------------------------------------------------------------------------------------------
// The baseline

test('BuildFixProvider: same interface, one process per request, gold resolves, nothing cached', async (t) => {
  const p = await provider(t, { Class: BuildFixProvider })
  for (const method of [
    'connect',
    'disconnect',
    'execute',
    'isHealthy',
    'listModels',
    'getPerformanceMetrics',
    'getCacheStats',
    'getProcessPoolStatus',
    'clearCache',
    'workerPids',
  ]) {
    t.is(typeof p[method], 'function', method)
    t.is(typeof EnhancedBuildFixProvider.prototype[method], 'function', method)
  }
  t.true(await p.isHealthy())
  const fixtures = ['missing-export', 'misspelled-name', 'implicit-any']
  const response = await p.execute(request({ fixtureType: 'small', fixtures }))
  t.is(response.metadata.totalTests, 3)
  t.is(response.metadata.successfulTests, 3, response.content)
  t.deepEqual(response.metadata.buildFixResults.map((r) => r.fixture).sort(), [...fixtures].sort())
  t.false(response.metadata.cached)
  t.regex(response.content, /100\.0% success rate/)
  t.deepEqual(p.workerPids(), [], 'the process is gone after the request')
  t.deepEqual(p.getCacheStats(), { hits: 0, misses: 0, evictions: 0 })
  t.is(p.getPerformanceMetrics().length, 1)
  await t.throwsAsync(p.execute(request({ fixtures: ['no-such-fixture'] })), { instanceOf: RangeError, message: /metadata\.fixtures/ })
  await t.throwsAsync(p.execute(request({ fixtureType: 'huge' })), { instanceOf: TypeError, message: /fixtureType/ })
})

// Serial: it measures processes, and a cold run (a fresh Node loading the TypeScript compiler)
// is slow on a loaded machine; the waits are on events, bounded far above the expected seconds.
test.serial('BuildFixProvider: a run past options.timeout fails with a timeout; disconnect() during a run says so and leaves no process', async (t) => {
  const s = await server(t)
  s.reply(replies.slow(30000, replies.json(gold('missing-export'))))
  const p = await provider(t, { model: 'some-model', endpoint: s.url, Class: BuildFixProvider, options: { timeout: 1500, attemptTimeout: 60000 } })
  const slow = await p.execute(one('missing-export'))
  t.regex(slow.content, /^BuildFix benchmark failed: BuildFix run timed out after 1500 ms/)
  t.is(slow.metadata.errorName, 'EnhancedBuildFixTimeoutError')

  // A server of its own: the first run may have timed out before it asked its model.
  const s2 = await server(t)
  s2.reply(replies.slow(30000, replies.json(gold('missing-export'))))
  const q = await provider(t, { model: 'some-model', endpoint: s2.url, Class: BuildFixProvider, options: { attemptTimeout: 60000 } })
  const pending = q.execute(one('missing-export'))
  // The run's process exists as soon as execute() returns; once it asks the model it is mid-run.
  const [pid] = q.workerPids()
  t.truthy(pid)
  await s2.waitForRequests(1, 90000)
  t.true(running(pid))
  await q.disconnect()
  t.false(running(pid), 'the run is gone when disconnect() resolves')
  t.deepEqual(q.workerPids(), [])
  const response = await pending
  t.regex(response.content, /^BuildFix benchmark failed: the provider was disconnected/)
})
