// The consumer files compiled under `strict` with every module resolution users have: `node16`
// (tsconfig.json), `nodenext`, `bundler` and `node10` (CommonJS, which reads `typesVersions`
// rather than `exports`). Each runs in a temporary project whose node_modules links this package,
// as an installed copy would be found.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..', '..')
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
const base = JSON.parse(fs.readFileSync(path.join(here, 'tsconfig.json'), 'utf8'))

// The files that import the package by name (not the repository's own folders by path).
const consumers = base.files.filter((f) => !/from '\.\.\//.test(fs.readFileSync(path.join(here, f), 'utf8')))

const MATRIX = [
  { module: 'nodenext', moduleResolution: 'nodenext' },
  { module: 'esnext', moduleResolution: 'bundler' },
  { module: 'commonjs', moduleResolution: 'node10' },
]

const project = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-types-'))
let failed = 0
try {
  fs.mkdirSync(path.join(project, 'node_modules', '@promethean'), { recursive: true })
  fs.mkdirSync(path.join(project, 'node_modules', '@types'), { recursive: true })
  fs.symlinkSync(root, path.join(project, 'node_modules', '@promethean', 'benchmark'), 'dir')
  fs.symlinkSync(path.join(root, 'node_modules', '@types', 'node'), path.join(project, 'node_modules', '@types', 'node'), 'dir')
  for (const file of consumers) fs.copyFileSync(path.join(here, file), path.join(project, file))
  for (const options of MATRIX) {
    const config = {
      compilerOptions: { ...base.compilerOptions, ...options, preserveSymlinks: false },
      // .cts files are CommonJS by extension: only the module modes that know them compile them.
      files: options.moduleResolution === 'node10' || options.moduleResolution === 'bundler' ? consumers.filter((f) => !f.endsWith('.cts')) : consumers,
    }
    const name = `tsconfig.${options.moduleResolution}.json`
    fs.writeFileSync(path.join(project, name), JSON.stringify(config, null, 2))
    try {
      execFileSync(process.execPath, [tsc, '-p', name], { cwd: project, stdio: 'pipe', encoding: 'utf8' })
      console.log(`ok   ${options.moduleResolution} (module ${options.module})`)
    } catch (err) {
      failed++
      console.log(`FAIL ${options.moduleResolution} (module ${options.module})\n${err.stdout}${err.stderr}`)
    }
  }
} finally {
  fs.rmSync(project, { recursive: true, force: true })
}
process.exitCode = failed ? 1 : 0
