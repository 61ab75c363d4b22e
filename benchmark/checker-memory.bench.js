'use strict'
// What one warm checker costs the provider's process tree: a worker process (the lean V8 flags
// the provider gives it), the same started from a startup snapshot of the loaded compiler, or a
// worker_threads Worker of the provider's own process (with and without giving the allocator's
// free pages back, as the provider does). The parent loads the addon, as the provider's process
// has it loaded.
//
// Per configuration, in a fresh parent process each: tree RSS (parent VmRSS + child VmRSS) after
// `ready` and after JOBS gold jobs over the 8 small fixtures on working copies restored after
// each job, the start time (spawn to ready) and the median job. Rounds interleave the
// configurations; the table gives medians, and each row's ratio to the worker process's.
//
//   npm run bench -- checker-memory
//   CHECKER_MEMORY_JOBS=64 CHECKER_MEMORY_ROUNDS=3 node benchmark/checker-memory.bench.js

const { execFileSync, spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const readline = require('node:readline')
const { Worker } = require('node:worker_threads')

const { median } = require('./harness.js')

const ROOT = path.join(__dirname, '..')
const WORKER = path.join(ROOT, 'worker', 'buildfix-worker.js')
const THREAD = path.join(ROOT, 'worker', 'buildfix-thread.js')
const SMALL = path.join(ROOT, 'fixtures', 'small')
const JOBS = Number(process.env.CHECKER_MEMORY_JOBS || 64)
const ROUNDS = Number(process.env.CHECKER_MEMORY_ROUNDS || 2)
// What the provider gives a worker process (src/provider/service.rs, worker_node_args).
const LEAN = ['--max-old-space-size=256', '--max-semi-space-size=1', '--no-opt', '--no-sparkplug']
// What it gives a thread (lib/provider/checkers.js).
const THREAD_LIMITS = { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 3 }

const CONFIGS = ['process', 'process, snapshot', 'thread', 'thread, trimmed (the provider)']

function rss(pid) {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number((text.match(/^VmRSS:\s+(\d+) kB/m) || [])[1] || 0) / 1024
}

/**
 * A snapshot blob with the compiler evaluated in it: the builder can `require` built-in modules
 * only, so the compiler's one file is run as a function, and the worker, started from the blob,
 * finds it in the module cache.
 */
function buildSnapshot(dir) {
  const ts = require.resolve('typescript', { paths: [path.join(ROOT, 'worker')] })
  const entry = path.join(dir, 'snapshot-entry.js')
  fs.writeFileSync(
    entry,
    `const fs = require('fs'), path = require('path')
const file = ${JSON.stringify(ts)}
const m = { exports: {} }
new Function('exports', 'require', 'module', '__filename', '__dirname', fs.readFileSync(file, 'utf8'))(m.exports, require, m, file, path.dirname(file))
require('v8').startupSnapshot.setDeserializeMainFunction(() => {
  const Module = require('module')
  const cached = new Module(file)
  Object.assign(cached, { exports: m.exports, loaded: true, filename: file })
  Module._cache[file] = cached
  process.argv[1] = ${JSON.stringify(WORKER)}
  Module._load(${JSON.stringify(WORKER)}, null, true)
})
`,
  )
  const blob = path.join(dir, 'compiler.blob')
  execFileSync(process.execPath, [...LEAN, '--snapshot-blob', blob, '--build-snapshot', entry], { stdio: 'ignore' })
  return blob
}

function copyFixtures(dir) {
  return fs
    .readdirSync(SMALL)
    .sort()
    .slice(0, 8)
    .map((name) => {
      const dest = path.join(dir, name)
      fs.cpSync(path.join(SMALL, name), dest, { recursive: true })
      const files = new Map()
      for (const rel of fs.readdirSync(dest, { recursive: true })) {
        const p = path.join(dest, rel)
        if (fs.statSync(p).isFile()) files.set(p, fs.readFileSync(p))
      }
      return { name, dir: dest, files }
    })
}

/** One configuration in this (fresh) process; prints one JSON line. */
async function child(config, dir, blob) {
  const { binding } = require('../lib/native.js')
  const copies = copyFixtures(dir)
  const waiting = new Map()
  let onReady
  const ready = new Promise((resolve) => (onReady = resolve))
  const receive = (line) => {
    const msg = JSON.parse(line)
    if (msg.type === 'ready') onReady()
    else waiting.get(msg.id)?.(msg)
  }
  let send
  let stop
  let childPid = null
  const started = performance.now()
  if (config.startsWith('thread')) {
    const w = new Worker(THREAD, { resourceLimits: THREAD_LIMITS })
    w.on('message', receive)
    send = (m) => w.postMessage(JSON.stringify(m))
    stop = () => w.terminate()
  } else {
    const flags = config === 'process, snapshot' ? [...LEAN, '--snapshot-blob', blob] : LEAN
    const c = spawn(process.execPath, [...flags, WORKER], { stdio: ['pipe', 'pipe', 'ignore'] })
    childPid = c.pid
    readline.createInterface({ input: c.stdout }).on('line', receive)
    send = (m) => c.stdin.write(`${JSON.stringify(m)}\n`)
    stop = () => {
      const exited = new Promise((resolve) => c.once('exit', resolve))
      c.stdin.end()
      return exited
    }
  }
  const trim = config.includes('trimmed') ? () => binding.releaseFreeMemory() : () => {}
  await ready
  const start = performance.now() - started
  trim()
  const tree = () => rss(process.pid) + (childPid ? rss(childPid) : 0)
  const atReady = tree()
  const times = []
  let lastTrim = performance.now()
  for (let i = 0; i < JOBS; i++) {
    const copy = copies[i % copies.length]
    const id = `j${i}`
    const answer = new Promise((resolve) => waiting.set(id, resolve))
    const t0 = performance.now()
    send({ type: 'job', id, fixtureDir: copy.dir, model: 'gold' })
    const msg = await answer
    times.push(performance.now() - t0)
    if (msg.type !== 'result' || !msg.result.success) throw new Error(`job on ${copy.name} failed: ${JSON.stringify(msg).slice(0, 300)}`)
    // As the provider: at most once a second.
    if (performance.now() - lastTrim >= 1000) {
      trim()
      lastTrim = performance.now()
    }
    for (const [file, content] of copy.files) fs.writeFileSync(file, content)
  }
  const after = tree()
  await stop()
  process.stdout.write(`${JSON.stringify({ parent: rss(process.pid), ready: atReady, after, start, job: median(times) })}\n`)
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'checker-memory-'))
  try {
    const blob = buildSnapshot(dir)
    const rows = Object.fromEntries(CONFIGS.map((c) => [c, []]))
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < CONFIGS.length; i++) {
        const config = CONFIGS[(i + round) % CONFIGS.length]
        const work = fs.mkdtempSync(path.join(dir, 'run-'))
        const out = execFileSync(process.execPath, [__filename, '--child', config, work, blob], { encoding: 'utf8' })
        rows[config].push(JSON.parse(out.trim().split('\n').pop()))
      }
    }
    const m = (config, k) => median(rows[config].map((r) => r[k]))
    const f = (x) => x.toFixed(0).padStart(6)
    console.log(`process tree RSS in MB, medians of ${ROUNDS} rounds, ${JOBS} jobs, load average ${os.loadavg()[0].toFixed(1)}`)
    console.log(`${'checker'.padEnd(32)} ${'ready'.padStart(6)} ${'after'.padStart(6)}  vs process  start ms  job ms`)
    for (const config of CONFIGS) {
      const ratio = m(config, 'after') / m('process', 'after')
      console.log(
        `${config.padEnd(32)} ${f(m(config, 'ready'))} ${f(m(config, 'after'))}  ${ratio.toFixed(2).padStart(9)}x ${f(m(config, 'start')).padStart(9)} ${m(config, 'job').toFixed(1).padStart(7)}`,
      )
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[2] === '--child') {
  child(process.argv[3], process.argv[4], process.argv[5]).catch((err) => {
    console.error(err)
    process.exit(1)
  })
} else {
  main().catch((err) => {
    console.error(err)
    process.exit(1)
  })
}
