'use strict'
// The compiler side of mining fixtures from git history, run in a child process: type-checking
// a real project takes up to seconds, which must not block the miner's event loop. Only the
// TypeScript compiler API runs here: nothing from the mined repository is executed.
//
// Requests over IPC, one at a time:
//   {id, kind: 'check', dir, fixed, plan}  -> {id, before, after}  the diagnostics of `dir`, and
//      of a copy of it at `fixed` with `plan` applied (the copy is removed afterwards)
//   {id, kind: 'validate', dir}            -> {id, report}         validateFixture(dir)
// A failure answers {id, error}. The process exits when its parent disconnects.

const fs = require('node:fs')

const { collectDiagnostics } = require('./diagnostics')
const { validatePlan, applyPlan } = require('./plan')
const { validateFixture, copyFixture } = require('./validate')

function check({ dir, fixed, plan }) {
  const before = collectDiagnostics(dir)
  try {
    copyFixture(dir, fixed)
    try {
      applyPlan(fixed, validatePlan(plan))
    } catch (err) {
      return { before, error: `the commit's change does not apply as a plan: ${err.message}` }
    }
    return { before, after: collectDiagnostics(fixed) }
  } finally {
    fs.rmSync(fixed, { recursive: true, force: true })
  }
}

process.on('message', (msg) => {
  let answer
  try {
    if (msg.kind === 'check') answer = check(msg)
    else if (msg.kind === 'validate') answer = { report: validateFixture(msg.dir) }
    else answer = { error: `unknown request ${JSON.stringify(msg.kind)}` }
  } catch (err) {
    answer = { error: err && err.message ? err.message : String(err) }
  }
  process.send({ id: msg.id, ...answer })
})
process.on('disconnect', () => process.exit(0))
