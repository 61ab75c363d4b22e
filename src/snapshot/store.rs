//! The private object store: a bare git repository in its own temporary folder, one per
//! manager, never inside the user's `.git`. Blobs hold file contents and link targets; each
//! snapshot is also a tree and a commit under `refs/snapshots/<n>`, so a store can be inspected
//! with `git --git-dir=<store> ls-tree -r refs/snapshots/<n>`.
//!
//! The folder is named `promethean-snapshot-<pid>-<random>` under the OS temp dir and removed
//! when the manager is disposed or dropped. While it lives, its owner holds an exclusive `flock`
//! on `owner.lock` inside it; a later manager sweeps away folders whose lock it can take (their
//! owner died without cleaning up, e.g. killed by a signal).

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use std::cell::Cell;
use std::io::Write;

use git2::{
    Buf, Mempack, ObjectType, Odb, Oid, Repository, RepositoryInitOptions, Signature, Time,
};
use std::cell::RefCell;

use super::error::{IoContext, Result};
use super::tree::{os_bytes, EntryKind, Manifest};

const PREFIX: &str = "promethean-snapshot-";
/// From this many new objects on, a snapshot's objects are packed in memory and written as one
/// packfile instead of one loose file each: creating thousands of small files costs far more
/// than hashing them (about 0.7 ms per file on the ext4 volume the benchmark ran on).
pub(crate) const BULK_OBJECTS: usize = 64;
/// A pack held in memory is written out once it holds this much content.
const BULK_FLUSH_BYTES: usize = 64 << 20;
/// A store folder younger than this is never swept: its owner may not have locked it yet.
const SWEEP_GRACE: Duration = Duration::from_secs(60);

pub(crate) struct Store {
    // Field order matters: the repository and the lock close before the folder is removed.
    pub repo: Repository,
    /// Trees this store already holds: a directory unchanged since the last snapshot hashes to
    /// a known id in memory and costs no object write (not even git's "freshen" of the file).
    known_trees: Mutex<HashSet<Oid>>,
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
            known_trees: Mutex::new(HashSet::new()),
            _lock: lock,
            dir,
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `work` with a sink for new objects: loose files for a few, an in-memory pack
    /// written out as packfiles for `bulk` (see [`BULK_OBJECTS`]).
    pub fn with_sink<T>(&self, bulk: bool, work: impl FnOnce(&Sink) -> Result<T>) -> Result<T> {
        if !bulk {
            let odb = self.repo.odb()?;
            return work(&Sink {
                odb: &odb,
                pack: None,
                main: &self.repo,
                held: Cell::new(0),
                pending: RefCell::new(Vec::new()),
            });
        }
        // A second handle, so the in-memory backend (which cannot be detached) never sits in
        // front of the main handle's writes.
        let bulk_repo = Repository::open_bare(self.repo.path())?;
        let odb = bulk_repo.odb()?;
        let mempack = odb.add_new_mempack_backend(1000)?;
        let sink = Sink {
            odb: &odb,
            pack: Some((&mempack, &bulk_repo)),
            main: &self.repo,
            held: Cell::new(0),
            pending: RefCell::new(Vec::new()),
        };
        let out = work(&sink)?;
        sink.flush()?;
        Ok(out)
    }

    /// Removes the folder now, reporting a failure (dropping removes it too, silently).
    pub fn close(self) -> Result<()> {
        let Store {
            repo, _lock, dir, ..
        } = self;
        drop(repo);
        drop(_lock);
        let path = dir.path().to_path_buf();
        dir.close().ctx("remove the private store", &path)
    }

    /// Writes the snapshot's tree (empty directories included) and a commit pinning it under
    /// `refs/snapshots/<n>`; returns (tree, commit).
    pub fn record(
        &self,
        sink: &Sink,
        manifest: &Manifest,
        n: u64,
        created_ms: u64,
    ) -> Result<(Oid, Oid)> {
        let tree = self.write_tree(sink, manifest)?;
        sink.flush()?;
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

    fn write_tree(&self, sink: &Sink, manifest: &Manifest) -> Result<Oid> {
        type Children = Vec<(Vec<u8>, Oid, u32)>;
        let mut children: HashMap<PathBuf, Children> = HashMap::new();
        children.insert(PathBuf::new(), Vec::new());
        for (path, entry) in manifest.paths.iter().zip(&manifest.entries) {
            let parent = path.parent().unwrap_or(Path::new("")).to_path_buf();
            let name = os_bytes(path.file_name().unwrap_or_default());
            let mode = match entry.kind {
                EntryKind::Directory => {
                    children.entry(path.clone()).or_default();
                    continue;
                }
                EntryKind::File if entry.stat.perm & 0o111 != 0 => 0o100755,
                EntryKind::File => 0o100644,
                EntryKind::Symlink => 0o120000,
            };
            children
                .entry(parent)
                .or_default()
                .push((name, entry.oid, mode));
        }
        let mut known = self.known_trees.lock().unwrap_or_else(|p| p.into_inner());
        // Deepest directories first, so every subtree exists before its parent refers to it.
        let mut dirs: Vec<PathBuf> = children.keys().cloned().collect();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        let mut root = None;
        for dir in dirs {
            let mut list = children.remove(&dir).unwrap_or_default();
            let data = tree_bytes(&mut list);
            let oid = Oid::hash_object(ObjectType::Tree, &data)?;
            if !known.contains(&oid) {
                sink.write(ObjectType::Tree, &data)?;
                known.insert(oid);
            }
            if dir.as_os_str().is_empty() {
                root = Some(oid);
            } else {
                let parent = dir.parent().unwrap_or(Path::new("")).to_path_buf();
                let name = os_bytes(dir.file_name().unwrap_or_default());
                children
                    .entry(parent)
                    .or_default()
                    .push((name, oid, 0o040000));
            }
        }
        Ok(root.expect("the root directory is always listed"))
    }
}

/// Where new objects go while a snapshot is recorded.
pub(crate) struct Sink<'a> {
    odb: &'a Odb<'a>,
    pack: Option<(&'a Mempack<'a>, &'a Repository)>,
    main: &'a Repository,
    held: Cell<usize>,
    /// Objects in the in-memory pack, in write order.
    pending: RefCell<Vec<Oid>>,
}

impl Sink<'_> {
    pub fn write(&self, kind: ObjectType, data: &[u8]) -> Result<Oid> {
        let oid = self.odb.write(kind, data)?;
        if self.pack.is_some() {
            self.pending.borrow_mut().push(oid);
            self.held.set(self.held.get() + data.len());
            if self.held.get() >= BULK_FLUSH_BYTES {
                self.flush()?;
            }
        }
        Ok(oid)
    }

    /// Writes what the in-memory pack holds as a packfile of the store (indexed by libgit2's
    /// indexer, which checks every object), then empties it.
    pub fn flush(&self) -> Result<()> {
        let Some((mempack, bulk_repo)) = self.pack else {
            return Ok(());
        };
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        if !pending.is_empty() {
            // `Mempack::dump` packs only what commits reach; this packs every object written.
            let mut builder = bulk_repo.packbuilder()?;
            builder.set_threads(1);
            for oid in pending {
                builder.insert_object(oid, None)?;
            }
            let mut buf = Buf::new();
            builder.write_buf(&mut buf)?;
            let odb = self.main.odb()?;
            let mut writer = odb.packwriter()?;
            writer
                .write_all(&buf)
                .map_err(|e| git2::Error::from_str(&format!("writing a pack: {e}")))?;
            writer.commit()?;
        }
        mempack.reset()?;
        self.held.set(0);
        Ok(())
    }
}

/// A git tree object's content: entries sorted as git sorts them (a directory as if its name
/// ended in `/`), each `<octal mode> <name>\0<20-byte id>` (git's `tree.c`, `git_tree__write`).
fn tree_bytes(entries: &mut [(Vec<u8>, Oid, u32)]) -> Vec<u8> {
    let key = |name: &[u8], mode: u32| {
        let mut k = name.to_vec();
        if mode == 0o040000 {
            k.push(b'/');
        }
        k
    };
    entries.sort_by_cached_key(|(name, _, mode)| key(name, *mode));
    let mut out = Vec::with_capacity(entries.len() * 48);
    for (name, oid, mode) in entries.iter() {
        out.extend_from_slice(format!("{mode:o} ").as_bytes());
        out.extend_from_slice(name);
        out.push(0);
        out.extend_from_slice(oid.as_bytes());
    }
    out
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
        // Young folders are skipped: their owner may be between creating the folder and
        // locking it.
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > SWEEP_GRACE);
        let stale = old
            && match File::open(path.join("owner.lock")) {
                // The owner holds the lock for its whole life; taking it means the owner is gone.
                Ok(lock) => lock_exclusive(&lock, true),
                Err(_) => true,
            };
        if stale {
            let _ = fs::remove_dir_all(&path);
        }
    }
}
