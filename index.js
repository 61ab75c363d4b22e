'use strict'
// The public surface of @promethean/benchmark. Each capability lives in lib/<capability>.js
// over the generated native binding (binding.js); this file only gathers them.

const cache = require('./lib/cache.js')
const snapshot = require('./lib/snapshot.js')

exports.AdvancedCache = cache.AdvancedCache
exports.CacheFactory = cache.CacheFactory
exports.MultiLevelCache = cache.MultiLevelCache
exports.createGitSnapshotManager = snapshot.createGitSnapshotManager
exports.GitSnapshotManager = snapshot.GitSnapshotManager
