// ESM entry: the same objects as the CommonJS entry, re-exported by name.
import cjs from './index.js'

export const { AdvancedCache, CacheFactory, MultiLevelCache, createGitSnapshotManager, GitSnapshotManager } = cjs
export default cjs
