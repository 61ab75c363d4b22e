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

/// A new checker id, unique in this process.
pub fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
