'use strict'
// What the benchmarks that need a local server share: finding a binary, a free port on
// 127.0.0.1, waiting for a port to accept, and a throw-away redis-server (a temporary folder,
// nothing saved, killed and removed by `stop()`).

const { spawn } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

/** `name`'s path when it is on PATH (or, absolute, exists), or null. */
function which(name) {
  if (path.isAbsolute(name)) return fs.existsSync(name) ? name : null
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, name)
    if (dir && fs.existsSync(p)) return p
  }
  return null
}

/** A port free on 127.0.0.1 right now (the kernel's choice). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

/** Resolves once `port` accepts a connection, polling every 20 ms; rejects after `ms` or when `child` exits. */
async function waitForPort(port, ms, child, name = 'the server') {
  const deadline = Date.now() + ms
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode}`)
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1')
      s.once('connect', () => {
        s.destroy()
        resolve(true)
      })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`${name} did not listen on 127.0.0.1:${port} within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Debian's redis-server (or $REDIS_SERVER), or null. */
function redisServerBinary() {
  return [process.env.REDIS_SERVER, '/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((f) => f && fs.existsSync(f)) ?? which('redis-server')
}

/**
 * Starts a redis-server on a free port of 127.0.0.1 with a temporary folder; resolves `{url,
 * port, dir, stop()}` (`stop()` resolves once it is gone and its folder removed) once it accepts connections, or `null` when redis-server is not installed.
 */
async function startRedis() {
  const binary = redisServerBinary()
  if (!binary) return null
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promethean-bench-redis-'))
  const port = await freePort()
  const child = spawn(binary, ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], {
    stdio: 'ignore',
  })
  const closed = new Promise((resolve) => child.once('close', resolve))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await closed
    fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    await waitForPort(port, 10_000, child, 'redis-server')
  } catch (err) {
    await stop()
    throw err
  }
  return { url: `redis://127.0.0.1:${port}`, port, dir, stop }
}

module.exports = { which, freePort, waitForPort, startRedis }
