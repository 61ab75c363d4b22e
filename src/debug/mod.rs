//! The cores' debug events, for `DEBUG=buildfix:*`. One global switch: a bit per namespace in a
//! relaxed atomic, so a disabled event costs one load and a branch, and its message is never
//! built. The sink that receives enabled events is installed by the embedder (the binding sends
//! them to JS through one threadsafe function); the core knows nothing of Node.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{PoisonError, RwLock};

/// The namespaces the cores report under (`buildfix:<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Namespace {
    Pool = 1,
    Cache = 2,
    Worker = 4,
    Provider = 8,
    Loadtest = 16,
}

impl Namespace {
    pub const ALL: [Namespace; 5] = [
        Namespace::Pool,
        Namespace::Cache,
        Namespace::Worker,
        Namespace::Provider,
        Namespace::Loadtest,
    ];

    /// The part after `buildfix:`.
    pub fn name(self) -> &'static str {
        match self {
            Namespace::Pool => "pool",
            Namespace::Cache => "cache",
            Namespace::Worker => "worker",
            Namespace::Provider => "provider",
            Namespace::Loadtest => "loadtest",
        }
    }

    pub fn bit(self) -> u32 {
        self as u32
    }
}

type Sink = Box<dyn Fn(Namespace, String) + Send + Sync>;

static ENABLED: AtomicU32 = AtomicU32::new(0);
static SINK: RwLock<Option<Sink>> = RwLock::new(None);

/// Whether events of `ns` are wanted. A relaxed load: a switch flipped on another thread is seen
/// a little later at worst, which is fine for logging.
#[inline]
pub fn enabled(ns: Namespace) -> bool {
    ENABLED.load(Ordering::Relaxed) & ns.bit() != 0
}

/// Sends `message()` to the sink when `ns` is enabled; builds nothing otherwise.
#[inline]
pub fn emit(ns: Namespace, message: impl FnOnce() -> String) {
    if enabled(ns) {
        deliver(ns, message());
    }
}

#[cold]
fn deliver(ns: Namespace, message: String) {
    if let Some(sink) = SINK.read().unwrap_or_else(PoisonError::into_inner).as_ref() {
        sink(ns, message);
    }
}

/// Enables the namespaces of `mask` (bits of [`Namespace`]) and sends their events to `sink`;
/// `None` (or a zero mask) turns every event off.
pub fn configure(mask: u32, sink: Option<Sink>) {
    let mask = if sink.is_some() { mask } else { 0 };
    // Off first, so no event reaches an old sink being replaced.
    ENABLED.store(0, Ordering::Relaxed);
    *SINK.write().unwrap_or_else(PoisonError::into_inner) = sink;
    ENABLED.store(mask, Ordering::Relaxed);
}

/// A core event: `debug_event!(Namespace::Pool, "worker {} spawned", pid)`.
#[macro_export]
macro_rules! debug_event {
    ($ns:expr, $($arg:tt)*) => {
        $crate::debug::emit($ns, || format!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    // One test: the switch is process-wide.
    #[test]
    fn events_reach_the_sink_only_for_enabled_namespaces_and_build_nothing_when_off() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink_got = Arc::clone(&got);
        configure(
            Namespace::Pool.bit() | Namespace::Worker.bit(),
            Some(Box::new(move |ns, m| {
                sink_got.lock().unwrap().push((ns, m))
            })),
        );
        crate::debug_event!(Namespace::Pool, "spawned {}", 1);
        crate::debug_event!(Namespace::Cache, "evicted {}", 2);
        crate::debug_event!(Namespace::Worker, "killed {}", 3);
        assert_eq!(
            *got.lock().unwrap(),
            vec![
                (Namespace::Pool, "spawned 1".to_string()),
                (Namespace::Worker, "killed 3".to_string())
            ]
        );
        assert!(enabled(Namespace::Pool) && !enabled(Namespace::Cache));

        configure(u32::MAX, None);
        let mut built = false;
        emit(Namespace::Pool, || {
            built = true;
            String::new()
        });
        assert!(
            !built,
            "a message is never built while its namespace is off"
        );
        assert!(Namespace::ALL.iter().all(|ns| !enabled(*ns)));
        assert_eq!(got.lock().unwrap().len(), 2);
    }
}
