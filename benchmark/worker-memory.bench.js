'use strict'
// Where a BuildFix worker's memory goes, and what V8 flags do to it.
//
// Stages (resident set, /proc/<pid>/status VmRSS, each in a fresh process):
//   runtime      `node` itself, idle
//   typescript   after `require('typescript')` (the compiler's code, ~9 MB of JavaScript)
//   ready        a worker after its `ready` line: the engine loaded, the lib files the bundled
//                fixtures name (lib.es2020 and the files it references) parsed, one check done
//   after jobs   the same worker after JOBS gold jobs over the 8 small fixtures, each on a
//                working copy restored to pristine after its job (what the provider does)
//   peak         VmHWM over the worker's life
// and the median warm job time, so a flag that saves memory by slowing the checks shows it.
//
// Each configuration is a set of node flags (and environment) given to the worker (the provider adds its own
// `--max-old-space-size=<workerHeapMb>` through NODE_OPTIONS). Configurations are interleaved
// over ROUNDS rounds; the table gives medians.
//
//   npm run bench -- worker-memory
//   WORKER_MEMORY_JOBS=80 WORKER_MEMORY_ROUNDS=3 node benchmark/worker-memory.bench.js

const { spawn, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const readline = require('node:readline')

const { median } = require('./harness.js')

const ROOT = path.join(__dirname, '..')
const WORKER = path.join(ROOT, 'worker', 'buildfix-worker.js')
const SMALL = path.join(ROOT, 'fixtures', 'small')
const JOBS = Number(process.env.WORKER_MEMORY_JOBS || 48)
const ROUNDS = Number(process.env.WORKER_MEMORY_ROUNDS || 2)

// `--lite-mode` and `--jitless` take a worker lower still (88 MB at ready, 97 after jobs, in
// lite mode) but they turn WebAssembly off, and Node's fetch (undici's HTTP parser is
// WebAssembly) then crashes the worker on its first model request: not contenders.
const CONFIGS = {
  'node defaults': [],
  'heap 256 (provider before)': ['--max-old-space-size=256'],
  'heap 256, semi-space 1': ['--max-old-space-size=256', '--max-semi-space-size=1'],
  'heap 256, semi-space 1, no-opt (provider now)': ['--max-old-space-size=256', '--max-semi-space-size=1', '--no-opt'],
  'heap 256, semi-space 1, no-opt, no-sparkplug': ['--max-old-space-size=256', '--max-semi-space-size=1', '--no-opt', '--no-sparkplug'],
  'heap 256, semi-space 1, no-opt, max-lazy': ['--max-old-space-size=256', '--max-semi-space-size=1', '--no-opt', '--max-lazy'],
  'heap 256, semi-space 1, no-opt, MALLOC_ARENA_MAX=2': {
    flags: ['--max-old-space-size=256', '--max-semi-space-size=1', '--no-opt'],
    env: { MALLOC_ARENA_MAX: '2' },
  },
}

function status(pid) {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (name) => Number((text.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm')) || [])[1] || 0)
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024, anon: kb('RssAnon') / 1024, file: kb('RssFile') / 1024 }
}

function rssOf({ flags, env }, code) {
  const out = execFileSync(process.execPath, [...flags, '-e', `${code};console.log(process.memoryUsage().rss)`], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  })
  return Number(out.trim()) / 1048576
}

function copyFixtures(dir) {
  const copies = []
  for (const name of fs.readdirSync(SMALL).sort()) {
    const dest = path.join(dir, name)
    fs.cpSync(path.join(SMALL, name), dest, { recursive: true })
    const files = new Map()
    const walk = (d) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name)
        if (e.isDirectory()) walk(p)
        else files.set(p, fs.readFileSync(p))
      }
    }
    walk(dest)
    copies.push({ name, dir: dest, files })
  }
  return copies
}

function restore(copy) {
  for (const [p, content] of copy.files) fs.writeFileSync(p, content)
}

async function measureWorker({ flags, env }, copies) {
  const child = spawn(process.execPath, [...flags, WORKER], { stdio: ['pipe', 'pipe', 'ignore'], env: { ...process.env, ...env } })
  const lines = readline.createInterface({ input: child.stdout })
  const waiting = new Map()
  let onReady
  const ready = new Promise((resolve) => (onReady = resolve))
  lines.on('line', (line) => {
    const msg = JSON.parse(line)
    if (msg.type === 'ready') onReady(msg)
    else waiting.get(msg.id)?.(msg)
  })
  await ready
  const atReady = status(child.pid)
  const times = []
  for (let i = 0; i < JOBS; i++) {
    const copy = copies[i % copies.length]
    const id = `j${i}`
    const t0 = performance.now()
    const answer = new Promise((resolve) => waiting.set(id, resolve))
    child.stdin.write(`${JSON.stringify({ type: 'job', id, fixtureDir: copy.dir, model: 'gold' })}\n`)
    const msg = await answer
    times.push(performance.now() - t0)
    if (msg.type !== 'result' || !msg.result.success) throw new Error(`job on ${copy.name} failed: ${line(msg)}`)
    restore(copy)
  }
  const after = status(child.pid)
  child.stdin.end(`${JSON.stringify({ type: 'shutdown' })}\n`)
  await new Promise((resolve) => child.once('exit', resolve))
  return { ready: atReady.rss, readyAnon: atReady.anon, after: after.rss, peak: after.hwm, job: median(times) }
}

const line = (m) => JSON.stringify(m).slice(0, 300)

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worker-memory-'))
  try {
    const copies = copyFixtures(dir)
    const rows = Object.fromEntries(Object.keys(CONFIGS).map((k) => [k, []]))
    for (let round = 0; round < ROUNDS; round++) {
      const names = Object.keys(CONFIGS)
      // Rotate the order per round so drift on a shared machine hits all alike.
      for (let i = 0; i < names.length; i++) {
        const name = names[(i + round) % names.length]
        const c = CONFIGS[name]
        const flags = Array.isArray(c) ? { flags: c, env: {} } : c
        const runtime = rssOf(flags, '')
        const typescript = rssOf(flags, "require('typescript')")
        rows[name].push({ runtime, typescript, ...(await measureWorker(flags, copies)) })
      }
    }
    const f = (x) => x.toFixed(0).padStart(5)
    console.log(`worker RSS in MB (medians of ${ROUNDS} rounds; ${JOBS} jobs; load average ${os.loadavg()[0].toFixed(1)})`)
    console.log(`${'configuration'.padEnd(44)} runtime  +ts  ready (anon)  after jobs  peak  job ms`)
    for (const [name, runs] of Object.entries(rows)) {
      const m = (k) => median(runs.map((r) => r[k]))
      console.log(
        `${name.padEnd(44)} ${f(m('runtime'))} ${f(m('typescript'))} ${f(m('ready'))} (${f(m('readyAnon'))}) ${f(m('after')).padStart(10)} ${f(m('peak'))} ${m('job').toFixed(1).padStart(7)}`,
      )
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
