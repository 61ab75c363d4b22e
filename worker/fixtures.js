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

/**
 * What each fixture folder under `dir` tests: `{name, dir, family, code, file, line,
 * description}` from its fixture.json (`name` is the folder's, the name requests select by) (`family` is null when the fixture names none). A
 * fixture.json that cannot be read is reported with `error` instead of failing the listing.
 */
function describeFixtures(dir) {
  return listFixtures(dir).map((fixtureDir) => {
    const base = { name: path.basename(fixtureDir), dir: fixtureDir }
    try {
      const fx = JSON.parse(fs.readFileSync(path.join(fixtureDir, 'fixture.json'), 'utf8'))
      const t = fx.target ?? {}
      return {
        ...base,
        family: typeof fx.family === 'string' ? fx.family : null,
        code: Number(String(t.code).replace(/^TS/i, '')),
        file: t.file,
        line: t.line,
        description: typeof fx.description === 'string' ? fx.description : '',
      }
    } catch (err) {
      return { ...base, family: null, code: NaN, error: `fixture.json: ${err.message}` }
    }
  })
}

module.exports = { SMALL_DIR, MASSIVE_DIR, listFixtures, describeFixtures, ensureMassive }
