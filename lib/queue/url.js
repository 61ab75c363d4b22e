'use strict'
// The Redis URL of `--queue`: redis://[user:password@]host[:port][/db] (rediss:// for TLS).
// Checked once, here, into ioredis connection options; messages show the URL without its
// password, so a secret never reaches a terminal or a log.

/**
 * The connection options of a Redis URL, or an Error saying what is wrong with it.
 * @returns {{host: string, port: number, db: number, username?: string, password?: string, tls?: object}}
 */
function parseRedisUrl(raw) {
  let url
  try {
    url = new URL(raw)
  } catch {
    throw new Error('a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379/0')
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error('a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379/0')
  const host = url.hostname.replace(/^\[|\]$/g, '')
  if (host === '') throw new Error('a redis:// URL with a host, e.g. redis://127.0.0.1:6379')
  if (url.search || url.hash) throw new Error('a redis:// URL without ?query or #fragment')
  const port = url.port === '' ? 6379 : Number(url.port)
  let db = 0
  const dbPath = url.pathname.replace(/^\//, '')
  if (dbPath !== '') {
    if (!/^\d{1,5}$/.test(dbPath) || Number(dbPath) > 65535) throw new Error('a redis:// URL whose path is a database number, e.g. redis://127.0.0.1:6379/2')
    db = Number(dbPath)
  }
  const options = { host, port, db }
  if (url.username) options.username = decodeURIComponent(url.username)
  if (url.password) options.password = decodeURIComponent(url.password)
  if (url.protocol === 'rediss:') options.tls = { servername: host }
  return options
}

/** The URL as it may be shown: the password replaced by `***`. */
function redactRedisUrl(raw) {
  try {
    const url = new URL(raw)
    if (url.password) url.password = '***'
    return url.toString()
  } catch {
    // Not a URL, but it may still hold user:password@.
    return String(raw).replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@')
  }
}

module.exports = { parseRedisUrl, redactRedisUrl }
