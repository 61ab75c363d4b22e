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
// The tree and its figures come from the native /proc reader (src/procfs, page size and clock
// tick from sysconf), which lists /proc and reads each process's stat once per tick.
//
// Memory: the sum over the tree of resident bytes, sampled every tick; `peakRss` is the largest sum seen between begin and end. (A sum of
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

const { binding } = require('../lib/native.js')

const ROOT = Number(process.argv[2])
const SELF = process.pid
const TICK_MS = 20

/** The tree (ROOT first, then its descendants) without this sampler's branch, from src/procfs. */
function tree() {
  return binding.processTree(ROOT, SELF)
}

let timer = null
let batch = null

function sample() {
  const [root, ...descendants] = tree()
  const own = root?.rss ?? 0
  let sum = own
  let procs = 0
  for (const p of descendants) {
    if (p.rss > 0) procs++
    sum += p.rss
  }
  batch.samples++
  if (sum > batch.peakRss) batch.peakRss = sum
  if (own > batch.peakOwnRss) batch.peakOwnRss = own
  if (procs > batch.peakProcs) batch.peakProcs = procs
}

/** CPU ms: the root's own and its reaped children's, and each live descendant's own. */
function cpuSnapshot() {
  const [root, ...descendants] = tree()
  const each = new Map()
  // (A zombie still reports its times until it is reaped into the root's children time.)
  for (const p of descendants) each.set(p.pid, p.cpuMs)
  return { own: root?.cpuMs ?? 0, children: root?.childrenCpuMs ?? 0, each }
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
    let cpuMs = end.own - start.own + (end.children - start.children)
    for (const [pid, cpu] of end.each) cpuMs += cpu - (start.each.get(pid) ?? 0)
    for (const [pid, cpu] of start.each) if (!end.each.has(pid)) cpuMs -= cpu
    process.send({
      type: 'ended',
      peakRss: batch.peakRss,
      peakOwnRss: batch.peakOwnRss,
      peakProcs: batch.peakProcs,
      samples: batch.samples,
      cpuMs,
    })
    batch = null
  } else if (msg.cmd === 'exit') {
    clearInterval(timer)
    process.disconnect()
  }
})
process.send({ type: 'ready' })
