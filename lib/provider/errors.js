'use strict'
// The provider's error classes (the contract's), and the one place a provider failure — as
// data from the native side, or from the process-per-request baseline — becomes one of them.

class EnhancedBuildFixTimeoutError extends Error {
  constructor(message, timeout, operation) {
    super(message)
    this.name = 'EnhancedBuildFixTimeoutError'
    this.timeout = timeout
    this.operation = operation
  }
}

class EnhancedBuildFixProcessError extends Error {
  constructor(message, exitCode, stderr, operation) {
    super(message)
    this.name = 'EnhancedBuildFixProcessError'
    this.exitCode = exitCode
    this.stderr = stderr
    this.operation = operation
  }
}

class EnhancedBuildFixCacheError extends Error {
  constructor(message, operation, cacheKey) {
    super(message)
    this.name = 'EnhancedBuildFixCacheError'
    this.operation = operation
    this.cacheKey = cacheKey
  }
}

/**
 * A failure `{kind, message, operation?, timeout?, exitCode?, stderr?, cacheKey?}` as an error:
 * `timeout`, `process` and `cache` get the contract's classes with their fields; any other kind
 * (`circuit-open`, `missing`, `not-connected`, `io`) an Error with code `ERR_BUILDFIX_<KIND>`.
 */
function failureError(f) {
  switch (f.kind) {
    case 'timeout':
      return new EnhancedBuildFixTimeoutError(f.message, f.timeout ?? 0, f.operation ?? 'execute')
    case 'process':
      return new EnhancedBuildFixProcessError(f.message, f.exitCode ?? null, f.stderr ?? '', f.operation ?? 'execute')
    case 'cache':
      return new EnhancedBuildFixCacheError(f.message, f.operation ?? 'cache', f.cacheKey ?? '')
    default: {
      const err = new Error(f.message)
      err.code = `ERR_BUILDFIX_${f.kind.toUpperCase().replace(/-/g, '_')}`
      return err
    }
  }
}

const NOT_CONNECTED = { kind: 'not-connected', message: 'the provider is not connected; call connect() first' }

module.exports = {
  EnhancedBuildFixTimeoutError,
  EnhancedBuildFixProcessError,
  EnhancedBuildFixCacheError,
  failureError,
  NOT_CONNECTED,
}
