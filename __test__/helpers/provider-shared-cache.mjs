// One provider process of the shared-cache tests: connects an EnhancedBuildFixProvider with a
// shared cache level on Redis and a local cache of its own, runs the requests it is given (one
// fixture each), disconnects, and prints one JSON line: per request whether it was answered from
// the cache and how many fixtures succeeded, the `shared-cache-error` events, the cache counters.
//
//   node provider-shared-cache.mjs <tempdir> <redis url> <model endpoint> <fixture>...
//
// With `PAUSE_AFTER_FIRST` set, it prints `first-done` after the first request and waits for a
// line on stdin before the next (so a test can stop Redis between them).

import path from 'node:path'
import readline from 'node:readline'

import { EnhancedBuildFixProvider } from '@promethean/benchmark'

const [dir, url, endpoint, ...fixtures] = process.argv.slice(2)
const provider = new EnhancedBuildFixProvider({
  name: 'shared',
  type: 'buildfix',
  model: 'fake-coder:7b',
  endpoint,
  options: {
    minWorkers: 1,
    maxWorkers: 1,
    cacheDir: path.join(dir, 'cache'),
    metricsDir: path.join(dir, 'metrics'),
    workDir: dir,
    sharedCache: { url, keyPrefix: 'shared-test', timeoutMs: 10000 },
  },
})
const events = []
provider.on('shared-cache-error', (e) => events.push({ operation: e.operation, key: typeof e.key, message: e.error.message }))
const lines = readline.createInterface({ input: process.stdin })
const next = lines[Symbol.asyncIterator]()
const results = []
await provider.connect()
for (const [i, fixture] of fixtures.entries()) {
  const response = await provider.execute({ prompt: 'Fix it.', metadata: { fixtureType: 'small', fixtures: [fixture] } })
  results.push({ cached: response.metadata.cached, successfulTests: response.metadata.successfulTests })
  if (i === 0 && process.env.PAUSE_AFTER_FIRST) {
    process.stdout.write('first-done\n')
    await next.next()
  }
}
const stats = provider.getCacheStats()
await provider.disconnect()
lines.close()
process.stdout.write(`${JSON.stringify({ results, events, stats })}\n`)
