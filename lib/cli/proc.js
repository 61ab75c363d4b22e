'use strict'
// Memory and CPU of this process *and its descendants*, so that a provider that keeps worker
// processes (or spawns one per request) is measured whole. Linux reads /proc; elsewhere only
// this process is visible to Node, and the figures say so (`scope: 'process'`).

const fs = require('node:fs')

// Linux exposes sizes in pages and times in clock ticks; both are 4096 / 100 on every
// mainstream Linux build (x86_64, aarch64); getconf would need a child process to ask.
const PAGE_SIZE = 4096
const CLK_TCK = 100

function readStat(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ')
    // rest[0] is field 3 (state); field n is rest[n - 3].
    return {
      ppid: Number(rest[1]),
      ticks: Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14]),
      rss: Number(rest[21]) * PAGE_SIZE,
    }
  } catch {
    return null
  }
}

function treeLinux(root) {
  const stats = new Map()
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const s = readStat(name)
    if (s) stats.set(Number(name), s)
  }
  const children = new Map()
  for (const [pid, s] of stats) {
    if (!children.has(s.ppid)) children.set(s.ppid, [])
    children.get(s.ppid).push(pid)
  }
  let rss = 0
  let ticks = 0
  let count = 0
  const queue = [root]
  const seen = new Set()
  while (queue.length) {
    const pid = queue.pop()
    if (seen.has(pid)) continue
    seen.add(pid)
    const s = stats.get(pid)
    if (!s) continue
    rss += s.rss
    // Own time plus reaped children's time: a child's ticks move from its own entry into its
    // parent's cutime when it is reaped, so the sum over the live tree never loses them.
    ticks += s.ticks
    count++
    for (const c of children.get(pid) ?? []) queue.push(c)
  }
  return { rss, cpuMs: (ticks * 1000) / CLK_TCK, processes: count }
}

const linux = process.platform === 'linux' && fs.existsSync('/proc/self/stat')

/** One reading: {rss (bytes), cpuMs (cumulative CPU time), processes, scope}. */
function sample(root = process.pid) {
  if (linux) {
    try {
      return { ...treeLinux(root), scope: 'tree' }
    } catch {
      // fall through to the process-only figures
    }
  }
  const cpu = process.cpuUsage()
  return { rss: process.memoryUsage().rss, cpuMs: (cpu.user + cpu.system) / 1000, processes: 1, scope: 'process' }
}

/**
 * Samples every `interval` ms until stop(); stop() returns {peakRss, cpuPercent, wallMs, scope}.
 * The timer is unref'd so a forgotten sampler never keeps the process alive.
 */
function startSampler({ interval = 100, now = () => performance.now() } = {}) {
  const first = sample()
  const t0 = now()
  let peak = first.rss
  let peakProcesses = first.processes
  const timer = setInterval(() => {
    const s = sample()
    if (s.rss > peak) peak = s.rss
    if (s.processes > peakProcesses) peakProcesses = s.processes
  }, interval)
  timer.unref()
  return {
    stop() {
      clearInterval(timer)
      const last = sample()
      if (last.rss > peak) peak = last.rss
      const wallMs = Math.max(1, now() - t0)
      return {
        peakRss: peak,
        cpuPercent: Math.max(0, (100 * (last.cpuMs - first.cpuMs)) / wallMs),
        wallMs,
        peakProcesses,
        scope: last.scope,
      }
    },
  }
}

module.exports = { sample, startSampler }
