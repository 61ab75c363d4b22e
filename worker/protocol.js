'use strict'
// Version of the worker's stdio protocol (docs/engine.md). The number lives in protocol.json,
// which the native addon compiles in too, so the two sides cannot drift.
module.exports = { PROTOCOL_VERSION: require('./protocol.json').version }
