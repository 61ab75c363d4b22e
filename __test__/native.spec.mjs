import test from 'ava'
// The native boundary: a Rust panic in any export becomes a JS error with code ERR_INTERNAL and
// the process lives (napi-rs's catch_unwind on every synchronous export, contained async tasks,
// and the one translation in lib/native.js).
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const { binding, translate } = require('../lib/native.js')

function runChild(source) {
  return spawnSync(process.execPath, ['-e', source], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, RUST_BACKTRACE: '0' },
  })
}

test('a panic in a synchronous export throws an Error with code ERR_INTERNAL', (t) => {
  const err = t.throws(() => binding.__panicForTests())
  t.is(err.code, 'ERR_INTERNAL')
  t.regex(err.message, /deliberate panic for tests \(synchronous\)/)
})

test('a panic in an async export rejects with code ERR_INTERNAL', async (t) => {
  const err = await t.throwsAsync(binding.__panicForTestsAsync())
  t.is(err.code, 'ERR_INTERNAL')
  t.regex(err.message, /deliberate panic for tests \(asynchronous\)/)
})

test('an ordinary native failure keeps its code; each panic is reported once', (t) => {
  const plain = new Error('something failed')
  plain.code = 'GenericFailure'
  t.is(translate(plain).code, 'GenericFailure')
  t.throws(() => binding.__panicForTests(), { code: 'ERR_INTERNAL' })
  // The same message again, not from a panic this time: not mistaken for one.
  const again = new Error('deliberate panic for tests (synchronous)')
  again.code = 'GenericFailure'
  t.is(translate(again).code, 'GenericFailure')
})

test('regression: the process lives after panics in exports and exits normally', (t) => {
  const r = runChild(`
    const { binding } = require('./lib/native.js')
    let codes = []
    try { binding.__panicForTests() } catch (e) { codes.push(e.code) }
    binding.__panicForTestsAsync().catch((e) => { codes.push(e.code); console.log(codes.join(',')) })
  `)
  t.is(r.signal, null, r.stderr)
  t.is(r.status, 0, r.stderr)
  t.is(r.stdout.trim(), 'ERR_INTERNAL,ERR_INTERNAL')
})

test('regression: the raw monitor with an interval of 1e300 is a RangeError, not an abort', (t) => {
  // The interval is checked where the native monitor is made, before any sampler can start.
  const r = runChild(`
    const { binding } = require('./lib/native.js')
    try { new binding.NativeMonitor({ interval: 1e300 }).start(() => {}) } catch (e) { console.log(e.name, e.code) }
  `)
  t.is(r.signal, null, r.stderr)
  t.is(r.status, 0, r.stderr)
  t.is(r.stdout.trim(), 'RangeError ERR_OUT_OF_RANGE')
})

test('every function and class the binding exports is wrapped by the translation', (t) => {
  const raw = require('../binding.js')
  for (const [name, value] of Object.entries(raw)) {
    if (typeof value !== 'function') continue
    t.not(binding[name], value, `${name} is not wrapped`)
  }
})
