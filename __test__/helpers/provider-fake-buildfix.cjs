#!/usr/bin/env node
'use strict'
// A stand-in for a monorepo's BuildFix runner (command mode of the provider). It records the
// argument vector it was given and prints what the original runner printed.
//
//   node provider-fake-buildfix.cjs --out DIR [--summary-only] --models M [--small-fixtures]

const fs = require('node:fs')
const path = require('node:path')

const argv = process.argv.slice(2)
const at = (flag) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined)
const out = at('--out')
const model = at('--models')
fs.mkdirSync(out, { recursive: true })
fs.writeFileSync(path.join(out, 'argv.json'), JSON.stringify(argv))
console.log('PASS a (1 -> 0 errors)')
console.log('Total Tests: 3')
console.log('Successful Tests: 2')
if (!argv.includes('--summary-only')) {
  const results = ['a', 'b', 'c'].map((fixture, i) => ({
    fixture,
    model,
    success: i < 2,
    errorCountBefore: 1,
    errorCountAfter: i < 2 ? 0 : 1,
    errorsResolved: i < 2,
    planGenerated: true,
    duration: 10 * (i + 1),
    attempts: 1,
  }))
  const file = path.join(out, 'results.json')
  fs.writeFileSync(file, JSON.stringify({ results, summary: {}, timestamp: Date.now() }))
  console.log(`Results saved to: ${file}`)
}
