'use strict'
// The HTTP server the load-test benchmark measures against, in its own process so it never
// shares an event loop with the client under test. Tells its parent the port over IPC.
const http = require('node:http')

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 2 })
  res.end('ok')
})
server.keepAliveTimeout = 60000
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }))
process.on('disconnect', () => process.exit(0))
