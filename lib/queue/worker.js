'use strict'
// A worker of distributed runs (`promethean-bench worker --queue URL`): watches the registry of
// runs in progress and takes jobs from each run's queue with its own warm providers (one
// EnhancedBuildFixProvider per model, kept connected between jobs and runs). A job runs only on
// the fixture the coordinator hashed: a worker without it, or with different content, fails the
// job with the reason instead of measuring something else.
//
// Ends on `signal` (Ctrl-C: the jobs in flight finish first), or when Redis has been unreachable
// for `redisTimeout` (one line, exit 1): either way its providers disconnect, so no process it
// started outlives it.

const os = require('node:os')

const { RedisLink, closeWithin, queueDeps } = require('./redis.js')
const { PREFIX, RUNS_KEY, queueName, fixtureHashes, checkJob } = require('./jobs.js')
const runtime = require('../cli/runtime.js')

/** How often the registry of runs is read (a run's jobs wait at most this long for a worker). */
const POLL_MS = 500
const DEFAULT_LOCK_DURATION = 10_000
const DEFAULT_STALLED_INTERVAL = 5_000

/**
 * @param {{url: string, workers?: number, concurrency?: number, lockDuration?: number,
 *   stalledInterval?: number, redisTimeout?: number, signal?: AbortSignal, log?: (line: string) => void,
 *   notice?: (line: string) => void, loadPackage?: () => object}} o
 * @returns {Promise<number>} 0 stopped by `signal`... 130, 1 Redis lost
 */
async function runWorker(o) {
  // Before anything starts: a missing optional dependency is one clear line.
  const { bullmq } = queueDeps()
  const { url, workers, concurrency = 1, signal } = o
  const lockDuration = o.lockDuration ?? DEFAULT_LOCK_DURATION
  const stalledInterval = o.stalledInterval ?? DEFAULT_STALLED_INTERVAL
  const log = o.log ?? (() => {})
  const notice = o.notice ?? (() => {})
  const pkg = (o.loadPackage ?? runtime.requirePackage)()
  const Provider = pkg.EnhancedBuildFixProvider
  if (typeof Provider !== 'function') throw new Error('this build of @promethean/benchmark has no EnhancedBuildFixProvider; the command needs it')
  const { Worker, UnrecoverableError } = bullmq
  const who = `${os.hostname()}:${process.pid}`

  const link = new RedisLink(url, { timeout: o.redisTimeout })
  const providers = new Map()
  const running = new Map()
  let pollTimer = null
  let stopping = false
  let stop
  const stopped = new Promise((resolve) => {
    stop = resolve
  })
  const onAbort = () => stop('interrupted')

  /** The warm provider of a model (endpoint, API, cache setting), connected on first use. */
  function providerFor(data) {
    const key = JSON.stringify([data.model, data.endpoint, data.cache])
    if (!providers.has(key)) {
      const provider = new Provider(
        runtime.providerConfig({
          model: data.model.name,
          endpoint: data.endpoint ?? undefined,
          cache: data.cache,
          workers,
          sharedCache: o.sharedCache,
          target: data.model,
        }),
      )
      runtime.noticeSharedCacheErrors(provider, o.notice)
      const connected = provider.connect().then(() => provider)
      connected.catch(() => providers.delete(key))
      providers.set(key, connected)
    }
    return providers.get(key)
  }

  async function processJob(job) {
    const data = checkJob(job.data)
    const where = data.set === 'dir' ? `in ${data.fixturesDir}` : `of the ${data.set} set`
    const have = fixtureHashes({ set: data.set, fixturesDir: data.fixturesDir, names: [data.fixture] }).get(data.fixture)
    if (!have) throw new UnrecoverableError(`worker ${who} has no fixture ${JSON.stringify(data.fixture)} ${where}`)
    if (have !== data.hash) {
      throw new UnrecoverableError(
        `worker ${who} has another fixture ${JSON.stringify(data.fixture)} ${where} (content hash ${have.slice(0, 12)} here, ${data.hash.slice(0, 12)} on the coordinator)`,
      )
    }
    const provider = await providerFor(data)
    log(`took ${data.runId}/${job.id} ${data.fixture} ${data.model.name}`)
    const fixtureType = data.set === 'massive' ? 'massive' : 'small'
    const results = await runtime.runFixtures(provider, data.model.name, fixtureType, [data.fixture], data.fixturesDir)
    log(`done ${data.runId}/${job.id} ${results.every((r) => r.success) ? 'pass' : 'fail'}`)
    return { results, worker: who }
  }

  function startRun(runId) {
    const worker = new Worker(queueName(runId), processJob, {
      connection: link.connection,
      prefix: PREFIX,
      concurrency,
      lockDuration,
      stalledInterval,
      // A job whose worker died is given to another one; twice is a pattern, not bad luck.
      maxStalledCount: 2,
    })
    worker.on('error', (err) => (link.lastError = err))
    running.set(runId, worker)
    notice(`worker ${who}: taking jobs of run ${runId}`)
  }

  /**
   * Lets a finished run go: its jobs here end, then what this worker's BullMQ Worker may have
   * written after the coordinator removed the queue (its stalled-job check, its meta) goes too,
   * unless the run is back in the registry.
   */
  async function endRun(runId, worker) {
    await worker.close()
    if (await link.client.sismember(RUNS_KEY, runId)) return
    // SCAN, not KEYS: a shared Redis may hold many other keys, and KEYS would block it.
    let cursor = '0'
    do {
      const [next, keys] = await link.client.scan(cursor, 'MATCH', `${PREFIX}:${queueName(runId)}:*`, 'COUNT', 500)
      if (keys.length > 0) await link.client.del(...keys)
      cursor = next
    } while (cursor !== '0')
    notice(`worker ${who}: run ${runId} ended`)
  }

  // Reads the registry; a run that left it (finished, interrupted) is let go once its jobs here end.
  async function sync() {
    pollTimer = null
    try {
      const runs = new Set(await link.client.smembers(RUNS_KEY))
      for (const runId of runs) if (!running.has(runId) && !stopping && /^[0-9a-z]+-[0-9a-f]+$/.test(runId)) startRun(runId)
      for (const [runId, worker] of running) {
        if (runs.has(runId)) continue
        running.delete(runId)
        endRun(runId, worker).catch((err) => (link.lastError = err))
      }
    } catch (err) {
      link.lastError = err
    }
    if (!stopping) pollTimer = setTimeout(sync, POLL_MS)
  }

  let reason = 'interrupted'
  try {
    await link.ready()
    link.on('lost', (err) => stop(err))
    if (signal) {
      if (signal.aborted) stop('interrupted')
      signal.addEventListener('abort', onAbort, { once: true })
    }
    notice(`worker ${who}: waiting for jobs on ${link.shown} (concurrency ${concurrency}; Ctrl-C to stop)`)
    await sync()
    reason = await stopped
  } finally {
    stopping = true
    clearTimeout(pollTimer)
    if (signal) signal.removeEventListener('abort', onAbort)
    const lost = Boolean(link.lostError)
    const all = [...running.values()]
    running.clear()
    // With Redis there, the jobs in flight finish and are reported; without it, nothing waits.
    await closeWithin(
      () => Promise.all(all.map((w) => w.close(lost))),
      () =>
        Promise.all(
          all.map((w) =>
            closeWithin(
              () => w.disconnect(),
              () => {},
              1000,
            ),
          ),
        ),
      lost ? 1000 : 10 * 60_000,
    )
    link.closed = true
    link.close()
    await Promise.allSettled([...providers.values()].map((p) => p.then((provider) => provider.disconnect())))
  }
  if (reason instanceof Error) {
    notice(`worker ${who}: stopping: ${reason.message}`)
    return 1
  }
  return 130
}

module.exports = { runWorker, DEFAULT_LOCK_DURATION, DEFAULT_STALLED_INTERVAL }
