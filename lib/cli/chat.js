'use strict'
// promethean-bench chat | health | models: chat benchmarks of model servers through the chat
// providers (lib/chat.js). The servers come from --models name@endpoint, --endpoint and the
// config file, as for `run` (targets.js); each becomes an Ollama or OpenAI-compatible provider
// by its API.

const fs = require('node:fs')
const path = require('node:path')

// The providers load the native addon: only when a command runs, not for --help.
const chat = () => require('../chat.js')
const { UsageError } = require('./args.js')

/** The prompts of a suite without --suite: short, with expected answers, so effectiveness means something. */
const BUILTIN_REQUESTS = [
  { prompt: 'What is the capital of France? Answer in one word.', maxTokens: 16, temperature: 0, metadata: { expected: 'Paris' } },
  { prompt: 'What is 12 times 12? Answer with the number only.', maxTokens: 16, temperature: 0, metadata: { expected: '144' } },
  { prompt: 'Write one sentence explaining what a TypeScript compile error is.', maxTokens: 96, temperature: 0 },
  { prompt: 'List three prime numbers greater than 10, separated by commas.', maxTokens: 32, temperature: 0, metadata: { expected: '11, 13, 17' } },
]

/** Providers' configs from the resolved targets; built-in BuildFix models and serverless ones are refused. */
function providerConfigs(targets, opts) {
  const configs = targets.map((t) => {
    if (t.name === 'gold' || t.name === 'none') {
      throw new UsageError(`--models: ${t.name} is a built-in BuildFix model, not a model server's; name models as name@endpoint (or give --endpoint)`)
    }
    if (!t.endpoint) throw new UsageError(`--models: ${t.name} has no endpoint: give it as ${t.name}@URL, or pass --endpoint`)
    const options = {}
    if (opts.timeout !== undefined) options.timeout = opts.timeout
    if (t.seed !== undefined) options.seed = t.seed
    return {
      name: t.name,
      type: t.api === 'openai' ? 'openai' : 'ollama',
      model: t.name,
      endpoint: t.endpoint,
      api: t.api,
      ...(t.apiKeyEnv ? { apiKeyEnv: t.apiKeyEnv } : {}),
      options,
    }
  })
  // The same model at two servers: each provider is named by its server too.
  const count = new Map()
  for (const c of configs) count.set(c.name, (count.get(c.name) ?? 0) + 1)
  for (const c of configs) if (count.get(c.name) > 1) c.name = `${c.model}@${c.endpoint}`
  return configs
}

/** The suite's requests from --suite FILE ({name?, requests, iterations?, warmupIterations?}) or the built-in ones. */
function loadSuite(opts) {
  let fromFile = {}
  if (opts.suite !== undefined) {
    let text
    try {
      text = fs.readFileSync(path.resolve(opts.suite), 'utf8')
    } catch (err) {
      throw new UsageError(`--suite: cannot read ${opts.suite} (${err.code || err.message})`)
    }
    try {
      fromFile = JSON.parse(text)
    } catch (err) {
      throw new UsageError(`--suite: ${opts.suite} is not JSON (${err.message})`)
    }
    if (fromFile === null || typeof fromFile !== 'object' || !Array.isArray(fromFile.requests) || fromFile.requests.length === 0) {
      throw new UsageError(`--suite: ${opts.suite} must hold {"requests": [{"prompt": "..."}, ...]}`)
    }
    fromFile.requests.forEach((r, i) => {
      if (r === null || typeof r !== 'object' || typeof r.prompt !== 'string')
        throw new UsageError(`--suite: requests[${i}] must be an object with a "prompt" string`)
    })
  }
  const requests = (fromFile.requests ?? BUILTIN_REQUESTS).map((r) => (opts.maxTokens !== undefined ? { ...r, maxTokens: opts.maxTokens } : r))
  return {
    name: typeof fromFile.name === 'string' ? fromFile.name : opts.suite ? path.basename(opts.suite, '.json') : 'built-in prompts',
    requests,
    iterations: opts.iterations ?? fromFile.iterations ?? 1,
    warmupIterations: opts.warmup ?? fromFile.warmupIterations ?? 0,
  }
}

const fmt = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-')

/** One row per provider: the comparison table's figures. */
function comparisonRows(report) {
  return report.suite.providers.map((p) => {
    const own = report.results.filter((r) => r.provider.name === p.name)
    const ok = own.filter((r) => r.success)
    const avg = report.summary.averageMetrics[p.name] ?? {}
    const pct = report.summary.percentiles[p.name]
    const sources = (key) => [...new Set(ok.map((r) => r.response.metadata?.sources?.[key]).filter(Boolean))].join('+') || '-'
    return {
      provider: p.name,
      ok: ok.length,
      total: own.length,
      errorRate: avg.errorRate ?? 0,
      ttftMean: avg.timeToFirstToken,
      ttftP50: pct?.timeToFirstToken.p50,
      ttftP95: pct?.timeToFirstToken.p95,
      tpsMean: avg.tps,
      tpsP50: pct?.tps.p50,
      latencyMean: avg.latency,
      latencyP95: pct?.latency.p95,
      effectiveness: avg.effectiveness,
      tokensSource: sources('tokens'),
      tpsSource: sources('tokensPerSecond'),
      ttftSource: sources('timeToFirstToken'),
      errors: [...new Set(own.filter((r) => !r.success).map((r) => r.error))],
    }
  })
}

const COLUMNS = [
  ['provider', (r) => r.provider],
  ['ok', (r) => `${r.ok}/${r.total}`],
  ['errors', (r) => `${fmt(r.errorRate * 100)}%`],
  ['TTFT ms mean', (r) => fmt(r.ttftMean)],
  ['TTFT p50', (r) => fmt(r.ttftP50)],
  ['TTFT p95', (r) => fmt(r.ttftP95)],
  ['tok/s mean', (r) => fmt(r.tpsMean)],
  ['tok/s p50', (r) => fmt(r.tpsP50)],
  ['latency ms mean', (r) => fmt(r.latencyMean)],
  ['latency p95', (r) => fmt(r.latencyP95)],
  ['effectiveness', (r) => fmt(r.effectiveness, 2)],
  ['tokens from', (r) => r.tokensSource],
  ['tok/s from', (r) => r.tpsSource],
]

function comparisonText(report) {
  const rows = comparisonRows(report)
  const cells = [COLUMNS.map(([h]) => h), ...rows.map((r) => COLUMNS.map(([, f]) => f(r)))]
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map((c) => c[i].length)))
  const lines = cells.map((c) => c.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  '))
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '))
  const errs = rows.flatMap((r) => r.errors.map((e) => `  ${r.provider}: ${e}`))
  return [
    `Chat benchmark: ${report.suite.name} (${report.suite.requests.length} prompts x ${report.suite.iterations} iterations, ${report.suite.warmupIterations} warm-up)`,
    '',
    ...lines,
    '',
    `Success rate: ${fmt(report.summary.successRate * 100)}% of ${report.summary.totalTests}`,
    "TTFT is the arrival of the first streamed token; tok/s from the server's own durations where it gives them, else the stream's timestamps.",
    ...(errs.length > 0 ? ['', 'Errors:', ...errs] : []),
  ].join('\n')
}

function chatMarkdown(report) {
  const rows = comparisonRows(report)
  const head = `| ${COLUMNS.map(([h]) => h).join(' | ')} |\n|${COLUMNS.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`
  const body = rows.map((r) => `| ${COLUMNS.map(([, f]) => String(f(r)).replace(/\|/g, '\\|')).join(' | ')} |`).join('\n')
  const errs = rows.flatMap((r) => r.errors.map((e) => `- **${r.provider}**: ${e}`))
  return `# Chat benchmark: ${report.suite.name}

Generated ${report.generatedAt.toISOString()}. ${report.suite.requests.length} prompts x ${report.suite.iterations} iterations (${report.suite.warmupIterations} warm-up, not counted). Success rate ${fmt(report.summary.successRate * 100)}% of ${report.summary.totalTests}.

${head}
${body}

Time to first token (TTFT) is the arrival of the first streamed token, on a monotonic clock. Tokens are the server's counts (\`tokens from: server\`) or an estimate of 4 characters a token; tokens per second come from the server's own durations (\`server-durations\`, Ollama's eval_count / eval_duration) or from the first and last streamed tokens (\`stream-timestamps\`).
${errs.length > 0 ? `\n## Errors\n\n${errs.join('\n')}\n` : ''}`
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c])

function chatHtml(report) {
  const rows = comparisonRows(report)
  const maxTps = Math.max(1, ...rows.map((r) => r.tpsMean || 0))
  const tr = rows
    .map(
      (r) =>
        `<tr>${COLUMNS.map(([, f], i) => (i === 0 ? `<th>${esc(f(r))}</th>` : `<td>${esc(f(r))}</td>`)).join('')}<td><span class="bar" style="width:${((100 * (r.tpsMean || 0)) / maxTps).toFixed(1)}%"></span></td></tr>`,
    )
    .join('\n')
  const errs = rows.flatMap((r) => r.errors.map((e) => `<li><b>${esc(r.provider)}</b>: ${esc(e)}</li>`))
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Chat benchmark: ${esc(report.suite.name)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}th:first-child{text-align:left}td:last-child{width:160px;text-align:left}.bar{display:inline-block;height:10px;background:#4a7bd0}</style>
</head><body>
<h1>Chat benchmark: ${esc(report.suite.name)}</h1>
<p>Generated ${esc(report.generatedAt.toISOString())}. ${report.suite.requests.length} prompts &times; ${report.suite.iterations} iterations (${report.suite.warmupIterations} warm-up). Success rate ${fmt(report.summary.successRate * 100)}% of ${report.summary.totalTests}.</p>
<table><thead><tr>${COLUMNS.map(([h]) => `<th>${esc(h)}</th>`).join('')}<th>tok/s</th></tr></thead><tbody>
${tr}
</tbody></table>
<p>TTFT is the arrival of the first streamed token (monotonic clock); tokens per second from the server's own durations where it gives them, else from the streamed tokens' timestamps.</p>
${errs.length > 0 ? `<h2>Errors</h2><ul>${errs.join('')}</ul>` : ''}
</body></html>
`
}

/** What the JSON report holds: the report, with each result's provider config by name only where it repeats. */
function chatDocument(report) {
  return { ...report, comparison: comparisonRows(report) }
}

async function withProviders(configs, fn) {
  const providers = configs.map((c) => chat().createProvider(c))
  try {
    return await fn(providers)
  } finally {
    await Promise.all(providers.map((p) => p.disconnect()))
  }
}

module.exports = {
  BUILTIN_REQUESTS,
  providerConfigs,
  loadSuite,
  comparisonRows,
  comparisonText,
  chatMarkdown,
  chatHtml,
  chatDocument,
  withProviders,
}

/**
 * The commands, given main.js's shared pieces `h` ({PROGRAM, progressFor, stamp, writeFileAtomic,
 * finish}) so that exit codes, progress and file naming stay those of the other commands.
 */
function commands(h) {
  async function cmdChat(opts, io) {
    const suite = { ...loadSuite(opts), providers: providerConfigs(opts.targets, opts) }
    if (suite.providers.length === 0) throw new UsageError('no model servers: name them with --models name@endpoint (or --endpoint), or in the config file')
    const runner = new (chat().BenchmarkRunner)()
    const progress = h.progressFor(io, 'requests')
    runner.on('progress', (event) => progress.onProgress(event))
    let report
    try {
      report = await runner.runSuite(suite, { signal: io.signal })
    } finally {
      progress.done()
      await runner.disconnectAll()
    }
    const doc = chatDocument(report)
    const base = path.resolve(opts.out, `chat-results-${h.stamp(report.generatedAt.toISOString())}`)
    const files = { json: `${base}.json`, markdown: `${base}.md`, html: `${base}.html` }
    h.writeFileAtomic(files.json, `${JSON.stringify(doc, null, 2)}\n`)
    h.writeFileAtomic(files.markdown, chatMarkdown(report))
    h.writeFileAtomic(files.html, chatHtml(report))
    if (opts.json) {
      io.stdout.write(`${JSON.stringify({ ...doc, files })}\n`)
      io.stderr.write(`${comparisonText(report)}\nResults saved to: ${files.json}\n`)
    } else {
      io.stdout.write(`${comparisonText(report)}\n\n`)
      io.stdout.write(`Results saved to: ${files.json}\nMarkdown report saved to: ${files.markdown}\nHTML report saved to: ${files.html}\n`)
    }
    return h.finish(io, report.summary.totalTests === 0 || report.summary.successRate < 1)
  }

  async function cmdHealth(opts, io) {
    const configs = providerConfigs(opts.targets, opts)
    if (configs.length === 0) throw new UsageError('no model servers: name them with --models name@endpoint (or --endpoint), or in the config file')
    const rows = await withProviders(configs, (providers) =>
      Promise.all(
        providers.map(async (p) => {
          const started = performance.now()
          const healthy = await p.isHealthy()
          return { provider: p.name, type: p.getType(), endpoint: p.getConfig().endpoint, healthy, ms: performance.now() - started }
        }),
      ),
    )
    if (opts.json) io.stdout.write(`${JSON.stringify({ providers: rows })}\n`)
    else for (const r of rows) io.stdout.write(`${r.healthy ? 'ok  ' : 'DOWN'}  ${r.provider}  ${r.type}  ${r.endpoint}  ${r.ms.toFixed(0)} ms\n`)
    return h.finish(
      io,
      rows.some((r) => !r.healthy),
    )
  }

  async function cmdModels(opts, io) {
    const configs = providerConfigs(opts.targets, opts)
    if (configs.length === 0) throw new UsageError('no model servers: name them with --models name@endpoint (or --endpoint), or in the config file')
    const rows = await withProviders(configs, (providers) =>
      Promise.all(
        providers.map(async (p) => {
          try {
            return { provider: p.name, endpoint: p.getConfig().endpoint, models: await p.listModels() }
          } catch (err) {
            return { provider: p.name, endpoint: p.getConfig().endpoint, models: [], error: err.message }
          }
        }),
      ),
    )
    if (opts.json) io.stdout.write(`${JSON.stringify({ providers: rows })}\n`)
    else {
      for (const r of rows) {
        io.stdout.write(`${r.provider} (${r.endpoint}):${r.error ? ` failed: ${r.error}` : ''}\n`)
        for (const m of r.models) io.stdout.write(`  ${m}\n`)
      }
    }
    return h.finish(
      io,
      rows.some((r) => r.error),
    )
  }

  return { chat: cmdChat, health: cmdHealth, models: cmdModels }
}

module.exports.commands = commands
