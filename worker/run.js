#!/usr/bin/env node
'use strict'
// A command-line runner over the bundled fixtures, printing what the original BuildFix runner
// printed (`Total Tests:`, `Successful Tests:`, `Results saved to: <file>.json`).
//
//   node worker/run.js --models gold,none [--small-fixtures | --massive [--count N] [--seed N] | --fixtures-dir DIR]
//                      [--fixtures a,b] [--endpoint URL] [--api ollama|openai] [--api-key-env NAME]
//                      [--attempts N] [--timeout MS] [--out DIR]
//
// Each job runs on a temporary copy of its fixture, so the bundled fixtures are never edited.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { runJob } = require('./engine')
const { SMALL_DIR, MASSIVE_DIR, listFixtures, ensureMassive } = require('./fixtures')
const { writeResults, summarize } = require('./results')

function parseArgs(argv) {
  const a = {
    models: [],
    set: 'small',
    fixtures: null,
    endpoint: process.env.OLLAMA_HOST || 'http://127.0.0.1:11434',
    attempts: 1,
    timeout: 60000,
    out: '.buildfix-results',
    count: 200,
    seed: 1,
  }
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`)
      return argv[++i]
    }
    if (k === '--models') a.models = v().split(',').filter(Boolean)
    else if (k === '--small-fixtures') a.set = 'small'
    else if (k === '--massive') a.set = 'massive'
    else if (k === '--fixtures-dir') (a.set = 'dir'), (a.dir = path.resolve(v()))
    else if (k === '--fixtures') a.fixtures = new Set(v().split(',').filter(Boolean))
    else if (k === '--endpoint') a.endpoint = v()
    else if (k === '--api') a.api = v()
    else if (k === '--api-key-env') a.apiKeyEnv = v()
    else if (k === '--attempts') a.attempts = Number(v())
    else if (k === '--timeout') a.timeout = Number(v())
    else if (k === '--out') a.out = v()
    else if (k === '--count') a.count = Number(v())
    else if (k === '--seed') a.seed = Number(v())
    else if (k === '--force-refresh')
      continue // accepted for compatibility: nothing is memoized here
    else throw new Error(`unknown argument ${k}`)
  }
  // OLLAMA_HOST is often written without a scheme (`127.0.0.1:11434`).
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(a.endpoint)) a.endpoint = `http://${a.endpoint}`
  if (a.models.length === 0) throw new Error('--models is required (e.g. --models gold,none or a model of the server)')
  return a
}

async function main() {
  const args = parseArgs(process.argv.slice(2))
  let dirs =
    args.set === 'massive' ? ensureMassive({ dir: MASSIVE_DIR, count: args.count, seed: args.seed }) : listFixtures(args.set === 'dir' ? args.dir : SMALL_DIR)
  if (args.fixtures) dirs = dirs.filter((d) => args.fixtures.has(path.basename(d)))
  if (dirs.length === 0) throw new Error('no fixture selected')
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'buildfix-run-'))
  const results = []
  try {
    for (const model of args.models) {
      for (const src of dirs) {
        const dir = path.join(scratch, `${results.length}`)
        fs.cpSync(src, dir, { recursive: true })
        const r = await runJob({
          fixtureDir: dir,
          fixture: path.basename(src),
          model,
          endpoint: args.endpoint,
          api: args.api,
          apiKeyEnv: args.apiKeyEnv,
          maxAttempts: args.attempts,
          attemptTimeoutMs: args.timeout,
        })
        fs.rmSync(dir, { recursive: true, force: true })
        results.push(r)
        console.log(
          `${r.success ? 'PASS' : 'FAIL'} ${model} ${r.fixture} (${r.errorCountBefore} -> ${r.errorCountAfter} errors, ${r.duration.toFixed(0)} ms)${r.errorMessage ? `: ${r.errorMessage}` : ''}`,
        )
      }
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true })
  }
  const s = summarize(results)
  console.log(`Total Tests: ${s.totalTests}`)
  console.log(`Successful Tests: ${s.successfulTests}`)
  writeResults(args.out, results)
}

main().catch((err) => {
  console.error(err.message)
  process.exitCode = 2
})
