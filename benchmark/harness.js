'use strict'
// Shared benchmark helpers. Every benchmark first checks that the contenders agree, then runs
// them in interleaved rounds (so drift on a shared machine hits all of them alike), reports the
// median of the rounds, and prints ratios measured in the same run.

const { performance } = require('node:perf_hooks')

function median(values) {
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

/**
 * Runs each contender `rounds` times, interleaved. A contender is `{name, setup?, run}`:
 * `setup()` (untimed) returns a state, `run(state)` does `ops` operations and may be async.
 * Returns `{name: {median, rounds}}` in ns per operation.
 *
 * `clock: 'cpu'` times with the process's CPU time (user + system) instead of the wall clock:
 * for work done on this process's threads it is the cost itself, and other processes competing
 * for the cores do not inflate it.
 */
async function compare({ contenders, ops, rounds = 7, warmup = 1, clock = 'wall' }) {
  const now =
    clock === 'cpu'
      ? () => {
          const u = process.cpuUsage()
          return (u.user + u.system) / 1000
        }
      : () => performance.now()
  const samples = Object.fromEntries(contenders.map((c) => [c.name, []]))
  for (let round = -warmup; round < rounds; round++) {
    for (const c of contenders) {
      const state = c.setup ? await c.setup() : undefined
      const started = now()
      await c.run(state)
      const elapsed = now() - started
      if (c.teardown) await c.teardown(state)
      if (round >= 0) samples[c.name].push((elapsed * 1e6) / ops)
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([name, s]) => [name, { median: median(s), rounds: s }]))
}

/** Prints a table of ns/op with ratios against `baseline`. */
function report(title, results, baseline) {
  const base = results[baseline].median
  console.log(`\n${title}`)
  const width = Math.max(...Object.keys(results).map((n) => n.length))
  for (const [name, r] of Object.entries(results)) {
    const ratio = r.median / base
    const note = name === baseline ? '(baseline)' : `${ratio.toFixed(2)}x the time of ${baseline}`
    console.log(`  ${name.padEnd(width)}  ${formatNs(r.median).padStart(10)}/op  ${note}`)
  }
}

function formatNs(ns) {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`
  return `${ns.toFixed(0)} ns`
}

/** Throws unless `actual` deep-equals `expected`: contenders must give the same answer. */
function assertSame(label, actual, expected) {
  const a = JSON.stringify(actual)
  const e = JSON.stringify(expected)
  if (a !== e) throw new Error(`${label}: contenders disagree: ${a} vs ${e}`)
}

module.exports = { compare, report, median, formatNs, assertSame }
