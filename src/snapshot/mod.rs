//! Git snapshots of a folder: capture it, and later bring it back byte for byte.
//!
//! A [`SnapshotManager`] owns one folder (the workdir) and a private object store (see
//! [`store`]): a bare git repository in its own temporary folder, never the user's `.git`, so
//! the user's HEAD, branches, index and stash are never read or written. Every operation:
//!
//! - walks the folder with the user's ignore rules ([`tree::walk`]); tracked and untracked files
//!   are captured, ignored ones are left alone unless [`SnapshotOptions::include_ignored`];
//! - compares by stat first and hashes only the suspects ([`tree::compare`]), so `create` after
//!   the first, `diff` and `restore` cost what changed plus one `lstat` per entry;
//! - writes through [`write`], which never follows a symlink or `..` out of the folder.
//!
//! Operations on one folder are serialised by a process-wide lock per canonical path (two
//! managers of the same folder included); managers of different folders run in parallel.

mod error;
mod store;
mod tree;
mod write;

// The tests build trees with symlinks and exec bits through POSIX APIs.
#[cfg(all(test, unix))]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use git2::{ObjectType, Oid};

use crate::cancel::Cancel;
use error::IoContext;
pub use error::{Result, SnapshotError};
/// The exact bytes of a path (a `Change` path that is not UTF-8 is reported by these).
#[cfg(feature = "node")]
pub(crate) use tree::os_bytes;
pub use tree::{Change, ChangeKind, EntryKind};

use store::Store;
use tree::{now_ns, Entry, LiveKind, Manifest, Stat, WalkScope};

/// How a manager captures the folder.
#[derive(Clone, Debug, Default)]
pub struct SnapshotOptions {
    /// Capture (and restore, and remove when created since) files the git ignore rules exclude,
    /// such as `node_modules/`. Off by default: ignored files are left alone.
    pub include_ignored: bool,
}

/// A snapshot's public description; the recorded entries stay inside the manager.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// `<managerId>-<n>`.
    pub id: String,
    pub manager_id: String,
    /// The canonical workdir.
    pub workdir: PathBuf,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    pub files: u64,
    pub symlinks: u64,
    pub directories: u64,
    /// Total bytes of file contents.
    pub bytes: u64,
    /// The git tree of the snapshot in the private store.
    pub tree: String,
    /// The commit pinning the tree, at `refs/snapshots/<n>` in the private store.
    pub commit: String,
}

/// What a restore did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreSummary {
    /// Entries written back (modified or deleted since the snapshot).
    pub written: usize,
    /// Entries removed (created since the snapshot; a directory counts once).
    pub removed: usize,
}

struct Record {
    meta: Snapshot,
    manifest: Arc<Mutex<Manifest>>,
}

#[derive(Default)]
struct Registry {
    next: u64,
    snapshots: BTreeMap<u64, Record>,
    disposed: bool,
}

pub struct SnapshotManager {
    id: String,
    scope: WalkScope,
    folder: Arc<Mutex<()>>,
    /// `None` once disposed. Locked only while `folder` is held (lock order: folder, store).
    store: Mutex<Option<Store>>,
    /// Locked briefly, never across I/O, so id checks on the JS thread never wait for an
    /// operation in flight.
    registry: Mutex<Registry>,
    /// The newest manifest, whose stats spare `create` from re-reading unchanged files. Its
    /// blobs stay in the store even when its snapshot is dropped.
    last: Mutex<Option<Arc<Mutex<Manifest>>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock leaves plain data behind, never a half-written invariant
    // that later calls could trip on (the manifest is rebuilt per snapshot), so keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One lock per canonical folder, shared by every manager of that folder in the process.
fn folder_lock(path: &Path) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Weak<Mutex<()>>>>> = OnceLock::new();
    let mut locks = lock(LOCKS.get_or_init(Default::default));
    if let Some(existing) = locks.get(path).and_then(Weak::upgrade) {
        return existing;
    }
    locks.retain(|_, w| w.strong_count() > 0);
    let fresh = Arc::new(Mutex::new(()));
    locks.insert(path.to_path_buf(), Arc::downgrade(&fresh));
    fresh
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Checks `workdir` and returns its canonical path.
pub fn canonical_workdir(workdir: &Path) -> Result<PathBuf> {
    let bad = |code: &'static str, reason: String| SnapshotError::Workdir {
        path: workdir.to_path_buf(),
        reason,
        code,
    };
    if workdir.as_os_str().is_empty() {
        return Err(bad("ENOENT", "the path is empty".into()));
    }
    let canonical = fs::canonicalize(workdir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => bad("ENOENT", "it does not exist".into()),
        _ => bad("EIO", e.to_string()),
    })?;
    let meta = fs::metadata(&canonical).map_err(|e| bad("EIO", e.to_string()))?;
    if !meta.is_dir() {
        return Err(bad("ENOTDIR", "it is not a directory".into()));
    }
    Ok(canonical)
}

impl SnapshotManager {
    /// Opens a manager of `workdir` with default options.
    pub fn open(workdir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(workdir, SnapshotOptions::default())
    }

    pub fn open_with(workdir: impl AsRef<Path>, options: SnapshotOptions) -> Result<Self> {
        let root = canonical_workdir(workdir.as_ref())?;
        let store = Store::create()?;
        let store_path = store.path().to_path_buf();
        let id = {
            let mut h = blake3::Hasher::new();
            h.update(store_path.to_string_lossy().as_bytes());
            h.update(&now_ns().to_le_bytes());
            h.update(&std::process::id().to_le_bytes());
            h.finalize().to_hex()[..16].to_string()
        };
        Ok(SnapshotManager {
            id,
            folder: folder_lock(&root),
            scope: WalkScope {
                store: store_path.starts_with(&root).then_some(store_path),
                root,
                include_ignored: options.include_ignored,
            },
            store: Mutex::new(Some(store)),
            registry: Mutex::new(Registry::default()),
            last: Mutex::new(None),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The canonical workdir.
    pub fn workdir(&self) -> &Path {
        &self.scope.root
    }

    /// The private store's folder, `None` once disposed.
    pub fn store_dir(&self) -> Option<PathBuf> {
        lock(&self.store).as_ref().map(|s| s.path().to_path_buf())
    }

    /// Checks that `id` names a live snapshot of this manager, without waiting for any
    /// operation in flight.
    pub fn check(&self, id: &str) -> Result<()> {
        self.number(id).map(|_| ())
    }

    fn number(&self, id: &str) -> Result<u64> {
        let registry = lock(&self.registry);
        if registry.disposed {
            return Err(SnapshotError::Disposed);
        }
        let foreign = || SnapshotError::ForeignSnapshot {
            id: id.to_string(),
            manager: self.id.clone(),
        };
        let (manager, n) = id.rsplit_once('-').ok_or_else(foreign)?;
        if manager != self.id {
            return Err(foreign());
        }
        let n: u64 = n.parse().map_err(|_| foreign())?;
        if registry.snapshots.contains_key(&n) {
            Ok(n)
        } else {
            Err(SnapshotError::UnknownSnapshot { id: id.to_string() })
        }
    }

    fn record(&self, id: &str) -> Result<(u64, Arc<Mutex<Manifest>>)> {
        let n = self.number(id)?;
        let registry = lock(&self.registry);
        let record = registry
            .snapshots
            .get(&n)
            .ok_or_else(|| SnapshotError::UnknownSnapshot { id: id.to_string() })?;
        Ok((n, Arc::clone(&record.manifest)))
    }

    /// Fails unless the workdir is still a real directory at its canonical path: if it were
    /// replaced by a symlink, writing "inside" it would write elsewhere.
    fn check_root(&self) -> Result<()> {
        let root = &self.scope.root;
        match fs::symlink_metadata(root) {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(SnapshotError::Workdir {
                path: root.clone(),
                reason: "it is no longer a directory (replaced by a symlink or a file?)".into(),
                code: "ENOTDIR",
            }),
            Err(e) => Err(SnapshotError::Workdir {
                path: root.clone(),
                reason: format!("it can no longer be read: {e}"),
                code: if e.kind() == std::io::ErrorKind::NotFound {
                    "ENOENT"
                } else {
                    "EIO"
                },
            }),
        }
    }

    /// Captures the folder as it is now.
    pub fn create(&self) -> Result<Snapshot> {
        self.create_cancellable(&Cancel::new())
    }

    /// [`SnapshotManager::create`], which `cancel` stops between its steps (before the walk,
    /// after it, between two files read): a cancelled create records no snapshot.
    pub fn create_cancellable(&self, cancel: &Cancel) -> Result<Snapshot> {
        let cancelled = || SnapshotError::Cancelled {
            operation: "createSnapshot",
        };
        let _folder = lock(&self.folder);
        let store_guard = lock(&self.store);
        let store = store_guard.as_ref().ok_or(SnapshotError::Disposed)?;
        self.check_root()?;
        if cancel.is_cancelled() {
            return Err(cancelled());
        }

        let previous = lock(&self.last).clone();
        let previous = previous.as_ref().map(|m| lock(m));
        let now = now_ns();
        let mut manifest = Manifest::default();
        let mut bytes = 0u64;
        // Entries whose content is not known from the previous snapshot's stats.
        let mut unknown = Vec::new();
        tree::walk(&self.scope, None, |rel, meta| {
            let kind = match tree::live_kind(meta) {
                LiveKind::Entry(k) => k,
                LiveKind::Special => return Ok(()),
            };
            let stat = Stat::of(meta);
            let entry = match kind {
                EntryKind::Directory => Entry::new(kind, Oid::ZERO_SHA1, stat, now, None),
                EntryKind::File => {
                    bytes += stat.size;
                    let known = previous
                        .as_ref()
                        .and_then(|p| p.get(rel))
                        .filter(|e| e.kind == kind && e.stat == stat && !e.racy);
                    if known.is_none() {
                        unknown.push(manifest.paths.len());
                    }
                    let oid = known.map_or(Oid::ZERO_SHA1, |e| e.oid);
                    Entry::new(kind, oid, stat, now, None)
                }
                EntryKind::Symlink => {
                    let target = tree::link_target(&self.scope.root.join(rel))?;
                    unknown.push(manifest.paths.len());
                    Entry::new(kind, Oid::ZERO_SHA1, stat, now, Some(target))
                }
            };
            manifest.push(rel.to_path_buf(), entry);
            Ok(())
        })?;
        drop(previous);
        manifest.seal();
        if cancel.is_cancelled() {
            return Err(cancelled());
        }

        let created_at = now_ms();
        let n = {
            let mut registry = lock(&self.registry);
            registry.next += 1;
            registry.next
        };
        let bulk = unknown.len() >= store::BULK_OBJECTS;
        let (tree, commit) = store.with_sink(bulk, |sink| {
            for &i in &unknown {
                // Objects already written are unreferenced and harmless: no record points to them.
                if cancel.is_cancelled() {
                    return Err(cancelled());
                }
                let oid = match &manifest.entries[i].target {
                    Some(target) => sink.write(ObjectType::Blob, target)?,
                    None => {
                        let full = self.scope.root.join(&manifest.paths[i]);
                        let data = fs::read(&full).ctx("read", &full)?;
                        sink.write(ObjectType::Blob, &data)?
                    }
                };
                manifest.entries[i].oid = oid;
            }
            store.record(sink, &manifest, n, created_at)
        })?;
        let meta = Snapshot {
            id: format!("{}-{n}", self.id),
            manager_id: self.id.clone(),
            workdir: self.scope.root.clone(),
            created_at,
            files: manifest.count(EntryKind::File) as u64,
            symlinks: manifest.count(EntryKind::Symlink) as u64,
            directories: manifest.count(EntryKind::Directory) as u64,
            bytes,
            tree: tree.to_string(),
            commit: commit.to_string(),
        };
        let manifest = Arc::new(Mutex::new(manifest));
        *lock(&self.last) = Some(Arc::clone(&manifest));
        lock(&self.registry).snapshots.insert(
            n,
            Record {
                meta: meta.clone(),
                manifest,
            },
        );
        Ok(meta)
    }

    /// Which paths differ from the snapshot, sorted, parents first.
    pub fn diff(&self, id: &str) -> Result<Vec<Change>> {
        let (_, manifest) = self.record(id)?;
        let _folder = lock(&self.folder);
        let store = lock(&self.store);
        if store.is_none() {
            return Err(SnapshotError::Disposed);
        }
        self.check_root()?;
        let mut manifest = lock(&manifest);
        tree::compare(&self.scope, &mut manifest)
    }

    /// Brings the folder back to the snapshot, touching only what changed.
    pub fn restore(&self, id: &str) -> Result<RestoreSummary> {
        self.restore_cancellable(id, &Cancel::new())
    }

    /// [`SnapshotManager::restore`], which `cancel` stops only before the folder is touched:
    /// a cancelled restore leaves the folder untouched, and one that has begun writing runs to
    /// its end (a half-restored folder is neither state). `Cancelled` says it was untouched.
    pub fn restore_cancellable(&self, id: &str, cancel: &Cancel) -> Result<RestoreSummary> {
        let cancelled = || SnapshotError::Cancelled {
            operation: "restoreSnapshot",
        };
        let (_, manifest) = self.record(id)?;
        let _folder = lock(&self.folder);
        let store_guard = lock(&self.store);
        let store = store_guard.as_ref().ok_or(SnapshotError::Disposed)?;
        self.check_root()?;
        let mut manifest = lock(&manifest);
        let mut summary = RestoreSummary::default();
        // A second pass only when an ignore file changed: putting it back can change which
        // paths the walk sees (files it now ignores were left alone, files it no longer ignores
        // may need removing).
        for pass in 0..2 {
            if pass == 0 && cancel.is_cancelled() {
                return Err(cancelled());
            }
            let changes = tree::compare(&self.scope, &mut manifest)?;
            if changes.is_empty() {
                break;
            }
            // The last moment the folder is still untouched.
            if pass == 0 && cancel.is_cancelled() {
                return Err(cancelled());
            }
            let ignore_file_changed = changes
                .iter()
                .any(|c| c.path.file_name().is_some_and(|n| n == ".gitignore"));
            self.apply(&changes, &mut manifest, store, &mut summary)?;
            if !ignore_file_changed {
                break;
            }
        }
        Ok(summary)
    }

    fn apply(
        &self,
        changes: &[Change],
        manifest: &mut Manifest,
        store: &Store,
        summary: &mut RestoreSummary,
    ) -> Result<()> {
        let root = &self.scope.root;
        for c in changes.iter().filter(|c| c.change == ChangeKind::Added) {
            if write::remove(root, &c.path)? {
                summary.removed += 1;
            }
        }
        let now = now_ns();
        // `changes` is sorted like the manifest, parents first, so directories exist before
        // their contents are written.
        for c in changes.iter().filter(|c| c.change != ChangeKind::Added) {
            let i = manifest.index[&c.path];
            write::put(root, &c.path, &manifest.entries[i], &store.repo)?;
            summary.written += 1;
            let full = root.join(&c.path);
            if let Ok(meta) = fs::symlink_metadata(&full) {
                // Directories are recreated with default permissions; only files and links
                // carry a stat worth trusting next time.
                let stat = Stat::of(&meta);
                manifest.entries[i].refresh(stat, now);
            }
        }
        Ok(())
    }

    /// The live snapshots, oldest first.
    pub fn list(&self) -> Result<Vec<Snapshot>> {
        let registry = lock(&self.registry);
        if registry.disposed {
            return Err(SnapshotError::Disposed);
        }
        Ok(registry
            .snapshots
            .values()
            .map(|r| r.meta.clone())
            .collect())
    }

    /// Forgets a snapshot: its ref goes from the store and its id stops working. Its objects
    /// stay until the store is disposed (they are shared with later snapshots).
    pub fn drop_snapshot(&self, id: &str) -> Result<()> {
        let n = self.number(id)?;
        let _folder = lock(&self.folder);
        let store_guard = lock(&self.store);
        let store = store_guard.as_ref().ok_or(SnapshotError::Disposed)?;
        if lock(&self.registry).snapshots.remove(&n).is_none() {
            return Err(SnapshotError::UnknownSnapshot { id: id.to_string() });
        }
        store.forget(n)
    }

    /// Removes the private store and forgets every snapshot. Waits for an operation in flight
    /// on the folder; later calls fail with [`SnapshotError::Disposed`]. Idempotent.
    pub fn dispose(&self) -> Result<()> {
        let _folder = lock(&self.folder);
        let store = lock(&self.store).take();
        {
            let mut registry = lock(&self.registry);
            registry.disposed = true;
            registry.snapshots.clear();
        }
        *lock(&self.last) = None;
        match store {
            Some(store) => store.close(),
            None => Ok(()),
        }
    }
}
