//! The private object store: a bare git repository in its own temporary folder, one per
//! manager, never inside the user's `.git`. Blobs hold file contents and link targets; each
//! snapshot is also a tree and a commit under `refs/snapshots/<n>`, so a store can be inspected
//! with `git --git-dir=<store> ls-tree -r refs/snapshots/<n>`.
//!
//! The folder is named `promethean-snapshot-<pid>-<random>` under the OS temp dir and removed
//! when the manager is disposed or dropped. While it lives, its owner holds an exclusive `flock`
//! on `owner.lock` inside it; a later manager sweeps away folders whose lock it can take (their
//! owner died without cleaning up, e.g. killed by a signal).

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use git2::{Oid, Repository, RepositoryInitOptions, Signature, Time};

use super::error::{IoContext, Result};
use super::tree::{EntryKind, Manifest};

const PREFIX: &str = "promethean-snapshot-";
/// A folder with no lock file yet may be one that another process is creating right now.
const SWEEP_GRACE: Duration = Duration::from_secs(60);

pub(crate) struct Store {
    // Field order matters: the repository and the lock close before the folder is removed.
    pub repo: Repository,
    _lock: File,
    dir: tempfile::TempDir,
}

impl Store {
    pub fn create() -> Result<Self> {
        sweep_stale();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{}-", std::process::id()))
            .tempdir()
            .ctx("create the private store in", &std::env::temp_dir())?;
        let lock_path = dir.path().join("owner.lock");
        let lock = File::create(&lock_path).ctx("create", &lock_path)?;
        lock_exclusive(&lock, false);
        let mut opts = RepositoryInitOptions::new();
        opts.bare(true).no_reinit(true).mkpath(false);
        let repo = Repository::init_opts(dir.path().join("store.git"), &opts)?;
        {
            let mut config = repo.config()?;
            // Any file name the folder can hold must be storable; these checks guard checkouts
            // on Windows/macOS, which this store never does.
            config.set_bool("core.protectNTFS", false)?;
            config.set_bool("core.protectHFS", false)?;
        }
        Ok(Store {
            repo,
            _lock: lock,
            dir,
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Removes the folder now, reporting a failure (dropping removes it too, silently).
    pub fn close(self) -> Result<()> {
        let Store { repo, _lock, dir } = self;
        drop(repo);
        drop(_lock);
        let path = dir.path().to_path_buf();
        dir.close().ctx("remove the private store", &path)
    }

    /// Writes the snapshot's tree (empty directories included) and a commit pinning it under
    /// `refs/snapshots/<n>`; returns (tree, commit).
    pub fn record(&self, manifest: &Manifest, n: u64, created_ms: u64) -> Result<(Oid, Oid)> {
        let tree = self.write_tree(manifest)?;
        let time = Time::new((created_ms / 1000) as i64, 0);
        let sig = Signature::new(
            "promethean-benchmark",
            "snapshots@promethean.invalid",
            &time,
        )?;
        let tree_obj = self.repo.find_tree(tree)?;
        let commit = self.repo.commit(
            Some(&ref_name(n)),
            &sig,
            &sig,
            &format!("snapshot {n}"),
            &tree_obj,
            &[],
        )?;
        Ok((tree, commit))
    }

    pub fn forget(&self, n: u64) -> Result<()> {
        match self.repo.find_reference(&ref_name(n)) {
            Ok(mut r) => Ok(r.delete()?),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn write_tree(&self, manifest: &Manifest) -> Result<Oid> {
        type Children = Vec<(std::ffi::OsString, Oid, i32)>;
        let mut children: HashMap<PathBuf, Children> = HashMap::new();
        children.insert(PathBuf::new(), Vec::new());
        for (path, entry) in manifest.paths.iter().zip(&manifest.entries) {
            let parent = path.parent().unwrap_or(Path::new("")).to_path_buf();
            let name = path.file_name().unwrap_or_default().to_os_string();
            match entry.kind {
                EntryKind::Directory => {
                    children.entry(path.clone()).or_default();
                }
                EntryKind::File => {
                    let mode = if entry.stat.perm & 0o111 != 0 {
                        0o100755
                    } else {
                        0o100644
                    };
                    children
                        .entry(parent)
                        .or_default()
                        .push((name, entry.oid, mode));
                }
                EntryKind::Symlink => {
                    children
                        .entry(parent)
                        .or_default()
                        .push((name, entry.oid, 0o120000));
                }
            }
        }
        // Deepest directories first, so every subtree exists before its parent refers to it.
        let mut dirs: Vec<PathBuf> = children.keys().cloned().collect();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        let mut root = None;
        for dir in dirs {
            let list = children.remove(&dir).unwrap_or_default();
            let mut builder = self.repo.treebuilder(None)?;
            for (name, oid, mode) in &list {
                builder.insert(name, *oid, *mode)?;
            }
            let oid = builder.write()?;
            if dir.as_os_str().is_empty() {
                root = Some(oid);
            } else {
                let parent = dir.parent().unwrap_or(Path::new("")).to_path_buf();
                let name = dir.file_name().unwrap_or_default().to_os_string();
                children
                    .entry(parent)
                    .or_default()
                    .push((name, oid, 0o040000));
            }
        }
        Ok(root.expect("the root directory is always listed"))
    }
}

fn ref_name(n: u64) -> String {
    format!("refs/snapshots/{n}")
}

#[cfg(unix)]
fn lock_exclusive(file: &File, nonblocking: bool) -> bool {
    use std::os::unix::io::AsRawFd;
    let flags = libc::LOCK_EX | if nonblocking { libc::LOCK_NB } else { 0 };
    // SAFETY: flock on a descriptor this function borrows; no memory is involved.
    unsafe { libc::flock(file.as_raw_fd(), flags) == 0 }
}

#[cfg(not(unix))]
fn lock_exclusive(_file: &File, _nonblocking: bool) -> bool {
    false
}

/// Removes stores left behind by managers whose process died (best effort, errors ignored).
fn sweep_stale() {
    if cfg!(not(unix)) {
        return;
    }
    let Ok(read) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in read.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(PREFIX) {
            continue;
        }
        let path = entry.path();
        let stale = match File::open(path.join("owner.lock")) {
            // The owner holds the lock for its whole life; taking it means the owner is gone.
            Ok(lock) => lock_exclusive(&lock, true),
            Err(_) => entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > SWEEP_GRACE),
        };
        if stale {
            let _ = fs::remove_dir_all(&path);
        }
    }
}
