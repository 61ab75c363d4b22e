import net from 'node:net'
import { redisTest, startRedis } from './helpers/redis-server.mjs'

function ping(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write('PING\r\n'))
    socket.once('data', (chunk) => {
      socket.destroy()
      resolve(String(chunk))
    })
    socket.once('error', reject)
  })
}

redisTest('the test Redis answers, stops and starts again on its port, and leaves nothing', async (t) => {
  const redis = await startRedis()
  t.teardown(() => redis.close())
  t.is(await ping(redis.port), '+PONG\r\n')
  await redis.stop()
  await t.throwsAsync(ping(redis.port), { code: 'ECONNREFUSED' })
  await redis.start()
  t.is(await ping(redis.port), '+PONG\r\n')
  await redis.close()
  t.false((await import('node:fs')).existsSync(redis.dir))
})
