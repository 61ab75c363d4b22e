//! Working copies of fixtures: a job edits a copy, never the fixture. Each copy carries a
//! snapshot of its pristine state and is restored after its job (also when the worker
//! crashed, timed out or was cancelled), then kept for the next job on that fixture.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::fixtures::{self, Fixture};
use super::workdir::WorkDir;
use super::{lock, ProviderError};
use crate::snapshot::SnapshotManager;

/// A fixture copied into the work folder with a snapshot of its pristine state.
pub struct WorkingCopy {
    dir: PathBuf,
    snapshots: SnapshotManager,
    pristine: String,
}

impl WorkingCopy {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn dispose(self) {
        let _ = self.snapshots.dispose();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub struct WorkingCopies {
    /// This provider's own folder for copies (inside the user's `workDir`); `None` once closed.
    work: Mutex<Option<WorkDir>>,
    work_path: PathBuf,
    /// Free copies per fixture source folder.
    free: Mutex<HashMap<PathBuf, Vec<WorkingCopy>>>,
    /// Set first thing by `close` while it holds `free`, and read by `give_back` under the same
    /// lock: a copy coming back once closing has begun is disposed of instead of kept (its
    /// private snapshot store would otherwise outlive the provider).
    closed: AtomicBool,
    /// Copies taken and not yet given back; `close` waits for them.
    lent: AtomicUsize,
    settled: tokio::sync::Notify,
    next: AtomicU64,
}

impl WorkingCopies {
    /// Makes this provider's folder in `parent` (removing folders left there by providers that
    /// died).
    pub async fn create(parent: &Path) -> Result<Self, ProviderError> {
        std::fs::create_dir_all(parent)?;
        let owned = parent.to_path_buf();
        let work = tokio::task::spawn_blocking(move || WorkDir::create(&owned))
            .await
            .map_err(|e| ProviderError::Io(e.to_string()))?
            .map_err(|e| {
                ProviderError::Io(format!(
                    "cannot make a working folder in {}: {e}",
                    parent.display()
                ))
            })?;
        Ok(Self {
            work_path: work.path().to_path_buf(),
            work: Mutex::new(Some(work)),
            free: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
            lent: AtomicUsize::new(0),
            settled: tokio::sync::Notify::new(),
            next: AtomicU64::new(0),
        })
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// A numbered name, unique in this provider (copies, jobs, staging folders).
    pub fn unique(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// A pristine copy of `fixture`: a free one, or a new one.
    pub async fn take(&self, fixture: &Fixture) -> Result<WorkingCopy, ProviderError> {
        // Counted before `closed` is read: a `close` that this misses waits for this copy.
        self.lent.fetch_add(1, Ordering::SeqCst);
        let taken = if self.is_closed() {
            Err(ProviderError::NotConnected)
        } else {
            self.take_inner(fixture).await
        };
        if taken.is_err() {
            self.returned();
        }
        taken
    }

    async fn take_inner(&self, fixture: &Fixture) -> Result<WorkingCopy, ProviderError> {
        if let Some(copy) = lock(&self.free).get_mut(&fixture.dir).and_then(Vec::pop) {
            return Ok(copy);
        }
        let dir = self
            .work_path
            .join(format!("{}-{}", fixture.name, self.unique()));
        let src = fixture.dir.clone();
        tokio::task::spawn_blocking(move || {
            let _ = std::fs::remove_dir_all(&dir);
            fixtures::copy_tree(&src, &dir)?;
            let io = |e: crate::snapshot::SnapshotError| ProviderError::Io(e.to_string());
            let snapshots = SnapshotManager::open(&dir).map_err(io)?;
            let pristine = snapshots.create().map_err(io)?.id;
            Ok(WorkingCopy {
                dir,
                snapshots,
                pristine,
            })
        })
        .await
        .map_err(|e| ProviderError::Io(e.to_string()))?
    }

    fn returned(&self) {
        self.lent.fetch_sub(1, Ordering::SeqCst);
        self.settled.notify_waiters();
    }

    /// Restores the copy to its pristine state and keeps it for the next job on `fixture`; a
    /// copy that cannot be restored, or that comes back once closing has begun, is thrown away.
    pub async fn give_back(&self, fixture: &Fixture, copy: WorkingCopy) {
        let restored =
            tokio::task::spawn_blocking(move || match copy.snapshots.restore(&copy.pristine) {
                Ok(_) => Some(copy),
                Err(_) => {
                    copy.dispose();
                    None
                }
            })
            .await
            .ok()
            .flatten();
        if let Some(copy) = restored {
            let mut free = lock(&self.free);
            if self.is_closed() {
                drop(free);
                let _ = tokio::task::spawn_blocking(move || copy.dispose()).await;
            } else {
                free.entry(fixture.dir.clone()).or_default().push(copy);
            }
        }
        self.returned();
    }

    /// Refuses copies from now on (see `closed`).
    pub fn close(&self) {
        let _free = lock(&self.free);
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Waits (at most `grace`) for lent copies to come back, then removes every copy, its
    /// snapshot store, and the work folder.
    pub async fn remove_all(&self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let notified = self.settled.notified();
            if self.lent.load(Ordering::SeqCst) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break;
            }
        }
        let copies: Vec<WorkingCopy> = lock(&self.free).drain().flat_map(|(_, v)| v).collect();
        let work = lock(&self.work).take();
        let _ = tokio::task::spawn_blocking(move || {
            copies.into_iter().for_each(WorkingCopy::dispose);
            // Dropping removes the folder (and anything a failed restore left in it).
            drop(work);
        })
        .await;
    }
}
