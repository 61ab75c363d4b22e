import test from 'ava'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import { createGitSnapshotManager, GitSnapshotManager } from '@promethean/benchmark'

const here = path.dirname(fileURLToPath(import.meta.url))

function tempDir(t) {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'pb-snapshot-')))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function manager(t, dir, options) {
  const m = await createGitSnapshotManager(dir, options)
  t.teardown(() => m.dispose())
  return m
}

/** Everything below `root` except `.git`: path -> {kind, data, mode, target}. */
function capture(root) {
  const out = {}
  const walk = (dir) => {
    for (const name of fs.readdirSync(dir).sort()) {
      if (name === '.git') continue
      const full = path.join(dir, name)
      const rel = path.relative(root, full)
      const st = fs.lstatSync(full)
      if (st.isSymbolicLink()) out[rel] = { kind: 'symlink', target: fs.readlinkSync(full) }
      else if (st.isDirectory()) {
        out[rel] = { kind: 'directory' }
        walk(full)
      } else {
        out[rel] = { kind: 'file', mode: st.mode & 0o777, data: fs.readFileSync(full).toString('base64') }
      }
    }
  }
  walk(root)
  return out
}

/** xorshift32: deterministic, so a failing seed can be replayed. */
function rng(seed) {
  let x = seed >>> 0 || 1
  const next = () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x
  }
  return { next, below: (n) => next() % n, bytes: (n) => Buffer.from(Array.from({ length: n }, () => next() & 255)) }
}

const NAMES = ['a', 'b.txt', 'ünïcødé', '日本語.md', 'space name', 'x.bin', '.hidden', 'emoji-🙂']

function randomTree(r, dir, depth = 0) {
  fs.mkdirSync(dir, { recursive: true })
  const count = r.below(6) + 1
  for (let i = 0; i < count; i++) {
    const full = path.join(dir, `${NAMES[r.below(NAMES.length)]}${r.below(3)}`)
    if (fs.existsSync(full)) continue
    const pick = r.below(10)
    if (pick <= 5) {
      fs.writeFileSync(full, r.bytes([0, 1, 100, 5000][r.below(4)]))
      fs.chmodSync(full, r.below(3) === 0 ? 0o755 : 0o644)
    } else if (pick === 6) fs.symlinkSync(`../target-${r.below(100)}`, full)
    else if (depth < 3) randomTree(r, full, depth + 1)
    else fs.mkdirSync(full)
  }
}

function mutate(r, root) {
  const all = Object.keys(capture(root))
  const full = all.length ? path.join(root, all[r.below(all.length)]) : root
  const st = fs.lstatSync(full)
  const dir = st.isDirectory() ? full : path.dirname(full)
  switch (r.below(7)) {
    case 0:
      if (st.isFile()) return fs.writeFileSync(full, r.bytes(Math.max(1, st.size)))
      break
    case 1:
      if (st.isFile()) return fs.chmodSync(full, (st.mode & 0o777) ^ 0o111)
      break
    case 2:
      if (full !== root) return fs.rmSync(full, { recursive: true })
      break
    case 3:
      return randomTree(r, path.join(dir, `new-${r.next()}`), 2)
    case 4:
      return fs.mkdirSync(path.join(dir, `empty-${r.next()}`))
    case 5:
      if (!st.isDirectory()) {
        fs.rmSync(full)
        fs.mkdirSync(full)
        return fs.writeFileSync(path.join(full, 'inner'), 'inner')
      }
      break
  }
  fs.writeFileSync(path.join(dir, `added-${r.next()}`), 'added')
}

function git(cwd, ...args) {
  return execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', '-c', 'commit.gpgsign=false', ...args], {
    cwd,
    encoding: 'utf8',
  })
}

test('random trees come back byte for byte after random mutations', async (t) => {
  for (let seed = 1; seed <= 12; seed++) {
    const r = rng(seed * 2654435761)
    const root = path.join(tempDir(t), 'work')
    randomTree(r, root)
    const before = capture(root)
    const m = await manager(t, root)
    const snap = await m.createSnapshot()
    t.deepEqual(await m.diff(snap), [], `seed ${seed}`)
    for (let round = 0; round < 3; round++) {
      const n = r.below(5) + 1
      for (let i = 0; i < n; i++) mutate(r, root)
      const changed = JSON.stringify(capture(root)) !== JSON.stringify(before)
      t.is((await m.diff(snap)).length > 0, changed, `seed ${seed} round ${round}`)
      await m.restoreSnapshot(snap)
      t.deepEqual(capture(root), before, `seed ${seed} round ${round}`)
    }
  }
})

test('diff names what changed; restore removes new files and empty dirs, brings back deleted ones', async (t) => {
  const root = tempDir(t)
  fs.mkdirSync(path.join(root, 'src'))
  fs.writeFileSync(path.join(root, 'src/index.ts'), 'export const a = 1\n')
  fs.writeFileSync(path.join(root, 'run.sh'), '#!/bin/sh\n', { mode: 0o755 })
  fs.symlinkSync('src/index.ts', path.join(root, 'link'))
  fs.mkdirSync(path.join(root, 'empty'))
  const before = capture(root)
  const m = await manager(t, root)
  const snap = await m.createSnapshot()
  t.like(snap, { files: 2, symlinks: 1, directories: 2, workdir: root, managerId: m.id })

  fs.writeFileSync(path.join(root, 'src/index.ts'), 'export const a = 2\n')
  fs.chmodSync(path.join(root, 'run.sh'), 0o644)
  fs.rmSync(path.join(root, 'link'))
  fs.symlinkSync('/etc/passwd', path.join(root, 'link'))
  fs.rmdirSync(path.join(root, 'empty'))
  fs.mkdirSync(path.join(root, 'made/deeper'), { recursive: true })
  fs.writeFileSync(path.join(root, 'src/new.ts'), '')
  t.deepEqual(await m.diff(snap), [
    { path: 'empty', change: 'deleted', kind: 'directory' },
    { path: 'link', change: 'modified', kind: 'symlink' },
    { path: 'made', change: 'added', kind: 'directory' },
    { path: 'run.sh', change: 'modified', kind: 'file' },
    { path: 'src/index.ts', change: 'modified', kind: 'file' },
    { path: 'src/new.ts', change: 'added', kind: 'file' },
  ])
  await m.restoreSnapshot(snap)
  t.deepEqual(capture(root), before)
  t.deepEqual(await m.diff(snap), [])
})

test('regression: diff reports a file name that is not UTF-8 exactly, as rawPath bytes beside the display path', async (t) => {
  const root = tempDir(t)
  fs.writeFileSync(path.join(root, 'kept.txt'), 'x')
  const m = await manager(t, root)
  const snap = await m.createSnapshot()
  const raw = Buffer.from([0xff, 0xfe])
  fs.writeFileSync(Buffer.concat([Buffer.from(`${root}/`), raw]), 'bytes')
  // A valid UTF-8 name that a lossy decoding of the bytes above would be confused with.
  fs.writeFileSync(path.join(root, '\ufffd\ufffd'), 'text')
  const changes = await m.diff(snap)
  t.is(changes.length, 2)
  const [bytes] = changes.filter((c) => c.rawPath !== undefined)
  t.truthy(bytes, JSON.stringify(changes))
  t.true(Buffer.isBuffer(bytes.rawPath))
  t.deepEqual([...bytes.rawPath], [0xff, 0xfe], 'the exact bytes of the name')
  t.like(bytes, { path: '\ufffd\ufffd', change: 'added', kind: 'file' })
  t.is(fs.readFileSync(Buffer.concat([Buffer.from(`${root}/`), bytes.rawPath]), 'utf8'), 'bytes', 'rawPath names the file for fs')
  const [text] = changes.filter((c) => c.rawPath === undefined)
  t.deepEqual(text, { path: '\ufffd\ufffd', change: 'added', kind: 'file' }, 'a UTF-8 name has no rawPath')
})

test("a git repo's HEAD, branch, index and stash are identical after snapshot, mutate, restore", async (t) => {
  const root = tempDir(t)
  git(root, 'init', '-q', '-b', 'main')
  fs.writeFileSync(path.join(root, 'tracked.txt'), 'v1')
  fs.writeFileSync(path.join(root, 'other.txt'), 'o1')
  fs.writeFileSync(path.join(root, '.gitignore'), '*.log\n')
  git(root, 'add', '.')
  git(root, 'commit', '-q', '-m', 'first')
  fs.writeFileSync(path.join(root, 'tracked.txt'), 'stashed')
  git(root, 'stash', 'push', '-q')
  fs.writeFileSync(path.join(root, 'tracked.txt'), 'staged')
  git(root, 'add', 'tracked.txt')
  fs.writeFileSync(path.join(root, 'tracked.txt'), 'unstaged on top')
  fs.writeFileSync(path.join(root, 'untracked.txt'), 'untracked')
  fs.writeFileSync(path.join(root, 'build.log'), 'ignored')

  const gitState = () => ({
    head: git(root, 'rev-parse', 'HEAD'),
    branch: git(root, 'symbolic-ref', 'HEAD'),
    stash: git(root, 'stash', 'list', '--format=%H %s'),
    refs: git(root, 'for-each-ref'),
    index: fs.readFileSync(path.join(root, '.git/index')).toString('base64'),
  })
  const state = gitState()
  const files = capture(root)

  const m = await manager(t, root)
  const snap = await m.createSnapshot()
  t.is(snap.files, 4, '.gitignore, tracked, other and untracked; the ignored log is left out')
  fs.writeFileSync(path.join(root, 'tracked.txt'), 'model edit')
  fs.rmSync(path.join(root, 'other.txt'))
  fs.writeFileSync(path.join(root, 'created.ts'), 'new')
  fs.writeFileSync(path.join(root, 'build.log'), 'ignored, changed')
  await m.restoreSnapshot(snap)

  t.deepEqual(gitState(), state)
  const expected = { ...files, 'build.log': capture(root)['build.log'] }
  t.deepEqual(capture(root), expected)
  t.is(fs.readFileSync(path.join(root, 'build.log'), 'utf8'), 'ignored, changed', 'ignored files are left alone')
  t.is(git(root, 'diff', '--cached', '--name-only'), 'tracked.txt\n')
})

test('a directory swapped for a symlink pointing outside is replaced, nothing outside is written', async (t) => {
  const base = tempDir(t)
  const root = path.join(base, 'work')
  const outside = path.join(base, 'outside')
  fs.mkdirSync(path.join(root, 'sub'), { recursive: true })
  fs.writeFileSync(path.join(root, 'sub/file.txt'), 'inside')
  fs.writeFileSync(path.join(root, 'plain.txt'), 'plain')
  fs.mkdirSync(outside)
  fs.writeFileSync(path.join(outside, 'file.txt'), 'outside')
  fs.writeFileSync(path.join(outside, 'secret'), 'secret')
  const before = capture(root)
  const m = await manager(t, root)
  const snap = await m.createSnapshot()

  fs.rmSync(path.join(root, 'sub'), { recursive: true })
  fs.symlinkSync(outside, path.join(root, 'sub'))
  fs.rmSync(path.join(root, 'plain.txt'))
  fs.linkSync(path.join(outside, 'secret'), path.join(root, 'plain.txt'))
  const outsideBefore = capture(outside)

  await m.restoreSnapshot(snap)
  t.deepEqual(capture(outside), outsideBefore)
  t.is(fs.readFileSync(path.join(outside, 'secret'), 'utf8'), 'secret')
  t.deepEqual(capture(root), before)
  t.false(fs.lstatSync(path.join(root, 'sub')).isSymbolicLink())
})

test('bad workdirs reject with errors that name the problem', async (t) => {
  const root = tempDir(t)
  const missing = path.join(root, 'missing')
  const e1 = await t.throwsAsync(createGitSnapshotManager(missing), { code: 'ENOENT' })
  t.true(e1.message.includes('missing') && e1.message.includes('does not exist'), e1.message)
  fs.writeFileSync(path.join(root, 'file'), '')
  await t.throwsAsync(createGitSnapshotManager(path.join(root, 'file')), { code: 'ENOTDIR', message: /not a directory/ })
  await t.throwsAsync(createGitSnapshotManager(42), { instanceOf: TypeError, message: /workdir must be a non-empty string/ })
  await t.throwsAsync(createGitSnapshotManager(''), { instanceOf: TypeError, message: /workdir/ })
  await t.throwsAsync(createGitSnapshotManager(root, { includeIgnored: 'yes' }), {
    instanceOf: TypeError,
    message: /includeIgnored must be a boolean/,
  })
  await t.throwsAsync(createGitSnapshotManager(root, 'x'), { instanceOf: TypeError, message: /options/ })
  t.throws(() => new GitSnapshotManager(), { instanceOf: TypeError, message: /createGitSnapshotManager/ })
})

test('a snapshot of another manager, a dropped snapshot and a disposed manager are clear errors', async (t) => {
  const root = tempDir(t)
  fs.writeFileSync(path.join(root, 'f'), 'x')
  const a = await manager(t, root)
  const b = await manager(t, root)
  const snap = await a.createSnapshot()
  await t.throwsAsync(b.restoreSnapshot(snap), { instanceOf: TypeError, message: /belongs to another snapshot manager/ })
  await t.throwsAsync(b.diff(snap), { instanceOf: TypeError, message: /another snapshot manager/ })
  for (const bad of [undefined, null, 'id', 42, {}, { id: 7 }]) {
    await t.throwsAsync(a.restoreSnapshot(bad), { instanceOf: TypeError, message: /snapshot must be a snapshot/ })
  }
  // plain data: a JSON round trip still restores
  fs.writeFileSync(path.join(root, 'f'), 'changed')
  await a.restoreSnapshot(JSON.parse(JSON.stringify(snap)))
  t.is(fs.readFileSync(path.join(root, 'f'), 'utf8'), 'x')

  t.is((await a.listSnapshots()).length, 1)
  await a.dropSnapshot(snap)
  t.deepEqual(await a.listSnapshots(), [])
  await t.throwsAsync(a.restoreSnapshot(snap), { code: 'ERR_SNAPSHOT_DROPPED', message: /was dropped/ })
  await t.throwsAsync(a.dropSnapshot(snap), { code: 'ERR_SNAPSHOT_DROPPED' })
  t.is(fs.readFileSync(path.join(root, 'f'), 'utf8'), 'x', 'nothing was touched')

  const store = a.storeDir
  t.true(fs.existsSync(store))
  await a.dispose()
  t.false(fs.existsSync(store))
  await a.dispose()
  await t.throwsAsync(a.createSnapshot(), { code: 'ERR_SNAPSHOT_MANAGER_DISPOSED', message: /disposed/ })
})

test('the private store is outside the workdir and does not outlive a process that never disposed it', async (t) => {
  const root = tempDir(t)
  fs.writeFileSync(path.join(root, 'f'), 'x')
  const m = await manager(t, root)
  t.false(m.storeDir.startsWith(root))
  const out = execFileSync(process.execPath, [path.join(here, 'helpers/snapshot-exit.mjs'), root], { encoding: 'utf8' })
  const store = out.trim()
  t.true(store.includes('promethean-snapshot-'), store)
  t.false(fs.existsSync(store))
  t.deepEqual(fs.readdirSync(root), ['f'])
})

test('managers of different folders run in parallel', async (t) => {
  const roots = Array.from({ length: 4 }, (_, i) => path.join(tempDir(t), `w${i}`))
  await Promise.all(
    roots.map(async (root, i) => {
      const r = rng(100 + i)
      randomTree(r, root)
      const before = capture(root)
      const m = await manager(t, root)
      const snap = await m.createSnapshot()
      for (let k = 0; k < 3; k++) {
        mutate(r, root)
        await m.restoreSnapshot(snap)
        t.deepEqual(capture(root), before)
      }
    }),
  )
})

test('two managers of one folder never interleave: concurrent restores end in one snapshot exactly', async (t) => {
  const root = tempDir(t)
  for (let i = 0; i < 200; i++) fs.writeFileSync(path.join(root, `f${i}`), 'base')
  const a = await manager(t, root)
  const b = await manager(t, root)
  const snapA = await a.createSnapshot()
  const stateA = capture(root)
  for (let i = 0; i < 200; i++) fs.writeFileSync(path.join(root, `f${i}`), 'other')
  for (let i = 0; i < 100; i++) fs.writeFileSync(path.join(root, `g${i}`), 'g')
  const snapB = await b.createSnapshot()
  const stateB = capture(root)
  for (let round = 0; round < 6; round++) {
    const [first, second] = round % 2 ? [a, b] : [b, a]
    const results = await Promise.all([first.restoreSnapshot(first === a ? snapA : snapB), second.restoreSnapshot(second === a ? snapA : snapB), a.diff(snapA)])
    const end = JSON.stringify(capture(root))
    t.true(end === JSON.stringify(stateA) || end === JSON.stringify(stateB), `round ${round}`)
    t.true(Array.isArray(results[2]))
  }
})

test("stress (regression: concurrent opens swept one another's fresh store): 40 managers opened, used and disposed leave nothing behind", async (t) => {
  const root = tempDir(t)
  fs.writeFileSync(path.join(root, 'f'), 'x')
  const stores = []
  for (let batch = 0; batch < 5; batch++) {
    const managers = await Promise.all(Array.from({ length: 8 }, () => createGitSnapshotManager(root)))
    for (const m of managers) stores.push(m.storeDir)
    const snaps = await Promise.all(managers.map((m) => m.createSnapshot()))
    fs.writeFileSync(path.join(root, 'f'), `batch ${batch}`)
    await Promise.all(managers.map((m, i) => m.restoreSnapshot(snaps[i])))
    await Promise.all(managers.map((m) => m.dispose()))
  }
  t.is(new Set(stores).size, 40)
  t.deepEqual(
    stores.filter((s) => fs.existsSync(s)),
    [],
  )
  t.is(fs.readFileSync(path.join(root, 'f'), 'utf8'), 'x')
  t.deepEqual(fs.readdirSync(root), ['f'])
})

test('an aborted signal stops create and restore before they change anything', async (t) => {
  const dir = tempDir(t)
  fs.writeFileSync(path.join(dir, 'a.txt'), 'a')
  const m = await manager(t, dir)
  const reason = new Error('stop')
  await t.throwsAsync(m.createSnapshot({ signal: AbortSignal.abort(reason) }), { is: reason })
  t.deepEqual(await m.listSnapshots(), [], 'an aborted create records nothing')
  const snap = await m.createSnapshot({ signal: new AbortController().signal })
  fs.writeFileSync(path.join(dir, 'a.txt'), 'changed')
  fs.writeFileSync(path.join(dir, 'new.txt'), 'new')
  const before = capture(dir)
  await t.throwsAsync(m.restoreSnapshot(snap, { signal: AbortSignal.abort(reason) }), { is: reason })
  t.deepEqual(capture(dir), before, 'an aborted restore leaves the folder untouched')
  await t.throwsAsync(m.restoreSnapshot(snap, { signal: 'stop' }), { instanceOf: TypeError, message: /options\.signal/ })
  // Aborted while it runs: either untouched (rejects with the reason) or fully restored (resolves).
  const controller = new AbortController()
  const pending = m.restoreSnapshot(snap, { signal: controller.signal }).then(
    () => 'restored',
    (err) => err,
  )
  controller.abort(reason)
  const outcome = await pending
  if (outcome === 'restored') t.is(fs.readFileSync(path.join(dir, 'a.txt'), 'utf8'), 'a')
  else {
    t.is(outcome, reason)
    t.deepEqual(capture(dir), before)
  }
  await m.restoreSnapshot(snap)
  t.is(fs.readFileSync(path.join(dir, 'a.txt'), 'utf8'), 'a')
  t.false(fs.existsSync(path.join(dir, 'new.txt')))
})
