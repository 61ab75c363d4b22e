// Checkers on threads of the provider's own process (options.checkers 'thread', the default):
// the same pool rules as worker processes, carried to worker_threads Workers.
import test from 'ava'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

import { EnhancedBuildFixProvider } from '@promethean/benchmark'

import { replies, startFakeModelServer } from './helpers/fake-model-server.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const SMALL_DIR = path.join(here, '..', 'fixtures', 'small')
const DISCONNECT_CHILD = path.join(here, 'helpers', 'provider-disconnect.mjs')
const run = promisify(execFile)

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-threads-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function provider(t, { model = 'gold', endpoint, options = {} } = {}) {
  const dir = tempDir(t)
  const p = new EnhancedBuildFixProvider({
    name: 'buildfix-threads',
    type: 'buildfix',
    model,
    endpoint,
    options: { maxWorkers: 1, minWorkers: 1, cache: false, metricsDir: path.join(dir, 'metrics'), workDir: path.join(dir, 'work'), ...options },
  })
  p.dir = dir
  t.teardown(() => p.disconnect())
  await p.connect()
  return p
}

const one = (name) => ({ prompt: 'Fix the TypeScript compile error.', metadata: { fixtureType: 'small', fixtures: [name] } })
const gold = (name) => JSON.parse(fs.readFileSync(path.join(SMALL_DIR, name, 'fixture.json'), 'utf8')).goldPlan

/**
 * A fixture set of one fixture whose sources include a file of `lines` declarations: seconds of
 * synchronous compiler work, and more heap than a small limit allows.
 */
function heavyFixtures(dir, lines) {
  const set = path.join(dir, 'heavy-set')
  const fixture = path.join(set, 'implicit-any')
  fs.cpSync(path.join(SMALL_DIR, 'implicit-any'), fixture, { recursive: true })
  const text = Array.from({ length: lines }, (_, i) => `export const v${i}: { a: number; b: string } = { a: ${i}, b: 'x${i}' }`)
  fs.writeFileSync(path.join(fixture, 'src', 'heavy.ts'), `${text.join('\n')}\n`)
  return set
}

test('by default the warm checker is a thread of this process, and it fixes what a process fixes', async (t) => {
  const p = await provider(t)
  t.deepEqual(p.workerPids(), [], 'no worker process')
  t.is(p.getProcessPoolStatus().size, 1)
  const response = await p.execute({ prompt: 'Fix', metadata: { fixtureType: 'small' } })
  t.is(response.metadata.successfulTests, response.metadata.totalTests, response.content)
  t.deepEqual(p.workerPids(), [])
})

test('options.checkers is checked, and options.node (another runtime) means processes', async (t) => {
  const make = (options) => () => new EnhancedBuildFixProvider({ name: 'x', type: 'buildfix', model: 'gold', options })
  t.throws(make({ checkers: 'fiber' }), { instanceOf: TypeError, message: /options\.checkers must be one of 'thread', 'process'/ })
  t.throws(make({ checkers: 1 }), { instanceOf: TypeError, message: /options\.checkers/ })
  const p = await provider(t, { options: { node: process.execPath } })
  t.is(p.workerPids().length, 1, 'a worker process on the named runtime')
})

test.serial('a checker thread stuck in synchronous work is terminated at options.jobTimeout; the next request works', async (t) => {
  const p = await provider(t, { options: { jobTimeout: 500 } })
  const fixturesDir = heavyFixtures(p.dir, 200000)
  const started = Date.now()
  const response = await p.execute({ prompt: 'Fix', metadata: { fixturesDir } })
  const [r] = response.metadata.buildFixResults
  t.false(r.success)
  t.regex(r.errorMessage, /timed out after 500 ms/)
  t.true(Date.now() - started < 60000, 'cut at the deadline, not left to finish its compile')
  const next = await p.execute(one('implicit-any'))
  t.is(next.metadata.successfulTests, 1, next.content)
  const status = p.getProcessPoolStatus()
  t.is(status.destroyed, 1, 'the stuck checker was stopped')
  t.is(status.created, 2, 'and replaced')
  t.is(status.size, 1)
})

test.serial('a checker thread waiting on a hung model server is terminated at the deadline and replaced', async (t) => {
  const s = await startFakeModelServer()
  t.teardown(() => s.close())
  s.reply(replies.slow(30000, replies.json(gold('missing-export'))))
  const p = await provider(t, { model: 'some-model', endpoint: s.url, options: { attemptTimeout: 60000, jobTimeout: 1000 } })
  const response = await p.execute(one('missing-export'))
  t.regex(response.metadata.buildFixResults[0].errorMessage, /timed out after 1000 ms/)
  s.reply(replies.json(gold('missing-export')))
  const next = await p.execute(one('missing-export'))
  t.is(next.metadata.successfulTests, 1, next.content)
  t.is(p.getProcessPoolStatus().created, 2)
})

test.serial('an aborted request is cancelled inside the checker thread, which is kept', async (t) => {
  const s = await startFakeModelServer()
  t.teardown(() => s.close())
  s.reply(replies.slow(30000, replies.json(gold('missing-export'))))
  const p = await provider(t, { model: 'some-model', endpoint: s.url, options: { attemptTimeout: 60000 } })
  const controller = new AbortController()
  const pending = p.execute(one('missing-export'), { signal: controller.signal })
  await s.waitForRequests(1)
  const aborted = Date.now()
  controller.abort()
  const err = await pending.then(
    () => null,
    (e) => e,
  )
  t.is(err?.name, 'AbortError')
  t.true(Date.now() - aborted < 5000, 'stopped at once, not left to the model timeout')
  const status = p.getProcessPoolStatus()
  t.is(status.destroyed, 0, 'the thread confirmed the cancel and was kept')
  t.is(status.created, 1)
  s.reply(replies.json(gold('missing-export')))
  const next = await p.execute(one('missing-export'))
  t.is(next.metadata.successfulTests, 1, next.content)
})

test.serial('a checker thread that crashes (out of heap) is reported with what it threw, and replaced', async (t) => {
  const p = await provider(t, { options: { workerHeapMb: 64 } })
  const fixturesDir = heavyFixtures(p.dir, 200000)
  const response = await p.execute({ prompt: 'Fix', metadata: { fixturesDir } })
  const [r] = response.metadata.buildFixResults
  t.false(r.success)
  t.regex(r.errorMessage, /worker thread crashed: .*ERR_WORKER_OUT_OF_MEMORY/)
  const next = await p.execute(one('implicit-any'))
  t.is(next.metadata.successfulTests, 1, next.content)
  t.is(p.getProcessPoolStatus().created, 2)
})

test.serial('a checker thread that cannot start fails connect() saying why', async (t) => {
  const dir = tempDir(t)
  const p = new EnhancedBuildFixProvider({
    name: 'x',
    type: 'buildfix',
    model: 'gold',
    // Too small a heap for the compiler itself: the thread dies while loading it.
    options: { workerHeapMb: 4, maxWorkers: 1, cache: false, metricsDir: path.join(dir, 'm'), workDir: path.join(dir, 'w') },
  })
  t.teardown(() => p.disconnect())
  const err = await t.throwsAsync(p.connect())
  t.regex(err.message, /worker thread crashed/)
  t.false(await p.isHealthy())
})

test.serial('disconnect() leaves no thread or handle: the process exits on its own', async (t) => {
  const dir = tempDir(t)
  // run() rejects if the child is still running after the timeout (a thread keeping it alive).
  const { stdout } = await run(process.execPath, [DISCONNECT_CHILD, dir, 'thread'], { timeout: 60000 })
  const report = JSON.parse(stdout)
  t.is(report.successful, 2)
  t.deepEqual(report.pids, [], 'the checkers were threads')
  t.deepEqual(report.before, [])
  t.is(report.threadsBefore, 2, 'two checker threads while connected')
  t.is(report.threadsAfter, 0, 'no checker thread left after disconnect()')
  t.deepEqual(
    report.handles.filter((h) => !['TTYWrap', 'PipeWrap', 'FSReqCallback', 'FSReqPromise'].includes(h)),
    [],
    'nothing but stdio keeps the loop alive after disconnect()',
  )
})
