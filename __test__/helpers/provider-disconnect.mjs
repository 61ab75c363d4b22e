// Connects an EnhancedBuildFixProvider, runs one request, disconnects, and reports on stdout
// (one JSON line) the worker pids it had and every process still running below this one whose
// command line names the worker script. Then it must exit on its own.
//
// It also reports the live worker_threads Workers before and after disconnect() (checkers
// `thread`), and the handles still keeping the event loop alive after it.
//
//   node provider-disconnect.mjs <tempdir> [process|thread]

import fs from 'node:fs'
import path from 'node:path'

import { EnhancedBuildFixProvider } from '@promethean/benchmark'

const dir = process.argv[2]
const checkers = process.argv[3] ?? 'process'

function parentOf(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  } catch {
    return 0
  }
}

/** Live processes below this one running the worker script. */
function workerDescendants() {
  const found = []
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let cmdline
    try {
      cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8')
    } catch {
      continue
    }
    if (!cmdline.includes('buildfix-worker.js')) continue
    for (let p = Number(entry); p > 1; p = parentOf(p)) {
      if (p === process.pid) {
        found.push(Number(entry))
        break
      }
    }
  }
  return found
}

const provider = new EnhancedBuildFixProvider({
  name: 'disconnect',
  type: 'buildfix',
  model: 'gold',
  options: {
    checkers,
    maxWorkers: 2,
    minWorkers: 2,
    cache: false,
    metricsDir: path.join(dir, 'metrics'),
    workDir: path.join(dir, 'work'),
  },
})
await provider.connect()
const response = await provider.execute({ prompt: 'fix', metadata: { fixtures: ['missing-export', 'misspelled-name'] } })
const pids = provider.workerPids()
const before = workerDescendants()
const threadsBefore = process.report.getReport().workers.length
await provider.disconnect()
const after = workerDescendants()
const threadsAfter = process.report.getReport().workers.length
const handles = process.getActiveResourcesInfo()
const successful = response.metadata.successfulTests
process.stdout.write(`${JSON.stringify({ pids, before, after, threadsBefore, threadsAfter, handles, successful })}\n`)
