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
