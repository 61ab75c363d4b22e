//! One BuildFix worker process, speaking the protocol of `protocol.rs` (newline-delimited JSON
//! over stdio, `docs/engine.md`). The worker runs in a process group of its own, so a timeout can kill
//! everything it started. No worker outlives its owner: it exits by itself when its stdin
//! closes, which is what happens when this process dies (cancelling a job in flight), and on
//! Linux the kernel also kills it then, whatever it is doing (`spawn::spawn_tied`).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::protocol::{version_mismatch, FromWorker, Job, ToWorker};
use super::spawn::spawn_tied;
use super::ProviderError;
use crate::cancel::Cancel;

/// How much of a worker's stderr is kept for error messages.
const STDERR_TAIL_BYTES: usize = 8 * 1024;

/// How long a worker asked to cancel a job may take to confirm before it is killed. A job is
/// cancelled at its next await (at once while it waits on its model); only synchronous compiler
/// work, milliseconds on a fixture, can hold it.
pub const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// How to start a worker.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    /// The Node.js executable.
    pub node: PathBuf,
    /// Options for `node` itself, before the script (V8 flags NODE_OPTIONS does not take).
    pub node_args: Vec<String>,
    /// The worker script (`worker/buildfix-worker.js`).
    pub script: PathBuf,
    /// How long a new worker may take to load its compiler and say it is ready.
    pub ready_timeout: Duration,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

pub struct Worker {
    child: Child,
    pid: u32,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    stderr_tail: Arc<Mutex<VecDeque<u8>>>,
    /// Set once the worker has misbehaved (timed out, broke the protocol, exited): it must not
    /// be handed out again.
    broken: bool,
    jobs_done: u64,
}

impl Worker {
    /// Starts a worker and waits for its `ready` line.
    pub async fn spawn(spec: &WorkerSpec) -> Result<Self, ProviderError> {
        let mut cmd = Command::new(&spec.node);
        cmd.args(&spec.node_args)
            .arg(&spec.script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }
        #[cfg(unix)]
        cmd.process_group(0);
        let mut child = spawn_tied(cmd).await.map_err(|e| ProviderError::Process {
            message: format!("could not start {}: {e}", spec.node.display()),
            exit_code: None,
            stderr: String::new(),
            operation: "spawn".into(),
        })?;
        let pid = child.id().unwrap_or(0);
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let stderr_tail = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL_BYTES)));
        let tail = stderr_tail.clone();
        // Drains stderr so the worker never blocks on a full pipe; ends when the worker does.
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                t.extend(&buf[..n]);
                let excess = t.len().saturating_sub(STDERR_TAIL_BYTES);
                t.drain(..excess);
            }
        });
        let mut worker = Worker {
            child,
            pid,
            stdin,
            lines: BufReader::new(stdout).lines(),
            stderr_tail,
            broken: false,
            jobs_done: 0,
        };
        let ready = tokio::time::timeout(spec.ready_timeout, worker.next_message()).await;
        match ready {
            Ok(Ok(FromWorker::Ready { protocol })) => match version_mismatch(protocol) {
                None => {
                    crate::debug_event!(
                        crate::debug::Namespace::Worker,
                        "worker {} spawned and ready",
                        worker.pid
                    );
                    Ok(worker)
                }
                Some(refusal) => Err(worker.fail(
                    format!("{refusal}; worker script {}", spec.script.display()),
                    "spawn",
                )),
            },
            Ok(Ok(other)) => {
                Err(worker.fail(format!("worker sent {other:?} instead of ready"), "spawn"))
            }
            Ok(Err(e)) => {
                worker.kill();
                Err(e)
            }
            Err(_) => {
                worker.kill();
                Err(ProviderError::Timeout {
                    operation: "worker start".into(),
                    timeout_ms: spec.ready_timeout.as_millis() as u64,
                })
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn is_broken(&self) -> bool {
        self.broken
    }

    pub fn jobs_done(&self) -> u64 {
        self.jobs_done
    }

    /// Whether the process has already exited (a cheap check, no round trip): a worker can die
    /// while it sits idle, e.g. killed by the OOM killer or a signal.
    pub fn has_exited(&mut self) -> bool {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return true;
        }
        // tokio may not have noticed the exit yet (its reaping is driven by SIGCHLD); the kernel
        // knows at once: a dead process is a zombie (`Z`) until it is reaped.
        #[cfg(target_os = "linux")]
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
            // The state follows the parenthesised command name, which may itself hold ") ".
            if let Some(rest) = stat.rsplit_once(") ") {
                return matches!(rest.1.as_bytes().first(), Some(b'Z' | b'X'));
            }
        }
        false
    }

    fn stderr_text(&self) -> String {
        let t = self.stderr_tail.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&t.iter().copied().collect::<Vec<_>>()).into_owned()
    }

    /// Marks the worker broken, kills it, and describes what happened.
    fn fail(&mut self, message: String, operation: &str) -> ProviderError {
        self.kill();
        ProviderError::Process {
            message,
            exit_code: self.child.try_wait().ok().flatten().and_then(|s| s.code()),
            stderr: self.stderr_text(),
            operation: operation.into(),
        }
    }

    /// Reads the next protocol message. A line that is not one of [`FromWorker`]'s messages
    /// breaks the worker: whatever it says next cannot be trusted.
    async fn next_message(&mut self) -> Result<FromWorker, ProviderError> {
        match self.lines.next_line().await {
            Ok(Some(line)) => serde_json::from_str(&line).map_err(|e| {
                let line: String = line.chars().take(200).collect();
                self.fail(
                    format!("worker sent a line that is not a protocol message ({e}): {line}"),
                    "read",
                )
            }),
            Ok(None) => {
                // EOF: the worker is gone. Wait briefly for its status to say why.
                let status =
                    tokio::time::timeout(Duration::from_millis(500), self.child.wait()).await;
                let code = status.ok().and_then(|s| s.ok()).and_then(|s| s.code());
                self.broken = true;
                Err(ProviderError::Process {
                    message: match code {
                        Some(c) => format!("worker exited with code {c}"),
                        None => "worker exited (killed by a signal)".into(),
                    },
                    exit_code: code,
                    stderr: self.stderr_text(),
                    operation: "read".into(),
                })
            }
            Err(e) => Err(self.fail(format!("reading from the worker failed: {e}"), "read")),
        }
    }

    async fn send(&mut self, msg: &ToWorker) -> Result<(), ProviderError> {
        let mut line = serde_json::to_vec(msg).expect("protocol messages serialise");
        line.push(b'\n');
        if let Err(e) = self.stdin.write_all(&line).await {
            return Err(self.fail(format!("writing to the worker failed: {e}"), "write"));
        }
        Ok(())
    }

    /// Reads until the answer to `id`, skipping lines for other ids (a late pong, the answer to
    /// a job cancelled earlier). Returns `Cancelled` as soon as `cancel` fires; reading a line
    /// is cancel-safe (a partial line stays buffered).
    async fn answer_to(
        &mut self,
        id: &str,
        cancel: Option<&Cancel>,
    ) -> Result<FromWorker, ProviderError> {
        loop {
            let answer = match cancel {
                Some(c) => tokio::select! {
                    m = self.next_message() => m?,
                    () = c.cancelled() => return Err(ProviderError::Cancelled),
                },
                None => self.next_message().await?,
            };
            if answer.id() == Some(id) {
                return Ok(answer);
            }
        }
    }

    /// Sends `msg` and waits for its answer. Past `timeout` the worker's whole process group is
    /// killed and the worker is broken. When `cancel` fires first, the worker is asked to drop
    /// the job; one that does not confirm within [`CANCEL_GRACE`] (stuck in synchronous work)
    /// is killed like a timed-out one.
    async fn request(
        &mut self,
        msg: ToWorker,
        timeout: Duration,
        operation: &str,
        cancel: Option<&Cancel>,
    ) -> Result<FromWorker, ProviderError> {
        if self.broken {
            return Err(ProviderError::process(
                "worker is no longer usable",
                operation,
            ));
        }
        let id = msg.id().unwrap_or_default().to_owned();
        let deadline = tokio::time::Instant::now() + timeout;
        let first = tokio::time::timeout_at(deadline, async {
            self.send(&msg).await?;
            self.answer_to(&id, cancel).await
        })
        .await;
        match first {
            Ok(Err(ProviderError::Cancelled)) => {
                let grace = deadline.min(tokio::time::Instant::now() + CANCEL_GRACE);
                let stopped = tokio::time::timeout_at(grace, async {
                    self.send(&ToWorker::Cancel { id: id.clone() }).await?;
                    self.answer_to(&id, None).await
                })
                .await;
                if !matches!(stopped, Ok(Ok(_))) {
                    self.kill();
                }
                Err(ProviderError::Cancelled)
            }
            Ok(result) => result,
            Err(_) => {
                self.kill();
                Err(ProviderError::Timeout {
                    operation: operation.into(),
                    timeout_ms: timeout.as_millis() as u64,
                })
            }
        }
    }

    /// A health check: the worker answers a ping in time.
    pub async fn ping(&mut self, timeout: Duration) -> bool {
        let id = format!("ping-{}", self.jobs_done);
        matches!(
            self.request(ToWorker::Ping { id }, timeout, "ping", None)
                .await,
            Ok(FromWorker::Pong { .. })
        )
    }

    /// Runs one job and returns the worker's `result` object. `cancel` stops it (see
    /// [`Worker::request`]); the worker stays usable when it confirmed in time.
    pub async fn run_job(
        &mut self,
        job: Job,
        timeout: Duration,
        cancel: &Cancel,
    ) -> Result<Value, ProviderError> {
        if cancel.is_cancelled() {
            return Err(ProviderError::Cancelled);
        }
        match self
            .request(ToWorker::Job(Box::new(job)), timeout, "job", Some(cancel))
            .await?
        {
            FromWorker::Result { result, .. } => {
                self.jobs_done += 1;
                Ok(Value::Object(result))
            }
            FromWorker::Error { message, .. } => Err(ProviderError::Process {
                message,
                exit_code: None,
                stderr: String::new(),
                operation: "job".into(),
            }),
            // The worker cancelled a job nobody asked it to cancel.
            FromWorker::Cancelled { .. } => Err(ProviderError::Cancelled),
            other => Err(self.fail(format!("worker answered a job with {other:?}"), "job")),
        }
    }

    /// Kills the worker's whole process group at once.
    pub fn kill(&mut self) {
        crate::debug_event!(
            crate::debug::Namespace::Worker,
            "worker {} killed (its process group)",
            self.pid
        );
        self.broken = true;
        #[cfg(unix)]
        if self.pid > 0 {
            // SAFETY: plain syscall; the group id is the worker's pid (process_group(0)).
            unsafe {
                libc::killpg(self.pid as libc::pid_t, libc::SIGKILL);
            }
        }
        let _ = self.child.start_kill();
    }

    /// Asks the worker to exit, and kills it if it has not within `grace`. Reaps it either way.
    pub async fn shutdown(mut self, grace: Duration) {
        if !self.broken {
            let _ = self.send(&ToWorker::Shutdown).await;
        }
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            self.kill();
            let _ = self.child.wait().await;
        } else {
            // The worker is gone; anything it started in its group goes with it.
            self.kill();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.kill();
        }
    }
}
