'use strict'
// `LoadTester.http({...})`: a target whose requests are sent from Rust.

const { binding } = require('../native.js')
const v = require('../validate.js')

/**
 * A target for the native HTTP executor, made by `LoadTester.http()`. The request is built once
 * and sent from Rust; pass it to any run method in place of the generator and executor.
 */
class HttpTarget {
  constructor(options) {
    const o = v.optionsObject('options', options)
    const url = v.string('url', o.url)
    if (url === undefined) throw v.typeError('url', 'a string such as "http://127.0.0.1:8080/"', url)
    // WHATWG URL parsing refuses what no client could send to (`http://a b/`, `http://a<b/`);
    // the native side checks the host again and says what it supports (http://, no credentials).
    if (!URL.canParse(url)) throw v.typeError('url', 'a valid URL such as "http://127.0.0.1:8080/"', url)
    const method = v.string('method', o.method, o.body === undefined ? 'GET' : 'POST')
    const headers = {}
    if (o.headers !== undefined) {
      for (const [name, value] of Object.entries(v.optionsObject('headers', o.headers))) {
        if (typeof value !== 'string' && typeof value !== 'number') {
          throw v.typeError(`headers[${JSON.stringify(name)}]`, 'a string or number', value)
        }
        headers[name] = String(value)
      }
    }
    let body
    if (typeof o.body === 'string') body = o.body
    else if (o.body instanceof Uint8Array)
      body = Buffer.from(o.body) // a copy: later edits do not leak in
    else if (o.body !== undefined) {
      body = JSON.stringify(o.body)
      if (body === undefined) throw v.typeError('body', 'a string, Buffer or JSON-serialisable value', o.body)
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
        headers['Content-Type'] = 'application/json'
      }
    }
    // Its bounds are checked by the native side with the rest of the target.
    if (o.threads !== undefined && typeof o.threads !== 'number') throw v.typeError('threads', 'a whole number', o.threads)
    this.url = url
    this.method = method
    this.headers = headers
    this.body = body
    this.threads = o.threads ?? 1
    // Checked now, so a bad URL fails where it was written rather than when a test starts.
    binding.checkHttpTarget(this.#native())
    Object.freeze(this)
  }

  #native() {
    const body = typeof this.body === 'string' ? Buffer.from(this.body, 'utf8') : this.body
    return { url: this.url, method: this.method, headers: this.headers, body, threads: this.threads }
  }

  /** @internal */
  toNative() {
    return this.#native()
  }
}

module.exports = { HttpTarget }
