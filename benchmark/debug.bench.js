'use strict'
// DEBUG=buildfix:* costs nothing measurable while off. Three rows:
// 1. A JS logger that is off, against the `debug` package's logger that is off (what users of
//    the npm ecosystem would pick) and against no logging call at all.
// 2. A core event whose namespace is off (one relaxed atomic load in Rust), against a call of the
//    same binding that reaches no switch: the difference is the switch's cost at the boundary.
// 3. A workload that emits a core event on every operation (a full LRU cache: every set evicts)
//    with the cache namespace off, against the same cache with the namespace on and a sink that
//    drops the lines: what turning it on costs, to compare with row 2's off cost.

delete process.env.DEBUG
const debugPkg = require('debug')
const { AdvancedCache } = require('..')
const debug = require('../lib/debug.js')
const { binding } = require('../lib/native.js')
const { compare, report } = require('./harness.js')

async function main() {
  debug.enable('')
  debugPkg.disable()
  const ours = debug.createDebug('buildfix:bench')
  const theirs = debugPkg('buildfix:bench')
  let sink = 0
  const none = (a, b) => {
    sink += b
  }
  if (ours.enabled || theirs.enabled) throw new Error('both loggers must be off')
  const N = 2_000_000
  const js = await compare({
    ops: N,
    rounds: 9,
    contenders: [
      {
        name: 'no logging call',
        run: () => {
          for (let i = 0; i < N; i++) none('job %d done', i)
        },
      },
      {
        name: 'buildfix log() off',
        run: () => {
          for (let i = 0; i < N; i++) {
            ours('job %d done', i)
            sink += i
          }
        },
      },
      {
        name: 'debug package off',
        run: () => {
          for (let i = 0; i < N; i++) {
            theirs('job %d done', i)
            sink += i
          }
        },
      },
    ],
  })
  report(`JS logger while off (${N} calls)`, js, 'no logging call')

  const M = 200_000
  const native = await compare({
    ops: M,
    rounds: 9,
    contenders: [
      {
        name: 'binding call, no switch',
        run: () => {
          for (let i = 0; i < M; i++) binding.debugEvent('none', 'x')
        },
      },
      {
        name: 'core event, namespace off',
        run: () => {
          for (let i = 0; i < M; i++) binding.debugEvent('cache', 'x')
        },
      },
    ],
  })
  report(`Core event while off (${M} calls through the binding)`, native, 'binding call, no switch')

  const K = 20_000
  const value = { fixture: 'missing-export', errors: [1, 2, 3] }
  const work = async (cache) => {
    for (let i = 0; i < K; i++) await cache.set(`k${i}`, value)
  }
  const setup = (on) => () => {
    debug.enable(on ? 'buildfix:cache' : '')
    // A sink that drops what it gets: the cost of the switch and the crossing, not of stderr.
    const drop = debug.createDebug('buildfix:cache')
    drop.enabled = false
    return new AdvancedCache({ maxSize: 100, cleanupInterval: 0 })
  }
  const teardown = (cache) => {
    cache.destroy()
    debug.enable('')
  }
  const cache = await compare({
    ops: K,
    rounds: 7,
    contenders: [
      { name: 'evicting sets, cache events off', setup: setup(false), run: work, teardown },
      { name: 'evicting sets, cache events on', setup: setup(true), run: work, teardown },
    ],
  })
  report(`A cache evicting on every set (${K} sets)`, cache, 'evicting sets, cache events off')
  if (sink === 0) console.log('')
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
