import test from 'ava'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { createRequire } from 'node:module'
import { browserTestsRun, openWatchedPage, skipNote } from './helpers/browser.mjs'

const require = createRequire(import.meta.url)
const here = path.dirname(fileURLToPath(import.meta.url))
const BIN = path.join(here, '..', 'bin', 'promethean-bench.js')
const FAKE = path.join(here, 'helpers', 'cli-fake-runner.cjs')
const APPENDER = path.join(here, 'helpers', 'history-appender.cjs')
const ARTIFACTS = path.join(here, 'artifacts')

const { openHistory, checkRuns } = require('../lib/history.js')

const made = []
function tmpdir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promethean-history-'))
  made.push(dir)
  return dir
}
test.after.always(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true })
})

function run(cmd, args, env = {}) {
  return new Promise((resolve, reject) => {
    const childEnv = { ...process.env, PROMETHEAN_BENCH_TEST_RUNNER: FAKE, ...env }
    const child = spawn(cmd, args, { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

const bench = (args) => run(process.execPath, [BIN, ...args])

const FIXTURES = Array.from({ length: 10 }, (_, i) => `fx-${i}`)

/** A results document of `model` where the fixtures in `failing` fail, each taking `duration` ms. */
function doc(model, { failing = [], duration = 100, timestamp } = {}) {
  return {
    timestamp: timestamp ?? new Date().toISOString(),
    results: FIXTURES.map((f) => ({
      fixture: f,
      model,
      success: !failing.includes(f),
      errorCountBefore: 1,
      errorCountAfter: failing.includes(f) ? 1 : 0,
      errorsResolved: !failing.includes(f),
      duration,
      attempts: 1,
    })),
    fixtures: Object.fromEntries(FIXTURES.map((f) => [f, { family: f.endsWith('1') ? 'imports' : 'exports', code: 'TS2304', hash: `h-${f}` }])),
  }
}

async function historyWith(docs) {
  const file = path.join(tmpdir(), 'nested', 'history.sqlite')
  const h = await openHistory(file)
  for (const d of docs) await h.append(d)
  return { h, file }
}

test('runs are stored per model and read back oldest first, with family, code and hash', async (t) => {
  const { h, file } = await historyWith([doc('a'), doc('b', { failing: ['fx-1'] }), doc('a', { failing: ['fx-2'] })])
  try {
    t.deepEqual(await h.series(), [
      { model: 'a', endpoint: '', runs: 2 },
      { model: 'b', endpoint: '', runs: 1 },
    ])
    const runs = await h.runs('a')
    t.deepEqual(
      runs.map((r) => r.id),
      [1, 3],
    )
    t.is(runs[1].results.find((r) => r.fixture === 'fx-2').success, false)
    t.like(runs[0].results[1], { family: 'imports', code: 'TS2304', fixtureHash: 'h-fx-1', duration: 100 })
    t.is(runs[0].packageVersion, require('../package.json').version)
    t.is(runs[0].planFormatVersion, require('../worker/plan.js').PLAN_FORMAT_VERSION)
    const trend = await h.trend()
    t.deepEqual(
      trend[0].runs.map((r) => r.passRate),
      [100, 90],
    )
  } finally {
    await h.close()
  }
  t.true(fs.existsSync(file))
})

test('check: a real regression is flagged, a noise-only change is not', async (t) => {
  const base = [doc('m'), doc('m', { failing: ['fx-3'] }), doc('m')]
  // Noise: one fixture that passed before fails now (McNemar p = 1).
  const noise = await historyWith([...base, doc('m', { failing: ['fx-5'] })])
  // Regression: six fixtures that passed fail now (p = 2/64 < 0.05).
  const worse = await historyWith([...base, doc('m', { failing: ['fx-0', 'fx-1', 'fx-2', 'fx-4', 'fx-5', 'fx-6'] })])
  // Slower: p50 three times the baseline's.
  const slower = await historyWith([...base, doc('m', { duration: 300 })])
  // Only a little slower (+20%): within the threshold.
  const jitter = await historyWith([...base, doc('m', { duration: 120 })])
  try {
    const [n] = await noise.h.check()
    t.is(n.status, 'ok', n.reasons.join())
    t.is(n.passRate.pValue, 1)
    const [w] = await worse.h.check()
    t.is(w.status, 'regression')
    t.regex(w.reasons[0], /^pass rate 40\.0% vs 100\.0% before on 10 shared fixtures .*McNemar p=0\.031/)
    t.deepEqual(w.passRate.slipped, ['fx-0', 'fx-1', 'fx-2', 'fx-4', 'fx-5', 'fx-6'])
    const [s] = await slower.h.check()
    t.is(s.status, 'regression')
    t.regex(s.reasons[0], /^p50 duration 300ms vs 100ms before/)
    const [j] = await jitter.h.check()
    t.is(j.status, 'ok')
    t.is((await jitter.h.check({ durationThreshold: 0.1, minDurationDelta: 10 }))[0].status, 'regression')
  } finally {
    await Promise.all([noise.h.close(), worse.h.close(), slower.h.close(), jitter.h.close()])
  }
})

test('check without a baseline says so; bad check options are RangeErrors', (t) => {
  t.is(checkRuns([]).status, 'no-baseline')
  t.throws(() => checkRuns([], { window: 0 }), { instanceOf: RangeError, message: /options\.window/ })
  t.throws(() => checkRuns([], { durationThreshold: -1 }), { instanceOf: RangeError, message: /options\.durationThreshold/ })
})

test('two processes appending to one history at once lose and corrupt nothing', async (t) => {
  const file = path.join(tmpdir(), 'history.sqlite')
  const [a, b] = await Promise.all([run(process.execPath, [APPENDER, file, 'model-a', '40']), run(process.execPath, [APPENDER, file, 'model-b', '40'])])
  t.is(a.code, 0, a.stderr)
  t.is(b.code, 0, b.stderr)
  const h = await openHistory(file)
  try {
    for (const model of ['model-a', 'model-b']) {
      const runs = await h.runs(model, { limit: 1000 })
      t.is(runs.length, 40)
      t.true(runs.every((r) => r.results.length === 12 && r.results.every((x) => x.model === model)))
    }
    const ids = [...(await h.runs('model-a', { limit: 1000 })), ...(await h.runs('model-b', { limit: 1000 }))].map((r) => r.id).sort((x, y) => x - y)
    t.deepEqual(
      ids,
      Array.from({ length: 80 }, (_, i) => i + 1),
      'every run has its own id',
    )
  } finally {
    await h.close()
  }
})

test('an unreadable or newer-schema history is a clear error and is never reset', async (t) => {
  const dir = tmpdir()
  const junk = path.join(dir, 'junk.sqlite')
  fs.writeFileSync(junk, 'not a database\n'.repeat(300))
  const before = fs.readFileSync(junk)
  await t.throwsAsync(openHistory(junk), {
    code: 'ERR_HISTORY_UNREADABLE',
    message: /is not a promethean-bench history \(the file is not an SQLite database\); nothing was changed/,
  })
  t.deepEqual(fs.readFileSync(junk), before)

  const newer = path.join(dir, 'newer.sqlite')
  const h = await openHistory(newer)
  await h.append(doc('m'))
  await h.close()
  // PRAGMA user_version is the 4 big-endian bytes at offset 60 of the SQLite header.
  const fd = fs.openSync(newer, 'r+')
  fs.writeSync(fd, Buffer.from([0, 0, 0, 99]), 0, 4, 60)
  fs.closeSync(fd)
  const bytes = fs.readFileSync(newer)
  await t.throwsAsync(openHistory(newer), { code: 'ERR_HISTORY_NEWER_SCHEMA', message: /schema version 99, newer than this version reads \(up to 1\)/ })
  t.deepEqual(fs.readFileSync(newer), bytes)

  const cli = await bench(['history', '--history', newer, '--out', dir])
  t.is(cli.code, 1)
  t.regex(cli.stderr, /schema version 99/)
  const runCli = await bench(['run', '--history', junk, '--out', dir, '--fixtures', 'a,b'])
  t.is(runCli.code, 1, 'a run that cannot be recorded fails')
  t.regex(runCli.stderr, /the run was not recorded in the history: .*not a promethean-bench history/)
  t.regex(runCli.stdout, /Results saved to: /, 'the reports are still written')
  t.deepEqual(fs.readFileSync(junk), before)
})

test('bad arguments are TypeErrors / RangeErrors naming them', async (t) => {
  await t.throwsAsync(openHistory(''), { instanceOf: TypeError, message: /^path must be a non-empty file path/ })
  await t.throwsAsync(openHistory(42), { instanceOf: TypeError, message: /^path/ })
  const { h } = await historyWith([])
  try {
    await t.throwsAsync(h.append({ results: 'no' }), { instanceOf: TypeError, message: /^doc must be a results document/ })
    await t.throwsAsync(h.append({ results: [] }), { instanceOf: RangeError, message: /run\.results must be at least one result/ })
    const bad = doc('m')
    bad.results[3].duration = -5
    await t.throwsAsync(h.append(bad), { instanceOf: RangeError, message: /run\.results\[3\]\.duration/ })
    t.throws(() => h.runs(''), { instanceOf: TypeError, message: /^model/ })
    t.throws(() => h.runs('m', { limit: 0 }), { instanceOf: RangeError, message: /^options\.limit/ })
    t.deepEqual(await h.series(), [], 'nothing was written by a refused append')
  } finally {
    await h.close()
  }
  await t.throwsAsync(h.series(), { message: /closed/ })
})

test('CLI: run records every run; history prints the trend; --check exits 1 on a regression with one line per model', async (t) => {
  const out = tmpdir()
  for (let i = 0; i < 2; i++) {
    const r = await bench(['run', '--out', out, '--models', 'gold,none'])
    t.is(r.code, 1, r.stderr) // none fails by design
    t.regex(r.stdout, /Run recorded in history: .*history\.sqlite/)
  }
  const trend = await bench(['history', '--out', out, '--json'])
  t.is(trend.code, 0, trend.stderr)
  const data = JSON.parse(trend.stdout)
  t.deepEqual(
    data.trend.map((s) => [s.model, s.runs.length]),
    [
      ['gold', 2],
      ['none', 2],
    ],
  )
  t.true(fs.existsSync(data.files.html))

  // A model that regresses: appended through the API to the same history.
  const h = await openHistory(path.join(out, 'history.sqlite'))
  for (let i = 0; i < 3; i++) await h.append(doc('flaky'))
  await h.append(doc('flaky', { failing: FIXTURES.slice(0, 7) }))
  await h.close()
  const check = await bench(['history', '--out', out, '--check'])
  t.is(check.code, 1)
  t.regex(check.stdout, /^REGRESSION {2}flaky: pass rate 30\.0% vs 100\.0% before/m)
  t.regex(check.stdout, /^ok {2}gold: /m)
  t.regex(check.stdout, /^ok {2}none: /m)
  const usage = await bench(['history', '--check', '--window', '0'])
  t.is(usage.code, 2)
  t.regex(usage.stderr, /--window must be a whole number from 1 to 1000/)
  t.is((await bench(['run', '--history', 'x', '--no-history'])).code, 2)
  const none = await bench(['history', '--history', path.join(out, 'missing.sqlite')])
  t.is(none.code, 1)
  t.regex(none.stderr, /no history at .*missing\.sqlite/)
})

test('CLI: compare-runs pairs two saved runs and exits 1 when B is significantly worse', async (t) => {
  const dir = tmpdir()
  const a = path.join(dir, 'a.json')
  const b = path.join(dir, 'b.json')
  const c = path.join(dir, 'c.json')
  fs.writeFileSync(a, JSON.stringify(doc('model')))
  fs.writeFileSync(b, JSON.stringify(doc('model', { failing: FIXTURES.slice(0, 8) })))
  fs.writeFileSync(c, JSON.stringify(doc('model', { failing: ['fx-9'] })))
  const worse = await bench(['compare-runs', a, b, '--out', dir, '--json'])
  t.is(worse.code, 1, worse.stderr)
  const data = JSON.parse(worse.stdout)
  t.like(data.comparisons[0], { a: 'model', b: 'model', n: 10, both: 2, onlyA: 8, onlyB: 0, neither: 0, significant: true })
  t.true(Math.abs(data.comparisons[0].pValue - 2 / 256) < 1e-12)
  for (const f of Object.values(data.files)) t.true(fs.existsSync(f))
  const same = await bench(['compare-runs', a, c, '--out', dir])
  t.is(same.code, 0, same.stderr)
  t.regex(same.stdout, /model vs model: 10 shared fixtures, both 9, only A 1, only B 0, neither 0.*no significant difference/)
  const bad = await bench(['compare-runs', a, '--out', dir])
  t.is(bad.code, 2)
  t.regex(bad.stderr, /expected two results files, A\.json B\.json, got/)
  fs.writeFileSync(path.join(dir, 'x.json'), '{"nope": 1}')
  const notResults = await bench(['compare-runs', a, path.join(dir, 'x.json')])
  t.is(notResults.code, 2)
  t.regex(notResults.stderr, /is not a results file/)
})

const browserTest = browserTestsRun ? test.serial : test.skip

browserTest(`the history page and the run report's family and pairwise sections render in headless Chromium${skipNote}`, async (t) => {
  const out = tmpdir()
  const h = await openHistory(path.join(out, 'history.sqlite'))
  for (let i = 0; i < 4; i++) await h.append(doc('alpha', { duration: 100 + i }))
  await h.append(doc('alpha', { failing: FIXTURES.slice(0, 7) }))
  for (let i = 0; i < 3; i++) await h.append(doc('<img src=x onerror=alert(1)>', { failing: ['fx-0'] }))
  await h.close()
  const hist = await bench(['history', '--out', out, '--check', '--json'])
  t.is(hist.code, 1)
  const histData = JSON.parse(hist.stdout)
  const runOut = await bench(['run', '--out', out, '--models', 'gold,none', '--json', '--no-history'])
  const runData = JSON.parse(runOut.stdout)

  fs.mkdirSync(ARTIFACTS, { recursive: true })
  const { browser, page, problems, requests } = await openWatchedPage()
  try {
    await page.goto(pathToFileURL(histData.files.html).href)
    t.is(await page.title(), 'BuildFix run history')
    const runsPerModel = histData.trend.map((s) => s.runs.length)
    t.deepEqual(runsPerModel.sort(), [3, 5])
    t.is(await page.locator('#chart-history-pass-rate circle.point').count(), 8)
    const rates = await page.locator('#chart-history-pass-rate circle.point.s0').evaluateAll((els) => els.map((e) => Number(e.dataset.value)))
    t.deepEqual(
      rates,
      histData.trend[0].runs.map((r) => r.passRate),
    )
    t.is(await page.locator('#chart-history-p50 circle.point').count(), 8)
    t.is(await page.locator('#chart-history-pass-rate polyline.line').count(), 2)
    const box = await page.locator('#chart-history-pass-rate').boundingBox()
    t.true(box.width > 300 && box.height > 100)
    t.is(await page.locator('#table-history-runs tbody tr').count(), 8)
    t.regex(await page.locator('#table-history-check').innerText(), /regression/)
    t.is(await page.locator('script, img').count(), 0, 'a hostile model name stays text')
    await page.screenshot({ path: path.join(ARTIFACTS, 'history-report.png'), fullPage: true })

    await page.goto(pathToFileURL(runData.files.html).href)
    const families = new Set(runData.breakdown.byFamily.map((r) => r.family))
    t.is(await page.locator('#chart-by-family rect.bar').count(), families.size * 2)
    t.is(await page.locator('#table-by-family tbody tr').count(), runData.breakdown.byFamily.length)
    t.is(await page.locator('#table-by-code tbody tr').count(), runData.breakdown.byCode.length)
    const pair = runData.pairwise[0]
    const cells = await page.locator('#chart-pairwise-table rect.bar').evaluateAll((els) => els.map((e) => Number(e.dataset.value)))
    t.deepEqual(cells, [pair.both, pair.onlyA, pair.onlyB, pair.neither])
    t.is(await page.locator('#chart-pairwise-ci circle.point').count(), 1)
    t.is(await page.locator('#chart-pairwise-ci line.ci').count(), 1)
    t.is(await page.locator('#table-pairwise tbody tr').count(), 1)
    await page.screenshot({ path: path.join(ARTIFACTS, 'run-report-analysis.png'), fullPage: true })

    t.deepEqual(problems, [])
    t.true(
      requests.every((u) => u.startsWith('file:')),
      `no network: ${requests.join(', ')}`,
    )
  } finally {
    await browser.close()
  }
})
