//! The second carrier of the worker protocol: a checker on a thread of this process instead of
//! a process of its own. The protocol's lines are the same; only how they travel differs. The
//! thread itself is started, fed and stopped by a [`ThreadHost`] (in Node: a `worker_threads`
//! Worker, `lib/provider/checkers.js`), so this core needs no JS engine of its own.

use std::fmt;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;

/// What a thread checker sends back to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThreadEvent {
    /// One protocol line (without its newline).
    Line(String),
    /// The thread has stopped: `code` is its exit code (`None` when unknown), `error` what it
    /// threw, if it crashed (empty otherwise). Nothing follows this event.
    Exit { code: Option<i32>, error: String },
}

/// Starts, feeds and stops checker threads. Calls never block: each is queued for the thread
/// that owns the checkers and applied in the order made.
pub trait ThreadHost: Send + Sync + 'static {
    /// Starts checker `id` with a V8 heap limit of `heap_mb` (0: the default) and a small young
    /// generation when `low_memory`. Every line it sends, and finally its exit, go to `events`.
    /// An `Err` means nothing was started (and `events` is dropped).
    fn start(
        &self,
        id: u64,
        heap_mb: u32,
        low_memory: bool,
        events: UnboundedSender<ThreadEvent>,
    ) -> Result<(), String>;
    /// Sends checker `id` one protocol line (without its newline). Ignored once it has exited.
    fn send(&self, id: u64, line: String) -> Result<(), String>;
    /// Stops checker `id` at once, whatever it is doing (as a process is killed); its `Exit`
    /// event follows. Ignored once it has exited.
    fn terminate(&self, id: u64);
}

/// How a worker is carried: a process of its own, or a thread of this process.
#[derive(Clone, Default)]
pub enum Carrier {
    #[default]
    Process,
    Thread(Arc<dyn ThreadHost>),
}

impl fmt::Debug for Carrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Carrier::Process => "Process",
            Carrier::Thread(_) => "Thread",
        })
    }
}

/// How often, at most, the allocator is asked to give free pages back after a thread's job.
const RELEASE_EVERY_MS: u64 = 1000;

/// A checker thread's isolate frees much of what compiling the compiler and each job took, and
/// glibc keeps those pages; they go back to the system after the thread is ready and after it
/// has exited (`force`), and at most once per [`RELEASE_EVERY_MS`] after a job, on a thread of
/// their own (1-8 ms of work, never on the JS thread). Measured: 15 MB less at ready, 16 MB
/// less after 64 jobs, 16 MB less after a thread has exited (docs/engine.md).
pub fn release_free_memory(force: bool) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST_MS: AtomicU64 = AtomicU64::new(0);
    let now = super::now_ms();
    let last = LAST_MS.load(Ordering::Relaxed);
    if !force && now.saturating_sub(last) < RELEASE_EVERY_MS {
        return;
    }
    if LAST_MS
        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok()
        || force
    {
        let _ = std::thread::Builder::new()
            .name("promethean-trim".into())
            .spawn(crate::procfs::release_free_memory);
    }
}

/// A new checker id, unique in this process.
pub fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{mpsc, Mutex};
    use std::time::{Duration, Instant};

    use serde_json::{json, Value};

    use super::*;
    use crate::cancel::Cancel;
    use crate::provider::protocol::protocol_version;
    use crate::provider::tests::job;
    use crate::provider::worker::{Worker, WorkerSpec};
    use crate::provider::ProviderError;

    /// A host whose checkers are Rust threads speaking the protocol: they answer pings, echo
    /// jobs, and misbehave as the job's fixture says (`hang` until terminated, `crash`). A
    /// terminated checker stops at once, as `Worker.terminate()` stops a JS thread.
    #[derive(Default)]
    struct RustHost {
        inboxes: Mutex<HashMap<u64, mpsc::Sender<Option<String>>>>,
        terminated: AtomicUsize,
    }

    impl ThreadHost for RustHost {
        fn start(
            &self,
            id: u64,
            _heap_mb: u32,
            _low_memory: bool,
            events: UnboundedSender<ThreadEvent>,
        ) -> Result<(), String> {
            let (tx, rx) = mpsc::channel::<Option<String>>();
            self.inboxes.lock().unwrap().insert(id, tx);
            std::thread::spawn(move || {
                let send = |v: Value| events.send(ThreadEvent::Line(v.to_string())).is_ok();
                let exit = |code: i32, error: &str| {
                    let _ = events.send(ThreadEvent::Exit {
                        code: Some(code),
                        error: error.into(),
                    });
                };
                send(json!({"type": "ready", "protocol": protocol_version()}));
                let mut hanging = false;
                // `None` is a terminate: the thread stops wherever it is.
                while let Ok(Some(line)) = rx.recv() {
                    let m: Value = serde_json::from_str(&line).unwrap();
                    if hanging {
                        continue;
                    }
                    match (m["type"].as_str(), m["fixture"].as_str()) {
                        (Some("ping"), _) => {
                            send(json!({"type": "pong", "id": m["id"]}));
                        }
                        (Some("shutdown"), _) => return exit(0, ""),
                        (Some("job"), Some("hang")) => hanging = true,
                        (Some("job"), Some("crash")) => return exit(1, "Error: boom\n    at job"),
                        (Some("job"), fixture) => {
                            send(
                                json!({"type": "result", "id": m["id"], "result": {"echo": fixture}}),
                            );
                        }
                        _ => {}
                    }
                }
                exit(1, "");
            });
            Ok(())
        }

        fn send(&self, id: u64, line: String) -> Result<(), String> {
            let inboxes = self.inboxes.lock().unwrap();
            let inbox = inboxes.get(&id).ok_or("no such checker")?;
            inbox
                .send(Some(line))
                .map_err(|_| "the checker has exited".to_owned())
        }

        fn terminate(&self, id: u64) {
            self.terminated.fetch_add(1, Ordering::SeqCst);
            if let Some(inbox) = self.inboxes.lock().unwrap().remove(&id) {
                let _ = inbox.send(None);
            }
        }
    }

    fn spec(host: &Arc<RustHost>) -> WorkerSpec {
        WorkerSpec {
            node: PathBuf::from("/nonexistent/node"),
            node_args: Vec::new(),
            script: PathBuf::from("/nonexistent/worker.js"),
            ready_timeout: Duration::from_secs(5),
            env: Vec::new(),
            carrier: Carrier::Thread(host.clone()),
            heap_mb: 64,
            low_memory: true,
        }
    }

    #[tokio::test]
    async fn a_thread_checker_speaks_the_same_protocol_and_has_no_pid() {
        let host = Arc::new(RustHost::default());
        let mut w = Worker::spawn(&spec(&host)).await.unwrap();
        assert!(w.is_thread());
        assert_eq!(w.pid(), 0);
        assert_eq!(w.kill_handle().pid(), None);
        assert!(w.ping(Duration::from_secs(2)).await);
        let r = w
            .run_job(job("j-a", "a"), Duration::from_secs(2), &Cancel::new())
            .await
            .unwrap();
        assert_eq!(r, json!({"echo": "a"}));
        assert!(!w.has_exited());
        w.shutdown(Duration::from_secs(2)).await;
        assert_eq!(
            host.terminated.load(Ordering::SeqCst),
            0,
            "a checker that shut down when asked is not terminated"
        );
    }

    #[tokio::test]
    async fn a_hung_thread_checker_is_terminated_at_the_deadline() {
        let host = Arc::new(RustHost::default());
        let mut w = Worker::spawn(&spec(&host)).await.unwrap();
        let started = Instant::now();
        let err = w
            .run_job(
                job("j-hang", "hang"),
                Duration::from_millis(300),
                &Cancel::new(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Timeout { .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(w.is_broken());
        assert_eq!(host.terminated.load(Ordering::SeqCst), 1);
        assert!(host.inboxes.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_thread_checker_that_crashes_is_a_process_error_with_what_it_threw() {
        let host = Arc::new(RustHost::default());
        let mut w = Worker::spawn(&spec(&host)).await.unwrap();
        let err = w
            .run_job(
                job("j-crash", "crash"),
                Duration::from_secs(2),
                &Cancel::new(),
            )
            .await
            .unwrap_err();
        match err {
            ProviderError::Process {
                message,
                exit_code,
                stderr,
                ..
            } => {
                assert_eq!(message, "worker thread crashed: Error: boom");
                assert_eq!(exit_code, Some(1));
                assert!(stderr.contains("at job"), "{stderr}");
            }
            other => panic!("{other:?}"),
        }
        assert!(w.is_broken());
        assert!(w.has_exited());
    }

    #[tokio::test]
    async fn the_kill_handle_of_a_thread_checker_terminates_it() {
        let host = Arc::new(RustHost::default());
        let mut w = Worker::spawn(&spec(&host)).await.unwrap();
        w.kill_handle().kill();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !w.has_exited() {
            assert!(Instant::now() < deadline, "the checker did not stop");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(host.terminated.load(Ordering::SeqCst), 1);
        // Dropping an exited checker terminates nothing more.
        drop(w);
        assert_eq!(host.terminated.load(Ordering::SeqCst), 1);
    }
}
