// Preloaded with `node -r` to run the CLI as on a machine where the optional packages of
// distributed runs (bullmq, ioredis) are not installed: resolving them fails as Node does.
const Module = require('node:module')

const resolve = Module._resolveFilename
Module._resolveFilename = function (request, ...rest) {
  if (request === 'bullmq' || request === 'ioredis') {
    const err = new Error(`Cannot find module '${request}'`)
    err.code = 'MODULE_NOT_FOUND'
    throw err
  }
  return resolve.call(this, request, ...rest)
}
