'use strict'
// The generated binding and the one place native errors become the JS error classes users
// expect: Node's own codes ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE map to TypeError / RangeError.

const binding = require('../binding.js')

const CLASSES = {
  ERR_INVALID_ARG_TYPE: TypeError,
  ERR_INVALID_ARG_VALUE: TypeError,
  ERR_OUT_OF_RANGE: RangeError,
}

/** Rethrows a native error as the JS class its code names (TypeError, RangeError). */
function translate(err) {
  const Class = err && CLASSES[err.code]
  if (!Class || err instanceof Class) return err
  const out = new Class(err.message)
  out.code = err.code
  return out
}

/** Calls `fn`, translating a native bad-input error into TypeError / RangeError. */
function call(fn) {
  try {
    return fn()
  } catch (err) {
    throw translate(err)
  }
}

module.exports = { binding, translate, call }
