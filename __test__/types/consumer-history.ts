import { openHistory, checkRuns, type HistoryCheck, type RunHistory, type BuildFixResult } from '@promethean/benchmark'

async function main(): Promise<void> {
  const history: RunHistory = await openHistory('bench-results/history.sqlite')
  const results: BuildFixResult[] = []
  const id: number = await history.append({ results, timestamp: new Date().toISOString() }, { endpoint: 'http://127.0.0.1:11434' })
  for (const s of await history.series()) {
    const runs = await history.runs(s.model, { endpoint: s.endpoint, limit: 10 })
    const verdict: HistoryCheck = checkRuns(runs, { window: 5, durationThreshold: 0.5 })
    if (verdict.status === 'regression') console.log(s.model, verdict.reasons.join('; '), verdict.passRate?.pValue)
  }
  const trend = await history.trend({ limit: 20 })
  console.log(id, trend[0]?.runs[0]?.p95Duration, history.path)
  for (const c of await history.check({ minDurationDelta: 100 })) console.log(c.model, c.status)
  await history.close()
}

void main()
