'use strict'
// The coordinator of a distributed run (`promethean-bench run --queue URL`): puts one job per
// model x fixture on the run's own BullMQ queue, registers the run for the workers, and gathers
// each job's results by job id, once, whatever the workers do (a stalled job that another worker
// runs again is still one job). Returns the results in job order (models in order, fixtures in
// order), as a single-machine run with concurrency 1 lists them, so the reports built from them
// are the same. Its queue is removed at the end, on Ctrl-C, and on failure when Redis allows.

const { RedisLink, closeWithin, queueDeps } = require('./redis.js')
const { PREFIX, RUNS_KEY, JOB_VERSION, newRunId, queueName, fixtureHashes } = require('./jobs.js')
const runtime = require('../cli/runtime.js')
const { checkResult } = require('../cli/summary.js')

/** How often the coordinator compares its count with the queue's (events can be missed). */
const RECONCILE_MS = 1000
/** After this long with no job taken, the coordinator says it is waiting for workers. */
const NO_WORKER_NOTICE_MS = 10_000

/** What a job names as its fixture set. */
function setOf(fixtures, fixturesDir) {
  if (fixturesDir) return 'dir'
  return fixtures === 'massive' ? 'massive' : 'small'
}

/** A model as the job carries it: what a worker needs to ask the same server the same way. */
function modelSpec(target) {
  const spec = { name: target.name }
  for (const key of ['endpoint', 'api', 'apiKeyEnv', 'seed', 'maxConcurrentRequests']) {
    if (target[key] !== undefined) spec[key] = target[key]
  }
  return spec
}

/**
 * @param {object} o the options of the `runBenchmark` engine (models, targets, fixtures,
 *   fixturesDir, endpoint, cache, onProgress, signal) plus `queue` (the Redis URL),
 *   `redisTimeout` (ms), `notice(line)` for the coordinator's messages, `loadPackage`.
 */
async function runQueued(o) {
  // Before anything starts: a missing optional dependency is one clear line.
  const { bullmq } = queueDeps()
  const { queue: url, models, fixtures, fixturesDir, endpoint, cache = true, onProgress = () => {}, signal } = o
  const notice = o.notice ?? (() => {})
  const pkg = (o.loadPackage ?? runtime.requirePackage)()
  runtime.checkFixtureNames(pkg, fixtures, fixturesDir)
  const names = await runtime.listFixtureNames(pkg, fixtures, fixturesDir)
  if (!Array.isArray(names)) throw new Error('this build of @promethean/benchmark has no listFixtures; a distributed run needs the fixture names')
  const set = setOf(fixtures, fixturesDir)
  const hashes = fixtureHashes({ set, fixturesDir, names })
  const runId = newRunId()
  const targets = o.targets ?? models.map((name) => ({ name }))
  const jobs = []
  for (const target of targets) {
    for (const fixture of names) {
      const hash = hashes.get(fixture)
      if (!hash) throw new Error(`fixture ${JSON.stringify(fixture)} cannot be read here, so no worker could prove it has the same one`)
      jobs.push({
        v: JOB_VERSION,
        runId,
        index: jobs.length,
        model: modelSpec(target),
        endpoint: endpoint ?? null,
        fixture,
        set,
        ...(fixturesDir ? { fixturesDir } : {}),
        hash,
        cache,
      })
    }
  }

  const link = new RedisLink(url, { timeout: o.redisTimeout })
  const { Queue, QueueEvents } = bullmq
  let queue = null
  let events = null
  let registered = false
  const gathered = new Map()
  let done = 0
  let reconcileTimer = null
  let noticeTimer = null
  let finished
  const finishedPromise = new Promise((resolve, reject) => {
    finished = { resolve, reject }
  })
  // Awaited below; until then a rejection (Redis lost while jobs are being added) is not unhandled.
  finishedPromise.catch(() => {})
  const onAbort = () => finished.resolve()
  try {
    await link.ready()
    const name = queueName(runId)
    const connection = link.connection
    queue = new Queue(name, { connection, prefix: PREFIX })
    // Its blocking read has a watchdog timer of blockingTimeout + 1 s that outlives a close
    // while Redis is gone: kept short, so a coordinator that lost Redis exits soon after.
    events = new QueueEvents(name, { connection, prefix: PREFIX, blockingTimeout: 1000 })
    // BullMQ objects report connection trouble as 'error' events; the link decides when it is fatal.
    queue.on('error', (err) => (link.lastError = err))
    events.on('error', (err) => (link.lastError = err))
    link.on('lost', (err) => finished.reject(err))

    /** The job of a job id (`j<index>`) not gathered yet, or nothing: each job counts once. */
    const pending = (jobId) => {
      const job = jobs[Number(String(jobId).replace(/^j/, ''))]
      return job && !gathered.has(job.index) ? job : null
    }
    const gather = (job, results) => {
      gathered.set(job.index, results)
      for (const result of results) onProgress({ done: ++done, total: jobs.length, result })
      if (gathered.size === jobs.length) finished.resolve()
    }
    const failedJob = (jobId, reason) => {
      const job = pending(jobId)
      if (!job) return
      const why = String(reason).split('\n')[0]
      notice(`job ${jobId} (${job.fixture}, ${job.model.name}) failed on its worker: ${why}`)
      gather(job, [runtime.failedResult(job.fixture, job.model.name, `worker: ${why}`, 0)])
    }
    /** A worker's answer, checked like any results file: the job's fixture and model, well formed. */
    const completedJob = (jobId, value) => {
      const job = pending(jobId)
      if (!job) return
      try {
        if (typeof value === 'string') value = JSON.parse(value)
        if (!value || !Array.isArray(value.results) || value.results.length === 0) throw new TypeError('no results')
        value.results.forEach(checkResult)
        const stray = value.results.find((r) => r.fixture !== job.fixture || r.model !== job.model.name)
        if (stray) throw new TypeError(`a result of ${JSON.stringify(stray.fixture)} / ${JSON.stringify(stray.model)}`)
      } catch (err) {
        return failedJob(jobId, `its worker answered with something else than the job's results (${err.message})`)
      }
      gather(job, value.results)
    }
    events.on('completed', ({ jobId, returnvalue }) => completedJob(jobId, returnvalue))
    events.on('failed', ({ jobId, failedReason }) => failedJob(jobId, failedReason))
    events.on('stalled', ({ jobId }) => notice(`job ${jobId} stalled (its worker went away): it goes to another worker`))
    let taken = false
    events.on('active', () => {
      taken = true
    })
    await Promise.race([events.waitUntilReady(), link.whenLost()])
    await Promise.race([link.client.sadd(RUNS_KEY, runId), link.whenLost()])
    registered = true
    await Promise.race([
      queue.addBulk(
        jobs.map((data) => ({ name: data.fixture, data, opts: { jobId: `j${data.index}`, attempts: 1, removeOnComplete: false, removeOnFail: false } })),
      ),
      link.whenLost(),
    ])
    notice(`run ${runId}: ${jobs.length} jobs on queue ${name} of ${link.shown}; workers: promethean-bench worker --queue URL`)
    if (signal) {
      if (signal.aborted) finished.resolve()
      signal.addEventListener('abort', onAbort, { once: true })
    }
    noticeTimer = setTimeout(() => {
      if (!taken && gathered.size === 0)
        notice(`no worker has taken a job for ${NO_WORKER_NOTICE_MS / 1000} s: start one with 'promethean-bench worker --queue URL'`)
    }, NO_WORKER_NOTICE_MS)
    // Events are a stream that a reconnect can skip: the queue's own record is compared now and
    // then, and any finished job not yet gathered is read from it.
    const reconcile = async () => {
      reconcileTimer = null
      try {
        // Every state a job can be in (BullMQ's default list), counted in one script.
        const counts = await queue.getJobCounts()
        if (counts.active > 0) taken = true
        // Finished jobs stay until the end, so every job is somewhere; fewer means Redis lost them.
        const present = Object.values(counts).reduce((sum, n) => sum + n, 0)
        if (present < jobs.length) {
          return finished.reject(
            new Error(
              `the run's jobs are gone from Redis at ${link.shown} (${present} of ${jobs.length} left): was it restarted without its data, flushed, or the queue removed?`,
            ),
          )
        }
        if (counts.completed + counts.failed > gathered.size) {
          for (const job of await queue.getJobs(['completed'])) {
            if (job) completedJob(job.id, job.returnvalue)
          }
          for (const job of await queue.getJobs(['failed'])) if (job) failedJob(job.id, job.failedReason)
        }
      } catch (err) {
        link.lastError = err
      }
      if (gathered.size < jobs.length && !link.closed) reconcileTimer = setTimeout(reconcile, RECONCILE_MS)
    }
    reconcileTimer = setTimeout(reconcile, RECONCILE_MS)
    await finishedPromise
  } finally {
    if (signal) signal.removeEventListener('abort', onAbort)
    clearTimeout(reconcileTimer)
    clearTimeout(noticeTimer)
    link.closed = true
    const lost = Boolean(link.lostError)
    // With Redis there, the run leaves nothing behind; without it, nothing waits for it.
    await closeWithin(
      async () => {
        if (lost) return
        if (registered) await link.client.srem(RUNS_KEY, runId)
        if (queue) await queue.obliterate({ force: true })
        if (events) await events.close()
        if (queue) await queue.close()
      },
      async () => {
        link.close()
        await Promise.all(
          [events, queue].filter(Boolean).map((o) =>
            closeWithin(
              () => o.disconnect(),
              () => {},
              500,
            ),
          ),
        )
      },
      lost ? 0 : 10_000,
    )
  }
  const results = []
  for (let i = 0; i < jobs.length; i++) if (gathered.has(i)) results.push(...gathered.get(i))
  return results
}

module.exports = { runQueued }
