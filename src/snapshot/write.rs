//! Putting entries back on disk without ever leaving the workdir.
//!
//! Every path written or removed is `root` joined with a plain relative path from a manifest or
//! a walk (no `..`, checked). Before writing, each parent directory is `lstat`ed from the root
//! down and anything that is not a real directory (a symlink planted to lead outside, a file)
//! is removed — the link itself, never what it points to — and replaced by a directory. The
//! entry itself is removed first and created with `O_CREAT|O_EXCL`, which refuses to follow a
//! symlink, so a file hard-linked or symlinked from outside is replaced, not written through.
//! Directories go with `remove_dir_all`, which does not follow symlinks inside them.
//!
//! This defends against a tree tampered with between snapshot and restore. A process racing the
//! restore itself, swapping directories for symlinks while it runs, is out of scope.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::Path;

use git2::Repository;

use super::error::{IoContext, Result, SnapshotError};
use super::tree::{is_plain_relative, Entry, EntryKind};

fn check_relative(rel: &Path) -> Result<()> {
    if is_plain_relative(rel) && !rel.as_os_str().is_empty() {
        Ok(())
    } else {
        Err(SnapshotError::Walk(format!(
            "refusing to touch {rel:?}: not a plain path inside the workdir"
        )))
    }
}

/// Removes whatever is at `root/rel` (a directory with its contents), if anything.
pub(crate) fn remove(root: &Path, rel: &Path) -> Result<bool> {
    check_relative(rel)?;
    let full = root.join(rel);
    match fs::symlink_metadata(&full) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(&full).ctx("remove", &full)?,
        Ok(_) => fs::remove_file(&full).ctx("remove", &full)?,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).ctx("lstat", &full),
    }
    Ok(true)
}

/// Makes every parent of `root/rel` a real directory.
fn ensure_parents(root: &Path, rel: &Path) -> Result<()> {
    let mut dir = root.to_path_buf();
    let Some(parent) = rel.parent() else {
        return Ok(());
    };
    for part in parent.components() {
        dir.push(part);
        match fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => continue,
            Ok(_) => {
                fs::remove_file(&dir).ctx("remove", &dir)?;
                fs::create_dir(&dir).ctx("create directory", &dir)?;
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                fs::create_dir(&dir).ctx("create directory", &dir)?;
            }
            Err(e) => return Err(e).ctx("lstat", &dir),
        }
    }
    Ok(())
}

/// Writes `entry` at `root/rel`, replacing whatever is there.
pub(crate) fn put(root: &Path, rel: &Path, entry: &Entry, repo: &Repository) -> Result<()> {
    check_relative(rel)?;
    ensure_parents(root, rel)?;
    let full = root.join(rel);
    if entry.kind == EntryKind::Directory {
        match fs::symlink_metadata(&full) {
            Ok(meta) if meta.is_dir() => return Ok(()),
            Ok(_) => fs::remove_file(&full).ctx("remove", &full)?,
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e).ctx("lstat", &full),
        }
        return fs::create_dir(&full).ctx("create directory", &full);
    }
    remove(root, rel)?;
    match entry.kind {
        EntryKind::File => {
            let blob = repo.find_blob(entry.oid)?;
            write_new(&full, blob.content(), entry.stat.perm)
        }
        EntryKind::Symlink => {
            let target = entry.target.as_deref().unwrap_or_default();
            make_symlink(target, &full)
        }
        EntryKind::Directory => unreachable!("handled above"),
    }
}

#[cfg(unix)]
fn write_new(path: &Path, data: &[u8], perm: u32) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .ctx("create", path)?;
    file.write_all(data).ctx("write", path)?;
    // Set after creation: the mode given to open() is filtered by the umask.
    file.set_permissions(fs::Permissions::from_mode(perm))
        .ctx("chmod", path)
}

#[cfg(not(unix))]
fn write_new(path: &Path, data: &[u8], perm: u32) -> Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .ctx("create", path)?;
    file.write_all(data).ctx("write", path)?;
    let mut p = file.metadata().ctx("stat", path)?.permissions();
    p.set_readonly(perm & 0o200 == 0);
    file.set_permissions(p).ctx("chmod", path)
}

#[cfg(unix)]
fn make_symlink(target: &[u8], path: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target), path).ctx("symlink", path)
}

#[cfg(not(unix))]
fn make_symlink(target: &[u8], path: &Path) -> Result<()> {
    let target = String::from_utf8_lossy(target).into_owned();
    std::os::windows::fs::symlink_file(target, path).ctx("symlink", path)
}
