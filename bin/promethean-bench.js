#!/usr/bin/env node
'use strict'
// promethean-bench: BuildFix benchmark, load test and before/after comparison. See docs/cli.md.

const { main } = require('../lib/cli/main.js')

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    process.stderr.write(`promethean-bench: internal error: ${err && err.stack ? err.stack : err}\n`)
    process.exitCode = 1
  },
)
