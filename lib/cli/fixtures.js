'use strict'
// promethean-bench fixtures validate DIR | new NAME | mine REPO: fixture folders of one's own.
// The checks run the BuildFix engine's compiler code in this process, one fixture at a time with
// a turn of the event loop between fixtures (each is some milliseconds), so Ctrl-C is served.

const fs = require('node:fs')
const path = require('node:path')

const { parse, UsageError } = require('./args.js')

const PROGRAM = 'promethean-bench'

const SPECS = {
  validate: { help: { type: 'bool' }, json: { type: 'bool' } },
  new: { help: { type: 'bool' }, dir: { type: 'string', default: '.', hint: 'a folder' } },
  mine: {
    help: { type: 'bool' },
    json: { type: 'bool' },
    out: { type: 'string', hint: 'a folder' },
    max: { type: 'int', min: 1, default: 10 },
    since: { type: 'string', hint: 'a date' },
    'max-commits': { type: 'int', min: 1, max: 1e9, default: 1000 },
  },
}

const HELP = `Usage: ${PROGRAM} fixtures <validate DIR | new NAME | mine REPO --out DIR> [flags]

Fixtures of your own: a fixture is a folder with tsconfig.json, src/**/*.ts holding one known
compile error, and fixture.json {name, description, family?, target: {code, file, line}, goldPlan}.
Run them with '${PROGRAM} run --fixtures-dir DIR'.

Commands:
  validate DIR          check every fixture folder in DIR (or DIR itself when it is one): the
                        target error is reported, the gold plan is valid and applies, the target
                        is gone afterwards, and no other error appeared. The fixtures are checked
                        on temporary copies and never edited.
    --json              one JSON document on stdout: {fixtures: [report, ...], valid, invalid}
  new NAME              write a new fixture folder NAME (in --dir, default the current folder)
                        that validates as written; edit it into the error you want to test
    --dir DIR           where to create it
  mine REPO --out DIR   fixtures from the history of the git repository REPO: for each commit
                        (newest first) and each TypeScript project (tsconfig.json) it touched,
                        the parent's project becomes a fixture when the commit removed a compile
                        error and added none; the gold plan is the commit's change. Projects that
                        do not type-check on their own (packages not installed) are skipped and
                        said why. Nothing of the repository is run: the compiler API only.
    --out DIR           where to write the fixtures (created if missing)
    --max N             stop after N fixtures (default 10)
    --since DATE        only commits since DATE (e.g. 2024-01-31)
    --max-commits N     visit at most N commits (default 1000)
    --json              one JSON document on stdout: {fixtures: [...], skipped: [...], ...}

Exit codes: 0 every fixture is valid (validate), the fixture was written (new) or the history was
mined (mine, even when it found no fixture), 1 some fixture is invalid or DIR holds none, 2 bad usage (unknown command or flag, DIR not a folder, NAME taken
or not a folder name).`

/** `--fixtures-dir` of `run`: an existing folder holding at least one fixture; not with massive. */
function fixturesDirFlag(value, fixtures) {
  if (fixtures === 'massive') throw new UsageError('--fixtures-dir replaces the bundled sets: --fixtures massive cannot go with it')
  const dir = path.resolve(value)
  let stat
  try {
    stat = fs.statSync(dir)
  } catch {
    throw new UsageError(`--fixtures-dir: ${JSON.stringify(value)} does not exist`)
  }
  if (!stat.isDirectory()) throw new UsageError(`--fixtures-dir: ${JSON.stringify(value)} is not a folder`)
  const { listFixtures } = require('../../worker/fixtures.js')
  if (listFixtures(dir).length === 0) throw new UsageError(`--fixtures-dir: ${JSON.stringify(value)} holds no fixture folder (a folder with a fixture.json)`)
  return dir
}

function describe(r) {
  const what = r.target ? `TS${r.target.code}${r.family ? ` ${r.family}` : ''}` : (r.family ?? '')
  return `${r.ok ? 'ok  ' : 'FAIL'} ${r.name}${what ? ` (${what})` : ''}${r.ok ? '' : `\n       ${r.problems.join('\n       ')}`}`
}

async function validate(args, opts, io) {
  if (args.length !== 1) throw new UsageError(`validate takes one folder, got ${args.length === 0 ? 'none' : args.map((a) => JSON.stringify(a)).join(' ')}`)
  const dir = path.resolve(args[0])
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UsageError(`${JSON.stringify(args[0])} is not a folder`)
  const { validateFixtures } = require('../../worker/validate.js')
  const reports = await validateFixtures(dir, {
    signal: io.signal,
    onReport: opts.json ? undefined : (r) => io.stdout.write(`${describe(r)}\n`),
  })
  const invalid = reports.filter((r) => !r.ok).length
  const summary =
    reports.length === 0 ? `no fixture folder (a folder with a fixture.json) in ${dir}` : `${reports.length - invalid} of ${reports.length} fixtures valid`
  if (opts.json) {
    io.stdout.write(`${JSON.stringify({ dir, fixtures: reports, valid: reports.length - invalid, invalid })}\n`)
    io.stderr.write(`${summary}\n`)
  } else io.stdout.write(`${summary}\n`)
  if (io.signal && io.signal.aborted) return 130
  return reports.length === 0 || invalid > 0 ? 1 : 0
}

async function scaffold(args, opts, io) {
  if (args.length !== 1) throw new UsageError(`new takes one fixture name, got ${args.length === 0 ? 'none' : args.map((a) => JSON.stringify(a)).join(' ')}`)
  const { scaffoldFixture, isFixtureName } = require('../../worker/scaffold.js')
  if (!isFixtureName(args[0]))
    throw new UsageError(`${JSON.stringify(args[0])} is not a fixture name (letters, digits, '-', '_' and '.', not starting with '.' or '-')`)
  const target = path.resolve(opts.dir, args[0])
  if (fs.existsSync(target)) throw new UsageError(`${target} already exists`)
  let dir
  try {
    dir = scaffoldFixture(opts.dir, args[0])
  } catch (err) {
    throw new UsageError(err.message)
  }
  io.stdout.write(
    `Wrote ${dir}\nIt validates as written: edit src/ into the error you want, update fixture.json (target, goldPlan), then\n  ${PROGRAM} fixtures validate ${path.dirname(dir)}\n  ${PROGRAM} run --fixtures-dir ${path.dirname(dir)}\n`,
  )
  return 0
}

async function mine(args, opts, io) {
  if (args.length !== 1)
    throw new UsageError(`mine takes one repository folder, got ${args.length === 0 ? 'none' : args.map((a) => JSON.stringify(a)).join(' ')}`)
  if (opts.out === undefined) throw new UsageError('mine needs --out DIR, the folder to write the fixtures to')
  let since
  if (opts.since !== undefined) {
    since = Date.parse(opts.since)
    if (!Number.isFinite(since)) throw new UsageError(`--since must be a date like 2024-01-31, got ${JSON.stringify(opts.since)}`)
  }
  const repo = path.resolve(args[0])
  if (!fs.existsSync(repo) || !fs.statSync(repo).isDirectory()) throw new UsageError(`${JSON.stringify(args[0])} is not a folder`)
  const { mineFixtures } = require('../mine.js')
  const short = (commit) => commit.slice(0, 10)
  let result
  try {
    result = await mineFixtures(repo, {
      out: opts.out,
      max: opts.max,
      since,
      maxCommits: opts.maxCommits,
      signal: io.signal,
      onEvent: opts.json
        ? undefined
        : (e) =>
            io.stdout.write(
              e.kind === 'fixture'
                ? `fixture ${e.name}: TS${e.target.code} at ${e.target.file}:${e.target.line} (${short(e.commit)} ${e.summary})\n`
                : `skip    ${short(e.commit)} ${e.project}: ${e.reason}\n`,
            ),
    })
  } catch (err) {
    if (io.signal && io.signal.aborted) return 130
    if (err.code === 'ERR_NOT_A_REPOSITORY') throw new UsageError(err.message)
    throw err
  }
  const summary = `${result.fixtures.length} fixture(s) written to ${result.out} from ${result.visited} commit(s) (${result.skipped.length} project change(s) skipped)`
  if (opts.json) {
    io.stdout.write(`${JSON.stringify(result)}\n`)
    io.stderr.write(`${summary}\n`)
  } else io.stdout.write(`${summary}\n`)
  return 0
}

const COMMANDS = { validate, new: scaffold, mine }

/** `promethean-bench fixtures ...`; returns the exit code. */
async function main(argv, io) {
  const sub = argv[0]
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    io.stdout.write(`${HELP}\n`)
    return 0
  }
  if (!Object.hasOwn(COMMANDS, sub)) {
    io.stderr.write(`${PROGRAM} fixtures: unknown command ${JSON.stringify(sub)} (expected validate, new or mine; see ${PROGRAM} fixtures --help)\n`)
    return 2
  }
  // Positionals (the folder, the name) and flags, in any order.
  try {
    const { positionals, ...opts } = parse(argv.slice(1), SPECS[sub], { command: `fixtures ${sub}`, positionals: true })
    if (opts.help) {
      io.stdout.write(`${HELP}\n`)
      return 0
    }
    return await COMMANDS[sub](positionals, opts, io)
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`${PROGRAM} fixtures ${sub}: ${err.message.split('\n')[0]} (see ${PROGRAM} fixtures --help)\n`)
      return 2
    }
    throw err
  }
}

module.exports = { main, HELP, fixturesDirFlag }
