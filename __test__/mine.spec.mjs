import test from 'ava'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'

const require = createRequire(import.meta.url)
const { mineFixtures, judge } = require('../lib/mine.js')
const { validateFixture } = require('../worker/validate.js')
const { main } = require('../lib/cli/main.js')

function tempDir(t, prefix = 'pb-mine-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

const CONFIG = JSON.stringify({
  compilerOptions: { target: 'ES2020', module: 'commonjs', lib: ['ES2020'], strict: true, noEmit: true, types: [] },
  include: ['src'],
})

/** A git repository built commit by commit: each step writes files (null deletes) and commits. */
function repository(t, steps) {
  const dir = path.join(tempDir(t), 'repo')
  fs.mkdirSync(dir)
  // A fixed identity and no user configuration: the test must not depend on the machine's git setup.
  const env = {
    ...process.env,
    GIT_CONFIG_NOSYSTEM: '1',
    HOME: dir,
    GIT_AUTHOR_NAME: 't',
    GIT_AUTHOR_EMAIL: 't@example.com',
    GIT_COMMITTER_NAME: 't',
    GIT_COMMITTER_EMAIL: 't@example.com',
  }
  const git = (...args) =>
    execFileSync('git', args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] })
      .toString()
      .trim()
  git('init', '-q')
  const commits = []
  steps.forEach(([message, files], i) => {
    for (const [file, text] of Object.entries(files)) {
      const abs = path.join(dir, file)
      if (text === null) fs.rmSync(abs)
      else {
        fs.mkdirSync(path.dirname(abs), { recursive: true })
        fs.writeFileSync(abs, text)
      }
    }
    git('add', '-A')
    // One day apart, so the time order is the commit order and --since has something to cut.
    const date = `${1_700_000_000 + i * 86_400} +0000`
    execFileSync('git', ['commit', '-q', '-m', message], { cwd: dir, env: { ...env, GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date } })
    commits.push(git('rev-parse', 'HEAD'))
  })
  return { dir, commits, git }
}

const USER = 'export interface User {\n  name: string\n  age: number\n}\n'

/** Three fix commits (one in a second project), then commits around them that fix nothing. */
function fixRepository(t) {
  return repository(t, [
    [
      'start',
      {
        'tsconfig.json': CONFIG,
        'src/user.ts': USER,
        'src/greet.ts': "import { User } from './user'\n\nexport function greet(u: User): string {\n  return 'hi ' + u.nmae\n}\n",
        'src/age.ts': "import { User } from './usr'\n\nexport function next(u: User): number {\n  const n: string = u.age\n  return n + 1\n}",
        'tools/tsconfig.json': CONFIG,
        'tools/src/run.ts': 'export function run(): number {\n  return count\n}\n',
      },
    ],
    ['fix the property name', { 'src/greet.ts': "import { User } from './user'\n\nexport function greet(u: User): string {\n  return 'hi ' + u.name\n}\n" }],
    // Two hunks, the last at the end of a file without a final newline.
    [
      'fix the import path and the type',
      { 'src/age.ts': "import { User } from './user'\n\nexport function next(u: User): number {\n  const n: number = u.age\n  return n + 1\n}" },
    ],
    // A pure insertion, in the second project.
    ['declare count', { 'tools/src/run.ts': 'const count = 1\n\nexport function run(): number {\n  return count\n}\n' }],
  ])
}

const sink = () => {
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

async function cli(argv, signal) {
  const stdout = sink()
  const stderr = sink()
  const code = await main(argv, { stdout, stderr, env: {}, signal })
  return { code, stdout: stdout.text(), stderr: stderr.text() }
}

/** This process's children running the type-checking script (from /proc). */
function checkers() {
  return fs.readdirSync('/proc').filter((pid) => {
    if (!/^\d+$/.test(pid)) return false
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      return ppid === process.pid && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('mine-check.js')
    } catch {
      return false
    }
  })
}

const mineTemps = () => new Set(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('promethean-mine-')))

test('mines one fixture per fix commit and project: the parent as the fixture, the gone error as target, the change as gold plan', async (t) => {
  const { dir, commits, git } = fixRepository(t)
  const out = path.join(tempDir(t), 'mined')
  const result = await mineFixtures(dir, { out })
  t.is(result.visited, 4)
  const byCommit = Object.fromEntries(result.fixtures.map((f) => [f.commit, f]))
  t.deepEqual(Object.keys(byCommit).sort(), commits.slice(1).sort())
  t.deepEqual(result.skipped, [])

  const typo = byCommit[commits[1]]
  t.is(typo.project, '.')
  t.deepEqual(typo.target, { code: 2339, file: 'src/greet.ts', line: 4 })
  const path2 = byCommit[commits[2]]
  t.is(path2.target.code, 2307, 'the first error the commit removed: the relative import it corrected')
  const tools = byCommit[commits[3]]
  t.is(tools.project, 'tools')
  t.deepEqual(tools.target, { code: 2304, file: 'src/run.ts', line: 2 })

  for (const f of result.fixtures) {
    const report = validateFixture(f.dir)
    t.true(report.ok, `${f.name}: ${report.problems.join('; ')}`)
    const fx = JSON.parse(fs.readFileSync(path.join(f.dir, 'fixture.json'), 'utf8'))
    t.is(fx.source.commit, f.commit)
    t.true(fx.goldPlan.dsl.every((op) => op.op === 'replaceText'))
    t.false(fs.existsSync(path.join(f.dir, '.git')))
  }
  t.is(JSON.parse(fs.readFileSync(path.join(path2.dir, 'fixture.json'), 'utf8')).goldPlan.dsl.length, 2)

  // As benchmark fixtures: gold fixes every one, no plan fixes none.
  const engine = require('../worker/index.js')
  for (const f of result.fixtures) {
    for (const [model, success] of [
      ['gold', true],
      ['none', false],
    ]) {
      const copy = path.join(tempDir(t), f.name)
      fs.cpSync(f.dir, copy, { recursive: true })
      const r = await engine.runJob({ fixtureDir: copy, model, maxAttempts: 1 })
      t.is(r.success, success, `${model} on ${f.name}`)
    }
  }

  // The gold plan reproduces the commit's files exactly.
  const { applyPlan, validatePlan } = require('../worker/plan.js')
  for (const [f, files] of [
    [typo, ['src/greet.ts']],
    [path2, ['src/age.ts']],
    [tools, ['tools/src/run.ts']],
  ]) {
    const copy = path.join(tempDir(t), 'copy')
    fs.cpSync(f.dir, copy, { recursive: true })
    applyPlan(copy, validatePlan(JSON.parse(fs.readFileSync(path.join(copy, 'fixture.json'), 'utf8')).goldPlan))
    for (const file of files) {
      const rel = f.project === '.' ? file : path.relative(f.project, file)
      t.is(fs.readFileSync(path.join(copy, rel), 'utf8'), git('show', `${f.commit}:${file}`) + (file.endsWith('age.ts') ? '' : '\n'))
    }
  }
})

test.serial('a repository whose commits fix nothing yields no fixture, and each skip says why', async (t) => {
  const { dir, commits } = repository(t, [
    ['start', { 'tsconfig.json': CONFIG, 'src/a.ts': 'export const a: number = 1\n' }],
    ['a comment', { 'src/a.ts': '// the answer\nexport const a: number = 1\n' }],
    ['break it', { 'src/a.ts': "// the answer\nexport const a: number = 'one'\n" }],
    ['a new file', { 'src/b.ts': 'export const b = 2\n' }],
    ['stricter config', { 'tsconfig.json': CONFIG.replace('"strict":true', '"strict":true,"noUnusedLocals":true') }],
    ['use a package', { 'src/c.ts': "import x from 'left-pad'\nexport const c: number = x\n", 'src/a.ts': 'export const a: number = 1\n' }],
    ['swap a package', { 'src/c.ts': "import x from 'left-pad'\nexport const c: string = x\n" }],
    ['docs', { 'README.md': 'hello\n' }],
  ])
  const before = mineTemps()
  const events = []
  const out = path.join(tempDir(t), 'mined')
  const result = await mineFixtures(dir, { out, onEvent: (e) => events.push(e) })
  t.deepEqual(result.fixtures, [])
  t.deepEqual(fs.readdirSync(out), [])
  const reasons = Object.fromEntries(result.skipped.map((s) => [s.summary, s.reason]))
  t.regex(reasons['swap a package'], /cannot be type-checked on its own: it imports the package 'left-pad'/)
  t.regex(reasons['use a package'], /adds src\/c\.ts/)
  t.regex(reasons['stricter config'], /tsconfig\.json/)
  t.regex(reasons['a new file'], /adds src\/b\.ts/)
  t.regex(reasons['break it'], /the change adds 1 error\(s\): src\/a\.ts\(2,14\): error TS2322/)
  t.regex(reasons['a comment'], /the parent compiles without error/)
  t.false('docs' in reasons, 'a commit that touches no TypeScript project is no candidate')
  t.is(result.visited, commits.length)
  t.deepEqual(
    events.map((e) => e.kind),
    result.skipped.map(() => 'skip'),
  )
  t.deepEqual(mineTemps(), before, 'no scratch folder is left behind')
})

test('--max, --since and maxCommits bound the walk', async (t) => {
  const { dir, commits } = fixRepository(t)
  const one = await mineFixtures(dir, { out: path.join(tempDir(t), 'a'), max: 1 })
  t.is(one.fixtures.length, 1)
  t.is(one.fixtures[0].commit, commits[3], 'newest first')
  // Commit i is dated day i: since day 2 leaves the last two commits.
  const recent = await mineFixtures(dir, { out: path.join(tempDir(t), 'b'), since: new Date((1_700_000_000 + 2 * 86_400) * 1000) })
  t.is(recent.visited, 2)
  t.deepEqual(recent.fixtures.map((f) => f.commit).sort(), commits.slice(2).sort())
  const bounded = await mineFixtures(dir, { out: path.join(tempDir(t), 'c'), maxCommits: 1 })
  t.is(bounded.visited, 1)
  // Mining again into the same folder leaves what is there.
  const again = await mineFixtures(dir, { out: one.out, max: 1 })
  t.is(again.skipped[0].commit, commits[3])
  t.regex(again.skipped[0].reason, /already exists/)
  t.is(again.fixtures[0].commit, commits[2])
})

test('bad input: TypeError or RangeError naming the argument, and no folder created', async (t) => {
  const { dir } = fixRepository(t)
  const out = path.join(tempDir(t), 'never')
  await t.throwsAsync(() => mineFixtures(42, { out }), { instanceOf: TypeError, message: /repo must be/ })
  await t.throwsAsync(() => mineFixtures(dir, {}), { instanceOf: TypeError, message: /options\.out/ })
  await t.throwsAsync(() => mineFixtures(dir, { out, max: 0 }), { instanceOf: RangeError, message: /options\.max/ })
  await t.throwsAsync(() => mineFixtures(dir, { out, maxCommits: 0 }), { instanceOf: RangeError, message: /options\.maxCommits/ })
  await t.throwsAsync(() => mineFixtures(dir, { out, since: 'not a date' }), { instanceOf: RangeError, message: /options\.since/ })
  await t.throwsAsync(() => mineFixtures(dir, { out, signal: 'stop' }), { instanceOf: TypeError, message: /options\.signal/ })
  await t.throwsAsync(() => mineFixtures(path.dirname(dir), { out }), { code: 'ERR_NOT_A_REPOSITORY' })
  t.false(fs.existsSync(out))
})

test.serial('an aborted mining rejects with an AbortError and leaves no child process or scratch folder', async (t) => {
  const { dir } = fixRepository(t)
  const before = mineTemps()
  const controller = new AbortController()
  const out = path.join(tempDir(t), 'mined')
  const mining = mineFixtures(dir, {
    out,
    signal: controller.signal,
    onEvent: () => controller.abort(),
  })
  const err = await mining.then(
    () => null,
    (e) => e,
  )
  t.is(err?.name, 'AbortError')
  t.deepEqual(checkers(), [], 'the type-checking child is gone')
  t.deepEqual(mineTemps(), before)
  t.true(fs.readdirSync(out).length <= 1, 'stopped after the first fixture')
})

test('judge: a project that does not compile on its own is skipped, a relative import that a commit fixes is not', (t) => {
  const d = (code, message, file = 'src/a.ts') => ({ code, file, line: 1, column: 1, message })
  t.regex(judge([d(2307, "Cannot find module 'zod' or its corresponding type declarations.")], []).reason, /package 'zod'/)
  t.regex(judge([d(2688, "Cannot find type definition file for 'node'.")], []).reason, /types package/)
  t.regex(judge([d(5083, "Cannot read file '../base.json'.", '')], []).reason, /configuration/)
  const missing = d(2307, "Cannot find module './usr' or its corresponding type declarations.")
  t.deepEqual(judge([missing], []), { target: missing })
  t.regex(judge([missing], [missing, d(2322, 'x')]).reason, /adds 1 error/)
  t.is(judge([missing], [missing]).reason, 'no error disappeared')
  const twice = [d(2322, 'same'), d(2322, 'same')]
  t.deepEqual(judge(twice, [twice[0]]), { target: twice[1] }, 'one of two identical errors fixed')
  t.regex(judge([twice[0]], twice).reason, /adds 1 error/)
})

test('the CLI: fixtures mine REPO --out DIR prints each fixture and skip; bad usage exits 2', async (t) => {
  const { dir } = fixRepository(t)
  const out = path.join(tempDir(t), 'mined')
  const ok = await cli(['fixtures', 'mine', dir, '--out', out, '--max', '2'])
  t.is(ok.code, 0, ok.stderr)
  t.is(ok.stdout.match(/^fixture /gm).length, 2)
  t.regex(ok.stdout, /2 fixture\(s\) written to/)
  const json = await cli(['fixtures', 'mine', dir, '--out', path.join(tempDir(t), 'j'), '--json', '--since', '2023-11-16'])
  t.is(json.code, 0, json.stderr)
  t.is(JSON.parse(json.stdout).fixtures.length, 2)
  t.is((await cli(['fixtures', 'mine', dir])).code, 2)
  t.regex((await cli(['fixtures', 'mine', dir, '--out', out, '--since', 'soon'])).stderr, /--since must be a date/)
  t.is((await cli(['fixtures', 'mine', path.dirname(dir), '--out', out])).code, 2)
  t.is((await cli(['fixtures', 'mine', dir, '--out', out, '--max', '0'])).code, 2)
})
