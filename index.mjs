// ESM entry: the same objects as the CommonJS entry, re-exported by name.
import cjs from './index.js'

export const {
  AdvancedCache,
  CacheFactory,
  MultiLevelCache,
  ResourceManager,
  ResourcePool,
  BoundedCollection,
  LoadTester,
  LoadTestReporter,
  HttpTarget,
  PerformanceMonitor,
  globalPerformanceMonitor,
  MemoryManager,
  createGitSnapshotManager,
  GitSnapshotManager,
  BaseProvider,
  EnhancedBuildFixProvider,
  BuildFixProvider,
  EnhancedBuildFixTimeoutError,
  EnhancedBuildFixProcessError,
  EnhancedBuildFixCacheError,
  listFixtures,
  openHistory,
  RunHistory,
  checkRuns,
  mineFixtures,
  MetricsCalculator,
} = cjs
export default cjs
