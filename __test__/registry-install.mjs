// The install a user does, through a real registry: a private Verdaccio on 127.0.0.1 gets the
// Linux x64 gnu platform package and the main package (scripts/release-local.js, the release
// workflow's commands), then a fresh project with no cargo and no rustc on PATH runs
// `npm install @promethean/benchmark` and `npx promethean-bench run`.
//
//   node --test __test__/registry-install.mjs     (npm run test:install; .ci/run runs it)
//
// Verdaccio is installed at test time into a cache folder (not a devDependency, so `npm ci`
// stays lean). Everything else lives in one temporary folder: the registry's storage and
// config, npm's cache and user config, the staged release and the consumer project; it is
// removed and the registry killed at the end, whatever happens.
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import { createRequire } from 'node:module'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const manifest = require('../package.json')
const { makeDirSync } = require('../lib/dirs.js')

// 6.10 wants Node 22; on Node 20, 6.8.0 runs once node-fetch is pinned to 2.7.0.
const VERDACCIO = '6.8.0'
const PLATFORM_PACKAGE = `${manifest.name}-linux-x64-gnu`
const supported = process.platform === 'linux' && process.arch === 'x64'

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'promethean-registry-'))
let registry = null // {child, url}
const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`

const running = new Set() // the commands sh() started and that have not ended yet
function killRegistry() {
  if (registry && registry.child.exitCode === null && registry.child.signalCode === null) registry.child.kill('SIGKILL')
}
// Whatever happens, even an exception outside a test: no registry and no folder outlives the run.
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL')
  killRegistry()
  fs.rmSync(work, { recursive: true, force: true })
})
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => process.exit(128 + os.constants.signals[signal]))
}

/** process.env without what an enclosing `npm run` set (npm_config_*, npm_command, ...). */
function cleanEnv() {
  const env = {}
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v
  return env
}

/** The environment for npm: this test's registry, cache and user config, and nothing inherited. */
function npmEnv(extra = {}) {
  return {
    ...cleanEnv(),
    npm_config_cache: path.join(work, 'npm-cache'),
    npm_config_userconfig: path.join(work, 'npmrc'),
    npm_config_registry: registry.url,
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    ...extra,
  }
}

/** Runs a command to completion without blocking (signals still reach this process's handlers). */
function sh(cmd, args, { timeout = 15 * 60_000, stdio = 'pipe', ...options } = {}) {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const child = spawn(cmd, args, { ...options, stdio: typeof stdio === 'string' ? ['ignore', stdio, stdio] : stdio })
    running.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout?.setEncoding('utf8').on('data', (d) => (stdout += d))
    child.stderr?.setEncoding('utf8').on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout)
    child.on('error', (err) => {
      running.delete(child)
      clearTimeout(timer)
      reject(err)
    })
    child.on('close', (status, signal) => {
      running.delete(child)
      clearTimeout(timer)
      resolve({ status, signal, stdout, stderr, ms: Date.now() - started })
    })
  })
}

/** Verdaccio from the npm registry, installed once into a cache folder and reused. */
async function installVerdaccio() {
  const cacheHome = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache')
  const dir = path.join(cacheHome, 'promethean-benchmark', `verdaccio-${VERDACCIO}`)
  const bin = path.join(dir, 'node_modules', 'verdaccio', 'bin', 'verdaccio')
  if (fs.existsSync(bin)) return bin
  // Installed beside, then renamed: an interrupted install is never mistaken for a complete one.
  const partial = `${dir}.partial-${process.pid}`
  makeDirSync(partial)
  fs.writeFileSync(
    path.join(partial, 'package.json'),
    JSON.stringify({ private: true, dependencies: { verdaccio: VERDACCIO }, overrides: { 'node-fetch': '2.7.0' } }),
  )
  const r = await sh('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: partial, env: cleanEnv() })
  if (r.status !== 0) {
    fs.rmSync(partial, { recursive: true, force: true })
    throw new Error(`installing verdaccio@${VERDACCIO} failed:\n${r.stderr}`)
  }
  fs.rmSync(dir, { recursive: true, force: true })
  fs.renameSync(partial, dir)
  return bin
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
    server.on('error', reject)
  })
}

function request(method, url, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (text += d))
      res.on('end', () => resolve({ status: res.statusCode, text }))
    })
    req.on('error', reject)
    req.end(body ? JSON.stringify(body) : undefined)
  })
}

/** Starts Verdaccio on 127.0.0.1 with its own storage and config; resolves once it answers. */
async function startRegistry(bin) {
  const dir = path.join(work, 'verdaccio')
  makeDirSync(dir)
  const upstream = (await sh('npm', ['config', 'get', 'registry'], { env: cleanEnv() })).stdout.trim()
  const config = path.join(dir, 'config.yaml')
  fs.writeFileSync(
    config,
    [
      `storage: ${JSON.stringify(path.join(dir, 'storage'))}`,
      'auth:',
      '  htpasswd:',
      `    file: ${JSON.stringify(path.join(dir, 'htpasswd'))}`,
      '    max_users: 10',
      // Only what the package depends on (typescript) comes from the real registry.
      'uplinks:',
      `  upstream: { url: ${JSON.stringify(upstream)} }`,
      'packages:',
      "  '@promethean/*': { access: $all, publish: $authenticated }",
      "  '**': { access: $all, publish: $authenticated, proxy: upstream }",
      'log: { type: stdout, format: pretty, level: warn }',
      '',
    ].join('\n'),
  )
  const port = await freePort()
  const child = spawn(process.execPath, [bin, '--config', config, '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let log = ''
  child.stdout.on('data', (d) => (log += d))
  child.stderr.on('data', (d) => (log += d))
  registry = { child, url: `http://127.0.0.1:${port}/` }
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
  // Ready when it answers /-/ping; given up (with its log) if it exits or takes 2 minutes.
  const deadline = Date.now() + 120_000
  for (;;) {
    const ping = await Promise.race([request('GET', `${registry.url}-/ping`).catch(() => null), exited.then((code) => ({ exited: code }))])
    if (ping?.exited !== undefined) throw new Error(`verdaccio exited (${ping.exited}):\n${log}`)
    if (ping?.status === 200) break
    if (Date.now() > deadline) throw new Error(`verdaccio did not answer within 2 minutes:\n${log}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  const user = await request('PUT', `${registry.url}-/user/org.couchdb.user:ci`, { name: 'ci', password: `ci-${process.pid}-${port}` })
  const { token } = JSON.parse(user.text)
  assert.ok(token, `verdaccio gave no token: ${user.text}`)
  fs.writeFileSync(path.join(work, 'npmrc'), `//127.0.0.1:${port}/:_authToken=${token}\n`)
}

/** PATH without any folder that holds cargo or rustc. */
function pathWithoutRust() {
  const dirs = (process.env.PATH || '').split(path.delimiter).filter(Boolean)
  const kept = dirs.filter((d) => !['cargo', 'rustc'].some((tool) => fs.existsSync(path.join(d, tool))))
  const nodeDir = path.dirname(process.execPath)
  assert.ok(kept.includes(nodeDir), `node's folder ${nodeDir} also holds cargo or rustc`)
  return kept.join(path.delimiter)
}

function duBytes(dir) {
  let total = 0
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name)
    if (entry.isDirectory()) total += duBytes(p)
    else if (entry.isFile()) total += fs.statSync(p).size
  }
  return total
}

function findAll(dir, match, found = []) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name)
    if (match(entry, p)) found.push(p)
    if (entry.isDirectory() && !entry.isSymbolicLink()) findAll(p, match, found)
  }
  return found
}

before(async () => {
  if (!supported) return
  await startRegistry(await installVerdaccio())
})

after(() => {
  killRegistry()
})

test('regression: installed from a registry with no Rust on PATH, it compiles nothing, runs no install script, and runs', {
  skip: !supported && 'the prebuilt binary this publishes is linux-x64-gnu',
}, async (t) => {
  // Publish: the release workflow's commands for this one platform.
  const stage = path.join(work, 'release')
  const release = await sh(process.execPath, [path.join(root, 'scripts', 'release-local.js'), '--stage', stage], {
    cwd: root,
    env: npmEnv(),
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  assert.equal(release.status, 0, 'release-local.js failed')
  const published = JSON.parse(release.stdout.trim().split('\n').pop())
  assert.deepEqual(published.optionalDependencies, { [PLATFORM_PACKAGE]: manifest.version })
  for (const name of [manifest.name, PLATFORM_PACKAGE]) {
    const view = await sh('npm', ['view', `${name}@${manifest.version}`, 'version'], { env: npmEnv() })
    assert.equal(view.stdout.trim(), manifest.version, `${name} is on the registry: ${view.stderr}`)
  }

  // Install: a fresh project, no cargo, no rustc, a cold npm cache.
  const project = path.join(work, 'consumer')
  makeDirSync(project)
  fs.writeFileSync(path.join(project, 'package.json'), '{"name":"consumer","version":"1.0.0","private":true}\n')
  const PATH = pathWithoutRust()
  assert.equal(spawnSync('cargo', ['--version'], { env: { ...process.env, PATH } }).error?.code, 'ENOENT')
  assert.equal(spawnSync('rustc', ['--version'], { env: { ...process.env, PATH } }).error?.code, 'ENOENT')
  const install = await sh('npm', ['install', manifest.name, '--registry', registry.url], { cwd: project, env: npmEnv({ PATH }) })
  assert.equal(install.status, 0, `npm install failed:\n${install.stdout}\n${install.stderr}`)
  const output = install.stdout + install.stderr
  assert.doesNotMatch(output, /allowScripts|install scripts/i, 'no install script to allow')
  const modules = path.join(project, 'node_modules')
  const pkgDir = path.join(modules, ...manifest.name.split('/'))
  assert.ok(fs.existsSync(path.join(modules, ...PLATFORM_PACKAGE.split('/'), 'package.json')), 'the platform package is installed')
  assert.deepEqual(
    findAll(modules, (e) => e.isDirectory() && e.name === 'target'),
    [],
    'nothing was compiled',
  )
  assert.deepEqual(
    findAll(pkgDir, (e) => e.name.endsWith('.node')),
    [],
    'the main package holds no binary',
  )
  const packageBytes = duBytes(pkgDir) + duBytes(path.join(modules, ...PLATFORM_PACKAGE.split('/')))
  const totalBytes = duBytes(modules)
  t.diagnostic(
    `npm install: ${(install.ms / 1000).toFixed(1)} s, no compile; installed ${mb(packageBytes)} for the package and its binary, ${mb(totalBytes)} in node_modules (with typescript)`,
  )
  // The target is 30 s; the bound is ten times that, so a loaded machine does not fail it.
  assert.ok(install.ms < 300_000, `npm install took ${install.ms} ms`)

  // Run: the package's own command, offline, from the installed binary.
  const out = path.join(work, 'reports')
  const run = await sh('npx', ['--no-install', 'promethean-bench', 'run', '--out', out], { cwd: project, env: npmEnv({ PATH }) })
  assert.equal(run.status, 0, `npx promethean-bench run failed:\n${run.stdout}\n${run.stderr}`)
  assert.match(run.stdout, /Results saved to: /)
  const results = fs.readdirSync(out).filter((f) => /^benchmark-results-.*\.json$/.test(f))
  assert.equal(results.length, 1, `one JSON report in ${fs.readdirSync(out)}:\n${run.stdout}`)
  const { summary } = JSON.parse(fs.readFileSync(path.join(out, results[0]), 'utf8'))
  assert.ok(summary.totalTests > 0, 'the run benchmarked something')
  t.diagnostic(`npx promethean-bench run: ${(run.ms / 1000).toFixed(1)} s, ${summary.totalTests} tests`)
})
