//! The disk mirror of a persistent cache.
//!
//! On-disk form: one file per entry, named by the BLAKE3 hash of its key, written to a
//! temporary file in the same folder and renamed into place. Why this and not an embedded
//! store: a rename is atomic, so a reader (or a process started after a `kill -9`) sees either
//! the old entry or the new one, never half of one; a damaged file spoils one entry, never the
//! rest; the names are hashes, so no key can reach outside the folder; and several caches may
//! share a folder without a lock. Each file also carries a CRC32 of its contents, which catches
//! damage done by anything else (a full disk, a truncating copy).
//!
//! Reading and writing happen on the shared disk writers (`writer.rs`), in the order they were
//! asked for, so the JS thread never waits on the disk and a later write of a key always lands
//! after an earlier one. Durability is against process death, not power loss: files are not fsynced (that would cost
//! milliseconds per write for a cache).

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::key::{AsKey, Key};
use super::store::Entry;

const MAGIC: &[u8; 4] = b"PBC\x01";
const ENTRY_SUFFIX: &str = ".entry";
const TMP_PREFIX: &str = ".tmp-";
const NO_METADATA: u32 = u32::MAX;
/// A temporary file older than this belongs to a writer that died; younger ones may belong to
/// a live writer in another process sharing the folder.
const STALE_TMP_AGE: Duration = Duration::from_secs(60);

/// A disk operation that failed, reported to the cache's owner.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskFailure {
    pub op: DiskOp,
    /// The key concerned, when there is one.
    pub key: Option<Key>,
    /// The file concerned.
    pub path: PathBuf,
    pub error: String,
}

/// File name of a key's entry: the key's hash, so any string is safe.
pub fn file_name(key: &(impl AsKey + ?Sized)) -> String {
    let mut name = blake3::hash(key.wtf8()).to_hex().to_string();
    name.push_str(ENTRY_SUFFIX);
    name
}

pub fn encode(e: &Entry) -> Vec<u8> {
    let meta = e.metadata.as_deref().map(str::as_bytes);
    let mut out =
        Vec::with_capacity(45 + e.key_bytes().len() + meta.map_or(0, <[u8]>::len) + e.data().len());
    out.extend_from_slice(MAGIC);
    out.push(u8::from(e.compressed));
    out.extend_from_slice(&e.created_ms.to_le_bytes());
    out.extend_from_slice(&e.ttl_ms.to_le_bytes());
    out.extend_from_slice(&e.expires_ms.to_le_bytes());
    out.extend_from_slice(&(e.key_bytes().len() as u32).to_le_bytes());
    out.extend_from_slice(&meta.map_or(NO_METADATA, |m| m.len() as u32).to_le_bytes());
    out.extend_from_slice(&(e.data().len() as u32).to_le_bytes());
    out.extend_from_slice(e.key_bytes());
    if let Some(m) = meta {
        out.extend_from_slice(m);
    }
    out.extend_from_slice(e.data());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

pub fn decode(bytes: &[u8]) -> Result<Entry, String> {
    let body_len = bytes
        .len()
        .checked_sub(4)
        .ok_or("file is shorter than a header")?;
    let (body, crc) = bytes.split_at(body_len);
    if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().unwrap()) {
        return Err("checksum mismatch (file damaged or cut short)".into());
    }
    let mut r = Reader(body);
    if r.take(4)? != MAGIC {
        return Err("not a cache entry file (bad magic)".into());
    }
    let compressed = r.take(1)?[0] & 1 == 1;
    let created_ms = r.u64()?;
    let ttl_ms = r.u64()?;
    let expires_ms = r.u64()?;
    let key_len = r.u32()? as usize;
    let meta_len = r.u32()?;
    let data_len = r.u32()? as usize;
    let key = Key::from_wtf8(r.take(key_len)?).map_err(|e| format!("bad key ({e})"))?;
    let metadata = if meta_len == NO_METADATA {
        None
    } else {
        let m =
            std::str::from_utf8(r.take(meta_len as usize)?).map_err(|_| "metadata is not UTF-8")?;
        Some(m.into())
    };
    let data = r.take(data_len)?;
    if !r.0.is_empty() {
        return Err("trailing bytes after the entry".into());
    }
    let mut e = Entry::new(&key, data, compressed, created_ms, ttl_ms, metadata);
    e.expires_ms = expires_ms;
    Ok(e)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("file is cut short".into());
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
}

/// The fixed part of an entry file before the key: magic, flags, three u64 and three u32.
const HEADER_LEN: usize = 4 + 1 + 3 * 8 + 3 * 4;
const CRC_LEN: usize = 4;

/// The whole length of the entry file that `header` (its first `HEADER_LEN` bytes) starts, as
/// the header declares it. Read before the rest, so that a file is never trusted for more bytes
/// than it says it holds.
fn declared_len(header: &[u8; HEADER_LEN]) -> u64 {
    let u32_at = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().unwrap());
    let (key_len, meta_len, data_len) = (u32_at(29), u32_at(33), u32_at(37));
    let meta_len = if meta_len == NO_METADATA { 0 } else { meta_len };
    (HEADER_LEN + CRC_LEN) as u64 + u64::from(key_len) + u64::from(meta_len) + u64::from(data_len)
}

/// Makes sure `dir` is a folder this process can write to; returns its canonical path (one
/// folder reached by two spellings is one folder to the disk writers).
pub fn prepare_dir(dir: &Path) -> Result<PathBuf, String> {
    if dir.exists() && !dir.is_dir() {
        return Err("it exists and is not a folder".into());
    }
    // Rust's create_dir_all gives up on a refusal (procfs answers ENOENT to every mkdir); it
    // does not retry forever the way Node 20's recursive mkdir does.
    fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    // Probe for write access the way entries are written: a new temporary file, then removed.
    // `create_new` never opens what is already there (a FIFO placed under the probe's name
    // would block an ordinary open for writing).
    let mut last = None;
    for _ in 0..3 {
        let probe = dir.join(tmp_name("probe"));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
        {
            Ok(_) => {
                let _ = fs::remove_file(&probe);
                return fs::canonicalize(dir).map_err(|e| e.to_string());
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(format!("it is not writable ({e})")),
        }
    }
    Err(format!(
        "it is not writable ({})",
        last.map_or_else(String::new, |e| e.to_string())
    ))
}

/// What reading a folder found: the valid entries, and the files that could not be used.
#[derive(Debug, Default)]
pub struct Loaded {
    pub entries: Vec<Entry>,
    pub failures: Vec<DiskFailure>,
}

/// Reads every entry file of `dir`. Damaged or foreign files are reported (and left in place
/// for inspection); leftovers of dead writers are removed. Never blocks on a file and never
/// reads more than a file's size: only regular files are opened, symlinks are not followed.
pub fn load_dir(dir: &Path) -> Loaded {
    let mut loaded = Loaded::default();
    let listing = match fs::read_dir(dir) {
        Ok(listing) => listing,
        // Removed since it was prepared: there is nothing to load.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return loaded,
        Err(e) => {
            loaded.failures.push(DiskFailure {
                op: DiskOp::Load,
                key: None,
                path: dir.to_path_buf(),
                error: format!("cannot list the folder: {e}"),
            });
            return loaded;
        }
    };
    for item in listing.flatten() {
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = item.path();
        if name.starts_with(TMP_PREFIX) {
            // `DirEntry::metadata` does not follow symlinks, nor does `remove_file`.
            let stale = item
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > STALE_TMP_AGE);
            if stale {
                let _ = fs::remove_file(&path);
            }
            continue;
        }
        if !name.ends_with(ENTRY_SUFFIX) {
            continue;
        }
        let result = item
            .file_type()
            .map_err(|e| e.to_string())
            .and_then(|kind| read_entry_file(&path, kind))
            .and_then(|e| {
                if file_name(&e) == name {
                    Ok(e)
                } else {
                    Err("file name does not match the key inside".into())
                }
            });
        match result {
            Ok(e) => loaded.entries.push(e),
            Err(error) => loaded.failures.push(DiskFailure {
                op: DiskOp::Load,
                key: None,
                path,
                error,
            }),
        }
    }
    crate::debug_event!(
        crate::debug::Namespace::Cache,
        "loaded {} entries from {} ({} files unusable)",
        loaded.entries.len(),
        dir.display(),
        loaded.failures.len()
    );
    for f in &loaded.failures {
        crate::debug_event!(
            crate::debug::Namespace::Cache,
            "disk load skipped {}: {}",
            f.path.display(),
            f.error
        );
    }
    loaded
}

/// Reads one entry file. `kind` is the listing's file type, which does not follow symlinks; the
/// opened file is checked again, as the name may have been swapped in between.
fn read_entry_file(path: &Path, kind: fs::FileType) -> Result<Entry, String> {
    if !kind.is_file() {
        return Err(format!("not a regular file (a {})", describe(kind)));
    }
    let mut f = open_no_follow(path).map_err(|e| e.to_string())?;
    let meta = f.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err(format!(
            "not a regular file (a {})",
            describe(meta.file_type())
        ));
    }
    let size = meta.len();
    let mut header = [0u8; HEADER_LEN];
    if size < (HEADER_LEN + CRC_LEN) as u64 {
        return Err("file is shorter than a header".into());
    }
    f.read_exact(&mut header).map_err(|e| e.to_string())?;
    let declared = declared_len(&header);
    if declared != size {
        return Err(format!(
            "its header declares {declared} bytes but the file has {size}"
        ));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    bytes.extend_from_slice(&header);
    // `take`: a file that grew since its size was read is not followed past it.
    f.take(size - HEADER_LEN as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    decode(&bytes)
}

/// Opens `path` for reading without following a symlink or waiting on a FIFO.
#[cfg(unix)]
fn open_no_follow(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NOFOLLOW: a symlink swapped in fails with ELOOP instead of being followed. O_NONBLOCK:
    // a FIFO swapped in opens at once instead of waiting for a writer (and is refused by the
    // caller's check of the opened file); on a regular file it changes nothing.
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

/// Windows has no FIFOs in folders; the caller's checks of the listing's and the opened file's
/// type are what keep symlinks out.
#[cfg(not(unix))]
fn open_no_follow(path: &Path) -> io::Result<fs::File> {
    fs::File::open(path)
}

fn describe(kind: fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "FIFO";
        }
        if kind.is_socket() {
            return "socket";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "device";
        }
    }
    if kind.is_symlink() {
        "symlink"
    } else if kind.is_dir() {
        "folder"
    } else {
        "special file"
    }
}

/// Which disk operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskOp {
    Write,
    Remove,
    Clear,
    Load,
}

impl DiskOp {
    pub fn as_str(self) -> &'static str {
        match self {
            DiskOp::Write => "write",
            DiskOp::Remove => "remove",
            DiskOp::Clear => "clear",
            DiskOp::Load => "load",
        }
    }
}

/// Writes `key`'s entry file.
pub fn write_entry(dir: &Path, key: &Key, bytes: &[u8]) -> Result<(), DiskFailure> {
    let path = dir.join(file_name(key));
    write_atomically(dir, &path, bytes).map_err(|e| DiskFailure {
        op: DiskOp::Write,
        key: Some(key.clone()),
        path,
        error: e.to_string(),
    })
}

/// Removes `key`'s entry file; one already gone is fine.
pub fn remove_entry(dir: &Path, key: &Key) -> Result<(), DiskFailure> {
    let path = dir.join(file_name(key));
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(DiskFailure {
            op: DiskOp::Remove,
            key: Some(key.clone()),
            path,
            error: e.to_string(),
        }),
    }
}

/// Removes every entry file of `dir` (whoever wrote it: caches may share a folder). Returns what
/// could not be removed; an entry left behind would come back on the next load, so each one is
/// a failure of the clear. A missing folder holds no entries.
pub fn clear_dir(dir: &Path) -> Vec<DiskFailure> {
    let failure = |path: PathBuf, error: String| DiskFailure {
        op: DiskOp::Clear,
        key: None,
        path,
        error,
    };
    let listing = match fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            return vec![failure(
                dir.to_path_buf(),
                format!("cannot list the folder: {e}"),
            )]
        }
    };
    let mut failures = Vec::new();
    for item in listing {
        let item = match item {
            Ok(item) => item,
            Err(e) => {
                failures.push(failure(
                    dir.to_path_buf(),
                    format!("cannot list the folder: {e}"),
                ));
                break;
            }
        };
        if !item
            .file_name()
            .to_str()
            .is_some_and(|n| n.ends_with(ENTRY_SUFFIX))
        {
            continue;
        }
        // `remove_file` removes a symlink itself, never what it points to.
        match fs::remove_file(item.path()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => failures.push(failure(item.path(), e.to_string())),
        }
    }
    failures
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary file name no other writer uses: this process's id and a counter.
fn tmp_name(tag: &str) -> String {
    format!(
        "{TMP_PREFIX}{tag}-{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(tmp_name("w"));
    let attempt = |tmp: &Path| -> io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)?;
        f.write_all(bytes)?;
        drop(f);
        fs::rename(tmp, path)
    };
    let result = attempt(&tmp).or_else(|e| {
        // The folder may have been removed under us; make it again once.
        if e.kind() == io::ErrorKind::NotFound {
            let _ = fs::remove_file(&tmp);
            fs::create_dir_all(dir)?;
            attempt(&tmp)
        } else {
            Err(e)
        }
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &(impl AsKey + ?Sized)) -> Entry {
        Entry::new(
            key,
            b"{\"a\":1}",
            false,
            1_700_000_000_000,
            60_000,
            Some("{\"m\":true}".into()),
        )
    }

    #[test]
    fn encode_decode_round_trip() {
        let e = entry("buildfix:result");
        let d = decode(&encode(&e)).unwrap();
        assert_eq!(d.key(), e.key());
        assert_eq!(d.data(), e.data());
        assert_eq!(d.metadata, e.metadata);
        assert_eq!(d.expires_ms, e.expires_ms);
        assert_eq!(d.ttl_ms, e.ttl_ms);
    }

    #[test]
    fn regression_keys_of_lone_surrogates_keep_their_own_file_and_round_trip() {
        let keys: Vec<Key> = [&[0xD800][..], &[0xDC00], &[0xFFFD], &[0x61, 0xD800, 0x62]]
            .iter()
            .map(|u| Key::from_utf16(u))
            .collect();
        let names: std::collections::HashSet<String> = keys.iter().map(file_name).collect();
        assert_eq!(names.len(), keys.len());
        for key in keys {
            let e = entry(&key);
            assert_eq!(decode(&encode(&e)).unwrap().key(), key);
        }
        // A well-formed key keeps its file name: the hash of its UTF-8, as before.
        assert_eq!(
            file_name(&Key::from_utf16(
                &"buildfix:result".encode_utf16().collect::<Vec<_>>()
            )),
            format!(
                "{}{ENTRY_SUFFIX}",
                blake3::hash(b"buildfix:result").to_hex()
            )
        );
    }

    #[test]
    fn every_truncation_and_bit_flip_is_detected() {
        let bytes = encode(&entry("k"));
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert!(decode(&b).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn hostile_keys_stay_inside_the_folder() {
        for key in [
            "../../etc/passwd",
            "/abs",
            "a/b\\c",
            "\0",
            &"😀".repeat(2500),
        ] {
            let name = file_name(key);
            assert_eq!(name.len(), 64 + ENTRY_SUFFIX.len());
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'));
        }
    }

    fn write_file(dir: &Path, key: &str) -> PathBuf {
        write_entry(dir, &Key::from(key), &encode(&entry(key))).unwrap();
        dir.join(file_name(key))
    }

    fn failed_paths(loaded: &Loaded) -> Vec<&Path> {
        loaded.failures.iter().map(|f| f.path.as_path()).collect()
    }

    #[test]
    fn load_reads_entries_and_reports_damage() {
        let dir = tempfile::tempdir().unwrap();
        write_file(dir.path(), "a");
        let c = write_file(dir.path(), "c");
        fs::write(&c, b"garbage").unwrap();
        let loaded = load_dir(dir.path());
        assert_eq!(loaded.entries.len(), 1);
        assert_eq!(loaded.entries[0].key(), Key::from("a"));
        assert_eq!(failed_paths(&loaded), [c.as_path()]);
        assert_eq!(loaded.failures[0].op, DiskOp::Load);
    }

    #[cfg(unix)]
    #[test]
    fn regression_a_fifo_named_like_an_entry_is_reported_not_opened() {
        let dir = tempfile::tempdir().unwrap();
        write_file(dir.path(), "good");
        let fifo = dir.path().join(file_name("fifo"));
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // Before: `fs::read` blocked here forever, waiting for a writer.
        let loaded = load_dir(dir.path());
        assert_eq!(loaded.entries.len(), 1);
        assert_eq!(failed_paths(&loaded), [fifo.as_path()]);
        assert!(loaded.failures[0].error.contains("FIFO"));
    }

    #[cfg(unix)]
    #[test]
    fn regression_symlinks_named_like_entries_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        write_file(dir.path(), "good");
        // Before: `fs::read` of /dev/zero grew a buffer until memory ran out.
        let zero = dir.path().join(file_name("zero"));
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let valid = dir.path().join(file_name("valid"));
        std::os::unix::fs::symlink(write_file(elsewhere.path(), "valid"), &valid).unwrap();
        let loaded = load_dir(dir.path());
        assert_eq!(loaded.entries.len(), 1);
        let mut failed = failed_paths(&loaded);
        failed.sort();
        let mut expected = [zero.as_path(), valid.as_path()];
        expected.sort();
        assert_eq!(failed, expected);
        assert!(loaded.failures.iter().all(|f| f.error.contains("symlink")));
    }

    #[test]
    fn regression_a_file_longer_than_its_header_says_is_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "k");
        let mut bytes = fs::read(&path).unwrap();
        bytes.resize(bytes.len() + (1 << 20), 0);
        fs::write(&path, &bytes).unwrap();
        let loaded = load_dir(dir.path());
        assert!(loaded.entries.is_empty());
        assert!(loaded.failures[0].error.contains("header declares"));
    }

    #[test]
    fn declared_len_matches_encode() {
        for meta in [None, Some("{\"m\":1}")] {
            let mut e = entry("some key");
            e.metadata = meta.map(Into::into);
            let bytes = encode(&e);
            let header: &[u8; HEADER_LEN] = bytes[..HEADER_LEN].try_into().unwrap();
            assert_eq!(declared_len(header), bytes.len() as u64);
        }
    }

    #[test]
    fn regression_clear_reports_what_it_could_not_remove() {
        let dir = tempfile::tempdir().unwrap();
        write_file(dir.path(), "a");
        // A non-empty folder named like an entry: unlink fails (EISDIR), even for root.
        let blocked = dir.path().join(file_name("b"));
        fs::create_dir(&blocked).unwrap();
        fs::write(blocked.join("inside"), b"").unwrap();
        let failures = clear_dir(dir.path());
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].path, blocked);
        assert_eq!(failures[0].op, DiskOp::Clear);
        assert!(!dir.path().join(file_name("a")).exists());
        // A folder that cannot be listed fails the whole clear; a missing one has nothing to clear.
        let file = dir.path().join("file");
        fs::write(&file, b"").unwrap();
        assert_eq!(clear_dir(&file)[0].path, file);
        assert!(clear_dir(&dir.path().join("missing")).is_empty());
    }

    #[test]
    fn prepare_dir_rejects_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"").unwrap();
        assert!(prepare_dir(&file).unwrap_err().contains("not a folder"));
        let made = prepare_dir(&dir.path().join("new/nested")).unwrap();
        assert!(made.is_absolute() && made.is_dir());
        // The probe leaves nothing behind.
        assert_eq!(fs::read_dir(&made).unwrap().count(), 0);
    }
}
