// The BuildFix engine's in-process API (worker/index.js), used the way a harness script would.
import * as engine from '../../worker/index.js'
import type { BuildFixResult, Plan } from '../../worker/index.js'

export async function runSmallSet(model: string, endpoint?: string): Promise<string> {
  const results: BuildFixResult[] = []
  for (const fixtureDir of engine.listFixtures(engine.SMALL_DIR)) {
    results.push(await engine.runJob({ fixtureDir, model, endpoint, maxAttempts: 2, attemptTimeoutMs: 30_000 }))
  }
  const { totalTests, successfulTests } = engine.summarize(results)
  console.log(`${successfulTests}/${totalTests}`)
  return engine.writeResults('.buildfix-results', results)
}

export function planFor(text: string): Plan {
  const plan = engine.parsePlan(text)
  plan.dsl.push({ op: 'ensureExported', file: 'src/a.ts', symbol: 'A', kind: 'class' })
  return plan
}

export async function models(endpoint: string): Promise<string[]> {
  const names = await engine.listModels(endpoint).catch(() => [] as string[])
  return [...engine.BUILTIN_MODELS, ...names]
}

// Fixtures of one's own: validate a folder, group what it tests by family.
export async function checkOwnFixtures(dir: string): Promise<Map<string, number>> {
  const reports: engine.FixtureValidation[] = await engine.validateFixtures(dir, {
    onReport: (r) => console.log(`${r.ok ? 'ok' : 'FAIL'} ${r.name}: ${r.problems.join('; ')}`),
  })
  const byFamily = new Map<string, number>()
  for (const f of engine.describeFixtures(dir)) byFamily.set(f.family ?? 'none', (byFamily.get(f.family ?? 'none') ?? 0) + 1)
  if (reports.some((r) => !r.ok)) engine.scaffoldFixture(dir, 'example')
  return byFamily
}

export function widerPlan(): Plan {
  return {
    title: 'Null-safe price',
    rationale: '',
    dsl: [
      { op: 'addOptionalChain', file: 'src/a.ts', line: 4, expression: 'best' },
      { op: 'addNullishDefault', file: 'src/a.ts', line: 4, expression: 'best?.price', fallback: '0' },
      { op: 'replaceText', file: 'src/a.ts', start: { line: 1, column: 1 }, end: { line: 1, column: 4 }, oldText: 'let', newText: 'const' },
      { op: 'addProperty', file: 'src/a.ts', type: 'Offer', name: 'tax', typeText: 'number', optional: true },
    ],
  }
}

// An OpenAI-compatible server (vLLM, llama.cpp, a hosted API): the key stays in its variable.
export async function askVllm(endpoint: string): Promise<number> {
  const api: engine.ModelApi = engine.inferApi(endpoint)
  const answer: engine.ModelAnswer = await engine.generate({
    endpoint,
    api,
    apiKeyEnv: 'OPENAI_API_KEY',
    model: 'llama-3.1-8b',
    prompt: 'Fix it.',
    seed: 1,
    maxConcurrentRequests: 2,
    signal: AbortSignal.timeout(60_000),
  })
  const mode: engine.OutputMode = answer.mode
  console.log(mode, answer.ttftMs ?? 'no ttft', answer.tries)
  const r = await engine.runJob({ fixtureDir: engine.SMALL_DIR, model: 'llama-3.1-8b', endpoint, api: 'openai', apiKeyEnv: 'OPENAI_API_KEY' })
  const names = await engine.listModels(endpoint, { api: 'openai', apiKeyEnv: 'OPENAI_API_KEY' })
  console.log(names, r.outputMode, r.tokensEstimated, r.timeToFirstTokenMs)
  return (r.promptTokens ?? 0) + (r.completionTokens ?? 0) + answer.usage.promptTokens
}

// A job's floor: one check of a fixture from scratch, beside the cached check; a plan applied to
// texts already read.
export function floorOf(fixtureDir: string, plan: Plan): { floor: number; cached: number; changed: string[] } {
  const floor: engine.Diagnostic[] = engine.collectDiagnosticsFloor(fixtureDir)
  const { changed, originals } = engine.applyPlan(fixtureDir, plan, { write: false, texts: new Map<string, string>() })
  if (originals.size < changed.length) throw new Error('every changed file has its original')
  return { floor: floor.length, cached: engine.collectDiagnostics(fixtureDir).length, changed }
}
