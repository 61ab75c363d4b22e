//! The provider's own folder for working copies, inside the folder the user chose (`workDir`)
//! or the system's temporary folder, and the clean-up of folders left by providers that died.
//!
//! A folder is named `promethean-buildfix-<pid>-<random>` and holds `owner.lock`, on which its
//! owner keeps an exclusive `flock` for as long as it lives; the kernel drops the lock when the
//! owner dies, however it dies. Each new folder is made under a staging name, locked, and only
//! then renamed into place, so a folder with the final name is locked from its first moment.
//! A new provider removes the folders next to its own whose lock it can take: their owners are
//! gone. Anything else there (not ours by name, or without `owner.lock`) is never touched.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const PREFIX: &str = "promethean-buildfix-";
const STAGING_PREFIX: &str = ".promethean-buildfix-staging-";
const LOCK_FILE: &str = "owner.lock";
/// A staging folder exists for microseconds; one older than this was left by a crash.
const STAGING_GRACE: Duration = Duration::from_secs(60);

/// A working folder owned by this process; removed when dropped.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
    // Held open (and locked) for the folder's whole life.
    _lock: File,
}

impl WorkDir {
    /// Removes folders in `parent` left by dead owners, then makes this process's own.
    pub fn create(parent: &Path) -> io::Result<Self> {
        sweep(parent);
        let staging = tempfile::Builder::new()
            .prefix(&format!("{STAGING_PREFIX}{}-", std::process::id()))
            .tempdir_in(parent)?;
        let lock = File::create(staging.path().join(LOCK_FILE))?;
        if !lock_exclusive(&lock) {
            return Err(io::Error::other(format!(
                "cannot lock {}",
                staging.path().join(LOCK_FILE).display()
            )));
        }
        let name = staging
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(STAGING_PREFIX))
            .map(|rest| format!("{PREFIX}{rest}"))
            .expect("the staging folder has the name it was given");
        let path = parent.join(name);
        // The lock is on the file, not the name: it stays held across the rename.
        fs::rename(staging.path(), &path)?;
        let _ = staging.keep();
        Ok(WorkDir { path, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

#[cfg(unix)]
fn lock_exclusive(file: &File) -> bool {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a descriptor this function borrows; no memory is involved.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

#[cfg(not(unix))]
fn lock_exclusive(_file: &File) -> bool {
    true
}

/// Removes the folders in `parent` whose owner is gone (best effort: errors are ignored).
fn sweep(parent: &Path) {
    if cfg!(not(unix)) {
        return;
    }
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = entry.path();
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let stale = if name.starts_with(PREFIX) {
            // Ours only if it has the lock file; the owner holds its lock while it lives.
            File::open(path.join(LOCK_FILE)).is_ok_and(|lock| lock_exclusive(&lock))
        } else if name.starts_with(STAGING_PREFIX) {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > STAGING_GRACE)
        } else {
            false
        };
        if stale {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_owners_folder_is_kept_and_a_dead_owners_removed() {
        let parent = tempfile::tempdir().unwrap();
        let mine = WorkDir::create(parent.path()).unwrap();
        assert!(mine.path().join(LOCK_FILE).is_file());
        // Another owner in this process: the first one's lock is held, so it stays.
        let other = WorkDir::create(parent.path()).unwrap();
        assert!(mine.path().is_dir());
        // A dead owner's folder: the lock file is there but nobody holds it.
        let dead = parent.path().join(format!("{PREFIX}1-abc"));
        fs::create_dir_all(dead.join("fixture-0")).unwrap();
        File::create(dead.join(LOCK_FILE)).unwrap();
        // Not ours: same prefix without a lock file, and an unrelated folder.
        let foreign = parent.path().join(format!("{PREFIX}massive-1-200"));
        fs::create_dir(&foreign).unwrap();
        let unrelated = parent.path().join("user-data");
        fs::create_dir(&unrelated).unwrap();
        let third = WorkDir::create(parent.path()).unwrap();
        assert!(!dead.exists(), "a dead owner's folder is removed");
        assert!(mine.path().is_dir() && other.path().is_dir() && third.path().is_dir());
        assert!(
            foreign.is_dir() && unrelated.is_dir(),
            "folders not ours stay"
        );
        let path = mine.path().to_path_buf();
        drop(mine);
        assert!(!path.exists(), "dropping removes the folder");
    }
}
