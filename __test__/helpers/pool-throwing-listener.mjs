// A listener that throws in the middle of a release: the waiter must still get the resource, the
// counts stay exact, and the listener's exception surfaces as an uncaught exception.
import { ResourcePool } from '@promethean/benchmark'

const uncaught = []
process.on('uncaughtException', (err) => uncaught.push(err.message))

const pool = new ResourcePool({ minSize: 1, maxSize: 1, createResource: async () => ({}) })
pool.on('resource-released', () => {
  throw new Error('listener bug')
})
const r = await pool.acquire()
const waiter = pool.acquire()
pool.release(r)
const got = await Promise.race([waiter, new Promise((res) => setTimeout(() => res('hung'), 500))])
await new Promise((res) => setImmediate(res))
console.log(JSON.stringify({ sameResource: got === r, stats: pool.getStats(), uncaught, invariants: pool.checkInvariants() }))
await pool.destroy()
