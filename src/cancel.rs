//! A cancellation flag shared by whoever asks for a cancel and the work that honours it: the
//! provider's jobs (async, they wait on [`Cancel::cancelled`]) and snapshot create/restore
//! (blocking, they look at [`Cancel::is_cancelled`] between steps).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

#[derive(Debug, Default)]
struct Inner {
    flag: AtomicBool,
    notify: Notify,
}

/// Cheap to clone; every clone sees the same cancel.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<Inner>);

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels; idempotent. Wakes every task waiting in [`Cancel::cancelled`].
    pub fn cancel(&self) {
        self.0.flag.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.flag.load(Ordering::SeqCst)
    }

    /// Resolves once cancelled (at once if it already is).
    pub async fn cancelled(&self) {
        loop {
            // Registered before the flag is read, so a cancel in between is not missed.
            let notified = self.0.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cancel_wakes_waiters_and_is_seen_by_clones() {
        let c = Cancel::new();
        let seen = c.clone();
        let waiter = tokio::spawn(async move { seen.cancelled().await });
        tokio::task::yield_now().await;
        assert!(!c.is_cancelled());
        c.cancel();
        waiter.await.unwrap();
        assert!(c.is_cancelled());
        // Already cancelled: resolves at once.
        c.cancelled().await;
    }
}
