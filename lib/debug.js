'use strict'
// `DEBUG=buildfix:*` logging, with the `debug` package's syntax: namespaces separated by commas
// or spaces, `*` matching any run of characters, a leading `-` excluding. Lines go to stderr as
// `debug` writes them (`  buildfix:pool message +3ms` on a terminal, an ISO time first
// otherwise). The Rust cores report through one switch (lib/native.js's `setDebugSink`): only
// the namespaces enabled here are turned on there, so a disabled core event costs one relaxed
// atomic load. DEBUG is read when this module loads and again, cheaply, whenever a component is
// created (`refresh()`), so `process.env.DEBUG = 'buildfix:*'` before creating one works, as the
// guide does it.

const util = require('node:util')

/** The namespaces the Rust cores report under, `buildfix:<name>`. */
const CORE = ['pool', 'cache', 'worker', 'provider', 'loadtest']

let source // the DEBUG value the rules below came from
let include = []
let exclude = []
const loggers = new Map() // namespace -> logger

function toRegExp(pattern) {
  const body = pattern.replace(/[|\\{}()[\]^$+?.]/g, '\\$&').replace(/\*/g, '.*?')
  return new RegExp(`^${body}$`)
}

/** Parses a DEBUG value. */
function parse(value) {
  const inc = []
  const exc = []
  for (const part of String(value ?? '').split(/[\s,]+/)) {
    if (!part) continue
    if (part[0] === '-') exc.push(toRegExp(part.slice(1)))
    else inc.push(toRegExp(part))
  }
  return { include: inc, exclude: exc }
}

/** Whether `namespace` is on under the current DEBUG value. */
function enabled(namespace) {
  if (exclude.some((re) => re.test(namespace))) return false
  return include.some((re) => re.test(namespace))
}

function useTime() {
  return !process.stderr.isTTY
}

let lastTime = 0

function write(namespace, args) {
  const now = Date.now()
  const diff = lastTime ? now - lastTime : 0
  lastTime = now
  const text = util.formatWithOptions({ colors: false }, ...args).replace(/\n/g, `\n  ${namespace} `)
  const line = useTime() ? `${new Date(now).toISOString()} ${namespace} ${text}` : `  ${namespace} ${text} +${diff}ms`
  process.stderr.write(`${line}\n`)
}

/**
 * A logger for `namespace`: `log('spawned %d', pid)` writes when the namespace is enabled and does
 * nothing else otherwise (a property read and a branch). `log.enabled` says which.
 */
function createDebug(namespace) {
  const known = loggers.get(namespace)
  if (known) return known
  const log = function debugLog(...args) {
    if (log.enabled) write(namespace, args)
  }
  log.namespace = namespace
  log.enabled = enabled(namespace)
  loggers.set(namespace, log)
  return log
}

let native = null

/** Turns on, in the cores, the namespaces enabled here, with one sink for all of them. */
function syncNative() {
  if (!native) return
  const on = CORE.filter((name) => enabled(`buildfix:${name}`))
  if (on.length === 0) native.setDebugSink([])
  else native.setDebugSink(on, (name, message) => createDebug(`buildfix:${name}`)(message))
}

/** Uses `namespaces` (a DEBUG value) from now on. */
function enable(namespaces) {
  source = namespaces ?? ''
  ;({ include, exclude } = parse(source))
  for (const log of loggers.values()) log.enabled = enabled(log.namespace)
  syncNative()
}

/** Turns everything off; returns what was enabled. */
function disable() {
  const was = source
  enable('')
  return was
}

/** Picks up a DEBUG value changed since it was last read. */
function refresh() {
  const value = process.env.DEBUG ?? ''
  if (value !== source) enable(value)
}

/** Connects the cores' events (called once, by lib/native.js, when the binding is loaded). */
function attachNative(binding) {
  // A binary without the switch (an older or a stand-in build) has no core events to give.
  if (typeof binding.setDebugSink !== 'function') return
  native = binding
  syncNative()
}

enable(process.env.DEBUG ?? '')

module.exports = { createDebug, enable, disable, enabled, refresh, attachNative, CORE }
