import { mineFixtures, type MineResult, type MineOptions } from '@promethean/benchmark'

async function mine(): Promise<number> {
  const controller = new AbortController()
  const options: MineOptions = {
    out: 'mined',
    max: 5,
    since: new Date('2024-01-01'),
    maxCommits: 200,
    signal: controller.signal,
    onEvent: (e) => {
      if (e.kind === 'fixture') console.log(e.name, e.target.code, e.target.file, e.target.line, e.message)
      else console.log(e.commit, e.project, e.reason)
    },
  }
  const result: MineResult = await mineFixtures('.', options)
  for (const f of result.fixtures) console.log(f.dir, f.summary)
  // @ts-expect-error out is required
  await mineFixtures('.', {})
  return result.visited - result.merges + result.skipped.length
}

void mine
