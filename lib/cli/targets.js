'use strict'
// Which models a run asks, and where: `--models name@endpoint,...`, the `models` of a config file
// (promethean-bench.config.json), and the shared `--endpoint`, `--api`, `--api-key-env` and
// `--max-concurrent-requests`. Everything is checked here, before anything starts, with errors
// that name the flag or the config field; the API and key-variable rules are the provider's own
// (`checkServer` of lib/provider/options.js), so they live once.

const fs = require('node:fs')
const path = require('node:path')

const { UsageError } = require('./args')
const { checkServer } = require('../provider/options')

const CONFIG_FILE = 'promethean-bench.config.json'
const CONFIG_KEYS = ['models', 'endpoint', 'api', 'apiKeyEnv', 'maxConcurrentRequests', 'seed', 'fixtures', 'fixturesDir', 'concurrency']
const MODEL_KEYS = ['name', 'endpoint', 'api', 'apiKeyEnv', 'maxConcurrentRequests', 'seed']

function isHttpUrl(text) {
  try {
    const url = new URL(text)
    return url.protocol === 'http:' || url.protocol === 'https:'
  } catch {
    return false
  }
}

/**
 * `name` or `name@http(s)://host...` (split at the last `@` that starts a URL, so model names
 * with `@` still work). Throws UsageError naming `where`.
 */
function parseModelSpec(spec, where = '--models') {
  const at = spec.search(/@[a-z][a-z0-9+.-]*:\/\/(?!.*@[a-z][a-z0-9+.-]*:\/\/)/i)
  if (at === -1) return { name: spec }
  const name = spec.slice(0, at)
  const endpoint = spec.slice(at + 1)
  if (name === '') throw new UsageError(`${where}: ${JSON.stringify(spec)} names no model before the @`)
  if (!isHttpUrl(endpoint)) throw new UsageError(`${where}: the endpoint of ${name} must be an http:// or https:// URL, got ${JSON.stringify(endpoint)}`)
  return { name, endpoint }
}

function fieldError(where, expected, value) {
  return new UsageError(`${where} must be ${expected}, got ${JSON.stringify(value)}`)
}

function positiveInt(where, value) {
  if (value === undefined) return undefined
  if (!Number.isInteger(value) || value < 1) throw fieldError(where, 'a whole number >= 1', value)
  return value
}

function checkModelEntry(entry, where) {
  if (typeof entry === 'string') return parseModelSpec(entry, where)
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    throw fieldError(where, "a model name, 'name@endpoint', or an object {name, endpoint?, api?, apiKeyEnv?, maxConcurrentRequests?, seed?}", entry)
  }
  for (const key of Object.keys(entry)) {
    if (!MODEL_KEYS.includes(key)) throw new UsageError(`${where}.${key} is not a model setting (expected ${MODEL_KEYS.join(', ')})`)
  }
  if (typeof entry.name !== 'string' || entry.name === '') throw fieldError(`${where}.name`, 'a non-empty string', entry.name)
  if (entry.endpoint !== undefined && (typeof entry.endpoint !== 'string' || !isHttpUrl(entry.endpoint))) {
    throw fieldError(`${where}.endpoint`, 'an http:// or https:// URL', entry.endpoint)
  }
  positiveInt(`${where}.maxConcurrentRequests`, entry.maxConcurrentRequests)
  if (entry.seed !== undefined && !Number.isSafeInteger(entry.seed)) throw fieldError(`${where}.seed`, 'an integer', entry.seed)
  return { ...entry }
}

/**
 * Reads and checks a config file. Returns the config with `models` as entries; relative
 * `fixturesDir` is taken from the file's folder. Throws UsageError naming the file and field.
 */
function loadConfig(file) {
  const where = path.basename(file)
  let text
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (err) {
    throw new UsageError(`--config: cannot read ${file} (${err.code || err.message})`)
  }
  let config
  try {
    config = JSON.parse(text)
  } catch (err) {
    throw new UsageError(`${where} is not valid JSON: ${err.message}`)
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new UsageError(`${where} must hold one JSON object`)
  for (const key of Object.keys(config)) {
    if (!CONFIG_KEYS.includes(key)) throw new UsageError(`${where}: ${key} is not a setting (expected ${CONFIG_KEYS.join(', ')})`)
  }
  const out = { ...config }
  if (config.models !== undefined) {
    if (!Array.isArray(config.models) || config.models.length === 0) throw fieldError(`${where}: models`, 'a non-empty array', config.models)
    out.models = config.models.map((m, i) => checkModelEntry(m, `${where}: models[${i}]`))
  }
  if (config.endpoint !== undefined && (typeof config.endpoint !== 'string' || !isHttpUrl(config.endpoint))) {
    throw fieldError(`${where}: endpoint`, 'an http:// or https:// URL', config.endpoint)
  }
  positiveInt(`${where}: maxConcurrentRequests`, config.maxConcurrentRequests)
  positiveInt(`${where}: concurrency`, config.concurrency)
  if (config.seed !== undefined && !Number.isSafeInteger(config.seed)) throw fieldError(`${where}: seed`, 'an integer', config.seed)
  if (config.fixtures !== undefined && (typeof config.fixtures !== 'string' || config.fixtures === '')) {
    throw fieldError(`${where}: fixtures`, "'small', 'massive' or comma-separated fixture names", config.fixtures)
  }
  if (config.fixturesDir !== undefined) {
    if (typeof config.fixturesDir !== 'string' || config.fixturesDir === '') throw fieldError(`${where}: fixturesDir`, 'a folder path', config.fixturesDir)
    out.fixturesDir = path.resolve(path.dirname(file), config.fixturesDir)
  }
  out.where = where
  return out
}

/**
 * The models of a run, each {name, endpoint?, api?, apiKeyEnv?, maxConcurrentRequests?, seed?}:
 * `--models` when given, else the config's, else gold; per-model settings over the config's
 * shared ones over the flags'. Checks the API and the key variable of each.
 */
function resolveTargets(opts, config) {
  const fromFlag = opts.modelsGiven || !config?.models
  const entries = fromFlag ? opts.models.map((m) => parseModelSpec(m)) : config.models
  const shared = {
    endpoint: opts.endpoint ?? config?.endpoint,
    api: opts.api ?? config?.api,
    apiKeyEnv: opts.apiKeyEnv ?? config?.apiKeyEnv,
    maxConcurrentRequests: opts.maxConcurrentRequests ?? config?.maxConcurrentRequests,
    seed: config?.seed,
  }
  return entries.map((entry, i) => {
    const t = { ...shared, ...dropUndefined(entry) }
    const where = fromFlag ? `--models (${t.name})` : `${config.where}: models[${i}]`
    const builtin = t.name === 'gold' || t.name === 'none'
    if (builtin) return { name: t.name }
    try {
      Object.assign(t, checkServer(where, t))
    } catch (err) {
      throw new UsageError(err.message)
    }
    return dropUndefined(t)
  })
}

function dropUndefined(o) {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined))
}

module.exports = { CONFIG_FILE, parseModelSpec, loadConfig, resolveTargets }
