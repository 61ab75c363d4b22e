// Runs `node <args>` in a child process that is killed (SIGKILL) if it has not exited after
// `timeoutMs`, so a call that hangs fails its test instead of hanging the suite.
//
//   const r = await runGuarded(['-e', 'code'], { timeoutMs: 30000 })
//   r.hung     // true when the guard had to kill it
//   r.code, r.stdout, r.stderr

import { spawn } from 'node:child_process'

export function runGuarded(args, { timeoutMs = 30000, cwd, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let hung = false
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const guard = setTimeout(() => {
      hung = true
      child.kill('SIGKILL')
    }, timeoutMs)
    child.on('error', (err) => {
      clearTimeout(guard)
      reject(err)
    })
    child.on('close', (code, signal) => {
      clearTimeout(guard)
      resolve({ code, signal, stdout, stderr, hung })
    })
  })
}
