#!/usr/bin/env node
// Builds the native addon from source.
//
//   node scripts/build-native.js              debug build (fast to compile, for development)
//   node scripts/build-native.js --release    release build (what users get)
//   node scripts/build-native.js --if-missing release build unless a binary for this platform loads
//                                             (a local build or a prebuilt package from npm/)
//   node scripts/build-native.js --if-stale   release build unless the binary is newer than every source
//
// With @napi-rs/cli installed (a development checkout) it runs `napi build`, which also
// regenerates binding.js / binding.d.ts. Without it (the package installed as a dependency)
// it runs cargo directly and copies the library to the file name binding.js loads.
'use strict'

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const args = new Set(process.argv.slice(2))
const release = args.has('--release') || args.has('--if-missing') || args.has('--if-stale')

function platformSuffix() {
  const { platform, arch } = process
  if (platform === 'linux') {
    const glibc = process.report?.getReport?.().header?.glibcVersionRuntime
    return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

const binaryName = require(path.join(root, 'package.json')).napi.binaryName
const binary = path.join(root, `${binaryName}.${platformSuffix()}.node`)

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
  const sources = Math.max(
    newestSource(path.join(root, 'src')),
    fs.statSync(path.join(root, 'Cargo.toml')).mtimeMs,
  )
  return sources > built
}

function run(cmd, cmdArgs) {
  console.error(`> ${cmd} ${cmdArgs.join(' ')}`)
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' })
  if (r.error) throw r.error
  if (r.status !== 0) process.exit(r.status ?? 1)
}

function build() {
  const napiCli = path.join(root, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js')
  if (fs.existsSync(napiCli)) {
    const napiArgs = [napiCli, 'build', '--platform', '--js', 'binding.js', '--dts', 'binding.d.ts']
    if (release) napiArgs.push('--release')
    run(process.execPath, napiArgs)
    return
  }
  run('cargo', ['build', '--lib', ...(release ? ['--release'] : [])])
  const libName = binaryName.replace(/-/g, '_')
  const file =
    process.platform === 'win32'
      ? `${libName}.dll`
      : process.platform === 'darwin'
        ? `lib${libName}.dylib`
        : `lib${libName}.so`
  const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'target')
  fs.copyFileSync(path.join(targetDir, release ? 'release' : 'debug', file), binary)
}

/** Whether the generated loader finds a binary: a local build, or a prebuilt platform package (npm/). */
function loadable() {
  try {
    require(path.join(root, 'binding.js'))
    return true
  } catch {
    return false
  }
}

if (args.has('--if-missing') && (fs.existsSync(binary) || loadable())) process.exit(0)
if (args.has('--if-stale') && !isStale()) process.exit(0)
build()
