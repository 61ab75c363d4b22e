// Opens a persistent cache on a folder whose entry files may be hostile (FIFO, symlinks to
// /dev/zero...) and prints what it found. A hang or unbounded read shows as a child that never
// prints or dies; the parent kills it.
// argv: <diskCacheDir>
import { AdvancedCache } from '@promethean/benchmark'

const [dir] = process.argv.slice(2)
const loadErrors = []
const cache = new AdvancedCache({ persistToDisk: true, diskCacheDir: dir, cleanupInterval: 0 })
cache.on('disk-load-error', (e) => loadErrors.push({ path: e.path, message: e.error.message }))
process.stdout.write('constructed\n')
await cache.ready
const good = await cache.get('good')
const entries = cache.getStats().totalEntries
cache.destroy()
process.stdout.write(JSON.stringify({ good, entries, loadErrors }) + '\n')
