'use strict'
// Fixtures mined from a repository's history, the way SWE-bench builds its tasks from real
// fixes. The native core walks the commits and exports projects (git2, off the JS thread); a
// child process type-checks them with the TypeScript compiler API (worker/mine-check.js). A
// commit is kept for a project when an error of the parent's project is gone after the commit's
// change and no other appeared; the fixture is the parent's project, that error its target, and
// one `replaceText` per hunk of the change its gold plan. Nothing of the repository is run: no
// install, no build tool, no script.

const { fork } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { binding } = require('./native.js')
const { makeDir } = require('./dirs.js')
const { signalOf, abortReason } = require('./abort.js')
const v = require('./validate.js')

const CHECKER = path.join(__dirname, '..', 'worker', 'mine-check.js')
// A check of a small project takes well under a second once the compiler is warm; a project
// that needs minutes is not a fixture.
const CHECK_TIMEOUT_MS = 120_000
const DEFAULT_MAX = 10

// Diagnostics that say a project cannot be compiled on its own: a package it imports is not
// installed (we never install), a types package is missing, or the configuration points outside.
const MISSING_MODULE_CODES = new Set([2307, 2792, 7016])
const MISSING_TYPES_CODES = new Set([2688])

/** Why `d` means the project does not type-check on its own, or null. */
function standaloneProblem(d) {
  if (MISSING_TYPES_CODES.has(d.code)) return 'a types package it needs is not installed'
  if (d.file === '') return 'its configuration does not resolve on its own'
  if (MISSING_MODULE_CODES.has(d.code)) {
    const spec = /['"]([^'"]+)['"]/.exec(d.message)?.[1] ?? ''
    // A relative import that does not resolve may be exactly what the commit fixed.
    if (!spec.startsWith('.') && !spec.startsWith('/')) return `it imports the package '${spec}', which is not installed`
  }
  return null
}

const key = (d) => `${d.code}\0${d.file}\0${d.message}`
// One line per diagnostic: the compiler's message chain can run over several.
const shown = (d) => `${d.file || '<config>'}(${d.line},${d.column}): error TS${d.code}: ${d.message.split('\n')[0]}`

/**
 * The verdict on one project of one commit from its diagnostics before and after the change:
 * `{target}` (the first error that went away) or `{reason}` to skip it.
 */
function judge(before, after) {
  for (const d of before) {
    const problem = standaloneProblem(d)
    if (problem) return { reason: `the project cannot be type-checked on its own: ${problem} (${shown(d)})` }
  }
  // Counted, not just compared: a commit may fix one of two identical errors.
  const extra = (a, b) => {
    const left = new Map()
    for (const d of b) left.set(key(d), (left.get(key(d)) ?? 0) + 1)
    return a.filter((d) => {
      const n = left.get(key(d)) ?? 0
      left.set(key(d), n - 1)
      return n <= 0
    })
  }
  const appeared = extra(after, before)
  if (appeared.length > 0) return { reason: `the change adds ${appeared.length} error(s): ${shown(appeared[0])}` }
  const gone = extra(before, after)
  if (gone.length === 0) return { reason: before.length === 0 ? 'the parent compiles without error: nothing was fixed' : 'no error disappeared' }
  return { target: gone[0] }
}

/** 1-based {line, column} of each offset of `text`: `starts[i]` is where line i+1 begins. */
function lineStarts(text) {
  const starts = [0]
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1)
  return starts
}

function positionOf(starts, offset) {
  let lo = 0
  let hi = starts.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (starts[mid] <= offset) lo = mid
    else hi = mid - 1
  }
  return { line: lo + 1, column: offset - starts[lo] + 1 }
}

/**
 * The gold plan of a project's change: one replaceText per hunk, bottom-up within each file so
 * every position refers to the parent's text. Throws when a hunk does not match the file.
 */
function goldPlanOf(projectDir, project) {
  const dsl = []
  for (const file of project.files) {
    const text = fs.readFileSync(path.join(projectDir, file.path), 'utf8')
    const starts = lineStarts(text)
    const hunks = [...file.hunks].sort((a, b) => b.oldStart - a.oldStart)
    for (const h of hunks) {
      // A pure insertion goes after line oldStart (git's numbering); a replacement starts on it.
      const lineIndex = h.oldLines === 0 ? h.oldStart : h.oldStart - 1
      const start = starts[lineIndex]
      if (start === undefined || text.slice(start, start + h.oldText.length) !== h.oldText)
        throw new Error(`a hunk of ${file.path} does not match the parent's text at line ${h.oldStart}`)
      dsl.push({
        op: 'replaceText',
        file: file.path,
        start: positionOf(starts, start),
        end: positionOf(starts, start + h.oldText.length),
        oldText: h.oldText,
        newText: h.newText,
      })
    }
  }
  return dsl
}

/** The type-checking child: one request at a time, each bounded in time; `close()` ends it. */
class Checker {
  constructor(signal) {
    this.signal = signal
    this.child = null
    this.next = 0
    this.pending = null
    // Children killed (a timeout, an abort) whose exit has not been seen yet: close() waits for them.
    this.dying = new Map()
  }

  start() {
    const child = fork(CHECKER, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'json' })
    let stderr = ''
    child.stderr.on('data', (chunk) => {
      stderr = (stderr + chunk).slice(-2000)
    })
    child.on('message', (msg) => {
      const p = this.pending
      if (!p || msg.id !== p.id) return
      this.settle(null, msg)
    })
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.on('exit', (code, sig) => {
      this.dying.delete(child)
      if (this.child === child) this.child = null
      this.settle(new Error(`the type-checking process ended (${sig ?? `exit ${code}`})${stderr ? `: ${stderr.trim().split('\n').pop()}` : ''}`))
    })
    this.child = child
    this.exited = exited
  }

  settle(err, msg) {
    const p = this.pending
    if (!p) return
    this.pending = null
    clearTimeout(p.timer)
    this.signal?.removeEventListener('abort', p.onAbort)
    if (err) p.reject(err)
    else p.resolve(msg)
  }

  request(message) {
    if (this.signal?.aborted) return Promise.reject(abortReason(this.signal, 'mining fixtures'))
    if (!this.child) this.start()
    const child = this.child
    return new Promise((resolve, reject) => {
      const id = ++this.next
      const exited = this.exited
      const stop = (err) => {
        this.settle(err)
        if (this.child === child) this.child = null
        this.dying.set(child, exited)
        child.kill('SIGKILL')
      }
      const onAbort = () => stop(abortReason(this.signal, 'mining fixtures'))
      const timer = setTimeout(() => stop(new Error(`type-checking took longer than ${CHECK_TIMEOUT_MS / 1000} s`)), CHECK_TIMEOUT_MS)
      this.pending = { id, resolve, reject, timer, onAbort }
      this.signal?.addEventListener('abort', onAbort, { once: true })
      child.send({ id, ...message })
    })
  }

  /** Ends the child and waits for it to be gone. */
  async close() {
    const child = this.child
    this.child = null
    if (child) {
      const gone = this.exited
      if (child.exitCode === null && child.signalCode === null) {
        // The child exits when its channel closes; a child stuck in a check is killed.
        if (child.connected) child.disconnect()
        let timer
        await Promise.race([gone, new Promise((resolve) => (timer = setTimeout(resolve, 2000)))])
        clearTimeout(timer)
        child.kill('SIGKILL')
      }
      await gone
    }
    await Promise.all(this.dying.values())
  }
}

function sinceOf(value) {
  if (value === undefined) return undefined
  const ms = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : value
  if (typeof ms !== 'number') throw v.typeError('options.since', 'a Date, a date string or milliseconds since the epoch', value)
  if (!Number.isFinite(ms)) throw v.rangeError('options.since', 'a valid date', value)
  return ms
}

const slug = (dir) => dir.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[-.]+|-+$/g, '')

/** Whether project `p` of candidate `c` makes a fixture: `{fixture}` (written) or `{reason}`. */
async function mineProject({ repoDir, out, scratch, checker, signal }, c, p) {
  if (p.unsupported) return { reason: p.unsupported }
  const project = p.dir || '.'
  const short = c.commit.slice(0, 10)
  const name = `${short}${p.dir ? `-${slug(p.dir)}` : ''}`
  const dest = path.join(out, name)
  if (fs.existsSync(dest)) return { reason: `${dest} already exists (mined before?); it is left as it is` }
  const staged = path.join(scratch, name)
  // A failed request is a reason to skip, except when the user cancelled.
  const ask = (message) =>
    checker.request(message).catch((err) => {
      if (signal?.aborted) throw err
      return { error: err.message }
    })
  try {
    try {
      await binding.mineExport(repoDir, c.parent, p.dir, staged)
    } catch (err) {
      if (err.code !== 'ERR_FIXTURE_TOO_LARGE') throw err
      return { reason: err.message }
    }
    let dsl
    try {
      dsl = goldPlanOf(staged, p)
    } catch (err) {
      return { reason: err.message }
    }
    const goldPlan = {
      title: c.summary || `the change of commit ${short}`,
      rationale: `The change commit ${short} made to ${project}, one replaceText per hunk.`,
      dsl,
    }
    const checked = await ask({ kind: 'check', dir: staged, fixed: `${staged}.fixed`, plan: goldPlan })
    if (checked.error) return { reason: checked.error }
    const verdict = judge(checked.before, checked.after)
    if (verdict.reason) return verdict
    const t = verdict.target
    const fixture = {
      name,
      description: `Mined from commit ${short} (${JSON.stringify(c.summary)}) of ${path.basename(repoDir)}${p.dir ? `, project ${p.dir}` : ''}: the commit removed TS${t.code} ${t.message}`,
      target: { code: t.code, file: t.file, line: t.line },
      goldPlan,
      source: { repo: repoDir, commit: c.commit, parent: c.parent, project },
    }
    await fs.promises.writeFile(path.join(staged, 'fixture.json'), `${JSON.stringify(fixture, null, 2)}\n`)
    const validated = await ask({ kind: 'validate', dir: staged })
    if (validated.error || !validated.report.ok) return { reason: `the fixture does not validate: ${validated.error ?? validated.report.problems.join('; ')}` }
    // Appears whole or not at all; the scratch folder and `out` may be on different disks.
    const aside = path.join(out, `.${name}.${process.pid}.tmp`)
    try {
      await fs.promises.cp(staged, aside, { recursive: true })
      await fs.promises.rename(aside, dest)
    } finally {
      await fs.promises.rm(aside, { recursive: true, force: true })
    }
    return { fixture: { name, dir: dest, target: fixture.target, message: t.message } }
  } finally {
    await fs.promises.rm(staged, { recursive: true, force: true })
  }
}

/**
 * Mines `repo` (a git repository's folder) for fixtures; writes them into `options.out`.
 * Options: `max` fixtures (default 10), `since` (Date, date string or ms), `maxCommits` visited
 * (default 1000), `signal`, `onEvent({kind: 'fixture' | 'skip', ...})`. Resolves to
 * `{repo, out, visited, merges, fixtures: [...], skipped: [{commit, project, reason}]}`.
 */
async function mineFixtures(repo, options) {
  if (typeof repo !== 'string' || repo === '') throw v.typeError('repo', 'a path to a git repository', repo)
  const o = v.optionsObject('options', options)
  if (typeof o.out !== 'string' || o.out === '') throw v.typeError('options.out', 'the folder to write fixtures to', o.out)
  const max = v.number('options.max', o.max, { min: 1, fallback: DEFAULT_MAX })
  const since = sinceOf(o.since)
  const onEvent = o.onEvent === undefined ? () => {} : v.func('options.onEvent', o.onEvent)
  const signal = signalOf('options', options)
  const repoDir = path.resolve(repo)
  const walk = await binding.mineWalk(repoDir, { since, maxCommits: o.maxCommits })
  const out = await makeDir(path.resolve(o.out))
  const result = { repo: repoDir, out, visited: walk.visited, merges: walk.merges, fixtures: [], skipped: [] }
  const scratch = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'promethean-mine-'))
  const checker = new Checker(signal)
  const ctx = { repoDir, out, scratch, checker, signal }
  try {
    for (const c of walk.candidates) {
      for (const p of c.projects) {
        if (result.fixtures.length >= max || signal?.aborted) break
        const base = { commit: c.commit, project: p.dir || '.', summary: c.summary }
        const outcome = await mineProject(ctx, c, p)
        if (outcome.reason) {
          const entry = { ...base, reason: outcome.reason }
          result.skipped.push(entry)
          onEvent({ kind: 'skip', ...entry })
        } else {
          const entry = { ...base, ...outcome.fixture }
          result.fixtures.push(entry)
          onEvent({ kind: 'fixture', ...entry })
        }
      }
    }
  } finally {
    await checker.close()
    await fs.promises.rm(scratch, { recursive: true, force: true })
  }
  if (signal?.aborted) throw abortReason(signal, 'mining fixtures')
  return result
}

module.exports = { mineFixtures, judge, goldPlanOf }
