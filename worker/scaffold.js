'use strict'
// `promethean-bench fixtures new NAME`: a fixture folder that is valid as written (its target
// error is there and its gold plan resolves it), to be edited into the error one wants to test.

const fs = require('node:fs')
const path = require('node:path')

const { makeDirSync } = require('../lib/dirs.js')

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2020',
    module: 'commonjs',
    lib: ['ES2020'],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    forceConsistentCasingInFileNames: true,
    // Keeps @types packages of whatever folder the fixture sits in out of the project.
    types: [],
  },
  include: ['src'],
}

const FILES = {
  'src/greeting.ts': `export interface Greeting {
  text: string
}
`,
  'src/index.ts': `import { Greeting } from './greeting'

// The fixture's known error (TS2339): Greeting declares no 'punctuation'.
export function render(greeting: Greeting): string {
  return greeting.text + greeting.punctuation
}
`,
}

/** A fixture folder name: letters, digits, '-', '_' and '.', not starting with a dot. */
function isFixtureName(name) {
  return typeof name === 'string' && /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/.test(name)
}

/**
 * Writes the fixture `name` under `parent` (created if missing). Throws a TypeError for a name
 * that cannot name a folder of its own, and an Error when the folder exists (nothing is
 * overwritten). Returns the new folder.
 */
function scaffoldFixture(parent, name) {
  if (!isFixtureName(name))
    throw new TypeError(`a fixture name is letters, digits, '-', '_' and '.' (up to 100, not starting with '.' or '-'), got ${JSON.stringify(name)}`)
  const dir = path.resolve(parent, name)
  if (fs.existsSync(dir)) throw new Error(`${dir} already exists; choose another name or remove it`)
  makeDirSync(path.dirname(dir))
  // Written in a staging folder and renamed: a half-written fixture is never left behind.
  const staging = `${dir}.tmp-${process.pid}`
  try {
    for (const [file, text] of Object.entries(FILES)) {
      fs.mkdirSync(path.dirname(path.join(staging, file)), { recursive: true })
      fs.writeFileSync(path.join(staging, file), text)
    }
    fs.writeFileSync(path.join(staging, 'tsconfig.json'), `${JSON.stringify(TSCONFIG, null, 2)}\n`)
    const line = FILES['src/index.ts'].split('\n').findIndex((l) => l.includes('greeting.punctuation')) + 1
    const fixture = {
      name,
      description: 'render reads greeting.punctuation, which the Greeting interface does not declare.',
      family: 'property-missing',
      target: { code: 2339, file: 'src/index.ts', line },
      goldPlan: {
        title: 'Declare punctuation on Greeting',
        rationale: 'render reads it; the interface must declare it.',
        dsl: [{ op: 'addProperty', file: 'src/greeting.ts', type: 'Greeting', name: 'punctuation', typeText: 'string' }],
      },
    }
    fs.writeFileSync(path.join(staging, 'fixture.json'), `${JSON.stringify(fixture, null, 2)}\n`)
    fs.renameSync(staging, dir)
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true })
    throw err
  }
  return dir
}

module.exports = { scaffoldFixture, isFixtureName, TSCONFIG }
