'use strict'
// Git snapshots: create and restore of a 10-file fixture, a 1,000-file tree and a 10,000-file
// tree, each with one file changed between snapshot and restore, against
//   (a) full copy: read every file into memory, write every file back (the original's approach);
//   (b) git stash: `git stash push -u` + `git stash apply` to snapshot,
//       `git reset --hard` + `git clean -fd` + `git stash pop` to restore (git CLI).
// Each contender works on its own identical copy of the fixture (a git repository, so (b) can
// run), and all three are first checked to bring the tree back to the same bytes.
//
// Fixture files are back-dated an hour, as files checked out before a benchmark job are: a file
// written within the last second cannot be trusted by its stat and is hashed (see
// src/snapshot/tree.rs), which only the first restore after writing a fixture would pay.

const { execFileSync } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { createGitSnapshotManager } = require('..')
const { compare, report, assertSame, formatNs } = require('./harness.js')

const ROUNDS = Number(process.env.BENCH_ROUNDS || 7)

function git(cwd, ...args) {
  return execFileSync('git', ['-c', 'user.name=b', '-c', 'user.email=b@b', '-c', 'commit.gpgsign=false', ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 << 20,
  })
}

/** Writes `count` files of about 1-3 KiB, 20 per directory, and commits them. */
function makeFixture(dir, count) {
  fs.mkdirSync(dir, { recursive: true })
  const past = new Date(Date.now() - 3600_000)
  for (let i = 0; i < count; i++) {
    const sub = path.join(dir, `pkg${Math.floor(i / 20)}`)
    if (i % 20 === 0) fs.mkdirSync(sub, { recursive: true })
    const file = path.join(sub, `file${i}.ts`)
    fs.writeFileSync(file, `export const value${i} = ${JSON.stringify('x'.repeat(1000 + (i % 2000)))}\n`)
    if (i % 7 === 0) fs.chmodSync(file, 0o755)
    fs.utimesSync(file, past, past)
  }
  git(dir, 'init', '-q', '-b', 'main')
  git(dir, 'add', '-A')
  git(dir, 'commit', '-q', '-m', 'fixture')
  // An uncommitted edit, so the state to snapshot is not just HEAD (git stash has something
  // to save, as it would with a fixture prepared for a job).
  fs.appendFileSync(path.join(dir, 'pkg0/file0.ts'), '// prepared\n')
  fs.utimesSync(path.join(dir, 'pkg0/file0.ts'), past, past)
}

/** Every file except .git: relative path, mode, content hash. */
function digest(root) {
  const out = []
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.name === '.git') continue
      const full = path.join(dir, e.name)
      if (e.isDirectory()) walk(full)
      else {
        const st = fs.lstatSync(full)
        const hash = crypto.createHash('sha1').update(fs.readFileSync(full)).digest('hex')
        out.push(`${path.relative(root, full)} ${(st.mode & 0o777).toString(8)} ${hash}`)
      }
    }
  }
  walk(root)
  return out.sort()
}

// (a) The full copy: every file into memory, every file back.
function readAll(root) {
  const files = []
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.name === '.git') continue
      const full = path.join(dir, e.name)
      if (e.isDirectory()) walk(full)
      else files.push({ full, data: fs.readFileSync(full), mode: fs.statSync(full).mode & 0o777 })
    }
  }
  walk(root)
  return files
}

function writeAll(files) {
  for (const f of files) {
    fs.writeFileSync(f.full, f.data)
    fs.chmodSync(f.full, f.mode)
  }
}

let counter = 0
function changeOneFile(root) {
  fs.writeFileSync(path.join(root, 'pkg0/file1.ts'), `// changed by the model ${++counter}\n`)
}

async function bench(label, count, base) {
  const dirs = { snapshot: path.join(base, `${count}-snapshot`), copy: path.join(base, `${count}-copy`), git: path.join(base, `${count}-git`) }
  for (const d of Object.values(dirs)) makeFixture(d, count)
  const expected = digest(dirs.snapshot)

  const manager = await createGitSnapshotManager(dirs.snapshot)
  const started = process.hrtime.bigint()
  const baseSnap = await manager.createSnapshot()
  const coldCreateNs = Number(process.hrtime.bigint() - started)
  const baseCopy = readAll(dirs.copy)

  // The contenders agree: each brings the changed tree back to the same bytes.
  changeOneFile(dirs.snapshot)
  await manager.restoreSnapshot(baseSnap)
  changeOneFile(dirs.copy)
  writeAll(baseCopy)
  git(dirs.git, 'stash', 'push', '-u', '-q')
  git(dirs.git, 'stash', 'apply', '-q')
  changeOneFile(dirs.git)
  git(dirs.git, 'reset', '--hard', '-q')
  git(dirs.git, 'clean', '-fdq')
  git(dirs.git, 'stash', 'pop', '-q')
  assertSame(`${label} snapshot`, digest(dirs.snapshot), expected)
  assertSame(`${label} full copy`, digest(dirs.copy), expected)
  assertSame(`${label} git stash`, digest(dirs.git), expected)

  const create = await compare({
    ops: 1,
    rounds: ROUNDS,
    contenders: [
      {
        name: 'GitSnapshotManager',
        run: async () => (lastSnap = await manager.createSnapshot()),
        teardown: () => manager.dropSnapshot(lastSnap),
      },
      { name: 'full copy (read all)', run: () => readAll(dirs.copy) },
      {
        name: 'git stash push -u + apply',
        run: () => {
          git(dirs.git, 'stash', 'push', '-u', '-q')
          git(dirs.git, 'stash', 'apply', '-q')
        },
        teardown: () => git(dirs.git, 'stash', 'drop', '-q'),
      },
    ],
  })
  report(`${label}: create a snapshot`, create, 'full copy (read all)')

  const restore = await compare({
    ops: 1,
    rounds: ROUNDS,
    contenders: [
      { name: 'GitSnapshotManager', setup: () => changeOneFile(dirs.snapshot), run: () => manager.restoreSnapshot(baseSnap) },
      { name: 'full copy (write all)', setup: () => changeOneFile(dirs.copy), run: () => writeAll(baseCopy) },
      {
        name: 'git reset + clean + stash pop',
        setup: () => {
          git(dirs.git, 'stash', 'push', '-u', '-q')
          git(dirs.git, 'stash', 'apply', '-q')
          changeOneFile(dirs.git)
        },
        run: () => {
          git(dirs.git, 'reset', '--hard', '-q')
          git(dirs.git, 'clean', '-fdq')
          git(dirs.git, 'stash', 'pop', '-q')
        },
      },
    ],
  })
  report(`${label}: restore with one file changed`, restore, 'full copy (write all)')
  assertSame(`${label} snapshot after rounds`, digest(dirs.snapshot), expected)
  assertSame(`${label} git after rounds`, digest(dirs.git), expected)

  const share = restore.GitSnapshotManager.median / restore['full copy (write all)'].median
  console.log(`  first snapshot into an empty store: ${formatNs(coldCreateNs)}`)
  console.log(`  restore / full-copy restore: ${(share * 100).toFixed(1)}%`)
  await manager.dispose()
  return share
}

let lastSnap

async function main() {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-snapshot-bench-'))
  try {
    await bench('10-file fixture', 10, base)
    await bench('1,000-file tree', 1000, base)
    const share = await bench('10,000-file tree', 10000, base)
    const ok = share < 0.1
    console.log(`\ntarget: one changed file in 10,000 restores in under 10% of the full-copy time: ${ok ? 'met' : 'NOT met'} (${(share * 100).toFixed(1)}%)`)
  } finally {
    fs.rmSync(base, { recursive: true, force: true })
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
