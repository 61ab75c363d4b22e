'use strict'
// Argument checks shared by the JS layer. Messages name the argument and what was expected.

function describe(value) {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'number') return String(value)
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  return typeof value
}

function typeError(name, expected, value) {
  const err = new TypeError(`${name} must be ${expected}, got ${describe(value)}`)
  err.code = 'ERR_INVALID_ARG_TYPE'
  return err
}

function rangeError(name, expected, value) {
  const err = new RangeError(`${name} must be ${expected}, got ${describe(value)}`)
  err.code = 'ERR_OUT_OF_RANGE'
  return err
}

/** `undefined` or a plain object. */
function optionsObject(name, value) {
  if (value === undefined) return {}
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw typeError(name, 'an object', value)
  }
  return value
}

/** A number within [min, max]; integers only when `integer`. `undefined` gives `fallback`. */
function number(name, value, { min = 0, max = Number.MAX_SAFE_INTEGER, integer = true, fallback } = {}) {
  if (value === undefined) return fallback
  if (typeof value !== 'number') throw typeError(name, 'a number', value)
  if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    const kind = integer ? 'a whole number' : 'a finite number'
    const bounds = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`
    throw rangeError(name, `${kind} ${bounds}`, value)
  }
  return value
}

function boolean(name, value, fallback) {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw typeError(name, 'a boolean', value)
  return value
}

function string(name, value, fallback) {
  if (value === undefined) return fallback
  if (typeof value !== 'string') throw typeError(name, 'a string', value)
  return value
}

function oneOf(name, value, choices, fallback) {
  if (value === undefined) return fallback
  if (!choices.includes(value)) {
    throw typeError(name, `one of ${choices.map((c) => `'${c}'`).join(', ')}`, value)
  }
  return value
}

function func(name, value) {
  if (typeof value !== 'function') throw typeError(name, 'a function', value)
  return value
}

module.exports = { typeError, rangeError, optionsObject, number, boolean, string, oneOf, func }
