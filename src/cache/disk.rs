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
//! Writes happen on one writer thread per cache, in the order they were asked for, so the JS
//! thread never waits on the disk and a later write of a key always lands after an earlier one.
//! Durability is against process death, not power loss: files are not fsynced (that would cost
//! milliseconds per write for a cache).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::thread::JoinHandle;
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
    let mut out = Vec::with_capacity(45 + e.key.len() + meta.map_or(0, <[u8]>::len) + e.data.len());
    out.extend_from_slice(MAGIC);
    out.push(u8::from(e.compressed));
    out.extend_from_slice(&e.created_ms.to_le_bytes());
    out.extend_from_slice(&e.ttl_ms.to_le_bytes());
    out.extend_from_slice(&e.expires_ms.to_le_bytes());
    out.extend_from_slice(&(e.key.len() as u32).to_le_bytes());
    out.extend_from_slice(&meta.map_or(NO_METADATA, |m| m.len() as u32).to_le_bytes());
    out.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
    out.extend_from_slice(e.key.as_bytes());
    if let Some(m) = meta {
        out.extend_from_slice(m);
    }
    out.extend_from_slice(&e.data);
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
    let mut e = Entry::new(key, data.into(), compressed, created_ms, ttl_ms, metadata);
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

/// Makes sure `dir` is a folder this process can write to.
pub fn prepare_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() && !dir.is_dir() {
        return Err("it exists and is not a folder".into());
    }
    fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    // Probe for write access the way entries are written: a temporary file, then removed.
    let probe = dir.join(format!("{TMP_PREFIX}probe-{}", std::process::id()));
    fs::write(&probe, b"").map_err(|e| format!("it is not writable ({e})"))?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

/// Reads every entry file of `dir`. Damaged files are reported (and left in place for
/// inspection); leftovers of dead writers are removed.
pub fn load_dir(dir: &Path) -> (Vec<Entry>, Vec<DiskFailure>) {
    let mut entries = Vec::new();
    let mut failures = Vec::new();
    let Ok(listing) = fs::read_dir(dir) else {
        return (entries, failures);
    };
    for item in listing.flatten() {
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = item.path();
        if name.starts_with(TMP_PREFIX) {
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
        let result = fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| decode(&bytes))
            .and_then(|e| {
                if file_name(&e.key) == name {
                    Ok(e)
                } else {
                    Err("file name does not match the key inside".into())
                }
            });
        match result {
            Ok(e) => entries.push(e),
            Err(error) => failures.push(DiskFailure {
                key: None,
                path,
                error,
            }),
        }
    }
    (entries, failures)
}

/// Called once with the failures since the previous barrier.
pub type BarrierDone = Box<dyn FnOnce(Vec<DiskFailure>) + Send>;

enum Job {
    Write { key: Key, bytes: Vec<u8> },
    Remove { key: Key },
    Clear,
    Barrier(BarrierDone),
}

/// The writer thread of one cache. Dropping it finishes the queued jobs first.
pub struct DiskWriter {
    tx: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl DiskWriter {
    pub fn start(dir: PathBuf) -> io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("cache-disk-writer".into())
            .spawn(move || {
                let mut failures = Vec::new();
                for job in rx {
                    run_job(&dir, job, &mut failures);
                }
            })?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    fn send(&self, job: Job) {
        if let Some(tx) = &self.tx {
            // The thread only stops when `tx` is dropped, so this cannot fail while we hold it.
            let _ = tx.send(job);
        }
    }

    pub fn write(&self, e: &Entry) {
        self.send(Job::Write {
            key: e.key.clone(),
            bytes: encode(e),
        });
    }

    pub fn remove(&self, key: Key) {
        self.send(Job::Remove { key });
    }

    pub fn clear(&self) {
        self.send(Job::Clear);
    }

    /// Runs `done` once every job queued before it has finished.
    pub fn barrier(&self, done: BarrierDone) {
        self.send(Job::Barrier(done));
    }

    /// Finishes the queued jobs and stops the thread.
    pub fn shutdown(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for DiskWriter {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run_job(dir: &Path, job: Job, failures: &mut Vec<DiskFailure>) {
    match job {
        Job::Write { key, bytes } => {
            let path = dir.join(file_name(&key));
            if let Err(e) = write_atomically(dir, &path, &bytes) {
                failures.push(DiskFailure {
                    key: Some(key),
                    path,
                    error: e.to_string(),
                });
            }
        }
        Job::Remove { key } => {
            let path = dir.join(file_name(&key));
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => failures.push(DiskFailure {
                    key: Some(key),
                    path,
                    error: e.to_string(),
                }),
            }
        }
        Job::Clear => {
            if let Ok(listing) = fs::read_dir(dir) {
                for item in listing.flatten() {
                    if item
                        .file_name()
                        .to_str()
                        .is_some_and(|n| n.ends_with(ENTRY_SUFFIX))
                    {
                        let _ = fs::remove_file(item.path());
                    }
                }
            }
        }
        Job::Barrier(done) => done(std::mem::take(failures)),
    }
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(
        "{TMP_PREFIX}{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
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

    fn entry(key: &str) -> Entry {
        Entry::new(
            key.into(),
            b"{\"a\":1}".to_vec().into(),
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
        assert_eq!(d.key, e.key);
        assert_eq!(d.data, e.data);
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
            let mut e = entry("");
            e.key = key.clone();
            assert_eq!(decode(&encode(&e)).unwrap().key, key);
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

    #[test]
    fn writer_then_load_round_trip_and_damage_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = DiskWriter::start(dir.path().to_path_buf()).unwrap();
        w.write(&entry("a"));
        w.write(&entry("b"));
        w.remove("b".into());
        w.write(&entry("c"));
        w.shutdown();
        fs::write(dir.path().join(file_name("c")), b"garbage").unwrap();
        let (entries, failures) = load_dir(dir.path());
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].key, Key::from("a"));
        assert_eq!(failures.len(), 1);
        assert!(failures[0].error.contains("checksum") || failures[0].error.contains("short"));
    }

    #[test]
    fn barrier_reports_failures_once() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub");
        let mut w = DiskWriter::start(target.clone()).unwrap();
        // A file where the folder should be makes every write fail.
        fs::write(&target, b"not a folder").unwrap();
        w.write(&entry("a"));
        let (tx, rx) = mpsc::channel();
        let tx2 = tx.clone();
        w.barrier(Box::new(move |f| tx.send(f).unwrap()));
        w.barrier(Box::new(move |f| tx2.send(f).unwrap()));
        w.shutdown();
        let first = rx.recv().unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].key, Some(Key::from("a")));
        assert!(rx.recv().unwrap().is_empty());
    }

    #[test]
    fn prepare_dir_rejects_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"").unwrap();
        assert!(prepare_dir(&file).unwrap_err().contains("not a folder"));
        assert!(prepare_dir(&dir.path().join("new/nested")).is_ok());
    }
}
