// A Jest user's project: the packed package (`npm pack`) installed into a fresh temporary project
// beside Jest 30 and ts-jest, and a small TypeScript suite over the root and every subpath run
// with `--detectOpenHandles`. Jest must exit on its own and report no open handle. (Jest 29
// reports napi-rs's `CustomGC` handle, a known false positive fixed in Jest 30: hence 30.)
//
//   node --test __test__/jest-consumer.mjs     (npm run test:jest; .ci/run runs it)
//
// Jest and ts-jest come from the npm registry at test time (not devDependencies); npm's cache is
// kept in a cache folder so later runs install from it. The install runs no scripts; the binary
// is this checkout's build, copied where an installed package's build from source sits (not
// NAPI_RS_NATIVE_LIBRARY_PATH: Jest 30's own resolver is a napi-rs addon and would load it too).
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const { localBinaryPath } = require('../lib/loader.js')
const { makeDirSync } = require('../lib/dirs.js')

const JEST = '30.5.2'
const TS_JEST = '29.4.15'
const TYPES_JEST = '30.0.0'
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'promethean-jest-'))
after(() => fs.rmSync(work, { recursive: true, force: true }))

const cacheHome = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache')
const npmCache = path.join(cacheHome, 'promethean-benchmark', 'npm-cache')

function cleanEnv(extra = {}) {
  const env = {}
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v
  return { ...env, npm_config_cache: npmCache, npm_config_update_notifier: 'false', ...extra }
}

/** Runs a command to its end (or kills its group after `timeout`); `{status, stdout, stderr, timedOut}`. */
function run(cmd, args, { timeout, ...options }) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { ...options, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {}
    }, timeout)
    child.on('close', (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr, timedOut })
    })
  })
}

const SUITE = `
import { AdvancedCache, BaseProvider, EnhancedBuildFixProvider, ResourceManager, PerformanceMonitor, LoadTester, listFixtures, type BenchmarkResponse } from '@promethean/benchmark'
import { CacheFactory, MultiLevelCache } from '@promethean/benchmark/src/cache/advanced-cache'
import { MemoryManager, ResourceManager as RM } from '@promethean/benchmark/src/metrics/resource-manager.js'
import { globalPerformanceMonitor } from '@promethean/benchmark/src/metrics/performance-monitor'
import { LoadTestReporter } from '@promethean/benchmark/src/load-testing/load-tester.js'
import { EnhancedBuildFixProvider as Subpath, EnhancedBuildFixTimeoutError } from '@promethean/benchmark/src/providers/buildfix-enhanced'
import os from 'node:os'
import fs from 'node:fs'
import path from 'node:path'

describe('every subpath', () => {
  test('the cache', async () => {
    const cache = CacheFactory.createLRUCache<string>({ maxSize: 2 })
    await cache.set('a', 'x')
    expect(await cache.get('a')).toBe('x')
    cache.destroy()
    const multi = new MultiLevelCache<number>({})
    await multi.set('k', 1)
    expect(await multi.get('k')).toBe(1)
    multi.destroy()
    expect(new AdvancedCache()).toBeInstanceOf(AdvancedCache)
  })

  test('pools and memory', async () => {
    const manager = new RM({ cleanupInterval: 100 })
    const pool = manager.createPool('n', { minSize: 1, maxSize: 2, createResource: async () => ({ id: 1 }) })
    const r = await pool.acquire()
    pool.release(r)
    expect(pool.getStats().total).toBeGreaterThanOrEqual(1)
    await manager.destroy()
    expect(MemoryManager.getInstance().checkMemoryUsage().issues).toBeInstanceOf(Array)
    expect(ResourceManager).toBe(RM)
  })

  test('the monitor', () => {
    globalPerformanceMonitor.startMonitoring()
    globalPerformanceMonitor.stopMonitoring()
    const m = new PerformanceMonitor({ interval: 50 })
    m.startMonitoring()
    m.stopMonitoring()
  })

  test('the load tester', async () => {
    const tester = new LoadTester({ concurrentUsers: 2, requestsPerUser: 2, rampUpTime: 0, testDuration: 5000, thinkTime: 0, timeout: 1000 })
    const metrics = await tester.runTest((u, id) => ({ u, id }), async (p) => p)
    expect(metrics.totalRequests).toBe(4)
    expect(LoadTestReporter.generateReport(metrics)).toContain('Results')
  })

  test('the provider, with workers, and the original helpers', async () => {
    expect(Subpath).toBe(EnhancedBuildFixProvider)
    expect(new EnhancedBuildFixTimeoutError('t', 1, 'op').timeout).toBe(1)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jest-provider-'))
    const provider: BaseProvider = new EnhancedBuildFixProvider({
      name: 'jest', type: 'buildfix', model: 'gold',
      options: { maxWorkers: 1, minWorkers: 1, cacheDir: path.join(dir, 'c'), metricsDir: path.join(dir, 'm'), workDir: path.join(dir, 'w') },
    })
    await provider.connect()
    const started = Date.now()
    const request = { prompt: 'Fix it', metadata: { fixtureType: 'small', fixtures: listFixtures().slice(0, 1) } }
    const response: BenchmarkResponse = await provider.execute(request)
    expect(response.content).toContain('- Total Tests: 1')
    expect(provider.calculateMetrics(response, started).latency).toBeGreaterThanOrEqual(0)
    expect((await provider.measureResources()).memoryUsage).toBeGreaterThan(0)
    await provider.disconnect()
    fs.rmSync(dir, { recursive: true, force: true })
  })
})
`

test('a Jest 30 + ts-jest project over the packed package exits on its own with no open handle', { timeout: 10 * 60_000 }, async (t) => {
  const binary = localBinaryPath()
  if (!fs.existsSync(binary)) {
    t.skip(`no local build at ${binary} (npm run build:debug first)`)
    return
  }
  makeDirSync(npmCache)
  const packed = spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', work, '--json'], {
    cwd: root,
    env: cleanEnv(),
    encoding: 'utf8',
  })
  assert.equal(packed.status, 0, packed.stderr)
  const tarball = path.join(work, JSON.parse(packed.stdout)[0].filename)

  const project = path.join(work, 'project')
  makeDirSync(path.join(project, 'test'))
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'jest-consumer', private: true, version: '1.0.0' }, null, 2))
  fs.writeFileSync(
    path.join(project, 'tsconfig.json'),
    JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022',
          module: 'commonjs',
          moduleResolution: 'node10',
          strict: true,
          esModuleInterop: true,
          types: ['jest', 'node'],
        },
      },
      null,
      2,
    ),
  )
  fs.writeFileSync(
    path.join(project, 'jest.config.js'),
    `module.exports = { testEnvironment: 'node', transform: { '^.+\\\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] }, testMatch: ['**/test/**/*.test.ts'] }\n`,
  )
  fs.writeFileSync(path.join(project, 'test', 'consumer.test.ts'), SUITE)

  const install = await run(
    'npm',
    [
      'install',
      '--ignore-scripts',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      tarball,
      `jest@${JEST}`,
      `ts-jest@${TS_JEST}`,
      `@types/jest@${TYPES_JEST}`,
      '@types/node@20',
    ],
    { cwd: project, env: cleanEnv(), timeout: 5 * 60_000 },
  )
  assert.equal(install.status, 0, `npm install failed:\n${install.stderr}`)

  // Where a build from source of the installed package is looked for (lib/loader.js).
  const installed = path.join(project, 'node_modules', '@promethean', 'benchmark')
  fs.copyFileSync(binary, path.join(installed, path.basename(binary)))

  const started = Date.now()
  const jest = await run(process.execPath, [path.join(project, 'node_modules', 'jest', 'bin', 'jest.js'), '--detectOpenHandles', '--ci'], {
    cwd: project,
    env: cleanEnv({ CI: 'true' }),
    timeout: 3 * 60_000,
  })
  const output = `${jest.stdout}\n${jest.stderr}`
  t.diagnostic(`jest ran in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  assert.equal(jest.timedOut, false, `Jest did not exit on its own:\n${output}`)
  assert.equal(jest.status, 0, output)
  assert.match(output, /Tests:\s+5 passed, 5 total/)
  assert.doesNotMatch(output, /open handle/i, output)
})
