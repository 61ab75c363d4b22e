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

/** Version of the plan format; part of the provider's cache key. */
// 2: `errorsResolved` is a boolean (as in the original), the count is `errorsResolvedCount`.
const PLAN_FORMAT_VERSION = 2

class PlanError extends Error {
  constructor(message) {
    super(message)
    this.name = 'PlanError'
  }
}

const DECLARATION_KINDS = ['function', 'class', 'interface', 'type', 'enum', 'const', 'let', 'var', 'variable']

// Each operation: required string fields, optional string fields, and extra checks.
const OPS = {
  ensureExported: { required: ['file', 'symbol'], optional: ['kind'] },
  renameSymbol: { required: ['file', 'from', 'to'], optional: [] },
  makeParamOptional: { required: ['file', 'fn', 'param'], optional: [] },
  addImport: { required: ['file', 'from'], optional: [], lists: ['names'] },
  addTypeAnnotation: { required: ['file', 'selector', 'typeText'], optional: [] },
  insertStubFunction: { required: ['file', 'name'], optional: ['returns'] },
}

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
  const spec = Object.prototype.hasOwnProperty.call(OPS, name) ? OPS[name] : undefined
  if (!spec) {
    throw new PlanError(`${where}: unknown operation '${name}' (expected one of ${Object.keys(OPS).join(', ')})`)
  }
  const out = { op: name }
  for (const f of spec.required) {
    if (typeof op[f] !== 'string' || op[f] === '')
      throw new PlanError(`${where} (${name}): '${f}' must be a non-empty string`)
    out[f] = op[f]
  }
  for (const f of spec.optional) {
    if (op[f] === undefined || op[f] === null) continue
    if (typeof op[f] !== 'string' || op[f] === '')
      throw new PlanError(`${where} (${name}): '${f}' must be a non-empty string when given`)
    out[f] = op[f]
  }
  for (const f of spec.lists || []) {
    const v = op[f]
    if (!Array.isArray(v) || v.length === 0 || !v.every((n) => typeof n === 'string' && n !== '')) {
      throw new PlanError(`${where} (${name}): '${f}' must be a non-empty array of names`)
    }
    out[f] = [...v]
  }
  const identifiers =
    {
      ensureExported: ['symbol'],
      renameSymbol: ['from', 'to'],
      makeParamOptional: ['fn', 'param'],
      insertStubFunction: ['name'],
      addImport: [],
    }[name] || []
  for (const f of identifiers) {
    if (!isIdentifier(out[f]))
      throw new PlanError(`${where} (${name}): '${f}' must be an identifier, got ${JSON.stringify(out[f])}`)
  }
  if (name === 'addImport') {
    for (const n of out.names)
      if (!isIdentifier(n))
        throw new PlanError(`${where} (addImport): import name ${JSON.stringify(n)} is not an identifier`)
    if (/[\r\n'"`\\]/.test(out.from))
      throw new PlanError(`${where} (addImport): 'from' must be a plain module specifier`)
  }
  if (name === 'ensureExported' && out.kind !== undefined && !DECLARATION_KINDS.includes(out.kind)) {
    throw new PlanError(
      `${where} (ensureExported): kind must be one of ${DECLARATION_KINDS.join(', ')}, got '${out.kind}'`,
    )
  }
  if (name === 'addTypeAnnotation') {
    if (!/^(function|var):[A-Za-z_$][\w$]*$/.test(out.selector)) {
      throw new PlanError(
        `${where} (addTypeAnnotation): selector must be "function:<name>" or "var:<name>", got ${JSON.stringify(out.selector)}`,
      )
    }
    checkTypeText(out.typeText, `${where} (addTypeAnnotation): typeText`)
  }
  if (name === 'insertStubFunction' && out.returns !== undefined) {
    checkTypeText(out.returns, `${where} (insertStubFunction): returns`)
  }
  return out
}

// Reserved words cannot name a binding; contextual keywords (`type`, `from`, `of`, `async`) can.
const STRICT_RESERVED = new Set([
  'implements',
  'interface',
  'let',
  'package',
  'private',
  'protected',
  'public',
  'static',
  'yield',
])
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

// ---------------------------------------------------------------------------------------------
// Applying

/**
 * Applies a validated plan to the files of `fixtureDir`. Returns `{changed: [relative paths],
 * files: Map<absolute path, new text>}`. Throws PlanError (and writes nothing) if any operation
 * cannot be applied. `write: false` computes the edits without touching the disk.
 */
function applyPlan(fixtureDir, plan, { write = true } = {}) {
  const root = fs.realpathSync(fixtureDir)
  const work = new Map() // absolute path -> current text
  const original = new Map()
  const read = (abs) => {
    if (!work.has(abs)) {
      const text = fs.readFileSync(abs, 'utf8')
      work.set(abs, text)
      original.set(abs, text)
    }
    return work.get(abs)
  }
  plan.dsl.forEach((op, i) => {
    const abs = resolveFile(root, op.file, `dsl[${i}] (${op.op})`)
    const text = read(abs)
    const next = APPLY[op.op](parse(abs, text), op, { root, abs, read, label: `dsl[${i}] (${op.op})` })
    work.set(abs, next)
  })
  const changed = []
  for (const [abs, text] of work) {
    if (text === original.get(abs)) continue
    changed.push(path.relative(root, abs).split(path.sep).join('/'))
    if (write) fs.writeFileSync(abs, text)
  }
  return { changed, files: work }
}

/** Resolves a plan's file path; it must name an existing .ts file inside the fixture. */
function resolveFile(root, file, label) {
  if (path.isAbsolute(file) || file.includes('\0'))
    throw new PlanError(`${label}: file '${file}' must be a path relative to the fixture`)
  const abs = path.resolve(root, file)
  const rel = path.relative(root, abs)
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel))
    throw new PlanError(`${label}: file '${file}' lies outside the fixture`)
  if (!/\.(ts|tsx|mts|cts)$/.test(abs) || abs.endsWith('.d.ts'))
    throw new PlanError(`${label}: file '${file}' is not a TypeScript source file`)
  let real
  try {
    real = fs.realpathSync(abs)
  } catch {
    throw new PlanError(`${label}: file '${file}' does not exist in the fixture`)
  }
  const realRel = path.relative(root, real)
  if (realRel.startsWith('..') || path.isAbsolute(realRel))
    throw new PlanError(`${label}: file '${file}' lies outside the fixture`)
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
  return (
    (ts.canHaveModifiers(node) && ts.getModifiers(node)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) || false
  )
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
  if (ts.isVariableStatement(stmt))
    return stmt.declarationList.declarations.some((d) => ts.isIdentifier(d.name) && d.name.text === name)
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
      if (mods.length)
        return splice(sf.text, [{ start: mods[0].getStart(sf), end: mods[0].getStart(sf), text: 'export ' }])
      if (decorators.length)
        return splice(sf.text, [{ start: decorators.at(-1).end, end: decorators.at(-1).end, text: ' export' }])
      const at = stmt.getStart(sf)
      return splice(sf.text, [{ start: at, end: at, text: 'export ' }])
    }
    for (const stmt of sf.statements) {
      if (!ts.isImportDeclaration(stmt) || !stmt.importClause) continue
      const named = stmt.importClause.namedBindings
      const imported =
        stmt.importClause.name?.text === op.symbol ||
        (named && ts.isNamedImports(named) && named.elements.some((e) => e.name.text === op.symbol))
      if (imported) return `${sf.text.replace(/\s*$/, '')}\nexport { ${op.symbol} }\n`
    }
    for (const stmt of sf.statements) {
      if (
        !ts.isExportDeclaration(stmt) ||
        !stmt.moduleSpecifier ||
        !stmt.exportClause ||
        !ts.isNamedExports(stmt.exportClause)
      )
        continue
      if (stmt.exportClause.elements.some((e) => e.name.text === op.symbol)) return sf.text
      const target = moduleFileFor(ctx.root, ctx.abs, stmt.moduleSpecifier.text)
      if (!target) continue
      const targetSf = parse(target, ctx.read(target))
      const exported = targetSf.statements.some(
        (s) => hasExport(s) && declaresName(s, op.symbol) && kindMatches(op.kind, declKind(s)),
      )
      if (!exported) continue
      const elements = stmt.exportClause.elements
      const last = elements.at(-1)
      const edit = last
        ? { start: last.end, end: last.end, text: `, ${op.symbol}` }
        : { start: stmt.exportClause.getStart(sf) + 1, end: stmt.exportClause.getStart(sf) + 1, text: ` ${op.symbol} ` }
      return splice(sf.text, [edit])
    }
    throw new PlanError(
      `${ctx.label}: symbol '${op.symbol}' not found in ${op.file} (no declaration, import or re-exported module declares it)`,
    )
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
    if (edits.length === 0)
      throw new PlanError(`${ctx.label}: function '${op.fn}' in ${op.file} has no parameter '${op.param}'`)
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
    const edit = d.type
      ? { start: d.type.getStart(sf), end: d.type.end, text: op.typeText }
      : { start: d.name.end, end: d.name.end, text: `: ${op.typeText}` }
    return splice(sf.text, [edit])
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
    (ts.isPropertyAssignment(p) ||
      ts.isPropertyDeclaration(p) ||
      ts.isPropertySignature(p) ||
      ts.isMethodDeclaration(p) ||
      ts.isMethodSignature(p)) &&
    p.name === node
  )
    return true
  return false
}

/** Functions named `name`: declarations, class methods, and `const name = (...) => ...`. */
function findFunctions(sf, name) {
  const out = []
  const visit = (node) => {
    if (
      (ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node)) &&
      node.name &&
      ts.isIdentifier(node.name) &&
      node.name.text === name &&
      node.body
    )
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

module.exports = { PLAN_FORMAT_VERSION, PlanError, OPS, stripCodeFences, parsePlan, validatePlan, applyPlan }
