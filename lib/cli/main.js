'use strict'
// promethean-bench: run | loadtest | compare | fixtures. `main(argv, io)` returns the exit code:
// 0 success, 1 the run had failures (or could not run), 2 bad usage, 130 interrupted (io.signal
// aborted: the partial results are still written). Nothing here calls process.exit, so it can be
// driven in-process as well as from bin/promethean-bench.js.

const fs = require('node:fs')
const path = require('node:path')

const { makeDirSync } = require('../dirs.js')
const { parse, UsageError } = require('./args.js')
const { ProgressBar } = require('./progress.js')
const reports = require('./reports.js')
const { normalizeRecords, completeMetrics, checkResult } = require('./summary.js')
const { compareRuns } = require('./analysis.js')
const runtime = require('./runtime.js')
const fixturesCli = require('./fixtures.js')
const targets = require('./targets.js')
const chatCli = require('./chat.js')
const shards = require('./shard.js')
const { inferApi } = require('../../worker/clients')

const PROGRAM = 'promethean-bench'
const INTERRUPTED = 130

const COMMON = {
  help: { type: 'bool' },
  json: { type: 'bool' },
  out: { type: 'string', default: 'bench-results', hint: 'a folder' },
}

// The model servers of the chat commands, named as for `run`.
const SERVER_FLAGS = {
  models: { type: 'list', default: [], hint: 'comma-separated model names, each optionally name@endpoint' },
  endpoint: { type: 'url', hint: 'an http(s) URL' },
  api: { type: 'string', choices: ['ollama', 'openai'], hint: 'ollama or openai' },
  'api-key-env': { type: 'string', hint: 'the name of the environment variable holding the API key' },
  config: { type: 'string', hint: `a JSON file (default: ./${targets.CONFIG_FILE} when present)` },
}

// Distributed runs on a BullMQ queue in Redis (lib/queue/): the coordinator and the workers.
const QUEUE_FLAGS = {
  queue: { type: 'redis-url', hint: 'a redis:// URL, e.g. redis://127.0.0.1:6379/0' },
  'redis-timeout': { type: 'duration', min: 100, hint: 'a duration, e.g. 10s' },
}

const SPECS = {
  run: {
    ...COMMON,
    models: { type: 'list', default: ['gold'], hint: 'comma-separated model names, each optionally name@endpoint' },
    fixtures: { type: 'string', default: 'small', hint: 'small, massive or comma-separated fixture names' },
    'fixtures-dir': { type: 'string', hint: 'a folder of fixture folders' },
    endpoint: { type: 'url', hint: 'an http(s) URL' },
    api: { type: 'string', choices: ['ollama', 'openai'], hint: 'ollama or openai' },
    'api-key-env': { type: 'string', hint: 'the name of the environment variable holding the API key' },
    'max-concurrent-requests': { type: 'int', min: 1, max: 4096, hint: 'a whole number >= 1' },
    config: { type: 'string', hint: `a JSON file (default: ./${targets.CONFIG_FILE} when present)` },
    concurrency: { type: 'int', min: 1, max: 256, default: 1, hint: 'a whole number >= 1' },
    workers: { type: 'int', min: 1, max: 256, hint: 'a whole number >= 1' },
    'no-cache': { type: 'bool' },
    history: { type: 'string', hint: 'a file path' },
    'no-history': { type: 'bool' },
    shard: { type: 'string', hint: 'i/n, e.g. 2/4' },
    'shared-cache': { type: 'redis-url', hint: 'a redis:// URL, e.g. redis://127.0.0.1:6379/0' },
    ...QUEUE_FLAGS,
  },
  merge: {
    help: { type: 'bool' },
    json: { type: 'bool' },
    'allow-partial': { type: 'bool' },
    history: { type: 'string', hint: 'a file path' },
    'no-history': { type: 'bool' },
  },
  worker: {
    help: { type: 'bool' },
    ...QUEUE_FLAGS,
    'shared-cache': { type: 'redis-url', hint: 'a redis:// URL, e.g. redis://127.0.0.1:6379/0' },
    workers: { type: 'int', min: 1, max: 256, hint: 'a whole number >= 1' },
    concurrency: { type: 'int', min: 1, max: 256, default: 1, hint: 'a whole number >= 1' },
    'lock-duration': { type: 'duration', min: 1000, hint: 'a duration >= 1s, e.g. 10s' },
    'stalled-interval': { type: 'duration', min: 500, hint: 'a duration >= 500ms, e.g. 5s' },
  },
  loadtest: {
    ...COMMON,
    users: { type: 'int', min: 1, max: 10000, default: 4, hint: 'a whole number >= 1' },
    requests: { type: 'int', min: 1, default: 5, hint: 'requests per user' },
    'ramp-up': { type: 'duration', default: 0, hint: 'a duration, e.g. 2s' },
    duration: { type: 'duration', min: 1, default: 60000, hint: 'a duration, e.g. 30s' },
    rate: { type: 'number', min: 0, exclusiveMin: true, max: 10000, hint: 'requests per second' },
    timeout: { type: 'duration', min: 1, default: 30000, hint: 'a duration, e.g. 30s' },
    url: { type: 'url', hint: 'an http(s) URL' },
    model: { type: 'string', default: 'gold', hint: 'a model name' },
    fixtures: { type: 'string', default: 'small', hint: 'small, massive or comma-separated fixture names' },
    endpoint: { type: 'url', hint: 'an http(s) URL' },
    workers: { type: 'int', min: 1, max: 256, hint: 'a whole number >= 1' },
    'no-cache': { type: 'bool' },
  },
  compare: {
    ...COMMON,
    model: { type: 'string', default: 'gold', hint: 'a model name' },
    fixtures: { type: 'string', default: 'small', hint: 'small, massive or comma-separated fixture names' },
    requests: { type: 'int', min: 1, default: 12, hint: 'requests per provider' },
    concurrency: { type: 'int', min: 1, max: 256, default: 1, hint: 'a whole number >= 1' },
    workers: { type: 'int', min: 1, max: 256, hint: 'a whole number >= 1' },
    checkers: { type: 'string', choices: ['thread', 'process'], hint: 'thread or process' },
    endpoint: { type: 'url', hint: 'an http(s) URL' },
    'no-cache': { type: 'bool' },
  },
  'compare-runs': {
    ...COMMON,
  },
  chat: {
    ...COMMON,
    ...SERVER_FLAGS,
    suite: {
      type: 'string',
      hint: 'a JSON file {"name"?, "requests": [{"prompt", "maxTokens"?, "temperature"?, "metadata"?: {"expected"?}}], "iterations"?, "warmupIterations"?}',
    },
    iterations: { type: 'int', min: 1, max: 100000, hint: 'a whole number >= 1' },
    warmup: { type: 'int', min: 0, max: 100000, hint: 'a whole number >= 0' },
    'max-tokens': { type: 'int', min: 1, max: 1000000, hint: 'a whole number >= 1' },
    timeout: { type: 'duration', min: 1, hint: 'a duration, e.g. 2m' },
  },
  health: { ...COMMON, ...SERVER_FLAGS, timeout: { type: 'duration', min: 1, hint: 'a duration, e.g. 10s' } },
  models: { ...COMMON, ...SERVER_FLAGS, timeout: { type: 'duration', min: 1, hint: 'a duration, e.g. 10s' } },
  history: {
    ...COMMON,
    history: { type: 'string', hint: 'a file path' },
    check: { type: 'bool' },
    limit: { type: 'int', min: 1, max: 10000, default: 20, hint: 'a whole number >= 1' },
    window: { type: 'int', min: 1, max: 1000, default: 5, hint: 'a whole number >= 1' },
    'duration-threshold': { type: 'number', min: 0, max: 100, default: 50, hint: 'a percentage, e.g. 50' },
    'min-duration-delta': { type: 'duration', default: 50, hint: 'a duration, e.g. 50ms' },
  },
}

/** The history file: --history, else history.sqlite in the --out folder. */
function historyFile(opts) {
  return path.resolve(opts.history ?? path.join(opts.out, 'history.sqlite'))
}

const HELP = {
  program: `Usage: ${PROGRAM} [command] [flags]

Commands:
  run        BuildFix benchmark over models x fixtures (the default command)
  loadtest   drive the provider (or an HTTP --url) with concurrent users or a fixed rate
  compare    the same workload through BuildFixProvider and EnhancedBuildFixProvider
  compare-runs A.json B.json
             two saved runs compared model by model on the fixtures both ran
  merge OUT SHARD.json...
             the reports of 'run --shard i/n' merged into the report of the whole run
  history    the trend per model over the recorded runs; --check fails on a regression
  worker     take the jobs of distributed runs ('run --queue URL') from Redis
  fixtures   validate, scaffold or mine BuildFix fixtures (fixtures validate|new|mine)
  chat       chat benchmark of model servers: time to first token, tokens/s, latency, errors
  health     whether each model server answers
  models     the models each model server offers

With no arguments: '${PROGRAM} run' with the gold model on the bundled small fixtures.
'${PROGRAM} <command> --help' (or '${PROGRAM} help <command>') describes each command.

Exit codes: 0 success, 1 the run had failures, 2 bad usage, 130 interrupted (Ctrl-C: the work
in flight finishes and the reports hold the partial results).`,
  run: `Usage: ${PROGRAM} run [flags]

BuildFix benchmark over models x fixtures. Writes the results JSON (the original runner's
{results, summary, timestamp}), a Markdown report and a self-contained HTML report to --out.

Flags:
  --models a,b          models to run (default: gold). Built in: gold (reference plans), none
                        (empty plans); any other name is asked of the model server at --endpoint,
                        or at its own: qwen3:8b@http://gpu1:11434,llama-3.1-8b@http://gpu2:8000/v1
  --api ollama|openai   the API of the model servers (default: openai for endpoints ending in
                        /v1, else ollama)
  --api-key-env NAME    environment variable holding the API key (the key is never written)
  --max-concurrent-requests N
                        model requests in flight per endpoint (default: no limit)
  --config FILE         models, endpoints, APIs, key variables, fixtures and concurrency from a
                        JSON file (default: ./${targets.CONFIG_FILE} when present); flags win
  --fixtures SET        small (default), massive, or comma-separated fixture names
  --fixtures-dir DIR    your own folder of fixture folders instead of the bundled set
                        (--fixtures then names fixtures of DIR); see '${PROGRAM} fixtures'
  --endpoint URL        model server of models without an @endpoint (Ollama's API, or an
                        OpenAI-compatible one ending in /v1)
  --concurrency N       fixtures in flight at once (default: 1)
  --workers N           most worker processes (default: what this machine runs well, one per
                        core; more is capped with a warning)
  --no-cache            do not use or fill the result cache
  --out DIR             folder for the reports (default: bench-results)
  --history FILE        run history to append to (default: DIR/history.sqlite of --out)
  --no-history          do not record this run in the history
  --shared-cache URL    share the result cache through this Redis (redis://HOST:PORT/DB): an
                        answer computed on one machine is a hit on another; Redis down or slow
                        only costs the hits (a notice per failure, the run goes on)
  --shard i/n           run the i-th of n shards of the jobs (fixture x model), for
                        '${PROGRAM} merge' to put back together; a shard is not recorded in
                        the history (the merged run is)
  --queue URL           distributed: put the jobs on a BullMQ queue in this Redis
                        (redis://HOST:PORT/DB) for '${PROGRAM} worker --queue URL' processes
                        to run, and gather their results (the workers' settings decide
                        --workers and --concurrency)
  --redis-timeout D     with --queue: how long Redis may be unreachable before the run fails
                        (default: 10s)
  --json                print one JSON document on stdout instead of the text summary
  -h, --help            this help

Exit codes: 0 every fixture passed, 1 some fixture failed, the run could not start or could not
be recorded in the history (or Redis went away), 2 bad usage.`,
  merge: `Usage: ${PROGRAM} merge OUT SHARD.json... [flags]

Merges the results files of '${PROGRAM} run --shard i/n' (one per shard, any order) into the
report of the whole run, written to the folder OUT as a run writes its reports (JSON, Markdown,
HTML), with the results in the order an unsharded run has. Refuses reports that do not belong
together: another job set (models, fixtures and their content, plan format, package, TypeScript),
mixed shard totals, a shard given twice, a result that is not a job of its shard; and, unless
--allow-partial, a missing shard, an interrupted one or one short of results.

Flags:
  --allow-partial       merge what is there when shards or results are missing
  --history FILE        run history the merged run is appended to (default: OUT/history.sqlite)
  --no-history          do not record the merged run in the history
  --json                print one JSON document on stdout instead of the text summary
  -h, --help            this help

Exit codes: 0 every fixture passed, 1 some fixture failed (or the history could not be written),
2 bad usage (a file that cannot be read, is not a shard report, or does not belong).`,
  worker: `Usage: ${PROGRAM} worker --queue URL [flags]

Takes the jobs of distributed runs ('${PROGRAM} run --queue URL') from the BullMQ queues in
this Redis and runs them on its own warm worker processes, until Ctrl-C (the jobs in flight
finish first). Start any number, on any machines that have the same fixtures: a job whose
fixture is missing here or differs from the coordinator's (content hash) fails with the reason.
A worker that dies mid-job loses its lock; after --lock-duration another worker takes the job
(checked every --stalled-interval), and the run counts it once. Prints one line per job.

Flags:
  --queue URL           the Redis of the runs (redis://HOST:PORT/DB), required
  --concurrency N       jobs in flight at once (default: 1)
  --workers N           most worker processes of its providers (default: what this machine
                        runs well)
  --lock-duration D     how long a job's lock lasts without renewal (renewed every half of
                        it while the job runs; default: 10s)
  --stalled-interval D  how often the locks of the jobs in flight are checked (default: 5s)
  --shared-cache URL    share the result cache through this Redis, as 'run --shared-cache'
  --redis-timeout D     how long Redis may be unreachable before the worker stops with exit 1
                        (default: 10s)
  -h, --help            this help

Exit codes: 130 stopped by Ctrl-C, 1 Redis unreachable (at start or for --redis-timeout),
2 bad usage.`,
  loadtest: `Usage: ${PROGRAM} loadtest [flags]

Load test of the BuildFix provider, or of an HTTP endpoint with --url. Closed model by default
(--users each sending --requests one after another); --rate switches to the open model
(requests start at a fixed rate for --duration, whatever the response times).
Prints the LoadTestReporter report; writes JSON and an HTML report with a latency-over-time chart.

Flags:
  --users N             concurrent users (default: 4)
  --requests N          requests per user (default: 5)
  --ramp-up D           time over which users start (default: 0)
  --duration D          nothing new starts after this (default: 60s)
  --rate R              open model: R requests per second for --duration
  --timeout D           a request slower than this fails (default: 30s)
  --url URL             load an HTTP endpoint (GET) instead of the provider
  --model NAME          provider model (default: gold)
  --fixtures SET        small (default), massive, or comma-separated fixture names
  --endpoint URL        Ollama-compatible model server for the provider
  --workers N           most worker processes (default: what this machine runs well, one per
                        core; more is capped with a warning)
  --no-cache            do not use the provider's result cache
  --out DIR             folder for the reports (default: bench-results)
  --json                print one JSON document on stdout instead of the text report
  -h, --help            this help
Durations are milliseconds, or with a unit: 500ms, 10s, 2m.

Exit codes: 0 no request failed, 1 some request failed, 2 bad usage.`,
  compare: `Usage: ${PROGRAM} compare [flags]

Runs the same workload through BuildFixProvider (the guide's "before": a fresh process per
request) and EnhancedBuildFixProvider (the "after") and prints the guide's before/after table as
measured on this machine, with the guide's claimed figures beside it. Writes JSON and Markdown.

Flags:
  --model NAME          model (default: gold)
  --fixtures SET        small (default), massive, or comma-separated fixture names
  --requests N          requests per provider (default: 12)
  --concurrency N       requests in flight at once (default: 1); they queue for the workers
  --workers N           most worker processes (default: what this machine runs well, one per
                        core; more is capped with a warning)
  --checkers KIND       EnhancedBuildFixProvider's checkers: thread (default: threads of this
                        process) or process (a worker process each)
  --endpoint URL        Ollama-compatible model server
  --no-cache            run EnhancedBuildFixProvider with its cache off
  --out DIR             folder for the reports (default: bench-results)
  --json                print one JSON document on stdout instead of the table
  -h, --help            this help

Exit codes: 0 no request failed, 1 some request failed, 2 bad usage.`,
  'compare-runs': `Usage: ${PROGRAM} compare-runs A.json B.json [flags]

Compares two saved runs (results JSON files written by '${PROGRAM} run'), for instance one
model before and after a prompt change. Models found in both runs are compared by name; when
the runs share no model and hold one each, those two are compared. Results are paired by
fixture name and content hash: both pass, only A, only B, neither; the difference in pass rate
with a 95% confidence interval (Newcombe) and McNemar's exact p-value. Writes JSON, Markdown
and a self-contained HTML page to --out.

Flags:
  --out DIR             folder for the reports (default: bench-results)
  --json                print one JSON document on stdout instead of the text report
  -h, --help            this help

Exit codes: 0 B is not significantly worse than A for any model, 1 it is (p < 0.05), 2 bad usage
(a missing or unreadable file, or one that is not a results file).`,
  history: `Usage: ${PROGRAM} history [flags]

Prints the trend per model over its last --limit runs (pass rate, p50/p95 duration, tokens) from
the run history that '${PROGRAM} run' appends to, and writes a self-contained HTML page with charts.
With --check, compares each model's latest run with the --window runs before it and exits 1 when
it is worse beyond noise, with one line per model saying why:
  pass rate   McNemar's exact test on the fixtures shared with the earlier runs (same name and
              content; a fixture's earlier outcome is a pass when it passed in at least half of
              them): a regression when p < 0.05 and the latest run passes fewer
  duration    p50 above the median of the earlier runs' p50s by more than --duration-threshold
              percent and by at least --min-duration-delta
Made to run in CI after every benchmark.

Flags:
  --history FILE        the history (default: DIR/history.sqlite of --out)
  --check               check the latest run of each model; exit 1 on a regression
  --limit N             runs per model in the trend (default: 20)
  --window N            earlier runs the latest is compared with (default: 5)
  --duration-threshold P  percent slower that counts as a regression (default: 50)
  --min-duration-delta D  and at least this much slower (default: 50ms)
  --out DIR             folder for the HTML page (default: bench-results)
  --json                print one JSON document on stdout instead of the text report
  -h, --help            this help

Exit codes: 0 no regression (or no --check), 1 a model regressed or the history cannot be read
(not a history file, or written by a newer version: it is never reset), 2 bad usage.`,
  chat: `Usage: ${PROGRAM} chat [flags]

Chat benchmark of model servers (Ollama's API, or OpenAI-compatible ones: vLLM, llama.cpp,
OpenAI...): every prompt of the suite to every model, streamed, --iterations times after --warmup
rounds that are not counted. Prints the comparison table (time to first token, tokens per second,
latency: means and percentiles; error rates; where each figure came from) and writes JSON,
Markdown and HTML reports to --out.

Flags:
  --models a,b          models to compare, each name@endpoint or on --endpoint
                        (or the config file's models)
  --endpoint URL        model server of models without an @endpoint
  --api ollama|openai   the API of the model servers (default: openai for endpoints ending in
                        /v1, else ollama)
  --api-key-env NAME    environment variable holding the API key (the key is never written)
  --config FILE         models, endpoints, APIs and key variables from a JSON file
                        (default: ./${targets.CONFIG_FILE} when present); flags win
  --suite FILE          prompts from a JSON file {"requests": [{"prompt": ...}], ...}
                        (default: a few built-in prompts with expected answers)
  --iterations N        measured rounds (default: the suite's, else 1)
  --warmup N            rounds before, not counted (default: the suite's, else 0)
  --max-tokens N        cap every answer at N tokens
  --timeout D           deadline of one request (default: 2m)
  --out DIR             folder for the reports (default: bench-results)
  --json                print one JSON document on stdout instead of the table
  -h, --help            this help

Exit codes: 0 every request succeeded, 1 some failed, 2 bad usage, 130 interrupted (the reports
hold the results so far).`,
  health: `Usage: ${PROGRAM} health [flags]

Asks each model server for its models and says whether it answered, and how fast.

Flags:
  --models a,b | --endpoint URL | --api | --api-key-env | --config   the servers, as for chat
                        (with only --endpoint, that one server)
  --timeout D           how long to wait for each (default: 2m)
  --json                print one JSON document
  -h, --help            this help

Exit codes: 0 every server answered, 1 some did not, 2 bad usage.`,
  models: `Usage: ${PROGRAM} models [flags]

Lists the models each model server offers (GET /api/tags, or /models of an OpenAI-style API).

Flags:
  --models a,b | --endpoint URL | --api | --api-key-env | --config   the servers, as for chat
                        (with only --endpoint, that one server)
  --timeout D           how long to wait for each (default: 2m)
  --json                print one JSON document
  -h, --help            this help

Exit codes: 0 every server answered, 1 some did not, 2 bad usage.`,
}

/** small | massive | a list of fixture names. */
function fixtureSelection(value) {
  if (value === 'small' || value === 'massive') return value
  const names = value.split(',').map((s) => s.trim())
  if (names.some((n) => n === '')) throw new UsageError(`--fixtures must be small, massive or comma-separated fixture names, got ${JSON.stringify(value)}`)
  return [...new Set(names)]
}

function fixtureLabel(f) {
  return Array.isArray(f) ? f.join(',') : f
}

/** File-name form of an ISO timestamp, to the millisecond so back-to-back runs do not collide. */
function stamp(timestamp) {
  return timestamp.replace(/:/g, '-').replace('.', '-')
}

function writeFileAtomic(file, text) {
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, text)
  fs.renameSync(tmp, file)
}

/** Engines: injected ones first, then the test hook module, then the package's defaults. */
function engines(io) {
  const hook = io.env.PROMETHEAN_BENCH_TEST_RUNNER
  const fromHook = hook ? require(path.resolve(hook)) : {}
  return { ...runtime.defaults, ...fromHook, ...(io.deps ?? {}) }
}

function progressFor(io, unit) {
  const bar = new ProgressBar(io.stderr, { unit })
  let passed = 0
  let failed = 0
  return {
    onProgress(event) {
      const ok = event.result ? event.result.success : event.success
      if (ok === true) passed++
      else if (ok === false) failed++
      bar.update({ done: event.done, total: event.total, passed, failed })
    },
    done: () => bar.done(),
  }
}

function interrupted(io) {
  return Boolean(io.signal && io.signal.aborted)
}

/** The exit code once the reports are written: interrupted beats failed beats success. */
function finish(io, failed) {
  if (interrupted(io)) {
    io.stderr.write(`${PROGRAM}: interrupted; the reports hold the partial results\n`)
    return INTERRUPTED
  }
  return failed ? 1 : 0
}

/** Where each model was asked, when any has an endpoint of its own (names and URLs only). */
function endpointsMeta(list = []) {
  const served = list.filter((t) => t.endpoint)
  if (served.length === 0) return {}
  return { endpoints: Object.fromEntries(served.map((t) => [t.name, { endpoint: t.endpoint, api: t.api }])) }
}

/**
 * A shard's jobs and what its report records ({shard, jobSet}): the engine lists the run's
 * fixtures, the job set is built from them and the models, and the shard takes its part.
 */
async function shardPlan(opts, fixtures, eng) {
  if (typeof eng.fixtureSet !== 'function') throw new Error('the benchmark runner cannot list its fixtures, which --shard needs')
  const listed = await eng.fixtureSet({ fixtures, ...(opts.fixturesDir ? { fixturesDir: opts.fixturesDir } : {}) })
  const jobSet = shards.jobSet({ targets: opts.targets ?? opts.models.map((name) => ({ name })), fixtures: listed })
  const jobs = shards.shardJobs(shards.jobList(jobSet), opts.shard)
  return { jobs, meta: { shard: { ...opts.shard, jobs: jobs.length }, jobSet } }
}

/** With --queue, the distributed engine of lib/queue/ in place of the local one. */
function queueEngine(opts, io) {
  return (o) =>
    require('../queue/coordinator.js').runQueued({
      ...o,
      queue: opts.queue,
      redisTimeout: opts.redisTimeout,
      notice: (line) => io.stderr.write(`${PROGRAM} run: ${line}\n`),
    })
}

async function cmdWorker(opts, io) {
  return require('../queue/worker.js').runWorker({
    url: opts.queue,
    workers: opts.workers,
    concurrency: opts.concurrency,
    lockDuration: opts.lockDuration,
    stalledInterval: opts.stalledInterval,
    redisTimeout: opts.redisTimeout,
    sharedCache: opts.sharedCache,
    signal: io.signal,
    log: (line) => io.stdout.write(`${line}\n`),
    notice: (line) => io.stderr.write(`${PROGRAM} ${line}\n`),
  })
}

async function cmdRun(opts, io, eng) {
  const fixtures = fixtureSelection(opts.fixtures)
  const cache = !opts.noCache
  const plan = opts.shard ? await shardPlan(opts, fixtures, eng) : null
  const progress = progressFor(io, 'fixtures')
  const runBenchmark = opts.queue ? queueEngine(opts, io) : eng.runBenchmark
  let results
  try {
    const dir = opts.fixturesDir ? { fixturesDir: opts.fixturesDir } : {}
    const out = await runBenchmark({
      models: opts.models,
      targets: opts.targets,
      fixtures,
      ...dir,
      ...(plan ? { jobs: plan.jobs } : {}),
      endpoint: opts.endpoint,
      concurrency: opts.concurrency,
      workers: opts.workers,
      cache,
      ...(opts.sharedCache ? { sharedCache: opts.sharedCache } : {}),
      onProgress: progress.onProgress,
      onNotice: (line) => io.stderr.write(`${PROGRAM} run: ${line}\n`),
      signal: io.signal,
    })
    results = Array.isArray(out) ? out : out && out.results
    if (!Array.isArray(results)) throw new TypeError('the benchmark runner returned no results array')
  } finally {
    progress.done()
  }
  if (plan) shards.checkShardResults(results, plan.jobs, opts.shard)
  const meta = {
    models: opts.models,
    fixtures: fixtureLabel(fixtures),
    ...(opts.fixturesDir ? { fixturesDir: opts.fixturesDir } : {}),
    endpoint: opts.endpoint ?? null,
    ...endpointsMeta(opts.targets),
    concurrency: opts.concurrency,
    cache,
    interrupted: interrupted(io),
    ...(plan ? plan.meta : {}),
  }
  // A shard is part of a run: it goes in the history once merged, and may rightly have no job.
  return writeRunReports(results, meta, opts, io, { command: 'run', record: !plan, expected: plan ? plan.jobs.length : undefined })
}

/**
 * The reports of a run (JSON, Markdown, HTML under opts.out), the history record, the summary
 * and the exit code: one code for `run` and `merge`, so a merged run's report is a run's report.
 */
async function writeRunReports(results, meta, opts, io, { command, record, expected }) {
  const timestamp = new Date().toISOString()
  const doc = reports.resultsDocument(results, { timestamp, meta })
  makeDirSync(opts.out)
  const base = path.resolve(opts.out, `benchmark-results-${stamp(timestamp)}`)
  const files = { json: `${base}.json`, markdown: `${base}.md`, html: `${base}.html` }
  writeFileAtomic(files.json, `${JSON.stringify(doc, null, 2)}\n`)
  writeFileAtomic(files.markdown, reports.runMarkdown(doc))
  writeFileAtomic(files.html, reports.runHtml(doc))
  let failedRun = doc.summary.failedTests > 0 || (doc.summary.totalTests === 0 && expected !== 0)
  // Recorded after the reports are on disk, so a history that cannot be written loses nothing.
  if (record && !opts.noHistory && results.length > 0) {
    try {
      files.history = await recordRun(doc, historyFile(opts), meta.endpoint ?? '')
    } catch (err) {
      io.stderr.write(`${PROGRAM} ${command}: the run was not recorded in the history: ${err.message.split('\n')[0]}\n`)
      failedRun = true
    }
  }
  if (opts.json) {
    io.stdout.write(`${JSON.stringify({ ...doc, files })}\n`)
    io.stderr.write(`${reports.runSummaryText(doc)}\nResults saved to: ${files.json}\n`)
  } else {
    io.stdout.write(`${reports.runSummaryText(doc)}\n\n`)
    io.stdout.write(`Results saved to: ${files.json}\nMarkdown report saved to: ${files.markdown}\nHTML report saved to: ${files.html}\n`)
    if (files.history) io.stdout.write(`Run recorded in history: ${files.history}\n`)
  }
  return finish(io, failedRun)
}

async function cmdLoadTest(opts, io, eng) {
  const fixtures = fixtureSelection(opts.fixtures)
  const progress = progressFor(io, 'requests')
  const config = {
    users: opts.users,
    requests: opts.requests,
    rampUp: opts.rampUp,
    duration: opts.duration,
    rate: opts.rate,
    timeout: opts.timeout,
    url: opts.url,
    model: opts.model,
    fixtures,
    endpoint: opts.endpoint,
    workers: opts.workers,
    cache: !opts.noCache,
  }
  let out
  try {
    out = await eng.runLoadTest({ ...config, onProgress: progress.onProgress, signal: io.signal })
  } finally {
    progress.done()
  }
  if (!out || !out.metrics) throw new TypeError('the load test runner returned no metrics')
  out = { ...out, metrics: completeMetrics(out.metrics) }
  const timestamp = new Date().toISOString()
  const doc = {
    config: { ...config, fixtures: fixtureLabel(fixtures), mode: opts.rate ? 'open' : 'closed', interrupted: interrupted(io) },
    metrics: out.metrics,
    records: normalizeRecords(out.records),
    timestamp,
  }
  const text = (await eng.loadTestReport(out.metrics)) ?? reports.fallbackLoadTestText(out.metrics)
  makeDirSync(opts.out)
  const base = path.resolve(opts.out, `load-test-${stamp(timestamp)}`)
  const files = { json: `${base}.json`, html: `${base}.html`, text: `${base}.txt` }
  writeFileAtomic(files.json, `${JSON.stringify(doc, null, 2)}\n`)
  writeFileAtomic(files.html, reports.loadTestHtml({ metrics: out.metrics, records: out.records, config: doc.config, timestamp }))
  writeFileAtomic(files.text, `${text}\n`)
  if (opts.json) {
    io.stdout.write(`${JSON.stringify({ ...doc, files })}\n`)
    io.stderr.write(`Results saved to: ${files.json}\n`)
  } else {
    io.stdout.write(`${text}\n\nResults saved to: ${files.json}\nHTML report saved to: ${files.html}\n`)
  }
  return finish(io, out.metrics.failedRequests > 0 || out.metrics.totalRequests === 0)
}

async function cmdCompare(opts, io, eng) {
  const fixtures = fixtureSelection(opts.fixtures)
  const progress = progressFor(io, 'requests')
  const workload = {
    model: opts.model,
    fixtures: fixtureLabel(fixtures),
    requests: opts.requests,
    concurrency: opts.concurrency,
    workers: opts.workers ?? null,
    checkers: opts.checkers ?? 'thread',
    cache: !opts.noCache,
    endpoint: opts.endpoint ?? null,
  }
  const signal = io.signal
  let out
  try {
    out = await eng.runCompare({ ...workload, fixtures, onProgress: progress.onProgress, signal })
  } finally {
    progress.done()
  }
  if (!out || !out.before || !out.after) throw new TypeError('the compare runner returned no before/after figures')
  for (const side of ['before', 'after']) {
    for (const k of ['totalRequests', 'failedRequests', 'averageResponseTime', 'requestsPerSecond', 'peakRss', 'cpuPercent', 'errorRate']) {
      const v = out[side][k]
      if (typeof v !== 'number' || !Number.isFinite(v))
        throw new TypeError(
          `the compare runner's ${side}.${k} must be a finite number, got ${v === undefined ? 'nothing' : typeof v === 'number' ? String(v) : JSON.stringify(v)}`,
        )
    }
  }
  const timestamp = new Date().toISOString()
  const data = { workload: { ...workload, interrupted: interrupted(io) }, timestamp, before: out.before, after: out.after }
  const doc = reports.compareDocument(data)
  makeDirSync(opts.out)
  const base = path.resolve(opts.out, `compare-${stamp(timestamp)}`)
  const files = { json: `${base}.json`, markdown: `${base}.md` }
  writeFileAtomic(files.json, `${JSON.stringify(doc, null, 2)}\n`)
  writeFileAtomic(files.markdown, reports.compareMarkdown(data))
  if (opts.json) {
    io.stdout.write(`${JSON.stringify({ ...doc, files })}\n`)
    io.stderr.write(`Results saved to: ${files.json}\n`)
  } else {
    io.stdout.write(`${reports.compareText(data)}\n\nResults saved to: ${files.json}\nMarkdown report saved to: ${files.markdown}\n`)
  }
  return finish(io, out.before.failedRequests + out.after.failedRequests > 0)
}

/** A results JSON file of `run` (or of the original runner): {results, ...}, checked. */
function readRunFile(file, label) {
  let doc
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (err) {
    throw new UsageError(`${label} ${JSON.stringify(file)} cannot be read as JSON: ${err.message.split('\n')[0]}`)
  }
  if (!doc || !Array.isArray(doc.results)) throw new UsageError(`${label} ${JSON.stringify(file)} is not a results file (no results array)`)
  try {
    doc.results.forEach(checkResult)
  } catch (err) {
    throw new UsageError(`${label} ${JSON.stringify(file)}: ${err.message}`)
  }
  return doc
}

async function cmdCompareRuns(opts, io) {
  const [fileA, fileB] = opts.positionals
  const docA = readRunFile(fileA, 'A')
  const docB = readRunFile(fileB, 'B')
  const timestamp = new Date().toISOString()
  const data = {
    timestamp,
    a: { file: path.resolve(fileA), timestamp: docA.timestamp ?? null },
    b: { file: path.resolve(fileB), timestamp: docB.timestamp ?? null },
    ...compareRuns(docA, docB),
  }
  makeDirSync(opts.out)
  const base = path.resolve(opts.out, `compare-runs-${stamp(timestamp)}`)
  const files = { json: `${base}.json`, markdown: `${base}.md`, html: `${base}.html` }
  writeFileAtomic(files.json, `${JSON.stringify(data, null, 2)}\n`)
  writeFileAtomic(files.markdown, reports.compareRunsMarkdown(data))
  writeFileAtomic(files.html, reports.compareRunsHtml(data))
  if (opts.json) {
    io.stdout.write(`${JSON.stringify({ ...data, files })}\n`)
    io.stderr.write(`Results saved to: ${files.json}\n`)
  } else {
    io.stdout.write(
      `${reports.compareRunsText(data)}\n\nResults saved to: ${files.json}\nMarkdown report saved to: ${files.markdown}\nHTML report saved to: ${files.html}\n`,
    )
  }
  return data.comparisons.some((c) => c.significant && c.passRateB < c.passRateA) ? 1 : 0
}

async function cmdMerge(opts, io) {
  const [, ...files] = opts.positionals
  const entries = files.map((file) => ({ file: path.resolve(file), doc: readRunFile(file, 'shard report') }))
  const merged = shards.mergeShards(entries, { allowPartial: opts.allowPartial })
  if (merged.run.merged.missing.length > 0) {
    io.stderr.write(
      `${PROGRAM} merge: shards ${merged.run.merged.missing.join(', ')} of ${merged.run.merged.total} missing; the report holds the others (--allow-partial)\n`,
    )
  }
  return writeRunReports(merged.results, merged.run, opts, io, { command: 'merge', record: true })
}

/** Appends the run to the history file (the native store is loaded only here). */
async function recordRun(doc, file, endpoint) {
  const { openHistory } = require('../history.js')
  const history = await openHistory(file)
  try {
    await history.append(doc, { endpoint })
  } finally {
    await history.close()
  }
  return file
}

async function cmdHistory(opts, io) {
  const { openHistory } = require('../history.js')
  const file = historyFile(opts)
  if (!fs.existsSync(file)) throw new Error(`no history at ${file}: '${PROGRAM} run' records one there (or pass --history FILE)`)
  const history = await openHistory(file)
  let trend
  let checks = null
  try {
    trend = await history.trend({ limit: opts.limit })
    if (opts.check) {
      checks = await history.check({ window: opts.window, durationThreshold: opts.durationThreshold / 100, minDurationDelta: opts.minDurationDelta })
    }
  } finally {
    await history.close()
  }
  const timestamp = new Date().toISOString()
  const data = { history: file, timestamp, trend, checks }
  makeDirSync(opts.out)
  const files = { html: path.resolve(opts.out, `history-${stamp(timestamp)}.html`) }
  writeFileAtomic(files.html, reports.historyHtml(data))
  if (opts.json) io.stdout.write(`${JSON.stringify({ ...data, files })}\n`)
  else io.stdout.write(`${reports.historyText(data)}\n\nHTML report saved to: ${files.html}\n`)
  return checks && checks.some((c) => c.status === 'regression') ? 1 : 0
}

/** Commands that take positional arguments: how many (exactly `count`, or at least `min`), and what they are. */
const POSITIONALS = {
  'compare-runs': { count: 2, what: 'two results files, A.json B.json' },
  merge: { min: 2, what: 'the output folder and the shard reports, OUT SHARD.json...' },
}

const COMMANDS = {
  run: cmdRun,
  loadtest: cmdLoadTest,
  compare: cmdCompare,
  'compare-runs': cmdCompareRuns,
  merge: cmdMerge,
  history: cmdHistory,
  ...chatCli.commands({ PROGRAM, progressFor, stamp, writeFileAtomic, finish: (io, failed) => finish(io, failed) }),
  worker: cmdWorker,
}

/** Creates --out before any work, so a folder that cannot be made fails at once (exit 2). */
function outFolder(dir, label = '--out') {
  try {
    makeDirSync(dir)
  } catch (err) {
    throw new UsageError(`${label}: ${err.message}`)
  }
}

function usageFailure(io, command, err) {
  io.stderr.write(`${PROGRAM} ${command}: ${err.message.split('\n')[0]} (see ${PROGRAM} ${command} --help)\n`)
  return 2
}

/**
 * The run's models and where they are served, from `--models` and the config file; the config's
 * fixtures and concurrency where no flag gives them. Throws UsageError before anything starts.
 */
function applyConfig(opts, rest, io) {
  const given = (flag) => rest.some((a) => a === `--${flag}` || a.startsWith(`--${flag}=`))
  let file = opts.config
  if (file === undefined) {
    const here = path.resolve(io.cwd ?? process.cwd(), targets.CONFIG_FILE)
    if (fs.existsSync(here)) file = here
  }
  const config = file === undefined ? undefined : targets.loadConfig(path.resolve(file))
  if (config) {
    if (!given('fixtures') && config.fixtures !== undefined) opts.fixtures = config.fixtures
    if (!given('fixtures-dir') && config.fixturesDir !== undefined) opts.fixturesDir = config.fixturesDir
    if (!given('concurrency') && config.concurrency !== undefined) opts.concurrency = config.concurrency
  }
  opts.modelsGiven = given('models')
  opts.targets = targets.resolveTargets(opts, config)
  opts.models = opts.targets.map((t) => t.name)
}

/**
 * @param {string[]} argv arguments after the program name
 * @param {{stdout?, stderr?, env?, deps?, signal?: AbortSignal}} io streams, environment,
 *   injected engines, and a signal that interrupts the run
 * @returns {Promise<number>} the exit code
 */
async function main(argv, io = {}) {
  io = { stdout: process.stdout, stderr: process.stderr, env: process.env, ...io }
  let command = 'run'
  let rest = argv
  if (argv[0] === '--help' || argv[0] === '-h' || (argv[0] === 'help' && argv.length === 1)) {
    io.stdout.write(`${HELP.program}\n`)
    return 0
  }
  if (argv[0] === 'help') {
    if (argv.length === 2 && COMMANDS[argv[1]]) {
      io.stdout.write(`${HELP[argv[1]]}\n`)
      return 0
    }
    if (argv.length === 2 && argv[1] === 'fixtures') {
      io.stdout.write(`${fixturesCli.HELP}\n`)
      return 0
    }
    io.stderr.write(`${PROGRAM}: 'help' takes one of ${[...Object.keys(COMMANDS), 'fixtures'].join(', ')}, got ${JSON.stringify(argv.slice(1).join(' '))}\n`)
    return 2
  }
  if (argv[0] === 'fixtures') {
    try {
      return await fixturesCli.main(argv.slice(1), io)
    } catch (err) {
      io.stderr.write(`${PROGRAM} fixtures: failed: ${String((err && err.message) || err).split('\n')[0]}\n`)
      if (io.env.PROMETHEAN_BENCH_DEBUG && err && err.stack) io.stderr.write(`${err.stack}\n`)
      return 1
    }
  }
  if (argv.length > 0 && !argv[0].startsWith('-')) {
    command = argv[0]
    rest = argv.slice(1)
    if (!COMMANDS[command]) {
      io.stderr.write(`${PROGRAM}: unknown command '${command}' (expected ${[...Object.keys(COMMANDS), 'fixtures'].join(', ')}; see ${PROGRAM} --help)\n`)
      return 2
    }
  }
  let opts
  try {
    opts = parse(rest, SPECS[command], { command, positionals: Boolean(POSITIONALS[command]) })
    const positionals = opts.positionals ?? []
    if (opts.help) {
      io.stdout.write(`${HELP[command]}\n`)
      return 0
    }
    const wanted = POSITIONALS[command]
    if (wanted && (wanted.count !== undefined ? positionals.length !== wanted.count : positionals.length < wanted.min)) {
      throw new UsageError(`expected ${wanted.what}, got ${positionals.length === 0 ? 'none' : positionals.map((p) => JSON.stringify(p)).join(' ')}`)
    }
    opts.positionals = positionals
    if (
      command === 'loadtest' &&
      opts.rate &&
      rest.some((a) => a === '--users' || a.startsWith('--users=') || a === '--requests' || a.startsWith('--requests='))
    ) {
      throw new UsageError('--rate (the open model) cannot be combined with --users or --requests (the closed model)')
    }
    if (command === 'run' || command === 'chat' || command === 'health' || command === 'models') applyConfig(opts, rest, io)
    // health and models of the one server at --endpoint, without naming a model.
    if ((command === 'health' || command === 'models') && opts.targets.length === 0 && opts.endpoint) {
      opts.targets = [
        { name: opts.endpoint, endpoint: opts.endpoint, api: opts.api ?? inferApi(opts.endpoint), ...(opts.apiKeyEnv ? { apiKeyEnv: opts.apiKeyEnv } : {}) },
      ]
    }
    if (opts.fixtures !== undefined) fixtureSelection(opts.fixtures)
    if (opts.history !== undefined && opts.noHistory) throw new UsageError('--history and --no-history cannot be combined')
    if (opts.shard !== undefined) {
      opts.shard = shards.parseShard(opts.shard)
      if (opts.history !== undefined) throw new UsageError("--history cannot be combined with --shard: a shard is not recorded; 'merge' records the merged run")
    }
    // merge writes where its first argument says, as other commands do to --out.
    if (command === 'merge') opts.out = positionals[0]
    if (opts.fixturesDir !== undefined) opts.fixturesDir = fixturesCli.fixturesDirFlag(opts.fixturesDir, opts.fixtures)
    if (opts.sharedCache !== undefined && opts.noCache) throw new UsageError('--shared-cache and --no-cache cannot be combined')
    if (command === 'worker' && opts.queue === undefined) throw new UsageError('--queue is required (the redis:// URL the runs use)')
    if (command === 'run' && opts.queue === undefined && opts.redisTimeout !== undefined) throw new UsageError('--redis-timeout needs --queue')
    if (command === 'run' && opts.queue !== undefined) {
      const local = ['workers', 'concurrency', 'shared-cache'].find((flag) => rest.some((a) => a === `--${flag}` || a.startsWith(`--${flag}=`)))
      if (local) throw new UsageError(`--${local} cannot be combined with --queue: each worker's own --${local} decides`)
    }
    if (command === 'run' && opts.queue !== undefined && opts.shard !== undefined)
      throw new UsageError('--shard cannot be combined with --queue: the queue already spreads the jobs over the workers')
    if (opts.out !== undefined) outFolder(opts.out, command === 'merge' ? 'OUT' : '--out')
  } catch (err) {
    if (err instanceof UsageError) return usageFailure(io, command, err)
    throw err
  }
  try {
    return await COMMANDS[command](opts, io, engines(io))
  } catch (err) {
    // Found by an engine (an unknown fixture name): still the caller's mistake.
    if (err instanceof UsageError) return usageFailure(io, command, err)
    const message = err && err.message ? err.message : String(err)
    io.stderr.write(`${PROGRAM} ${command}: failed: ${message.split('\n')[0]}\n`)
    if (io.env.PROMETHEAN_BENCH_DEBUG && err && err.stack) io.stderr.write(`${err.stack}\n`)
    return 1
  }
}

module.exports = { main, HELP, SPECS }
