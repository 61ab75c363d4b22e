// Connects an EnhancedBuildFixProvider whose model server never answers, starts one request,
// and prints one JSON line once the request is running: its pid, the worker pids, and the work
// folders it made. The test then kills this process with SIGKILL.
//
//   node provider-orphan.mjs <workDir> <endpoint>

import fs from 'node:fs'

import { EnhancedBuildFixProvider } from '@promethean/benchmark'

const [workDir, endpoint] = process.argv.slice(2)

const provider = new EnhancedBuildFixProvider({
  name: 'orphan',
  type: 'buildfix',
  model: 'some-model',
  endpoint,
  options: {
    checkers: 'process',
    maxWorkers: 2,
    minWorkers: 2,
    cache: false,
    workDir,
    metricsDir: `${workDir}-metrics`,
    // Far longer than the test: a worker gone in time was not waiting for these.
    attemptTimeout: 600000,
    jobTimeout: 600000,
  },
})
await provider.connect()
void provider.execute({ prompt: 'fix', metadata: { fixtures: ['missing-export'] } })
process.stdout.write(`${JSON.stringify({ pid: process.pid, workers: provider.workerPids(), folders: fs.readdirSync(workDir) })}\n`)
// Stays alive (the request never ends) until it is killed.
setInterval(() => {}, 1 << 30)
