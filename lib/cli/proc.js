'use strict'
// Memory and CPU of this process *and its descendants*, so that a provider that keeps worker
// processes (or spawns one per request) is measured whole. Linux reads /proc through the native
// reader (src/procfs: page size and clock tick from sysconf); elsewhere only this process is
// visible to Node, and the figures say so (`scope: 'process'`).

const { binding } = require('../native.js')

/** One reading: {rss (bytes), cpuMs (cumulative CPU time), processes, scope}. */
function sample(root = process.pid) {
  const tree = binding.processTree(root)
  if (tree.length > 0) {
    let rss = 0
    let cpuMs = 0
    for (const p of tree) {
      rss += p.rss
      // Own time plus reaped children's time: a child's time moves from its own entry into its
      // parent's when it is reaped, so the sum over the live tree never loses it.
      cpuMs += p.cpuMs + p.childrenCpuMs
    }
    return { rss, cpuMs, processes: tree.length, scope: 'tree' }
  }
  const cpu = process.cpuUsage()
  return { rss: process.memoryUsage().rss, cpuMs: (cpu.user + cpu.system) / 1000, processes: 1, scope: 'process' }
}

/**
 * Samples every `interval` ms until stop(); stop() returns {peakRss, cpuPercent, wallMs, scope}.
 * The timer is unref'd so a forgotten sampler never keeps the process alive.
 */
function startSampler({ interval = 25, now = () => performance.now() } = {}) {
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
