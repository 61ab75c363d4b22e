// Runs `node <args>` in a child process that is killed (SIGKILL) if it has not exited after
// `timeoutMs`, so a call that hangs fails its test instead of hanging the suite.
//
//   const r = await runGuarded(['-e', 'code'], { timeoutMs: 120000 })
//   r.hung     // true when the guard had to kill it
//   r.code, r.stdout, r.stderr
//
// The guard is for hangs, not for speed: its bound is generous, and when it fires it first lets
// the event loop's poll phase run (setImmediate), so a child that exited while this process was
// busy (another test blocking the thread for a while) is seen as exited, not as hung.

import { spawn } from 'node:child_process'

export function runGuarded(args, { timeoutMs = 120000, cwd, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let hung = false
    let exited = false
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('exit', () => (exited = true))
    const guard = setTimeout(() => {
      setImmediate(() => {
        if (exited) return
        hung = true
        child.kill('SIGKILL')
      })
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
