'use strict'
// Debian's nginx as a load-test target that is not the bottleneck: one worker process pinned to
// one core, keep-alive without a request limit, a small static file, no access log. It runs in
// the foreground (`daemon off`) from a generated config in a temporary folder; `stop()` ends it
// and removes the folder, and so do SIGINT, SIGTERM and the benchmark's exit, whatever happens.

const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { which, freePort, waitForPort } = require('./servers.js')

const NGINX = '/usr/sbin/nginx'

/**
 * Starts nginx pinned to `core` serving `body` at `/index.html`; resolves `{url, pid,
 * bodyBytes, dir, own(child), stop()}`, or `{skipped}` with the reason when nginx or taskset is
 * missing.
 */
async function startNginx({ core, body = 'hello world\n' }) {
  if (!which(NGINX)) return { skipped: `${NGINX} not found (Debian: apt-get install nginx-light)` }
  if (!which('taskset')) return { skipped: 'taskset not found (util-linux)' }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promethean-nginx-'))
  let child = null
  // The benchmark's own children (the load generators), stopped with nginx on a signal.
  const owned = new Set()
  const cleanup = () => {
    for (const c of owned) {
      // The whole group: a shell's own children (wrk under `sh -c`) too.
      if (c.exitCode === null && c.signalCode === null) {
        try {
          process.kill(-c.pid, 'SIGTERM')
        } catch {}
      }
    }
    if (child && child.exitCode === null && child.signalCode === null) {
      // SIGTERM: the master stops its worker at once and exits.
      try {
        process.kill(child.pid, 'SIGTERM')
      } catch {}
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const onSignal = (signal) => {
    cleanup()
    process.kill(process.pid, signal)
  }
  try {
    // Readable by nginx's worker, which drops to an unprivileged user when started as root.
    fs.chmodSync(dir, 0o755)
    fs.writeFileSync(path.join(dir, 'index.html'), body)
    const port = await freePort()
    const conf = `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:${port};
    root ${dir};
    location / { }
  }
}
`
    fs.writeFileSync(path.join(dir, 'nginx.conf'), conf)
    // -e: the error log before the config is read (its default, /var/log/nginx, is not ours).
    child = spawn('taskset', ['-c', String(core), NGINX, '-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')], {
      stdio: ['ignore', 'ignore', 'inherit'],
    })
    process.once('exit', cleanup)
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    await waitForPort(port, 10000, child, 'nginx')
    const exited = new Promise((resolve) => child.once('exit', resolve))
    return {
      url: `http://127.0.0.1:${port}/index.html`,
      pid: child.pid,
      bodyBytes: Buffer.byteLength(body),
      /** The temporary folder, removed by stop() (and on a signal): for the caller's files too. */
      dir,
      /** Ties a child process spawned with `detached: true` (its own process group) to this
       * server: a signal stops its group with nginx. */
      own(c) {
        owned.add(c)
        c.once('close', () => owned.delete(c))
      },
      async stop() {
        cleanup()
        await exited
        process.removeListener('exit', cleanup)
        process.removeListener('SIGINT', onSignal)
        process.removeListener('SIGTERM', onSignal)
      },
    }
  } catch (err) {
    cleanup()
    process.removeListener('exit', cleanup)
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
    throw err
  }
}

/** How many cores this process may run on (taskset pins need two). */
function cores() {
  const r = spawnSync('nproc', [], { encoding: 'utf8' })
  return Number(r.stdout) || os.availableParallelism()
}

module.exports = { startNginx, which, cores }
