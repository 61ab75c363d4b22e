'use strict'
// BuildFix plans: parsing model output, validating every operation, and applying the edits.
//
// A plan is `{title, rationale, dsl}`; `dsl` is a list of operations, each an object whose `op`
// names it. Edits are located with the TypeScript compiler's parser (positions of real AST nodes)
// and applied as plain text splices, so the rest of each file keeps its exact formatting.
//
// Application is transactional: every operation runs against an in-memory copy of the files it
// touches; only when all of them succeeded are the changed files written. A plan that fails half
// way leaves the fixture exactly as it was.

const fs = require('node:fs')
const path = require('node:path')
const ts = require('typescript')

/** Version of the plan format; part of the provider's cache key. The number and its history live
 * in plan-format.json, which the addon compiles in too. */
const PLAN_FORMAT_VERSION = require('./plan-format.json').version

class PlanError extends Error {
  constructor(message) {
    super(message)
    this.name = 'PlanError'
  }
}

const DECLARATION_KINDS = ['function', 'class', 'interface', 'type', 'enum', 'const', 'let', 'var', 'variable']

// Each operation: its fields and a one-line description. This table is the one definition of
// the format: validation reads it, and so does the operation list of the model's prompt
// (`planInstructions`). Field kinds: `required`/`optional` strings (non-empty), `lists` of names,
// `texts` (strings that may be empty: code as written), `lines` (1-based line numbers),
// `positions` ({line, column}, both 1-based), `flags` (booleans).
const OPS = {
  ensureExported: {
    required: ['file', 'symbol'],
    optional: ['kind'],
    identifiers: ['symbol'],
    doc: '{"op":"ensureExported","file":F,"symbol":S,"kind":"function"|"class"|"interface"|"type"|"enum"|"const"}  make F export S',
  },
  renameSymbol: {
    required: ['file', 'from', 'to'],
    identifiers: ['from', 'to'],
    doc: '{"op":"renameSymbol","file":F,"from":A,"to":B}  rename identifier A to B in F (not property names)',
  },
  makeParamOptional: {
    required: ['file', 'fn', 'param'],
    identifiers: ['fn', 'param'],
    doc: '{"op":"makeParamOptional","file":F,"fn":N,"param":P}  make parameter P of function N optional',
  },
  setParamType: {
    required: ['file', 'fn', 'param', 'typeText'],
    identifiers: ['fn', 'param'],
    types: ['typeText'],
    doc: '{"op":"setParamType","file":F,"fn":N,"param":P,"typeText":T}  declare parameter P of function or method N as T (e.g. widen it)',
  },
  addImport: {
    required: ['file', 'from'],
    lists: ['names'],
    specifiers: ['from'],
    doc: '{"op":"addImport","file":F,"from":M,"names":[S,...]}  import names from module M into F',
  },
  changeImportPath: {
    required: ['file', 'from', 'to'],
    specifiers: ['from', 'to'],
    doc: '{"op":"changeImportPath","file":F,"from":M,"to":M2}  make the imports and re-exports of F from module M use M2',
  },
  addTypeAnnotation: {
    required: ['file', 'selector', 'typeText'],
    types: ['typeText'],
    doc: '{"op":"addTypeAnnotation","file":F,"selector":"function:N"|"var:N","typeText":T}  set the return type of function N, or the declared type of variable N (replaces one already there: also to widen it)',
  },
  addProperty: {
    required: ['file', 'type', 'name', 'typeText'],
    flags: ['optional'],
    identifiers: ['type', 'name'],
    types: ['typeText'],
    doc: '{"op":"addProperty","file":F,"type":I,"name":P,"typeText":T,"optional":bool}  add property P: T to interface or object type I',
  },
  makePropertyOptional: {
    required: ['file', 'type', 'name'],
    identifiers: ['type', 'name'],
    doc: '{"op":"makePropertyOptional","file":F,"type":I,"name":P}  make property P of interface, object type or class I optional',
  },
  initializeProperty: {
    required: ['file', 'class', 'property'],
    optional: ['value'],
    identifiers: ['class', 'property'],
    expressions: ['value'],
    doc: '{"op":"initializeProperty","file":F,"class":C,"property":P,"value":E}  give property P of class C the initialiser E (without value: mark it definitely assigned, P!)',
  },
  addOptionalChain: {
    required: ['file', 'expression'],
    lines: ['line'],
    expressions: ['expression'],
    doc: '{"op":"addOptionalChain","file":F,"line":L,"expression":X}  on line L, access members of X (possibly null or undefined) with ?. instead of .',
  },
  addNullishDefault: {
    required: ['file', 'expression', 'fallback'],
    lines: ['line'],
    expressions: ['expression', 'fallback'],
    doc: '{"op":"addNullishDefault","file":F,"line":L,"expression":X,"fallback":D}  on line L, replace X with (X ?? D)',
  },
  makeAsync: {
    required: ['file', 'fn'],
    identifiers: ['fn'],
    doc: '{"op":"makeAsync","file":F,"fn":N}  mark function N async (a declared return type T becomes Promise<T>)',
  },
  insertStubFunction: {
    required: ['file', 'name'],
    optional: ['returns'],
    identifiers: ['name'],
    types: ['returns'],
    doc: '{"op":"insertStubFunction","file":F,"name":N,"returns":T}  add a function N returning T to F',
  },
  replaceText: {
    required: ['file'],
    positions: ['start', 'end'],
    texts: ['oldText', 'newText'],
    doc: '{"op":"replaceText","file":F,"start":{"line":L,"column":C},"end":{"line":L2,"column":C2},"oldText":OLD,"newText":NEW}  replace the text from start up to (not including) end, which must be exactly OLD, by NEW (lines and columns 1-based)',
  },
}

/** The operation list of the prompt, from the table above. */
function planInstructions() {
  return `Answer with one JSON object and nothing else:
{"title": string, "rationale": string, "dsl": [operation, ...]}
Each operation is an object with "op" and its fields (file paths are relative to the project root):
${Object.values(OPS)
  .map((spec) => `  ${spec.doc}`)
  .join('\n')}
Operations apply in order, each to the text the previous ones left.
Use the fewest operations that make the error go away without adding new ones.`
}

/**
 * The plan format as a JSON Schema, for servers that constrain their output to one
 * (`response_format` of OpenAI-style servers, `format` of Ollama). Built from the table above;
 * loose where the table is richer than a schema (the fields each operation needs are checked by
 * `validatePlan`, which gives the model a reason it can act on).
 */
function planSchema() {
  return {
    type: 'object',
    properties: {
      title: { type: 'string' },
      rationale: { type: 'string' },
      dsl: {
        type: 'array',
        items: {
          type: 'object',
          properties: { op: { type: 'string', enum: Object.keys(OPS) }, file: { type: 'string' } },
          required: ['op'],
        },
      },
    },
    required: ['title', 'rationale', 'dsl'],
  }
}

// Longest text a replaceText may replace or insert; a fix is a few lines, and a mined fix hunk
// rarely exceeds a few KB.
const MAX_TEXT = 64 * 1024

/** Removes Markdown code fences around model output (```json ... ``` or ``` ... ```). */
function stripCodeFences(text) {
  const s = String(text).trim()
  const fenced = /```[a-zA-Z0-9_-]*[ \t]*\r?\n?([\s\S]*?)```/.exec(s)
  return (fenced ? fenced[1] : s).trim()
}

/**
 * Parses model output into a validated plan. Throws PlanError with a message that says what is
 * wrong (not JSON, missing fields, unknown or malformed operation).
 */
function parsePlan(text) {
  if (typeof text !== 'string' || text.trim() === '') throw new PlanError('model returned an empty response')
  const body = stripCodeFences(text)
  let value
  try {
    value = JSON.parse(body)
  } catch (err) {
    // Some models wrap the object in prose: try the outermost {...} once before giving up.
    const first = body.indexOf('{')
    const last = body.lastIndexOf('}')
    let recovered = false
    if (first >= 0 && last > first) {
      try {
        value = JSON.parse(body.slice(first, last + 1))
        recovered = true
      } catch {}
    }
    if (!recovered) throw new PlanError(`model output is not valid JSON: ${err.message}`)
  }
  return validatePlan(value)
}

function validatePlan(value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new PlanError('plan must be a JSON object {title, rationale, dsl}')
  }
  if (typeof value.title !== 'string' || value.title.trim() === '') {
    throw new PlanError('plan.title must be a non-empty string')
  }
  if (value.rationale !== undefined && typeof value.rationale !== 'string') {
    throw new PlanError('plan.rationale must be a string')
  }
  if (!Array.isArray(value.dsl)) throw new PlanError('plan.dsl must be an array of operations')
  const dsl = value.dsl.map((op, i) => validateOp(op, i))
  return { title: value.title, rationale: value.rationale ?? '', dsl }
}

function validateOp(op, i) {
  const where = `dsl[${i}]`
  if (op === null || typeof op !== 'object' || Array.isArray(op)) throw new PlanError(`${where} must be an object`)
  const name = op.op
  if (typeof name !== 'string') throw new PlanError(`${where}.op must be a string naming the operation`)
  const spec = Object.hasOwn(OPS, name) ? OPS[name] : undefined
  if (!spec) {
    throw new PlanError(`${where}: unknown operation '${name}' (expected one of ${Object.keys(OPS).join(', ')})`)
  }
  const out = { op: name }
  const label = `${where} (${name})`
  for (const f of spec.required) {
    if (typeof op[f] !== 'string' || op[f] === '') throw new PlanError(`${label}: '${f}' must be a non-empty string`)
    out[f] = op[f]
  }
  for (const f of spec.optional || []) {
    if (op[f] === undefined || op[f] === null) continue
    if (typeof op[f] !== 'string' || op[f] === '') throw new PlanError(`${label}: '${f}' must be a non-empty string when given`)
    out[f] = op[f]
  }
  for (const f of spec.lists || []) {
    const v = op[f]
    if (!Array.isArray(v) || v.length === 0 || !v.every((n) => typeof n === 'string' && n !== '')) {
      throw new PlanError(`${label}: '${f}' must be a non-empty array of names`)
    }
    out[f] = [...v]
  }
  for (const f of spec.texts || []) {
    if (typeof op[f] !== 'string') throw new PlanError(`${label}: '${f}' must be a string (it may be empty)`)
    if (op[f].length > MAX_TEXT) throw new PlanError(`${label}: '${f}' is longer than ${MAX_TEXT} characters`)
    out[f] = op[f]
  }
  for (const f of spec.lines || []) {
    if (!Number.isInteger(op[f]) || op[f] < 1) throw new PlanError(`${label}: '${f}' must be a line number (an integer >= 1)`)
    out[f] = op[f]
  }
  for (const f of spec.positions || []) {
    const p = op[f]
    const ok = p !== null && typeof p === 'object' && Number.isInteger(p.line) && p.line >= 1 && Number.isInteger(p.column) && p.column >= 1
    if (!ok) throw new PlanError(`${label}: '${f}' must be {"line": L, "column": C} with 1-based integers`)
    out[f] = { line: p.line, column: p.column }
  }
  for (const f of spec.flags || []) {
    if (op[f] === undefined || op[f] === null) continue
    if (typeof op[f] !== 'boolean') throw new PlanError(`${label}: '${f}' must be true or false when given`)
    out[f] = op[f]
  }
  for (const f of spec.identifiers || []) {
    if (!isIdentifier(out[f])) throw new PlanError(`${label}: '${f}' must be an identifier, got ${JSON.stringify(out[f])}`)
  }
  for (const f of spec.specifiers || []) {
    if (/[\r\n'"`\\]/.test(out[f])) throw new PlanError(`${label}: '${f}' must be a plain module specifier`)
  }
  for (const f of spec.types || []) {
    if (out[f] !== undefined) checkTypeText(out[f], `${label}: ${f}`)
  }
  for (const f of spec.expressions || []) {
    if (out[f] !== undefined) checkExpressionText(out[f], `${label}: ${f}`)
  }
  if (name === 'addImport') {
    for (const n of out.names) if (!isIdentifier(n)) throw new PlanError(`${label}: import name ${JSON.stringify(n)} is not an identifier`)
  }
  if (name === 'ensureExported' && out.kind !== undefined && !DECLARATION_KINDS.includes(out.kind)) {
    throw new PlanError(`${label}: kind must be one of ${DECLARATION_KINDS.join(', ')}, got '${out.kind}'`)
  }
  if (name === 'addTypeAnnotation' && !/^(function|var):[A-Za-z_$][\w$]*$/.test(out.selector)) {
    throw new PlanError(`${label}: selector must be "function:<name>" or "var:<name>", got ${JSON.stringify(out.selector)}`)
  }
  if (name === 'replaceText') {
    const { start, end } = out
    if (end.line < start.line || (end.line === start.line && end.column < start.column)) throw new PlanError(`${label}: 'end' must not come before 'start'`)
  }
  return out
}

// Reserved words cannot name a binding; contextual keywords (`type`, `from`, `of`, `async`) can.
const STRICT_RESERVED = new Set(['implements', 'interface', 'let', 'package', 'private', 'protected', 'public', 'static', 'yield'])
function isIdentifier(s) {
  if (typeof s !== 'string' || !/^[A-Za-z_$][\w$]*$/.test(s) || STRICT_RESERVED.has(s)) return false
  const token = ts.stringToToken(s)
  return token === undefined || token < ts.SyntaxKind.FirstReservedWord || token > ts.SyntaxKind.LastReservedWord
}

/** A type must parse on its own as exactly one type and nothing else (no smuggled statements). */
function checkTypeText(text, label) {
  const src = ts.createSourceFile('type.ts', `type __T = ${text};`, ts.ScriptTarget.Latest, true)
  const ok =
    src.parseDiagnostics.length === 0 &&
    src.statements.length === 1 &&
    ts.isTypeAliasDeclaration(src.statements[0]) &&
    src.statements[0].type.end === src.text.length - 1
  if (!ok) throw new PlanError(`${label} is not a single TypeScript type: ${JSON.stringify(text)}`)
}

/**
 * An expression must parse on its own as exactly one expression: no statement, no comma list,
 * at most 1000 characters.
 */
function checkExpressionText(text, label) {
  let ok = text.length <= 1000
  if (ok) {
    const src = ts.createSourceFile('expr.ts', `(${text}\n);`, ts.ScriptTarget.Latest, true)
    const stmt = src.statements[0]
    ok =
      src.parseDiagnostics.length === 0 &&
      src.statements.length === 1 &&
      ts.isExpressionStatement(stmt) &&
      ts.isParenthesizedExpression(stmt.expression) &&
      stmt.expression.end === src.text.length - 1 &&
      !(ts.isBinaryExpression(stmt.expression.expression) && stmt.expression.expression.operatorToken.kind === ts.SyntaxKind.CommaToken)
  }
  if (!ok) throw new PlanError(`${label} is not a single TypeScript expression: ${JSON.stringify(text)}`)
}

// ---------------------------------------------------------------------------------------------
// Applying

/**
 * Applies a validated plan to the files of `fixtureDir`. Returns `{changed: [relative paths],
 * files: Map<absolute path, new text>, originals: Map<absolute path, text before>}`. Throws
 * PlanError (and writes nothing) if any operation cannot be applied. `write: false` computes the
 * edits without touching the disk. `texts` (Map absolute real path -> text) holds files the
 * caller has already read; they are taken from it instead of the disk.
 */
function applyPlan(fixtureDir, plan, { write = true, texts } = {}) {
  const root = fs.realpathSync(fixtureDir)
  const work = new Map() // absolute path -> current text
  const original = new Map()
  const read = (abs) => {
    if (!work.has(abs)) {
      const text = texts?.get(abs) ?? fs.readFileSync(abs, 'utf8')
      work.set(abs, text)
      original.set(abs, text)
    }
    return work.get(abs)
  }
  plan.dsl.forEach((op, i) => {
    const abs = resolveFile(root, op.file, `dsl[${i}] (${op.op})`)
    const text = read(abs)
    const next = APPLY[op.op](parse(abs, text), op, { root, abs, file: op.file, read, label: `dsl[${i}] (${op.op})` })
    work.set(abs, next)
  })
  const changed = []
  for (const [abs, text] of work) {
    if (text === original.get(abs)) continue
    changed.push(path.relative(root, abs).split(path.sep).join('/'))
    if (write) fs.writeFileSync(abs, text)
  }
  return { changed, files: work, originals: original }
}

/** Resolves a plan's file path; it must name an existing .ts file inside the fixture. */
function resolveFile(root, file, label) {
  if (path.isAbsolute(file) || file.includes('\0')) throw new PlanError(`${label}: file '${file}' must be a path relative to the fixture`)
  const abs = path.resolve(root, file)
  const rel = path.relative(root, abs)
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) throw new PlanError(`${label}: file '${file}' lies outside the fixture`)
  if (!/\.(ts|tsx|mts|cts)$/.test(abs) || abs.endsWith('.d.ts')) throw new PlanError(`${label}: file '${file}' is not a TypeScript source file`)
  let real
  try {
    real = fs.realpathSync(abs)
  } catch {
    throw new PlanError(`${label}: file '${file}' does not exist in the fixture`)
  }
  const realRel = path.relative(root, real)
  if (realRel.startsWith('..') || path.isAbsolute(realRel)) throw new PlanError(`${label}: file '${file}' lies outside the fixture`)
  if (!fs.statSync(real).isFile()) throw new PlanError(`${label}: file '${file}' is not a regular file`)
  return real
}

function parse(abs, text) {
  return ts.createSourceFile(abs, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS)
}

function splice(text, edits) {
  let out = text
  for (const e of [...edits].sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.text + out.slice(e.end)
  return out
}

function hasExport(node) {
  return (ts.canHaveModifiers(node) && ts.getModifiers(node)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) || false
}

function declKind(stmt) {
  if (ts.isFunctionDeclaration(stmt)) return 'function'
  if (ts.isClassDeclaration(stmt)) return 'class'
  if (ts.isInterfaceDeclaration(stmt)) return 'interface'
  if (ts.isTypeAliasDeclaration(stmt)) return 'type'
  if (ts.isEnumDeclaration(stmt)) return 'enum'
  if (ts.isVariableStatement(stmt)) {
    const f = stmt.declarationList.flags
    return f & ts.NodeFlags.Const ? 'const' : f & ts.NodeFlags.Let ? 'let' : 'var'
  }
  return undefined
}

function declaresName(stmt, name) {
  if (ts.isVariableStatement(stmt)) return stmt.declarationList.declarations.some((d) => ts.isIdentifier(d.name) && d.name.text === name)
  return stmt.name !== undefined && ts.isIdentifier(stmt.name) && stmt.name.text === name
}

// `kind` is a cross-check, lenient where models blur words: a type may be an interface or an
// alias, and any variable keyword names a variable. A function is never a class.
const KIND_GROUPS = [
  ['type', 'interface'],
  ['const', 'let', 'var', 'variable'],
]
function kindMatches(requested, actual) {
  if (requested === undefined || requested === actual) return true
  return KIND_GROUPS.some((g) => g.includes(requested) && g.includes(actual))
}

function moduleFileFor(root, fromFile, specifier) {
  if (!specifier.startsWith('.')) return undefined
  const base = path.resolve(path.dirname(fromFile), specifier)
  for (const c of [base, `${base}.ts`, `${base}.tsx`, path.join(base, 'index.ts')]) {
    if (c.endsWith('.ts') || c.endsWith('.tsx')) {
      const rel = path.relative(root, c)
      if (!rel.startsWith('..') && fs.existsSync(c) && fs.statSync(c).isFile()) return c
    }
  }
  return undefined
}

const APPLY = {
  /**
   * Makes `file` export `symbol`: adds `export` to its top-level declaration; or, if the file
   * imports the name, adds `export { symbol }`; or, for a barrel that re-exports from a module
   * declaring it, adds the name to that re-export list.
   */
  ensureExported(sf, op, ctx) {
    for (const stmt of sf.statements) {
      const kind = declKind(stmt)
      if (!kind || !declaresName(stmt, op.symbol)) continue
      if (!kindMatches(op.kind, kind)) {
        throw new PlanError(`${ctx.label}: '${op.symbol}' in ${op.file} is a ${kind}, not a ${op.kind}`)
      }
      if (hasExport(stmt)) return sf.text // already exported: nothing to do
      // Before the first modifier (`export declare`, `export abstract`, `export async`) or the
      // keyword, after any decorators (`@sealed export class X`).
      const mods = ts.getModifiers(stmt) || []
      const decorators = (ts.canHaveDecorators(stmt) && ts.getDecorators(stmt)) || []
      if (mods.length) return splice(sf.text, [{ start: mods[0].getStart(sf), end: mods[0].getStart(sf), text: 'export ' }])
      if (decorators.length) return splice(sf.text, [{ start: decorators.at(-1).end, end: decorators.at(-1).end, text: ' export' }])
      const at = stmt.getStart(sf)
      return splice(sf.text, [{ start: at, end: at, text: 'export ' }])
    }
    for (const stmt of sf.statements) {
      if (!ts.isImportDeclaration(stmt) || !stmt.importClause) continue
      const named = stmt.importClause.namedBindings
      const imported =
        stmt.importClause.name?.text === op.symbol || (named && ts.isNamedImports(named) && named.elements.some((e) => e.name.text === op.symbol))
      if (imported) return `${sf.text.replace(/\s*$/, '')}\nexport { ${op.symbol} }\n`
    }
    for (const stmt of sf.statements) {
      if (!ts.isExportDeclaration(stmt) || !stmt.moduleSpecifier || !stmt.exportClause || !ts.isNamedExports(stmt.exportClause)) continue
      if (stmt.exportClause.elements.some((e) => e.name.text === op.symbol)) return sf.text
      const target = moduleFileFor(ctx.root, ctx.abs, stmt.moduleSpecifier.text)
      if (!target) continue
      const targetSf = parse(target, ctx.read(target))
      const exported = targetSf.statements.some((s) => hasExport(s) && declaresName(s, op.symbol) && kindMatches(op.kind, declKind(s)))
      if (!exported) continue
      const elements = stmt.exportClause.elements
      const last = elements.at(-1)
      const edit = last
        ? { start: last.end, end: last.end, text: `, ${op.symbol}` }
        : { start: stmt.exportClause.getStart(sf) + 1, end: stmt.exportClause.getStart(sf) + 1, text: ` ${op.symbol} ` }
      return splice(sf.text, [edit])
    }
    throw new PlanError(`${ctx.label}: symbol '${op.symbol}' not found in ${op.file} (no declaration, import or re-exported module declares it)`)
  },

  /**
   * Renames every identifier `from` in `file` to `to`, except property names (`x.from`,
   * `{from: 1}`), which name members rather than the binding.
   */
  renameSymbol(sf, op, ctx) {
    const edits = []
    const visit = (node) => {
      if (ts.isIdentifier(node) && node.text === op.from && !isMemberName(node)) {
        edits.push({ start: node.getStart(sf), end: node.end, text: op.to })
      }
      ts.forEachChild(node, visit)
    }
    visit(sf)
    if (edits.length === 0) throw new PlanError(`${ctx.label}: symbol '${op.from}' not found in ${op.file}`)
    return splice(sf.text, edits)
  },

  /** Adds `?` to parameter `param` of function `fn` (a declaration, method or const arrow). */
  makeParamOptional(sf, op, ctx) {
    const fns = findFunctions(sf, op.fn)
    if (fns.length === 0) throw new PlanError(`${ctx.label}: function '${op.fn}' not found in ${op.file}`)
    const edits = []
    for (const fn of fns) {
      const p = fn.parameters.find((x) => ts.isIdentifier(x.name) && x.name.text === op.param)
      if (!p) continue
      if (p.questionToken || p.initializer || p.dotDotDotToken) return sf.text
      edits.push({ start: p.name.end, end: p.name.end, text: '?' })
    }
    if (edits.length === 0) throw new PlanError(`${ctx.label}: function '${op.fn}' in ${op.file} has no parameter '${op.param}'`)
    return splice(sf.text, edits)
  },

  /** Adds `names` to the import from `from` (creating that import after the last one). */
  addImport(sf, op) {
    const imports = sf.statements.filter(ts.isImportDeclaration)
    const existing = imports.find(
      (d) =>
        ts.isStringLiteral(d.moduleSpecifier) &&
        d.moduleSpecifier.text === op.from &&
        d.importClause &&
        !d.importClause.isTypeOnly &&
        (!d.importClause.namedBindings || ts.isNamedImports(d.importClause.namedBindings)),
    )
    if (existing) {
      const clause = existing.importClause
      const have = new Set(clause.namedBindings ? clause.namedBindings.elements.map((e) => e.name.text) : [])
      const add = op.names.filter((n) => !have.has(n))
      if (add.length === 0) return sf.text
      if (clause.namedBindings) {
        const last = clause.namedBindings.elements.at(-1)
        const at = last ? last.end : clause.namedBindings.getStart(sf) + 1
        return splice(sf.text, [{ start: at, end: at, text: `${last ? ', ' : ' '}${add.join(', ')}` }])
      }
      return splice(sf.text, [{ start: clause.name.end, end: clause.name.end, text: `, { ${add.join(', ')} }` }])
    }
    const line = `import { ${[...new Set(op.names)].join(', ')} } from '${op.from}'\n`
    if (imports.length === 0) {
      const first = sf.statements[0]
      const at = first ? first.getStart(sf) : sf.text.length
      return splice(sf.text, [{ start: at, end: at, text: line }])
    }
    const last = imports.at(-1)
    const eol = sf.text.indexOf('\n', last.end)
    const at = eol === -1 ? sf.text.length : eol + 1
    return splice(sf.text, [{ start: at, end: at, text: eol === -1 ? `\n${line}` : line }])
  },

  /**
   * `function:<name>`: sets the return type of that function (replacing any existing one).
   * `var:<name>`: sets the declared type of that variable (replacing any existing one).
   */
  addTypeAnnotation(sf, op, ctx) {
    const [what, name] = op.selector.split(':')
    if (what === 'function') {
      const fns = findFunctions(sf, name)
      if (fns.length === 0) throw new PlanError(`${ctx.label}: function '${name}' not found in ${op.file}`)
      const edits = fns.map((fn) => {
        if (fn.type) return { start: fn.type.getStart(sf), end: fn.type.end, text: op.typeText }
        const close = findCloseParen(sf, fn)
        return { start: close, end: close, text: `: ${op.typeText}` }
      })
      return splice(sf.text, edits)
    }
    const decls = []
    const visit = (node) => {
      if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.name.text === name) decls.push(node)
      ts.forEachChild(node, visit)
    }
    visit(sf)
    if (decls.length === 0) throw new PlanError(`${ctx.label}: variable '${name}' not found in ${op.file}`)
    const d = decls[0]
    const edit = d.type ? { start: d.type.getStart(sf), end: d.type.end, text: op.typeText } : { start: d.name.end, end: d.name.end, text: `: ${op.typeText}` }
    return splice(sf.text, [edit])
  },

  /** Declares parameter `param` of function `fn` (every function or method so named) as `typeText`. */
  setParamType(sf, op, ctx) {
    const fns = findFunctions(sf, op.fn)
    if (fns.length === 0) throw new PlanError(`${ctx.label}: function '${op.fn}' not found in ${op.file}`)
    const edits = []
    for (const fn of fns) {
      const p = fn.parameters.find((x) => ts.isIdentifier(x.name) && x.name.text === op.param)
      if (!p) continue
      if (p.type) edits.push({ start: p.type.getStart(sf), end: p.type.end, text: op.typeText })
      else {
        if (ts.isArrowFunction(fn) && fn.parameters.length === 1 && p.getStart(sf) === fn.getStart(sf))
          throw new PlanError(`${ctx.label}: the bare parameter of '${op.fn}' cannot take a type; parenthesise it first`)
        const at = (p.questionToken ?? p.name).end
        edits.push({ start: at, end: at, text: `: ${op.typeText}` })
      }
    }
    if (edits.length === 0) throw new PlanError(`${ctx.label}: function '${op.fn}' in ${op.file} has no parameter '${op.param}'`)
    return splice(sf.text, edits)
  },

  /** Points every import, re-export and `import()` of module `from` in `file` at `to`. */
  changeImportPath(sf, op, ctx) {
    const edits = []
    const visit = (node) => {
      let spec
      if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) spec = node.moduleSpecifier
      else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) spec = node.arguments[0]
      else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) spec = node.argument.literal
      if (spec && ts.isStringLiteral(spec) && spec.text === op.from) {
        const quote = sf.text[spec.getStart(sf)]
        edits.push({ start: spec.getStart(sf), end: spec.end, text: `${quote}${op.to}${quote}` })
      }
      ts.forEachChild(node, visit)
    }
    visit(sf)
    if (edits.length === 0) throw new PlanError(`${ctx.label}: ${op.file} does not import '${op.from}'`)
    return splice(sf.text, edits)
  },

  /** Adds `name: typeText` (or `name?:`) to interface or object type alias `type`. */
  addProperty(sf, op, ctx) {
    const members = typeMembers(sf, op.type, ctx, { classes: false })
    if (members.list.some((m) => m.name && ts.isIdentifier(m.name) && m.name.text === op.name))
      throw new PlanError(`${ctx.label}: ${op.type} in ${op.file} already has a property '${op.name}'`)
    const decl = `${op.name}${op.optional ? '?' : ''}: ${op.typeText}`
    const last = members.list.at(-1)
    if (!last) return splice(sf.text, [{ start: members.open, end: members.open, text: ` ${decl} ` }])
    // The new member follows the last one, on its own line when the members are one per line,
    // with the same indentation and separator.
    const lastText = sf.text.slice(last.getStart(sf), last.end)
    const sep = /[;,]$/.test(lastText) ? lastText.at(-1) : ''
    const lineStart = sf.text.lastIndexOf('\n', last.getStart(sf)) + 1
    const indent = sf.text.slice(lineStart, last.getStart(sf))
    const multiline = /^\s*$/.test(indent) && lineStart > members.open
    const text = multiline ? `\n${indent}${decl}${sep}` : `${sep ? '' : ';'} ${decl}${sep}`
    return splice(sf.text, [{ start: last.end, end: last.end, text }])
  },

  /** Adds `?` to property `name` of interface, object type alias or class `type`. */
  makePropertyOptional(sf, op, ctx) {
    const { list } = typeMembers(sf, op.type, ctx, { classes: true })
    const m = list.find((x) => x.name && ts.isIdentifier(x.name) && x.name.text === op.name)
    if (!m || !(ts.isPropertySignature(m) || ts.isPropertyDeclaration(m)))
      throw new PlanError(`${ctx.label}: ${op.type} in ${op.file} has no property '${op.name}'`)
    if (m.questionToken) return sf.text
    if (m.exclamationToken) return splice(sf.text, [{ start: m.exclamationToken.getStart(sf), end: m.exclamationToken.end, text: '?' }])
    return splice(sf.text, [{ start: m.name.end, end: m.name.end, text: '?' }])
  },

  /** `value` given: `property = value`; else the definite-assignment mark `property!`. */
  initializeProperty(sf, op, ctx) {
    const { list } = typeMembers(sf, op.class, ctx, { classes: true, only: 'class' })
    const m = list.find((x) => ts.isPropertyDeclaration(x) && ts.isIdentifier(x.name) && x.name.text === op.property)
    if (!m) throw new PlanError(`${ctx.label}: class ${op.class} in ${op.file} has no property '${op.property}'`)
    if (m.initializer) throw new PlanError(`${ctx.label}: ${op.class}.${op.property} already has an initialiser`)
    if (op.value === undefined) {
      if (m.exclamationToken) return sf.text
      if (m.questionToken) throw new PlanError(`${ctx.label}: ${op.class}.${op.property} is optional; it cannot also be definitely assigned`)
      return splice(sf.text, [{ start: m.name.end, end: m.name.end, text: '!' }])
    }
    const edits = [{ start: (m.type ?? m.name).end, end: (m.type ?? m.name).end, text: ` = ${op.value}` }]
    if (m.exclamationToken) edits.push({ start: m.exclamationToken.getStart(sf), end: m.exclamationToken.end, text: '' })
    return splice(sf.text, edits)
  },

  /** On `line`, turns `X.m`, `X[i]` and `X(...)` into `X?.m`, `X?.[i]`, `X?.(...)`. */
  addOptionalChain(sf, op, ctx) {
    const want = normalizeCode(op.expression)
    const edits = []
    const visit = (node) => {
      if (
        (ts.isPropertyAccessExpression(node) || ts.isElementAccessExpression(node) || ts.isCallExpression(node)) &&
        !node.questionDotToken &&
        lineOf(sf, node.expression.getStart(sf)) === op.line &&
        normalizeCode(node.expression.getText(sf)) === want
      ) {
        const after = node.expression.end
        if (ts.isPropertyAccessExpression(node)) {
          const dot = sf.text.indexOf('.', after)
          edits.push({ start: dot, end: dot, text: '?' })
        } else {
          edits.push({ start: after, end: after, text: '?.' })
        }
      }
      ts.forEachChild(node, visit)
    }
    visit(sf)
    if (edits.length === 0) throw new PlanError(`${ctx.label}: no member access, index or call on ${op.expression} at ${op.file}:${op.line}`)
    return splice(sf.text, edits)
  },

  /** On `line`, replaces the expression `X` by `(X ?? fallback)` (outermost occurrences). */
  addNullishDefault(sf, op, ctx) {
    const want = normalizeCode(op.expression)
    const edits = []
    const visit = (node) => {
      if (
        ts.isExpression(node) &&
        !ts.isParenthesizedExpression(node) &&
        lineOf(sf, node.getStart(sf)) === op.line &&
        normalizeCode(node.getText(sf)) === want &&
        !isMemberName(node)
      ) {
        edits.push({ start: node.getStart(sf), end: node.end, text: `(${node.getText(sf)} ?? ${op.fallback})` })
        return
      }
      ts.forEachChild(node, visit)
    }
    visit(sf)
    if (edits.length === 0) throw new PlanError(`${ctx.label}: expression ${op.expression} not found at ${op.file}:${op.line}`)
    return splice(sf.text, edits)
  },

  /** Marks function `fn` async; a declared return type `T` becomes `Promise<T>`. */
  makeAsync(sf, op, ctx) {
    const fns = findFunctions(sf, op.fn)
    if (fns.length === 0) throw new PlanError(`${ctx.label}: function '${op.fn}' not found in ${op.file}`)
    const edits = []
    for (const fn of fns) {
      const mods = ts.getModifiers(fn) || []
      if (mods.some((m) => m.kind === ts.SyntaxKind.AsyncKeyword)) continue
      if (fn.asteriskToken) throw new PlanError(`${ctx.label}: '${op.fn}' is a generator; make it async by hand`)
      // Before `function`, a method's name, or an arrow's parameters; after `export`/`static`.
      const at = ts.isMethodDeclaration(fn)
        ? fn.name.getStart(sf)
        : ts.isArrowFunction(fn)
          ? fn.getStart(sf)
          : mods.length
            ? ts.skipTrivia(sf.text, mods.at(-1).end)
            : fn.getStart(sf)
      edits.push({ start: at, end: at, text: 'async ' })
      if (fn.type && !/^Promise\s*</.test(fn.type.getText(sf)))
        edits.push({ start: fn.type.getStart(sf), end: fn.type.end, text: `Promise<${fn.type.getText(sf)}>` })
    }
    return splice(sf.text, edits)
  },

  /** Replaces the text between two positions, which must be exactly `oldText`. */
  replaceText(sf, op, ctx) {
    const start = offsetOf(sf.text, op.start, ctx, 'start')
    const end = offsetOf(sf.text, op.end, ctx, 'end')
    const found = sf.text.slice(start, end)
    if (found !== op.oldText) {
      const show = (t) => JSON.stringify(t.length > 120 ? `${t.slice(0, 120)}...` : t)
      throw new PlanError(
        `${ctx.label}: the text of ${op.file} from ${op.start.line}:${op.start.column} to ${op.end.line}:${op.end.column} is ${show(found)}, not the expected ${show(op.oldText)}`,
      )
    }
    return splice(sf.text, [{ start, end, text: op.newText }])
  },

  /** Appends `function name(...args: unknown[]): returns` that throws until implemented. */
  insertStubFunction(sf, op, ctx) {
    const taken = sf.statements.some((s) => declaresName(s, op.name))
    if (taken) throw new PlanError(`${ctx.label}: '${op.name}' is already declared in ${op.file}`)
    const returns = op.returns ?? 'void'
    const body = returns === 'void' ? '' : `\n  throw new Error('${op.name} is not implemented yet')\n`
    return `${sf.text.replace(/\s*$/, '')}\n\nfunction ${op.name}(...args: unknown[]): ${returns} {${body}}\n`
  },
}

/** 1-based line of a text offset. */
function lineOf(sf, pos) {
  return sf.getLineAndCharacterOfPosition(pos).line + 1
}

/** Code compared without its whitespace: `a . b` is `a.b`. */
function normalizeCode(text) {
  return text.replace(/\s+/g, '')
}

/** Offset of a 1-based {line, column}; a column may be one past the end of its line. */
function offsetOf(text, pos, ctx, what) {
  let offset = 0
  for (let line = 1; line < pos.line; line++) {
    const nl = text.indexOf('\n', offset)
    if (nl < 0) throw new PlanError(`${ctx.label}: ${what} line ${pos.line} is past the end of the file`)
    offset = nl + 1
  }
  const nl = text.indexOf('\n', offset)
  const length = (nl < 0 ? text.length : nl) - offset
  if (pos.column > length + 1) throw new PlanError(`${ctx.label}: ${what} column ${pos.column} is past the end of line ${pos.line} (${length} characters)`)
  return offset + pos.column - 1
}

/**
 * The members of the top-level interface, object type alias (or, with `classes`, class) named
 * `name` in `file`, and the offset just after its `{` (where the NodeArray of members starts).
 */
function typeMembers(sf, name, ctx, { classes, only }) {
  for (const stmt of sf.statements) {
    if (!stmt.name || !ts.isIdentifier(stmt.name) || stmt.name.text !== name) continue
    if (only !== 'class' && ts.isInterfaceDeclaration(stmt)) return { list: [...stmt.members], open: stmt.members.pos }
    if (only !== 'class' && ts.isTypeAliasDeclaration(stmt) && ts.isTypeLiteralNode(stmt.type))
      return { list: [...stmt.type.members], open: stmt.type.members.pos }
    if (classes && ts.isClassDeclaration(stmt)) return { list: [...stmt.members], open: stmt.members.pos }
  }
  const what = only === 'class' ? 'class' : classes ? 'interface, object type or class' : 'interface or object type'
  throw new PlanError(`${ctx.label}: no ${what} named '${name}' at the top level of ${ctx.file}`)
}

function findCloseParen(sf, fn) {
  // The `)` closing the parameter list: scan tokens after the last parameter (or the `(`).
  // `x => x` has no parentheses to put a return type after.
  if (ts.isArrowFunction(fn) && fn.parameters.length === 1 && fn.parameters[0].getStart(sf) === fn.getStart(sf)) {
    throw new PlanError(`an arrow function with a bare parameter cannot take a return type; parenthesise it first`)
  }
  const scanner = ts.createScanner(ts.ScriptTarget.Latest, true, ts.LanguageVariant.Standard, sf.text)
  scanner.resetTokenState(fn.parameters.end)
  for (;;) {
    const tok = scanner.scan()
    if (tok === ts.SyntaxKind.EndOfFileToken) break
    if (tok === ts.SyntaxKind.CloseParenToken) return scanner.getTokenEnd()
  }
  throw new PlanError(`cannot locate the parameter list of '${fn.name?.getText(sf) ?? 'function'}'`)
}

function isMemberName(node) {
  const p = node.parent
  if (!p) return false
  if ((ts.isPropertyAccessExpression(p) || ts.isQualifiedName(p)) && p.name === node) return true
  if (
    (ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p) || ts.isPropertySignature(p) || ts.isMethodDeclaration(p) || ts.isMethodSignature(p)) &&
    p.name === node
  )
    return true
  return false
}

/** Functions named `name`: declarations, class methods, and `const name = (...) => ...`. */
function findFunctions(sf, name) {
  const out = []
  const visit = (node) => {
    if ((ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node)) && node.name && ts.isIdentifier(node.name) && node.name.text === name && node.body)
      out.push(node)
    if (
      ts.isVariableDeclaration(node) &&
      ts.isIdentifier(node.name) &&
      node.name.text === name &&
      node.initializer &&
      (ts.isArrowFunction(node.initializer) || ts.isFunctionExpression(node.initializer))
    )
      out.push(node.initializer)
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return out
}

module.exports = {
  planSchema,
  PLAN_FORMAT_VERSION,
  PlanError,
  OPS,
  planInstructions,
  stripCodeFences,
  parsePlan,
  validatePlan,
  applyPlan,
}
