'use strict'
// Results files in the format of the original BuildFix runner: `{results, summary, timestamp}`,
// announced by the line `Results saved to: <file>.json` (which the original's callers parse).

const fs = require('node:fs')
const path = require('node:path')

const { makeDirSync } = require('../lib/dirs.js')

/**
 * Totals over BuildFixResults. `totalTests`/`successfulTests` are the figures the original
 * runner printed as `Total Tests:` and `Successful Tests:`.
 */
function summarize(results) {
  const list = Array.isArray(results) ? results : []
  const totalTests = list.length
  const successfulTests = list.filter((r) => r && r.success).length
  const sum = (f) => list.reduce((s, r) => s + (Number(r && r[f]) || 0), 0)
  const errorsBefore = sum('errorCountBefore')
  // Results of the original runner have no count: it is the drop in errors.
  const errorsResolved = list.reduce(
    (s, r) => s + (Number(r && r.errorsResolvedCount) || Math.max(0, Number(r && r.errorCountBefore) - Number(r && r.errorCountAfter)) || 0),
    0,
  )
  const models = [...new Set(list.map((r) => r && r.model).filter((m) => typeof m === 'string'))]
  return {
    totalTests,
    successfulTests,
    failedTests: totalTests - successfulTests,
    successRate: totalTests ? successfulTests / totalTests : 0,
    plansGenerated: list.filter((r) => r && r.planGenerated).length,
    totalErrorsBefore: errorsBefore,
    totalErrorsAfter: sum('errorCountAfter'),
    totalErrorsResolved: errorsResolved,
    resolutionRate: errorsBefore ? errorsResolved / errorsBefore : 0,
    averageDuration: totalTests ? sum('duration') / totalTests : 0,
    totalAttempts: sum('attempts'),
    models,
  }
}

/**
 * Writes `{results, summary, timestamp}` to `<dir>/buildfix-results-<timestamp>.json` (creating
 * `dir`; written to a temporary name and renamed, so a reader never sees half a file), prints
 * `Results saved to: <file>` unless `quiet`, and returns the file's absolute path.
 */
function writeResults(dir, results, { quiet = false, name } = {}) {
  if (typeof dir !== 'string' || dir === '') throw new TypeError('dir must be a non-empty string')
  if (!Array.isArray(results)) throw new TypeError('results must be an array of BuildFixResult')
  makeDirSync(dir)
  const timestamp = new Date().toISOString()
  const base = name ?? `buildfix-results-${timestamp.replace(/[:.]/g, '-')}-${process.pid}`
  const file = path.resolve(dir, base.endsWith('.json') ? base : `${base}.json`)
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, `${JSON.stringify({ results, summary: summarize(results), timestamp }, null, 2)}\n`)
  fs.renameSync(tmp, file)
  if (!quiet) console.log(`Results saved to: ${file}`)
  return file
}

/** Reads a results file written by `writeResults` (or by the original runner). */
function readResults(file) {
  const data = JSON.parse(fs.readFileSync(file, 'utf8'))
  if (!data || !Array.isArray(data.results)) throw new Error(`${file} is not a BuildFix results file (no results array)`)
  return data
}

module.exports = { summarize, writeResults, readResults }
