'use strict'
// At most N requests in flight per endpoint, across every worker process of the machine: the
// workers are separate processes, so the count lives in the file system. A slot is a file
// `slot-<i>` created exclusively (O_EXCL) in a folder per endpoint, holding the owner's pid; a
// slot whose owner died is taken over. Waiting polls with a little jitter; a request waits for a
// slot under its own deadline and AbortSignal. The folders are removed when the last slot goes.

const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { makeDirSync } = require('../../lib/dirs')
const { ModelError } = require('./http')

const ROOT = path.join(os.tmpdir(), 'promethean-bench-requests')
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
      makeDirSync(dir)
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

function release(dir, file) {
  try {
    fs.unlinkSync(file)
  } catch {}
  // Fails while another slot is held: then its owner removes the folder later.
  try {
    fs.rmdirSync(dir)
    fs.rmdirSync(ROOT)
  } catch {}
}

/**
 * Waits for one of `limit` request slots of `endpoint`; resolves to a function that gives it
 * back. `timeoutMs` bounds the wait; `signal` cancels it.
 */
async function acquireSlot(endpoint, limit, { timeoutMs = 60000, signal, what = 'model request' } = {}) {
  const dir = dirFor(endpoint)
  makeDirSync(dir)
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
          release(dir, file)
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

module.exports = { acquireSlot, dirFor }
