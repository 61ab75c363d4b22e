'use strict'
// `npm run bench`: every benchmark in this folder, one after another, against the release build.
// `npm run bench -- cache pool` runs only those.

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const only = new Set(process.argv.slice(2))
const files = fs
  .readdirSync(__dirname)
  .filter((f) => f.endsWith('.bench.js'))
  .filter((f) => only.size === 0 || only.has(f.replace(/\.bench\.js$/, '')))
  .sort()

let failed = 0
for (const file of files) {
  console.log(`\n=== ${file}`)
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, file)], { stdio: 'inherit' })
  if (r.status !== 0) failed++
}
process.exit(failed ? 1 : 0)
