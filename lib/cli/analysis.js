'use strict'
// What a run's results say beyond the totals: pass rate, error resolution and duration per error
// family and per error code for each model (with the fixtures behind each cell), and models
// compared pairwise on the fixtures they share. Used by the run reports, `compare-runs` and the
// history; the statistics themselves live in stats.js.

const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')

const { percentile, mean } = require('./summary.js')
const { comparePaired } = require('./stats.js')

const FIXTURE_ROOTS = [path.join(__dirname, '..', '..', 'fixtures', 'small'), path.join(__dirname, '..', '..', 'fixtures', 'massive')]

/**
 * Content hash of a fixture's files: SHA-256 over every file (relative path, size, bytes) in
 * path order. `files` is {relativePath: string | Buffer}. Two fixtures with the same hash are
 * the same project, error and reference plan, whether read from a folder or generated.
 */
function hashFiles(files) {
  const h = crypto.createHash('sha256')
  for (const f of Object.keys(files).sort()) {
    const bytes = Buffer.isBuffer(files[f]) ? files[f] : Buffer.from(files[f])
    h.update(`${f}\0${bytes.length}\0`)
    h.update(bytes)
  }
  return h.digest('hex')
}

/** Content hash of a fixture folder (hashFiles), skipping dot-files, node_modules and dist. */
function hashFixtureDir(dir) {
  const files = {}
  const walk = (rel) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      if (e.name.startsWith('.') || e.name === 'node_modules' || e.name === 'dist') continue
      const child = rel ? `${rel}/${e.name}` : e.name
      if (e.isDirectory()) walk(child)
      else if (e.isFile()) files[child] = fs.readFileSync(path.join(dir, child))
    }
  }
  walk('')
  return hashFiles(files)
}

/**
 * Family, error code and content hash of one fixture, from what is known about it. This is the
 * one place that decides a fixture's family: a `family`/`code` the result or the fixture's
 * metadata carries wins; else the family in a generated fixture's name
 * (`massive-0003-wrongArgCount-order`); else the target's code (`TS2304`) stands for the family.
 */
function fixtureFacts(name, { meta = null, result = null, hash = null } = {}) {
  const rawCode = result?.targetCode ?? result?.code ?? meta?.code ?? meta?.target?.code
  const code = rawCode === undefined || rawCode === null ? null : `TS${String(rawCode).replace(/^TS/i, '')}`
  const fromName = /^massive-\d+-([A-Za-z]+)-/.exec(name)
  const family = result?.family ?? meta?.family ?? (fromName ? fromName[1] : null) ?? code ?? 'unknown'
  return { family, code: code ?? 'unknown', hash: result?.fixtureHash ?? hash }
}

/** Facts for every fixture named in `results`, read from the bundled or generated fixture folders. */
function fixtureCatalog(results, roots = FIXTURE_ROOTS) {
  const out = {}
  for (const r of results) {
    if (Object.hasOwn(out, r.fixture)) continue
    let meta = null
    let hash = null
    // Only plain names: a name from a results file never walks out of the fixture folders.
    if (/^[\w.-]+$/.test(r.fixture) && r.fixture !== '.' && r.fixture !== '..') {
      for (const root of roots) {
        const dir = path.join(root, r.fixture)
        try {
          meta = JSON.parse(fs.readFileSync(path.join(dir, 'fixture.json'), 'utf8'))
          hash = hashFixtureDir(dir)
          break
        } catch {
          meta = null
        }
      }
    }
    out[r.fixture] = fixtureFacts(r.fixture, { meta, result: r, hash })
  }
  return out
}

/** One cell of a breakdown: the figures of a group of results and the fixtures behind them. */
function cell(rs) {
  const durations = rs.map((r) => r.duration)
  return {
    tests: rs.length,
    passed: rs.filter((r) => r.success).length,
    passRate: rs.length ? (100 * rs.filter((r) => r.success).length) / rs.length : 0,
    errorResolution: rs.length ? (100 * rs.filter((r) => r.errorsResolved).length) / rs.length : 0,
    avgDuration: mean(durations),
    p50Duration: percentile(durations, 50),
    fixtures: rs.map((r) => r.fixture),
    failed: rs.filter((r) => !r.success).map((r) => r.fixture),
  }
}

/**
 * Per model and per family (or code): rows `{model, family|code, tests, passed, passRate (%),
 * errorResolution (%), avgDuration (ms), p50Duration (ms), fixtures, failed}`, sorted by model
 * then group.
 */
function breakdown(results, catalog, key) {
  const groups = new Map()
  for (const r of results) {
    const facts = catalog[r.fixture] ?? fixtureFacts(r.fixture, { result: r })
    const id = `${r.model}\0${facts[key]}`
    if (!groups.has(id)) groups.set(id, { model: r.model, group: facts[key], rs: [] })
    groups.get(id).rs.push(r)
  }
  return [...groups.values()]
    .sort((a, b) => (a.model === b.model ? String(a.group).localeCompare(String(b.group)) : a.model.localeCompare(b.model)))
    .map((g) => ({ model: g.model, [key]: g.group, ...cell(g.rs) }))
}

/** First result per fixture name (a fixture run twice by one model counts once). */
function byFixture(results) {
  const m = new Map()
  for (const r of results) if (!m.has(r.fixture)) m.set(r.fixture, r)
  return m
}

/**
 * Paired comparison of two result lists on the fixtures both have: same name and, when both
 * sides know it, same content hash. A fixture whose content differs is listed in `changed`, not
 * paired: its outcomes are not about the same task.
 */
function pairResults(resultsA, resultsB, catalogA, catalogB = catalogA) {
  const a = byFixture(resultsA)
  const b = byFixture(resultsB)
  const pairs = []
  const fixtures = { both: [], onlyA: [], onlyB: [], neither: [] }
  const changed = []
  for (const [name, ra] of a) {
    const rb = b.get(name)
    if (!rb) continue
    const ha = catalogA?.[name]?.hash
    const hb = catalogB?.[name]?.hash
    if (ha && hb && ha !== hb) {
      changed.push(name)
      continue
    }
    pairs.push([ra.success, rb.success])
    const cellName = ra.success && rb.success ? 'both' : ra.success ? 'onlyA' : rb.success ? 'onlyB' : 'neither'
    fixtures[cellName].push(name)
  }
  const unmatchedA = [...a.keys()].filter((k) => !b.has(k))
  const unmatchedB = [...b.keys()].filter((k) => !a.has(k))
  return { ...comparePaired(pairs), fixtures, changed, unmatchedA, unmatchedB }
}

/** Every pair of models of one run, compared on the fixtures both ran. */
function pairwise(results, catalog) {
  const models = [...new Set(results.map((r) => r.model))]
  const out = []
  for (let i = 0; i < models.length; i++) {
    for (let j = i + 1; j < models.length; j++) {
      const ra = results.filter((r) => r.model === models[i])
      const rb = results.filter((r) => r.model === models[j])
      out.push({ a: models[i], b: models[j], ...pairResults(ra, rb, catalog) })
    }
  }
  return out
}

/** The analysis a results document carries: fixture facts, breakdowns and pairwise comparisons. */
function analyze(results, catalog = fixtureCatalog(results)) {
  return {
    fixtures: catalog,
    breakdown: { byFamily: breakdown(results, catalog, 'family'), byCode: breakdown(results, catalog, 'code') },
    pairwise: pairwise(results, catalog),
  }
}

/**
 * Two saved runs compared model by model: models present in both are compared by name; when
 * the runs share no model and each has exactly one, those two are compared (a model before and
 * after a change of name or prompt). Results pair up by fixture name and content hash; fixtures
 * whose content changed between the runs are listed, not paired.
 */
function compareRuns(docA, docB) {
  const catA = docA.fixtures ?? fixtureCatalog(docA.results)
  const catB = docB.fixtures ?? fixtureCatalog(docB.results)
  const modelsA = [...new Set(docA.results.map((r) => r.model))]
  const modelsB = [...new Set(docB.results.map((r) => r.model))]
  let pairs = modelsA.filter((m) => modelsB.includes(m)).map((m) => [m, m])
  if (pairs.length === 0 && modelsA.length === 1 && modelsB.length === 1) pairs = [[modelsA[0], modelsB[0]]]
  const changed = Object.keys(catA).filter((f) => catB[f] && catA[f].hash && catB[f].hash && catA[f].hash !== catB[f].hash)
  return {
    comparisons: pairs.map(([ma, mb]) => ({
      a: ma,
      b: mb,
      ...pairResults(
        docA.results.filter((r) => r.model === ma),
        docB.results.filter((r) => r.model === mb),
        catA,
        catB,
      ),
    })),
    changedFixtures: changed,
    modelsOnlyInA: modelsA.filter((m) => !pairs.some(([x]) => x === m)),
    modelsOnlyInB: modelsB.filter((m) => !pairs.some(([, y]) => y === m)),
  }
}

module.exports = { hashFiles, hashFixtureDir, fixtureFacts, fixtureCatalog, breakdown, pairResults, pairwise, analyze, compareRuns }
