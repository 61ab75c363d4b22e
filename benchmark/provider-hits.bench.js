'use strict'
// What a cache hit of `EnhancedBuildFixProvider` costs, for the small set (8 fixtures) and the
// seeded massive set (200 fixtures, about 2,000 files), before and after fingerprinting fixture
// files by their stat.
//
// A hit builds the cache key from the content of every file of the request's fixtures. Before,
// every hit read and hashed every file. Now a file whose stat (size, mtime, ctime, inode) is
// unchanged since its content was hashed is not read (src/fingerprint/). The two are measured
// side by side in one run on one provider, on two identical copies of each set (the key depends
// on fixture names and content, not on the folder, so both copies hit the same cache entry):
//   content hashing  every file's stat in one copy is moved (utimes, untimed) before the hit, so
//                    the hit reads and hashes every file again: the work every hit did before;
//   by stat          the other copy is left alone: the hit walks the folders and stats each file.
// Both answer from the cache (checked), with the same answer. Interleaved rounds, medians.
//
//   npm run bench -- provider-hits
//   PROVIDER_HITS_ROUNDS=15 node benchmark/provider-hits.bench.js

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { EnhancedBuildFixProvider } = require('..')
const { assertSame, compare } = require('./harness.js')

const ROUNDS = Number(process.env.PROVIDER_HITS_ROUNDS || 15)
const MASSIVE_COUNT = 200
const root = path.join(__dirname, '..')

/** Every file under `dir`. */
function filesUnder(dir) {
  const out = []
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) out.push(...filesUnder(p))
    else out.push(p)
  }
  return out
}

/** Moves every file's stat (mtime and ctime), leaving its content as it is. */
function touchAll(files) {
  const at = new Date()
  for (const f of files) fs.utimesSync(f, at, at)
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-provider-hits-'))
  const provider = new EnhancedBuildFixProvider({
    name: 'hits',
    type: 'buildfix',
    model: 'gold',
    options: {
      mode: 'bundled',
      cache: true,
      cacheDir: path.join(tmp, 'cache'),
      metricsDir: path.join(tmp, 'metrics'),
      workDir: path.join(tmp, 'work'),
    },
  })
  try {
    // Folders of one's own (metadata.fixturesDir), so that the bench may touch their files.
    const sets = { small: path.join(tmp, 'small'), massive: path.join(tmp, 'massive') }
    fs.cpSync(path.join(root, 'fixtures', 'small'), sets.small, { recursive: true })
    execFileSync(process.execPath, [path.join(root, 'fixtures', 'generate.js'), '--out', sets.massive, '--count', String(MASSIVE_COUNT), '--seed', '1'], {
      stdio: 'ignore',
    })
    for (const dir of Object.values(sets)) fs.cpSync(dir, `${dir}-touched`, { recursive: true })
    await provider.connect()
    const prompt = 'Fix the TypeScript compile error in this project.'
    const request = (dir) => ({ prompt, metadata: { fixtureType: 'small', fixturesDir: dir } })
    const answers = {}
    for (const [set, dir] of Object.entries(sets)) {
      // Prime the cache (untimed: runs every fixture once).
      const first = await provider.execute(request(dir))
      if (first.metadata.cached) throw new Error(`${set}: the first request was already cached`)
      answers[set] = JSON.stringify(first.metadata.buildFixResults)
    }
    // A file is hashed again while its mtime or ctime is within a second of when it was hashed
    // (the racy rule); let the untouched copies' creation fall out of that window.
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const results = {}
    for (const [set, dir] of Object.entries(sets)) {
      const touched = filesUnder(`${dir}-touched`)
      const hit = (folder) => async () => {
        const r = await provider.execute(request(folder))
        if (!r.metadata.cached) throw new Error(`${set}: a repeated request on ${folder} missed the cache`)
        return JSON.stringify(r.metadata.buildFixResults)
      }
      touchAll(touched)
      assertSame(`${set}: answer of a hit after every file's stat moved`, await hit(`${dir}-touched`)(), answers[set])
      assertSame(`${set}: answer of a hit on unchanged files`, await hit(dir)(), answers[set])
      results[set] = {
        files: touched.length,
        fixtures: fs.readdirSync(dir).length,
        timing: await compare({
          ops: 1,
          rounds: ROUNDS,
          warmup: 2,
          contenders: [
            { name: 'content hashing', setup: () => touchAll(touched), run: hit(`${dir}-touched`) },
            { name: 'by stat', run: hit(dir) },
          ],
        }),
      }
    }
    console.log(`cache hit latency, ${ROUNDS} interleaved rounds, medians (load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores)`)
    console.log('  set       fixtures  files   content hashing (before)   by stat (now)   speed-up')
    for (const [set, r] of Object.entries(results)) {
      const before = r.timing['content hashing'].median / 1e6
      const after = r.timing['by stat'].median / 1e6
      console.log(
        `  ${set.padEnd(9)} ${String(r.fixtures).padStart(8)} ${String(r.files).padStart(6)}   ${before.toFixed(3).padStart(20)} ms   ${after
          .toFixed(3)
          .padStart(10)} ms   ${(before / after).toFixed(2)}x`,
      )
    }
  } finally {
    await provider.disconnect()
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
