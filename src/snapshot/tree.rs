//! The folder as this module sees it: a walk that honours ignore rules, one stat record per
//! entry, and the comparison of a live folder against a recorded manifest.
//!
//! Change detection is [`crate::fingerprint`]'s stat rule (git's index, with its "racily clean"
//! rule): only entries whose stat cannot prove them unchanged are hashed.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::{self, Metadata};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use git2::{ObjectType, Oid};

use super::error::{IoContext, Result, SnapshotError};

pub(crate) use crate::fingerprint::{now_ns, Stat};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Symlink,
    Directory,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Symlink => "symlink",
            EntryKind::Directory => "directory",
        }
    }
}

/// One recorded entry of a snapshot.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub kind: EntryKind,
    /// Blob of the content (files) or of the link target (symlinks); zero for directories.
    pub oid: Oid,
    /// Stat at the time the entry was last known to match the snapshot.
    pub stat: Stat,
    /// Whether `stat` alone cannot prove the entry unchanged (see the module comment).
    pub racy: bool,
    /// Link target bytes, kept for symlinks so comparing one needs no object read.
    pub target: Option<Vec<u8>>,
}

impl Entry {
    /// Records that the entry on disk matches the snapshot with this stat, as of now.
    pub fn refresh(&mut self, stat: Stat, now: i128) {
        self.stat = stat;
        self.racy = stat.racy_at(now);
    }

    pub fn new(kind: EntryKind, oid: Oid, stat: Stat, now: i128, target: Option<Vec<u8>>) -> Self {
        Entry {
            kind,
            oid,
            stat,
            racy: stat.racy_at(now),
            target,
        }
    }
}

/// Every entry of a snapshot, parents before their children.
#[derive(Debug, Default)]
pub(crate) struct Manifest {
    pub paths: Vec<PathBuf>,
    pub entries: Vec<Entry>,
    pub index: HashMap<PathBuf, usize>,
    /// Directories of the snapshot: the walk prunes any other directory at once.
    pub dirs: Arc<HashSet<PathBuf>>,
}

impl Manifest {
    pub fn push(&mut self, path: PathBuf, entry: Entry) {
        self.index.insert(path.clone(), self.paths.len());
        self.paths.push(path);
        self.entries.push(entry);
    }

    pub fn seal(&mut self) {
        let dirs = self
            .paths
            .iter()
            .zip(&self.entries)
            .filter(|(_, e)| e.kind == EntryKind::Directory)
            .map(|(p, _)| p.clone())
            .collect();
        self.dirs = Arc::new(dirs);
    }

    pub fn get(&self, path: &Path) -> Option<&Entry> {
        self.index.get(path).map(|&i| &self.entries[i])
    }

    pub fn count(&self, kind: EntryKind) -> usize {
        self.entries.iter().filter(|e| e.kind == kind).count()
    }
}

/// What a live entry is, by `lstat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LiveKind {
    Entry(EntryKind),
    /// FIFOs, sockets, devices: never captured and never touched.
    Special,
}

pub(crate) fn live_kind(meta: &Metadata) -> LiveKind {
    let t = meta.file_type();
    if t.is_symlink() {
        LiveKind::Entry(EntryKind::Symlink)
    } else if t.is_dir() {
        LiveKind::Entry(EntryKind::Directory)
    } else if t.is_file() {
        LiveKind::Entry(EntryKind::File)
    } else {
        LiveKind::Special
    }
}

/// What to leave out of a walk.
#[derive(Clone, Debug)]
pub(crate) struct WalkScope {
    pub root: PathBuf,
    pub include_ignored: bool,
    /// The private store, when it happens to sit inside the folder (a workdir of `/tmp`).
    pub store: Option<PathBuf>,
}

/// Walks the folder in a stable order (siblings by name, parents first) and calls `visit` with
/// each entry's relative path and `lstat`. Symlinks are never followed. `.git` entries (the
/// user's repository, or a submodule's link) and the private store are skipped, and so are
/// ignored paths unless `include_ignored`. When `keep_dirs` is given, any directory not in it is
/// reported in the returned list instead of being entered.
pub(crate) fn walk(
    scope: &WalkScope,
    keep_dirs: Option<Arc<HashSet<PathBuf>>>,
    mut visit: impl FnMut(&Path, &Metadata) -> Result<()>,
) -> Result<Vec<PathBuf>> {
    let mut builder = ignore::WalkBuilder::new(&scope.root);
    if scope.include_ignored {
        builder.standard_filters(false);
    } else {
        // The user's git rules (.gitignore in the folder and above it, .git/info/exclude, the
        // global excludes file), but not ripgrep's own `.ignore` files nor its hidden-file rule.
        builder
            .standard_filters(true)
            .hidden(false)
            .ignore(false)
            .require_git(false);
    }
    builder
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b));

    let pruned = Arc::new(Mutex::new(Vec::new()));
    {
        let root = scope.root.clone();
        let store = scope.store.clone();
        let pruned = Arc::clone(&pruned);
        builder.filter_entry(move |e| {
            if e.depth() == 0 {
                return true;
            }
            if e.file_name() == OsStr::new(".git") || store.as_deref() == Some(e.path()) {
                return false;
            }
            if let Some(keep) = &keep_dirs {
                if e.file_type().is_some_and(|t| t.is_dir()) {
                    let rel = e.path().strip_prefix(&root).unwrap_or(e.path());
                    if !keep.contains(rel) {
                        pruned
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(rel.to_path_buf());
                        return false;
                    }
                }
            }
            true
        });
    }

    for item in builder.build() {
        let entry = item.map_err(|e| SnapshotError::Walk(e.to_string()))?;
        if entry.depth() == 0 {
            continue;
        }
        let rel = entry.path().strip_prefix(&scope.root).map_err(|_| {
            SnapshotError::Walk(format!("{:?} is outside the workdir", entry.path()))
        })?;
        let meta = fs::symlink_metadata(entry.path()).ctx("lstat", entry.path())?;
        visit(rel, &meta)?;
    }
    let mut pruned = std::mem::take(&mut *pruned.lock().unwrap_or_else(|p| p.into_inner()));
    pruned.sort();
    Ok(pruned)
}

/// The git blob id of a symlink target.
pub(crate) fn link_target(path: &Path) -> Result<Vec<u8>> {
    let target = fs::read_link(path).ctx("readlink", path)?;
    Ok(os_bytes(target.as_os_str()))
}

#[cfg(unix)]
pub(crate) fn os_bytes(s: &OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    s.as_bytes().to_vec()
}

#[cfg(not(unix))]
pub(crate) fn os_bytes(s: &OsStr) -> Vec<u8> {
    s.to_string_lossy().as_bytes().to_vec()
}

/// Whether a relative path only goes down (no `..`, no root, no prefix).
pub(crate) fn is_plain_relative(path: &Path) -> bool {
    path.components().all(|c| matches!(c, Component::Normal(_)))
}

/// How a path differs from the snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// Present now, absent from the snapshot (a directory is reported once, not its contents).
    Added,
    /// In both, with other content, permissions, link target or kind.
    Modified,
    /// In the snapshot, absent now.
    Deleted,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Modified => "modified",
            ChangeKind::Deleted => "deleted",
        }
    }
}

/// One changed path, relative to the workdir.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub path: PathBuf,
    pub change: ChangeKind,
    /// The kind on disk for `Added`, the snapshot's kind otherwise.
    pub kind: EntryKind,
}

/// Compares the live folder against `manifest`, hashing only the suspects, and refreshes the
/// recorded stat of every entry found unchanged by hashing (so the next comparison is stat-only).
/// Changes come sorted by path, parents before children.
pub(crate) fn compare(scope: &WalkScope, manifest: &mut Manifest) -> Result<Vec<Change>> {
    let now = now_ns();
    let mut seen = vec![false; manifest.entries.len()];
    let mut changes = Vec::new();

    let keep = Arc::clone(&manifest.dirs);
    let pruned = walk(scope, Some(keep), |rel, meta| {
        let kind = match live_kind(meta) {
            LiveKind::Entry(k) => k,
            LiveKind::Special => return Ok(()),
        };
        let Some(&i) = manifest.index.get(rel) else {
            changes.push(Change {
                path: rel.to_path_buf(),
                change: ChangeKind::Added,
                kind,
            });
            return Ok(());
        };
        seen[i] = true;
        let full = scope.root.join(rel);
        if !same_entry(&full, meta, &mut manifest.entries[i], now)? {
            changes.push(Change {
                path: rel.to_path_buf(),
                change: ChangeKind::Modified,
                kind: manifest.entries[i].kind,
            });
        }
        Ok(())
    })?;

    // Directories the walk did not enter: new ones, or a snapshot file now a directory.
    for rel in pruned {
        match manifest.index.get(&rel) {
            Some(&i) => {
                seen[i] = true;
                changes.push(Change {
                    path: rel,
                    change: ChangeKind::Modified,
                    kind: manifest.entries[i].kind,
                });
            }
            None => changes.push(Change {
                path: rel,
                change: ChangeKind::Added,
                kind: EntryKind::Directory,
            }),
        }
    }

    // Entries the walk did not meet: gone, or hidden from the walk (by ignore rules that changed
    // since, say). An entry below a changed path is gone as far as the snapshot is concerned and
    // is not looked up, since its parent may now be a symlink leading out of the folder.
    // Manifest order is parents first, so a parent found changed here is in the set before its
    // children are looked at.
    let mut changed_dirs: HashSet<PathBuf> = changes.iter().map(|c| c.path.clone()).collect();
    for (i, _) in seen.iter().enumerate().filter(|(_, &was_seen)| !was_seen) {
        let rel = manifest.paths[i].clone();
        let under_change = rel.ancestors().skip(1).any(|a| changed_dirs.contains(a));
        let present = if under_change {
            None
        } else {
            let full = scope.root.join(&rel);
            match fs::symlink_metadata(&full) {
                Ok(meta) => Some((full, meta)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) if e.raw_os_error() == Some(20) => None, // ENOTDIR: a parent is a file
                Err(e) => return Err(e).ctx("lstat", &full),
            }
        };
        let change = match present {
            None => Some(ChangeKind::Deleted),
            Some((full, meta)) => {
                if same_entry(&full, &meta, &mut manifest.entries[i], now)? {
                    None
                } else {
                    Some(ChangeKind::Modified)
                }
            }
        };
        if let Some(change) = change {
            if manifest.entries[i].kind == EntryKind::Directory {
                changed_dirs.insert(rel.clone());
            }
            changes.push(Change {
                path: rel,
                change,
                kind: manifest.entries[i].kind,
            });
        }
    }

    changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(changes)
}

/// Whether the live entry at `full` (with this `lstat`) matches `entry`; hashes only when the
/// stat cannot decide, and refreshes the entry's stat when hashing proves it unchanged.
fn same_entry(full: &Path, meta: &Metadata, entry: &mut Entry, now: i128) -> Result<bool> {
    let LiveKind::Entry(kind) = live_kind(meta) else {
        return Ok(false);
    };
    if kind != entry.kind {
        return Ok(false);
    }
    if kind == EntryKind::Directory {
        return Ok(true);
    }
    let stat = Stat::of(meta);
    if kind == EntryKind::File && stat.perm != entry.stat.perm {
        return Ok(false);
    }
    if stat == entry.stat && !entry.racy {
        return Ok(true);
    }
    let same = match kind {
        EntryKind::File => {
            if stat.size != entry.stat.size {
                return Ok(false);
            }
            let data = fs::read(full).ctx("read", full)?;
            Oid::hash_object(ObjectType::Blob, &data)? == entry.oid
        }
        EntryKind::Symlink => entry.target.as_deref() == Some(&link_target(full)?[..]),
        EntryKind::Directory => true,
    };
    if same {
        entry.refresh(stat, now);
    }
    Ok(same)
}
