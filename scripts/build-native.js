#!/usr/bin/env node
// Builds the native addon from source. Installed packages normally never need this: npm installs
// the prebuilt platform package (see lib/loader.js). It is for the rest: a platform with no
// prebuilt binary (`npx promethean-bench-build`), and a checkout (`npm install` runs it through
// `prepare`; the developers' own commands below).
//
//   node scripts/build-native.js              a checkout: debug build (fast to compile, for development)
//                                             installed: release build (what `promethean-bench-build` runs)
//   node scripts/build-native.js --release    release build
//   node scripts/build-native.js --if-missing release build unless a binary for this platform loads
//   node scripts/build-native.js --if-stale   release build unless the binary is newer than every source
//   node scripts/build-native.js --prepare    npm's `prepare` (a checkout's `npm install`): --if-stale,
//                                             and nothing while npm packs or publishes (the package
//                                             ships no binary of its own)
//   node scripts/build-native.js --release -- --target T [--use-napi-cross | -x]
//                                             a checkout: what follows `--` goes to `napi build`
//                                             (the release workflow's cross builds)
//
// In a checkout with @napi-rs/cli installed it runs `napi build`, which also regenerates
// binding.js / binding.d.ts. Otherwise it runs cargo directly and copies the library to the file
// name the loader looks for. Cargo's target folder is CARGO_TARGET_DIR when set; otherwise
// `target/` in a checkout, and for an installed package a temporary folder removed afterwards,
// so nothing of the build (hundreds of MB) is left inside node_modules.
'use strict'

const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { platformName, localBinaryPath, platformPackageName, isInstalled, BUILD_COMMAND } = require('../lib/loader.js')

const root = path.resolve(__dirname, '..')
const manifest = require(path.join(root, 'package.json'))
const argv = process.argv.slice(2)
const passIndex = argv.indexOf('--')
const args = new Set(passIndex === -1 ? argv : argv.slice(0, passIndex))
const napiExtra = passIndex === -1 ? [] : argv.slice(passIndex + 1)
const installed = isInstalled()
const release = installed || args.has('--release') || args.has('--if-missing') || args.has('--if-stale') || args.has('--prepare')
const binary = localBinaryPath()
const say = (line) => process.stderr.write(`${manifest.name}: ${line}\n`)

function newestSource(dir) {
  let newest = 0
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(p))
    else if (entry.name.endsWith('.rs')) newest = Math.max(newest, fs.statSync(p).mtimeMs)
  }
  return newest
}

function isStale() {
  if (!fs.existsSync(binary)) return true
  const built = fs.statSync(binary).mtimeMs
  const sources = Math.max(newestSource(path.join(root, 'src')), fs.statSync(path.join(root, 'Cargo.toml')).mtimeMs)
  return sources > built
}

/** Whether the loader finds a binary: a local build, or a prebuilt platform package. */
function loadable() {
  try {
    require('../lib/loader.js').loadNative()
    return true
  } catch {
    return false
  }
}

/** Exits with one clear message when cargo cannot be run: building from source needs Rust. */
function requireCargo() {
  const probe = spawnSync('cargo', ['--version'], { encoding: 'utf8', shell: process.platform === 'win32' })
  if (!probe.error && probe.status === 0) return
  const why =
    probe.error?.code === 'ENOENT' ? '`cargo` was not found on PATH' : `\`cargo --version\` failed (${probe.error?.message || `exit ${probe.status}`})`
  const lines = installed
    ? [
        `no prebuilt binary for this platform (${platformName()}): the native addon must be built from source,`,
        `which needs Rust, and ${why}.`,
        '  Install Rust:  https://rustup.rs (then open a new shell, so that cargo is on PATH)',
        `  Then retry:    ${BUILD_COMMAND}`,
      ]
    : [
        'a checkout builds the native addon from source, which needs Rust,',
        `and ${why}.`,
        '  Install Rust:  https://rustup.rs (then open a new shell, so that cargo is on PATH)',
        '  Then retry:    npm install',
      ]
  process.stderr.write(`${manifest.name}: ${lines.join(`\n`)}\n`)
  process.exit(1)
}

/**
 * Runs `cmd` with its output shown as it comes (cargo prints each crate it compiles), and while
 * stderr is not a terminal (no cargo progress bar: CI logs, npm) a line every 30 s so that the
 * long final link step is not minutes of silence. Resolves on success, exits on failure.
 */
function run(cmd, cmdArgs, env) {
  say(`> ${cmd} ${cmdArgs.join(' ')}`)
  const started = Date.now()
  return new Promise((resolve) => {
    const child = spawn(cmd, cmdArgs, { cwd: root, env, stdio: 'inherit', shell: process.platform === 'win32' })
    const heartbeat = process.stderr.isTTY ? null : setInterval(() => say(`still building (${Math.round((Date.now() - started) / 1000)} s)`), 30_000)
    const forward = (signal) => child.kill(signal)
    process.on('SIGINT', forward).on('SIGTERM', forward)
    const done = (code, error) => {
      if (heartbeat) clearInterval(heartbeat)
      process.off('SIGINT', forward).off('SIGTERM', forward)
      if (code === 0) return resolve(Date.now() - started)
      say(`the build failed (${error ? error.message : `exit ${code}`})`)
      cleanup()
      process.exit(typeof code === 'number' && code !== 0 ? code : 1)
    }
    child.on('error', (error) => done(null, error))
    child.on('exit', (code, signal) => done(signal ? 128 + (os.constants.signals[signal] || 0) : code))
  })
}

let temporaryTargetDir = null
function cleanup() {
  if (temporaryTargetDir) fs.rmSync(temporaryTargetDir, { recursive: true, force: true })
  temporaryTargetDir = null
}

/** Cargo's target folder: CARGO_TARGET_DIR, else `target/` in a checkout, else a temporary one. */
function targetDir() {
  if (process.env.CARGO_TARGET_DIR) return path.resolve(process.env.CARGO_TARGET_DIR)
  if (!installed) return path.join(root, 'target')
  temporaryTargetDir = fs.mkdtempSync(path.join(os.tmpdir(), 'promethean-benchmark-build-'))
  return temporaryTargetDir
}

async function build() {
  requireCargo()
  const napiCli = path.join(root, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js')
  const target = targetDir()
  const env = { ...process.env, CARGO_TARGET_DIR: target }
  say(
    `building the native addon from source (${release ? 'release: several minutes on a small machine' : 'debug'}), ` +
      `cargo's target folder ${target}${temporaryTargetDir ? ' (temporary, removed afterwards)' : ''}`,
  )
  let took
  if (!installed && fs.existsSync(napiCli)) {
    const napiArgs = [napiCli, 'build', '--platform', '--js', 'binding.js', '--dts', 'binding.d.ts']
    if (release) napiArgs.push('--release')
    napiArgs.push(...napiExtra)
    took = await run(process.execPath, napiArgs, env)
  } else {
    if (napiExtra.length > 0) say(`ignored (needs @napi-rs/cli, in a checkout): ${napiExtra.join(' ')}`)
    took = await run('cargo', ['build', '--lib', ...(release ? ['--release', '--locked'] : [])], env)
    const libName = manifest.napi.binaryName.replace(/-/g, '_')
    const file = process.platform === 'win32' ? `${libName}.dll` : process.platform === 'darwin' ? `lib${libName}.dylib` : `lib${libName}.so`
    // Copied beside, then renamed: an interrupted copy never leaves a half-written binary to load.
    const partial = `${binary}.${process.pid}.partial`
    fs.copyFileSync(path.join(target, release ? 'release' : 'debug', file), partial)
    fs.renameSync(partial, binary)
  }
  cleanup()
  say(`built ${path.relative(process.cwd(), binary) || binary} in ${Math.round(took / 1000)} s`)
  if (installed) {
    try {
      require.resolve(`${platformPackageName()}/package.json`, { paths: [root] })
      say(
        `note: the prebuilt package ${platformPackageName()} is installed too and is loaded first; ` +
          `to run this build instead, set NAPI_RS_NATIVE_LIBRARY_PATH=${binary}`,
      )
    } catch {
      // No prebuilt package: this build is the one that loads.
    }
  }
}

const packing = ['pack', 'publish'].includes(process.env.npm_command)
if (args.has('--prepare') && packing) {
  say(`npm ${process.env.npm_command}: nothing to build (binaries ship in the platform packages)`)
  process.exit(0)
}
if (args.has('--if-missing') && (fs.existsSync(binary) || loadable())) process.exit(0)
if ((args.has('--if-stale') || args.has('--prepare')) && !isStale()) {
  if (args.has('--prepare')) say(`the native addon is up to date (${path.basename(binary)})`)
  process.exit(0)
}
build()
