//! Knowing whether a file changed without reading it, the way git's index does: a file whose
//! size, mtime, ctime, inode, device and mode all match what was recorded is taken as unchanged;
//! only suspects are read. Like git's "racily clean" rule, a file whose mtime or ctime falls
//! within [`RACY_WINDOW_NS`] of the moment it was recorded cannot be trusted by its stat alone (a
//! write in the same timestamp tick would leave the stat unchanged), so it is read again until
//! it is older.
//!
//! Used by snapshots (which compare a folder with a recorded manifest) and by the provider's
//! cache keys ([`ContentHashes`]: a file's content hash, re-read only when its stat moved).

use std::collections::HashMap;
use std::fs::{self, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// How close to the recording time a timestamp must be for the entry to count as racy. Local
/// Linux filesystems stamp files from the kernel's coarse clock (one tick, 1–10 ms); one second
/// also covers filesystems with coarser stamps and modest clock skew on network mounts.
pub const RACY_WINDOW_NS: i128 = 1_000_000_000;

pub fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// The parts of `lstat` that change when a file is touched in any way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Stat {
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub ino: u64,
    pub dev: u64,
    /// Permission bits (`st_mode & 0o7777`).
    pub perm: u32,
}

impl Stat {
    #[cfg(unix)]
    pub fn of(meta: &Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Stat {
            size: meta.size(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
            ctime_ns: meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
            ino: meta.ino(),
            dev: meta.dev(),
            perm: meta.mode() & 0o7777,
        }
    }

    #[cfg(not(unix))]
    pub fn of(meta: &Metadata) -> Self {
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        Stat {
            size: meta.len(),
            mtime_ns,
            ctime_ns: mtime_ns,
            ino: 0,
            dev: 0,
            perm: if meta.permissions().readonly() {
                0o444
            } else {
                0o644
            },
        }
    }

    /// Whether this stat, recorded at `recorded_ns`, cannot prove the file unchanged later: a
    /// write within the same timestamp tick as the recording would leave it as it is.
    pub fn racy_at(&self, recorded_ns: i128) -> bool {
        self.mtime_ns + RACY_WINDOW_NS >= recorded_ns
            || self.ctime_ns + RACY_WINDOW_NS >= recorded_ns
    }
}

/// A content hash (BLAKE3).
pub type Hash = [u8; 32];

struct Known {
    stat: Stat,
    racy: bool,
    hash: Hash,
}

/// Files remembered before the table starts over: far more than any fixture set holds, a bound
/// for callers that hash ever new folders.
const CAPACITY: usize = 1 << 17;

/// Content hashes of files by path, re-read only when the stat rule above says the file may
/// have changed. Safe to share between threads; content is read outside the lock.
#[derive(Default)]
pub struct ContentHashes {
    known: Mutex<HashMap<PathBuf, Known>>,
    reads: AtomicU64,
}

impl ContentHashes {
    pub fn new() -> Self {
        Self::default()
    }

    /// The hash of the file (or of the symlink's target path) at `path`, whose `lstat` is `meta`.
    pub fn hash(&self, path: &Path, meta: &Metadata) -> io::Result<Hash> {
        let stat = Stat::of(meta);
        {
            let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(k) = known.get(path) {
                if k.stat == stat && !k.racy {
                    return Ok(k.hash);
                }
            }
        }
        // Taken before reading: a write after this moment but within the same tick as the
        // recorded stat leaves the entry racy, so it is read again next time.
        let now = now_ns();
        let hash = content_hash(path, meta)?;
        self.reads.fetch_add(1, Ordering::Relaxed);
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() >= CAPACITY && !known.contains_key(path) {
            known.clear();
        }
        known.insert(
            path.to_path_buf(),
            Known {
                stat,
                racy: stat.racy_at(now),
                hash,
            },
        );
        Ok(hash)
    }

    /// How many times a file's content (or a link's target) was read: what a cache hit should
    /// not do once the files are known.
    pub fn content_reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
}

/// Hashes the content of a file, or the target path of a symlink, reading it now.
pub fn content_hash(path: &Path, meta: &Metadata) -> io::Result<Hash> {
    if meta.file_type().is_symlink() {
        let target = fs::read_link(path)?;
        return Ok(*blake3::hash(target.to_string_lossy().as_bytes()).as_bytes());
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(fs::File::open(path)?)?;
    Ok(*hasher.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Sets a file's mtime `secs` into the past.
    fn age(path: &Path, secs: u64) {
        let f = fs::File::options().write(true).open(path).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(secs))
            .unwrap();
    }

    fn hash(h: &ContentHashes, path: &Path) -> Hash {
        h.hash(path, &fs::symlink_metadata(path).unwrap()).unwrap()
    }

    #[test]
    fn a_file_whose_stat_matches_a_trusted_entry_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.ts");
        fs::write(&p, "export const a = 1\n").unwrap();
        let h = ContentHashes::new();
        let first = hash(&h, &p);
        assert_eq!(h.content_reads(), 1);
        // Just written: racy, so read again until a window old (unless this machine took more
        // than the window between the write and the first hash).
        let racy = h.known.lock().unwrap()[&p].racy;
        assert_eq!(hash(&h, &p), first);
        assert_eq!(h.content_reads(), if racy { 2 } else { 1 });
        let reads = h.content_reads();
        // Recorded long after the write (as it will be once the file is a second old).
        let stat = Stat::of(&fs::symlink_metadata(&p).unwrap());
        assert!(!stat.racy_at(now_ns() + 2 * RACY_WINDOW_NS));
        h.known.lock().unwrap().get_mut(&p).unwrap().racy = false;
        for _ in 0..5 {
            assert_eq!(hash(&h, &p), first);
        }
        assert_eq!(h.content_reads(), reads);
    }

    #[test]
    fn an_old_file_is_read_once() {
        let h = ContentHashes::new();
        // A file of this repository, untouched for longer than the racy window.
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        let meta = fs::symlink_metadata(&p).unwrap();
        if Stat::of(&meta).racy_at(now_ns()) {
            eprintln!("Cargo.toml changed within the last second; skipping");
            return;
        }
        let first = hash(&h, &p);
        assert_eq!(h.content_reads(), 1);
        for _ in 0..5 {
            assert_eq!(hash(&h, &p), first);
        }
        assert_eq!(h.content_reads(), 1);
    }

    #[test]
    fn an_edit_in_place_keeping_the_size_changes_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.ts");
        fs::write(&p, "export const a = 1\n").unwrap();
        let h = ContentHashes::new();
        let before = hash(&h, &p);
        fs::write(&p, "export const a = 2\n").unwrap();
        assert_ne!(hash(&h, &p), before);
    }

    #[test]
    fn an_edit_within_the_same_timestamp_tick_is_seen() {
        // The racy case: same size, and the mtime forced back to what it was, as a write within
        // one coarse timestamp tick would leave it. Only the racy rule catches this.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.ts");
        fs::write(&p, "export const a = 1\n").unwrap();
        let mtime = fs::metadata(&p).unwrap().modified().unwrap();
        let h = ContentHashes::new();
        let before = hash(&h, &p);
        fs::write(&p, "export const a = 2\n").unwrap();
        fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        assert_ne!(hash(&h, &p), before);
    }

    #[test]
    fn a_file_replaced_by_rename_changes_the_hash_even_with_the_old_times() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.ts");
        fs::write(&p, "export const a = 1\n").unwrap();
        age(&p, 100);
        let meta = fs::symlink_metadata(&p).unwrap();
        let h = ContentHashes::new();
        let before = hash(&h, &p);
        // Trust the entry as if it had been recorded long ago.
        h.known.lock().unwrap().get_mut(&p).unwrap().racy = false;
        let tmp = dir.path().join("a.ts.tmp");
        fs::write(&tmp, "export const a = 2\n").unwrap();
        fs::File::options()
            .write(true)
            .open(&tmp)
            .unwrap()
            .set_modified(meta.modified().unwrap())
            .unwrap();
        fs::rename(&tmp, &p).unwrap();
        // Same size, same mtime; the inode (and ctime) differ.
        assert_ne!(hash(&h, &p), before);
    }

    #[test]
    fn a_symlink_hashes_its_target_path() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("x", &a).unwrap();
            let h = ContentHashes::new();
            let first = hash(&h, &a);
            fs::remove_file(&a).unwrap();
            std::os::unix::fs::symlink("y", &a).unwrap();
            assert_ne!(hash(&h, &a), first);
        }
    }
}
