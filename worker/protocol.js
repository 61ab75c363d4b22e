'use strict'
// Version of the worker's stdio protocol (docs/engine.md). Bump on any incompatible change.
module.exports = { PROTOCOL_VERSION: 1 }
