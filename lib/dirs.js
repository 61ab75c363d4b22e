'use strict'
// Every folder the package creates goes through here.
//
// Node 20's `mkdir(path, {recursive: true})` spins forever on paths that the kernel refuses with
// ENOENT although the parent exists (`/proc/x`: procfs answers ENOENT to every mkdir), so the
// recursive walk is done here: find the nearest ancestor that exists, then create each missing
// component once, in order. Any refusal fails at once with an error that names the folder.

const fs = require('node:fs')
const path = require('node:path')

function dirError(dir, cause) {
  const err = new Error(`cannot create folder ${JSON.stringify(dir)}: ${cause.code || cause.message}`)
  err.code = cause.code || 'ERR_MKDIR'
  err.path = dir
  err.cause = cause
  return err
}

// The components of `dir` that do not exist yet, outermost first. Stops at the first ancestor
// that exists; that one must be a folder (a file in the way is an error, not a loop).
function missingComponents(dir) {
  const missing = []
  let current = dir
  for (;;) {
    let st
    try {
      st = fs.statSync(current)
    } catch (e) {
      if (e.code !== 'ENOENT') throw dirError(dir, e)
      const parent = path.dirname(current)
      if (parent === current) throw dirError(dir, e)
      missing.unshift(current)
      current = parent
      continue
    }
    if (st.isDirectory()) return missing
    const e = new Error('not a folder')
    e.code = 'ENOTDIR'
    throw dirError(dir, e)
  }
}

/** Creates `dir` and its missing parents; returns the absolute path. Never loops. */
function makeDirSync(dir) {
  if (typeof dir !== 'string' || dir === '') {
    throw new TypeError(`folder must be a non-empty string, got ${dir === '' ? "''" : typeof dir}`)
  }
  const abs = path.resolve(dir)
  for (const component of missingComponents(abs)) {
    try {
      fs.mkdirSync(component)
    } catch (e) {
      // Created by someone else in between: fine as long as it is a folder now.
      if (e.code === 'EEXIST' && fs.statSync(component).isDirectory()) continue
      throw dirError(abs, e)
    }
  }
  return abs
}

/** Async `makeDirSync`: the few stat/mkdir calls run off the JS thread. */
async function makeDir(dir) {
  if (typeof dir !== 'string' || dir === '') {
    throw new TypeError(`folder must be a non-empty string, got ${dir === '' ? "''" : typeof dir}`)
  }
  const abs = path.resolve(dir)
  const missing = []
  let current = abs
  for (;;) {
    let st
    try {
      st = await fs.promises.stat(current)
    } catch (e) {
      if (e.code !== 'ENOENT') throw dirError(abs, e)
      const parent = path.dirname(current)
      if (parent === current) throw dirError(abs, e)
      missing.unshift(current)
      current = parent
      continue
    }
    if (st.isDirectory()) break
    const e = new Error('not a folder')
    e.code = 'ENOTDIR'
    throw dirError(abs, e)
  }
  for (const component of missing) {
    try {
      await fs.promises.mkdir(component)
    } catch (e) {
      if (e.code === 'EEXIST' && (await fs.promises.stat(component)).isDirectory()) continue
      throw dirError(abs, e)
    }
  }
  return abs
}

module.exports = { makeDir, makeDirSync }
