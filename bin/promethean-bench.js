#!/usr/bin/env node
'use strict'
// promethean-bench: BuildFix benchmark, load test and before/after comparison. See docs/cli.md.

const { main } = require('../lib/cli/main.js')

// The first Ctrl-C stops new work, lets what is in flight finish and the providers shut down
// their workers, then writes the partial reports (exit 130). A second one quits at once.
const interrupt = new AbortController()
process.once('SIGINT', () => {
  process.stderr.write('\npromethean-bench: interrupting: finishing the work in flight (Ctrl-C again to quit now)\n')
  interrupt.abort()
  process.once('SIGINT', () => process.exit(130))
})

main(process.argv.slice(2), { signal: interrupt.signal }).then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    process.stderr.write(`promethean-bench: internal error: ${err && err.stack ? err.stack : err}\n`)
    process.exitCode = 1
  },
)
