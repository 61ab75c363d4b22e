'use strict'
// Measures the memory and CPU of a process tree (Linux /proc): the process whose pid is given as
// the first argument and every descendant of it, except this sampler (a child of that process,
// forked so that its own work is never counted and never blocks the benchmark's event loop).
//
// Protocol over the IPC channel:
//   -> {cmd: 'begin'}   starts sampling every ~20 ms          <- {type: 'begun'}
//   -> {cmd: 'end'}     stops and answers:
//        <- {type: 'ended', peakRss, peakOwnRss, peakProcs, samples, cpuMs}
//   -> {cmd: 'exit'}
//
// Memory: the sum over the tree of resident pages (`/proc/<pid>/statm`, 2nd field) times the page
// size, sampled every tick; `peakRss` is the largest sum seen between begin and end. (A sum of
// RSS counts pages shared between processes, such as the node binary, once per process: that is
// what each process costs the machine as `ps` reports it.) `peakOwnRss`: the root alone.
// `peakProcs`: the most descendants alive at one sample.
//
// CPU between begin and end, in ms of user + system time:
//   the root's own utime + stime delta
// + the root's cutime + cstime delta (children that exited and were reaped in between)
// + for each descendant alive at the end: its utime + stime minus its value at begin (0 if born after)
// - for each descendant alive at begin that was reaped before the end: its value at begin
//   (its whole life is in the root's cutime, only the part after begin belongs to the batch).
// Descendants are direct children here (the providers' workers and per-request processes); a
// grandchild reaped by a living child would land in that child's cutime, which is not read.

const fs = require('node:fs')
const { execFileSync } = require('node:child_process')

const ROOT = Number(process.argv[2])
const SELF = process.pid
const TICK_MS = 20

function conf(name, fallback) {
  try {
    return Number(execFileSync('getconf', [name], { encoding: 'utf8' }).trim()) || fallback
  } catch {
    return fallback
  }
}
const CLK_TCK = conf('CLK_TCK', 100)
const PAGE = conf('PAGESIZE', 4096)

/** {ppid, cpu (ticks: utime + stime), childCpu (ticks: cutime + cstime)} or null if gone. */
function stat(pid) {
  let text
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'latin1')
  } catch {
    return null
  }
  // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ')
  // f[0] = field 3 (state), f[1] = ppid, f[11..14] = utime, stime, cutime, cstime.
  return { ppid: Number(f[1]), cpu: Number(f[11]) + Number(f[12]), childCpu: Number(f[13]) + Number(f[14]) }
}

function residentBytes(pid) {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ')[1]) * PAGE
  } catch {
    return 0
  }
}

// Every pid seen in /proc and its parent. A process that is not in the tree can never join it
// (a parent only changes when the old one dies, to a reaper outside the tree), so each pid's
// stat is read once, when it first appears; pids that leave /proc are forgotten.
const parents = new Map()
let tree = new Set()

function scan() {
  const listed = new Set()
  const fresh = []
  for (const name of fs.readdirSync('/proc')) {
    const c = name.charCodeAt(0)
    if (c < 48 || c > 57) continue
    const pid = Number(name)
    listed.add(pid)
    if (!parents.has(pid)) fresh.push(pid)
  }
  for (const pid of parents.keys()) if (!listed.has(pid)) parents.delete(pid)
  for (const pid of fresh) {
    const s = stat(pid)
    if (s) parents.set(pid, s.ppid)
  }
  // The tree: ROOT and everything whose parent chain reaches it, without this sampler's branch.
  const next = new Set()
  const inTree = (pid, depth = 0) => {
    if (pid === ROOT) return true
    if (pid === SELF || depth > 64) return false
    if (next.has(pid)) return true
    const ppid = parents.get(pid)
    return ppid !== undefined && ppid > 1 && inTree(ppid, depth + 1)
  }
  for (const pid of parents.keys()) if (pid !== ROOT && inTree(pid)) next.add(pid)
  tree = next
}

let timer = null
let batch = null

function sample() {
  scan()
  const own = residentBytes(ROOT)
  let sum = own
  let procs = 0
  for (const pid of tree) {
    const bytes = residentBytes(pid)
    if (bytes > 0) procs++
    sum += bytes
  }
  batch.samples++
  if (sum > batch.peakRss) batch.peakRss = sum
  if (own > batch.peakOwnRss) batch.peakOwnRss = own
  if (procs > batch.peakProcs) batch.peakProcs = procs
}

function cpuSnapshot() {
  scan()
  const root = stat(ROOT)
  const each = new Map()
  for (const pid of tree) {
    const s = stat(pid)
    // (A zombie still reports its times until it is reaped into the root's cutime.)
    if (s) each.set(pid, s.cpu)
  }
  return { own: root.cpu, children: root.childCpu, each }
}

process.on('message', (msg) => {
  if (msg.cmd === 'begin') {
    batch = { peakRss: 0, peakOwnRss: 0, peakProcs: 0, samples: 0, start: cpuSnapshot() }
    sample()
    timer = setInterval(sample, TICK_MS)
    process.send({ type: 'begun' })
  } else if (msg.cmd === 'end') {
    clearInterval(timer)
    sample()
    const end = cpuSnapshot()
    const { start } = batch
    let ticks = end.own - start.own + (end.children - start.children)
    for (const [pid, cpu] of end.each) ticks += cpu - (start.each.get(pid) ?? 0)
    for (const [pid, cpu] of start.each) if (!end.each.has(pid)) ticks -= cpu
    process.send({
      type: 'ended',
      peakRss: batch.peakRss,
      peakOwnRss: batch.peakOwnRss,
      peakProcs: batch.peakProcs,
      samples: batch.samples,
      cpuMs: (ticks * 1000) / CLK_TCK,
    })
    batch = null
  } else if (msg.cmd === 'exit') {
    clearInterval(timer)
    process.disconnect()
  }
})
scan()
process.send({ type: 'ready' })
