'use strict'
// createGitSnapshotManager and GitSnapshotManager: the public snapshot surface over the native
// core (src/snapshot). Every method that touches the folder crosses into Rust once and runs
// off the JS thread; bad arguments throw (as a rejected promise) before anything is touched.

const fs = require('node:fs')
const path = require('node:path')

const { abortReason, onAbort, signalOf } = require('./abort.js')
const { binding } = require('./native.js')
const v = require('./validate.js')

const CREATE = Symbol('GitSnapshotManager.create')

// Private stores still alive, removed on process exit: a manager that is never disposed and
// never garbage-collected would otherwise leave its temporary folder behind.
const liveStores = new Map()
const collected = new FinalizationRegistry((token) => liveStores.delete(token))
let exitHooked = false
function trackStore(token, dir) {
  liveStores.set(token, dir)
  if (exitHooked) return
  exitHooked = true
  process.on('exit', () => {
    for (const dir of liveStores.values()) {
      try {
        fs.rmSync(dir, { recursive: true, force: true })
      } catch {
        // best effort at exit; the next manager's sweep removes what is left
      }
    }
  })
}

/**
 * Runs `start(cancel)` with a native cancel tied to `signal` (none without a signal); a native
 * `ABORT_ERR` (the operation stopped before it changed anything) rejects with the signal's
 * reason.
 */
async function cancellable(signal, operation, start) {
  if (signal === null) return start(undefined)
  if (signal.aborted) throw abortReason(signal, operation)
  const cancel = new binding.NativeCancel()
  const done = onAbort(signal, () => cancel.cancel())
  try {
    return await start(cancel)
  } catch (err) {
    throw err && err.code === 'ABORT_ERR' ? abortReason(signal, operation) : err
  } finally {
    done()
  }
}

function snapshotFrom(native) {
  return Object.freeze({
    id: native.id,
    managerId: native.managerId,
    workdir: native.workdir,
    createdAt: native.createdAt,
    files: native.files,
    symlinks: native.symlinks,
    directories: native.directories,
    bytes: native.bytes,
    tree: native.tree,
    commit: native.commit,
  })
}

function snapshotId(snapshot) {
  if (snapshot === null || typeof snapshot !== 'object' || typeof snapshot.id !== 'string') {
    throw v.typeError('snapshot', 'a snapshot from createSnapshot() (an object with a string id)', snapshot)
  }
  return snapshot.id
}

class GitSnapshotManager {
  #native
  #token = {}

  /** Use `createGitSnapshotManager(workdir)`. */
  constructor(key, native) {
    if (key !== CREATE) {
      throw new TypeError('GitSnapshotManager cannot be constructed directly; use createGitSnapshotManager(workdir)')
    }
    this.#native = native
    trackStore(this.#token, native.storeDir)
    collected.register(this, this.#token)
  }

  /** Identifies this manager; every snapshot it takes carries it as `managerId`. */
  get id() {
    return this.#native.id
  }

  /** The canonical path of the folder this manager snapshots. */
  get workdir() {
    return this.#native.workdir
  }

  /** The private store (a bare git repository in a temporary folder). */
  get storeDir() {
    return this.#native.storeDir
  }

  /**
   * Captures the folder as it is now. `options.signal` stops it between its steps; an aborted
   * create rejects with the signal's reason and records no snapshot.
   */
  async createSnapshot(options) {
    const signal = signalOf('options', options)
    return snapshotFrom(await cancellable(signal, 'createSnapshot', (cancel) => this.#native.create(cancel)))
  }

  /**
   * Brings the folder back to `snapshot`, byte for byte, touching only what changed.
   * `options.signal` stops it only before the folder is touched: a restore that rejects with
   * the signal's reason left the folder untouched; once it has begun writing it runs to its
   * end and resolves (fully restored). Never half of each.
   */
  async restoreSnapshot(snapshot, options) {
    const id = snapshotId(snapshot)
    const signal = signalOf('options', options)
    await cancellable(signal, 'restoreSnapshot', (cancel) => this.#native.restore(id, cancel))
  }

  /** The paths that differ from `snapshot`: `[{path, change, kind}]`, sorted, parents first. */
  async diff(snapshot) {
    return this.#native.diff(snapshotId(snapshot))
  }

  /** The snapshots not dropped yet, oldest first. */
  async listSnapshots() {
    return this.#native.list().map(snapshotFrom)
  }

  /** Forgets `snapshot`; restoring or diffing it afterwards rejects. */
  async dropSnapshot(snapshot) {
    return this.#native.dropSnapshot(snapshotId(snapshot))
  }

  /** Removes the private store and forgets every snapshot. Idempotent. */
  async dispose() {
    await this.#native.dispose()
    liveStores.delete(this.#token)
  }
}

if (typeof Symbol.asyncDispose === 'symbol') {
  GitSnapshotManager.prototype[Symbol.asyncDispose] = GitSnapshotManager.prototype.dispose
}

/**
 * Opens a snapshot manager of `workdir` (a folder, git repository or not).
 * `options.includeIgnored` also captures files the git ignore rules exclude.
 */
async function createGitSnapshotManager(workdir, options) {
  if (typeof workdir !== 'string' || workdir === '') {
    throw v.typeError('workdir', 'a non-empty string path', workdir)
  }
  const o = v.optionsObject('options', options)
  const includeIgnored = v.boolean('includeIgnored', o.includeIgnored, false)
  const native = await binding.openSnapshotManager(path.resolve(workdir), includeIgnored)
  return new GitSnapshotManager(CREATE, native)
}

module.exports = { createGitSnapshotManager, GitSnapshotManager }
