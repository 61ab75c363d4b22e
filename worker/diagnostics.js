'use strict'
// Counting a fixture's diagnostics with the TypeScript compiler API, fast when warm.
//
// What makes a warm check cheap: the default library files (lib.es2020.d.ts and friends, ~1 MB of
// declarations) are parsed once per process and the same SourceFile objects are handed to every
// later program, which also keeps their binding. A fixture's own files are read on every check
// (edits on disk are always seen) and keep their parsed SourceFile while their text is unchanged;
// a folder's program structure is reused by the next check of that folder. A cold process pays
// the lib parse on its first check; that is the difference the benchmark measures. The floor of
// a check (`collectDiagnosticsFloor`) is one program with only the lib files cached.

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
// The fixture's parsed tsconfig, keyed by its path, its text and the folder's layout.
const configCache = new Map()
let configIds = 0
// Each fixture's program structure (its files and module resolutions), by folder and config:
// handed to the next check of that folder as `oldProgram`, so the files a plan did not touch keep
// their structure and only the edited ones are processed again. These programs are never checked
// (a checked program holds its type checker, ~0.6 MB for a small fixture; an unchecked one
// ~55 KB), and the bound keeps a worker that sees ever new folders flat.
const structures = new Map()
const MAX_STRUCTURES = 64

const NO_LIBRARY = Object.freeze({ resolvedModule: undefined, failedLookupLocations: [] })

function isLibFile(fileName) {
  return path.dirname(fileName) === libDir
}

function loadConfig(fixtureDir, layout) {
  const configPath = path.join(fixtureDir, 'tsconfig.json')
  let text
  try {
    text = fs.readFileSync(configPath, 'utf8')
  } catch {
    throw new Error(`fixture has no tsconfig.json: ${configPath}`)
  }
  // The layout is part of the key: it decides the program's root files (`include`) and how
  // imports resolve, which a program's structure reused as `oldProgram` keeps.
  const key = `${configPath}\0${text}\0${layout}`
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
  const root = folderArgument(fixtureDir)
  if (overlay !== undefined && !(overlay instanceof Map)) throw new TypeError('overlay must be a Map of absolute path to text')
  return check(root, overlay, true, layoutOf(root)).diagnostics
}

/** The absolute path of `fixtureDir`, which must name a folder. */
function folderArgument(fixtureDir) {
  if (typeof fixtureDir !== 'string' || fixtureDir === '') throw new TypeError('fixtureDir must be a non-empty string')
  const root = path.resolve(fixtureDir)
  let stat
  try {
    stat = fs.statSync(root)
  } catch {}
  if (!stat?.isDirectory()) throw new RangeError(`fixtureDir is not a folder: ${fixtureDir}`)
  return root
}

/**
 * The diagnostics of a folder read by `readFolder` with `edits` (Map absolute path -> text) over
 * it. `before` is the folder's own check (`checkFolderCached`): the files the edits cannot affect
 * keep their diagnostics from it and are not checked again (see `affectedFiles`).
 */
function checkFolder(folder, edits, before) {
  const overlay = new Map([...folder.texts, ...edits])
  return check(folder.root, overlay, true, folder.layout, before && { byFile: before.byFile, edits, oldTexts: folder.texts }).diagnostics
}

/**
 * The floor of a check: the same diagnostics with only the lib files cached (the fixture's files
 * read and parsed afresh, no earlier program's structure reused): what one check of an edited
 * fixture costs in a warm process that remembers nothing of the fixture. The engine benchmark
 * measures jobs against it.
 */
function collectDiagnosticsFloor(fixtureDir) {
  const root = folderArgument(fixtureDir)
  return check(root, undefined, false, layoutOf(root)).diagnostics
}

/**
 * One check. Returns `{diagnostics, byFile}`: every diagnostic, normalized and sorted, and each
 * source file's own (syntactic, semantic, declaration) by absolute path. `since`, when given,
 * is `{byFile, edits, oldTexts}`: the check of the same folder before `edits`, whose per-file
 * diagnostics stand for the files the edits cannot affect.
 */
function check(root, overlay, reuse, layout, since) {
  const config = loadConfig(root, layout)
  const host = ts.createCompilerHost(config.options, true)
  const readFile = host.readFile
  host.readFile = (f) => (overlay && overlay.has(f) ? overlay.get(f) : readFile(f))
  if (overlay) {
    // Module resolution asks whether files exist: the overlay's files do, whatever the disk says.
    const fileExists = host.fileExists
    host.fileExists = (f) => overlay.has(f) || fileExists(f)
  }
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
    if (!reuse) return ts.createSourceFile(fileName, text, languageVersionOrOptions, true)
    return cachedSource(fileName, text, languageVersionOrOptions, config)
  }
  host.writeFile = () => {}
  // Library replacement packages (@typescript/lib-*) are not looked up: the bundled compiler's own
  // lib files are always used. Looking them up walks node_modules folders on every program and
  // was a quarter of a warm check.
  host.resolveLibrary = () => NO_LIBRARY
  const shape = { rootNames: config.fileNames, options: config.options, host }
  const structureKey = `${root}\0${config.id}`
  const old = reuse ? structures.get(structureKey) : undefined
  const program = ts.createProgram({ ...shape, oldProgram: old })
  if (reuse) {
    structures.delete(structureKey)
    // First check of this folder: keep an unchecked twin of its structure (built from this
    // program, so it costs a fraction of a program) for the checks that follow.
    structures.set(structureKey, old ?? ts.createProgram({ ...shape, oldProgram: program }))
    if (structures.size > MAX_STRUCTURES) structures.delete(structures.keys().next().value)
  }
  const all = [...config.errors, ...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()].map((d) => normalize(root, d))
  // As tsc: declaration diagnostics exist only for a build that emits declarations.
  const emitsDeclarations = Boolean((config.options.declaration || config.options.composite) && !config.options.noEmit)
  const scope = since ? affectedFiles(program, since, config) : undefined
  const byFile = new Map()
  for (const sf of program.getSourceFiles()) {
    if (isLibFile(sf.fileName) || sf.isDeclarationFile) continue
    let own = scope && !scope.has(sf.fileName) ? since.byFile.get(sf.fileName) : undefined
    if (!own) {
      const raw = [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)]
      if (emitsDeclarations) raw.push(...program.getDeclarationDiagnostics(sf))
      own = raw.map((d) => normalize(root, d))
    }
    byFile.set(sf.fileName, own)
    all.push(...own)
  }
  return { diagnostics: all.map((d) => ({ ...d })).sort(compareDiagnostics), byFile }
}

/**
 * A fixture file's SourceFile: an unchanged file keeps its parsed (and bound) SourceFile, as a
 * DocumentRegistry would, for as long as it stays in the bounded cache.
 */
function cachedSource(fileName, text, languageVersionOrOptions, config) {
  const languageVersion = typeof languageVersionOrOptions === 'object' ? languageVersionOrOptions.languageVersion : languageVersionOrOptions
  const key = `${fileName}\0${languageVersion}\0${config.id}`
  const hit = sourceCache.get(key)
  sourceCache.delete(key)
  const sf = hit && hit.text === text ? hit : ts.createSourceFile(fileName, text, languageVersionOrOptions, true)
  sourceCache.set(key, sf)
  if (sourceCache.size > MAX_CACHED_SOURCES) sourceCache.delete(sourceCache.keys().next().value)
  return sf
}

/**
 * Whether a file's top-level declarations can reach other files without an import: a script's
 * are global, and a module can augment (`declare global`, `declare module 'x'`).
 */
function reachesOutside(sf) {
  return (
    !ts.isExternalModule(sf) ||
    sf.statements.some((s) => ts.isModuleDeclaration(s) && (ts.isStringLiteral(s.name) || (s.flags & ts.NodeFlags.GlobalAugmentation) !== 0))
  )
}

/**
 * The files whose diagnostics the edits can change: the edited files and every file that imports
 * one of them, directly or through other files (a type only reaches a file through its imports).
 * Undefined (check everything) when that does not hold: an edited file that is, or was, a script
 * or an augmentation; any file with augmentations or triple-slash references; an edited file
 * outside the program.
 */
function affectedFiles(program, { edits, oldTexts }, config) {
  const files = program.getSourceFiles().filter((sf) => !isLibFile(sf.fileName))
  if (files.some((sf) => sf.referencedFiles.length || sf.typeReferenceDirectives.length || sf.moduleAugmentations.length)) return undefined
  for (const [fileName, text] of edits) {
    const now = program.getSourceFile(fileName)
    const old = oldTexts.get(fileName)
    if (!now || old === undefined || reachesOutside(now)) return undefined
    // The text before the edits was parsed by the check before them (unless the cache let it go).
    const parsed = sourceCache.get(`${fileName}\0${now.languageVersion}\0${config.id}`)
    if (reachesOutside(parsed?.text === old ? parsed : ts.createSourceFile(fileName, old, now.languageVersion))) return undefined
    if (now.text !== text) return undefined
  }
  const importers = new Map()
  for (const sf of files) {
    for (const spec of sf.imports) {
      const target = program.getResolvedModuleFromModuleSpecifier(spec, sf)?.resolvedModule?.resolvedFileName
      if (!target) continue
      if (!importers.has(target)) importers.set(target, [])
      importers.get(target).push(sf.fileName)
    }
  }
  const scope = new Set(edits.keys())
  const queue = [...scope]
  while (queue.length) {
    for (const from of importers.get(queue.pop()) ?? []) {
      if (!scope.has(from)) {
        scope.add(from)
        queue.push(from)
      }
    }
  }
  return scope
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

/**
 * Calls `visit(rel, entry)` for every entry below `root` but folders (posix relative paths,
 * sorted by name at each level), skipping node_modules and .git.
 */
function walkFolder(root, visit) {
  const walk = (rel) => {
    const entries = fs.readdirSync(path.join(root, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))
    for (const e of entries) {
      if (e.name === 'node_modules' || e.name === '.git') continue
      const r = rel ? `${rel}/${e.name}` : e.name
      if (e.isDirectory()) walk(r)
      else visit(r, e)
    }
  }
  walk('')
}

/**
 * One file's part of a folder's layout: what decides module resolution and the program's root
 * files. A TypeScript file counts by its name (an edit to it never changes how imports resolve);
 * any other file (package.json, tsconfig.json) also by its content.
 */
function layoutEntry(rel, body) {
  if (/\.(ts|tsx|mts|cts)$/.test(rel)) return rel
  return `${rel}:${crypto.createHash('sha1').update(body()).digest('hex')}`
}

function readEntry(abs, e) {
  return e.isSymbolicLink() ? fs.readlinkSync(abs) : fs.readFileSync(abs)
}

/** The folder's layout (see layoutEntry), without reading its TypeScript files. */
function layoutOf(root) {
  const entries = []
  walkFolder(root, (rel, e) => entries.push(layoutEntry(rel, () => readEntry(path.join(root, rel), e))))
  return entries.join('\0')
}

/**
 * One read of a fixture folder. `texts` (Map absolute path -> text) holds every regular file,
 * `key` names the folder's exact content (its path and a SHA-256 over every file's path and
 * bytes; a symlink counts by its target), `layout` as layoutOf gives it. A job reads its fixture once
 * through this and hands it to the checks, the plan and the restore instead of reading again.
 */
function readFolder(fixtureDir) {
  const root = path.resolve(fixtureDir)
  const hash = crypto.createHash('sha256')
  const texts = new Map()
  const layout = []
  walkFolder(root, (rel, e) => {
    const abs = path.join(root, rel)
    const body = readEntry(abs, e)
    hash.update(`${rel}\0${body.length}\0`).update(body)
    layout.push(layoutEntry(rel, () => body))
    if (e.isFile()) texts.set(abs, body.toString('utf8'))
  })
  return { root, texts, layout: layout.join('\0'), key: `${root}\0${hash.digest('hex')}` }
}

/**
 * The check of a folder read by `readFolder`, remembered by its content (see above): `{diagnostics,
 * byFile}` as `check` returns them. Callers must not modify what they get.
 */
function checkFolderCached(folder) {
  const hit = memo.get(folder.key)
  if (hit) {
    memo.delete(folder.key)
    memo.set(folder.key, hit)
    return hit
  }
  const result = check(folder.root, folder.texts, true, folder.layout)
  memo.set(folder.key, result)
  if (memo.size > MAX_MEMO) memo.delete(memo.keys().next().value)
  return result
}

/** collectDiagnostics, remembered by the folder's content (see above). */
function collectDiagnosticsCached(fixtureDir) {
  return checkFolderCached(readFolder(fixtureDir)).diagnostics.map((d) => ({ ...d }))
}

module.exports = {
  collectDiagnostics,
  collectDiagnosticsCached,
  collectDiagnosticsFloor,
  readFolder,
  checkFolder,
  checkFolderCached,
  formatDiagnostic,
  hasTarget,
  libCache,
}
