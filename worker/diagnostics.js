'use strict'
// Counting a fixture's diagnostics with the TypeScript compiler API, fast when warm.
//
// What makes a warm check cheap: the default library files (lib.es2020.d.ts and friends, ~1 MB of
// declarations) are parsed once per process and the same SourceFile objects are handed to every
// later program, which also keeps their binding. A fixture's own files are small and are read and
// parsed fresh on every check, so edits on disk are always seen. A cold process pays the lib parse
// on its first check; that is the difference the benchmark measures.

const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const ts = require('typescript')

const libDir = path.dirname(ts.getDefaultLibFilePath({}))
// (fileName, languageVersion) -> SourceFile. Lib files never change while the process lives.
const libCache = new Map()
// Fixture files by (fileName, languageVersion); reused only while their text is unchanged.
// Least recently used first. The bound keeps a long-lived worker's memory flat when it sees ever
// new fixture paths (unbounded, RSS grew markedly faster: docs/engine.md); a pool worker's
// working set (the fixtures it is given) fits well inside.
const sourceCache = new Map()
const MAX_CACHED_SOURCES = 512
// The fixture's parsed tsconfig, keyed by its path and text (a plan never edits tsconfig.json).
const configCache = new Map()
let configIds = 0

const NO_LIBRARY = Object.freeze({ resolvedModule: undefined, failedLookupLocations: [] })

function isLibFile(fileName) {
  return path.dirname(fileName) === libDir
}

function loadConfig(fixtureDir) {
  const configPath = path.join(fixtureDir, 'tsconfig.json')
  let text
  try {
    text = fs.readFileSync(configPath, 'utf8')
  } catch {
    throw new Error(`fixture has no tsconfig.json: ${configPath}`)
  }
  const key = `${configPath}\0${text}`
  const hit = configCache.get(key)
  if (hit) return hit
  const json = ts.parseConfigFileTextToJson(configPath, text)
  if (json.error) throw new Error(`invalid tsconfig.json: ${ts.flattenDiagnosticMessageText(json.error.messageText, '\n')}`)
  const parsed = ts.parseJsonConfigFileContent(json.config, ts.sys, fixtureDir, undefined, configPath)
  // Lib files are the compiler's own and trusted: never spend time checking them.
  const options = { ...parsed.options, skipLibCheck: true }
  // `id` names this exact config: a cached SourceFile is bound under one set of options (strict
  // mode, module kind), so it is only reused under the same config.
  const config = { id: ++configIds, options, fileNames: parsed.fileNames, errors: parsed.errors }
  if (configCache.size > 256) configCache.clear()
  configCache.set(key, config)
  return config
}

/**
 * Every diagnostic of the fixture at `fixtureDir`, across all its files: config, global,
 * syntactic, semantic, and declaration diagnostics when the config emits declarations (that is
 * where `--isolatedDeclarations` errors live; tsc reports them on a normal build).
 * `overlay` (Map absolute path -> text) is read instead of the disk for those files.
 * Returns [{code, file, line, column, message}] sorted by file, line, column, code.
 */
function collectDiagnostics(fixtureDir, overlay) {
  const root = path.resolve(fixtureDir)
  const config = loadConfig(root)
  const host = ts.createCompilerHost(config.options, true)
  const readFile = host.readFile
  host.readFile = (f) => (overlay && overlay.has(f) ? overlay.get(f) : readFile(f))
  host.getSourceFile = (fileName, languageVersionOrOptions, onError) => {
    const languageVersion = typeof languageVersionOrOptions === 'object' ? languageVersionOrOptions.languageVersion : languageVersionOrOptions
    if (isLibFile(fileName)) {
      const key = `${fileName}\0${languageVersion}`
      let sf = libCache.get(key)
      if (!sf) {
        const text = ts.sys.readFile(fileName)
        if (text === undefined) return undefined
        sf = ts.createSourceFile(fileName, text, languageVersionOrOptions, true)
        libCache.set(key, sf)
      }
      return sf
    }
    const text = host.readFile(fileName)
    if (text === undefined) {
      if (onError) onError(`cannot read ${fileName}`)
      return undefined
    }
    // An unchanged file keeps its parsed (and bound) SourceFile, as a DocumentRegistry would.
    const key = `${fileName}\0${languageVersion}\0${config.id}`
    const hit = sourceCache.get(key)
    sourceCache.delete(key)
    const sf = hit && hit.text === text ? hit : ts.createSourceFile(fileName, text, languageVersionOrOptions, true)
    sourceCache.set(key, sf)
    if (sourceCache.size > MAX_CACHED_SOURCES) sourceCache.delete(sourceCache.keys().next().value)
    return sf
  }
  host.writeFile = () => {}
  // Library replacement packages (@typescript/lib-*) are not looked up: the bundled compiler's own
  // lib files are always used. Looking them up walks node_modules folders on every program and
  // was a quarter of a warm check.
  host.resolveLibrary = () => NO_LIBRARY
  const program = ts.createProgram({ rootNames: config.fileNames, options: config.options, host })
  const all = [...config.errors, ...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()]
  // As tsc: declaration diagnostics exist only for a build that emits declarations.
  const emitsDeclarations = Boolean((config.options.declaration || config.options.composite) && !config.options.noEmit)
  for (const sf of program.getSourceFiles()) {
    if (isLibFile(sf.fileName) || sf.isDeclarationFile) continue
    all.push(...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf))
    if (emitsDeclarations) all.push(...program.getDeclarationDiagnostics(sf))
  }
  return all.map((d) => normalize(root, d)).sort(compareDiagnostics)
}

function normalize(root, d) {
  let file = ''
  let line = 0
  let column = 0
  if (d.file) {
    file = path.relative(root, d.file.fileName).split(path.sep).join('/')
    const pos = d.file.getLineAndCharacterOfPosition(d.start ?? 0)
    line = pos.line + 1
    column = pos.character + 1
  }
  return { code: d.code, file, line, column, message: ts.flattenDiagnosticMessageText(d.messageText, '\n') }
}

function compareDiagnostics(a, b) {
  return a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column || a.code - b.code
}

/** `src/app.ts(3,10): error TS2305: ...`, as tsc prints it. */
function formatDiagnostic(d) {
  return `${d.file || '<config>'}(${d.line},${d.column}): error TS${d.code}: ${d.message}`
}

/** Whether `diags` still hold the target: same code, same file, line within 2. */
function hasTarget(diags, target) {
  const code = Number(String(target.code).replace(/^TS/i, ''))
  const file = String(target.file).split(path.sep).join('/').replace(/^\.\//, '')
  return diags.some((d) => d.code === code && d.file === file && Math.abs(d.line - Number(target.line)) <= 2)
}

// The diagnostics of a folder are a function of its files (the compiler and the lib files stay
// the same for the life of the process). A job's "before" check runs on a working copy restored
// to the same content as last time, so it is answered from here: one type check per job instead
// of two. Keyed by the folder and a hash of every file in it (paths and contents), so an edited
// or different fixture is always checked afresh.
const MAX_MEMO = 512
const memo = new Map()

function folderKey(root) {
  const hash = crypto.createHash('sha256')
  const walk = (rel) => {
    const entries = fs.readdirSync(path.join(root, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))
    for (const e of entries) {
      if (e.name === 'node_modules' || e.name === '.git') continue
      const r = rel ? `${rel}/${e.name}` : e.name
      if (e.isDirectory()) walk(r)
      else {
        const body = e.isSymbolicLink() ? fs.readlinkSync(path.join(root, r)) : fs.readFileSync(path.join(root, r))
        hash.update(`${r}\0${body.length}\0`).update(body)
      }
    }
  }
  walk('')
  return `${root}\0${hash.digest('hex')}`
}

/** collectDiagnostics, remembered by the folder's content (see above). */
function collectDiagnosticsCached(fixtureDir) {
  const root = path.resolve(fixtureDir)
  const key = folderKey(root)
  const hit = memo.get(key)
  if (hit) {
    memo.delete(key)
    memo.set(key, hit)
    return hit.map((d) => ({ ...d }))
  }
  const diags = collectDiagnostics(root)
  memo.set(
    key,
    diags.map((d) => ({ ...d })),
  )
  if (memo.size > MAX_MEMO) memo.delete(memo.keys().next().value)
  return diags
}

module.exports = { collectDiagnostics, collectDiagnosticsCached, formatDiagnostic, hasTarget, libCache }
