// Writes random self-checking entries into a persistent cache until it is killed.
// argv: <diskCacheDir> <seed>
import { AdvancedCache } from '@promethean/benchmark'

const [dir, seed] = process.argv.slice(2)
const cache = new AdvancedCache({ persistToDisk: true, diskCacheDir: dir, cleanupInterval: 0, maxSize: 100000 })
let state = Number(seed) * 7919 + 1
const random = (n) => {
  state = (state * 1103515245 + 12345) % 2147483648
  return state % n
}

function value(key) {
  const len = random(20000)
  const payload = String.fromCharCode(97 + random(26)).repeat(len) + 'z'.repeat(random(5))
  const sum = [...payload].reduce((a, ch) => (a * 31 + ch.charCodeAt(0)) >>> 0, 7)
  return { key, len: payload.length, payload, sum }
}

let announced = false
for (;;) {
  const batch = []
  for (let i = 0; i < 50; i++) {
    const key = `key-${random(500)}`
    batch.push(random(10) === 0 ? cache.delete(key) : cache.set(key, value(key)))
  }
  await Promise.all(batch)
  if (!announced) {
    process.stdout.write('writing\n')
    announced = true
  }
}
