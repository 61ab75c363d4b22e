'use strict'
// At most N requests in flight per endpoint, across every worker process of the machine: the
// workers are separate processes, so the count lives in the file system. A slot is a file
// `slot-<i>` created exclusively (O_EXCL) in a folder per endpoint, holding the owner's pid; a
// slot whose owner died is taken over. Waiting polls with a little jitter; a request waits for a
// slot under its own deadline and AbortSignal. The folders are removed when the process exits.

const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { makeDirSync } = require('../../lib/dirs')
const { ModelError } = require('./http')

// Memory-backed where there is such a folder (Linux's /dev/shm): a slot is taken and given back
// around every request, and a file created on a busy disk can cost a millisecond.
function slotRoot() {
  try {
    fs.accessSync('/dev/shm', fs.constants.W_OK)
    if (fs.statSync('/dev/shm').isDirectory()) return path.join('/dev/shm', 'promethean-bench-requests')
  } catch {}
  return path.join(os.tmpdir(), 'promethean-bench-requests')
}
const ROOT = slotRoot()
const POLL_MS = 5

function dirFor(endpoint) {
  // The endpoint only, hashed: a folder name must not carry a URL's characters (nor a key).
  return path.join(ROOT, crypto.createHash('sha256').update(endpoint).digest('hex').slice(0, 24))
}

function alive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return err.code === 'EPERM'
  }
}

function tryTake(dir, i) {
  const file = path.join(dir, `slot-${i}`)
  try {
    fs.writeFileSync(file, String(process.pid), { flag: 'wx' })
    return file
  } catch (err) {
    if (err.code === 'ENOENT') {
      // Removed by another process that exited: made again.
      used.delete(dir)
      useDir(dir)
      return undefined
    }
    if (err.code !== 'EEXIST') throw err
  }
  // Held: by a live process, or left by one that died (taken over).
  let owner
  try {
    owner = Number(fs.readFileSync(file, 'utf8'))
  } catch {
    return undefined
  }
  if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && !alive(owner)) {
    try {
      fs.unlinkSync(file)
    } catch {}
  }
  return undefined
}

// The folders this process made or used: removed when it exits, unless another process still
// holds a slot in them (then that one removes them). Not on every release: making and removing
// the folders around each request would cost more than the request (benchmark/model-servers).
const used = new Set()
let exitHook = false
function useDir(dir) {
  if (used.has(dir)) return
  makeDirSync(dir)
  used.add(dir)
  if (!exitHook) {
    exitHook = true
    process.once('exit', removeDirs)
  }
}

/** Removes the empty slot folders of this process (at exit; tests call it directly). */
function removeDirs() {
  for (const dir of used) {
    try {
      fs.rmdirSync(dir)
    } catch {}
  }
  used.clear()
  try {
    fs.rmdirSync(ROOT)
  } catch {}
}

function release(file) {
  try {
    fs.unlinkSync(file)
  } catch {}
}

/**
 * Waits for one of `limit` request slots of `endpoint`; resolves to a function that gives it
 * back. `timeoutMs` bounds the wait; `signal` cancels it.
 */
async function acquireSlot(endpoint, limit, { timeoutMs = 60000, signal, what = 'model request' } = {}) {
  const dir = dirFor(endpoint)
  useDir(dir)
  const deadline = performance.now() + timeoutMs
  const start = Math.floor(Math.random() * limit)
  for (;;) {
    for (let k = 0; k < limit; k++) {
      const file = tryTake(dir, (start + k) % limit)
      if (file) {
        let done = false
        return () => {
          if (done) return
          done = true
          release(file)
        }
      }
    }
    if (signal?.aborted) throw new ModelError(`${what} was cancelled`, { aborted: true })
    if (performance.now() >= deadline) {
      throw new ModelError(`${what} timed out after ${timeoutMs} ms waiting for one of the ${limit} request slots of ${endpoint}`, { timeout: true })
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS + Math.random() * POLL_MS))
  }
}

module.exports = { acquireSlot, dirFor, removeDirs }
