'use strict'
// Strict command-line parsing for promethean-bench. Every mistake becomes a UsageError whose
// message is one line saying what was wrong and what would be right; the caller turns it into
// exit code 2. Only long flags (`--name value` or `--name=value`) and `-h` exist.

const { parseArgs } = require('node:util')

class UsageError extends Error {
  constructor(message) {
    super(message)
    this.name = 'UsageError'
    this.exitCode = 2
  }
}

const DURATION_UNITS = { ms: 1, s: 1000, m: 60000 }

/** Converts one flag value by its kind; throws UsageError naming the flag. */
function convert(flag, kind, raw) {
  const bad = (expected) => new UsageError(`--${flag} must be ${expected}, got ${JSON.stringify(raw)}`)
  switch (kind.type) {
    case 'string': {
      if (raw === '') throw bad('a non-empty value')
      if (kind.choices && !kind.choices.includes(raw)) throw bad(`one of ${kind.choices.join(', ')}`)
      return raw
    }
    case 'list': {
      const items = raw.split(',').map((s) => s.trim())
      if (items.length === 0 || items.some((s) => s === '')) throw bad('a comma-separated list of non-empty names')
      return [...new Set(items)]
    }
    case 'int':
    case 'number': {
      const text = raw.trim()
      const value = text === '' ? NaN : Number(text)
      const min = kind.min ?? 0
      const max = kind.max ?? Number.MAX_SAFE_INTEGER
      const what = kind.type === 'int' ? 'a whole number' : 'a number'
      const range = kind.max === undefined ? `>= ${min}` : `from ${min} to ${max}`
      if (!Number.isFinite(value) || (kind.type === 'int' && !Number.isInteger(value))) throw bad(`${what} ${range}`)
      if (value < min || value > max || (kind.exclusiveMin && value === min)) {
        throw bad(`${what} ${kind.exclusiveMin ? `> ${min}` : range}`)
      }
      return value
    }
    case 'duration': {
      // Milliseconds like the rest of the package; `10s`, `2m`, `250ms` for convenience.
      const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(raw)
      const value = m ? Math.round(Number(m[1]) * DURATION_UNITS[m[2] ?? 'ms']) : NaN
      if (!Number.isFinite(value) || value < (kind.min ?? 0)) {
        throw bad(`a duration >= ${kind.min ?? 0}ms (a number of milliseconds, or with a unit: 500ms, 10s, 2m)`)
      }
      return value
    }
    case 'url': {
      let url
      try {
        url = new URL(raw)
      } catch {
        throw bad('an http:// or https:// URL')
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad('an http:// or https:// URL')
      return raw
    }
    case 'redis-url': {
      const { parseRedisUrl, redactRedisUrl } = require('../queue/url.js')
      try {
        parseRedisUrl(raw)
      } catch (err) {
        // The password never reaches the terminal.
        throw new UsageError(`--${flag} must be ${err.message}, got ${JSON.stringify(redactRedisUrl(raw))}`)
      }
      return raw
    }
    default:
      throw new Error(`unknown flag kind ${kind.type}`)
  }
}

/**
 * Parses `argv` against `spec` ({flagName: {type, default, ...}}); boolean flags have type 'bool'.
 * `--no-x` is the only negated form and exists only when the spec names it (`no-cache`).
 * Returns the values by camel-case name. Positionals are refused unless `positionals` is true;
 * then they are returned, in order, as `values.positionals`.
 *
 * `util.parseArgs` splits the words (`--name value`, `--name=value`, `--`, positionals) in its
 * non-strict mode; the rules and the one-line messages stay here, where the flag kinds are known.
 */
function parse(argv, spec, { command, positionals = false } = {}) {
  const values = {}
  for (const [name, kind] of Object.entries(spec)) {
    if (kind.default !== undefined) values[camel(name)] = kind.default
  }
  const options = {}
  for (const [name, kind] of Object.entries(spec)) options[name] = { type: kind.type === 'bool' ? 'boolean' : 'string' }
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true })
  const where = command ? ` for '${command}'` : ''
  const unexpected = (arg) => new UsageError(`unexpected argument ${JSON.stringify(arg)}${where}; flags are written --name value`)
  const found = []
  const seen = new Set()
  for (const token of tokens) {
    // The word as written: a short-option group (`-abc`) is one word, refused as a whole.
    const arg = argv[token.index]
    if (token.kind === 'option-terminator') throw unexpected(arg)
    if (token.kind === 'positional') {
      if (!positionals) throw unexpected(arg)
      found.push(arg)
      continue
    }
    if (token.rawName !== `--${token.name}`) {
      if (arg !== '-h') throw unexpected(arg)
      values.help = true
      continue
    }
    const { name } = token
    const kind = Object.hasOwn(spec, name) ? spec[name] : undefined
    if (!kind) {
      const near = suggest(name, Object.keys(spec))
      throw new UsageError(`unknown flag --${name}${where}${near ? ` (did you mean --${near}?)` : ''}`)
    }
    if (seen.has(name)) throw new UsageError(`--${name} given more than once`)
    seen.add(name)
    if (kind.type === 'bool') {
      if (token.inlineValue) throw new UsageError(`--${name} takes no value`)
      values[camel(name)] = true
      continue
    }
    const raw = token.value
    // A following flag is not a value: `--models --json` is a missing value, not a model named --json.
    if (raw === undefined || (!token.inlineValue && raw.startsWith('--') && raw.length > 2)) {
      throw new UsageError(`--${name} needs a value (${kind.hint ?? kind.type})`)
    }
    values[camel(name)] = convert(name, kind, raw)
  }
  if (positionals) values.positionals = found
  return values
}

function camel(name) {
  return name.replace(/-([a-z])/g, (_, c) => c.toUpperCase())
}

/** The closest known flag within edit distance 2, for "did you mean". */
function suggest(name, names) {
  let best
  let bestDistance = 3
  for (const candidate of names) {
    const d = distance(name, candidate)
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}

function distance(a, b) {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = tmp
    }
  }
  return row[b.length]
}

module.exports = { parse, convert, UsageError }
