'use strict'
// The module behind `@promethean/benchmark/src/metrics/resource-manager`, the original package's
// import path.

const pool = require('./pool.js')

exports.ResourceManager = pool.ResourceManager
exports.ResourcePool = pool.ResourcePool
exports.BoundedCollection = pool.BoundedCollection
exports.MemoryManager = require('./memory.js').MemoryManager
