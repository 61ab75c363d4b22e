'use strict'
// The reports promethean-bench writes: text summaries for the terminal, Markdown, and
// self-contained HTML (inline CSS + inline SVG, no scripts, no network).

const { summarize, percentile, mean, normalizeRecords } = require('./summary.js')
const svg = require('./svg.js')

const { escapeHtml } = svg

function pct(n, digits = 1) {
  return `${(Number.isFinite(n) ? n : 0).toFixed(digits)}%`
}

function secs(ms) {
  return `${(ms / 1000).toFixed(2)}s`
}

function ms(n) {
  return `${Math.round(Number.isFinite(n) ? n : 0)}ms`
}

/** Markdown table cell: no line breaks, pipes escaped, and no raw HTML (Markdown renders it). */
function mdCell(value) {
  return String(value ?? '')
    .replace(/\r?\n/g, ' ')
    .replace(/\|/g, '\\|')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
}

// ---------------------------------------------------------------------------------------------
// run

/** The document written as the results JSON: the original runner's {results, summary, timestamp}. */
function resultsDocument(results, { timestamp = new Date().toISOString(), meta } = {}) {
  const doc = { results, summary: summarize(results), timestamp }
  if (meta) doc.run = meta
  return doc
}

function runSummaryText(doc) {
  const s = doc.summary
  const lines = []
  lines.push('BuildFix benchmark summary')
  lines.push('==========================')
  lines.push(`Total Tests: ${s.totalTests}`)
  lines.push(`Successful Tests: ${s.successfulTests} (${pct(s.successRate)})`)
  lines.push(`Errors Resolved: ${s.errorsResolved} (${pct(s.totalTests ? (100 * s.errorsResolved) / s.totalTests : 0)})`)
  lines.push(`Average Duration: ${s.averageDuration.toFixed(2)}s`)
  for (const [model, m] of Object.entries(s.modelResults)) {
    lines.push(
      `  ${model}: ${m.successfulTests}/${m.tests} passed (${pct(m.successRate)}), errors ${m.totalErrors} -> ${m.errorsAfter}, avg ${m.avgDuration.toFixed(2)}s, p95 ${m.p95Duration.toFixed(2)}s`,
    )
  }
  return lines.join('\n')
}

/**
 * Pass counts per error family and model, for results that name their family (the engine
 * reports `family` and `targetCode` from each fixture.json); sorted by family, then model.
 */
function familyTable(results) {
  const rows = new Map()
  for (const r of results) {
    if (typeof r.family !== 'string') continue
    const key = `${r.family}\0${r.model}`
    const row = rows.get(key) ?? { family: r.family, model: r.model, tests: 0, passed: 0, codeSet: new Set() }
    row.tests++
    if (r.success) row.passed++
    if (Number.isInteger(r.targetCode)) row.codeSet.add(`TS${r.targetCode}`)
    rows.set(key, row)
  }
  return [...rows.values()]
    .sort((a, b) => (a.family === b.family ? (a.model < b.model ? -1 : 1) : a.family < b.family ? -1 : 1))
    .map(({ codeSet, ...row }) => ({ ...row, codes: [...codeSet].sort().join(' / ') }))
}

function runMarkdown(doc) {
  const { results, summary: s, timestamp } = doc
  const lines = []
  lines.push('# TypeScript BuildFix Benchmark Report', '')
  lines.push('## Summary', '')
  lines.push(`- **Total Tests**: ${s.totalTests}`)
  lines.push(`- **Success Rate**: ${pct(s.successRate)} (${s.successfulTests}/${s.totalTests})`)
  lines.push(`- **Errors Resolved**: ${s.errorsResolved}/${s.totalTests}`)
  lines.push(`- **Average Duration**: ${s.averageDuration.toFixed(2)} seconds`)
  lines.push(`- **Generated**: ${mdCell(timestamp)}`)
  if (doc.run) {
    lines.push(`- **Fixtures**: ${mdCell(doc.run.fixtures)}; **Cache**: ${doc.run.cache ? 'on' : 'off'}; **Concurrency**: ${doc.run.concurrency}`)
  }
  lines.push('', '## Models', '')
  lines.push('| Model | Tests | Passed | Success Rate | Error Resolution | Errors Before | Errors After | Avg | p95 |')
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const [model, m] of Object.entries(s.modelResults)) {
    lines.push(
      `| ${mdCell(model)} | ${m.tests} | ${m.successfulTests} | ${pct(m.successRate)} | ${pct(m.errorResolution)} | ${m.totalErrors} | ${m.errorsAfter} | ${m.avgDuration.toFixed(2)}s | ${m.p95Duration.toFixed(2)}s |`,
    )
  }
  const families = familyTable(results)
  if (families.length > 0) {
    lines.push('', '## Error families', '')
    lines.push('| Family | Error | Model | Tests | Passed | Success Rate |')
    lines.push('|---|---|---|---:|---:|---:|')
    for (const f of families) {
      lines.push(`| ${mdCell(f.family)} | ${mdCell(f.codes)} | ${mdCell(f.model)} | ${f.tests} | ${f.passed} | ${pct((100 * f.passed) / f.tests)} |`)
    }
  }
  lines.push('', '## Results', '')
  lines.push('| Fixture | Model | Result | Errors | Duration | Attempts | Plan | Error |')
  lines.push('|---|---|---|---|---:|---:|---|---|')
  for (const r of results) {
    lines.push(
      `| ${mdCell(r.fixture)} | ${mdCell(r.model)} | ${r.success ? 'PASS' : 'FAIL'} | ${r.errorCountBefore} → ${r.errorCountAfter} | ${secs(r.duration)} | ${r.attempts} | ${mdCell(r.planTitle ?? (r.planGenerated ? 'yes' : 'no'))} | ${mdCell(r.errorMessage ?? '')} |`,
    )
  }
  lines.push('', '---', '*Generated by promethean-bench*', '')
  return lines.join('\n')
}

function runHtml(doc) {
  const { results, summary: s, timestamp } = doc
  const models = Object.entries(s.modelResults)
  const cards = [
    ['Tests', s.totalTests],
    ['Passed', `${s.successfulTests} (${pct(s.successRate)})`],
    ['Errors resolved', s.errorsResolved],
    ['Average duration', `${s.averageDuration.toFixed(2)}s`],
    ['p95 duration', secs(percentile(results.map((r) => r.duration), 95))],
  ]
  const body = []
  body.push(`<div class="cards">${cards.map(([k, v]) => `<div class="card"><b>${escapeHtml(v)}</b><span>${escapeHtml(k)}</span></div>`).join('')}</div>`)
  body.push('<section><h2>Pass rate per model</h2>')
  body.push(
    svg.barChart({
      id: 'chart-pass-rate',
      title: 'Pass rate per model (%)',
      items: models.map(([model, m]) => ({ label: model, value: m.successRate })),
      max: 100,
      unit: '%',
      yLabel: 'pass rate %',
      xLabel: 'model',
    }),
  )
  body.push('</section><section><h2>Latency distribution</h2>')
  body.push(svg.histogram({ id: 'chart-latency', title: 'Duration per fixture', values: results.map((r) => r.duration), xLabel: 'duration (ms)' }))
  // Per fixture when one model ran (the interesting question is which fixtures), per model otherwise.
  const perFixture = models.length === 1
  const LIMIT = 60
  let groups
  if (perFixture) {
    groups = results.slice(0, LIMIT).map((r) => ({ label: r.fixture, values: [r.errorCountBefore, r.errorCountAfter] }))
  } else {
    groups = models.map(([model, m]) => ({ label: model, values: [m.totalErrors, m.errorsAfter] }))
  }
  body.push(`</section><section><h2>Errors before and after, per ${perFixture ? 'fixture' : 'model'}</h2>`)
  if (perFixture && results.length > LIMIT) body.push(`<p>First ${LIMIT} of ${results.length} fixtures; all are in the table below.</p>`)
  body.push(
    svg.groupedBarChart({
      id: 'chart-errors',
      title: 'Error counts before/after',
      groups,
      series: [
        { name: 'before', cls: 'before' },
        { name: 'after', cls: 'after' },
      ],
      yLabel: 'errors',
    }),
  )
  body.push('</section><section><h2>Models</h2>')
  body.push(
    svg.table(
      ['Model', 'Tests', 'Passed', 'Success rate', 'Error resolution', 'Errors before', 'Errors after', 'Avg', 'p95'],
      models.map(([model, m]) => [model, m.tests, m.successfulTests, pct(m.successRate), pct(m.errorResolution), m.totalErrors, m.errorsAfter, `${m.avgDuration.toFixed(2)}s`, `${m.p95Duration.toFixed(2)}s`]),
      { id: 'table-models' },
    ),
  )
  body.push('</section><section><h2>Results</h2>')
  body.push(
    svg.table(
      ['Fixture', 'Model', 'Result', 'Errors', 'Duration', 'Attempts', 'Plan', 'Error'],
      results.map((r) => [
        r.fixture,
        r.model,
        { text: r.success ? 'PASS' : 'FAIL', cls: r.success ? 'pass' : 'fail' },
        `${r.errorCountBefore} → ${r.errorCountAfter}`,
        secs(r.duration),
        r.attempts,
        r.planTitle ?? (r.planGenerated ? 'yes' : 'no'),
        { text: r.errorMessage ?? '', cls: 'msg' },
      ]),
      { id: 'table-results' },
    ),
  )
  body.push('</section>')
  const where = doc.run ? ` · fixtures ${doc.run.fixtures} · cache ${doc.run.cache ? 'on' : 'off'}` : ''
  return svg.page({ title: 'BuildFix benchmark report', subtitle: `${timestamp}${where}`, body: body.join('\n') })
}

// ---------------------------------------------------------------------------------------------
// loadtest

/** A plain report used only when the package's LoadTestReporter is not available. */
function fallbackLoadTestText(m) {
  return [
    'Load Test Report',
    '================',
    `Users: ${m.concurrentUsers}  Duration: ${ms(m.testDuration)}`,
    `Requests: ${m.totalRequests} (${m.successfulRequests} ok, ${m.failedRequests} failed, error rate ${pct(100 * m.errorRate)})`,
    `Response time: avg ${ms(m.averageResponseTime)}  min ${ms(m.minResponseTime)}  max ${ms(m.maxResponseTime)}  p50 ${ms(m.p50ResponseTime)}  p95 ${ms(m.p95ResponseTime)}  p99 ${ms(m.p99ResponseTime)}`,
    `Throughput: ${m.requestsPerSecond.toFixed(2)} req/s, ${m.errorsPerSecond.toFixed(2)} errors/s`,
  ].join('\n')
}

/** Rolling median of durations over a window of requests, for the trend line. */
function rollingMedian(rows, window = 15) {
  const ok = rows.filter((r) => r.success)
  const out = []
  for (let i = 0; i < ok.length; i++) {
    const slice = ok.slice(Math.max(0, i - window + 1), i + 1).map((r) => r.duration)
    out.push({ x: ok[i].start / 1000, y: percentile(slice, 50) })
  }
  return out
}

/** Beyond this many requests the scatter is sampled, so the page stays small and quick to open. */
const MAX_POINTS = 4000

/** Every failure (up to half the budget) and successes evenly spaced in time, in time order. */
function samplePoints(rows) {
  if (rows.length <= MAX_POINTS) return rows
  const fails = rows.filter((r) => !r.success).slice(0, MAX_POINTS / 2)
  const oks = rows.filter((r) => r.success)
  const keep = MAX_POINTS - fails.length
  const picked = []
  for (let i = 0; i < keep && oks.length; i++) picked.push(oks[Math.floor((i * oks.length) / keep)])
  return [...fails, ...picked].sort((a, b) => a.start - b.start)
}

function samplePath(points, limit = 600) {
  if (points.length <= limit) return points
  const out = []
  for (let i = 0; i < limit; i++) out.push(points[Math.floor((i * (points.length - 1)) / (limit - 1))])
  return out
}

function loadTestHtml({ metrics: m, records, config, timestamp }) {
  const rows = normalizeRecords(records)
  const shown = samplePoints(rows)
  const body = []
  const cards = [
    ['Requests', m.totalRequests],
    ['Error rate', pct(100 * m.errorRate)],
    ['Requests/s', m.requestsPerSecond.toFixed(2)],
    ['Average', ms(m.averageResponseTime)],
    ['p95', ms(m.p95ResponseTime)],
    ['p99', ms(m.p99ResponseTime)],
  ]
  body.push(`<div class="cards">${cards.map(([k, v]) => `<div class="card"><b>${escapeHtml(v)}</b><span>${escapeHtml(k)}</span></div>`).join('')}</div>`)
  body.push('<section><h2>Latency over time</h2>')
  if (shown.length < rows.length) {
    body.push(`<p id="sampled">Showing ${shown.length} of ${rows.length} requests: every failure (up to ${MAX_POINTS / 2}) and successes evenly spread in time; the line is over all of them.</p>`)
  }
  body.push(
    svg.scatterChart({
      id: 'chart-latency-time',
      title: 'Response time by request start',
      points: shown.map((r) => ({ x: r.start / 1000, y: r.duration, ok: r.success, note: r.error })),
      line: samplePath(rollingMedian(rows)),
      xLabel: 'seconds since the first request (line: rolling median)',
      yLabel: 'response time (ms)',
      xUnit: 's',
      yUnit: 'ms',
    }),
  )
  body.push('</section><section><h2>Latency distribution</h2>')
  body.push(svg.histogram({ id: 'chart-latency', title: 'Response time distribution', values: rows.filter((r) => r.success).map((r) => r.duration), xLabel: 'response time (ms)' }))
  body.push('</section><section><h2>Metrics</h2>')
  body.push(
    svg.table(
      ['Metric', 'Value'],
      [
        ['Load model', config && config.mode === 'open' ? `open: ${config.rate} requests/s for ${ms(config.duration)}` : `closed: ${m.concurrentUsers} users`],
        ['Total requests', String(m.totalRequests)],
        ['Successful', String(m.successfulRequests)],
        ['Failed', String(m.failedRequests)],
        ['Average / min / max', `${ms(m.averageResponseTime)} / ${ms(m.minResponseTime)} / ${ms(m.maxResponseTime)}`],
        ['p50 / p95 / p99', `${ms(m.p50ResponseTime)} / ${ms(m.p95ResponseTime)} / ${ms(m.p99ResponseTime)}`],
        ['Requests/s', m.requestsPerSecond.toFixed(2)],
        ['Errors/s', m.errorsPerSecond.toFixed(2)],
        ['Throughput', `${((m.throughput ?? 0) / 1024).toFixed(2)} KB/s`],
        ['Test duration', ms(m.testDuration)],
      ],
      { id: 'table-metrics' },
    ),
  )
  const failures = new Map()
  for (const r of rows) if (!r.success) failures.set(r.error ?? 'failed', (failures.get(r.error ?? 'failed') ?? 0) + 1)
  if (failures.size) {
    body.push('</section><section><h2>Failures</h2>')
    body.push(svg.table(['Error', 'Count'], [...failures].map(([e, n]) => [{ text: e, cls: 'msg' }, n]), { id: 'table-failures' }))
  }
  body.push('</section>')
  const target = config && config.url ? `url ${config.url}` : config ? `model ${config.model}, fixtures ${config.fixtures}` : ''
  return svg.page({ title: 'Load test report', subtitle: `${timestamp} · ${target}`, body: body.join('\n') })
}

// ---------------------------------------------------------------------------------------------
// compare

/** The guide's "Expected Improvements" table (buildfix-provider-optimization-guide.md). */
const GUIDE_CLAIMS = {
  averageResponseTime: { before: 5000, after: 1500, improvement: 70 },
  requestsPerSecond: { before: 2, after: 8, improvement: 300 },
  memory: { before: 500, after: 200, improvement: 60 },
  cpu: { before: 80, after: 40, improvement: 50 },
  errorRate: { before: 5, after: 1, improvement: 80 },
}

const METRICS = [
  { key: 'averageResponseTime', label: 'Average Response Time', unit: 'ms', better: 'lower', get: (s) => s.averageResponseTime },
  { key: 'requestsPerSecond', label: 'Requests per Second', unit: '', better: 'higher', get: (s) => s.requestsPerSecond },
  { key: 'memory', label: 'Memory Usage', unit: 'MB', better: 'lower', get: (s) => s.peakRss / (1024 * 1024) },
  { key: 'cpu', label: 'CPU Usage', unit: '%', better: 'lower', get: (s) => s.cpuPercent },
  // Utilisation rises when the same work is done faster; the CPU time each request costs is the
  // figure that compares the two providers' work (the guide has no claim for it).
  { key: 'cpuPerRequest', label: 'CPU per Request', unit: 'ms', better: 'lower', get: (s) => (s.totalRequests ? (s.cpuPercent * s.wallMs) / 100 / s.totalRequests : 0) },
  { key: 'errorRate', label: 'Error Rate', unit: '%', better: 'lower', get: (s) => 100 * s.errorRate },
]

/** Improvement in percent the way the guide counts it: reduction for "lower", gain for "higher". */
function improvement(before, after, better) {
  if (!(before > 0)) return null
  return better === 'lower' ? (100 * (before - after)) / before : (100 * (after - before)) / before
}

function round(n, digits) {
  const f = 10 ** digits
  return Math.round(n * f) / f
}

/** The comparison as data: one row per metric, measured and claimed. */
function compareRows(data) {
  return METRICS.map((m) => {
    const before = m.get(data.before)
    const after = m.get(data.after)
    const imp = improvement(before, after, m.better)
    return {
      metric: m.label,
      key: m.key,
      unit: m.unit,
      better: m.better,
      measured: { before: round(before, 2), after: round(after, 2), improvement: imp === null ? null : round(imp, 1) },
      guide: GUIDE_CLAIMS[m.key] ?? { before: null, after: null, improvement: null },
    }
  })
}

function num(v, unit) {
  if (v === null || v === undefined) return 'n/a'
  const text = Math.abs(v) >= 100 ? String(Math.round(v)) : String(round(v, 2))
  return `${text}${unit}`
}

function impText(v) {
  return v === null || v === undefined ? 'n/a' : `${round(v, 1)}%`
}

function compareTable(rows, { markdown }) {
  const headers = ['Metric', 'Before (measured)', 'After (measured)', 'Improvement (measured)', 'Before (guide)', 'After (guide)', 'Improvement (guide)']
  const body = rows.map((r) => [
    r.metric,
    num(r.measured.before, r.unit),
    num(r.measured.after, r.unit),
    impText(r.measured.improvement),
    num(r.guide.before, r.unit),
    num(r.guide.after, r.unit),
    impText(r.guide.improvement),
  ])
  if (markdown) {
    return [`| ${headers.join(' | ')} |`, `|---|${headers.slice(1).map(() => '---:').join('|')}|`, ...body.map((r) => `| ${r.map(mdCell).join(' | ')} |`)].join('\n')
  }
  const widths = headers.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)))
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n')
}

function workloadLine(w) {
  return `model ${w.model}, fixtures ${w.fixtures}, ${w.requests} requests per provider, concurrency ${w.concurrency}, cache ${w.cache ? 'on' : 'off'}`
}

function sideLine(name, s) {
  return `${name}: ${s.totalRequests} requests, ${s.failedRequests} failed, avg ${ms(s.averageResponseTime)}, p50 ${ms(s.p50ResponseTime)}, p95 ${ms(s.p95ResponseTime)}, ${s.requestsPerSecond.toFixed(2)} req/s, peak RSS ${(s.peakRss / 1048576).toFixed(1)} MB, CPU ${s.cpuPercent.toFixed(1)}%`
}

function compareText(data) {
  const rows = compareRows(data)
  return [
    'BuildFixProvider (before) vs EnhancedBuildFixProvider (after)',
    `Workload: ${workloadLine(data.workload)}`,
    '',
    compareTable(rows, { markdown: false }),
    '',
    sideLine('before', data.before),
    sideLine('after ', data.after),
    'Guide figures are the claims of buildfix-provider-optimization-guide.md; measured figures are from this run on this machine.',
    'Memory is peak RSS of this process and its child processes; CPU is their CPU time over wall time (100% = one core).',
  ].join('\n')
}

function compareMarkdown(data) {
  return [
    '# BuildFix provider: before and after',
    '',
    `Workload: ${mdCell(workloadLine(data.workload))}. Measured ${mdCell(data.timestamp)}.`,
    '',
    compareTable(compareRows(data), { markdown: true }),
    '',
    `- before: ${mdCell(sideLine('BuildFixProvider', data.before))}`,
    `- after: ${mdCell(sideLine('EnhancedBuildFixProvider', data.after))}`,
    '',
    'Guide figures are the claims of the optimization guide; measured figures are from this run. Memory is peak RSS of the process and its children; CPU is their CPU time over wall time (100% = one core).',
    '',
  ].join('\n')
}

function compareDocument(data) {
  return { workload: data.workload, timestamp: data.timestamp, before: data.before, after: data.after, table: compareRows(data) }
}

module.exports = {
  resultsDocument,
  runSummaryText,
  runMarkdown,
  familyTable,
  runHtml,
  fallbackLoadTestText,
  loadTestHtml,
  compareRows,
  compareText,
  compareMarkdown,
  compareDocument,
  GUIDE_CLAIMS,
  MAX_POINTS,
  improvement,
  mean,
}
