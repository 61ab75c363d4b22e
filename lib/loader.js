'use strict'
// Finds the native addon for this machine and loads it, or says in one error how to get one.
//
// Where a binary can come from:
//   - the prebuilt platform package, `@promethean/benchmark-<platform>` (an optionalDependency
//     pinned to this package's exact version, so npm installs only the one for this machine);
//   - a build from source in this folder, `promethean-benchmark.<platform>.node`
//     (`npx promethean-bench-build`, or `npm install` / `npm run build` in a checkout);
//   - NAPI_RS_NATIVE_LIBRARY_PATH, napi-rs's own override, always first when set.
//
// The order between the first two depends on where this package sits:
//   - installed as a dependency (its folder is inside a node_modules folder): the platform
//     package first. It is the release build that was tested on that platform; a local build
//     there only exists because someone built one on a platform without a prebuilt binary.
//   - a checkout (anywhere else): the local build first, so what a developer just compiled is
//     what runs, even when some platform package is installed too.
// A platform package of another version is never loaded: mixing a JS layer and a binary from two
// releases breaks in ways that are hard to trace.

const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const manifest = require('../package.json')

/** True when `dir` is inside a node_modules folder, i.e. the package was installed, not checked out. */
function isInstalled(dir = root) {
  return dir.split(path.sep).includes('node_modules')
}

function isMusl() {
  try {
    // What napi-rs's generated loader checks first: the C library's ldd names itself.
    return fs.readFileSync('/usr/bin/ldd', 'utf8').includes('musl')
  } catch {
    const header = process.report?.getReport?.()?.header
    return !header?.glibcVersionRuntime
  }
}

/**
 * The napi-rs platform name of this machine (`linux-x64-gnu`, `darwin-arm64`, `win32-x64-msvc`):
 * the suffix of both the platform package and the local binary's file name.
 */
function platformName(platform = process.platform, arch = process.arch) {
  if (platform === 'linux') {
    if (arch === 'arm') return `linux-arm-${isMusl() ? 'musleabihf' : 'gnueabihf'}`
    return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

const binaryName = manifest.napi.binaryName

/** The file a build from source writes, in the package's own folder. */
function localBinaryPath(platform = platformName()) {
  return path.join(root, `${binaryName}.${platform}.node`)
}

/** The name of the prebuilt package for `platform`. */
function platformPackageName(platform = platformName()) {
  return `${manifest.name}-${platform}`
}

/** The command that builds the addon from source, as a user of the installed package types it. */
const BUILD_COMMAND = 'npx promethean-bench-build'

/** Each place a binary may come from, in the order they are tried (see the top of this file). */
function candidates(platform) {
  const local = {
    what: `a build from source (${path.basename(localBinaryPath(platform))})`,
    load() {
      const file = localBinaryPath(platform)
      if (!fs.existsSync(file)) return null
      return require(file)
    },
  }
  const prebuilt = {
    what: `the prebuilt package ${platformPackageName(platform)}`,
    load() {
      const name = platformPackageName(platform)
      let pkgJson
      try {
        pkgJson = require.resolve(`${name}/package.json`)
      } catch {
        return null
      }
      const { version } = JSON.parse(fs.readFileSync(pkgJson, 'utf8'))
      if (version !== manifest.version) {
        throw new Error(`${name} is version ${version}, but ${manifest.name} is ${manifest.version}; reinstall so that both match`)
      }
      return require(name)
    },
  }
  const order = isInstalled() ? [prebuilt, local] : [local, prebuilt]
  const override = process.env.NAPI_RS_NATIVE_LIBRARY_PATH
  if (override) {
    order.unshift({ what: `NAPI_RS_NATIVE_LIBRARY_PATH (${override})`, load: () => require(path.resolve(override)) })
  }
  return order
}

/** The error when no binary loads: what is missing, why, and the one command that fixes it. */
function missingError(platform, failures) {
  const lines = [`${manifest.name}: no native binary for this platform (${platform}) could be loaded.`]
  if (failures.length === 0) {
    lines.push(
      isInstalled()
        ? `No prebuilt package (${platformPackageName(platform)}) is installed, and none has been built from source here.`
        : 'This is a checkout: the addon is built from source, and it has not been built yet.',
    )
  }
  for (const { what, error } of failures) lines.push(`${what} failed to load: ${error.message.split('\n')[0]}`)
  lines.push(
    isInstalled()
      ? `Build it from source (needs Rust, https://rustup.rs): ${BUILD_COMMAND}`
      : 'Build it from source (needs Rust, https://rustup.rs): npm run build (or npm install)',
  )
  const err = new Error(lines.join('\n'))
  err.code = 'ERR_NATIVE_BINARY_MISSING'
  if (failures.length > 0) err.cause = failures.length === 1 ? failures[0].error : new AggregateError(failures.map((f) => f.error))
  return err
}

/** The native addon's exports, from the first place in `candidates` that has a loadable binary. */
function loadNative() {
  const platform = platformName()
  const failures = []
  for (const candidate of candidates(platform)) {
    try {
      const binding = candidate.load()
      if (binding) return binding
    } catch (error) {
      failures.push({ what: candidate.what, error })
    }
  }
  throw missingError(platform, failures)
}

module.exports = { loadNative, platformName, localBinaryPath, platformPackageName, isInstalled, BUILD_COMMAND }
