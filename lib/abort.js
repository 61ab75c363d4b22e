'use strict'
// AbortSignal checks shared by the operations that take one (provider.execute, snapshot
// create/restore).

const v = require('./validate.js')

function isAbortSignal(s) {
  return s !== null && typeof s === 'object' && typeof s.aborted === 'boolean' && typeof s.addEventListener === 'function'
}

/** The `signal` of an `{signal?}` options argument, checked; `null` when there is none. */
function signalOf(name, options) {
  const o = v.optionsObject(name, options)
  if (o.signal === undefined) return null
  if (!isAbortSignal(o.signal)) throw v.typeError(`${name}.signal`, 'an AbortSignal', o.signal)
  return o.signal
}

/** What an aborted operation rejects with: the signal's reason, or an AbortError naming it. */
function abortReason(signal, operation) {
  if (signal.reason !== undefined) return signal.reason
  const err = new Error(`${operation} was aborted`)
  err.name = 'AbortError'
  err.code = 'ABORT_ERR'
  return err
}

/**
 * Calls `onAbort` once if `signal` aborts before the returned `done()` is called. A null
 * signal costs nothing.
 */
function onAbort(signal, handler) {
  if (signal === null) return () => {}
  signal.addEventListener('abort', handler, { once: true })
  return () => signal.removeEventListener('abort', handler)
}

module.exports = { isAbortSignal, signalOf, abortReason, onAbort }
