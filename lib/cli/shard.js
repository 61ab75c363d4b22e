'use strict'
// Shards of a BuildFix run and their merge: `run --shard i/n` runs one n-th of the jobs
// (fixture x model) and records which shard it was and the identity of the whole job set;
// `merge` checks that shard reports belong together and puts their results back in the order an
// unsharded run has, so the merged report is written by the same code as a single run's.
//
// Which shard a job falls in: the full job list is ranked by SHA-256 of `fixture\0model` (ties,
// which SHA-256 does not have in practice, by the key itself) and dealt out round-robin, so shard
// sizes differ by at most one and a shard mixes models and fixture families instead of taking a
// contiguous slice of them. The rank depends on the whole job set, which is why every shard
// report carries the job set and `merge` refuses reports of different ones. SHA-256 of UTF-8
// text gives the same answer on every machine and Node version.

const crypto = require('node:crypto')
const path = require('node:path')

const { UsageError } = require('./args.js')

/** Most shards a run can be split into; more than this is surely a typo. */
const MAX_SHARDS = 10000

/** Version of the job-set identity below: part of the hash, so a change of rule never matches. */
const JOB_SET_VERSION = 1

/** `--shard i/n` as {index, total}; anything else is a UsageError naming the flag. */
function parseShard(raw) {
  const m = /^(\d+)\/(\d+)$/.exec(String(raw).trim())
  const index = m ? Number(m[1]) : NaN
  const total = m ? Number(m[2]) : NaN
  if (!m || !Number.isSafeInteger(index) || !Number.isSafeInteger(total) || index < 1 || total < 1 || index > total || total > MAX_SHARDS) {
    throw new UsageError(`--shard must be i/n with whole numbers 1 <= i <= n <= ${MAX_SHARDS} (e.g. 2/4), got ${JSON.stringify(String(raw))}`)
  }
  return { index, total }
}

function sha256(text) {
  return crypto.createHash('sha256').update(text, 'utf8').digest('hex')
}

function jobKey(fixture, model) {
  return `${fixture}\0${model}`
}

/**
 * The settings that make two runs' results comparable beyond models and fixtures: the plan
 * format and judging rule, the package (its prompts and engine) and the TypeScript that checks.
 */
function runSettings() {
  let typescript = null
  try {
    typescript = require(require.resolve('typescript/package.json', { paths: [path.join(__dirname, '..', '..', 'worker')] })).version
  } catch {}
  return {
    planFormat: require('../../worker/plan-format.json').version,
    package: require('../../package.json').version,
    typescript,
  }
}

/** What identifies a job set: everything but the id, in a fixed order. */
function identityOf({ models, fixtures, settings }) {
  const jobs = []
  for (const m of models) for (const f of fixtures) jobs.push(jobKey(f.name, m.name))
  jobs.sort()
  const byName = [...fixtures].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((f) => [f.name, f.hash ?? null])
  return sha256(JSON.stringify({ version: JOB_SET_VERSION, jobs, fixtures: byName, models, settings }))
}

/**
 * The job set of a run: the models in run order (name, and the API and seed that change what a
 * model answers; not the endpoint, so shards may each ask a server of their own), the fixtures
 * in run order with their content hashes, the settings, and `id`, a hash of all of it with the
 * sorted job list.
 */
function jobSet({ targets, fixtures, settings = runSettings() }) {
  const models = targets.map((t) => {
    const m = { name: t.name }
    if (t.api) m.api = t.api
    if (t.seed !== undefined) m.seed = t.seed
    return m
  })
  const list = fixtures.map((f) => ({ name: f.name, hash: f.hash ?? null }))
  const names = new Set(list.map((f) => f.name))
  if (names.size !== list.length) throw new Error('the fixture set names a fixture twice')
  const set = { models, fixtures: list, settings }
  return { id: identityOf(set), jobs: models.length * list.length, ...set }
}

/** Every job of a set, in the order an unsharded run goes through them: model by model. */
function jobList(set) {
  const jobs = []
  for (const m of set.models) for (const f of set.fixtures) jobs.push({ fixture: f.name, model: m.name })
  return jobs
}

/** Shard (1-based) of each job of `jobs`, for `total` shards. */
function shardIndexes(jobs, total) {
  const ranked = jobs.map((j, i) => {
    const key = jobKey(j.fixture, j.model)
    return { i, key, hash: sha256(key) }
  })
  ranked.sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  const out = new Array(jobs.length)
  ranked.forEach((r, rank) => {
    out[r.i] = (rank % total) + 1
  })
  return out
}

/** The jobs of shard `{index, total}`, in run order. */
function shardJobs(jobs, { index, total }) {
  const of = shardIndexes(jobs, total)
  return jobs.filter((_, i) => of[i] === index)
}

/**
 * Checks that an engine ran only the jobs it was given, each once (an engine that ignores
 * `jobs` would otherwise pass a whole run off as a shard). Throws an Error naming the first stray.
 */
function checkShardResults(results, jobs, shard) {
  const wanted = new Set(jobs.map((j) => jobKey(j.fixture, j.model)))
  const seen = new Set()
  for (const r of results) {
    const key = jobKey(r.fixture, r.model)
    const what = `fixture ${JSON.stringify(r.fixture)} with model ${JSON.stringify(r.model)}`
    if (!wanted.has(key)) throw new Error(`the benchmark runner returned a result outside shard ${shard.index}/${shard.total}: ${what}`)
    if (seen.has(key)) throw new Error(`the benchmark runner returned two results for ${what}`)
    seen.add(key)
  }
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/** The shard and job set a report records, checked; throws a message (without the file). */
function shardOf(doc) {
  const run = doc.run
  const shard = isObject(run) ? run.shard : undefined
  if (!isObject(shard)) throw new Error("is not a shard report (no run.shard; shard reports are written by 'run --shard i/n')")
  const { index, total } = shard
  if (!Number.isSafeInteger(total) || total < 1 || total > MAX_SHARDS || !Number.isSafeInteger(index) || index < 1 || index > total) {
    throw new Error(`has a bad run.shard (expected {index, total} with whole numbers 1 <= index <= total), got ${JSON.stringify({ index, total })}`)
  }
  const set = run.jobSet
  const fixturesOk =
    isObject(set) &&
    Array.isArray(set.fixtures) &&
    set.fixtures.every((f) => isObject(f) && typeof f.name === 'string' && (f.hash === null || typeof f.hash === 'string'))
  const modelsOk = isObject(set) && Array.isArray(set.models) && set.models.length > 0 && set.models.every((m) => isObject(m) && typeof m.name === 'string')
  if (!fixturesOk || !modelsOk || !isObject(set.settings) || typeof set.id !== 'string') {
    throw new Error('has no usable run.jobSet ({id, models, fixtures, settings}): it cannot be checked against the other shards')
  }
  if (identityOf(set) !== set.id) throw new Error('has a run.jobSet whose content does not match its id (the file was changed after the run)')
  return { index, total, set }
}

function list(names) {
  const shown = names.slice(0, 3).map((n) => JSON.stringify(n))
  return names.length > 3 ? `${shown.join(', ')} and ${names.length - 3} more` : shown.join(', ')
}

/** Why job set `b` (of `fileB`) is not job set `a` (of `fileA`), in a few words. */
function difference(a, b, fileA) {
  const names = (s) => s.models.map((m) => m.name).join(',')
  if (JSON.stringify(a.models) !== JSON.stringify(b.models)) {
    return `its models (${names(b)}, with their APIs and seeds) are not those of ${fileA} (${names(a)})`
  }
  const hashA = new Map(a.fixtures.map((f) => [f.name, f.hash]))
  const hashB = new Map(b.fixtures.map((f) => [f.name, f.hash]))
  const onlyB = b.fixtures.filter((f) => !hashA.has(f.name)).map((f) => f.name)
  const onlyA = a.fixtures.filter((f) => !hashB.has(f.name)).map((f) => f.name)
  if (onlyA.length > 0 || onlyB.length > 0) {
    const parts = []
    if (onlyB.length > 0) parts.push(`it has fixture${onlyB.length > 1 ? 's' : ''} ${list(onlyB)} that ${fileA} has not`)
    if (onlyA.length > 0) parts.push(`it lacks fixture${onlyA.length > 1 ? 's' : ''} ${list(onlyA)} of ${fileA}`)
    return parts.join(' and ')
  }
  const changed = b.fixtures.filter((f) => hashA.get(f.name) !== f.hash).map((f) => f.name)
  if (changed.length > 0) return `the content of fixture${changed.length > 1 ? 's' : ''} ${list(changed)} differs from ${fileA}'s`
  if (a.fixtures.some((f, i) => f.name !== b.fixtures[i].name)) return `its fixtures are in another order than ${fileA}'s`
  for (const key of new Set([...Object.keys(a.settings), ...Object.keys(b.settings)])) {
    if (JSON.stringify(a.settings[key]) !== JSON.stringify(b.settings[key])) {
      return `its setting ${key} (${JSON.stringify(b.settings[key] ?? null)}) is not ${fileA}'s (${JSON.stringify(a.settings[key] ?? null)})`
    }
  }
  return `its job set ${b.id.slice(0, 12)} is not ${fileA}'s (${a.id.slice(0, 12)})`
}

/**
 * Merges shard reports `[{file, doc}]` (docs already read as results files) into the results of
 * the whole run, in run order, and the run's metadata. Refuses with a UsageError naming the file
 * and the reason: not a shard report, another job set, mixed totals, a shard given twice, a
 * result that is not a job of its shard or given twice; and, unless `allowPartial`, a missing
 * shard, an interrupted one, or one without a result for each of its jobs.
 */
function mergeShards(entries, { allowPartial = false } = {}) {
  const shards = entries.map(({ file, doc }) => {
    try {
      return { file, doc, ...shardOf(doc) }
    } catch (err) {
      throw new UsageError(`${file} ${err.message}`)
    }
  })
  const first = shards[0]
  const byIndex = new Map()
  for (const s of shards) {
    if (s.total !== first.total)
      throw new UsageError(
        `${s.file} is shard ${s.index}/${s.total} but ${first.file} is shard ${first.index}/${first.total}: shards of one run share their total`,
      )
    if (s.set.id !== first.set.id) throw new UsageError(`${s.file} belongs to another run: ${difference(first.set, s.set, first.file)}`)
    if (byIndex.has(s.index)) throw new UsageError(`${s.file} is shard ${s.index}/${s.total} again (so is ${byIndex.get(s.index).file})`)
    byIndex.set(s.index, s)
  }
  const missing = []
  for (let i = 1; i <= first.total; i++) if (!byIndex.has(i)) missing.push(i)
  if (missing.length > 0 && !allowPartial) {
    const which = missing.length > 5 ? `${missing.slice(0, 5).join(', ')} and ${missing.length - 5} more` : missing.join(', ')
    throw new UsageError(
      `shard${missing.length > 1 ? 's' : ''} ${which} of ${first.total} missing (give every shard's report, or --allow-partial to merge what is there)`,
    )
  }
  const all = jobList(first.set)
  const shardOfJob = shardIndexes(all, first.total)
  const position = new Map(all.map((j, i) => [jobKey(j.fixture, j.model), i]))
  const placed = new Array(all.length)
  const ordered = [...byIndex.values()].sort((a, b) => a.index - b.index)
  for (const s of ordered) {
    if (s.doc.run.interrupted === true && !allowPartial) {
      throw new UsageError(
        `${s.file} is shard ${s.index}/${s.total} of a run that was interrupted: its results are partial (run the shard again, or --allow-partial)`,
      )
    }
    let count = 0
    for (const r of s.doc.results) {
      const what = `fixture ${JSON.stringify(r.fixture)} with model ${JSON.stringify(r.model)}`
      const at = position.get(jobKey(r.fixture, r.model))
      if (at === undefined || shardOfJob[at] !== s.index)
        throw new UsageError(`${s.file} has a result for ${what}, which is not a job of shard ${s.index}/${s.total}`)
      if (placed[at]) throw new UsageError(`${s.file} has two results for ${what}`)
      placed[at] = r
      count++
    }
    const expected = shardOfJob.filter((i) => i === s.index).length
    if (count < expected && !allowPartial) {
      const lacking = all.filter((j, i) => shardOfJob[i] === s.index && !placed[i]).map((j) => `${j.fixture} (${j.model})`)
      throw new UsageError(`${s.file} has ${count} of the ${expected} results of shard ${s.index}/${s.total}, none for ${list(lacking)} (or --allow-partial)`)
    }
  }
  const results = placed.filter(Boolean)
  const { shard: _shard, ...base } = ordered[0].doc.run
  const run = {
    ...base,
    interrupted: ordered.some((s) => s.doc.run.interrupted === true),
    merged: {
      total: first.total,
      shards: ordered.map((s) => ({ index: s.index, file: s.file, timestamp: s.doc.timestamp ?? null, results: s.doc.results.length })),
      missing,
      jobs: all.length,
      results: results.length,
    },
  }
  return { results, run }
}

module.exports = { MAX_SHARDS, parseShard, runSettings, jobSet, jobList, shardIndexes, shardJobs, checkShardResults, mergeShards }
