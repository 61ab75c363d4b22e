// `promethean-bench run --shared-cache URL`: two runs (two processes, as on two machines) share
// their answers through a real Redis; a Redis that is gone costs the hits and one notice, not
// the run.

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import test from 'ava'

import { replies, startFakeModelServer } from './helpers/fake-model-server.mjs'
import { redisTest, startRedis } from './helpers/redis-server.mjs'
import { runGuarded } from './helpers/run-guarded.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const BIN = path.join(here, '..', 'bin', 'promethean-bench.js')
const SMALL = path.join(here, '..', 'fixtures', 'small')
const ENV = { ...process.env }
delete ENV.PROMETHEAN_BENCH_TEST_RUNNER

const FIXTURES = ['missing-export', 'wrong-arg-count']

function goldPlans() {
  return new Map(FIXTURES.map((name) => [name, JSON.parse(fs.readFileSync(path.join(SMALL, name, 'fixture.json'), 'utf8')).goldPlan]))
}

/** A model server that answers each fixture's prompt with that fixture's gold plan. */
async function goldServer(t) {
  const server = await startFakeModelServer({ models: ['fake-coder:7b'] })
  t.teardown(() => server.close())
  const plans = goldPlans()
  server.reply((body) => {
    const text = JSON.stringify(body)
    for (const [name, plan] of plans) {
      for (const op of plan.dsl ?? []) {
        if (op.file && text.includes(op.file)) return replies.json(plan)
      }
      if (text.includes(name)) return replies.json(plan)
    }
    return replies.json(plans.get(FIXTURES[0]))
  })
  return server
}

function run(t, args) {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-cli-shared-'))
  t.teardown(() => fs.rmSync(out, { recursive: true, force: true }))
  // Its own working folder: the provider's local disk cache (.cache/buildfix) is not shared.
  return runGuarded([BIN, 'run', '--json', '--no-history', '--out', path.join(out, 'reports'), '--fixtures', FIXTURES.join(','), ...args], {
    env: ENV,
    cwd: out,
  })
}

redisTest('run --shared-cache: a second process gets every answer from Redis and never calls the model', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.close())
  const server = await goldServer(t)
  const args = ['--models', 'fake-coder:7b', '--endpoint', server.url, '--shared-cache', redis.url]
  const first = await run(t, args)
  t.is(first.code, 0, first.stderr)
  const asked = server.requests.length
  t.true(asked >= FIXTURES.length, 'the first run asked the model')
  const second = await run(t, args)
  t.is(second.code, 0, second.stderr)
  t.is(server.requests.length, asked, 'the second run did not call the model')
  t.is(JSON.parse(second.stdout).results.length, FIXTURES.length)
})

redisTest('run --shared-cache with Redis gone: the run completes on its local cache and says so once', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.close())
  await redis.stop()
  const server = await goldServer(t)
  const r = await run(t, ['--models', 'fake-coder:7b', '--endpoint', server.url, '--shared-cache', redis.url])
  t.is(r.code, 0, r.stderr)
  const notices = r.stderr.split('\n').filter((l) => l.includes('shared cache:'))
  t.true(notices.length >= 1, r.stderr)
  t.true(notices.length <= 2, 'one notice, not one per failure')
  t.regex(notices[0], /the run goes on with the local cache/)
})

test('--shared-cache is checked before anything starts', async (t) => {
  const cases = [
    [['run', '--shared-cache', 'http://127.0.0.1:6379'], /--shared-cache must be a redis:\/\/ or rediss:\/\/ URL/],
    [['run', '--shared-cache', 'redis://127.0.0.1', '--no-cache'], /--shared-cache and --no-cache cannot be combined/],
    [['run', '--queue', 'redis://127.0.0.1', '--shared-cache', 'redis://127.0.0.1'], /--shared-cache cannot be combined with --queue/],
  ]
  for (const [args, re] of cases) {
    const r = await runGuarded([BIN, ...args], { env: ENV })
    t.is(r.code, 2, args.join(' '))
    t.regex(r.stderr, re)
  }
})
