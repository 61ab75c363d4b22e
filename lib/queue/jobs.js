'use strict'
// What the coordinator and the workers agree on: the queue of a run, the registry of runs the
// workers watch, the shape of a job, and the content hash that proves a worker has the same
// fixture as the coordinator.

const crypto = require('node:crypto')
const path = require('node:path')

const { hashFixtureDir } = require('../cli/analysis.js')

/** BullMQ's key prefix for every queue of this package. */
const PREFIX = 'promethean-bench'
/** The Redis set of the runs in progress (run ids); workers take jobs from each one's queue. */
const RUNS_KEY = `${PREFIX}:runs`
/** Version of the job data; a worker refuses a job of another version. */
const JOB_VERSION = 1

/** A fresh run id: time first (sortable), then randomness (two coordinators never collide). */
function newRunId() {
  return `${Date.now().toString(36)}-${crypto.randomBytes(6).toString('hex')}`
}

/** One queue per run, so two runs never mix. */
function queueName(runId) {
  return `run-${runId}`
}

/** Hash of a set of files given as {relative path: text}, the way hashFixtureDir hashes a folder. */
function hashFiles(files) {
  const h = crypto.createHash('sha256')
  for (const name of Object.keys(files).sort()) {
    const bytes = Buffer.from(files[name])
    h.update(`${name}\0${bytes.length}\0`)
    h.update(bytes)
  }
  return h.digest('hex')
}

// The generated set, by (count, seed): generating it is deterministic but not free.
const generated = new Map()

/**
 * The content hash of each fixture of a selection, by name. `set` is 'small', 'massive' or
 * 'dir' (with `fixturesDir`). The massive set is hashed as the generator makes it (files and
 * fixture.json as data), so a worker with another version of the generator is found out
 * without writing anything.
 */
function fixtureHashes({ set, fixturesDir, names, count = 200, seed = 1 }) {
  const out = new Map()
  if (set === 'massive') {
    const key = `${count}:${seed}`
    if (!generated.has(key)) {
      const all = new Map()
      for (const fx of require('../../fixtures/generate.js').generate({ count, seed })) {
        all.set(fx.name, hashFiles({ ...fx.files, 'fixture.json': JSON.stringify(fx.fixture) }))
      }
      generated.set(key, all)
    }
    const all = generated.get(key)
    for (const name of names) if (all.has(name)) out.set(name, all.get(name))
    return out
  }
  const root = set === 'dir' ? fixturesDir : require('../../worker/fixtures.js').SMALL_DIR
  for (const name of names) {
    try {
      out.set(name, hashFixtureDir(path.join(root, name)))
    } catch {}
  }
  return out
}

/**
 * Checks a job's data as a worker receives it; returns it, or throws saying what is wrong.
 * Jobs come from Redis, so nothing in them is trusted: a fixture name is a plain folder name.
 */
function checkJob(data) {
  const fail = (what) => {
    throw new Error(`a malformed job (${what}): is the coordinator another version of @promethean/benchmark?`)
  }
  if (!data || typeof data !== 'object') fail('no data')
  if (data.v !== JOB_VERSION) fail(`version ${JSON.stringify(data.v)}, this worker reads ${JOB_VERSION}`)
  if (typeof data.fixture !== 'string' || !/^[\w.-]+$/.test(data.fixture) || data.fixture === '.' || data.fixture === '..') fail('fixture')
  if (!['small', 'massive', 'dir'].includes(data.set)) fail('set')
  if (data.set === 'dir' && (typeof data.fixturesDir !== 'string' || !path.isAbsolute(data.fixturesDir))) fail('fixturesDir')
  if (typeof data.hash !== 'string' || !/^[0-9a-f]{64}$/.test(data.hash)) fail('hash')
  if (!data.model || typeof data.model.name !== 'string' || data.model.name === '') fail('model')
  if (typeof data.cache !== 'boolean') fail('cache')
  if (!Number.isInteger(data.index) || data.index < 0) fail('index')
  return data
}

module.exports = { PREFIX, RUNS_KEY, JOB_VERSION, newRunId, queueName, fixtureHashes, hashFiles, checkJob }
