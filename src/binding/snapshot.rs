use std::path::PathBuf;
use std::sync::Arc;

use napi::bindgen_prelude::{Buffer, Env, PromiseRaw, ToNapiValue};
use napi_derive::napi;

use super::blocking::run_blocking;
use super::cancel::NativeCancel;
use super::error::Result;
use crate::cancel::Cancel;
use crate::snapshot::{
    canonical_workdir, Change, RestoreSummary, Snapshot, SnapshotManager, SnapshotOptions,
};

#[napi(object)]
pub struct NativeSnapshot {
    pub id: String,
    pub manager_id: String,
    pub workdir: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: f64,
    pub files: f64,
    pub symlinks: f64,
    pub directories: f64,
    pub bytes: f64,
    pub tree: String,
    pub commit: String,
}

impl From<Snapshot> for NativeSnapshot {
    fn from(s: Snapshot) -> Self {
        Self {
            id: s.id,
            manager_id: s.manager_id,
            workdir: s.workdir.to_string_lossy().into_owned(),
            created_at: s.created_at as f64,
            files: s.files as f64,
            symlinks: s.symlinks as f64,
            directories: s.directories as f64,
            bytes: s.bytes as f64,
            tree: s.tree,
            commit: s.commit,
        }
    }
}

#[napi(object)]
pub struct NativeChange {
    /// Relative to the workdir, `/`-separated on POSIX. Exact for a UTF-8 name; for any other,
    /// a display form (each invalid byte shown as U+FFFD), and `raw_path` holds the name.
    pub path: String,
    /// The exact bytes of the path, only when it is not valid UTF-8 (a file name on Linux is
    /// bytes): Node's `fs` takes a `Buffer` path as it is. Absent for UTF-8 names, so the
    /// common case costs no Buffer and `path` alone is the whole answer.
    pub raw_path: Option<Buffer>,
    /// `added`, `modified` or `deleted`.
    pub change: String,
    /// `file`, `symlink` or `directory`.
    pub kind: String,
}

impl From<Change> for NativeChange {
    fn from(c: Change) -> Self {
        let (path, raw_path) = match c.path.to_str() {
            Some(text) => (text.to_owned(), None),
            None => (
                c.path.to_string_lossy().into_owned(),
                Some(Buffer::from(crate::snapshot::os_bytes(c.path.as_os_str()))),
            ),
        };
        Self {
            path,
            raw_path,
            change: c.change.as_str().to_string(),
            kind: c.kind.as_str().to_string(),
        }
    }
}

#[napi(object)]
pub struct NativeRestoreSummary {
    pub written: u32,
    pub removed: u32,
}

impl From<RestoreSummary> for NativeRestoreSummary {
    fn from(s: RestoreSummary) -> Self {
        Self {
            written: s.written as u32,
            removed: s.removed as u32,
        }
    }
}

/// Runs `work` on tokio's blocking pool (the folder walk, hashing and writes block) and settles
/// the promise on the JS thread. A core error is turned into a JS error there, so it keeps its
/// code (`ERR_SNAPSHOT_DROPPED`, `ENOENT`, ...) instead of napi's generic status.
///
/// Deadlocks: the JS thread never takes the folder or store locks; it only reads the registry
/// (`SnapshotManager::check`), which no one holds across I/O or while waiting for another lock.
fn spawn<'env, T, V>(
    env: &'env Env,
    work: impl FnOnce() -> crate::snapshot::Result<T> + Send + 'static,
    convert: impl FnOnce(T) -> V + 'static,
) -> Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
{
    run_blocking(env, "snapshot", work, convert)
}

/// Checks `workdir` on the calling thread (a missing folder throws at once, with `ENOENT` or
/// `ENOTDIR`), then creates the private store off it.
#[napi(catch_unwind, ts_return_type = "Promise<NativeSnapshotManager>")]
// napi-derive registers exports only outside `cfg(test)`, so test builds see no caller.
#[cfg_attr(test, allow(dead_code))]
pub fn open_snapshot_manager<'env>(
    env: &'env Env,
    workdir: String,
    include_ignored: Option<bool>,
) -> Result<PromiseRaw<'env, NativeSnapshotManager>> {
    let root = canonical_workdir(&PathBuf::from(&workdir))?;
    let options = SnapshotOptions {
        include_ignored: include_ignored.unwrap_or(false),
    };
    spawn(
        env,
        move || SnapshotManager::open_with(root, options),
        |manager| {
            let store_dir = manager
                .store_dir()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            NativeSnapshotManager {
                inner: Arc::new(manager),
                store_dir,
            }
        },
    )
}

/// One manager as one JS object; the JS layer (`lib/snapshot.js`) wraps it in the public
/// `GitSnapshotManager`. Every method that touches the folder returns a promise; ids are
/// checked on the calling thread first so bad ones throw at once.
#[napi]
pub struct NativeSnapshotManager {
    inner: Arc<SnapshotManager>,
    store_dir: String,
}

#[napi]
impl NativeSnapshotManager {
    #[napi(catch_unwind, getter)]
    pub fn id(&self) -> String {
        self.inner.id().to_string()
    }

    #[napi(catch_unwind, getter)]
    pub fn workdir(&self) -> String {
        self.inner.workdir().to_string_lossy().into_owned()
    }

    /// The private store's folder (kept from opening: reading it live would wait on the lock an
    /// operation in flight holds).
    #[napi(catch_unwind, getter)]
    pub fn store_dir(&self) -> String {
        self.store_dir.clone()
    }

    #[napi(catch_unwind, ts_return_type = "Promise<NativeSnapshot>")]
    pub fn create<'env>(
        &self,
        env: &'env Env,
        cancel: Option<&NativeCancel>,
    ) -> Result<PromiseRaw<'env, NativeSnapshot>> {
        let inner = Arc::clone(&self.inner);
        let cancel = cancel.map_or_else(Cancel::new, NativeCancel::token);
        spawn(
            env,
            move || inner.create_cancellable(&cancel),
            NativeSnapshot::from,
        )
    }

    #[napi(catch_unwind, ts_return_type = "Promise<NativeRestoreSummary>")]
    pub fn restore<'env>(
        &self,
        env: &'env Env,
        id: String,
        cancel: Option<&NativeCancel>,
    ) -> Result<PromiseRaw<'env, NativeRestoreSummary>> {
        self.inner.check(&id)?;
        let inner = Arc::clone(&self.inner);
        let cancel = cancel.map_or_else(Cancel::new, NativeCancel::token);
        spawn(
            env,
            move || inner.restore_cancellable(&id, &cancel),
            NativeRestoreSummary::from,
        )
    }

    #[napi(catch_unwind, ts_return_type = "Promise<NativeChange[]>")]
    pub fn diff<'env>(
        &self,
        env: &'env Env,
        id: String,
    ) -> Result<PromiseRaw<'env, Vec<NativeChange>>> {
        self.inner.check(&id)?;
        let inner = Arc::clone(&self.inner);
        spawn(
            env,
            move || inner.diff(&id),
            |changes| changes.into_iter().map(NativeChange::from).collect(),
        )
    }

    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn drop_snapshot<'env>(&self, env: &'env Env, id: String) -> Result<PromiseRaw<'env, ()>> {
        self.inner.check(&id)?;
        let inner = Arc::clone(&self.inner);
        spawn(env, move || inner.drop_snapshot(&id), |()| ())
    }

    /// The live snapshots, oldest first (no I/O: read from memory).
    #[napi(catch_unwind)]
    pub fn list(&self) -> Result<Vec<NativeSnapshot>> {
        Ok(self
            .inner
            .list()?
            .into_iter()
            .map(NativeSnapshot::from)
            .collect())
    }

    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn dispose<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let inner = Arc::clone(&self.inner);
        spawn(env, move || inner.dispose(), |()| ())
    }
}
