'use strict'
// Checking a fixture folder before trusting it: a readable fixture.json, its target error present,
// its gold plan valid, and the gold plan removing the target without breaking anything else.
// The check runs on a temporary copy, so the fixture itself is never edited.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { collectDiagnostics, formatDiagnostic, hasTarget } = require('./diagnostics')
const { validatePlan, applyPlan } = require('./plan')
const { listFixtures } = require('./fixtures')

/** Copies a fixture folder, leaving out what is not part of it (dependencies, git, build output). */
function copyFixture(src, dst) {
  fs.cpSync(src, dst, {
    recursive: true,
    filter: (p) => !['node_modules', '.git'].includes(path.basename(p)),
  })
}

function checkTargetShape(t) {
  if (t === null || typeof t !== 'object') return 'target must be {code, file, line}'
  if (!/^(TS)?\d+$/i.test(String(t.code))) return `target.code must be a diagnostic code like 2305, got ${JSON.stringify(t.code)}`
  if (typeof t.file !== 'string' || t.file === '' || path.isAbsolute(t.file)) return 'target.file must be a path relative to the fixture'
  if (!Number.isInteger(t.line) || t.line < 1) return 'target.line must be a positive integer'
  return null
}

// A diagnostic "is the same" after an edit when code, file and message match: lines move when a
// plan inserts or removes lines above.
const key = (d) => `${d.code}\0${d.file}\0${d.message}`

/**
 * Validates one fixture folder. Returns `{name, dir, ok, problems, family, target,
 * errorsBefore, errorsAfter}`; `problems` lists every reason it cannot be trusted (empty when
 * `ok`). Never throws for a bad fixture.
 */
function validateFixture(fixtureDir) {
  const dir = path.resolve(fixtureDir)
  const report = {
    name: path.basename(dir),
    dir,
    ok: false,
    problems: [],
    family: null,
    target: null,
    errorsBefore: null,
    errorsAfter: null,
  }
  const problem = (text) => report.problems.push(text)
  let fx
  try {
    fx = JSON.parse(fs.readFileSync(path.join(dir, 'fixture.json'), 'utf8'))
  } catch (err) {
    problem(`fixture.json cannot be read: ${err.message}`)
    return report
  }
  if (fx === null || typeof fx !== 'object' || Array.isArray(fx)) {
    problem('fixture.json must hold an object {name, description, family?, target, goldPlan}')
    return report
  }
  if (typeof fx.family === 'string') report.family = fx.family
  if (typeof fx.description !== 'string' || fx.description.trim() === '') problem('description should say what is broken')
  const targetProblem = checkTargetShape(fx.target)
  if (targetProblem) problem(targetProblem)
  else report.target = { code: Number(String(fx.target.code).replace(/^TS/i, '')), file: fx.target.file, line: fx.target.line }
  let plan
  try {
    plan = validatePlan(fx.goldPlan)
  } catch (err) {
    problem(`goldPlan: ${err.message}`)
  }
  if (!fs.existsSync(path.join(dir, 'tsconfig.json'))) problem('there is no tsconfig.json')
  if (report.problems.some((p) => !p.startsWith('description'))) return report

  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'promethean-fixture-check-'))
  try {
    const copy = path.join(scratch, report.name)
    copyFixture(dir, copy)
    let before
    try {
      before = collectDiagnostics(copy)
    } catch (err) {
      problem(`the project cannot be type-checked: ${err.message}`)
      return report
    }
    report.errorsBefore = before.length
    if (!hasTarget(before, report.target)) {
      const near = before.filter((d) => d.file === report.target.file).map(formatDiagnostic)
      problem(
        `the target TS${report.target.code} at ${report.target.file}:${report.target.line} is not reported${
          near.length ? ` (that file has: ${near.slice(0, 3).join('; ')})` : before.length ? '' : ' (the project has no error at all)'
        }`,
      )
      return report
    }
    try {
      applyPlan(copy, plan)
    } catch (err) {
      problem(`the gold plan does not apply: ${err.message}`)
      return report
    }
    const after = collectDiagnostics(copy)
    report.errorsAfter = after.length
    if (hasTarget(after, report.target)) problem('the gold plan leaves the target error in place')
    const had = new Set(before.map(key))
    const added = after.filter((d) => !had.has(key(d)))
    if (added.length > 0) problem(`the gold plan adds ${added.length} error(s): ${added.slice(0, 3).map(formatDiagnostic).join('; ')}`)
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true })
  }
  report.ok = report.problems.length === 0
  return report
}

/**
 * Validates `dir`: a fixture folder itself (it has fixture.json) or a folder of fixture folders.
 * Resolves to the reports, one per fixture, in name order. Yields to the event loop between
 * fixtures (each is some milliseconds of compiler work), so a signal or a timer is served.
 */
async function validateFixtures(dir, { signal, onReport } = {}) {
  const root = path.resolve(dir)
  const dirs = fs.existsSync(path.join(root, 'fixture.json')) ? [root] : listFixtures(root)
  const reports = []
  for (const d of dirs) {
    if (signal?.aborted) break
    await new Promise((resolve) => setImmediate(resolve))
    const r = validateFixture(d)
    reports.push(r)
    onReport?.(r)
  }
  return reports
}

module.exports = { validateFixture, validateFixtures, copyFixture }
