import test from 'ava'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..')
const BIN = path.join(root, 'bin', 'promethean-bench.js')
// Test-only hook: the commands take their engines from this module instead of the package.
const FAKE = path.join(here, 'helpers', 'cli-fake-runner.cjs')

const shards = require('../lib/cli/shard.js')
const { UsageError } = require('../lib/cli/args.js')
const { main } = require('../lib/cli/main.js')
const reports = require('../lib/cli/reports.js')
const { createDefaults } = require('../lib/cli/runtime.js')
const { hashFixtureDir } = require('../lib/cli/analysis.js')
const { makePackage } = require('./helpers/cli-fake-package.cjs')
const fakeRunner = require('./helpers/cli-fake-runner.cjs')

const made = []
function tmpdir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promethean-shard-'))
  made.push(dir)
  return dir
}
test.after.always(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true })
})

// A child that has not finished in this long is stuck (a run here takes a few seconds).
const CHILD_LIMIT_MS = 180_000

/** Runs the bin with piped stdio; resolves {code, stdout, stderr} once it has closed. */
function runBin(args, { env = {}, runner = FAKE } = {}) {
  return new Promise((resolve, reject) => {
    const childEnv = { ...process.env, ...env }
    delete childEnv.PROMETHEAN_BENCH_TEST_RUNNER
    if (runner) childEnv.PROMETHEAN_BENCH_TEST_RUNNER = runner
    const child = spawn(process.execPath, [BIN, ...args], { cwd: tmpdir(), env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_LIMIT_MS)
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

/** The one results JSON a run or merge wrote to `dir`. */
function resultsIn(dir) {
  const files = fs.readdirSync(dir).filter((f) => /^benchmark-results-.*\.json$/.test(f))
  if (files.length !== 1) throw new Error(`expected one results file in ${dir}, found ${files.join(', ') || 'none'}`)
  const file = path.join(dir, files[0])
  return { file, doc: JSON.parse(fs.readFileSync(file, 'utf8')), base: file.slice(0, -'.json'.length) }
}

function key(r) {
  return `${r.fixture}\0${r.model}`
}

/** Runs every shard of `total` with the fake engine; returns the report files. */
async function fakeShards(t, total, extra = [], env = {}) {
  const dir = tmpdir()
  const files = []
  for (let i = 1; i <= total; i++) {
    const out = path.join(dir, `s${i}`)
    const r = await runBin(['run', '--models', 'gold,none', '--shard', `${i}/${total}`, '--out', out, ...extra], { env })
    t.is(r.code, 1, r.stderr) // `none` fails every fixture it runs
    files.push(resultsIn(out).file)
  }
  return files
}

/** Asserts a refusal: exit 2, one line on stderr saying `pattern`, and no report in OUT. */
async function refuses(t, args, pattern, env = {}) {
  const out = path.join(tmpdir(), 'merged')
  const r = await runBin(['merge', out, ...args], { env })
  t.is(r.code, 2, r.stderr)
  t.is(r.stdout, '')
  const lines = r.stderr.trimEnd().split('\n')
  t.is(lines.length, 1, r.stderr)
  t.regex(lines[0], pattern)
  t.deepEqual(fs.existsSync(out) ? fs.readdirSync(out) : [], [])
}

function editCopy(file, edit) {
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'))
  edit(doc)
  const copy = path.join(tmpdir(), path.basename(file))
  fs.writeFileSync(copy, JSON.stringify(doc))
  return copy
}

// ---------------------------------------------------------------------------------------------
// the rule

test('--shard accepts i/n with 1 <= i <= n and nothing else, naming the flag', (t) => {
  t.deepEqual(shards.parseShard('2/4'), { index: 2, total: 4 })
  t.deepEqual(shards.parseShard('1/1'), { index: 1, total: 1 })
  t.deepEqual(shards.parseShard(' 3/3 '), { index: 3, total: 3 })
  for (const bad of ['0/3', '4/3', '1.5/3', '-1/3', '1/0', '0/0', 'a/b', '2', '', '1/3/4', '1 / 3', '1/10001', '1e1/20', '0x1/2', '99999999999999999999/1']) {
    const err = t.throws(() => shards.parseShard(bad), { instanceOf: UsageError }, bad)
    t.regex(err.message, /^--shard must be i\/n with whole numbers 1 <= i <= n/)
    t.true(err.message.endsWith(JSON.stringify(bad)), err.message)
  }
})

test('every job of the massive set is in exactly one shard, for n = 1..7, and shards differ in size by at most one', async (t) => {
  const fixtures = await createDefaults().fixtureSet({ fixtures: 'massive' })
  t.true(fixtures.length >= 100)
  const set = shards.jobSet({ targets: [{ name: 'gold' }, { name: 'none' }, { name: 'qwen3:8b' }], fixtures })
  const jobs = shards.jobList(set)
  t.is(jobs.length, fixtures.length * 3)
  for (let n = 1; n <= 7; n++) {
    const seen = new Map()
    const sizes = []
    for (let i = 1; i <= n; i++) {
      const part = shards.shardJobs(jobs, { index: i, total: n })
      sizes.push(part.length)
      for (const j of part) {
        t.false(seen.has(key(j)), `${key(j)} in shards ${seen.get(key(j))} and ${i} of ${n}`)
        seen.set(key(j), i)
      }
    }
    t.is(seen.size, jobs.length, `n = ${n}`)
    t.true(Math.max(...sizes) - Math.min(...sizes) <= 1, `n = ${n}: ${sizes}`)
    // A shard mixes models: not a slice of one.
    if (n > 1) t.true(new Set(shards.shardJobs(jobs, { index: 1, total: n }).map((j) => j.model)).size > 1)
  }
})

test('the shard of a job is fixed (SHA-256 rank, not anything of this process) and independent of list order', (t) => {
  const set = { models: [{ name: 'gold' }, { name: 'none' }], fixtures: Array.from({ length: 6 }, (_, i) => ({ name: `f${i}` })) }
  const jobs = shards.jobList(set)
  // Pinned: shards written by one machine must be merged on another.
  t.deepEqual(shards.shardIndexes(jobs, 3), [2, 1, 2, 1, 3, 2, 1, 3, 3, 2, 1, 3])
  const reversed = [...jobs].reverse()
  t.deepEqual(shards.shardIndexes(reversed, 3), [...shards.shardIndexes(jobs, 3)].reverse())
})

test('the job set identity changes with models, their order, fixture content and settings, and only with them', (t) => {
  const fixtures = [
    { name: 'a', hash: '1' },
    { name: 'b', hash: '2' },
  ]
  const settings = { planFormat: 3, package: '1.0.0', typescript: '5.9.3' }
  const base = shards.jobSet({ targets: [{ name: 'gold' }, { name: 'none' }], fixtures, settings })
  t.is(base.jobs, 4)
  t.is(shards.jobSet({ targets: [{ name: 'gold', endpoint: 'http://127.0.0.1:1' }, { name: 'none' }], fixtures, settings }).id, base.id)
  const others = [
    shards.jobSet({ targets: [{ name: 'none' }, { name: 'gold' }], fixtures, settings }),
    shards.jobSet({ targets: [{ name: 'gold' }], fixtures, settings }),
    shards.jobSet({ targets: [{ name: 'gold', seed: 7 }, { name: 'none' }], fixtures, settings }),
    shards.jobSet({ targets: [{ name: 'gold' }, { name: 'none' }], fixtures: [fixtures[0], { name: 'b', hash: '3' }], settings }),
    shards.jobSet({ targets: [{ name: 'gold' }, { name: 'none' }], fixtures: [fixtures[0]], settings }),
    shards.jobSet({ targets: [{ name: 'gold' }, { name: 'none' }], fixtures, settings: { ...settings, planFormat: 4 } }),
  ]
  t.is(new Set([base.id, ...others.map((o) => o.id)]).size, others.length + 1)
  t.throws(() => shards.jobSet({ targets: [{ name: 'gold' }], fixtures: [fixtures[0], fixtures[0]], settings }), { message: /names a fixture twice/ })
})

test("the default engine lists a run's fixtures with their content hashes, in run order", async (t) => {
  const eng = createDefaults()
  const named = await eng.fixtureSet({ fixtures: ['wrong-arg-count', 'implicit-any'] })
  t.deepEqual(
    named.map((f) => f.name),
    ['wrong-arg-count', 'implicit-any'],
  )
  t.is(named[1].hash, hashFixtureDir(path.join(root, 'fixtures', 'small', 'implicit-any')))
  const small = await eng.fixtureSet({ fixtures: 'small' })
  t.deepEqual(
    small.map((f) => f.name),
    require('../index.js').listFixtures('small'),
  )
  t.true(small.every((f) => /^[0-9a-f]{64}$/.test(f.hash)))
  const massive = await eng.fixtureSet({ fixtures: 'massive' })
  t.true(massive.every((f) => /^[0-9a-f]{64}$/.test(f.hash)))
  t.is(new Set(massive.map((f) => f.hash)).size, massive.length)
  await t.throwsAsync(eng.fixtureSet({ fixtures: ['no-such-fixture'] }), { instanceOf: UsageError, message: /no bundled fixture is named "no-such-fixture"/ })
  // A folder of one's own: the same content hashes as the bundled copies, whatever the path.
  const own = tmpdir()
  for (const name of ['implicit-any', 'missing-export']) fs.cpSync(path.join(root, 'fixtures', 'small', name), path.join(own, name), { recursive: true })
  const fromDir = await eng.fixtureSet({ fixtures: 'small', fixturesDir: own })
  t.deepEqual(fromDir, [small.find((f) => f.name === 'implicit-any'), small.find((f) => f.name === 'missing-export')])
})

test('the default engine runs exactly the jobs it is given, and starts no provider for a model without any', async (t) => {
  const { pkg, log } = makePackage()
  const eng = createDefaults(() => pkg)
  const jobs = [
    { fixture: 'implicit-any', model: 'gold' },
    { fixture: 'missing-export', model: 'gold' },
  ]
  const progress = []
  const results = await eng.runBenchmark({ models: ['gold', 'none'], fixtures: 'small', jobs, onProgress: (e) => progress.push(e) })
  t.deepEqual(results.map(key).sort(), jobs.map(key).sort())
  t.is(log.providers.length, 1)
  t.is(log.providers[0].config.model, 'gold')
  t.true(log.providers[0].disconnected)
  t.deepEqual(
    progress.map((e) => e.total),
    [2, 2],
  )
})

test('an empty shard (more shards than jobs) writes an empty report and succeeds', async (t) => {
  const out = tmpdir()
  const lines = { stdout: '', stderr: '' }
  const io = {
    stdout: { write: (s) => (lines.stdout += s) },
    stderr: { write: (s) => (lines.stderr += s) },
    env: {},
    deps: fakeRunner,
    signal: new AbortController().signal,
  }
  // 6 fixtures x 1 model in 7 shards: the 7th has none.
  const code = await main(['run', '--models', 'gold', '--shard', '7/7', '--out', out], io)
  t.is(code, 0, lines.stderr)
  const { doc } = resultsIn(out)
  t.deepEqual(doc.results, [])
  t.deepEqual(doc.run.shard, { index: 7, total: 7, jobs: 0 })
  t.is(doc.run.jobSet.jobs, 6)
  t.false(fs.existsSync(path.join(out, 'history.sqlite')))
})

// ---------------------------------------------------------------------------------------------
// shards merged equal an unsharded run

test('gold and none on the real engine: three shards merged give the report of the unsharded run', async (t) => {
  const fixtures = 'missing-export,implicit-any,wrong-arg-count,misspelled-name,possibly-null'
  const common = ['--models', 'gold,none', '--fixtures', fixtures, '--no-cache', '--no-history']
  const dir = tmpdir()
  const whole = await runBin(['run', ...common, '--out', path.join(dir, 'whole')], { runner: null })
  t.is(whole.code, 1, whole.stderr)
  const files = []
  for (const i of [3, 1, 2]) {
    const r = await runBin(['run', ...common, '--shard', `${i}/3`, '--out', path.join(dir, `s${i}`)], { runner: null })
    const { doc, file } = resultsIn(path.join(dir, `s${i}`))
    t.is(r.code, doc.results.some((x) => !x.success) ? 1 : 0, r.stderr)
    t.deepEqual(doc.run.shard, { index: i, total: 3, jobs: doc.results.length })
    t.is(doc.run.jobSet.jobs, 10)
    t.true(doc.results.length >= 3 && doc.results.length <= 4)
    files.push(file)
  }
  const out = path.join(dir, 'merged')
  const merged = await runBin(['merge', out, ...files, '--json'], { runner: null })
  t.is(merged.code, 1, merged.stderr) // none fails, as in the unsharded run
  const printed = JSON.parse(merged.stdout)
  const m = resultsIn(out)
  const u = resultsIn(path.join(dir, 'whole'))
  t.deepEqual({ ...printed, files: undefined }, { ...m.doc, files: undefined })
  t.deepEqual(printed.files, { json: m.file, markdown: `${m.base}.md`, html: `${m.base}.html`, history: path.join(out, 'history.sqlite') })

  // The same jobs in the same order with the same outcomes; only the timings differ.
  t.deepEqual(m.doc.results.map(key), u.doc.results.map(key))
  const untimed = (r) => ({ ...r, duration: 0 })
  t.deepEqual(m.doc.results.map(untimed), u.doc.results.map(untimed))
  t.deepEqual(m.doc.fixtures, u.doc.fixtures)
  t.deepEqual(m.doc.pairwise, u.doc.pairwise)
  for (const k of ['models', 'fixtures', 'endpoint', 'cache', 'interrupted']) t.deepEqual(m.doc.run[k], u.doc.run[k], k)
  t.is(m.doc.run.shard, undefined)
  t.deepEqual(
    m.doc.run.merged.shards.map((s) => s.index),
    [1, 2, 3],
  )

  // With the merged run's timings, time stamp and run facts, the unsharded results give the
  // merged files byte for byte: one report code, and content equal but for timings.
  const duration = new Map(m.doc.results.map((r) => [key(r), r.duration]))
  const retimed = u.doc.results.map((r) => ({ ...r, duration: duration.get(key(r)) }))
  const expected = reports.resultsDocument(retimed, { timestamp: m.doc.timestamp, meta: m.doc.run })
  t.deepEqual(m.doc, JSON.parse(JSON.stringify(expected)))
  t.is(fs.readFileSync(`${m.base}.md`, 'utf8'), reports.runMarkdown(expected))
  t.is(fs.readFileSync(`${m.base}.html`, 'utf8'), reports.runHtml(expected))
  // The merged run went into the history; no shard did.
  t.true(fs.existsSync(path.join(out, 'history.sqlite')))
})

test('shards merged in any order give the unsharded order (fake engine, default fixture set)', async (t) => {
  const files = await fakeShards(t, 4)
  const out = path.join(tmpdir(), 'merged')
  const r = await runBin(['merge', out, ...[...files].reverse(), '--no-history'])
  t.is(r.code, 1, r.stderr)
  t.regex(r.stdout, /^Results saved to: .+\.json$/m)
  const whole = tmpdir()
  t.is((await runBin(['run', '--models', 'gold,none', '--out', whole, '--no-history'])).code, 1)
  t.deepEqual(resultsIn(out).doc.results.map(key), resultsIn(whole).doc.results.map(key))
})

// ---------------------------------------------------------------------------------------------
// refusals

test('merge refuses shards of another job set, saying which file and why', async (t) => {
  const [a1, a2] = await fakeShards(t, 2)
  const [, b2] = await fakeShards(t, 2, [], { FAKE_FIXTURE_SALT: 'changed' })
  await refuses(t, [a1, b2], new RegExp(`${b2}.* belongs to another run: the content of fixtures .* differs`))
  const dir = tmpdir()
  t.is((await runBin(['run', '--models', 'gold', '--shard', '2/2', '--out', dir])).code, 0)
  await refuses(t, [a1, resultsIn(dir).file], /belongs to another run: its models \(gold, .*\) are not those of .* \(gold,none\)/)
  const otherFormat = editCopy(a2, (doc) => {
    doc.run.jobSet.settings.planFormat = 99
    // A consistent job set of another plan format, as another version would write it.
    doc.run.jobSet.id = shards.jobSet({ targets: doc.run.jobSet.models, fixtures: doc.run.jobSet.fixtures, settings: doc.run.jobSet.settings }).id
  })
  await refuses(t, [a1, otherFormat], /belongs to another run: its setting planFormat \(99\) is not/)
  const tampered = editCopy(a2, (doc) => {
    doc.run.jobSet.fixtures[0].hash = 'f'.repeat(64)
  })
  await refuses(t, [a1, tampered], /does not match its id/)
})

test('merge refuses duplicate shards, mixed totals and missing shards unless --allow-partial', async (t) => {
  const [s1, s2, s3] = await fakeShards(t, 3)
  await refuses(t, [s1, s2, s1], new RegExp(`${s1} is shard 1/3 again`))
  const [, t2] = await fakeShards(t, 2)
  await refuses(t, [s1, s2, s3, t2], new RegExp(`${t2} is shard 2/2 but ${s1} is shard 1/3`))
  await refuses(t, [s1, s3], /^promethean-bench merge: shard 2 of 3 missing \(give every shard's report, or --allow-partial/)
  const out = path.join(tmpdir(), 'partial')
  const r = await runBin(['merge', out, s1, s3, '--allow-partial', '--no-history', '--json'])
  t.is(r.code, 1, r.stderr)
  t.regex(r.stderr, /shards 2 of 3 missing; the report holds the others/)
  const doc = JSON.parse(r.stdout)
  t.deepEqual(doc.run.merged.missing, [2])
  const count = (f) => JSON.parse(fs.readFileSync(f, 'utf8')).results.length
  t.is(doc.results.length, count(s1) + count(s3))
})

test('merge refuses interrupted shards, stray, doubled or missing results, and files that are not shard reports', async (t) => {
  const [s1, s2] = await fakeShards(t, 2)
  const interrupted = editCopy(s2, (doc) => {
    doc.run.interrupted = true
  })
  await refuses(t, [s1, interrupted], /shard 2\/2 of a run that was interrupted: its results are partial/)
  const stray = editCopy(s2, (doc) => {
    doc.results.push(JSON.parse(fs.readFileSync(s1, 'utf8')).results[0])
  })
  await refuses(t, [s1, stray], /has a result for fixture ".*" with model ".*", which is not a job of shard 2\/2/)
  const doubled = editCopy(s2, (doc) => {
    doc.results.push(doc.results[0])
  })
  await refuses(t, [s1, doubled], /has two results for fixture/)
  const short = editCopy(s2, (doc) => {
    doc.results.pop()
  })
  await refuses(t, [s1, short], /has 5 of the 6 results of shard 2\/2, none for /)
  const whole = tmpdir()
  await runBin(['run', '--models', 'gold', '--out', whole])
  await refuses(t, [s1, resultsIn(whole).file], /is not a shard report \(no run\.shard/)
  const garbage = path.join(tmpdir(), 'garbage.json')
  fs.writeFileSync(garbage, '{not json')
  await refuses(t, [s1, garbage], /shard report ".*garbage\.json" cannot be read as JSON/)
  await refuses(t, [s1, path.join(tmpdir(), 'absent.json')], /absent\.json" cannot be read/)
  const badShard = editCopy(s2, (doc) => {
    doc.run.shard = { index: 3, total: 2 }
  })
  await refuses(t, [s1, badShard], /has a bad run\.shard/)
})

test('bad usage of run --shard and merge exits 2 with one line', async (t) => {
  const cases = [
    [['run', '--shard', '0/2'], /--shard must be i\/n/],
    [['run', '--shard', '3/2'], /--shard must be i\/n/],
    [['run', '--shard'], /--shard needs a value/],
    [['run', '--shard', '1/2', '--shard', '2/2'], /--shard given more than once/],
    [['run', '--shard', '1/2', '--history', 'h.sqlite'], /--history cannot be combined with --shard/],
    [['merge'], /expected the output folder and the shard reports/],
    [['merge', 'out'], /expected the output folder and the shard reports, OUT SHARD\.json\.\.\., got "out"/],
    [['merge', 'out', 'a.json', '--shard', '1/2'], /unknown flag --shard for 'merge'/],
    [['merge', '/proc/promethean-no/out', 'a.json'], /OUT: /],
  ]
  for (const [args, pattern] of cases) {
    const r = await runBin(args)
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    t.is(r.stderr.trimEnd().split('\n').length, 1, r.stderr)
    t.regex(r.stderr, pattern)
  }
  const help = await runBin(['merge', '--help'])
  t.is(help.code, 0)
  t.regex(help.stdout, /^Usage: promethean-bench merge OUT SHARD\.json\.\.\./)
})

test('a run --shard whose engine ignores the jobs fails instead of passing the whole run off as a shard', async (t) => {
  const out = tmpdir()
  const r = await runBin(['run', '--models', 'gold', '--shard', '1/2', '--out', out], { env: { FAKE_IGNORE_JOBS: '1' } })
  t.is(r.code, 1)
  t.regex(r.stderr, /the benchmark runner returned a result outside shard 1\/2: fixture ".*" with model "gold"/)
  t.deepEqual(fs.readdirSync(out), [])
})

test('a shard interrupted by Ctrl-C writes its partial report, which merge refuses unless --allow-partial', async (t) => {
  const dir = tmpdir()
  const [, s2] = await fakeShards(t, 2)
  const out = path.join(dir, 's1')
  const child = spawn(process.execPath, [BIN, 'run', '--models', 'gold,none', '--shard', '1/2', '--out', out], {
    cwd: dir,
    env: { ...process.env, PROMETHEAN_BENCH_TEST_RUNNER: FAKE, FAKE_TRACE: '1', FAKE_HOLD: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_LIMIT_MS)
  let stderr = ''
  // Interrupt once the engine is at work (the handler is in place before it starts).
  const started = new Promise((resolve) => {
    child.stderr.on('data', (d) => {
      stderr += d
      if (stderr.includes('fake: fixture')) resolve()
    })
  })
  child.stdout.resume()
  const closed = new Promise((resolve) => child.on('close', (code, signal) => resolve(code ?? signal)))
  await started
  t.true(child.kill('SIGINT'))
  const code = await closed
  clearTimeout(timer)
  t.is(code, 130, stderr)
  const { file, doc } = resultsIn(out)
  t.is(doc.run.interrupted, true)
  t.is(doc.results.length, 1)
  t.true(doc.run.shard.jobs > 1)
  await refuses(t, [file, s2], /shard 1\/2 of a run that was interrupted: its results are partial/)
  const r = await runBin(['merge', path.join(dir, 'merged'), file, s2, '--allow-partial', '--no-history', '--json'])
  t.is(r.code, 1, r.stderr) // none failed; the merge itself was not interrupted
  const merged = JSON.parse(r.stdout)
  t.is(merged.run.interrupted, true)
  t.is(merged.results.length, 1 + JSON.parse(fs.readFileSync(s2, 'utf8')).results.length)
})
