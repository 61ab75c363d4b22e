'use strict'
// Structured output, shared by the clients: the modes from strictest to loosest, and what each
// endpoint was found to accept. A server that refuses a mode (HTTP 400/422: vLLM, llama.cpp and
// others each with their own error body) is asked again in the next one; the mode that then
// works is remembered for the endpoint, so the refusal costs one extra request per endpoint and
// process, not one per request.

const MODES = ['json_schema', 'json_object', 'text']
const accepted = new Map()

function firstMode(endpoint) {
  return accepted.get(endpoint) ?? MODES[0]
}

function nextMode(mode) {
  const i = MODES.indexOf(mode)
  return i >= 0 && i < MODES.length - 1 ? MODES[i + 1] : undefined
}

function remember(endpoint, mode) {
  if (mode !== MODES[0]) accepted.set(endpoint, mode)
}

/** An answer that says the request's output format is not supported (as opposed to a fault). */
function refusesFormat(status) {
  return status === 400 || status === 422
}

function forgetModes() {
  accepted.clear()
}

module.exports = { MODES, firstMode, nextMode, remember, refusesFormat, forgetModes }
