// The fake model servers of benchmark/model-servers.bench.js, in a process of their own so they
// do not share the benchmark's event loop. Starts one server per dialect given in argv
// (`openai:0`, `vllm:40`: dialect and answer delay in ms), sends {ready: [endpoints]} over IPC,
// answers {stats} with each server's peak of requests in flight, and exits on {exit}.
import { startChatServer } from '../__test__/helpers/fake-chat-server.mjs'

const servers = []
for (const spec of process.argv.slice(2)) {
  const [dialect, delay] = spec.split(':')
  const s = await startChatServer({ dialect })
  if (Number(delay) > 0) s.script(() => ({ delayMs: Number(delay) }))
  servers.push(s)
}
process.send({ ready: servers.map((s) => s.endpoint) })
process.on('message', async (m) => {
  if (m.stats) process.send({ stats: servers.map((s) => ({ maxInFlight: s.maxInFlight, requests: s.chats().length })) })
  if (m.exit) {
    await Promise.all(servers.map((s) => s.close()))
    process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
