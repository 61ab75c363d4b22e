import test from 'ava'
// Installing the package: which binary the loader picks, what it says when there is none, the
// source build for platforms without a prebuilt binary, and what the packed tarball holds.
// Each test lays out a package the way npm would (from `npm pack` of this checkout) in a
// temporary folder; the registry round trip itself is __test__/registry-install.mjs.
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const require = createRequire(import.meta.url)
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const manifest = require('../package.json')
const { platformName, localBinaryPath } = require('../lib/loader.js')
const { makeDirSync } = require('../lib/dirs.js')
const PLATFORM = platformName()
const BINARY_FILE = path.basename(localBinaryPath())
const execFileP = promisify(execFile)

const made = []
function tmpdir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promethean-install-'))
  made.push(dir)
  return dir
}
test.after.always(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true })
})

/** Runs a command to completion; never throws, returns {code, stdout, stderr}. */
async function run(cmd, args, options = {}) {
  try {
    const { stdout, stderr } = await execFileP(cmd, args, { encoding: 'utf8', timeout: 120_000, ...options })
    return { code: 0, stdout, stderr }
  } catch (err) {
    return { code: err.code, stdout: err.stdout ?? '', stderr: err.stderr ?? String(err) }
  }
}

// `npm pack` of this checkout, once: the file list below, and the files of every staged package.
let packed
function pack() {
  packed ??= (async () => {
    const dir = tmpdir()
    const r = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: root })
    if (r.code !== 0) throw new Error(`npm pack failed: ${r.stderr}`)
    const [info] = JSON.parse(r.stdout)
    const extracted = path.join(dir, 'extracted')
    makeDirSync(extracted)
    const x = await run('tar', ['-xzf', path.join(dir, info.filename), '-C', extracted])
    if (x.code !== 0) throw new Error(`tar failed: ${x.stderr}`)
    return { info, dir: path.join(extracted, 'package') }
  })()
  return packed
}

/** A project with the packed package installed in node_modules, the way npm lays it out. */
async function installedProject() {
  const { dir } = await pack()
  const project = tmpdir()
  const pkgDir = path.join(project, 'node_modules', ...manifest.name.split('/'))
  makeDirSync(path.dirname(pkgDir))
  fs.cpSync(dir, pkgDir, { recursive: true })
  fs.writeFileSync(path.join(project, 'package.json'), '{"name":"consumer","version":"1.0.0","private":true}\n')
  return { project, pkgDir }
}

/** A stand-in platform package whose "binary" is a JS module that says which one it is. */
function fakePlatformPackage(project, version = manifest.version) {
  const dir = path.join(project, 'node_modules', ...`${manifest.name}-${PLATFORM}`.split('/'))
  makeDirSync(dir)
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `${manifest.name}-${PLATFORM}`, version, main: 'index.js' }))
  fs.writeFileSync(path.join(dir, 'index.js'), "module.exports = { loadedFrom: 'the platform package' }\n")
}

/** The real binary of this checkout, placed where a build from source would put it in `dir`. */
function localBuild(t, dir) {
  const real = localBinaryPath()
  if (!fs.existsSync(real)) t.fail(`this test needs the checkout's build (${real}): run npm run build:debug`)
  fs.symlinkSync(real, path.join(dir, BINARY_FILE))
}

/** Which binary `lib/native.js` of the package in `pkgDir` ends up with, from a fresh process. */
function whichLoaded(pkgDir, env = {}) {
  return run(
    process.execPath,
    [
      '-e',
      `const { binding } = require(${JSON.stringify(path.join(pkgDir, 'lib', 'native.js'))})
       console.log(binding.loadedFrom || (typeof binding.cacheOpen === 'function' ? 'a local build' : 'unknown'))`,
    ],
    { cwd: pkgDir, env: { ...process.env, ...env } },
  )
}

/** A `cargo` stand-in: records how it was called and writes the library where cargo would. */
function fakeCargo(dir) {
  const bin = path.join(dir, 'fake-bin')
  makeDirSync(bin)
  const log = path.join(dir, 'cargo-calls.json')
  const libName = `lib${manifest.napi.binaryName.replace(/-/g, '_')}.so`
  fs.writeFileSync(
    path.join(bin, 'cargo'),
    `#!${process.execPath}
const fs = require('fs'), path = require('path')
const args = process.argv.slice(2)
if (args[0] === '--version') { console.log('cargo 1.99.0 (fake)'); process.exit(0) }
const target = process.env.CARGO_TARGET_DIR || path.join(process.cwd(), 'target')
fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify({ args, target, cwd: process.cwd() }) + '\\n')
process.stderr.write('   Compiling fake-dependency v1.0.0\\n   Compiling promethean-benchmark v0.1.0\\n')
const out = path.join(target, args.includes('--release') ? 'release' : 'debug')
fs.mkdirSync(out, { recursive: true })
fs.writeFileSync(path.join(out, ${JSON.stringify(libName)}), 'not really a library')
`,
    { mode: 0o755 },
  )
  return {
    bin,
    calls: () =>
      fs
        .readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
  }
}

/** PATH with only `dirs`: no cargo, no rustc (node is run by its absolute path). */
function pathWithout(...dirs) {
  return dirs.join(path.delimiter)
}

test('regression: with install scripts skipped and no prebuilt binary, require says how to build', async (t) => {
  const { project } = await installedProject()
  const r = await run(process.execPath, ['-e', `require(${JSON.stringify(manifest.name)})`], { cwd: project })
  t.not(r.code, 0)
  t.regex(r.stderr, /no native binary for this platform/)
  t.true(r.stderr.includes('npx promethean-bench-build'), r.stderr)
  t.true(r.stderr.includes(`${manifest.name}-${PLATFORM}`), r.stderr)
  t.false(/npm has a bug|optional dependencies/i.test(r.stderr), r.stderr)
})

test('regression: the installed package loads its prebuilt platform package before a local build', async (t) => {
  const { project, pkgDir } = await installedProject()
  fakePlatformPackage(project)
  localBuild(t, pkgDir)
  const r = await whichLoaded(pkgDir)
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout.trim(), 'the platform package')
})

test('a checkout loads its own fresh build before an installed platform package', async (t) => {
  const checkout = tmpdir()
  for (const f of ['package.json', 'lib']) fs.cpSync(path.join(root, f), path.join(checkout, f), { recursive: true })
  fakePlatformPackage(checkout)
  localBuild(t, checkout)
  const r = await whichLoaded(checkout)
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout.trim(), 'a local build')
  // Without the local build, the platform package is the fallback.
  fs.unlinkSync(path.join(checkout, BINARY_FILE))
  const fallback = await whichLoaded(checkout)
  t.is(fallback.stdout.trim(), 'the platform package', fallback.stderr)
})

test('regression: a platform package of another version is not loaded', async (t) => {
  const { project, pkgDir } = await installedProject()
  fakePlatformPackage(project, '9.9.9')
  const r = await whichLoaded(pkgDir)
  t.not(r.code, 0)
  t.regex(r.stderr, /is version 9\.9\.9, but .* is /)
  t.true(r.stderr.includes('npx promethean-bench-build'), r.stderr)
})

test('NAPI_RS_NATIVE_LIBRARY_PATH comes before everything else', async (t) => {
  const { project, pkgDir } = await installedProject()
  fakePlatformPackage(project)
  const r = await whichLoaded(pkgDir, { NAPI_RS_NATIVE_LIBRARY_PATH: localBinaryPath() })
  t.is(r.stdout.trim(), 'a local build', r.stderr)
})

test('regression: a source build without cargo says how to install Rust, with no stack trace', async (t) => {
  const { project, pkgDir } = await installedProject()
  const empty = path.join(project, 'empty-bin')
  makeDirSync(empty)
  const r = await run(process.execPath, [path.join(pkgDir, 'scripts', 'build-native.js')], {
    cwd: project,
    env: { ...process.env, PATH: pathWithout(empty) },
  })
  t.is(r.code, 1)
  t.regex(r.stderr, /no prebuilt binary for this platform/)
  t.regex(r.stderr, /cargo` was not found on PATH/)
  t.true(r.stderr.includes('https://rustup.rs'), r.stderr)
  t.true(r.stderr.includes('Then retry:    npx promethean-bench-build'), r.stderr)
  t.false(/ENOENT|\n\s+at /.test(r.stderr), r.stderr)
  t.false(fs.existsSync(path.join(pkgDir, 'target')))
})

test('regression: a source build of an installed package says what it does and leaves no target/ in node_modules', async (t) => {
  const { project, pkgDir } = await installedProject()
  const cargo = fakeCargo(project)
  const env = { ...process.env, PATH: pathWithout(cargo.bin) }
  delete env.CARGO_TARGET_DIR
  const r = await run(process.execPath, [path.join(pkgDir, 'scripts', 'build-native.js')], { cwd: project, env })
  t.is(r.code, 0, r.stderr)
  t.regex(r.stderr, /building the native addon from source \(release/)
  t.regex(r.stderr, /Compiling promethean-benchmark/, 'cargo output is shown as it comes')
  t.regex(r.stderr, /built .* in \d+ s/)
  const [call] = cargo.calls()
  t.deepEqual(call.args, ['build', '--lib', '--release', '--locked'])
  t.false(call.target.startsWith(project), `target folder ${call.target} is outside the project`)
  t.false(fs.existsSync(call.target), 'the temporary target folder is removed')
  t.false(fs.existsSync(path.join(pkgDir, 'target')))
  t.is(fs.readFileSync(path.join(pkgDir, BINARY_FILE), 'utf8'), 'not really a library')
  t.deepEqual(
    fs.readdirSync(pkgDir).filter((f) => f.includes('.partial')),
    [],
  )
})

test('a source build honours CARGO_TARGET_DIR and keeps it', async (t) => {
  const { project, pkgDir } = await installedProject()
  const cargo = fakeCargo(project)
  const keep = path.join(tmpdir(), 'kept-target')
  const r = await run(process.execPath, [path.join(pkgDir, 'scripts', 'build-native.js')], {
    cwd: project,
    env: { ...process.env, PATH: pathWithout(cargo.bin), CARGO_TARGET_DIR: keep },
  })
  t.is(r.code, 0, r.stderr)
  t.is(cargo.calls()[0].target, keep)
  t.true(fs.existsSync(path.join(keep, 'release')))
  t.true(fs.existsSync(path.join(pkgDir, BINARY_FILE)))
})

test("npm's prepare builds nothing while npm packs or publishes", async (t) => {
  for (const command of ['pack', 'publish']) {
    const r = await run(process.execPath, [path.join(root, 'scripts', 'build-native.js'), '--prepare'], {
      cwd: root,
      env: { ...process.env, npm_command: command, PATH: pathWithout(tmpdir()) },
    })
    t.is(r.code, 0, r.stderr)
    t.regex(r.stderr, new RegExp(`npm ${command}: nothing to build`))
  }
})

test('regression: the packed tarball holds what a user needs, no tests and no install script', async (t) => {
  const { info, dir } = await pack()
  const files = info.files.map((f) => f.path)
  for (const needed of [
    'package.json',
    'index.js',
    'index.mjs',
    'index.d.ts',
    'lib/native.js',
    'lib/loader.js',
    'bin/promethean-bench.js',
    'scripts/build-native.js',
    'Cargo.toml',
    'Cargo.lock',
    'src/lib.rs',
  ]) {
    t.true(files.includes(needed), `${needed} is packed`)
  }
  const unwanted = files.filter((f) =>
    /^(__test__|benchmark|docs|examples|npm|target|\.ci|\.github)\/|(^|\/)(tests|\w+_tests|test_\w+)\.rs$|\.node$|\.(png|jpe?g|svg|gif)$|^scripts\/(?!build-native\.js$)/.test(
      f,
    ),
  )
  t.deepEqual(unwanted, [])
  const scripts = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).scripts ?? {}
  for (const hook of ['preinstall', 'install', 'postinstall']) t.is(scripts[hook], undefined, `no ${hook} script`)
  // Sizes measured when this was last changed: 0.44 MB packed, 1.53 MB unpacked (the Rust
  // sources, for a build where no prebuilt binary fits, are most of it).
  t.true(info.size < 550_000, `packed size ${info.size}`)
  t.true(info.unpackedSize < 1_900_000, `unpacked size ${info.unpackedSize}`)
  t.log(`tarball: ${info.entryCount} files, ${info.size} bytes packed, ${info.unpackedSize} unpacked`)
})
