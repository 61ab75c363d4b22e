'use strict'
// The reports promethean-bench writes: text summaries for the terminal, Markdown, and
// self-contained HTML (inline CSS + inline SVG, no scripts, no network).

const { summarize, percentile, mean, normalizeRecords } = require('./summary.js')
const { analyze } = require('./analysis.js')
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

/** A latency in ms with the precision it has: 0.48ms, 12.3ms, 481ms (the load tester's are exact to 0.1%). */
function latency(n) {
  const v = Number.isFinite(n) ? n : 0
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v)}ms`
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
function resultsDocument(results, { timestamp = new Date().toISOString(), meta, catalog } = {}) {
  const doc = { results, summary: summarize(results), timestamp }
  if (meta) doc.run = meta
  // Beyond the original: fixture facts (family, code, content hash), the per-family and per-code
  // breakdowns, and every pair of models compared on the fixtures both ran.
  Object.assign(doc, analyze(results, catalog))
  return doc
}

// ---------------------------------------------------------------------------------------------
// breakdowns and paired comparisons, shared by the run reports and compare-runs

const BREAKDOWNS = [
  { key: 'family', title: 'By error family', rows: (doc) => doc.breakdown.byFamily, id: 'table-by-family' },
  { key: 'code', title: 'By error code', rows: (doc) => doc.breakdown.byCode, id: 'table-by-code' },
]

function breakdownCells(key, r) {
  return [
    r.model,
    r[key],
    r.tests,
    r.passed,
    pct(r.passRate),
    pct(r.errorResolution),
    secs(r.avgDuration),
    secs(r.p50Duration),
    r.failed.join(', ') || '—',
    r.fixtures.join(', '),
  ]
}

const BREAKDOWN_HEADERS = (label) => ['Model', label, 'Tests', 'Passed', 'Pass rate', 'Error resolution', 'Avg', 'p50', 'Failed fixtures', 'Fixtures']

function pValueText(p) {
  if (p < 0.0001) return '<0.0001'
  return p >= 0.01 ? p.toFixed(3) : p.toPrecision(2)
}

function ciText(c) {
  return `${(100 * c.difference).toFixed(1)} [${(100 * c.ci[0]).toFixed(1)}, ${(100 * c.ci[1]).toFixed(1)}]`
}

const PAIR_HEADERS = [
  'A',
  'B',
  'Fixtures',
  'Both pass',
  'Only A',
  'Only B',
  'Neither',
  'Pass rate A',
  'Pass rate B',
  'Difference A−B, points [95% CI]',
  'McNemar exact p',
  'Verdict',
]

function pairCells(c) {
  return [c.a, c.b, c.n, c.both, c.onlyA, c.onlyB, c.neither, pct(100 * c.passRateA), pct(100 * c.passRateB), ciText(c), pValueText(c.pValue), c.verdict]
}

const PAIR_NOTE =
  'Paired on the fixtures both sides ran (same name and content). p: two-sided exact McNemar test on the discordant fixtures (only A, only B); interval: Newcombe hybrid score 95% CI for the paired difference in pass rate (method 10, 1998). Significant when p < 0.05.'

const MODEL_SERVER_HEADERS = ['Model', 'Endpoint', 'API', 'Prompt tokens', 'Completion tokens', 'Output modes']

/** Where each served model was asked, its token counts and output modes (none for built-ins). */
function modelServerRows(doc) {
  const endpoints = doc.run?.endpoints ?? {}
  return Object.entries(doc.summary.modelResults)
    .filter(([, m]) => m.promptTokens !== undefined)
    .map(([model, m]) => {
      const at = endpoints[model] ?? {}
      const est = m.tokensEstimated ? ' (estimated)' : ''
      const modes =
        Object.entries(m.outputModes ?? {})
          .map(([mode, n]) => `${mode} ${n}`)
          .join(', ') || '—'
      return [model, at.endpoint ?? doc.run?.endpoint ?? '—', at.api ?? '—', `${m.promptTokens}${est}`, `${m.completionTokens}${est}`, modes]
    })
}

function modelServersMarkdown(doc) {
  const rows = modelServerRows(doc)
  if (rows.length === 0) return []
  const lines = ['', '## Model servers', '']
  lines.push(`| ${MODEL_SERVER_HEADERS.join(' | ')} |`)
  lines.push('|---|---|---|---:|---:|---|')
  for (const row of rows) lines.push(`| ${row.map((c) => mdCell(String(c))).join(' | ')} |`)
  return lines
}

function modelServersHtml(doc) {
  const rows = modelServerRows(doc)
  if (rows.length === 0) return ''
  return `<section><h2>Model servers</h2>${svg.table(MODEL_SERVER_HEADERS, rows, { id: 'table-model-servers' })}</section>`
}

function breakdownMarkdown(doc) {
  const lines = []
  for (const b of BREAKDOWNS) {
    lines.push('', `## ${b.title}`, '')
    const headers = BREAKDOWN_HEADERS(b.key === 'family' ? 'Family' : 'Code')
    lines.push(
      `| ${headers.join(' | ')} |`,
      `|---|---|${headers
        .slice(2)
        .map(() => '---')
        .join('|')}|`,
    )
    for (const r of b.rows(doc)) lines.push(`| ${breakdownCells(b.key, r).map(mdCell).join(' | ')} |`)
  }
  return lines
}

function pairsMarkdown(comparisons, title) {
  if (!comparisons.length) return []
  const lines = [
    '',
    `## ${title}`,
    '',
    `| ${PAIR_HEADERS.join(' | ')} |`,
    `|---|---|${PAIR_HEADERS.slice(2)
      .map(() => '---:')
      .join('|')}|`,
  ]
  for (const c of comparisons) lines.push(`| ${pairCells(c).map(mdCell).join(' | ')} |`)
  lines.push('', PAIR_NOTE)
  for (const c of comparisons) {
    if (c.onlyA + c.onlyB > 0)
      lines.push(
        `- ${mdCell(c.a)} vs ${mdCell(c.b)}: only A on ${mdCell(c.fixtures.onlyA.join(', ') || '—')}; only B on ${mdCell(c.fixtures.onlyB.join(', ') || '—')}`,
      )
  }
  return lines
}

function breakdownHtml(doc) {
  const body = []
  for (const b of BREAKDOWNS) {
    const rows = b.rows(doc)
    body.push(`<section><h2>${escapeHtml(b.title)}</h2>`)
    if (b.key === 'family') {
      const models = [...new Set(rows.map((r) => r.model))]
      const groups = [...new Set(rows.map((r) => r.family))]
      body.push(
        svg.groupedBarChart({
          id: 'chart-by-family',
          title: 'Pass rate per error family and model (%)',
          groups: groups.map((g) => ({ label: g, values: models.map((m) => rows.find((r) => r.model === m && r.family === g)?.passRate ?? 0) })),
          series: models.map((m, i) => ({ name: m, cls: `s${i % 6}` })),
          max: 100,
          unit: '%',
          yLabel: 'pass rate %',
          xLabel: 'error family',
        }),
      )
    }
    body.push(
      svg.table(
        BREAKDOWN_HEADERS(b.key === 'family' ? 'Family' : 'Code'),
        rows.map((r) => {
          const c = breakdownCells(b.key, r)
          c[8] = { text: c[8], cls: r.failed.length ? 'fail' : 'msg' }
          c[9] = { text: c[9], cls: 'msg' }
          return c
        }),
        { id: b.id },
      ),
    )
    body.push('</section>')
  }
  return body.join('\n')
}

function pairsHtml(comparisons, { title, id = 'pairwise' }) {
  if (!comparisons.length) return ''
  const label = (c) => `${c.a} vs ${c.b}`
  const body = [`<section><h2>${escapeHtml(title)}</h2>`]
  body.push(
    svg.groupedBarChart({
      id: `chart-${id}-table`,
      title: 'Paired outcomes per comparison (fixtures)',
      groups: comparisons.map((c) => ({ label: label(c), values: [c.both, c.onlyA, c.onlyB, c.neither] })),
      series: [
        { name: 'both pass', cls: 'both' },
        { name: 'only A', cls: 'onlyA' },
        { name: 'only B', cls: 'onlyB' },
        { name: 'neither', cls: 'neither' },
      ],
      yLabel: 'fixtures',
    }),
  )
  body.push(
    svg.intervalChart({
      id: `chart-${id}-ci`,
      title: 'Difference in pass rate A − B with 95% CI (points)',
      items: comparisons.map((c) => ({ label: label(c), value: 100 * c.difference, lower: 100 * c.ci[0], upper: 100 * c.ci[1], significant: c.significant })),
      yLabel: 'A − B, percentage points',
    }),
  )
  body.push(
    svg.table(
      PAIR_HEADERS,
      comparisons.map((c) => {
        const cells = pairCells(c)
        cells[11] = { text: c.verdict, cls: c.significant ? (c.passRateA > c.passRateB ? 'better' : 'worse') : 'msg' }
        return cells
      }),
      { id: `table-${id}` },
    ),
  )
  body.push(`<p class="msg">${escapeHtml(PAIR_NOTE)}</p></section>`)
  return body.join('\n')
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
  for (const c of doc.pairwise ?? []) lines.push(pairLine(c))
  return lines.join('\n')
}

function pairLine(c) {
  return `  ${c.a} vs ${c.b}: ${c.n} shared fixtures, both ${c.both}, only ${c.a === c.b ? 'A' : c.a} ${c.onlyA}, only ${c.a === c.b ? 'B' : c.b} ${c.onlyB}, neither ${c.neither}; difference ${ciText(c)} points, McNemar p ${pValueText(c.pValue)}: ${c.verdict}`
}

// ---------------------------------------------------------------------------------------------
// history

function seriesName(t) {
  return t.endpoint ? `${t.model} @ ${t.endpoint}` : t.model
}

function historyText(data) {
  const lines = ['BuildFix run history', '====================', `History: ${data.history}`]
  if (data.trend.length === 0) lines.push('No run recorded yet.')
  for (const t of data.trend) {
    lines.push('', `${seriesName(t)} (${t.totalRuns} run${t.totalRuns === 1 ? '' : 's'}; last ${t.runs.length}):`)
    lines.push('  run   timestamp                 pass rate         p50       p95       tokens  plan  version')
    for (const r of t.runs) {
      lines.push(
        `  ${String(r.id).padEnd(5)} ${r.timestamp.padEnd(25)} ${`${pct(r.passRate)} (${r.passed}/${r.tests})`.padEnd(17)} ${ms(r.p50Duration).padEnd(9)} ${ms(r.p95Duration).padEnd(9)} ${String(r.tokens ?? '—').padEnd(7)} v${r.planFormatVersion}    ${r.packageVersion}`,
      )
    }
  }
  if (data.checks) {
    lines.push('', 'Check of the latest run of each model:')
    for (const c of data.checks)
      lines.push(`${c.status === 'regression' ? 'REGRESSION' : c.status === 'ok' ? 'ok' : 'no baseline'}  ${seriesName(c)}: ${c.reasons.join('; ')}`)
  }
  return lines.join('\n')
}

/** The trend charts: one series per model, runs aligned on the right (the latest last). */
function historyCharts(trend) {
  const width = Math.max(1, ...trend.map((t) => t.runs.length))
  const xLabels = Array.from({ length: width }, (_, i) => (i === width - 1 ? 'latest' : `-${width - 1 - i}`))
  const series = (get) =>
    trend.map((t) => ({
      name: seriesName(t),
      points: t.runs.map((r, i) => ({ x: width - t.runs.length + i, y: get(r), note: `run ${r.id}, ${r.timestamp}` })).filter((p) => p.y !== null),
    }))
  const charts = [
    svg.lineChart({
      id: 'chart-history-pass-rate',
      title: 'Pass rate per run (%)',
      series: series((r) => r.passRate),
      xLabels,
      yLabel: 'pass rate %',
      xLabel: 'run (latest on the right)',
      unit: '%',
      max: 100,
    }),
    svg.lineChart({
      id: 'chart-history-p50',
      title: 'p50 duration per run (ms)',
      series: series((r) => r.p50Duration),
      xLabels,
      yLabel: 'p50 ms',
      xLabel: 'run',
      unit: 'ms',
    }),
    svg.lineChart({
      id: 'chart-history-p95',
      title: 'p95 duration per run (ms)',
      series: series((r) => r.p95Duration),
      xLabels,
      yLabel: 'p95 ms',
      xLabel: 'run',
      unit: 'ms',
    }),
  ]
  if (trend.some((t) => t.runs.some((r) => r.tokens !== null))) {
    charts.push(
      svg.lineChart({ id: 'chart-history-tokens', title: 'Tokens per run', series: series((r) => r.tokens), xLabels, yLabel: 'tokens', xLabel: 'run' }),
    )
  }
  return charts
}

function historyHtml(data) {
  const body = []
  if (data.checks) {
    const regressions = data.checks.filter((c) => c.status === 'regression').length
    body.push(
      `<div class="cards"><div class="card"><b>${escapeHtml(data.trend.length)}</b><span>models</span></div><div class="card"><b class="${regressions ? 'fail' : 'pass'}">${escapeHtml(regressions)}</b><span>regressions</span></div></div>`,
    )
    body.push('<section><h2>Check of the latest runs</h2>')
    body.push(
      svg.table(
        ['Model', 'Status', 'Reason'],
        data.checks.map((c) => [
          seriesName(c),
          { text: c.status, cls: c.status === 'regression' ? 'fail' : c.status === 'ok' ? 'pass' : 'msg' },
          { text: c.reasons.join('; '), cls: 'msg' },
        ]),
        { id: 'table-history-check' },
      ),
    )
    body.push('</section>')
  }
  if (data.trend.length === 0) body.push('<section><p>No run recorded yet.</p></section>')
  else {
    const titles = ['Pass rate', 'p50 duration', 'p95 duration', 'Tokens']
    historyCharts(data.trend).forEach((chart, i) => {
      body.push(`<section><h2>${titles[i]}</h2>${chart}</section>`)
    })
    body.push('<section><h2>Runs</h2>')
    body.push(
      svg.table(
        ['Model', 'Run', 'Timestamp', 'Fixtures', 'Pass rate', 'Passed', 'p50', 'p95', 'Tokens', 'Plan format', 'Package'],
        data.trend.flatMap((t) =>
          t.runs.map((r) => [
            seriesName(t),
            r.id,
            r.timestamp,
            r.label,
            pct(r.passRate),
            `${r.passed}/${r.tests}`,
            ms(r.p50Duration),
            ms(r.p95Duration),
            r.tokens ?? '—',
            r.planFormatVersion,
            r.packageVersion,
          ]),
        ),
        { id: 'table-history-runs' },
      ),
    )
    body.push('</section>')
  }
  return svg.page({ title: 'BuildFix run history', subtitle: `${data.timestamp} · ${data.history}`, body: body.join('\n') })
}

// ---------------------------------------------------------------------------------------------
// compare-runs

function compareRunsText(data) {
  const lines = [
    'Saved runs compared',
    '===================',
    `A: ${data.a.file} (${data.a.timestamp ?? 'no timestamp'})`,
    `B: ${data.b.file} (${data.b.timestamp ?? 'no timestamp'})`,
  ]
  if (data.comparisons.length === 0) lines.push('No model to compare: the runs share no model (and do not hold one model each).')
  for (const c of data.comparisons) lines.push(pairLine(c))
  if (data.changedFixtures.length) lines.push(`Fixtures whose content changed between the runs (not paired): ${data.changedFixtures.join(', ')}`)
  if (data.modelsOnlyInA.length) lines.push(`Only in A: ${data.modelsOnlyInA.join(', ')}`)
  if (data.modelsOnlyInB.length) lines.push(`Only in B: ${data.modelsOnlyInB.join(', ')}`)
  lines.push(PAIR_NOTE)
  return lines.join('\n')
}

function compareRunsMarkdown(data) {
  const lines = [
    '# Saved BuildFix runs compared',
    '',
    `- **A**: ${mdCell(data.a.file)} (${mdCell(data.a.timestamp)})`,
    `- **B**: ${mdCell(data.b.file)} (${mdCell(data.b.timestamp)})`,
  ]
  if (data.changedFixtures.length) lines.push(`- **Changed fixtures (not paired)**: ${mdCell(data.changedFixtures.join(', '))}`)
  lines.push(...pairsMarkdown(data.comparisons, 'Models, A vs B'))
  if (!data.comparisons.length) lines.push('', 'No model to compare.')
  lines.push('', '---', '*Generated by promethean-bench*', '')
  return lines.join('\n')
}

function compareRunsHtml(data) {
  const body = []
  body.push(
    `<section><h2>Runs</h2>${svg.table(
      ['', 'File', 'Timestamp'],
      [
        ['A', data.a.file, data.a.timestamp ?? ''],
        ['B', data.b.file, data.b.timestamp ?? ''],
      ],
      { id: 'table-runs' },
    )}`,
  )
  if (data.changedFixtures.length)
    body.push(`<p>Fixtures whose content changed between the runs (not paired): ${escapeHtml(data.changedFixtures.join(', '))}</p>`)
  body.push('</section>')
  body.push(
    data.comparisons.length ? pairsHtml(data.comparisons, { title: 'Models, A vs B', id: 'pairwise' }) : '<section><p>No model to compare.</p></section>',
  )
  return svg.page({ title: 'BuildFix runs compared', subtitle: `${data.timestamp} · A ${data.a.file} · B ${data.b.file}`, body: body.join('\n') })
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
  lines.push(...modelServersMarkdown(doc))
  lines.push(...breakdownMarkdown(doc))
  lines.push(...pairsMarkdown(doc.pairwise, 'Models compared pairwise'))
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
    [
      'p95 duration',
      secs(
        percentile(
          results.map((r) => r.duration),
          95,
        ),
      ),
    ],
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
      models.map(([model, m]) => [
        model,
        m.tests,
        m.successfulTests,
        pct(m.successRate),
        pct(m.errorResolution),
        m.totalErrors,
        m.errorsAfter,
        `${m.avgDuration.toFixed(2)}s`,
        `${m.p95Duration.toFixed(2)}s`,
      ]),
      { id: 'table-models' },
    ),
  )
  body.push('</section>')
  body.push(modelServersHtml(doc))
  body.push(breakdownHtml(doc))
  body.push(pairsHtml(doc.pairwise, { title: 'Models compared pairwise', id: 'pairwise' }))
  body.push('<section><h2>Results</h2>')
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
    ['Average', latency(m.averageResponseTime)],
    ['p95', latency(m.p95ResponseTime)],
    ['p99', latency(m.p99ResponseTime)],
  ]
  body.push(`<div class="cards">${cards.map(([k, v]) => `<div class="card"><b>${escapeHtml(v)}</b><span>${escapeHtml(k)}</span></div>`).join('')}</div>`)
  body.push('<section><h2>Latency over time</h2>')
  if (shown.length < rows.length) {
    body.push(
      `<p id="sampled">Showing ${shown.length} of ${rows.length} requests: every failure (up to ${MAX_POINTS / 2}) and successes evenly spread in time; the line is over all of them.</p>`,
    )
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
  body.push(
    svg.histogram({
      id: 'chart-latency',
      title: 'Response time distribution',
      values: rows.filter((r) => r.success).map((r) => r.duration),
      xLabel: 'response time (ms)',
    }),
  )
  body.push('</section><section><h2>Metrics</h2>')
  body.push(
    svg.table(
      ['Metric', 'Value'],
      [
        ['Load model', config && config.mode === 'open' ? `open: ${config.rate} requests/s for ${ms(config.duration)}` : `closed: ${m.concurrentUsers} users`],
        ['Total requests', String(m.totalRequests)],
        ['Successful', String(m.successfulRequests)],
        ['Failed', String(m.failedRequests)],
        ['Average / min / max', `${latency(m.averageResponseTime)} / ${latency(m.minResponseTime)} / ${latency(m.maxResponseTime)}`],
        Number.isFinite(m.p999ResponseTime)
          ? ['p50 / p95 / p99 / p99.9', [m.p50ResponseTime, m.p95ResponseTime, m.p99ResponseTime, m.p999ResponseTime].map(latency).join(' / ')]
          : ['p50 / p95 / p99', [m.p50ResponseTime, m.p95ResponseTime, m.p99ResponseTime].map(latency).join(' / ')],
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
    body.push(
      svg.table(
        ['Error', 'Count'],
        [...failures].map(([e, n]) => [{ text: e, cls: 'msg' }, n]),
        { id: 'table-failures' },
      ),
    )
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
  {
    key: 'cpuPerRequest',
    label: 'CPU per Request',
    unit: 'ms',
    better: 'lower',
    get: (s) => (s.totalRequests ? (s.cpuPercent * s.wallMs) / 100 / s.totalRequests : 0),
  },
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
    return [
      `| ${headers.join(' | ')} |`,
      `|---|${headers
        .slice(1)
        .map(() => '---:')
        .join('|')}|`,
      ...body.map((r) => `| ${r.map(mdCell).join(' | ')} |`),
    ].join('\n')
  }
  const widths = headers.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)))
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n')
}

function workloadLine(w) {
  return `model ${w.model}, fixtures ${w.fixtures}, ${w.requests} requests per provider, concurrency ${w.concurrency}, ${w.workers ? `at most ${w.workers} workers` : 'workers sized to the machine'}, cache ${w.cache ? 'on' : 'off'}`
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
  historyText,
  historyHtml,
  compareRunsText,
  compareRunsMarkdown,
  compareRunsHtml,
  pValueText,
  ciText,
  runSummaryText,
  runMarkdown,
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
