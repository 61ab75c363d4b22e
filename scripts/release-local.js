#!/usr/bin/env node
// The Linux x64 gnu path of .github/workflows/release.yml, run on this machine: the same build,
// `napi artifacts`, `napi prepublish -t npm --no-gh-release` (publishes the platform package, pins it in
// optionalDependencies) and `npm publish`, against the registry npm is configured with (give
// npm_config_registry and a token in npm's user config; __test__/registry-install.mjs uses a
// private Verdaccio).
//
//   node scripts/release-local.js --stage DIR
//
// The release is prepared in DIR (created, left for inspection), never in the checkout:
// `napi artifacts` moves binaries into npm/ and `napi prepublish` rewrites package.json.
// The only difference from the workflow: the workflow builds every target on its own runner,
// and this builds (when stale) and publishes the one target of this machine, so the staged
// package.json lists only that target.
'use strict'

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { makeDirSync } = require('../lib/dirs.js')
const { localBinaryPath } = require('../lib/loader.js')

const root = path.resolve(__dirname, '..')
const TARGET = 'x86_64-unknown-linux-gnu'
const PLATFORM = 'linux-x64-gnu'
const napiCli = path.join(root, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js')

function usage(message) {
  process.stderr.write(`release-local: ${message}\nusage: node scripts/release-local.js --stage DIR\n`)
  process.exit(2)
}

function step(title, cmd, args, cwd) {
  process.stderr.write(`release-local: ${title}\n> ${cmd} ${args.join(' ')}\n`)
  const r = spawnSync(cmd, args, { cwd, stdio: 'inherit' })
  if (r.error || r.status !== 0) {
    process.stderr.write(`release-local: ${title} failed (${r.error ? r.error.message : `exit ${r.status}`})\n`)
    process.exit(1)
  }
}

const argv = process.argv.slice(2)
const stageArg = argv[argv.indexOf('--stage') + 1]
if (!argv.includes('--stage') || !stageArg) usage('--stage DIR is required')
if (process.platform !== 'linux' || process.arch !== 'x64') usage(`this reproduces the ${PLATFORM} release and runs only there`)
const stage = path.resolve(stageArg)
makeDirSync(stage)

// 1. The release build (the workflow's build job), skipped when the checkout's is already fresh.
step('release build', process.execPath, [path.join(root, 'scripts', 'build-native.js'), '--if-stale'], root)
const binary = localBinaryPath(PLATFORM)

// 2. What the workflow's publish job has: the package as npm packs it, npm/, and artifacts/.
step('pack the main package', 'npm', ['pack', '--ignore-scripts', '--pack-destination', stage], root)
const tarball = fs.readdirSync(stage).find((f) => f.endsWith('.tgz'))
step('unpack it', 'tar', ['-xzf', path.join(stage, tarball), '-C', stage], root)
const pkg = path.join(stage, 'package')
fs.cpSync(path.join(root, 'npm', PLATFORM), path.join(pkg, 'npm', PLATFORM), { recursive: true })
makeDirSync(path.join(pkg, 'artifacts'))
fs.copyFileSync(binary, path.join(pkg, 'artifacts', path.basename(binary)))
const manifestPath = path.join(pkg, 'package.json')
const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'))
manifest.napi.targets = [TARGET]
fs.writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`)

// 3. The publish job's commands.
step('napi artifacts', process.execPath, [napiCli, 'artifacts', '--output-dir', 'artifacts'], pkg)
step('napi prepublish', process.execPath, [napiCli, 'prepublish', '-t', 'npm', '--no-gh-release'], pkg)
step('npm publish', 'npm', ['publish', '--ignore-scripts'], pkg)
const published = JSON.parse(fs.readFileSync(manifestPath, 'utf8'))
process.stdout.write(`${JSON.stringify({ name: published.name, version: published.version, optionalDependencies: published.optionalDependencies })}\n`)
