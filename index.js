'use strict'
// The public surface of @promethean/benchmark. Each capability lives in lib/<capability>.js
// over the generated native binding (binding.js); this file only gathers them.

const cache = require('./lib/cache.js')
const snapshot = require('./lib/snapshot.js')

exports.AdvancedCache = cache.AdvancedCache
exports.CacheFactory = cache.CacheFactory
exports.MultiLevelCache = cache.MultiLevelCache

const pool = require('./lib/pool.js')

exports.ResourceManager = pool.ResourceManager
exports.ResourcePool = pool.ResourcePool
exports.BoundedCollection = pool.BoundedCollection

const loadtest = require('./lib/loadtest.js')

exports.LoadTester = loadtest.LoadTester
exports.LoadTestReporter = loadtest.LoadTestReporter
exports.HttpTarget = loadtest.HttpTarget

const monitor = require('./lib/monitor.js')

exports.PerformanceMonitor = monitor.PerformanceMonitor
exports.globalPerformanceMonitor = monitor.globalPerformanceMonitor

const memory = require('./lib/memory.js')

exports.MemoryManager = memory.MemoryManager

exports.createGitSnapshotManager = snapshot.createGitSnapshotManager
exports.GitSnapshotManager = snapshot.GitSnapshotManager

const provider = require('./lib/provider.js')

exports.BaseProvider = provider.BaseProvider
exports.EnhancedBuildFixProvider = provider.EnhancedBuildFixProvider
exports.BuildFixProvider = provider.BuildFixProvider
exports.EnhancedBuildFixTimeoutError = provider.EnhancedBuildFixTimeoutError
exports.EnhancedBuildFixProcessError = provider.EnhancedBuildFixProcessError
exports.EnhancedBuildFixCacheError = provider.EnhancedBuildFixCacheError
exports.listFixtures = provider.listFixtures

exports.MetricsCalculator = require('./lib/metrics.js').MetricsCalculator

const chat = require('./lib/chat.js')
exports.BenchmarkRunner = chat.BenchmarkRunner
exports.OllamaProvider = chat.OllamaProvider
exports.VLLMProvider = chat.VLLMProvider
exports.OpenAIProvider = chat.OpenAIProvider
exports.createProvider = chat.createProvider
exports.getSupportedProviders = chat.getSupportedProviders

const history = require('./lib/history.js')
exports.openHistory = history.openHistory
exports.RunHistory = history.RunHistory
exports.checkRuns = history.checkRuns

const mine = require('./lib/mine.js')
exports.mineFixtures = mine.mineFixtures
