'use strict'
// The BuildFix engine in process: what the worker runs, for tools and tests that want it directly.

const { runJob, loadFixture, listSourceFiles, JobError, EMPTY_PLAN } = require('./engine')
const { collectDiagnostics, collectDiagnosticsFloor, formatDiagnostic, hasTarget } = require('./diagnostics')
const { PLAN_FORMAT_VERSION, PlanError, parsePlan, validatePlan, applyPlan, stripCodeFences } = require('./plan')
const { BUILTIN_MODELS, ModelError, generate, listModels, buildPrompt } = require('./models')
const { inferApi } = require('./clients')
const { summarize, writeResults, readResults } = require('./results')
const { SMALL_DIR, MASSIVE_DIR, listFixtures, describeFixtures, ensureMassive } = require('./fixtures')
const { PROTOCOL_VERSION } = require('./protocol')
const { validateFixture, validateFixtures } = require('./validate')
const { scaffoldFixture } = require('./scaffold')

module.exports = {
  runJob,
  loadFixture,
  listSourceFiles,
  JobError,
  EMPTY_PLAN,
  collectDiagnostics,
  collectDiagnosticsFloor,
  formatDiagnostic,
  hasTarget,
  PLAN_FORMAT_VERSION,
  PlanError,
  parsePlan,
  validatePlan,
  applyPlan,
  stripCodeFences,
  BUILTIN_MODELS,
  ModelError,
  generate,
  listModels,
  inferApi,
  buildPrompt,
  summarize,
  writeResults,
  readResults,
  SMALL_DIR,
  MASSIVE_DIR,
  listFixtures,
  describeFixtures,
  ensureMassive,
  validateFixture,
  validateFixtures,
  scaffoldFixture,
  PROTOCOL_VERSION,
  WORKER_SCRIPT: require('node:path').join(__dirname, 'buildfix-worker.js'),
}
