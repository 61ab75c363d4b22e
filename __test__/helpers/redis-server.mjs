// A real Redis for the tests: Debian's `redis-server`, started on 127.0.0.1 on a free port with a
// temporary folder, nothing saved to disk, stopped (and its folder removed) by `close()`.
//
//   import { redisTest, startRedis } from './helpers/redis-server.mjs'
//   redisTest('shares results', async (t) => {
//     const redis = await startRedis()
//     t.teardown(() => redis.close())
//     ... redis.url                  // 'redis://127.0.0.1:PORT'
//     await redis.stop()             // the server goes away (SIGKILL), the port stays reserved
//     await redis.start()            // back on the same port, empty
//   })
//
// Outside CI, when `redis-server` is not installed, `redisTest` skips with a message; in CI
// (`CI` set) the tests run and fail loudly if it is missing (`.ci/run` installs it).

import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import test from 'ava'

/** The `redis-server` binary, or `null` when there is none. */
export function findRedisServer() {
  const candidates = [process.env.REDIS_SERVER, '/usr/bin/redis-server', '/usr/local/bin/redis-server']
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir) candidates.push(path.join(dir, 'redis-server'))
  }
  for (const file of candidates) {
    if (!file) continue
    try {
      fs.accessSync(file, fs.constants.X_OK)
      return file
    } catch {}
  }
  return null
}

const binary = findRedisServer()
export const hasRedis = binary !== null

/** `test`, or `test.skip` with a message when Redis is missing outside CI. */
export const redisTest = hasRedis || process.env.CI ? test : test.skip
if (!hasRedis) {
  const line = process.env.CI
    ? 'redis-server is not installed: the Redis tests will fail (.ci/run installs it)'
    : 'redis-server is not installed: the Redis tests are skipped (apt-get install redis-server)'
  process.stderr.write(`${line}\n`)
}

/** A port nobody listens on right now (the OS picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** Resolves once `PING` gets `+PONG` on 127.0.0.1:port, or rejects after `timeoutMs`. */
export function waitForPong(port, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = net.connect({ host: '127.0.0.1', port })
      let answer = ''
      const retry = () => {
        socket.destroy()
        if (Date.now() > deadline) reject(new Error(`redis on port ${port} did not answer PING`))
        else setTimeout(attempt, 25)
      }
      socket.on('connect', () => socket.write('PING\r\n'))
      socket.on('data', (chunk) => {
        answer += chunk
        if (answer.includes('\r\n')) {
          socket.destroy()
          if (answer.startsWith('+PONG')) resolve()
          else retry()
        }
      })
      socket.on('error', retry)
    }
    attempt()
  })
}

class RedisServer {
  constructor(port, dir) {
    this.port = port
    this.dir = dir
    this.url = `redis://127.0.0.1:${port}`
    this.child = null
    this.closed = false
  }

  /** Starts the server (again) on its port; resolves when it answers PING. */
  async start() {
    if (this.child) return
    const child = spawn(
      binary ?? 'redis-server',
      [
        '--bind',
        '127.0.0.1',
        '--port',
        String(this.port),
        '--dir',
        this.dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--protected-mode',
        'yes',
        '--daemonize',
        'no',
        '--loglevel',
        'warning',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    let stderr = ''
    child.stderr.on('data', (chunk) => {
      stderr += chunk
    })
    const exited = new Promise((resolve) => child.once('close', resolve))
    this.child = child
    this.exited = exited
    const failed = exited.then((code) => {
      throw new Error(`redis-server exited (${code}) before answering: ${stderr.trim()}`)
    })
    await Promise.race([waitForPong(this.port), failed])
    failed.catch(() => {})
  }

  /** Kills the server (SIGKILL: no goodbye to clients); resolves when it is gone. */
  async stop() {
    const child = this.child
    if (!child) return
    this.child = null
    child.kill('SIGKILL')
    await this.exited
  }

  /** Stops the server and removes its folder. */
  async close() {
    if (this.closed) return
    this.closed = true
    await this.stop()
    fs.rmSync(this.dir, { recursive: true, force: true })
  }
}

/** Starts a Redis on a free port of 127.0.0.1 with a temporary folder. */
export async function startRedis() {
  if (!binary) throw new Error('redis-server is not installed (apt-get install redis-server)')
  let lastError
  for (let attempt = 0; attempt < 5; attempt++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'buildfix-redis-'))
    const server = new RedisServer(await freePort(), dir)
    try {
      await server.start()
      return server
    } catch (error) {
      lastError = error
      await server.close()
    }
  }
  throw lastError
}

/** `redis-cli`-free check used by tests: the server's version, or null. */
export function redisVersion() {
  if (!binary) return null
  const out = spawnSync(binary, ['--version'], { encoding: 'utf8' })
  return out.stdout?.trim() ?? null
}
