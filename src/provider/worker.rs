//! One BuildFix worker, speaking the protocol of `protocol.rs` (newline-delimited JSON,
//! `docs/engine.md`) over one of two carriers: its own process's stdio, or a thread of this
//! process (`thread.rs`). Everything above the carrier (deadlines, cancellation, health pings,
//! what a broken worker is) is this one file's, whichever carries the lines.
//!
//! A worker process runs in a process group of its own, so a timeout can kill everything it
//! started. No worker outlives its owner: it exits by itself when its stdin closes, which is what
//! happens when this process dies (cancelling a job in flight), and on Linux the kernel also
//! kills it then, whatever it is doing (`spawn::spawn_tied`). A thread dies with the process; it
//! is stopped at a deadline by its host (`Worker.terminate()` in Node), as a process is killed.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use super::protocol::{version_mismatch, FromWorker, Job, ToWorker};
use super::spawn::spawn_tied;
use super::thread::{self, Carrier, ThreadEvent, ThreadHost};
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
    /// A process per worker, or a thread of this process.
    pub carrier: Carrier,
    /// A thread's V8 heap limit, MB (a process gets it through `env`); 0: the default.
    pub heap_mb: u32,
    /// A thread's young generation kept small (a process gets it through `node_args`).
    pub low_memory: bool,
}

/// How a worker's lines travel. A handful live per process, so the larger variant is not boxed.
#[allow(clippy::large_enum_variant)]
enum Link {
    Process {
        child: Child,
        stdin: ChildStdin,
        lines: Lines<BufReader<ChildStdout>>,
        stderr_tail: Arc<Mutex<VecDeque<u8>>>,
    },
    Thread {
        host: Arc<dyn ThreadHost>,
        id: u64,
        events: UnboundedReceiver<ThreadEvent>,
        /// Lines read ahead by [`Worker::has_exited`].
        ahead: VecDeque<ThreadEvent>,
        /// Set once the thread has stopped: its exit code and what it threw.
        exit: Option<(Option<i32>, String)>,
    },
}

/// Stops a worker from outside (the pool holds one per worker lent out).
#[derive(Clone)]
pub enum KillHandle {
    Group(u32),
    Thread(Arc<dyn ThreadHost>, u64),
}

impl KillHandle {
    /// The worker's process id; `None` for a thread.
    pub fn pid(&self) -> Option<u32> {
        match self {
            KillHandle::Group(pid) => Some(*pid),
            KillHandle::Thread(..) => None,
        }
    }

    pub fn kill(&self) {
        match self {
            #[cfg(unix)]
            KillHandle::Group(pid) if *pid > 0 => {
                // SAFETY: plain syscall; the group id is the worker's pid (process_group(0)).
                unsafe {
                    libc::killpg(*pid as libc::pid_t, libc::SIGKILL);
                }
            }
            KillHandle::Group(_) => {}
            KillHandle::Thread(host, id) => host.terminate(*id),
        }
    }
}

pub struct Worker {
    link: Link,
    /// The process id; 0 for a thread.
    pid: u32,
    /// Set once the worker has misbehaved (timed out, broke the protocol, exited): it must not
    /// be handed out again.
    broken: bool,
    jobs_done: u64,
}

impl Worker {
    /// Starts a worker and waits for its `ready` line.
    pub async fn spawn(spec: &WorkerSpec) -> Result<Self, ProviderError> {
        let mut worker = match &spec.carrier {
            Carrier::Process => Self::spawn_process(spec).await?,
            Carrier::Thread(host) => Self::spawn_thread(spec, host.clone())?,
        };
        let ready = tokio::time::timeout(spec.ready_timeout, worker.next_message()).await;
        match ready {
            Ok(Ok(FromWorker::Ready { protocol })) => match version_mismatch(protocol) {
                None => {
                    crate::debug_event!(
                        crate::debug::Namespace::Worker,
                        "{} spawned and ready",
                        worker.name()
                    );
                    if worker.is_thread() {
                        thread::release_free_memory(true);
                    }
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

    async fn spawn_process(spec: &WorkerSpec) -> Result<Self, ProviderError> {
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
        Ok(Worker {
            link: Link::Process {
                child,
                stdin,
                lines: BufReader::new(stdout).lines(),
                stderr_tail,
            },
            pid,
            broken: false,
            jobs_done: 0,
        })
    }

    fn spawn_thread(spec: &WorkerSpec, host: Arc<dyn ThreadHost>) -> Result<Self, ProviderError> {
        let id = thread::next_id();
        let (tx, events) = unbounded_channel();
        host.start(id, spec.heap_mb, spec.low_memory, tx)
            .map_err(|e| {
                ProviderError::process(format!("could not start a worker thread: {e}"), "spawn")
            })?;
        Ok(Worker {
            link: Link::Thread {
                host,
                id,
                events,
                ahead: VecDeque::new(),
                exit: None,
            },
            pid: 0,
            broken: false,
            jobs_done: 0,
        })
    }

    /// What names the worker in messages: its pid, or its thread.
    pub fn name(&self) -> String {
        match &self.link {
            Link::Process { .. } => format!("worker {}", self.pid),
            Link::Thread { id, .. } => format!("worker thread {id}"),
        }
    }

    /// Whether a thread of this process carries the worker.
    pub fn is_thread(&self) -> bool {
        matches!(self.link, Link::Thread { .. })
    }

    /// A handle that stops this worker from outside.
    pub fn kill_handle(&self) -> KillHandle {
        match &self.link {
            Link::Process { .. } => KillHandle::Group(self.pid),
            Link::Thread { host, id, .. } => KillHandle::Thread(host.clone(), *id),
        }
    }

    /// The process id; 0 for a thread.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn is_broken(&self) -> bool {
        self.broken
    }

    pub fn jobs_done(&self) -> u64 {
        self.jobs_done
    }

    /// Whether the worker has already exited (a cheap check, no round trip): a worker can die
    /// while it sits idle, e.g. killed by the OOM killer or a signal, or a thread that threw.
    pub fn has_exited(&mut self) -> bool {
        let pid = self.pid;
        match &mut self.link {
            Link::Process { child, .. } => {
                if !matches!(child.try_wait(), Ok(None)) {
                    return true;
                }
                // tokio may not have noticed the exit yet (its reaping is driven by SIGCHLD);
                // the kernel knows at once: a dead process is a zombie (`Z`) until it is reaped.
                #[cfg(target_os = "linux")]
                if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                    // The state follows the parenthesised command name, which may hold ") ".
                    if let Some(rest) = stat.rsplit_once(") ") {
                        return matches!(rest.1.as_bytes().first(), Some(b'Z' | b'X'));
                    }
                }
                let _ = pid;
                false
            }
            Link::Thread {
                events,
                ahead,
                exit,
                ..
            } => {
                use tokio::sync::mpsc::error::TryRecvError;
                loop {
                    match events.try_recv() {
                        Ok(event) => ahead.push_back(event),
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => return true,
                    }
                }
                exit.is_some() || ahead.iter().any(|e| matches!(e, ThreadEvent::Exit { .. }))
            }
        }
    }

    /// The exit code, when the worker is known to have exited.
    fn exit_code(&mut self) -> Option<i32> {
        match &mut self.link {
            Link::Process { child, .. } => child.try_wait().ok().flatten().and_then(|s| s.code()),
            Link::Thread { exit, .. } => exit.as_ref().and_then(|(code, _)| *code),
        }
    }

    /// The end of the worker's stderr (a process), or what it threw (a thread).
    fn stderr_text(&self) -> String {
        match &self.link {
            Link::Process { stderr_tail, .. } => {
                let t = stderr_tail.lock().unwrap_or_else(|p| p.into_inner());
                String::from_utf8_lossy(&t.iter().copied().collect::<Vec<_>>()).into_owned()
            }
            Link::Thread { exit, .. } => exit.as_ref().map(|(_, e)| e.clone()).unwrap_or_default(),
        }
    }

    /// Marks the worker broken, kills it, and describes what happened.
    fn fail(&mut self, message: String, operation: &str) -> ProviderError {
        self.kill();
        ProviderError::Process {
            message,
            exit_code: self.exit_code(),
            stderr: self.stderr_text(),
            operation: operation.into(),
        }
    }

    /// The next line from the worker; `None` once it is gone. Cancel-safe (a partial line stays
    /// buffered).
    async fn next_line(&mut self) -> std::io::Result<Option<String>> {
        match &mut self.link {
            Link::Process { lines, .. } => lines.next_line().await,
            Link::Thread {
                events,
                ahead,
                exit,
                ..
            } => {
                if exit.is_some() {
                    return Ok(None);
                }
                let event = match ahead.pop_front() {
                    Some(event) => Some(event),
                    None => events.recv().await,
                };
                match event {
                    Some(ThreadEvent::Line(line)) => Ok(Some(line)),
                    Some(ThreadEvent::Exit { code, error }) => {
                        *exit = Some((code, error));
                        Ok(None)
                    }
                    None => {
                        *exit = Some((None, "the checker thread's host is gone".into()));
                        Ok(None)
                    }
                }
            }
        }
    }

    /// After the worker's last line: waits briefly for its exit status, and says why it ended.
    async fn exited(&mut self) -> ProviderError {
        self.broken = true;
        let (message, code) = match &mut self.link {
            Link::Process { child, .. } => {
                let status = tokio::time::timeout(Duration::from_millis(500), child.wait()).await;
                let code = status.ok().and_then(|s| s.ok()).and_then(|s| s.code());
                let message = match code {
                    Some(c) => format!("worker exited with code {c}"),
                    None => "worker exited (killed by a signal)".into(),
                };
                (message, code)
            }
            Link::Thread { exit, .. } => {
                let (code, error) = exit.clone().unwrap_or_default();
                let message = match (code, error.is_empty()) {
                    (_, false) => format!(
                        "worker thread crashed: {}",
                        error.lines().next().unwrap_or_default()
                    ),
                    (Some(c), true) => format!("worker thread exited with code {c}"),
                    (None, true) => "worker thread exited".into(),
                };
                (message, code)
            }
        };
        ProviderError::Process {
            message,
            exit_code: code,
            stderr: self.stderr_text(),
            operation: "read".into(),
        }
    }

    /// Reads the next protocol message. A line that is not one of [`FromWorker`]'s messages
    /// breaks the worker: whatever it says next cannot be trusted.
    async fn next_message(&mut self) -> Result<FromWorker, ProviderError> {
        match self.next_line().await {
            Ok(Some(line)) => serde_json::from_str(&line).map_err(|e| {
                let line: String = line.chars().take(200).collect();
                self.fail(
                    format!("worker sent a line that is not a protocol message ({e}): {line}"),
                    "read",
                )
            }),
            Ok(None) => Err(self.exited().await),
            Err(e) => Err(self.fail(format!("reading from the worker failed: {e}"), "read")),
        }
    }

    async fn send(&mut self, msg: &ToWorker) -> Result<(), ProviderError> {
        let line = serde_json::to_string(msg).expect("protocol messages serialise");
        let sent = match &mut self.link {
            Link::Process { stdin, .. } => {
                let mut bytes = line.into_bytes();
                bytes.push(b'\n');
                stdin.write_all(&bytes).await.map_err(|e| e.to_string())
            }
            Link::Thread { host, id, .. } => host.send(*id, line),
        };
        if let Err(e) = sent {
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
                if self.is_thread() {
                    thread::release_free_memory(false);
                }
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

    /// Stops the worker at once: kills its whole process group, or terminates its thread.
    pub fn kill(&mut self) {
        crate::debug_event!(crate::debug::Namespace::Worker, "{} killed", self.name());
        self.broken = true;
        let exited = self.is_thread() && self.has_exited();
        match &mut self.link {
            Link::Process { child, .. } => {
                KillHandle::Group(self.pid).kill();
                let _ = child.start_kill();
            }
            Link::Thread { host, id, .. } => {
                if !exited {
                    host.terminate(*id);
                }
            }
        }
    }

    /// Waits until the worker has exited; false when `grace` passed first.
    async fn wait_exit(&mut self, grace: Duration) -> bool {
        match &mut self.link {
            Link::Process { child, .. } => tokio::time::timeout(grace, child.wait()).await.is_ok(),
            Link::Thread { .. } => tokio::time::timeout(grace, async {
                // Lines after a shutdown (a late answer) are of no use any more.
                while let Ok(Some(_)) = self.next_line().await {}
            })
            .await
            .is_ok(),
        }
    }

    /// Asks the worker to exit, and kills it if it has not within `grace`. Reaps it either way.
    pub async fn shutdown(mut self, grace: Duration) {
        if !self.broken {
            let _ = self.send(&ToWorker::Shutdown).await;
        }
        if self.wait_exit(grace).await {
            // The worker is gone; anything it started in its group goes with it.
            if let Link::Process { .. } = self.link {
                self.kill();
            }
        } else {
            self.kill();
            self.wait_exit(grace).await;
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let running = match &mut self.link {
            Link::Process { child, .. } => child.try_wait().ok().flatten().is_none(),
            Link::Thread { .. } => !self.has_exited(),
        };
        if running {
            self.kill();
        }
    }
}
