import test from 'ava'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'

const require = createRequire(import.meta.url)
const engine = require('../worker/index.js')
const { PlanError, validatePlan, applyPlan, parsePlan, planInstructions, OPS } = require('../worker/plan.js')
const { generate, writeFixtures } = require('../fixtures/generate.js')
const { validateFixture, validateFixtures } = require('../worker/validate.js')
const { scaffoldFixture } = require('../worker/scaffold.js')
const { main } = require('../lib/cli/main.js')

function tempDir(t, prefix = 'pb-fixtures-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A throwaway project: {relative path: text}, plus a strict tsconfig unless given. */
function project(t, files) {
  const dir = tempDir(t)
  const all = {
    'tsconfig.json': JSON.stringify({
      compilerOptions: { target: 'ES2020', module: 'commonjs', lib: ['ES2020'], strict: true, noEmit: true, types: [] },
      include: ['src'],
    }),
    ...files,
  }
  for (const [file, text] of Object.entries(all)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true })
    fs.writeFileSync(path.join(dir, file), text)
  }
  return dir
}

function apply(dir, ...dsl) {
  return applyPlan(dir, validatePlan({ title: 't', dsl }))
}

const read = (dir, file) => fs.readFileSync(path.join(dir, file), 'utf8')
const codes = (dir) => engine.collectDiagnostics(dir).map((d) => d.code)

function sink() {
  let text = ''
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += chunk
      cb()
    },
  })
  stream.text = () => text
  return stream
}

async function cli(argv) {
  const stdout = sink()
  const stderr = sink()
  const code = await main(argv, { stdout, stderr, env: {} })
  return { code, stdout: stdout.text(), stderr: stderr.text() }
}

// ---------------------------------------------------------------------------------------------
// Families

const SMALL = engine.describeFixtures(engine.SMALL_DIR)

test('at least 24 error families, each with a small fixture and a massive variant', (t) => {
  const smallFamilies = new Set(SMALL.map((f) => f.family))
  t.false(smallFamilies.has(null), 'every small fixture names its family')
  const massiveFamilies = new Set(generate({ count: 60, seed: 1 }).map((f) => f.fixture.family))
  t.true(smallFamilies.size >= 24, `${smallFamilies.size} families`)
  t.deepEqual([...massiveFamilies].sort(), [...smallFamilies].sort())
  const expected = [2339, 2345, 2322, 2531, 18047, 18048, 2307, 7053, 2741, 2564, 2367, 2769, 1308, 2351, 2349, 2416]
  const seen = new Set(SMALL.map((f) => f.code))
  for (const code of expected) t.true(seen.has(code), `TS${code} has a small fixture`)
})

test('every small fixture: exactly its target error, and gold leaves no error', async (t) => {
  for (const info of SMALL) {
    const dir = path.join(tempDir(t), info.name)
    fs.cpSync(info.dir, dir, { recursive: true })
    const before = engine.collectDiagnostics(dir)
    t.is(before.length, 1, `${info.name}: ${before.map(engine.formatDiagnostic).join('; ')}`)
    t.is(before[0].code, info.code, info.name)
    const r = await engine.runJob({ fixtureDir: dir, model: 'gold' })
    t.true(r.success, `${info.name}: ${r.errorMessage}`)
    t.is(r.errorCountAfter, 0, info.name)
    t.is(r.family, info.family)
    t.is(r.targetCode, info.code)
    const none = path.join(tempDir(t), info.name)
    fs.cpSync(info.dir, none, { recursive: true })
    t.false((await engine.runJob({ fixtureDir: none, model: 'none' })).success, `${info.name}: none is the floor`)
  }
})

test('massive: the first 52 fixtures (every family twice) have their target and gold clears them', async (t) => {
  const dirs = writeFixtures(tempDir(t), { count: 52, seed: 7 })
  const byFamily = new Map()
  for (const dir of dirs) {
    const fx = engine.loadFixture(dir)
    byFamily.set(fx.family, (byFamily.get(fx.family) ?? 0) + 1)
    const r = await engine.runJob({ fixtureDir: dir, model: 'gold' })
    t.true(r.success && r.errorCountAfter === 0, `${fx.name}: ${r.errorMessage}`)
  }
  t.is(byFamily.size, 26)
  t.true([...byFamily.values()].every((n) => n === 2))
})

// ---------------------------------------------------------------------------------------------
// Plan operations

test('the prompt lists every operation of the format', (t) => {
  const text = planInstructions()
  for (const op of Object.keys(OPS)) t.true(text.includes(`"op":"${op}"`), op)
  t.is(require('../worker/models.js').PLAN_INSTRUCTIONS, text)
})

test('addProperty keeps the members one per line with their indentation and separator', (t) => {
  const dir = project(t, {
    'src/a.ts': 'export interface A {\n    x: number;\n}\nexport type B = { y: string }\nexport const a: A = { x: 1 }\n',
  })
  apply(
    dir,
    { op: 'addProperty', file: 'src/a.ts', type: 'A', name: 'z', typeText: 'string[]', optional: true },
    { op: 'addProperty', file: 'src/a.ts', type: 'B', name: 'w', typeText: 'number' },
  )
  t.is(
    read(dir, 'src/a.ts'),
    'export interface A {\n    x: number;\n    z?: string[];\n}\nexport type B = { y: string; w: number }\nexport const a: A = { x: 1 }\n',
  )
  t.deepEqual(codes(dir), [])
  t.throws(() => apply(dir, { op: 'addProperty', file: 'src/a.ts', type: 'A', name: 'x', typeText: 'number' }), {
    instanceOf: PlanError,
    message: /already has a property 'x'/,
  })
  t.throws(() => apply(dir, { op: 'addProperty', file: 'src/a.ts', type: 'Nope', name: 'q', typeText: 'number' }), {
    message: /no interface or object type named 'Nope'/,
  })
})

test('makePropertyOptional, initializeProperty, setParamType, makeAsync, changeImportPath', (t) => {
  const dir = project(t, {
    'src/m.ts': 'export const m = 1\n',
    'src/a.ts': [
      "import { m } from './mm'",
      'export interface P { a: number; b: string }',
      'export class C {',
      '  x: number',
      '  y: string',
      '  read(): string { return this.y + this.x }',
      '}',
      'export function f(v: number): number { return v }',
      'export const g = (v, w: number): number => w',
      'export async function load(): Promise<number> { return m }',
      'export function run(): number { const v = await load(); return v }',
      '',
    ].join('\n'),
  })
  apply(
    dir,
    { op: 'changeImportPath', file: 'src/a.ts', from: './mm', to: './m' },
    { op: 'makePropertyOptional', file: 'src/a.ts', type: 'P', name: 'b' },
    { op: 'initializeProperty', file: 'src/a.ts', class: 'C', property: 'x', value: '0' },
    { op: 'initializeProperty', file: 'src/a.ts', class: 'C', property: 'y' },
    { op: 'setParamType', file: 'src/a.ts', fn: 'f', param: 'v', typeText: 'number | string' },
    { op: 'setParamType', file: 'src/a.ts', fn: 'g', param: 'v', typeText: 'unknown' },
    { op: 'makeAsync', file: 'src/a.ts', fn: 'run' },
  )
  const text = read(dir, 'src/a.ts')
  t.true(text.includes("from './m'"))
  t.true(text.includes('b?: string'))
  t.true(text.includes('x: number = 0'))
  t.true(text.includes('y!: string'))
  t.true(text.includes('f(v: number | string): number | string') || text.includes('f(v: number | string): number'))
  t.true(text.includes('(v: unknown, w: number)'))
  t.true(text.includes('export async function run(): Promise<number>'))
  // f now returns a wider type than it declares; that is the only error left.
  t.deepEqual(codes(dir), [2322])
  t.throws(() => apply(dir, { op: 'initializeProperty', file: 'src/a.ts', class: 'C', property: 'x', value: '1' }), {
    message: /already has an initialiser/,
  })
  t.throws(() => apply(dir, { op: 'changeImportPath', file: 'src/a.ts', from: './zz', to: './m' }), {
    message: /does not import '\.\/zz'/,
  })
})

test('addOptionalChain and addNullishDefault work at a line, composing in order', (t) => {
  const dir = project(t, {
    'src/a.ts': [
      'declare function pick(): { n: number } | null',
      'export function f(): number {',
      '  const top = pick()',
      '  return top.n + top.n',
      '}',
      'export const g: number | undefined = pick().n',
      '',
    ].join('\n'),
  })
  t.deepEqual(codes(dir).sort(), [18047, 18047, 2531])
  apply(
    dir,
    { op: 'addOptionalChain', file: 'src/a.ts', line: 4, expression: 'top' },
    { op: 'addNullishDefault', file: 'src/a.ts', line: 4, expression: 'top?.n', fallback: '0' },
    { op: 'addOptionalChain', file: 'src/a.ts', line: 6, expression: 'pick ( )' },
  )
  t.is(read(dir, 'src/a.ts').split('\n')[3], '  return (top?.n ?? 0) + (top?.n ?? 0)')
  t.true(read(dir, 'src/a.ts').includes('pick()?.n'))
  t.deepEqual(codes(dir), [])
  t.throws(() => apply(dir, { op: 'addOptionalChain', file: 'src/a.ts', line: 2, expression: 'top' }), {
    message: /no member access, index or call on top at src\/a\.ts:2/,
  })
})

test('replaceText replaces exactly the expected text and refuses anything else', (t) => {
  const dir = project(t, { 'src/a.ts': 'export const a: number = 1\nexport const b: string = 2\n' })
  const op = { op: 'replaceText', file: 'src/a.ts', start: { line: 2, column: 26 }, end: { line: 2, column: 27 }, oldText: '2', newText: "'2'" }
  const original = read(dir, 'src/a.ts')
  // A mismatch fails the whole plan: the earlier operation's edit is not written either.
  t.throws(
    () =>
      apply(
        dir,
        { op: 'replaceText', file: 'src/a.ts', start: { line: 1, column: 1 }, end: { line: 1, column: 1 }, oldText: '', newText: '/* x */ ' },
        { ...op, oldText: '3' },
      ),
    { message: /from 2:26 to 2:27 is "2", not the expected "3"/ },
  )
  t.is(read(dir, 'src/a.ts'), original)
  apply(dir, op)
  t.is(read(dir, 'src/a.ts'), "export const a: number = 1\nexport const b: string = '2'\n")
  // Insertion at the end of the file (the empty line after the last newline).
  apply(dir, { op: 'replaceText', file: 'src/a.ts', start: { line: 3, column: 1 }, end: { line: 3, column: 1 }, oldText: '', newText: 'export {}\n' })
  t.true(read(dir, 'src/a.ts').endsWith('export {}\n'))
  t.throws(() => apply(dir, { ...op, start: { line: 9, column: 1 }, end: { line: 9, column: 1 }, oldText: '' }), {
    message: /past the end of the file/,
  })
  t.throws(() => apply(dir, { ...op, start: { line: 1, column: 99 }, end: { line: 1, column: 99 }, oldText: '' }), {
    message: /column 99 is past the end of line 1/,
  })
})

test('bad operations are refused with the field named', (t) => {
  const bad = [
    [
      { op: 'replaceText', file: 'a.ts', start: { line: 0, column: 1 }, end: { line: 1, column: 1 }, oldText: '', newText: '' },
      /'start' must be \{"line": L, "column": C\}/,
    ],
    [
      { op: 'replaceText', file: 'a.ts', start: { line: 2, column: 1 }, end: { line: 1, column: 1 }, oldText: '', newText: '' },
      /'end' must not come before 'start'/,
    ],
    [{ op: 'replaceText', file: 'a.ts', start: { line: 1, column: 1 }, end: { line: 1, column: 1 }, oldText: 5, newText: '' }, /'oldText' must be a string/],
    [{ op: 'addOptionalChain', file: 'a.ts', line: 1.5, expression: 'x' }, /'line' must be a line number/],
    [{ op: 'addNullishDefault', file: 'a.ts', line: 1, expression: 'x', fallback: '0); evil(' }, /fallback is not a single TypeScript expression/],
    [{ op: 'addNullishDefault', file: 'a.ts', line: 1, expression: 'x', fallback: '0, 1' }, /not a single TypeScript expression/],
    [{ op: 'initializeProperty', file: 'a.ts', class: 'C', property: 'p', value: '1 }\nfoo()' }, /value is not a single/],
    [{ op: 'addProperty', file: 'a.ts', type: 'T', name: 'p', typeText: 'string; x: 1' }, /typeText is not a single TypeScript type/],
    [{ op: 'addProperty', file: 'a.ts', type: 'T', name: 'p', typeText: 'string', optional: 'yes' }, /'optional' must be true or false/],
    [{ op: 'changeImportPath', file: 'a.ts', from: "./a'", to: './b' }, /'from' must be a plain module specifier/],
    [{ op: 'makeAsync', file: 'a.ts', fn: 'not a name' }, /'fn' must be an identifier/],
    [{ op: 'setParamType', file: 'a.ts', fn: 'f', param: 'p' }, /'typeText' must be a non-empty string/],
  ]
  for (const [op, message] of bad) t.throws(() => validatePlan({ title: 't', dsl: [op] }), { instanceOf: PlanError, message }, JSON.stringify(op))
  t.throws(() => parsePlan('{"title":"t","dsl":[{"op":"replaceText"}]}'), { message: /'file' must be a non-empty string/ })
})

// ---------------------------------------------------------------------------------------------
// Fixtures of one's own

test('describeFixtures and listFixtures report family and code', (t) => {
  const byName = new Map(SMALL.map((f) => [f.name, f]))
  t.like(byName.get('possibly-undefined'), { family: 'possibly-undefined', code: 18048, file: 'src/store/lookup.ts' })
  t.like(byName.get('missing-export'), { family: 'barrel-missing', code: 2305 })
})

test('a scaffolded fixture validates as written; broken ones say what is wrong', async (t) => {
  const root = tempDir(t)
  scaffoldFixture(root, 'mine')
  t.throws(() => scaffoldFixture(root, 'mine'), { message: /already exists/ })
  t.throws(() => scaffoldFixture(root, '../escape'), { instanceOf: TypeError })
  t.false(fs.existsSync(path.join(root, '..', 'escape')))
  // Target not reported: the error was fixed in the source.
  fs.cpSync(path.join(engine.SMALL_DIR, 'no-overlap'), path.join(root, 'fixed'), { recursive: true })
  const filters = path.join(root, 'fixed', 'src/orders/filters.ts')
  fs.writeFileSync(filters, fs.readFileSync(filters, 'utf8').replace("'canceled'", "'cancelled'"))
  // Gold plan that breaks something else.
  fs.cpSync(path.join(engine.SMALL_DIR, 'argument-type'), path.join(root, 'breaks'), { recursive: true })
  const fxFile = path.join(root, 'breaks', 'fixture.json')
  const fx = JSON.parse(fs.readFileSync(fxFile, 'utf8'))
  fx.goldPlan.dsl.push({
    op: 'replaceText',
    file: 'src/util/label.ts',
    start: { line: 1, column: 1 },
    end: { line: 1, column: 1 },
    oldText: '',
    newText: 'const broken: string = 1\n',
  })
  fs.writeFileSync(fxFile, JSON.stringify(fx))
  // Not JSON.
  fs.mkdirSync(path.join(root, 'garbled'))
  fs.writeFileSync(path.join(root, 'garbled', 'fixture.json'), '{nope')
  const before = fs.readFileSync(filters, 'utf8')
  const reports = await validateFixtures(root)
  t.deepEqual(
    reports.map((r) => [r.name, r.ok]),
    [
      ['breaks', false],
      ['fixed', false],
      ['garbled', false],
      ['mine', true],
    ],
  )
  t.regex(reports[0].problems.join(), /the gold plan adds 1 error\(s\): src\/util\/label\.ts\(\d+,\d+\): error TS2322/)
  t.regex(reports[1].problems.join(), /target TS2367 at src\/orders\/filters\.ts:4 is not reported/)
  t.regex(reports[2].problems.join(), /fixture\.json cannot be read/)
  t.is(fs.readFileSync(filters, 'utf8'), before, 'validation works on copies')
  t.is(validateFixture(path.join(root, 'mine')).errorsAfter, 0)
})

test('CLI: fixtures new, validate, and run --fixtures-dir', async (t) => {
  const root = tempDir(t)
  let r = await cli(['fixtures', 'new', 'one', '--dir', root])
  t.is(r.code, 0, r.stderr)
  r = await cli(['fixtures', 'new', 'one', '--dir', root])
  t.is(r.code, 2)
  t.regex(r.stderr, /already exists/)
  r = await cli(['fixtures', 'validate', root])
  t.is(r.code, 0, r.stdout + r.stderr)
  t.regex(r.stdout, /ok {3}one \(TS2339 property-missing\)\n1 of 1 fixtures valid/)
  r = await cli(['fixtures', 'validate', root, '--json'])
  t.like(JSON.parse(r.stdout), { valid: 1, invalid: 0 })
  r = await cli(['fixtures', 'validate', path.join(root, 'nope')])
  t.is(r.code, 2)
  r = await cli(['fixtures', 'validate', tempDir(t)])
  t.is(r.code, 1, 'an empty folder validates nothing')
  r = await cli(['fixtures', 'frobnicate'])
  t.is(r.code, 2)
  r = await cli(['fixtures', '--help'])
  t.is(r.code, 0)
  t.regex(r.stdout, /validate DIR/)
  r = await cli(['run', '--fixtures-dir', root, '--fixtures', 'massive'])
  t.is(r.code, 2)
  r = await cli(['run', '--fixtures-dir', path.join(root, 'nope')])
  t.is(r.code, 2)
  t.regex(r.stderr, /--fixtures-dir: .* does not exist/)
  r = await cli(['run', '--fixtures-dir', tempDir(t)])
  t.is(r.code, 2)
  t.regex(r.stderr, /holds no fixture folder/)
  // The engine sees the folder; names select within it and bundled names are refused (exit 2).
  const calls = []
  const deps = {
    runBenchmark: async (o) => {
      calls.push(o)
      return []
    },
  }
  const stdout = sink()
  const stderr = sink()
  const out = tempDir(t)
  await main(['run', '--fixtures-dir', root, '--fixtures', 'one', '--out', out], { stdout, stderr, env: {}, deps })
  t.is(calls[0].fixturesDir, root)
  t.deepEqual(calls[0].fixtures, ['one'])
})

// ---------------------------------------------------------------------------------------------
// Through the package: listFixtures details and metadata.fixturesDir in both providers

test('listFixtures({details}) and metadata.fixturesDir through both providers', async (t) => {
  const { listFixtures, EnhancedBuildFixProvider, BuildFixProvider } = require('../index.js')
  const details = listFixtures('small', { details: true })
  t.is(details.length, SMALL.length)
  t.true(details.every((f) => typeof f.family === 'string' && Number.isInteger(f.code) && f.codes.includes(f.code)))
  const massive = listFixtures('massive', { details: true, count: 26 })
  t.is(new Set(massive.map((f) => f.family)).size, 26)
  t.throws(() => listFixtures('small', { fixturesDir: path.join(tempDir(t), 'nope') }), { instanceOf: RangeError, message: /options\.fixturesDir/ })
  t.throws(() => listFixtures('small', { details: 'yes' }), { instanceOf: TypeError, message: /options\.details/ })

  const mine = tempDir(t)
  scaffoldFixture(mine, 'own-one')
  t.deepEqual(listFixtures('small', { fixturesDir: mine }), ['own-one'])
  const work = tempDir(t)
  for (const Class of [EnhancedBuildFixProvider, BuildFixProvider]) {
    const options =
      Class === EnhancedBuildFixProvider ? { maxWorkers: 1, cache: false, metricsDir: path.join(work, 'metrics'), workDir: path.join(work, 'work') } : {}
    const p = new Class({ name: 'own', type: 'buildfix', model: 'gold', options })
    await p.connect()
    try {
      const res = await p.execute({ prompt: 'own', metadata: { fixturesDir: mine } })
      t.is(res.metadata.error, undefined, res.content)
      t.is(res.metadata.fixturesDir, mine)
      t.like(res.metadata.buildFixResults[0], { fixture: 'own-one', success: true, family: 'property-missing', targetCode: 2339 })
      await t.throwsAsync(p.execute({ prompt: 'x', metadata: { fixturesDir: mine, fixtures: ['missing-export'] } }), { instanceOf: RangeError })
      await t.throwsAsync(p.execute({ prompt: 'x', metadata: { fixturesDir: 42 } }), { instanceOf: TypeError, message: /metadata\.fixturesDir/ })
      await t.throwsAsync(p.execute({ prompt: 'x', metadata: { fixturesDir: mine, fixtureType: 'massive' } }), { instanceOf: RangeError })
    } finally {
      await p.disconnect()
    }
  }
  // The folder is only read: the fixture is as scaffolded.
  t.true(validateFixture(path.join(mine, 'own-one')).ok)
})

test('the Markdown report groups results by error family', (t) => {
  const reports = require('../lib/cli/reports.js')
  const r = (fixture, family, targetCode, model, success) => ({
    fixture,
    family,
    targetCode,
    model,
    success,
    errorCountBefore: 1,
    errorCountAfter: success ? 0 : 1,
    errorsResolved: success,
    errorsResolvedCount: success ? 1 : 0,
    planGenerated: true,
    duration: 5,
    attempts: 1,
  })
  const results = [
    r('a', 'possibly-null', 18047, 'gold', true),
    r('b', 'possibly-null', 18047, 'gold', false),
    r('c', 'barrel-missing', 2724, 'gold', true),
    r('d', 'barrel-missing', 2305, 'gold', true),
    { ...r('e', undefined, 2305, 'gold', true), family: undefined },
  ]
  const md = reports.runMarkdown(reports.resultsDocument(results, { timestamp: new Date(0).toISOString() }))
  // The families the engine reports group the results; the codes group them too.
  t.regex(md, /## By error family[\s\S]*\| gold \| possibly-null \| 2 \| 1 \| 50\.0% \|/)
  t.regex(md, /## By error family[\s\S]*\| gold \| barrel-missing \| 2 \| 2 \| 100\.0% \|/)
  t.regex(md, /## By error code[\s\S]*\| gold \| TS18047 \| 2 \| 1 \|/)
})
