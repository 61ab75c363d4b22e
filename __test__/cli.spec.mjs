import test from 'ava'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { createRequire } from 'node:module'
import { browserTestsRun, openWatchedPage, skipNote } from './helpers/browser.mjs'

const require = createRequire(import.meta.url)
const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..')
const BIN = path.join(root, 'bin', 'promethean-bench.js')
// Test-only hook: the commands take their engines from this module instead of the package.
const FAKE = path.join(here, 'helpers', 'cli-fake-runner.cjs')
const ARTIFACTS = path.join(here, 'artifacts')

const { main } = require('../lib/cli/main.js')
const { parse, UsageError } = require('../lib/cli/args.js')
const { ProgressBar } = require('../lib/cli/progress.js')
const { summarize } = require('../lib/cli/summary.js')
const reports = require('../lib/cli/reports.js')
const { createDefaults } = require('../lib/cli/runtime.js')
const { makePackage, SMALL } = require('./helpers/cli-fake-package.cjs')
const { runGuarded } = await import('./helpers/run-guarded.mjs')

const ESC = /\x1b/

const made = []
function tmpdir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promethean-cli-'))
  made.push(dir)
  return dir
}
test.after.always(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true })
})

/** Runs the bin with piped stdio in a fresh folder; resolves {code, stdout, stderr, cwd}. */
function runBin(args, { env = {}, cwd = tmpdir(), runner = FAKE } = {}) {
  return new Promise((resolve, reject) => {
    const childEnv = { ...process.env, ...env }
    delete childEnv.PROMETHEAN_BENCH_TEST_RUNNER
    if (runner) childEnv.PROMETHEAN_BENCH_TEST_RUNNER = runner
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr, cwd }))
  })
}

function savedPath(text, cwd) {
  const m = /^Results saved to: (.+\.json)$/m.exec(text)
  return m && path.resolve(cwd, m[1])
}

/** A local server speaking the model server's protocol: `good*` models plan, others babble. */
async function fakeModelServer() {
  const seen = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (d) => (body += d))
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/api/generate') {
        res.writeHead(404).end()
        return
      }
      const request = JSON.parse(body)
      seen.push(request)
      const plan = {
        title: `Export the symbol for ${request.prompt}`,
        rationale: 'missing export',
        dsl: [{ op: 'ensureExported', file: 'src/a.ts', symbol: 'x', kind: 'function' }],
      }
      const response =
        request.model.startsWith('good') || request.model.includes('<') ? `\`\`\`json\n${JSON.stringify(plan)}\n\`\`\`` : 'I think you should fix it.'
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ model: request.model, response, done: true }))
    })
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${server.address().port}`, seen, close: () => new Promise((r) => server.close(r)) }
}

// ---------------------------------------------------------------------------------------------
// run

test('run with no arguments: gold on the small fixtures, results JSON, Markdown and HTML, exit 0', async (t) => {
  const { code, stdout, stderr, cwd } = await runBin([])
  t.is(code, 0, stderr)
  const file = savedPath(stdout, cwd)
  t.truthy(file, stdout)
  t.true(file.startsWith(path.join(cwd, 'bench-results')))
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'))
  t.deepEqual(Object.keys(doc).slice(0, 3), ['results', 'summary', 'timestamp'])
  t.is(doc.results.length, 6)
  t.true(doc.results.every((r) => r.model === 'gold' && r.success))
  t.is(doc.summary.totalTests, 6)
  t.is(doc.summary.successfulTests, 6)
  t.is(doc.summary.successRate, 100)
  t.is(doc.summary.modelResults.gold.successRate, 100)
  t.true(fs.existsSync(file.replace(/\.json$/, '.md')))
  t.true(fs.existsSync(file.replace(/\.json$/, '.html')))
  t.regex(stdout, /Successful Tests: 6 \(100\.0%\)/)
  t.false(ESC.test(stdout) || ESC.test(stderr), 'no escape codes when piped')
  t.is(stderr, '', 'no progress on a pipe')
})

test('run --models gold,none: the floor fails every fixture, so the exit code is 1', async (t) => {
  const { code, stdout, stderr, cwd } = await runBin(['run', '--models', 'gold,none'])
  t.is(code, 1, stderr)
  const doc = JSON.parse(fs.readFileSync(savedPath(stdout, cwd), 'utf8'))
  t.is(doc.summary.totalTests, 12)
  t.is(doc.summary.successfulTests, 6)
  t.is(doc.summary.modelResults.gold.successRate, 100)
  t.is(doc.summary.modelResults.none.successRate, 0)
  t.is(doc.summary.modelResults.none.errorsFixed, 0)
  t.true(doc.results.filter((r) => r.model === 'none').every((r) => !r.planGenerated && r.errorMessage))
})

test('regression: run --out under /proc exits 2 at once with one line naming the folder', async (t) => {
  const env = { ...process.env, PROMETHEAN_BENCH_TEST_RUNNER: FAKE }
  const r = await runGuarded([BIN, 'run', '--out', '/proc/x'], { cwd: tmpdir(), env, timeoutMs: 120000 })
  t.false(r.hung, 'the CLI did not exit within 120 s')
  t.is(r.code, 2, r.stderr)
  t.is(r.stdout, '')
  t.is(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr)
  t.regex(r.stderr, /^promethean-bench run: --out: cannot create folder "\/proc\/x": ENOENT/)
})

test('regression: run --fixtures with a name of no bundled fixture (../../etc) is a usage error naming it', async (t) => {
  const { code, stdout, stderr } = await runBin(['run', '--fixtures', '../../etc'], { runner: null })
  t.is(code, 2, stderr)
  t.is(stdout, '')
  t.is(stderr.split('\n').filter(Boolean).length, 1, stderr)
  t.regex(stderr, /^promethean-bench run: --fixtures: no bundled fixture is named "\.\.\/\.\.\/etc" \(expected small, massive or names among .*missing-export/)
})

test('regression: errorsResolved is a boolean in every result of the results JSON; the count is errorsResolvedCount', async (t) => {
  const out = tmpdir()
  const { code, stdout, stderr } = await runBin(['run', '--json', '--out', out, '--models', 'gold,none', '--fixtures', 'missing-export,implicit-any'], {
    runner: null,
  })
  t.is(code, 1, stderr) // none fails by design
  const doc = JSON.parse(fs.readFileSync(JSON.parse(stdout).files.json, 'utf8'))
  t.is(doc.results.length, 4)
  for (const r of doc.results) {
    t.is(typeof r.errorsResolved, 'boolean', `${r.model}/${r.fixture}`)
    t.is(typeof r.errorsResolvedCount, 'number', `${r.model}/${r.fixture}`)
    t.is(r.errorsResolved, r.errorsResolvedCount > 0)
    t.is(r.errorsResolvedCount, Math.max(0, r.errorCountBefore - r.errorCountAfter))
    t.is(r.errorsResolved, r.model === 'gold')
  }
  t.is(doc.summary.errorsResolved, 2, 'the summary counts the results that resolved errors')
})

test('run --json prints exactly one JSON document on stdout; the summary goes to stderr', async (t) => {
  const out = tmpdir()
  const { code, stdout, stderr } = await runBin(['run', '--json', '--out', out, '--fixtures', 'massive', '--concurrency', '4'])
  t.is(code, 0, stderr)
  const doc = JSON.parse(stdout)
  t.is(doc.results.length, 40)
  t.is(doc.summary.totalTests, 40)
  t.is(doc.run.concurrency, 4)
  t.is(doc.run.fixtures, 'massive')
  t.true(fs.existsSync(doc.files.json) && fs.existsSync(doc.files.html) && fs.existsSync(doc.files.markdown))
  t.deepEqual(JSON.parse(fs.readFileSync(doc.files.json, 'utf8')).results, doc.results)
  t.regex(stderr, /Results saved to: .+\.json/)
  t.false(ESC.test(stdout + stderr))
})

test('run against a local model server: --endpoint reaches the engine, good plans pass, babble fails', async (t) => {
  const server = await fakeModelServer()
  try {
    const { code, stdout, stderr } = await runBin(['run', '--json', '--models', 'good-coder,chatty', '--endpoint', server.url, '--fixtures', 'f1,f2,f3'])
    t.is(code, 1, stderr)
    const doc = JSON.parse(stdout)
    t.is(doc.summary.modelResults['good-coder'].successRate, 100)
    t.is(doc.summary.modelResults.chatty.successRate, 0)
    t.true(doc.results.filter((r) => r.model === 'chatty').every((r) => /not JSON/.test(r.errorMessage)))
    t.is(server.seen.length, 6)
    t.true(server.seen.every((r) => r.stream === false && r.format === 'json' && r.options.temperature === 0))
    t.is(doc.run.endpoint, server.url)
  } finally {
    await server.close()
  }
})

test('run --no-cache reaches the engine as cache: false', async (t) => {
  const seen = []
  const code = await main(['run', '--no-cache', '--out', tmpdir()], {
    stdout: { write() {} },
    stderr: { write() {} },
    env: {},
    deps: {
      runBenchmark: async (opts) => {
        seen.push(opts)
        return [
          {
            fixture: 'a',
            model: 'gold',
            success: true,
            errorCountBefore: 1,
            errorCountAfter: 0,
            errorsResolved: true,
            planGenerated: true,
            duration: 3,
            attempts: 1,
          },
        ]
      },
    },
  })
  t.is(code, 0)
  t.is(seen[0].cache, false)
  t.deepEqual(seen[0].models, ['gold'])
  t.is(seen[0].fixtures, 'small')
})

test('Ctrl-C: the run stops starting fixtures, writes the partial reports and exits 130', async (t) => {
  const cwd = tmpdir()
  const child = spawn(process.execPath, [BIN, 'run', '--fixtures', 'massive', '--concurrency', '2'], {
    cwd,
    env: { ...process.env, PROMETHEAN_BENCH_TEST_RUNNER: FAKE, FAKE_DELAY: '20', FAKE_TRACE: '1', FAKE_HOLD: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  // Interrupt once the engine is at work (the handler is in place before it starts).
  const started = new Promise((resolve) => {
    child.stderr.on('data', (d) => {
      stderr += d
      if (stderr.includes('fake: fixture')) resolve()
    })
  })
  await started
  t.true(child.kill('SIGINT'))
  const code = await new Promise((r) => child.on('close', (c, sig) => r(c ?? sig)))
  t.is(code, 130, `${stderr}\n${stdout}`)
  t.regex(stderr, /interrupted; the reports hold the partial results/)
  const doc = JSON.parse(fs.readFileSync(savedPath(stdout, cwd), 'utf8'))
  t.is(doc.results.length, 2, 'the two fixtures in flight finished; no new one started')
  t.is(doc.run.interrupted, true)
})

test('an aborted signal reaches the engines of every command', async (t) => {
  const ac = new AbortController()
  ac.abort()
  const seen = []
  const deps = {
    runBenchmark: async ({ signal }) => (seen.push(signal.aborted), []),
    runLoadTest: async ({ signal }) => (seen.push(signal.aborted), { metrics: { totalRequests: 0, failedRequests: 0 }, records: [] }),
    runCompare: async ({ signal }) => {
      seen.push(signal.aborted)
      const side = {
        totalRequests: 0,
        failedRequests: 0,
        averageResponseTime: 0,
        p50ResponseTime: 0,
        p95ResponseTime: 0,
        requestsPerSecond: 0,
        peakRss: 0,
        cpuPercent: 0,
        errorRate: 0,
      }
      return { before: side, after: side }
    },
    loadTestReport: () => 'report',
  }
  for (const command of ['run', 'loadtest', 'compare']) {
    const io = { stdout: { write() {} }, stderr: { write() {} }, env: {}, deps, signal: ac.signal }
    t.is(await main([command, '--out', tmpdir()], io), 130, command)
  }
  t.deepEqual(seen, [true, true, true])
})

test('a runner that throws gives exit 1 and a one-line reason', async (t) => {
  const { code, stdout, stderr } = await runBin(['run'], { env: { FAKE_THROW: 'BuildFix runtime missing: install typescript' } })
  t.is(code, 1)
  t.is(stdout, '')
  t.is(stderr.trim().split('\n').length, 1)
  t.regex(stderr, /^promethean-bench run: failed: BuildFix runtime missing: install typescript$/m)
})

test('a runner returning malformed results is reported, not rendered as NaN', async (t) => {
  let err = ''
  const code = await main(['run', '--out', tmpdir()], {
    stdout: { write() {} },
    stderr: { write: (s) => (err += s) },
    env: {},
    deps: { runBenchmark: async () => [{ fixture: 'a', model: 'm', success: true, duration: 'fast' }] },
  })
  t.is(code, 1)
  t.regex(err, /result 0: errorCountBefore must be a finite number/)
})

// ---------------------------------------------------------------------------------------------
// progress

test('the progress bar draws on a TTY and not on a pipe', async (t) => {
  const deps = {
    runBenchmark: async ({ onProgress }) => {
      const results = []
      for (let i = 0; i < 4; i++) {
        const r = {
          fixture: `f${i}`,
          model: 'gold',
          success: i !== 2,
          errorCountBefore: 1,
          errorCountAfter: i === 2 ? 1 : 0,
          errorsResolved: i !== 2,
          planGenerated: true,
          duration: 5,
          attempts: 1,
        }
        results.push(r)
        onProgress({ done: i + 1, total: 4, result: r })
      }
      return results
    },
  }
  let tty = ''
  await main(['run', '--out', tmpdir()], { stdout: { write() {} }, stderr: { isTTY: true, columns: 100, write: (s) => (tty += s) }, env: {}, deps })
  t.true(tty.includes('\r\x1b[2K'))
  t.regex(tty, /4\/4 fixtures {2}pass 75\.0% {2}ETA 0:00/)
  t.true(tty.endsWith('\r\x1b[2K'), 'the bar is cleared before the summary')
  let piped = ''
  await main(['run', '--out', tmpdir()], { stdout: { write() {} }, stderr: { isTTY: false, write: (s) => (piped += s) }, env: {}, deps })
  t.is(piped, '')
})

test('ProgressBar.line: counts, pass rate and ETA from the elapsed time', (t) => {
  let now = 0
  const bar = new ProgressBar({ isTTY: true, columns: 80, write() {} }, { unit: 'fixtures', now: () => now })
  now = 10000
  t.is(bar.line({ done: 5, total: 20, passed: 4, failed: 1 }), `[${'#'.repeat(8)}${'-'.repeat(22)}] 5/20 fixtures  pass 80.0%  ETA 0:30`)
  t.regex(bar.line({ done: 0, total: 20, passed: 0, failed: 0 }), /pass -- {2}ETA --:--$/)
  t.is(bar.line({ done: 3, total: 0, passed: 3, failed: 0 }), '3 fixtures  pass 100.0%', 'no bar when the total is unknown')
})

// ---------------------------------------------------------------------------------------------
// usage

const BAD = [
  [['run', '--concurrency', 'abc'], /--concurrency must be a whole number from 1 to 256, got "abc"/],
  [['run', '--concurrency', '0'], /--concurrency must be a whole number from 1 to 256, got "0"/],
  [['run', '--concurrency', '2.5'], /--concurrency must be a whole number/],
  [['run', '--modles', 'gold'], /unknown flag --modles for 'run' \(did you mean --models\?\)/],
  [['run', '--models'], /--models needs a value/],
  [['run', '--models', '--json'], /--models needs a value/],
  [['run', '--models', 'a,,b'], /--models must be a comma-separated list of non-empty names/],
  [['run', '--endpoint', 'localhost:11434'], /--endpoint must be an http:\/\/ or https:\/\/ URL/],
  [['run', '--json=yes'], /--json takes no value/],
  [['run', '--out', 'a', '--out', 'b'], /--out given more than once/],
  [['run', 'extra'], /unexpected argument "extra"/],
  [['bogus'], /unknown command 'bogus'/],
  [['help', 'bogus'], /'help' takes one of run, loadtest, compare, compare-runs, merge, history, chat, health, models, worker, fixtures, got "bogus"/],
  [['loadtest', '--users', '-3'], /--users must be a whole number from 1 to 10000, got "-3"/],
  [['loadtest', '--users=-3'], /--users must be a whole number from 1 to 10000, got "-3"/],
  [['loadtest', '--rate', '0'], /--rate must be a number > 0/],
  [['loadtest', '--duration', '10 parsecs'], /--duration must be a duration/],
  [['loadtest', '--rate', '5', '--requests', '3'], /--rate \(the open model\) cannot be combined/],
  [['loadtest', '--url', 'file:///etc/passwd'], /--url must be an http:\/\/ or https:\/\/ URL/],
  [['compare', '--requests', '1e3x'], /--requests must be a whole number >= 1/],
  [['compare', '--models', 'gold'], /unknown flag --models for 'compare' \(did you mean --model\?\)/],
]

for (const [args, reason] of BAD) {
  test(`bad usage exits 2 with one line: ${args.join(' ')}`, async (t) => {
    const { code, stdout, stderr } = await runBin(args)
    t.is(code, 2)
    t.is(stdout, '')
    t.is(stderr.split('\n').filter(Boolean).length, 1, stderr)
    t.regex(stderr, reason)
    t.regex(stderr, /^promethean-bench/)
  })
}

test('--help for the program and for every command, exit 0, without loading the engines', async (t) => {
  const program = await runBin(['--help'], { runner: path.join(here, 'helpers', 'does-not-exist.cjs') })
  t.is(program.code, 0)
  t.regex(program.stdout, /Usage: promethean-bench \[command\]/)
  t.regex(program.stdout, /Exit codes: 0 success, 1 the run had failures, 2 bad usage/)
  const flags = {
    run: ['--models', '--fixtures', '--endpoint', '--concurrency', '--no-cache', '--out', '--json'],
    loadtest: ['--users', '--requests', '--ramp-up', '--duration', '--rate', '--url', '--json'],
    compare: ['--model', '--requests', '--concurrency', '--no-cache', '--json'],
  }
  for (const [command, names] of Object.entries(flags)) {
    for (const args of [
      [command, '--help'],
      [command, '-h'],
      ['help', command],
    ]) {
      const { code, stdout, stderr } = await runBin(args, { runner: path.join(here, 'helpers', 'does-not-exist.cjs') })
      t.is(code, 0, stderr)
      t.regex(stdout, new RegExp(`Usage: promethean-bench ${command}`))
      for (const name of names) t.true(stdout.includes(name), `${command} help names ${name}`)
    }
  }
})

test('parse: durations with units, flag=value, defaults, no-cache', (t) => {
  const spec = {
    duration: { type: 'duration', default: 5 },
    rate: { type: 'number', min: 0, exclusiveMin: true },
    'no-cache': { type: 'bool' },
    models: { type: 'list' },
  }
  t.deepEqual(parse(['--duration', '10s', '--rate=2.5', '--no-cache', '--models', ' a , b,a'], spec), {
    duration: 10000,
    rate: 2.5,
    noCache: true,
    models: ['a', 'b'],
  })
  t.is(parse(['--duration', '250ms'], spec).duration, 250)
  t.is(parse(['--duration', '2m'], spec).duration, 120000)
  t.is(parse([], spec).duration, 5)
  t.throws(() => parse(['--rate', 'Infinity'], spec), { instanceOf: UsageError })
  t.throws(() => parse(['--rate', ''], spec), { instanceOf: UsageError })
})

test('parse: the words util.parseArgs reads its own way are refused or kept as the CLI documents', (t) => {
  const spec = { out: { type: 'string' }, json: { type: 'bool' }, help: { type: 'bool' } }
  const refused = (argv, message) => t.throws(() => parse(argv, spec, { command: 'run' }), { instanceOf: UsageError, message })
  // A short-option group is one word, named whole; `--` ends nothing, it is refused.
  refused(['-jo'], /^unexpected argument "-jo" for 'run'; flags are written --name value$/)
  refused(['--json', '--', 'x'], /^unexpected argument "--" for 'run'/)
  refused(['-'], /^unexpected argument "-" for 'run'/)
  // Names of Object.prototype are not flags (--constructor used to be read as one, asking for a
  // value); negation exists only where the spec names it.
  refused(['--constructor'], /^unknown flag --constructor for 'run'$/)
  refused(['--no-json'], /^unknown flag --no-json for 'run'$/)
  refused(['--out=a', '--out', 'b'], /^--out given more than once$/)
  // A value may start with one dash, or be written after `=`; `-h` may repeat `--help`.
  t.deepEqual(parse(['--out', '-x'], spec), { out: '-x' })
  t.deepEqual(parse(['--out=--x'], spec), { out: '--x' })
  t.deepEqual(parse(['-h', '--help'], spec), { help: true })
  // With positionals allowed they come back in order, flags before, between and after them.
  t.deepEqual(parse(['a', '--out', 'o', 'b', '-', '--json'], spec, { positionals: true }), { out: 'o', json: true, positionals: ['a', 'b', '-'] })
  t.deepEqual(parse([], spec, { positionals: true }), { positionals: [] })
  t.throws(() => parse(['a', '--', 'b'], spec, { positionals: true }), { instanceOf: UsageError, message: /unexpected argument "--"/ })
})

// ---------------------------------------------------------------------------------------------
// hostile data

const HOSTILE_FIXTURE = '<script>alert("fixture")</script>'
const HOSTILE_MODEL = '<img src=x onerror=alert(1)>'

test('the HTML and Markdown reports escape hostile fixture names, model names and error messages', async (t) => {
  const server = await fakeModelServer()
  try {
    const { code, stdout, stderr } = await runBin([
      'run',
      '--json',
      '--models',
      `gold,none,${HOSTILE_MODEL}`,
      '--endpoint',
      server.url,
      '--fixtures',
      `${HOSTILE_FIXTURE},a&b|c`,
    ])
    t.is(code, 1, stderr)
    const doc = JSON.parse(stdout)
    t.true(
      doc.results.some((r) => r.fixture === HOSTILE_FIXTURE && r.model === HOSTILE_MODEL),
      'the names reach the results unchanged',
    )
    const html = fs.readFileSync(doc.files.html, 'utf8')
    t.false(html.includes('<script'), 'no script element')
    t.false(html.includes('<img'), 'no img element')
    t.true(html.includes('&lt;script&gt;alert(&quot;fixture&quot;)&lt;/script&gt;'))
    t.true(html.includes('&lt;img src=x onerror=alert(1)&gt;'))
    t.true(html.includes('a&amp;b|c'))
    t.regex(html, /Content-Security-Policy" content="default-src 'none'/)
    const md = fs.readFileSync(doc.files.markdown, 'utf8')
    t.false(md.includes('<script'))
    t.true(md.includes('a&b\\|c'), 'pipes in names do not break the table')
  } finally {
    await server.close()
  }
})

test('summarize keeps the original runner fields and units', (t) => {
  const r = (fixture, model, success, before, after, duration) => ({
    fixture,
    model,
    success,
    errorCountBefore: before,
    errorCountAfter: after,
    errorsResolved: success,
    planGenerated: true,
    duration,
    attempts: 1,
  })
  const s = summarize([r('a', 'm', true, 2, 0, 1000), r('b', 'm', false, 3, 2, 3000), r('a', 'n', true, 1, 0, 2000)])
  t.is(s.totalTests, 3)
  t.is(s.successfulTests, 2)
  t.is(s.errorsResolved, 2)
  t.is(s.averageDuration, 2) // seconds, as run-memoized.ts
  t.is(s.modelResults.m.successRate, 50) // percent
  t.is(s.modelResults.m.errorResolution, 50)
  t.is(s.modelResults.m.avgDuration, 2)
  t.is(s.modelResults.m.totalErrors, 5)
  t.is(s.modelResults.m.errorsFixed, 3)
  t.is(s.modelResults.n.successRate, 100)
  t.is(summarize([]).successRate, 0)
})

// ---------------------------------------------------------------------------------------------
// loadtest

test('loadtest (closed model): the injected LoadTestReporter report, JSON records, HTML chart, exit 0', async (t) => {
  const { code, stdout, stderr, cwd } = await runBin(['loadtest', '--users', '3', '--requests', '4', '--ramp-up', '20ms'])
  t.is(code, 0, stderr)
  t.regex(stdout, /Load Test Report \(LoadTestReporter\)/)
  t.regex(stdout, /Total Requests: 12/)
  const doc = JSON.parse(fs.readFileSync(savedPath(stdout, cwd), 'utf8'))
  t.is(doc.metrics.totalRequests, 12)
  t.is(doc.records.length, 12)
  t.is(doc.config.mode, 'closed')
  t.is(doc.config.rampUp, 20)
  t.true(doc.records.every((r) => r.start >= 0 && r.duration >= 0 && r.success))
  const html = fs.readFileSync(savedPath(stdout, cwd).replace(/\.json$/, '.html'), 'utf8')
  t.is((html.match(/<circle class="point/g) ?? []).length, 12)
  t.false(ESC.test(stdout + stderr))
})

test('loadtest --rate (open model) with failures: exit 1, failures listed and escaped in the HTML', async (t) => {
  const { code, stdout, stderr } = await runBin(['loadtest', '--json', '--rate', '40', '--duration', '500ms'], { env: { FAKE_FAIL_EVERY: '4' } })
  t.is(code, 1, stderr)
  const doc = JSON.parse(stdout)
  t.is(doc.config.mode, 'open')
  t.is(doc.metrics.totalRequests, 20)
  t.is(doc.metrics.failedRequests, 5)
  t.is(doc.metrics.errorRate, 0.25)
  const html = fs.readFileSync(doc.files.html, 'utf8')
  t.is((html.match(/<circle class="point fail"/g) ?? []).length, 5)
  t.true(html.includes('&lt;b&gt;worker crashed&lt;/b&gt;'))
  t.false(html.includes('<b>worker'))
})

test('loadtest --url drives an HTTP endpoint', async (t) => {
  let hits = 0
  const server = http.createServer((req, res) => {
    hits++
    res.end('ok')
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  try {
    const url = `http://127.0.0.1:${server.address().port}/health`
    const { code, stdout, stderr } = await runBin(['loadtest', '--json', '--users', '2', '--requests', '3', '--url', url])
    t.is(code, 0, stderr)
    const doc = JSON.parse(stdout)
    t.is(doc.config.url, url)
    t.is(hits, 6)
    // Sub-millisecond latencies keep their precision in the report (not all "0ms").
    const html = fs.readFileSync(doc.files.html, 'utf8')
    const shown = (v) => `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v)}ms`
    const m = doc.metrics
    t.true(html.includes(`${shown(m.p50ResponseTime)} / ${shown(m.p95ResponseTime)} / ${shown(m.p99ResponseTime)}`))
  } finally {
    await new Promise((r) => server.close(r))
  }
})

// ---------------------------------------------------------------------------------------------
// compare

test('compare: measured before/after beside the guide figures, in text and JSON', async (t) => {
  const text = await runBin(['compare', '--requests', '3'])
  t.is(text.code, 0, text.stderr)
  t.regex(text.stdout, /Average Response Time +\S+ +\S+ +\S+ +5000ms +1500ms +70%/)
  t.regex(text.stdout, /Requests per Second +\S+ +\S+ +\S+ +2 +8 +300%/)
  t.regex(text.stdout, /Memory Usage +\S+ +\S+ +\S+ +500MB +200MB +60%/)
  t.regex(text.stdout, /CPU Usage +\S+ +\S+ +\S+ +80% +40% +50%/)
  t.regex(text.stdout, /Error Rate +\S+ +\S+ +\S+ +5% +1% +80%/)
  t.regex(text.stdout, /CPU per Request +\S+ms +\S+ms +\S+ +n\/a +n\/a +n\/a/)
  const md = fs.readFileSync(savedPath(text.stdout, text.cwd).replace(/\.json$/, '.md'), 'utf8')
  t.regex(md, /\| Average Response Time \|/)

  const { code, stdout, stderr } = await runBin(['compare', '--json', '--requests', '3', '--concurrency', '2'])
  t.is(code, 0, stderr)
  const doc = JSON.parse(stdout)
  t.is(doc.table.length, 6)
  t.is(doc.workload.concurrency, 2)
  const cpuPer = doc.table.find((r) => r.key === 'cpuPerRequest')
  t.true(cpuPer.measured.before > 0 && cpuPer.measured.after >= 0)
  t.deepEqual(cpuPer.guide, { before: null, after: null, improvement: null })
  const avg = doc.table.find((r) => r.key === 'averageResponseTime')
  // The fake "before" starts a Node process per request, the "after" answers in-process.
  t.true(avg.measured.before > avg.measured.after)
  t.is(avg.measured.improvement, Math.round((1000 * (doc.before.averageResponseTime - doc.after.averageResponseTime)) / doc.before.averageResponseTime) / 10)
  t.deepEqual(avg.guide, { before: 5000, after: 1500, improvement: 70 })
  const rps = doc.table.find((r) => r.key === 'requestsPerSecond')
  t.is(rps.better, 'higher')
  t.true(doc.before.peakRss > 0 && doc.after.peakRss > 0)
  t.is(doc.before.totalRequests, 3)
})

test('a long load test: the scatter is sampled (failures kept), the page stays small, nothing overflows', (t) => {
  const records = []
  for (let i = 0; i < 200000; i++)
    records.push({ startTime: 1.7e12 + i, duration: 5 + (i % 50), success: i % 1000 !== 0, error: i % 1000 ? undefined : 'boom' })
  const { loadMetrics, normalizeRecords } = require('../lib/cli/summary.js')
  const metrics = loadMetrics(normalizeRecords(records), { users: 50 })
  t.is(metrics.maxResponseTime, 54)
  t.is(metrics.failedRequests, 200)
  const html = reports.loadTestHtml({ metrics, records, config: { mode: 'closed', model: 'gold' }, timestamp: 'now' })
  t.is((html.match(/<circle class="point/g) ?? []).length, reports.MAX_POINTS)
  t.is((html.match(/<circle class="point fail"/g) ?? []).length, 200)
  t.regex(html, /Showing 4000 of 200000 requests/)
  t.true(html.length < 2_000_000, `${html.length} bytes`)
})

test('a compare runner missing a figure is reported by name, not printed as NaN', async (t) => {
  const side = {
    totalRequests: 3,
    failedRequests: 0,
    averageResponseTime: 10,
    p50ResponseTime: 10,
    p95ResponseTime: 10,
    requestsPerSecond: 1,
    peakRss: 1e8,
    cpuPercent: 50,
    errorRate: 0,
  }
  let err = ''
  const code = await main(['compare', '--out', tmpdir()], {
    stdout: { write() {} },
    stderr: { write: (s) => (err += s) },
    env: {},
    deps: { runCompare: async () => ({ before: side, after: { ...side, cpuPercent: NaN } }) },
  })
  t.is(code, 1)
  t.regex(err, /the compare runner's after\.cpuPercent must be a finite number, got NaN/)
})

test('compare improvement: reductions for lower-is-better, gains for throughput, n/a from zero', (t) => {
  t.is(reports.improvement(5000, 1500, 'lower'), 70)
  t.is(reports.improvement(2, 8, 'higher'), 300)
  t.is(reports.improvement(0, 0, 'lower'), null)
})

// ---------------------------------------------------------------------------------------------
// the default engines, over the package's classes (a stand-in with the API.md shapes)

function quietIo(extra = {}) {
  const io = { out: '', err: '' }
  return Object.assign(io, {
    stdout: { write: (s) => (io.out += s) },
    stderr: { write: (s) => (io.err += s) },
    env: {},
    ...extra,
  })
}

test('default run engine: one provider per model, one request per fixture, every provider disconnected', async (t) => {
  const { pkg, log } = makePackage()
  const io = quietIo({ deps: createDefaults(() => pkg) })
  const code = await main(
    ['run', '--json', '--models', 'gold,none', '--concurrency', '3', '--endpoint', 'http://127.0.0.1:9', '--no-cache', '--out', tmpdir()],
    io,
  )
  t.is(code, 1, io.err)
  const doc = JSON.parse(io.out)
  t.is(doc.results.length, 2 * SMALL.length)
  t.is(doc.summary.modelResults.gold.successRate, 100)
  t.is(log.providers.length, 2)
  for (const p of log.providers) {
    t.like(p.config, { type: 'buildfix', endpoint: 'http://127.0.0.1:9', options: { cache: false } })
    t.true(p.connected && p.disconnected)
    t.deepEqual(
      p.requests.map((r) => r.metadata.fixtures[0]),
      SMALL,
    )
    t.true(p.requests.every((r) => r.metadata.fixtureType === 'small' && r.metadata.fixtures.length === 1))
  }
  t.deepEqual(
    log.providers.map((p) => p.config.model),
    ['gold', 'none'],
  )
})

test('default run engine: a failed execute becomes a failed result with the reason', async (t) => {
  const { pkg } = makePackage({ failFixtures: ['misspelled'] })
  const io = quietIo({ deps: createDefaults(() => pkg) })
  const code = await main(['run', '--json', '--out', tmpdir()], io)
  t.is(code, 1)
  const doc = JSON.parse(io.out)
  const bad = doc.results.find((r) => r.fixture === 'misspelled')
  t.like(bad, { success: false, model: 'gold', errorMessage: 'worker died', attempts: 0 })
  t.is(doc.summary.successfulTests, SMALL.length - 1)
})

test('default engines name what is missing from the package', async (t) => {
  const io = quietIo({ deps: createDefaults(() => ({})) })
  t.is(await main(['run', '--out', tmpdir()], io), 1)
  t.regex(io.err, /^promethean-bench run: failed: this build of @promethean\/benchmark has no EnhancedBuildFixProvider; the command needs it$/m)
})

test('default loadtest engine: LoadTester config from the flags, the package reporter, the provider cycled over fixtures', async (t) => {
  const { pkg, log } = makePackage()
  const io = quietIo({ deps: createDefaults(() => pkg) })
  const code = await main(['loadtest', '--users', '2', '--requests', '3', '--ramp-up', '1s', '--duration', '2m', '--timeout', '5s', '--out', tmpdir()], io)
  t.is(code, 0, io.err)
  t.deepEqual(log.testers[0].config, { concurrentUsers: 2, requestsPerUser: 3, rampUpTime: 1000, testDuration: 120000, thinkTime: 0, timeout: 5000 })
  t.regex(io.out, /^Load Test Report\nTotal Requests: 6\nPerformance Assessment: fake/)
  t.is(log.providers[0].requests.length, 6)
  t.true(log.providers[0].disconnected)
})

test('default loadtest engine, open model: requests at the rate for the duration', async (t) => {
  const { pkg, log } = makePackage()
  const io = quietIo({ deps: createDefaults(() => pkg) })
  const code = await main(['loadtest', '--json', '--rate', '50', '--duration', '400ms', '--out', tmpdir()], io)
  t.is(code, 0, io.err)
  const doc = JSON.parse(io.out)
  t.is(doc.metrics.totalRequests, 20)
  t.is(log.testers.length, 0)
  t.is(log.providers[0].requests.length, 20)
  // The starts are spread over the duration, 20ms apart, not sent in one burst.
  const last = doc.records[doc.records.length - 1].start
  t.true(last >= 300, `last request started at ${last}ms`)
})

test('default compare engine: BuildFixProvider before, EnhancedBuildFixProvider after, same workload', async (t) => {
  const { pkg, log } = makePackage({ executeDelay: 2, baselineDelay: 25 })
  const io = quietIo({ deps: createDefaults(() => pkg) })
  const code = await main(['compare', '--json', '--requests', '4', '--out', tmpdir()], io)
  t.is(code, 0, io.err)
  const doc = JSON.parse(io.out)
  t.is(log.providers[0].constructor.name, 'BuildFixProvider')
  t.is(log.providers[1].constructor.name, 'EnhancedBuildFixProvider')
  t.deepEqual(log.providers[0].requests, log.providers[1].requests)
  t.true(log.providers.every((p) => p.disconnected))
  t.true(doc.before.averageResponseTime >= 20)
  t.true(doc.after.averageResponseTime < doc.before.averageResponseTime)
  t.true(doc.table.find((r) => r.key === 'averageResponseTime').measured.improvement > 0)
})

// ---------------------------------------------------------------------------------------------
// browser

const browserTest = browserTestsRun ? test.serial : test.skip

browserTest(`the HTML reports render in headless Chromium with charts full of data and a clean console${skipNote}`, async (t) => {
  const server = await fakeModelServer()
  const out = tmpdir()
  let run
  let load
  try {
    run = JSON.parse(
      (
        await runBin([
          'run',
          '--json',
          '--out',
          out,
          '--models',
          `gold,none,good-model,${HOSTILE_MODEL}`,
          '--endpoint',
          server.url,
          '--fixtures',
          `f1,f2,f3,${HOSTILE_FIXTURE}`,
        ])
      ).stdout,
    )
    load = JSON.parse((await runBin(['loadtest', '--json', '--out', out, '--users', '4', '--requests', '6'], { env: { FAKE_FAIL_EVERY: '7' } })).stdout)
  } finally {
    await server.close()
  }
  fs.mkdirSync(ARTIFACTS, { recursive: true })
  const { browser, page, problems, requests } = await openWatchedPage()
  try {
    await page.goto(pathToFileURL(run.files.html).href)
    t.is(await page.title(), 'BuildFix benchmark report')
    const models = Object.keys(run.summary.modelResults)
    t.is(await page.locator('#chart-pass-rate rect.bar').count(), models.length)
    const passRates = await page.locator('#chart-pass-rate rect.bar').evaluateAll((els) => els.map((e) => Number(e.dataset.value)))
    t.deepEqual(
      passRates,
      models.map((m) => run.summary.modelResults[m].successRate),
    )
    const heights = await page.locator('#chart-pass-rate rect.bar').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().height))
    t.true(heights[0] > 50, 'the gold bar is drawn tall')
    const histogram = await page.locator('#chart-latency rect.bar').evaluateAll((els) => els.map((e) => Number(e.dataset.value)))
    t.true(histogram.length > 0)
    t.is(
      histogram.reduce((a, b) => a + b, 0),
      run.results.length,
      'every result is in the latency histogram',
    )
    t.is(await page.locator('#chart-errors rect.bar').count(), 2 * models.length)
    t.is(await page.locator('#table-results tbody tr').count(), run.results.length)
    t.is(await page.locator('script, img').count(), 0, 'hostile names stay text')
    t.true((await page.locator('#table-results').innerText()).includes(HOSTILE_FIXTURE))
    await page.screenshot({ path: path.join(ARTIFACTS, 'cli-run-report.png'), fullPage: true })

    await page.goto(pathToFileURL(load.files.html).href)
    t.is(await page.title(), 'Load test report')
    t.is(await page.locator('#chart-latency-time circle.point').count(), load.records.length)
    t.is(await page.locator('#chart-latency-time circle.point.fail').count(), load.metrics.failedRequests)
    t.true(load.metrics.failedRequests > 0)
    t.is(await page.locator('#chart-latency-time polyline.trend').count(), 1)
    const box = await page.locator('#chart-latency-time').boundingBox()
    t.true(box.width > 300 && box.height > 100)
    await page.screenshot({ path: path.join(ARTIFACTS, 'cli-loadtest-report.png'), fullPage: true })

    t.true(fs.statSync(path.join(ARTIFACTS, 'cli-run-report.png')).size > 10000)
    t.true(fs.statSync(path.join(ARTIFACTS, 'cli-loadtest-report.png')).size > 10000)
    t.deepEqual(problems, [])
    t.true(
      requests.every((u) => u.startsWith('file:')),
      `no network: ${requests.join(', ')}`,
    )
  } finally {
    await browser.close()
  }
})

test('regression: --concurrency sets requests in flight, not worker processes; --workers sets those', async (t) => {
  const { pkg, log } = makePackage()
  const io = quietIo({ deps: createDefaults(() => pkg) })
  t.is(await main(['run', '--json', '--concurrency', '8', '--out', tmpdir()], io), 0, io.err)
  t.false('maxWorkers' in log.providers[0].config.options, 'the provider sizes its pool to the machine')
  const io2 = quietIo({ deps: createDefaults(() => pkg) })
  t.is(await main(['run', '--json', '--concurrency', '8', '--workers', '3', '--out', tmpdir()], io2), 0, io2.err)
  t.is(log.providers[1].config.options.maxWorkers, 3)
  const bad = quietIo()
  t.is(await main(['compare', '--workers', '0'], bad), 2)
  t.regex(bad.err, /--workers must be a whole number from 1 to 256, got "0"/)
})
