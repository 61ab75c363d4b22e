'use strict'
// One BuildFix job, in process: count diagnostics, get a plan, apply it, count again, judge.
//
// Attempts and the fixture: the worker remembers the text of every source file at the start of
// the job. Before each attempt after the first it writes those texts back, so every attempt
// starts from the original fixture and never sees an earlier attempt's edits; a retry prompt is
// told why the previous plan failed instead. After the job the files hold the edits of the last
// attempt that applied a plan (in place); restoring the fixture is the caller's job.

const fs = require('node:fs')
const path = require('node:path')
const { performance } = require('node:perf_hooks')

const { checkFolder, checkFolderCached, formatDiagnostic, hasTarget, readFolder } = require('./diagnostics')
const { parsePlan, applyPlan } = require('./plan')
const { BUILTIN_MODELS, generate, buildPrompt } = require('./models')
const { APIS } = require('./clients')

const EMPTY_PLAN = { title: 'No changes', rationale: 'The floor: an empty plan changes nothing.', dsl: [] }

class JobError extends TypeError {
  constructor(message) {
    super(message)
    this.name = 'JobError'
  }
}

/** Reads `fixture.json` of a fixture folder. */
function loadFixture(fixtureDir) {
  const file = path.join(fixtureDir, 'fixture.json')
  let text
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch {
    throw new JobError(`fixtureDir has no fixture.json: ${fixtureDir}`)
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new JobError(`fixture.json of ${fixtureDir} is not valid JSON: ${err.message}`)
  }
}

/** Whether a relative path (posix) is a TypeScript source of the fixture (not under node_modules, dist or a dot folder). */
function isSourcePath(rel) {
  const parts = rel.split('/')
  return /\.(ts|tsx|mts|cts)$/.test(rel) && !parts.some((p) => p === 'node_modules' || p === 'dist' || p.startsWith('.'))
}

/** Relative paths (posix) of every TypeScript source file of the fixture, sorted. */
function listSourceFiles(fixtureDir) {
  const out = []
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const abs = path.join(dir, e.name)
      const rel = path.relative(fixtureDir, abs).split(path.sep).join('/')
      if (e.isDirectory()) {
        if (isSourcePath(`${rel}/x.ts`)) walk(abs)
      } else if (e.isFile() && isSourcePath(rel)) out.push(rel)
    }
  }
  walk(fixtureDir)
  return out.sort()
}

/** The source files of a folder read by `readFolder`: Map relative path -> text, sorted by path. */
function sourceTexts(folder) {
  const out = []
  for (const [abs, text] of folder.texts) {
    const rel = path.relative(folder.root, abs).split(path.sep).join('/')
    if (isSourcePath(rel)) out.push([rel, text])
  }
  return new Map(out.sort((a, b) => (a[0] < b[0] ? -1 : 1)))
}

function checkJob(job) {
  if (job === null || typeof job !== 'object') throw new JobError('job must be an object')
  if (typeof job.fixtureDir !== 'string' || job.fixtureDir === '') throw new JobError('job.fixtureDir must be a non-empty string')
  if (!fs.existsSync(job.fixtureDir) || !fs.statSync(job.fixtureDir).isDirectory()) throw new JobError(`job.fixtureDir is not a folder: ${job.fixtureDir}`)
  if (typeof job.model !== 'string' || job.model === '') throw new JobError('job.model must be a non-empty string')
  const maxAttempts = job.maxAttempts ?? 1
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 20) throw new JobError('job.maxAttempts must be an integer in 1..20')
  const attemptTimeoutMs = job.attemptTimeoutMs ?? 60000
  if (typeof attemptTimeoutMs !== 'number' || !Number.isFinite(attemptTimeoutMs) || attemptTimeoutMs <= 0)
    throw new JobError('job.attemptTimeoutMs must be a positive number of milliseconds')
  if (job.temperature !== undefined && (typeof job.temperature !== 'number' || !Number.isFinite(job.temperature) || job.temperature < 0))
    throw new JobError('job.temperature must be a number >= 0')
  if (job.maxTokens !== undefined && (!Number.isInteger(job.maxTokens) || job.maxTokens < 1)) throw new JobError('job.maxTokens must be a positive integer')
  if (job.prompt !== undefined && typeof job.prompt !== 'string') throw new JobError('job.prompt must be a string')
  if (job.api !== undefined && !APIS.includes(job.api)) throw new JobError(`job.api must be one of ${APIS.join(', ')}`)
  if (job.apiKeyEnv !== undefined && (typeof job.apiKeyEnv !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(job.apiKeyEnv)))
    throw new JobError('job.apiKeyEnv must be the name of an environment variable')
  if (job.seed !== undefined && !Number.isSafeInteger(job.seed)) throw new JobError('job.seed must be an integer')
  if (job.maxConcurrentRequests !== undefined && (!Number.isInteger(job.maxConcurrentRequests) || job.maxConcurrentRequests < 1))
    throw new JobError('job.maxConcurrentRequests must be a positive integer')
  if (!BUILTIN_MODELS.includes(job.model) && (typeof job.endpoint !== 'string' || job.endpoint === '')) {
    throw new JobError(`job.endpoint is required for model '${job.model}' (only ${BUILTIN_MODELS.join(' and ')} are built in)`)
  }
  if (job.target !== undefined) checkTarget(job.target, 'job.target')
  return { maxAttempts, attemptTimeoutMs }
}

function checkTarget(t, label) {
  if (t === null || typeof t !== 'object') throw new JobError(`${label} must be {code, file, line}`)
  if (!/^(TS)?\d+$/i.test(String(t.code))) throw new JobError(`${label}.code must be a diagnostic code like 2305`)
  if (typeof t.file !== 'string' || t.file === '') throw new JobError(`${label}.file must be a relative file path`)
  if (!Number.isInteger(t.line) || t.line < 1) throw new JobError(`${label}.line must be a positive integer`)
}

/**
 * Runs one job. Resolves to a BuildFixResult; every failure of the fix itself (model, plan,
 * judging) is a result with `success: false` and an `errorMessage`. Throws JobError only when
 * the job itself is malformed. `signal` cancels it: the model request in flight is aborted and
 * no further attempt starts (the result says so).
 */
async function runJob(job, { signal } = {}) {
  const started = performance.now()
  const { maxAttempts, attemptTimeoutMs } = checkJob(job)
  const fixtureDir = path.resolve(job.fixtureDir)
  const fixture = loadFixture(fixtureDir)
  const target = job.target ?? fixture.target
  checkTarget(target, 'fixture target')
  const result = {
    fixture: typeof job.fixture === 'string' ? job.fixture : (fixture.name ?? path.basename(fixtureDir)),
    model: job.model,
    success: false,
    errorCountBefore: 0,
    errorCountAfter: 0,
    errorsResolved: false,
    errorsResolvedCount: 0,
    planGenerated: false,
    duration: 0,
    attempts: 0,
  }
  // What the fixture tests, so reports can group results by error family and code.
  if (typeof fixture.family === 'string') result.family = fixture.family
  result.targetCode = Number(String(target.code).replace(/^TS/i, ''))
  const finish = () => {
    // The original's boolean, and the count beside it.
    result.errorsResolvedCount = Math.max(0, result.errorCountBefore - result.errorCountAfter)
    result.errorsResolved = result.errorsResolvedCount > 0
    result.duration = Math.round((performance.now() - started) * 1000) / 1000
    return result
  }

  // The fixture is read once, here: the checks, the plan and the restore work from these texts
  // (the job is the folder's only writer while it runs).
  let folder
  let checked
  try {
    folder = readFolder(fs.realpathSync(fixtureDir))
    checked = checkFolderCached(folder)
  } catch (err) {
    result.errorMessage = `cannot check the fixture: ${err.message}`
    return finish()
  }
  const before = checked.diagnostics
  result.errorCountBefore = before.length
  result.errorCountAfter = before.length
  if (!hasTarget(before, target)) {
    result.errorMessage = `the target diagnostic TS${target.code} at ${target.file}:${target.line} is not present before the fix`
    return finish()
  }

  const originals = sourceTexts(folder)
  // What the last attempt wrote: absolute path -> the text it replaced.
  let written = new Map()
  const builtin = BUILTIN_MODELS.includes(job.model)
  // Built-in models are deterministic: a second attempt would repeat the first.
  const attempts = builtin ? 1 : maxAttempts
  let previousError
  let unavailable = false
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (signal?.aborted) {
      result.errorMessage ??= 'the job was cancelled'
      break
    }
    result.attempts = attempt
    unavailable = false
    if (attempt > 1) restore(written)
    written = new Map()
    let applied = false
    try {
      const text = await planText(job, fixture, { target, before, originals, previousError, attemptTimeoutMs, signal, result })
      const plan = parsePlan(text)
      result.planGenerated = true
      result.planTitle = plan.title
      const { changed, files, originals: replaced } = applyPlan(folder.root, plan, { texts: folder.texts })
      applied = true
      const edits = new Map()
      for (const rel of changed) {
        const abs = path.join(folder.root, rel)
        edits.set(abs, files.get(abs))
        written.set(abs, replaced.get(abs))
      }
      // Unchanged files, unchanged diagnostics: a plan that edits nothing needs no second check.
      const after = edits.size ? checkFolder(folder, edits, checked) : before
      result.errorCountAfter = after.length
      const targetGone = !hasTarget(after, target)
      if (targetGone && after.length <= before.length) {
        result.success = true
        delete result.errorMessage
        break
      }
      previousError = targetGone
        ? `the target error is gone but the error count grew from ${before.length} to ${after.length}: ${after
            .filter((d) => !before.some((b) => sameDiagnostic(b, d)))
            .map(formatDiagnostic)
            .slice(0, 3)
            .join('; ')}`
        : `the target error is still there after the plan: ${after.filter((d) => hasTarget([d], target)).map(formatDiagnostic)[0]}`
    } catch (err) {
      previousError = err.message
      unavailable = err.name === 'ModelError' && err.unavailable === true
      // Nothing was written (plans apply all or nothing): the files are as the attempt found them.
      if (!applied) result.errorCountAfter = before.length
    }
    result.errorMessage = `attempt ${attempt}/${attempts}: ${previousError}`
  }
  // Marks a failure that was the model server's (unreachable, too slow, 5xx) on the last attempt.
  if (!result.success && unavailable) result.errorKind = 'model-unavailable'
  return finish()
}

function sameDiagnostic(a, b) {
  return a.code === b.code && a.file === b.file && a.message === b.message
}

/** Writes back the files an attempt changed (their texts before it). */
function restore(written) {
  for (const [abs, text] of written) fs.writeFileSync(abs, text)
}

/** Adds one model answer's token counts, time to first token and output mode to the result. */
function countAnswer(result, answer) {
  result.promptTokens = (result.promptTokens ?? 0) + answer.usage.promptTokens
  result.completionTokens = (result.completionTokens ?? 0) + answer.usage.completionTokens
  result.tokens = result.promptTokens + result.completionTokens
  // Estimated as soon as one attempt's counts were: the sum is then no server figure.
  result.tokensEstimated = Boolean(result.tokensEstimated) || answer.usage.estimated
  if (answer.ttftMs !== undefined) result.timeToFirstTokenMs = Math.round(answer.ttftMs * 1000) / 1000
  result.outputMode = answer.mode
}

async function planText(job, fixture, { target, before, originals, previousError, attemptTimeoutMs, signal, result }) {
  if (job.model === 'gold') {
    if (!fixture.goldPlan) throw new Error('the fixture has no goldPlan')
    return JSON.stringify(fixture.goldPlan)
  }
  if (job.model === 'none') return JSON.stringify(EMPTY_PLAN)
  const prompt = buildPrompt({ task: job.prompt, target, diagnostics: before, files: originals, previousError })
  const answer = await generate({
    endpoint: job.endpoint,
    api: job.api,
    apiKeyEnv: job.apiKeyEnv,
    model: job.model,
    prompt,
    temperature: job.temperature ?? 0,
    seed: job.seed,
    maxTokens: job.maxTokens,
    timeoutMs: attemptTimeoutMs,
    maxConcurrentRequests: job.maxConcurrentRequests,
    signal,
  })
  countAnswer(result, answer)
  return answer.text
}

module.exports = { runJob, loadFixture, listSourceFiles, JobError, EMPTY_PLAN }
