import test from 'ava'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'

import { replies, startFakeModelServer } from './helpers/fake-model-server.mjs'
import { runGuarded } from './helpers/run-guarded.mjs'

const require = createRequire(import.meta.url)
const engine = require('../worker/index.js')
const diagnostics = require('../worker/diagnostics.js')
const { generate: generateFixtures, writeFixtures } = require('../fixtures/generate.js')

const here = path.dirname(fileURLToPath(import.meta.url))
const WORKER = path.join(here, '..', 'worker', 'buildfix-worker.js')
const SMALL = engine.listFixtures(engine.SMALL_DIR)
const SMALL_NAMES = SMALL.map((d) => path.basename(d))

function tempDir(t, prefix = 'pb-engine-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A private copy of a small fixture (jobs edit in place). */
function copyFixture(t, name) {
  const dir = path.join(tempDir(t), name)
  fs.cpSync(path.join(engine.SMALL_DIR, name), dir, { recursive: true })
  return dir
}

function readTree(dir) {
  const out = {}
  for (const f of engine.listSourceFiles(dir)) out[f] = fs.readFileSync(path.join(dir, f), 'utf8')
  return out
}

function gold(name) {
  return JSON.parse(fs.readFileSync(path.join(engine.SMALL_DIR, name, 'fixture.json'), 'utf8')).goldPlan
}

async function server(t, options) {
  const s = await startFakeModelServer(options)
  t.teardown(() => s.close())
  return s
}

// ---------------------------------------------------------------------------------------------
// Fixtures and built-in models

test('the small set has the required error families, one error each', (t) => {
  t.true(SMALL.length >= 6)
  const codes = new Set()
  for (const dir of SMALL) {
    const fx = engine.loadFixture(dir)
    for (const k of ['name', 'description', 'target', 'goldPlan']) t.truthy(fx[k], `${fx.name}: ${k}`)
    const diags = engine.collectDiagnostics(dir)
    t.is(diags.length, 1, `${fx.name}: ${diags.map(engine.formatDiagnostic).join('; ')}`)
    t.true(engine.hasTarget(diags, fx.target), fx.name)
    t.true(fs.readdirSync(path.join(dir, 'src'), { recursive: true }).filter((f) => f.endsWith('.ts')).length >= 2)
    codes.add(fx.target.code)
  }
  for (const code of [2305, 2554, 7006, 9007, 2552, 2459]) t.true(codes.has(code), `TS${code} covered`)
})

for (const name of SMALL_NAMES) {
  test(`gold resolves ${name} in place`, async (t) => {
    const dir = copyFixture(t, name)
    const original = readTree(dir)
    const r = await engine.runJob({ fixtureDir: dir, model: 'gold', maxAttempts: 1, attemptTimeoutMs: 5000 })
    t.true(r.success, r.errorMessage)
    t.is(r.fixture, name)
    t.is(r.model, 'gold')
    t.is(r.errorCountBefore, 1)
    t.is(r.errorCountAfter, 0)
    t.is(r.errorsResolved, true)
    t.is(r.errorsResolvedCount, 1)
    t.true(r.planGenerated)
    t.is(r.attempts, 1)
    t.is(r.planTitle, gold(name).title)
    t.is(typeof r.duration, 'number')
    t.is(r.errorMessage, undefined)
    t.notDeepEqual(readTree(dir), original, 'the edit is made in the fixture folder')
    t.is(engine.collectDiagnostics(dir).length, 0)
  })
}

test('none is the floor: it fails every small fixture and changes nothing', async (t) => {
  for (const name of SMALL_NAMES) {
    const dir = copyFixture(t, name)
    const original = readTree(dir)
    const r = await engine.runJob({ fixtureDir: dir, model: 'none', maxAttempts: 3 })
    t.false(r.success, name)
    t.is(r.attempts, 1, 'a built-in model is deterministic: one attempt')
    t.is(r.errorCountAfter, r.errorCountBefore)
    t.is(r.errorsResolved, false)
    t.is(r.errorsResolvedCount, 0)
    t.regex(r.errorMessage, /target error is still there/)
    t.deepEqual(readTree(dir), original)
  }
})

test('regression: a plan that applies but does not remove the target is not a fix', async (t) => {
  const dir = copyFixture(t, 'class-not-exported')
  const s = await server(t)
  // Applies cleanly (the original scored that as a success) but exports the wrong thing.
  s.reply(
    replies.json({
      title: 'Export createLogger',
      rationale: '',
      dsl: [{ op: 'ensureExported', file: 'src/logging/logger.ts', symbol: 'createLogger', kind: 'function' }],
    }),
  )
  const r = await engine.runJob({
    fixtureDir: dir,
    model: 'm',
    endpoint: s.url,
    maxAttempts: 1,
    attemptTimeoutMs: 5000,
  })
  t.false(r.success)
  t.true(r.planGenerated)
  t.regex(r.errorMessage, /TS2459/)
})

test('regression: removing the target while adding errors elsewhere is not a fix', async (t) => {
  const dir = copyFixture(t, 'misspelled-name')
  const s = await server(t)
  // The first operation fixes the typo; the other two import from modules that do not exist.
  const dsl = [
    ...gold('misspelled-name').dsl,
    { op: 'addImport', file: 'src/inventory/stock.ts', from: './warehouse', names: ['Bin'] },
    { op: 'addImport', file: 'src/index.ts', from: './pricing', names: ['price'] },
  ]
  s.reply(replies.json({ title: 'Fix and more', rationale: '', dsl }))
  const r = await engine.runJob({
    fixtureDir: dir,
    model: 'm',
    endpoint: s.url,
    maxAttempts: 1,
    attemptTimeoutMs: 5000,
  })
  t.false(r.success)
  t.is(r.errorCountBefore, 1)
  t.is(r.errorCountAfter, 2)
  t.regex(r.errorMessage, /error count grew from 1 to 2: .*TS2307/)
})

test('the applier: each operation on its variants, all or nothing', (t) => {
  const dir = tempDir(t)
  const write = (f, text) => {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true })
    fs.writeFileSync(path.join(dir, f), text)
  }
  const read = (f) => fs.readFileSync(path.join(dir, f), 'utf8')
  const apply = (...dsl) => engine.applyPlan(dir, engine.validatePlan({ title: 't', dsl }))
  write('src/x.ts', 'export const X = 1\n')
  write(
    'src/a.ts',
    [
      "import { X } from './x'",
      '@sealed',
      'class A {}',
      'declare function f(): void',
      'abstract class B {}',
      'interface I {}',
      'let v = 1',
      'const obj = { total: 1 }',
      'const total = obj.total + X',
      'class Repo {',
      '  add(a: number, b: number) { return a + b }',
      '}',
      'const arrow = (s: string): number => s.length',
      'function sealed(c: unknown): void {}',
      '',
    ].join('\n'),
  )
  apply(
    ...[
      ['A', 'class'],
      ['f', 'function'],
      ['B', 'class'],
      ['I', 'type'],
      ['v', 'variable'],
      ['X', undefined],
    ].map(([symbol, kind]) => ({ op: 'ensureExported', file: 'src/a.ts', symbol, kind })),
    { op: 'renameSymbol', file: 'src/a.ts', from: 'total', to: 'sum' },
    { op: 'makeParamOptional', file: 'src/a.ts', fn: 'add', param: 'b' },
    { op: 'addTypeAnnotation', file: 'src/a.ts', selector: 'function:add', typeText: 'number' },
    { op: 'addTypeAnnotation', file: 'src/a.ts', selector: 'function:arrow', typeText: 'number | undefined' },
    { op: 'addTypeAnnotation', file: 'src/a.ts', selector: 'var:obj', typeText: '{ total: number }' },
    { op: 'addImport', file: 'src/a.ts', from: './x', names: ['X', 'Y'] },
    { op: 'addImport', file: 'src/a.ts', from: './z', names: ['Z'] },
    { op: 'insertStubFunction', file: 'src/a.ts', name: 'later', returns: 'Promise<string>' },
  )
  t.is(
    read('src/a.ts'),
    [
      "import { X, Y } from './x'",
      "import { Z } from './z'",
      '@sealed export',
      'class A {}',
      'export declare function f(): void',
      'export abstract class B {}',
      'export interface I {}',
      'export let v = 1',
      'const obj: { total: number } = { total: 1 }',
      'const sum = obj.total + X',
      'class Repo {',
      '  add(a: number, b?: number): number { return a + b }',
      '}',
      'const arrow = (s: string): number | undefined => s.length',
      'function sealed(c: unknown): void {}',
      'export { X }',
      '',
      'function later(...args: unknown[]): Promise<string> {',
      "  throw new Error('later is not implemented yet')",
      '}',
      '',
    ].join('\n'),
  )
  // All or nothing: the second operation fails, so the first one is not written either.
  const before = read('src/a.ts')
  t.throws(() => apply({ op: 'renameSymbol', file: 'src/a.ts', from: 'sum', to: 'total' }, { op: 'insertStubFunction', file: 'src/a.ts', name: 'later' }), {
    message: /'later' is already declared/,
  })
  t.is(read('src/a.ts'), before)
  t.throws(() => apply({ op: 'ensureExported', file: 'src/a.ts', symbol: 'B', kind: 'function' }), {
    message: /is a class, not a function/,
  })
  t.throws(() => apply({ op: 'renameSymbol', file: 'src/a.ts', from: 'nothing', to: 'x' }), { message: /not found/ })
  t.throws(() => apply({ op: 'addTypeAnnotation', file: 'src/x.d.ts', selector: 'var:X', typeText: 'number' }), {
    message: /not a TypeScript source file/,
  })
  // Contextual keywords are names; reserved words are not.
  t.notThrows(() => engine.validatePlan({ title: 't', dsl: [{ op: 'renameSymbol', file: 'a.ts', from: 'type', to: 'kind' }] }))
  t.throws(() => engine.validatePlan({ title: 't', dsl: [{ op: 'renameSymbol', file: 'a.ts', from: 'kind', to: 'class' }] }), {
    message: /'to' must be an identifier/,
  })
  t.is(engine.stripCodeFences('```json\n{"a":1}\n```'), '{"a":1}')
  t.is(engine.stripCodeFences('  {"a":1} '), '{"a":1}')
  t.deepEqual(engine.parsePlan('Sure! {"title":"t","dsl":[]} Hope it helps.'), { title: 't', rationale: '', dsl: [] })
})

// ---------------------------------------------------------------------------------------------
// Model server

test('a model server plan in code fences resolves; the request is the Ollama generate call', async (t) => {
  const dir = copyFixture(t, 'missing-export')
  const s = await server(t)
  s.reply(replies.fenced(gold('missing-export')))
  const r = await engine.runJob({
    fixtureDir: dir,
    model: 'qwen3:8b',
    endpoint: s.url,
    prompt: 'Fix the build.',
    maxAttempts: 2,
    attemptTimeoutMs: 5000,
    maxTokens: 512,
  })
  t.true(r.success, r.errorMessage)
  t.is(r.attempts, 1)
  t.is(s.requests.length, 1)
  const body = s.requests[0]
  t.is(body.model, 'qwen3:8b')
  t.is(body.stream, false)
  // The plan's JSON Schema as the output format (Ollama 0.5 and later).
  t.deepEqual(body.format.required, ['title', 'rationale', 'dsl'])
  t.deepEqual(body.options, { temperature: 0, num_predict: 512 })
  t.true(body.prompt.startsWith('Fix the build.'))
  t.true(body.prompt.includes("error TS2305: Module '\"../models\"' has no exported member 'isAdmin'"))
  t.true(body.prompt.includes('--- src/models/index.ts'))
  t.true(body.prompt.includes('ensureExported'))
})

async function failingAttempt(t, name, reply, pattern) {
  const dir = copyFixture(t, name)
  const original = readTree(dir)
  const s = await server(t)
  s.reply(reply)
  const r = await engine.runJob({
    fixtureDir: dir,
    model: 'fake',
    endpoint: s.url,
    maxAttempts: 1,
    attemptTimeoutMs: 5000,
  })
  t.false(r.success)
  t.is(r.attempts, 1)
  t.regex(r.errorMessage, pattern)
  t.is(r.errorCountAfter, r.errorCountBefore)
  t.deepEqual(readTree(dir), original, 'a failed plan writes nothing')
  return r
}

test('garbage JSON fails the attempt with an errorMessage', async (t) => {
  const r = await failingAttempt(t, 'missing-export', replies.garbage(), /not valid JSON/)
  t.false(r.planGenerated)
})

test('a wrong file name fails the attempt with an errorMessage', async (t) => {
  const plan = {
    title: 'x',
    rationale: '',
    dsl: [{ op: 'ensureExported', file: 'src/model/index.ts', symbol: 'isAdmin', kind: 'function' }],
  }
  await failingAttempt(t, 'missing-export', replies.json(plan), /file 'src\/model\/index\.ts' does not exist/)
})

test('a file outside the fixture is refused, even through a symlink', async (t) => {
  const outside = {
    title: 'x',
    rationale: '',
    dsl: [{ op: 'renameSymbol', file: '../../outside.ts', from: 'a', to: 'b' }],
  }
  await failingAttempt(t, 'missing-export', replies.json(outside), /outside the fixture/)
  const dir = copyFixture(t, 'misspelled-name')
  const victim = path.join(tempDir(t), 'victim.ts')
  fs.writeFileSync(victim, 'export const lowStok = 1\n')
  fs.symlinkSync(victim, path.join(dir, 'src', 'link.ts'))
  const plan = {
    title: 'x',
    rationale: '',
    dsl: [{ op: 'renameSymbol', file: 'src/link.ts', from: 'lowStok', to: 'pwned' }],
  }
  t.throws(() => engine.applyPlan(dir, engine.validatePlan(plan)), { message: /outside the fixture/ })
  t.is(fs.readFileSync(victim, 'utf8'), 'export const lowStok = 1\n')
})

test('an unknown operation fails the attempt with an errorMessage', async (t) => {
  const plan = { title: 'x', rationale: '', dsl: [{ op: 'deleteFile', file: 'src/index.ts' }] }
  await failingAttempt(t, 'missing-export', replies.json(plan), /unknown operation 'deleteFile'/)
})

test('malformed operations and a missing symbol fail with clear messages', async (t) => {
  const cases = [
    [{ op: 'ensureExported', file: 'src/models/index.ts' }, /'symbol' must be a non-empty string/],
    [{ op: 'addImport', file: 'src/index.ts', from: './x', names: [] }, /'names' must be a non-empty array/],
    [{ op: 'addTypeAnnotation', file: 'src/index.ts', selector: 'class:X', typeText: 'number' }, /selector must be/],
    [{ op: 'addTypeAnnotation', file: 'src/index.ts', selector: 'var:x', typeText: 'number; process.exit(1)' }, /not a single TypeScript type/],
    [{ op: 'ensureExported', file: 'src/models/user.ts', symbol: 'nothingHere', kind: 'function' }, /symbol 'nothingHere' not found/],
    [{ op: 'makeParamOptional', file: 'src/models/user.ts', fn: 'createUser', param: 'nope' }, /has no parameter 'nope'/],
  ]
  for (const [op, pattern] of cases) {
    await failingAttempt(t, 'missing-export', replies.json({ title: 'x', rationale: '', dsl: [op] }), pattern)
  }
  await failingAttempt(t, 'missing-export', replies.text('[]'), /plan must be a JSON object/)
  await failingAttempt(t, 'missing-export', replies.status(500, 'model not loaded'), /HTTP 500/)
  await failingAttempt(t, 'missing-export', replies.text('x'.repeat(9 * 1024 * 1024)), /larger than 8388608 bytes/)
})

test('a slow server times out the attempt', async (t) => {
  const s = await server(t)
  s.reply(replies.slow(3000, replies.json(gold('missing-export'))))
  const dir = copyFixture(t, 'missing-export')
  const started = Date.now()
  const r = await engine.runJob({
    fixtureDir: dir,
    model: 'slow',
    endpoint: s.url,
    maxAttempts: 2,
    attemptTimeoutMs: 150,
  })
  t.false(r.success)
  t.is(r.attempts, 2)
  t.regex(r.errorMessage, /attempt 2\/2: model request to slow timed out after 150 ms/)
  t.is(r.errorKind, 'model-unavailable')
  t.true(Date.now() - started < 2500, 'both attempts gave up on their own timeout')
})

test("errorKind marks failures that were the model server's, and only those", async (t) => {
  const run = async (endpoint) => engine.runJob({ fixtureDir: copyFixture(t, 'missing-export'), model: 'm', endpoint, attemptTimeoutMs: 2000 })
  // Nothing listens on port 9 of the loopback: connection refused.
  const down = await run('http://127.0.0.1:9')
  t.false(down.success)
  t.is(down.errorKind, 'model-unavailable')
  const s = await server(t)
  s.reply(replies.status(503, 'overloaded'))
  t.is((await run(s.url)).errorKind, 'model-unavailable')
  s.reply(replies.text('not a plan'))
  const bad = await run(s.url)
  t.false(bad.success)
  t.is(bad.errorKind, undefined, "a bad plan is the model's answer, not an outage")
  s.reply(replies.json(gold('missing-export')))
  t.is((await run(s.url)).errorKind, undefined)
})

test('a retry starts from the original files and is told why the last plan failed', async (t) => {
  const dir = copyFixture(t, 'misspelled-name')
  const original = readTree(dir)
  const s = await server(t)
  const wrong = {
    title: 'Rename the wrong thing',
    rationale: '',
    dsl: [{ op: 'renameSymbol', file: 'src/inventory/stock.ts', from: 'totalUnits', to: 'sumUnits' }],
  }
  s.reply((body, n) => (n === 1 ? replies.json(wrong) : replies.fenced(gold('misspelled-name'))))
  const r = await engine.runJob({
    fixtureDir: dir,
    model: 'm',
    endpoint: s.url,
    maxAttempts: 3,
    attemptTimeoutMs: 5000,
  })
  t.true(r.success, r.errorMessage)
  t.is(r.attempts, 2)
  t.regex(
    s.requests[1].prompt,
    /A previous plan failed: the target error is gone but the error count grew|A previous plan failed: the target error is still there/,
  )
  const after = readTree(dir)
  t.is(after['src/inventory/stock.ts'], original['src/inventory/stock.ts'].replace('lowStok', 'lowStock'), 'only the last plan is applied')
  t.is(after['src/index.ts'], original['src/index.ts'])
})

test('listModels asks /api/tags; unreachable or bad endpoints say so', async (t) => {
  const s = await server(t, { models: ['qwen3:8b', 'llama3.1:8b'] })
  t.deepEqual(await engine.listModels(s.url), ['qwen3:8b', 'llama3.1:8b'])
  await t.throwsAsync(engine.listModels('ftp://example.com'), { message: /http\(s\) URL/ })
  await s.close()
  await t.throwsAsync(engine.listModels(s.url), { message: /cannot reach/ })
})

test('a model name full of shell metacharacters runs nothing but the HTTP request', async (t) => {
  const marker = path.join(tempDir(t), 'pwned')
  const model = `qwen"; touch ${marker}; echo $(touch ${marker}) \`touch ${marker}\` | sh #`
  const s = await server(t)
  s.reply(replies.json(gold('missing-export')))
  const dir = copyFixture(t, 'missing-export')
  // In process, and through the worker's one-shot mode.
  const r = await engine.runJob({ fixtureDir: dir, model, endpoint: s.url, maxAttempts: 1, attemptTimeoutMs: 5000 })
  t.true(r.success, r.errorMessage)
  t.is(r.model, model)
  const dir2 = copyFixture(t, 'missing-export')
  const reply = await once(JSON.stringify({ fixtureDir: dir2, model, endpoint: s.url, maxAttempts: 1, attemptTimeoutMs: 5000 }))
  t.true(reply.result.success)
  t.deepEqual(
    s.requests.map((b) => b.model),
    [model, model],
  )
  t.false(fs.existsSync(marker))
})

test('a malformed job is rejected as a TypeError naming the field', async (t) => {
  const dir = copyFixture(t, 'missing-export')
  await t.throwsAsync(engine.runJob({ fixtureDir: dir, model: 'gold', maxAttempts: 0 }), {
    instanceOf: TypeError,
    message: /maxAttempts/,
  })
  await t.throwsAsync(engine.runJob({ fixtureDir: dir, model: 'remote' }), {
    instanceOf: TypeError,
    message: /endpoint is required/,
  })
  await t.throwsAsync(engine.runJob({ fixtureDir: path.join(dir, 'nope'), model: 'gold' }), {
    instanceOf: TypeError,
    message: /fixtureDir/,
  })
  await t.throwsAsync(engine.runJob({ fixtureDir: dir, model: 'gold', attemptTimeoutMs: -1 }), {
    instanceOf: TypeError,
    message: /attemptTimeoutMs/,
  })
})

// ---------------------------------------------------------------------------------------------
// Worker process and protocol

function once(jobJson) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, '--once'], { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (c) => (out += c))
    child.on('error', reject)
    child.on('close', (code) => {
      try {
        const lines = out.trim().split('\n')
        resolve({ ...JSON.parse(lines[0]), exitCode: code, lines: lines.length })
      } catch {
        reject(new Error(`bad --once output (${code}): ${out}`))
      }
    })
    child.stdin.end(jobJson)
  })
}

/** A spawned worker with a line reader: `next()` resolves the next protocol message. */
function startWorker(t) {
  const child = spawn(process.execPath, [WORKER], { stdio: ['pipe', 'pipe', 'inherit'] })
  const pending = []
  const waiting = []
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const msg = JSON.parse(line)
    if (waiting.length) waiting.shift()(msg)
    else pending.push(msg)
  })
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)))
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  return {
    child,
    exited,
    send: (msg) => child.stdin.write(typeof msg === 'string' ? `${msg}\n` : `${JSON.stringify(msg)}\n`),
    next: () => (pending.length ? Promise.resolve(pending.shift()) : new Promise((resolve) => waiting.push(resolve))),
  }
}

test('the framed protocol round-trips: ready, ping/pong, job/result, errors, shutdown', async (t) => {
  const w = startWorker(t)
  const ready = await w.next()
  t.is(ready.type, 'ready')
  t.is(ready.pid, w.child.pid)
  t.is(ready.protocol, engine.PROTOCOL_VERSION)
  w.send({ type: 'ping', id: 1 })
  t.like(await w.next(), { type: 'pong', id: 1, pid: w.child.pid, busy: false })

  const dir = copyFixture(t, 'implicit-any')
  w.send({ type: 'job', id: 'j-1', fixtureDir: dir, model: 'gold', maxAttempts: 1, attemptTimeoutMs: 5000 })
  const result = await w.next()
  t.is(result.type, 'result')
  t.is(result.id, 'j-1')
  t.like(result.result, {
    fixture: 'implicit-any',
    model: 'gold',
    success: true,
    errorCountBefore: 1,
    errorCountAfter: 0,
    attempts: 1,
  })

  w.send('this is not json')
  t.like(await w.next(), { type: 'error', id: null })
  w.send({ type: 'explode', id: 9 })
  t.like(await w.next(), { type: 'error', id: 9 })
  w.send({ type: 'job', id: 'bad', fixtureDir: dir, model: 'gold', maxAttempts: 'lots' })
  const bad = await w.next()
  t.like(bad, { type: 'error', id: 'bad' })
  t.regex(bad.message, /maxAttempts/)

  w.send({ type: 'shutdown' })
  t.is(await w.exited, 0)
})

test('the worker answers pings while a job waits on the model, and runs jobs in order', async (t) => {
  const s = await server(t)
  s.reply((body, n) => replies.slow(n === 1 ? 400 : 0, replies.json(gold('missing-export'))))
  const w = startWorker(t)
  t.is((await w.next()).type, 'ready')
  const a = copyFixture(t, 'missing-export')
  const b = copyFixture(t, 'missing-export')
  w.send({ type: 'job', id: 'a', fixtureDir: a, model: 'm1', endpoint: s.url, maxAttempts: 1, attemptTimeoutMs: 5000 })
  w.send({ type: 'job', id: 'b', fixtureDir: b, model: 'm2', endpoint: s.url, maxAttempts: 1, attemptTimeoutMs: 5000 })
  w.send({ type: 'ping', id: 'p' })
  t.like(await w.next(), { type: 'pong', id: 'p', busy: true, queued: 1 })
  t.like(await w.next(), { type: 'result', id: 'a', result: { success: true, model: 'm1' } })
  t.like(await w.next(), { type: 'result', id: 'b', result: { success: true, model: 'm2' } })
  w.child.stdin.end() // end of input: the worker exits by itself
  t.is(await w.exited, 0)
})

test('regression: a worker whose stdin closes mid-request (its owner died) aborts the model request and exits at once', async (t) => {
  const s = await server(t)
  s.reply(replies.slow(600000, replies.json(gold('missing-export'))))
  const w = startWorker(t)
  t.is((await w.next()).type, 'ready')
  const dir = copyFixture(t, 'missing-export')
  w.send({ type: 'job', id: 'a', fixtureDir: dir, model: 'm1', endpoint: s.url, maxAttempts: 3, attemptTimeoutMs: 600000 })
  await s.waitForRequests(1)
  const closed = Date.now()
  w.child.stdin.end()
  const timer = setTimeout(() => w.child.kill('SIGKILL'), 10000)
  const code = await w.exited
  clearTimeout(timer)
  t.is(code, 0, 'the worker exited by itself, not killed by the 10 s guard')
  t.true(Date.now() - closed < 10000)
  t.is(s.requests.length, 1, 'no further attempt was started')

  // In process: the signal cancels the request in flight and no attempt follows.
  const controller = new AbortController()
  const copy = copyFixture(t, 'missing-export')
  const pending = engine.runJob({ fixtureDir: copy, model: 'm1', endpoint: s.url, maxAttempts: 3, attemptTimeoutMs: 600000 }, { signal: controller.signal })
  await s.waitForRequests(2)
  controller.abort()
  const r = await pending
  t.false(r.success)
  t.is(r.attempts, 1)
  t.regex(r.errorMessage, /cancelled/)
  t.is(s.requests.length, 2)
})

test('cancel drops a queued job and stops a running one; each is answered cancelled and the worker goes on', async (t) => {
  const s = await server(t)
  s.reply(replies.slow(600000, replies.json(gold('missing-export'))))
  const w = startWorker(t)
  t.is((await w.next()).type, 'ready')
  const a = copyFixture(t, 'missing-export')
  const b = copyFixture(t, 'missing-export')
  w.send({ type: 'job', id: 'a', fixtureDir: a, model: 'm1', endpoint: s.url, maxAttempts: 3, attemptTimeoutMs: 600000 })
  w.send({ type: 'job', id: 'b', fixtureDir: b, model: 'm1', endpoint: s.url, maxAttempts: 1, attemptTimeoutMs: 600000 })
  await s.waitForRequests(1)
  w.send({ type: 'cancel', id: 'b' })
  t.deepEqual(await w.next(), { type: 'cancelled', id: 'b' })
  w.send({ type: 'cancel', id: 'a' })
  t.deepEqual(await w.next(), { type: 'cancelled', id: 'a' })
  t.is(s.requests.length, 1, 'no further attempt, and the dropped job never ran')
  w.send({ type: 'cancel', id: 'a' }) // already answered: no reply
  w.send({ type: 'ping', id: 'p' })
  t.like(await w.next(), { type: 'pong', id: 'p', busy: false, queued: 0 })
  const dir = copyFixture(t, 'implicit-any')
  w.send({ type: 'job', id: 'c', fixtureDir: dir, model: 'gold', maxAttempts: 1, attemptTimeoutMs: 5000 })
  t.like(await w.next(), { type: 'result', id: 'c', result: { success: true } })
  w.send({ type: 'shutdown' })
  t.is(await w.exited, 0)
})

test('one-shot mode prints one result line; a malformed job exits 2', async (t) => {
  const dir = copyFixture(t, 'missing-helper')
  const ok = await once(JSON.stringify({ fixtureDir: dir, model: 'gold' }))
  t.is(ok.exitCode, 0)
  t.is(ok.lines, 1)
  t.like(ok, { type: 'result', result: { fixture: 'missing-helper', success: true } })
  const bad = await once('{"model": "gold"}')
  t.is(bad.exitCode, 2)
  t.like(bad, { type: 'error' })
  t.regex(bad.message, /fixtureDir/)
})

// ---------------------------------------------------------------------------------------------
// Results file

test("regression: writeResults (and the runner's --out) under /proc fails at once instead of spinning in mkdir", async (t) => {
  const code = `
    const { writeResults } = require('./worker/results.js')
    try { writeResults('/proc/x/results', [], { quiet: true }); console.log('written') }
    catch (err) { console.log(JSON.stringify({ message: err.message })) }`
  const r = await runGuarded(['-e', code], { cwd: path.join(here, '..'), timeoutMs: 120000 })
  t.false(r.hung, 'writeResults did not return within 120 s')
  t.regex(JSON.parse(r.stdout).message, /cannot create folder "\/proc\/x\/results"/)
})

test('writeResults writes {results, summary, timestamp} and prints the runner line', async (t) => {
  const dir = tempDir(t)
  const results = []
  for (const [name, model] of [
    ['missing-export', 'gold'],
    ['wrong-arg-count', 'gold'],
    ['implicit-any', 'none'],
  ]) {
    results.push(await engine.runJob({ fixtureDir: copyFixture(t, name), model }))
  }
  const printed = []
  const log = console.log
  console.log = (line) => printed.push(line)
  let file
  try {
    file = engine.writeResults(path.join(dir, 'out'), results)
  } finally {
    console.log = log
  }
  t.deepEqual(printed, [`Results saved to: ${file}`])
  t.regex(file, /\.json$/)
  const data = JSON.parse(fs.readFileSync(file, 'utf8'))
  t.deepEqual(Object.keys(data).sort(), ['results', 'summary', 'timestamp'])
  t.deepEqual(data.results, results)
  t.like(data.summary, {
    totalTests: 3,
    successfulTests: 2,
    failedTests: 1,
    totalErrorsBefore: 3,
    totalErrorsResolved: 2,
  })
  t.false(Number.isNaN(Date.parse(data.timestamp)))
  t.like(engine.summarize([]), { totalTests: 0, successfulTests: 0, successRate: 0 })
  t.throws(() => engine.writeResults(dir, 'nope'), { instanceOf: TypeError })
})

test('the command-line runner prints the original runner lines and leaves the bundled fixtures alone', async (t) => {
  const out = tempDir(t)
  const before = SMALL.map(readTree)
  const child = spawn(
    process.execPath,
    [path.join(here, '..', 'worker', 'run.js'), '--models', 'gold,none', '--small-fixtures', '--fixtures', 'missing-export,implicit-any', '--out', out],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  let text = ''
  child.stdout.on('data', (c) => (text += c))
  const code = await new Promise((resolve) => child.on('close', resolve))
  t.is(code, 0)
  t.regex(text, /^Total Tests: 4$/m)
  t.regex(text, /^Successful Tests: 2$/m)
  const file = /^Results saved to: (.+\.json)$/m.exec(text)[1]
  t.is(path.dirname(file), path.resolve(out))
  t.like(JSON.parse(fs.readFileSync(file, 'utf8')).summary, {
    totalTests: 4,
    successfulTests: 2,
    models: ['gold', 'none'],
  })
  t.deepEqual(SMALL.map(readTree), before)
})

// ---------------------------------------------------------------------------------------------
// Massive set

test('generation is deterministic and seeded', (t) => {
  const a = generateFixtures({ count: 20, seed: 3 })
  const b = generateFixtures({ count: 20, seed: 3 })
  const c = generateFixtures({ count: 20, seed: 4 })
  t.deepEqual(a, b)
  t.notDeepEqual(a, c)
  t.is(new Set(a.map((f) => JSON.stringify(f.files))).size, 20, 'every fixture differs')
})

test('ensureMassive generates lazily and regenerates for other parameters', (t) => {
  const dir = path.join(tempDir(t), 'massive')
  const first = engine.ensureMassive({ dir, count: 4, seed: 9 })
  t.is(first.length, 4)
  const probe = path.join(first[0], 'probe.txt')
  fs.writeFileSync(probe, 'kept')
  t.deepEqual(engine.ensureMassive({ dir, count: 4, seed: 9 }), first)
  t.true(fs.existsSync(probe), 'same parameters: not regenerated')
  const other = engine.ensureMassive({ dir, count: 3, seed: 10 })
  t.is(other.length, 3)
  t.false(fs.existsSync(probe))
})

test('massive: all 200 generated fixtures have their target error and gold resolves each', async (t) => {
  const dir = tempDir(t, 'pb-massive-')
  const dirs = writeFixtures(dir, { count: 200, seed: 1 })
  t.is(dirs.length, 200)
  const families = new Set()
  const failures = []
  for (const fixtureDir of dirs) {
    const fx = engine.loadFixture(fixtureDir)
    families.add(fx.family)
    const before = diagnostics.collectDiagnosticsFloor(fixtureDir).length
    const r = await engine.runJob({ fixtureDir, model: 'gold' })
    // runJob checks the target is present before (else it fails saying so) and gone after.
    if (!r.success || r.errorCountBefore < 1 || r.errorCountAfter >= r.errorCountBefore) failures.push(`${fx.name}: ${r.errorMessage}`)
    // Its checks (reused structure, in-memory edits) count what a check from scratch counts.
    const after = diagnostics.collectDiagnosticsFloor(fixtureDir).length
    if (r.errorCountBefore !== before || r.errorCountAfter !== after)
      failures.push(`${fx.name}: ${r.errorCountBefore}/${r.errorCountAfter} vs ${before}/${after}`)
  }
  t.deepEqual(failures, [])
  t.true(families.size >= 8, [...families].join(', '))
})

test('the before-check is remembered by folder content: an edit is always checked afresh', (t) => {
  const dir = copyFixture(t, 'missing-export')
  const fresh = diagnostics.collectDiagnostics(dir)
  t.true(fresh.length > 0)
  t.deepEqual(diagnostics.collectDiagnosticsCached(dir), fresh)
  // A caller that edits what it got does not change what is remembered.
  const again = diagnostics.collectDiagnosticsCached(dir)
  again[0].message = 'changed'
  again.length = 0
  t.deepEqual(diagnostics.collectDiagnosticsCached(dir), fresh)
  // Fix the error with the gold plan: the cached check must see the new content.
  engine.applyPlan(dir, engine.validatePlan(gold('missing-export')))
  const fixed = diagnostics.collectDiagnosticsCached(dir)
  t.deepEqual(fixed, diagnostics.collectDiagnostics(dir))
  t.true(fixed.length < fresh.length)
  // The same content in another folder is its own entry (messages may name the folder).
  const other = copyFixture(t, 'missing-export')
  t.deepEqual(diagnostics.collectDiagnosticsCached(other), diagnostics.collectDiagnostics(other))
})

test("a job's checks agree with checks from scratch, job after job on copies restored in between", async (t) => {
  const dirs = SMALL_NAMES.map((name) => copyFixture(t, name))
  const pristine = dirs.map(readTree)
  const floors = dirs.map((dir) => diagnostics.collectDiagnosticsFloor(dir))
  for (let round = 0; round < 3; round++) {
    for (const [i, dir] of dirs.entries()) {
      const model = round === 1 ? 'none' : 'gold'
      const r = await engine.runJob({ fixtureDir: dir, model })
      t.is(r.errorCountBefore, floors[i].length, `${SMALL_NAMES[i]} before, round ${round}`)
      const after = diagnostics.collectDiagnosticsFloor(dir)
      t.is(r.errorCountAfter, after.length, `${SMALL_NAMES[i]} after, round ${round}`)
      // The cached check of the edited folder (its structure reused) gives every diagnostic alike.
      t.deepEqual(engine.collectDiagnostics(dir), after)
      t.is(r.success, model === 'gold')
      for (const [file, text] of Object.entries(pristine[i])) fs.writeFileSync(path.join(dir, file), text)
    }
  }
})

test('a reused program structure still sees a new file and a changed package.json', (t) => {
  const dir = tempDir(t)
  const write = (file, text) => {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true })
    fs.writeFileSync(path.join(dir, file), text)
  }
  write(
    'tsconfig.json',
    JSON.stringify({ compilerOptions: { target: 'ES2020', module: 'commonjs', lib: ['ES2020'], strict: true, types: [] }, include: ['src'] }),
  )
  write('src/app.ts', "import { x } from './lib'\nexport const y: number = x\n")
  const codes = () => {
    const cached = engine.collectDiagnostics(dir)
    t.deepEqual(cached, diagnostics.collectDiagnosticsFloor(dir))
    return cached.map((d) => d.code)
  }
  t.deepEqual(codes(), [2307])
  codes()
  // src/app.ts is unchanged each time; how './lib' resolves is not.
  write('src/lib/main.ts', 'export const x = 1\n')
  write('src/lib/other.ts', "export const x = 'one'\n")
  write('src/lib/package.json', JSON.stringify({ types: './main.ts' }))
  t.deepEqual(codes(), [])
  write('src/lib/package.json', JSON.stringify({ types: './other.ts' }))
  t.deepEqual(codes(), [2322])
  fs.rmSync(path.join(dir, 'src/lib'), { recursive: true })
  t.deepEqual(codes(), [2307])
})

/** Applies the fixture's gold plan through the engine's path (one read, edits in memory, the
 *  check of the edited folder from the check before) and returns that check's diagnostics. */
function checkAfterGold(dir) {
  const folder = diagnostics.readFolder(fs.realpathSync(dir))
  const before = diagnostics.checkFolderCached(folder)
  const plan = engine.validatePlan(engine.loadFixture(dir).goldPlan)
  const { changed, files } = engine.applyPlan(folder.root, plan, { texts: folder.texts })
  const edits = new Map(changed.map((rel) => [path.join(folder.root, rel), files.get(path.join(folder.root, rel))]))
  return diagnostics.checkFolder(folder, edits, before)
}

test('the check after a plan (only the files it can affect checked again) equals a check from scratch, on every fixture', (t) => {
  const root = tempDir(t, 'pb-affected-')
  const dirs = [...SMALL_NAMES.map((name) => copyFixture(t, name)), ...writeFixtures(root, { count: 200, seed: 1 })]
  for (const dir of dirs) {
    const after = checkAfterGold(dir)
    t.deepEqual(after, diagnostics.collectDiagnosticsFloor(dir), path.basename(dir))
  }
})

test('edits that reach files without an import (scripts, declare global) check every file again', (t) => {
  /** A project of `files`; `edit` applied the engine's way, checked against a check from scratch. */
  const after = (files, file, text) => {
    const dir = tempDir(t)
    files['tsconfig.json'] = JSON.stringify({
      compilerOptions: { target: 'ES2020', module: 'commonjs', lib: ['ES2020'], strict: true, types: [] },
      include: ['src'],
    })
    for (const [name, body] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true })
      fs.writeFileSync(path.join(dir, name), body)
    }
    const folder = diagnostics.readFolder(fs.realpathSync(dir))
    const before = diagnostics.checkFolderCached(folder)
    t.deepEqual(before.diagnostics, [])
    const abs = path.join(folder.root, file)
    const got = diagnostics.checkFolder(folder, new Map([[abs, text]]), before)
    fs.writeFileSync(abs, text)
    t.deepEqual(got, diagnostics.collectDiagnosticsFloor(dir))
    return got.map((d) => `${d.file}:${d.code}`)
  }
  // src/app.ts imports none of the edited files, yet each edit breaks it.
  const script = { 'src/app.ts': 'export const total: number = shared\n', 'src/globals.ts': 'const shared = 1\n' }
  t.deepEqual(after(script, 'src/globals.ts', 'const renamed = 1\n'), ['src/app.ts:2304'])
  // A script turned into a module by an edit takes its globals with it.
  t.deepEqual(after(script, 'src/globals.ts', 'export const shared = 1\n'), ['src/app.ts:2304'])
  const augment = { 'src/app.ts': 'export const total: number = augmented\n', 'src/augment.ts': 'export {}\ndeclare global {\n  var augmented: number\n}\n' }
  t.deepEqual(after(augment, 'src/augment.ts', 'export {}\n'), ['src/app.ts:2304'])
  // And an edit whose effect does travel by import is seen in the importer.
  const chain = {
    'src/app.ts': "import { n } from './mid'\nexport const total: number = n\n",
    'src/mid.ts': "export { n } from './leaf'\n",
    'src/leaf.ts': 'export const n = 1\n',
  }
  t.deepEqual(after(chain, 'src/leaf.ts', "export const n = 'one'\n"), ['src/app.ts:2322'])
})

test('the checks refuse what is not a fixture folder, naming the argument', (t) => {
  for (const check of [engine.collectDiagnostics, engine.collectDiagnosticsFloor]) {
    t.throws(() => check(), { instanceOf: TypeError, message: /fixtureDir/ })
    t.throws(() => check(42), { instanceOf: TypeError, message: /fixtureDir/ })
    t.throws(() => check(''), { instanceOf: TypeError, message: /fixtureDir/ })
    t.throws(() => check(path.join(tempDir(t), 'missing')), { instanceOf: RangeError, message: /fixtureDir is not a folder/ })
    t.throws(() => check(path.join(engine.SMALL_DIR, 'missing-export', 'fixture.json')), { instanceOf: RangeError, message: /fixtureDir/ })
    // A folder without a tsconfig.json says so.
    t.throws(() => check(tempDir(t)), { message: /no tsconfig.json/ })
  }
  t.throws(() => engine.collectDiagnostics(engine.SMALL_DIR, { 'a.ts': '' }), { instanceOf: TypeError, message: /overlay/ })
})
