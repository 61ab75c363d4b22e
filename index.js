'use strict'
// The public surface of @promethean/benchmark. Each capability lives in lib/<capability>.js
// over the generated native binding (binding.js); this file only gathers them.

const cache = require('./lib/cache.js')

exports.AdvancedCache = cache.AdvancedCache
exports.CacheFactory = cache.CacheFactory
exports.MultiLevelCache = cache.MultiLevelCache

const monitor = require('./lib/monitor.js')

exports.PerformanceMonitor = monitor.PerformanceMonitor
exports.globalPerformanceMonitor = monitor.globalPerformanceMonitor

const memory = require('./lib/memory.js')

exports.MemoryManager = memory.MemoryManager
