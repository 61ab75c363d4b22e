import test from 'ava'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { mcnemarExact, wilson, pairedDifferenceCI, pairedTable, comparePaired } = require('../lib/cli/stats.js')
const { fixtureFacts, fixtureCatalog, breakdown, pairwise, compareRuns } = require('../lib/cli/analysis.js')

// Exact p-values by hand: p = min(1, 2 * sum_{i<=min(b,c)} C(b+c, i) / 2^(b+c)).
const MCNEMAR = [
  [0, 0, 1], // no discordant pair
  [0, 1, 1], // 2 * 1/2
  [0, 5, 2 / 32], // 2 * 1/32
  [5, 0, 2 / 32],
  [1, 5, (2 * (1 + 6)) / 64], // 7/32
  [2, 8, (2 * (1 + 10 + 45)) / 1024], // 7/64
  [3, 3, 1], // 2 * 42/64 > 1
  [1, 12, (2 * (1 + 13)) / 8192], // 7/2048
  [10, 25, 71613631 / 4294967296], // 2 * sum_{i<=10} C(35, i) / 2^35, summed exactly with big integers
]

for (const [b, c, p] of MCNEMAR) {
  test(`McNemar exact p for b=${b}, c=${c} is ${p}`, (t) => {
    t.true(Math.abs(mcnemarExact(b, c) - p) < 1e-12, `${mcnemarExact(b, c)} vs ${p}`)
  })
}

test('McNemar exact p stays finite for thousands of discordant pairs (no underflow)', (t) => {
  const p = mcnemarExact(2000, 2000)
  t.true(p > 0.9 && p <= 1)
  const tiny = mcnemarExact(0, 3000)
  t.true(tiny >= 0 && tiny < 1e-300)
  t.true(mcnemarExact(900, 1100) < 0.001)
})

test('Wilson interval by hand: 0 of 10 and 10 of 10', (t) => {
  // z^2 = 3.8415; for x = 0: upper = z^2/n / (1 + z^2/n) = 0.38415 / 1.38415 = 0.27753
  const [l0, u0] = wilson(0, 10)
  t.is(l0, 0)
  t.true(Math.abs(u0 - 0.27753) < 1e-4)
  const [l1, u1] = wilson(10, 10)
  t.true(Math.abs(l1 - (1 - 0.27753)) < 1e-4)
  t.is(u1, 1)
})

// Newcombe's method 10, computed independently (Python, from the formulas of the 1998 paper).
const NEWCOMBE = [
  [{ both: 12, onlyA: 9, onlyB: 2, neither: 21 }, 0.1590909, 0.0182102, 0.2891567],
  [{ both: 5, onlyA: 0, onlyB: 3, neither: 2 }, -0.3, -0.5284126, -0.010571],
  [{ both: 8, onlyA: 0, onlyB: 0, neither: 0 }, 0, -0.3244076, 0.3244076],
  [{ both: 10, onlyA: 2, onlyB: 8, neither: 0 }, -0.3, -0.5431676, 0.0050793],
  [{ both: 3, onlyA: 1, onlyB: 1, neither: 3 }, 0, -0.2847839, 0.2847839],
]

for (const [table, diff, lower, upper] of NEWCOMBE) {
  test(`Newcombe paired CI for ${JSON.stringify(table)}`, (t) => {
    const ci = pairedDifferenceCI(table)
    t.true(Math.abs(ci.difference - diff) < 1e-6)
    t.true(Math.abs(ci.lower - lower) < 1e-6, `lower ${ci.lower}`)
    t.true(Math.abs(ci.upper - upper) < 1e-6, `upper ${ci.upper}`)
  })
}

test('bad counts are RangeErrors naming the count', (t) => {
  t.throws(() => mcnemarExact(-1, 2), { instanceOf: RangeError, message: /^b must be a count/ })
  t.throws(() => mcnemarExact(1, 2.5), { instanceOf: RangeError, message: /^c must be a count/ })
  t.throws(() => pairedDifferenceCI({ both: 1, onlyA: NaN, onlyB: 0, neither: 0 }), { instanceOf: RangeError, message: /^onlyA/ })
})

test('comparePaired: table, rates and verdict', (t) => {
  const pairs = [...Array(7).fill([true, false]), [true, true], [false, false]]
  t.deepEqual(pairedTable(pairs), { both: 1, onlyA: 7, onlyB: 0, neither: 1, n: 9 })
  const c = comparePaired(pairs)
  t.true(Math.abs(c.pValue - 2 / 128) < 1e-12)
  t.true(c.significant)
  t.is(c.verdict, 'A better')
  t.is(
    comparePaired([
      [false, true],
      [true, true],
    ]).verdict,
    'no significant difference',
  )
  t.is(comparePaired([]).pValue, 1)
})

function result(fixture, model, success, extra = {}) {
  return { fixture, model, success, errorCountBefore: 1, errorCountAfter: success ? 0 : 1, errorsResolved: success, duration: 100, attempts: 1, ...extra }
}

test('family and code: from the result, the fixture metadata, a generated name, else the code', (t) => {
  t.deepEqual(fixtureFacts('x', { result: { family: 'imports', code: 2304 } }), { family: 'imports', code: 'TS2304', hash: null })
  t.deepEqual(fixtureFacts('x', { meta: { family: 'barrel', target: { code: 2305 } }, hash: 'h' }), { family: 'barrel', code: 'TS2305', hash: 'h' })
  t.is(fixtureFacts('massive-0003-wrongArgCount-order').family, 'wrongArgCount')
  t.is(fixtureFacts('y', { meta: { target: { code: 7006 } } }).family, 'TS7006')
  t.deepEqual(fixtureFacts('unknown-fixture'), { family: 'unknown', code: 'unknown', hash: null })
})

test('the bundled fixtures are found with their code and a stable content hash; hostile names never walk out', (t) => {
  const cat = fixtureCatalog([result('implicit-any', 'gold', true), result('../../etc', 'gold', true)])
  t.is(cat['implicit-any'].code, 'TS7006')
  t.regex(cat['implicit-any'].hash, /^[0-9a-f]{64}$/)
  t.is(fixtureCatalog([result('implicit-any', 'gold', true)])['implicit-any'].hash, cat['implicit-any'].hash)
  t.is(cat['../../etc'].hash, null)
})

test('breakdown per family and model lists the fixtures behind each cell', (t) => {
  const rs = [result('a1', 'm', true), result('a2', 'm', false), result('b1', 'm', true), result('a1', 'n', false)]
  const cat = { a1: { family: 'A', code: 'TS1', hash: null }, a2: { family: 'A', code: 'TS2', hash: null }, b1: { family: 'B', code: 'TS1', hash: null } }
  const rows = breakdown(rs, cat, 'family')
  t.deepEqual(
    rows.map((r) => [r.model, r.family, r.tests, r.passed, r.passRate, r.fixtures, r.failed]),
    [
      ['m', 'A', 2, 1, 50, ['a1', 'a2'], ['a2']],
      ['m', 'B', 1, 1, 100, ['b1'], []],
      ['n', 'A', 1, 0, 0, ['a1'], ['a1']],
    ],
  )
  t.deepEqual(
    breakdown(rs, cat, 'code').map((r) => [r.model, r.code, r.tests]),
    [
      ['m', 'TS1', 2],
      ['m', 'TS2', 1],
      ['n', 'TS1', 1],
    ],
  )
})

test('pairwise: models on the same fixtures, with the fixtures of each cell', (t) => {
  const rs = []
  for (let i = 0; i < 10; i++) {
    rs.push(result(`f${i}`, 'a', i < 9))
    rs.push(result(`f${i}`, 'b', i < 2 || i === 9))
  }
  rs.push(result('only-a', 'a', true))
  const [c] = pairwise(rs, {})
  t.is(c.n, 10)
  t.deepEqual([c.both, c.onlyA, c.onlyB, c.neither], [2, 7, 1, 0])
  t.deepEqual(c.fixtures.onlyB, ['f9'])
  t.deepEqual(c.unmatchedA, ['only-a'])
  t.is(c.pValue, mcnemarExact(7, 1))
})

test('compareRuns pairs by fixture and content hash; a changed fixture is listed, not paired', (t) => {
  const docA = {
    results: [result('f1', 'm', true), result('f2', 'm', true), result('f3', 'm', true)],
    fixtures: { f1: { hash: 'x' }, f2: { hash: 'y' }, f3: { hash: 'z' } },
  }
  const docB = {
    results: [result('f1', 'm', false), result('f2', 'm', true), result('f3', 'm', false)],
    fixtures: { f1: { hash: 'x' }, f2: { hash: 'y' }, f3: { hash: 'CHANGED' } },
  }
  const out = compareRuns(docA, docB)
  t.deepEqual(out.changedFixtures, ['f3'])
  const [c] = out.comparisons
  t.is(c.n, 2)
  t.deepEqual(c.changed, ['f3'])
  t.deepEqual(c.fixtures.onlyA, ['f1'])
  // One model each with different names: those two are compared.
  const renamed = compareRuns(docA, { ...docB, results: docB.results.map((r) => ({ ...r, model: 'm2' })) })
  t.deepEqual(
    renamed.comparisons.map((x) => [x.a, x.b]),
    [['m', 'm2']],
  )
})
