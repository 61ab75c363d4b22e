'use strict'
// The generated binding and the one place native errors become the JS error classes users
// expect: Node's own codes ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE map to TypeError / RangeError,
// and a Rust panic (caught at the boundary, never an abort) becomes an `Error` with code
// ERR_INTERNAL. Every export of the binding is wrapped once here, so no caller can forget.

// The binary itself: a prebuilt platform package or a build from source (see loader.js for the order).
const raw = require('./loader.js').loadNative()

const CLASSES = {
  ERR_INVALID_ARG_TYPE: TypeError,
  ERR_INVALID_ARG_VALUE: TypeError,
  ERR_OUT_OF_RANGE: RangeError,
}

/** Rethrows a native error as the JS class its code names (TypeError, RangeError). */
function translate(err) {
  if (err && err.code === 'GenericFailure' && typeof err.message === 'string' && raw.isInternalPanic(err.message)) {
    err.code = 'ERR_INTERNAL'
    err.message = `internal error in the native addon (please report it): ${err.message}`
    return err
  }
  const Class = err && CLASSES[err.code]
  if (!Class || err instanceof Class) return err
  const out = new Class(err.message)
  out.code = err.code
  return out
}

function rethrow(err) {
  throw translate(err)
}

/** `fn` with its errors, thrown or rejected, translated. */
function guarded(fn) {
  return function guardedNative(...args) {
    let result
    try {
      result = fn.apply(this, args)
    } catch (err) {
      throw translate(err)
    }
    return result instanceof Promise ? result.catch(rethrow) : result
  }
}

/** A native class whose constructor, static factories and methods translate their errors. */
function guardedClass(Class) {
  for (const target of [Class, Class.prototype]) {
    for (const name of Object.getOwnPropertyNames(target)) {
      const d = Object.getOwnPropertyDescriptor(target, name)
      if (name === 'constructor' || !d || typeof d.value !== 'function' || !d.writable) continue
      Object.defineProperty(target, name, { ...d, value: guarded(d.value) })
    }
  }
  return new Proxy(Class, {
    construct(target, args, newTarget) {
      try {
        return Reflect.construct(target, args, newTarget)
      } catch (err) {
        throw translate(err)
      }
    },
  })
}

const binding = {}
for (const [name, value] of Object.entries(raw)) {
  if (typeof value !== 'function') binding[name] = value
  else if (/^[A-Z]/.test(name)) binding[name] = guardedClass(value)
  // `xFunction()` returns the plain Node-API function `x`, made without napi-rs's per-call
  // bookkeeping (for the hottest calls); it is exposed as `x`, guarded like the rest.
  else if (name.endsWith('Function')) binding[name.slice(0, -'Function'.length)] = guarded(value())
  else binding[name] = guarded(value)
}

// The cores' debug events go to the `DEBUG=buildfix:*` loggers (lib/debug.js), when enabled there.
require('./debug.js').attachNative(binding)

module.exports = { binding, translate }
