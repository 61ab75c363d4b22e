// The optimisation guide's pool example, as users write it: if this type-checks, their code
// compiles against this package unchanged.
import { ResourceManager } from '@promethean/benchmark/src/metrics/resource-manager'
import { BoundedCollection, ResourcePool, type PoolStats, type ResourceAlert } from '@promethean/benchmark'
import { spawn, type ChildProcess } from 'node:child_process'

function spawnBuildFixProcess(): ChildProcess {
  return spawn(process.execPath, ['-e', 'process.stdin.resume()'])
}

async function executeBuildFix(child: ChildProcess): Promise<number> {
  return child.pid ?? 0
}

export async function poolExample(): Promise<number> {
  const resourceManager = new ResourceManager()

  // Create a process pool
  const processPool = resourceManager.createPool('buildfix-processes', {
    minSize: 2,
    maxSize: 8,
    acquireTimeout: 30000,
    idleTimeout: 60000,
    createResource: async () => spawnBuildFixProcess(),
    destroyResource: async (process) => {
      process.kill()
    },
    validateResource: (process) => !process.killed,
  })

  // Acquire and release resources
  const process = await processPool.acquire()
  let pid: number
  try {
    // Use the process
    pid = await executeBuildFix(process)
  } finally {
    processPool.release(process)
  }

  const ac = new AbortController()
  const viaUse: number = await processPool.use(executeBuildFix, { signal: ac.signal })

  resourceManager.on('resource-alert', ({ name, alert }: { name: string; alert: ResourceAlert }) => {
    console.warn(name, alert.type, alert.severity, alert.value > alert.threshold)
  })
  resourceManager.on('pool-error', ({ name, error }) => console.error(name, error.message))
  processPool.on('resource-created', (child) => console.log(child.pid))
  processPool.on('release-ignored', (child) => console.warn('released twice?', child.pid))
  resourceManager.on('release-ignored', ({ name, resource }) => console.warn(name, resource))

  const stats: PoolStats = processPool.getStats()
  const all: Record<string, PoolStats> = resourceManager.getAllStats()
  const same: ResourcePool<ChildProcess> | undefined = resourceManager.getPool<ChildProcess>('buildfix-processes')

  const results = new BoundedCollection<number>(1000)
  setInterval(() => results.cleanup(), 60000).unref()
  results.push(stats.avgWaitTime)
  for (const r of results) console.log(r)

  await resourceManager.destroyPool('buildfix-processes')
  await resourceManager.destroy()
  return pid + viaUse + Object.keys(all).length + (same ? 1 : 0) + results.size
}

// The guide imports MemoryManager from the resource-manager path.
import { MemoryManager as GuideMemoryManager } from '@promethean/benchmark/src/metrics/resource-manager'

export function guideMemoryCheck(): boolean {
  const memoryManager = GuideMemoryManager.getInstance()
  const { ok, issues } = memoryManager.checkMemoryUsage()
  if (!ok) {
    console.warn('Memory issues detected:', issues)
    memoryManager.forceGC()
  }
  memoryManager.setThresholds({ heapUsed: 0.8, external: 0.5, rss: 0.9 })
  return ok
}
