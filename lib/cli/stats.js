'use strict'
// The statistics behind "is model A really better than B on these fixtures, or is it noise":
// paired pass/fail outcomes on the same fixtures, compared with McNemar's exact test and a
// confidence interval for the difference in pass rate. Every report, `compare-runs` and
// `history --check` use these functions and no others.

/** z for a two-sided 95% interval (the 0.975 quantile of the standard normal). */
const Z95 = 1.959963984540054

/**
 * The paired 2x2 table of two outcome lists matched by key: `both` pass, `onlyA`, `onlyB`,
 * `neither`. `pairs` is [[passA, passB], ...].
 */
function pairedTable(pairs) {
  const t = { both: 0, onlyA: 0, onlyB: 0, neither: 0, n: 0 }
  for (const [a, b] of pairs) {
    if (a && b) t.both++
    else if (a) t.onlyA++
    else if (b) t.onlyB++
    else t.neither++
    t.n++
  }
  return t
}

/**
 * Two-sided exact McNemar p-value: under the null the discordant pairs split as
 * Binomial(b + c, 1/2), and p = min(1, 2 * P(X <= min(b, c))) (the doubled one-sided exact
 * binomial test; McNemar 1947, exact form as in Agresti, Categorical Data Analysis, 3rd ed.,
 * section 11.1.3). No discordant pair at all gives p = 1.
 */
function mcnemarExact(b, c) {
  checkCount('b', b)
  checkCount('c', c)
  const n = b + c
  if (n === 0) return 1
  const k = Math.min(b, c)
  // Summed in log space so that 0.5^n does not underflow for large n.
  const ln2n = n * Math.LN2
  let logC = 0 // log C(n, 0)
  let tail = 0
  for (let i = 0; i <= k; i++) {
    tail += Math.exp(logC - ln2n)
    logC += Math.log(n - i) - Math.log(i + 1)
  }
  return Math.min(1, 2 * tail)
}

/** Wilson score interval for x successes out of n (Wilson 1927); [0, 1] when n is 0. */
function wilson(x, n, z = Z95) {
  if (n === 0) return [0, 1]
  const p = x / n
  const z2 = z * z
  const denom = 1 + z2 / n
  const centre = (p + z2 / (2 * n)) / denom
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom
  // Exactly 0 and 1 at the ends (the formula gives them up to rounding).
  return [x === 0 ? 0 : Math.max(0, centre - half), x === n ? 1 : Math.min(1, centre + half)]
}

/**
 * 95% confidence interval for the difference of paired proportions pA - pB, by Newcombe's
 * hybrid score method without continuity correction ("method 10" of R. G. Newcombe, Improved
 * confidence intervals for the difference between binomial proportions based on paired data,
 * Statistics in Medicine 17:2635-2650, 1998): the Wilson intervals of both marginal pass rates,
 * combined with the correlation phi of the paired table. Unlike the Wald interval it stays in
 * [-1, 1] and behaves with small n and rates near 0 or 1, which is what benchmark tables have.
 */
function pairedDifferenceCI({ both, onlyA, onlyB, neither }, z = Z95) {
  for (const [name, v] of Object.entries({ both, onlyA, onlyB, neither })) checkCount(name, v)
  const n = both + onlyA + onlyB + neither
  if (n === 0) return { difference: 0, lower: -1, upper: 1 }
  const pA = (both + onlyA) / n
  const pB = (both + onlyB) / n
  const [lA, uA] = wilson(both + onlyA, n, z)
  const [lB, uB] = wilson(both + onlyB, n, z)
  const marg = (both + onlyA) * (onlyB + neither) * (both + onlyB) * (onlyA + neither)
  // Newcombe sets phi to 0 when a margin is empty (the product is then 0).
  const phi = marg === 0 ? 0 : (both * neither - onlyA * onlyB) / Math.sqrt(marg)
  const theta = pA - pB
  const dl = Math.sqrt(Math.max(0, (pA - lA) ** 2 - 2 * phi * (pA - lA) * (uB - pB) + (uB - pB) ** 2))
  const du = Math.sqrt(Math.max(0, (uA - pA) ** 2 - 2 * phi * (uA - pA) * (pB - lB) + (pB - lB) ** 2))
  return { difference: theta, lower: Math.max(-1, theta - dl), upper: Math.min(1, theta + du) }
}

/** The level below which a pass-rate difference is reported as significant. */
const ALPHA = 0.05

/**
 * Everything a report says about two sets of paired outcomes: the table, pass rates of each
 * side, McNemar's exact p and the Newcombe interval of the difference, and a verdict.
 */
function comparePaired(pairs) {
  const table = pairedTable(pairs)
  const p = mcnemarExact(table.onlyA, table.onlyB)
  const ci = pairedDifferenceCI(table)
  const rateA = table.n ? (table.both + table.onlyA) / table.n : 0
  const rateB = table.n ? (table.both + table.onlyB) / table.n : 0
  let verdict = 'no significant difference'
  if (p < ALPHA) verdict = rateA > rateB ? 'A better' : 'B better'
  return { ...table, passRateA: rateA, passRateB: rateB, difference: ci.difference, ci: [ci.lower, ci.upper], pValue: p, significant: p < ALPHA, verdict }
}

function checkCount(name, v) {
  if (!Number.isInteger(v) || v < 0) throw new RangeError(`${name} must be a count (a whole number >= 0), got ${v}`)
}

module.exports = { Z95, ALPHA, pairedTable, mcnemarExact, wilson, pairedDifferenceCI, comparePaired }
