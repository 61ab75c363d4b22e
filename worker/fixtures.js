'use strict'
// Where the bundled fixtures live, and the generated `massive` set.

const fs = require('node:fs')
const path = require('node:path')

const SMALL_DIR = path.join(__dirname, '..', 'fixtures', 'small')
const MASSIVE_DIR = path.join(__dirname, '..', 'fixtures', 'massive')

/** Fixture folders (those holding a fixture.json) directly under `dir`, sorted by name. */
function listFixtures(dir) {
  if (!fs.existsSync(dir)) return []
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(dir, e.name, 'fixture.json')))
    .map((e) => path.join(dir, e.name))
    .sort()
}

/**
 * The massive set in `dir` (default fixtures/massive), generated on first use. A marker file
 * records (count, seed): a folder generated with other parameters is regenerated.
 */
function ensureMassive({ dir = MASSIVE_DIR, count = 200, seed = 1 } = {}) {
  const marker = path.join(dir, '.generated.json')
  const want = JSON.stringify({ count, seed })
  let have
  try {
    have = fs.readFileSync(marker, 'utf8')
  } catch {}
  if (have !== want) {
    fs.rmSync(dir, { recursive: true, force: true })
    require('../fixtures/generate').writeFixtures(dir, { count, seed })
    fs.writeFileSync(marker, want)
  }
  return listFixtures(dir)
}

module.exports = { SMALL_DIR, MASSIVE_DIR, listFixtures, ensureMassive }
