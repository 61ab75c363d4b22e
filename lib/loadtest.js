'use strict'
// LoadTester and LoadTestReporter: the public load-testing surface (lib/loadtest/ holds the parts).
//
// Two executor paths share one plan (src/loadtest/plan.rs: when users start, arrivals are due and
// sending stops) and one accounting core (exact metrics in bounded memory):
// - a JS executor (the original's `requestExecutor(payload) => Promise`): the per-request loop
//   stays on the JS thread (lib/loadtest/closed-run.js, open-run.js), where calling a JS function
//   costs nanoseconds; plan times and results cross in batches, not per request;
// - a native HTTP target (`LoadTester.http({...})`): every request is sent from Rust on tokio,
//   with no JS crossing per request at all.
// See docs/loadtest.md for why and for the measurements.

const { HttpTarget } = require('./loadtest/http-target.js')
const { LoadTestReporter } = require('./loadtest/reporter.js')
const { LoadTester } = require('./loadtest/tester.js')

module.exports = { LoadTester, LoadTestReporter, HttpTarget }
