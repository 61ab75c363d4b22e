// A manager with a live pool and nothing else to do: the process must end on its own (the
// original's 30 s check timer kept it alive). Prints when it is done.
import { ResourceManager } from '@promethean/benchmark/src/metrics/resource-manager'

const manager = new ResourceManager()
const pool = manager.createPool('idle', {
  minSize: 2,
  maxSize: 4,
  createResource: async () => ({}),
})
const r = await pool.acquire()
pool.release(r)
console.log(JSON.stringify({ doneAt: Date.now(), stats: pool.getStats() }))
