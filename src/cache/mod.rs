//! The cache family's core: an exact, O(log n) store with four eviction policies, optional
//! compression, and an optional crash-safe disk mirror that a new cache reads back; and a
//! shared level on Redis that several machines fill and read (`shared.rs`).

mod disk;
mod error;
mod key;
mod list;
mod multilevel;
mod options;
mod shared;
mod store;
#[cfg(test)]
pub(crate) mod test_redis;
mod writer;

pub use disk::{DiskFailure, DiskOp, Loaded};
pub use error::CacheError;
pub use key::{AsKey, Key, KeyBuf};
pub use multilevel::{Hit, LevelWrite, MultiLevelCache};
pub use options::{
    CacheOptions, EvictionPolicy, DEFAULT_MAX_MEMORY, DEFAULT_MAX_SIZE, DEFAULT_TTL_MS,
};
pub use shared::{SharedEntry, SharedError, SharedLevel, SharedOptions, SharedStats};
pub use store::{Entry, Removal, StoreStats, NEVER};
pub use writer::{BarrierDone, LoadDone};

use std::borrow::Cow;

use store::Store;
use writer::DiskWriter;

/// zstd level 3 is zstd's own default: a good ratio on JSON at hundreds of MB/s.
const ZSTD_LEVEL: i32 = 3;

/// What the owner of a cache may want to know of an entry (for `cache-hit`/`cache-set` events).
#[derive(Debug, Clone, PartialEq)]
pub struct EntryInfo {
    pub value_json: String,
    pub created_ms: u64,
    pub ttl_ms: u64,
    pub reads: u64,
    pub last_access_ms: u64,
    pub size: u64,
    pub metadata_json: Option<String>,
}

pub struct Cache {
    store: Store,
    default_ttl_ms: u64,
    compression: bool,
    disk: Option<DiskWriter>,
    destroyed: bool,
}

impl Cache {
    /// Creates a cache. A persistent one checks (and makes) its folder here, but starts empty:
    /// reading the folder may take long, so it is `load`'s job, off the caller's thread.
    pub fn new(options: CacheOptions) -> Result<Self, CacheError> {
        let disk = match &options.disk_dir {
            Some(dir) => {
                let dir = disk::prepare_dir(dir).map_err(|reason| CacheError::DiskDir {
                    path: dir.display().to_string(),
                    reason,
                })?;
                Some(DiskWriter::new(&dir))
            }
            None => None,
        };
        Ok(Self {
            store: Store::new(&options),
            default_ttl_ms: options.default_ttl_ms,
            compression: options.compression,
            disk,
            destroyed: false,
        })
    }

    /// Reads the disk folder on a disk writer, after every write already queued for it, and
    /// calls `done` there with what was found; hand that to `apply_loaded` on the cache's own
    /// thread. Without a disk folder `done` is called at once with nothing.
    pub fn load(&self, done: LoadDone) {
        match &self.disk {
            Some(d) => d.load(done),
            None => done(Loaded::default()),
        }
    }

    /// Takes in the still-valid entries `load` found; returns the files that could not be used.
    /// Entries set since the load began are newer and stay; what is expired or no longer fits
    /// this cache's limits leaves the folder too.
    pub fn apply_loaded(&mut self, loaded: Loaded, now_ms: u64) -> Vec<DiskFailure> {
        let Loaded {
            mut entries,
            failures,
        } = loaded;
        let Some(writer) = self.disk.as_ref().filter(|_| !self.destroyed) else {
            return failures;
        };
        // Oldest first, so recency after a restart follows the order of the original writes.
        entries.sort_by_key(|e| e.created_ms);
        let mut removed = Vec::new();
        for entry in entries {
            if self.store.peek(entry.key_bytes(), now_ms).is_some() {
                continue;
            }
            if entry.is_expired(now_ms) || entry.size() > self.store.max_memory() {
                writer.remove(entry.key());
                continue;
            }
            self.store.insert(entry, now_ms, &mut removed);
        }
        for (e, _) in removed {
            writer.remove(e.key());
        }
        failures
    }

    /// `new`, then `load` and `apply_loaded`, waiting for the folder on this thread; damaged
    /// files are skipped silently (`load` is the way to hear of them). For Rust callers; the
    /// Node binding loads asynchronously.
    pub fn open(options: CacheOptions, now_ms: u64) -> Result<Self, CacheError> {
        let mut cache = Self::new(options)?;
        let (tx, rx) = std::sync::mpsc::channel();
        cache.load(Box::new(move |loaded| {
            let _ = tx.send(loaded);
        }));
        // The writer runs every job it is given (see writer.rs), so the answer always comes.
        let loaded = rx.recv().unwrap_or_default();
        cache.apply_loaded(loaded, now_ms);
        Ok(cache)
    }

    fn check_alive(&self) -> Result<(), CacheError> {
        if self.destroyed {
            Err(CacheError::Destroyed)
        } else {
            Ok(())
        }
    }

    /// Removed entries leave the disk mirror too.
    fn forget(&self, removed: Vec<(Entry, Removal)>) {
        if let Some(d) = &self.disk {
            for (e, _) in removed {
                d.remove(e.key());
            }
        }
    }

    fn value_json(e: &Entry) -> String {
        Self::with_json(e, |json| {
            String::from_utf8(json.to_vec()).unwrap_or_default()
        })
    }

    /// `f` of the entry's JSON text, decompressed when stored compressed.
    fn with_json<R>(e: &Entry, f: impl FnOnce(&[u8]) -> R) -> R {
        if e.compressed {
            // Data compressed by this process or verified by checksum on load; a failure here is
            // a bug, not bad input.
            f(&zstd::bulk::decompress(e.data(), usize::MAX >> 8).unwrap_or_default())
        } else {
            f(e.data())
        }
    }

    fn info(e: &Entry) -> EntryInfo {
        EntryInfo {
            value_json: Self::value_json(e),
            created_ms: e.created_ms,
            ttl_ms: e.ttl_ms,
            reads: e.reads,
            last_access_ms: e.last_access_ms,
            size: e.size(),
            metadata_json: e.metadata.as_deref().map(str::to_owned),
        }
    }

    /// Reads a value as JSON text; counts a hit or a miss. Never returns an expired entry.
    pub fn get(
        &mut self,
        key: &(impl AsKey + ?Sized),
        now_ms: u64,
    ) -> Result<Option<String>, CacheError> {
        self.get_with(key, now_ms, |json| {
            String::from_utf8(json.to_vec()).unwrap_or_default()
        })
    }

    /// Reads a value as [`Cache::get`] does, handing its JSON text (UTF-8) to `f` straight from
    /// the store (decompressed first if it was stored compressed) instead of copying it out.
    pub fn get_with<R>(
        &mut self,
        key: &(impl AsKey + ?Sized),
        now_ms: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<R>, CacheError> {
        self.check_alive()?;
        let mut removed = Vec::new();
        let value = self
            .store
            .get(key.wtf8(), now_ms, &mut removed)
            .map(|e| Self::with_json(e, f));
        self.forget(removed);
        Ok(value)
    }

    /// Describes an entry without counting a read.
    pub fn inspect(&self, key: &(impl AsKey + ?Sized), now_ms: u64) -> Option<EntryInfo> {
        self.store.peek(key.wtf8(), now_ms).map(Self::info)
    }

    pub fn has(&self, key: &(impl AsKey + ?Sized), now_ms: u64) -> bool {
        !self.destroyed && self.store.peek(key.wtf8(), now_ms).is_some()
    }

    /// Stores `value_json` (JSON text) under `key`. `ttl_ms` of `None` takes the default; `0`
    /// never expires.
    pub fn set(
        &mut self,
        key: &(impl AsKey + ?Sized),
        value_json: &str,
        ttl_ms: Option<u64>,
        metadata_json: Option<&str>,
        now_ms: u64,
    ) -> Result<(), CacheError> {
        self.check_alive()?;
        let (data, compressed) = self.stored_form(value_json.as_bytes());
        if data.len() as u64 > self.store.max_memory() {
            return Err(CacheError::out_of_range(
                "value",
                "no larger than maxMemory once stored",
                format!("{} bytes", data.len()),
            ));
        }
        let entry = Entry::new(
            key,
            &data,
            compressed,
            now_ms,
            ttl_ms.unwrap_or(self.default_ttl_ms),
            metadata_json.map(Into::into),
        );
        self.store_entry(entry, now_ms);
        Ok(())
    }

    /// The stored form of a value's JSON text: compressed when this cache compresses and that
    /// is smaller.
    fn stored_form<'a>(&self, raw: &'a [u8]) -> (Cow<'a, [u8]>, bool) {
        if self.compression {
            match zstd::bulk::compress(raw, ZSTD_LEVEL) {
                Ok(packed) if packed.len() < raw.len() => return (packed.into(), true),
                _ => {}
            }
        }
        (raw.into(), false)
    }

    /// Stores an entry known to fit, on disk too, and lets go of what it pushed out.
    fn store_entry(&mut self, entry: Entry, now_ms: u64) {
        if let Some(d) = &self.disk {
            d.write(&entry);
        }
        let mut removed = Vec::new();
        self.store.insert(entry, now_ms, &mut removed);
        self.forget(removed);
    }

    /// A copy of `key`'s live entry, for [`Cache::adopt`] by another cache. Not a read: counts
    /// nothing and changes no recency.
    pub fn export(&self, key: &(impl AsKey + ?Sized), now_ms: u64) -> Option<Entry> {
        self.store.peek(key.wtf8(), now_ms).cloned()
    }

    /// Stores an entry [`Cache::export`]ed by another cache: the one rule for filling a level
    /// of a multi-level cache from the level below. The entry keeps its value, metadata,
    /// creation time and expiry: it is never served here after it would have expired there
    /// (this cache's `defaultTtl` does not apply). An entry that has expired, or that is larger
    /// than this cache's `maxMemory`, is not stored (the level below keeps serving it); returns
    /// whether it was stored.
    pub fn adopt(&mut self, entry: Entry, now_ms: u64) -> Result<bool, CacheError> {
        self.check_alive()?;
        if entry.is_expired(now_ms) {
            return Ok(false);
        }
        let mut copy = if entry.compressed == self.compression {
            entry
        } else {
            let json = Self::value_json(&entry);
            let (data, compressed) = self.stored_form(json.as_bytes());
            let mut e = Entry::new(
                &entry,
                &data,
                compressed,
                entry.created_ms,
                entry.ttl_ms,
                entry.metadata.clone(),
            );
            e.expires_ms = entry.expires_ms;
            e
        };
        if copy.size() > self.store.max_memory() {
            return Ok(false);
        }
        copy.reads = 0;
        copy.last_access_ms = now_ms;
        self.store_entry(copy, now_ms);
        Ok(true)
    }

    /// Copies `key`'s live entry from `lower` into this cache, as [`Cache::adopt`] does;
    /// returns whether it was copied.
    pub fn promote_from(
        &mut self,
        lower: &Cache,
        key: &(impl AsKey + ?Sized),
        now_ms: u64,
    ) -> Result<bool, CacheError> {
        match lower.export(key, now_ms) {
            Some(entry) => self.adopt(entry, now_ms),
            None => Ok(false),
        }
    }

    pub fn delete(&mut self, key: &(impl AsKey + ?Sized)) -> Result<bool, CacheError> {
        self.check_alive()?;
        let gone = self.store.remove(key.wtf8());
        if let (Some(e), Some(d)) = (&gone, &self.disk) {
            d.remove(e.key());
        }
        Ok(gone.is_some())
    }

    pub fn clear(&mut self) -> Result<(), CacheError> {
        self.check_alive()?;
        self.store.clear();
        if let Some(d) = &self.disk {
            d.clear();
        }
        Ok(())
    }

    /// Drops expired entries; returns how many went.
    pub fn cleanup(&mut self, now_ms: u64) -> usize {
        if self.destroyed {
            return 0;
        }
        let mut removed = Vec::new();
        let n = self.store.purge_expired(now_ms, &mut removed);
        self.forget(removed);
        n
    }

    pub fn stats(&self) -> StoreStats {
        self.store.stats()
    }

    pub fn len(&self) -> usize {
        self.store.len()
    }

    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    pub fn is_persistent(&self) -> bool {
        self.disk.is_some()
    }

    /// Calls `done` once every disk write asked for so far is done, with the failures since the
    /// last call. Without a disk mirror it is called at once.
    pub fn when_written(&self, done: BarrierDone) {
        match &self.disk {
            Some(d) => d.barrier(done),
            None => done(Vec::new()),
        }
    }

    /// Keys in eviction order, next victim first; the tests' view of the eviction rule.
    #[cfg(test)]
    pub fn eviction_order(&self) -> Vec<Key> {
        self.store.eviction_order()
    }

    /// Frees every entry and lets go of the disk writer without waiting: the writes already
    /// queued still land, before any later load of the same folder in this process. The disk
    /// mirror keeps its files: they are what a later cache loads.
    pub fn destroy(&mut self) {
        self.destroyed = true;
        self.store.clear();
        self.disk = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ArgError;

    fn persistent(dir: &std::path::Path, compression: bool) -> Cache {
        Cache::open(
            CacheOptions {
                disk_dir: Some(dir.to_path_buf()),
                compression,
                ..CacheOptions::default()
            },
            1000,
        )
        .unwrap()
    }

    #[test]
    fn a_new_cache_reads_back_what_the_last_one_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = persistent(dir.path(), false);
        a.set(
            "buildfix:result",
            r#"{"ok":true}"#,
            Some(10_000),
            None,
            1000,
        )
        .unwrap();
        a.set("short", "1", Some(10), None, 1000).unwrap();
        a.set("gone", "2", None, None, 1000).unwrap();
        a.delete("gone").unwrap();
        a.destroy();
        let mut b = Cache::open(
            CacheOptions {
                disk_dir: Some(dir.path().to_path_buf()),
                ..CacheOptions::default()
            },
            2000,
        )
        .unwrap();
        assert_eq!(
            b.get("buildfix:result", 2000).unwrap().as_deref(),
            Some(r#"{"ok":true}"#)
        );
        // Remaining TTL is kept: it was set at 1000 for 10 s.
        assert_eq!(b.get("buildfix:result", 11_000).unwrap(), None);
        assert_eq!(b.get("short", 2000).unwrap(), None);
        assert_eq!(b.get("gone", 2000).unwrap(), None);
    }

    #[test]
    fn regression_lone_surrogate_keys_are_distinct_in_memory_and_after_reopen() {
        let units: [&[u16]; 5] = [
            &[0xD800],
            &[0xDC00],
            &[0xFFFD],
            &[0x61, 0xD800, 0x62],
            &[0xD83D, 0xDE00],
        ];
        let keys: Vec<Key> = units.iter().map(|u| Key::from_utf16(u)).collect();
        let dir = tempfile::tempdir().unwrap();
        let mut a = persistent(dir.path(), false);
        for (i, k) in keys.iter().enumerate() {
            a.set(k, &i.to_string(), None, None, 1000).unwrap();
        }
        assert_eq!(a.len(), keys.len());
        a.destroy();
        let mut b = persistent(dir.path(), false);
        assert_eq!(b.len(), keys.len());
        for (i, (k, u)) in keys.iter().zip(units).enumerate() {
            assert_eq!(b.get(k, 1000).unwrap(), Some(i.to_string()));
            assert!(b.eviction_order().iter().any(|e| e.to_utf16() == u));
        }
    }

    #[test]
    fn compression_really_shrinks_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = persistent(dir.path(), true);
        let value = format!("[{}]", vec!["\"buildfix plan step\""; 500].join(","));
        c.set("k", &value, None, None, 1000).unwrap();
        assert!(c.stats().total_size < value.len() as u64 / 10);
        assert_eq!(c.get("k", 1000).unwrap().as_deref(), Some(value.as_str()));
        c.destroy();
        let mut d = persistent(dir.path(), false);
        assert_eq!(d.get("k", 1000).unwrap().as_deref(), Some(value.as_str()));
    }

    #[test]
    fn oversized_value_is_refused_and_changes_nothing() {
        let mut c = Cache::open(
            CacheOptions {
                max_memory: 8,
                ..CacheOptions::default()
            },
            0,
        )
        .unwrap();
        c.set("a", "1", None, None, 0).unwrap();
        assert!(matches!(
            c.set("b", "\"0123456789\"", None, None, 0),
            Err(CacheError::Arg(ArgError::OutOfRange { .. }))
        ));
        assert_eq!(c.len(), 1);
    }

    fn memory(max_memory: u64, default_ttl_ms: u64, compression: bool) -> Cache {
        Cache::open(
            CacheOptions {
                max_memory,
                default_ttl_ms,
                compression,
                ..CacheOptions::default()
            },
            0,
        )
        .unwrap()
    }

    #[test]
    fn regression_promotion_keeps_the_expiry_instead_of_the_upper_default_ttl() {
        let mut l1 = memory(1 << 20, 300_000, false);
        let mut l2 = memory(1 << 20, 3_600_000, true);
        let value = format!("[{}]", vec!["\"step\""; 100].join(","));
        l2.set("short", &value, Some(1500), Some(r#"{"m":1}"#), 1000)
            .unwrap();
        l2.set("forever", "1", Some(0), None, 1000).unwrap();
        assert!(l1.promote_from(&l2, "short", 2000).unwrap());
        assert!(l1.promote_from(&l2, "forever", 2000).unwrap());
        let (up, down) = (
            l1.inspect("short", 2000).unwrap(),
            l2.inspect("short", 2000).unwrap(),
        );
        assert_eq!((up.created_ms, up.ttl_ms), (down.created_ms, down.ttl_ms));
        assert_eq!(up.value_json, value);
        assert_eq!(up.metadata_json.as_deref(), Some(r#"{"m":1}"#));
        // Stored in l1's own form: l1 does not compress.
        assert_eq!(up.size, value.len() as u64);
        assert_eq!(
            l1.get("short", 2499).unwrap().as_deref(),
            Some(value.as_str())
        );
        assert_eq!(l1.get("short", 2500).unwrap(), None);
        assert_eq!(l1.inspect("forever", u64::MAX - 1).unwrap().ttl_ms, 0);
    }

    #[test]
    fn regression_an_entry_with_no_time_left_or_too_large_is_never_promoted() {
        let mut l1 = memory(8, 300_000, false);
        let mut l2 = memory(1 << 20, 0, false);
        l2.set("short", "1", Some(100), None, 1000).unwrap();
        l2.set("big", "\"0123456789\"", None, None, 1000).unwrap();
        assert!(!l1.promote_from(&l2, "short", 1100).unwrap());
        assert!(!l1.promote_from(&l2, "big", 1000).unwrap());
        assert!(!l1.promote_from(&l2, "missing", 1000).unwrap());
        assert!(l1.is_empty());
        // Nothing was counted as a read in l2.
        assert_eq!(l2.stats().hits + l2.stats().misses, 0);
    }

    #[test]
    fn loading_respects_limits() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = persistent(dir.path(), false);
        for i in 0..20 {
            a.set(&format!("k{i}"), "1", None, None, 1000 + i).unwrap();
        }
        a.destroy();
        let b = Cache::open(
            CacheOptions {
                disk_dir: Some(dir.path().to_path_buf()),
                max_size: 5,
                ..CacheOptions::default()
            },
            2000,
        )
        .unwrap();
        assert_eq!(b.len(), 5);
        // The five most recent survive.
        assert!(b.has("k19", 2000) && b.has("k15", 2000) && !b.has("k14", 2000));
    }

    #[test]
    fn destroyed_cache_refuses_work() {
        let mut c = Cache::open(CacheOptions::default(), 0).unwrap();
        c.destroy();
        assert!(matches!(c.get("a", 0), Err(CacheError::Destroyed)));
        assert!(!c.has("a", 0));
    }

    fn when_written(c: &Cache) -> Vec<DiskFailure> {
        let (tx, rx) = std::sync::mpsc::channel();
        c.when_written(Box::new(move |f| tx.send(f).unwrap()));
        rx.recv().unwrap()
    }

    #[test]
    fn regression_a_clear_that_fails_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = persistent(dir.path(), false);
        c.set("a", "1", None, None, 1000).unwrap();
        assert!(when_written(&c).is_empty());
        // A non-empty folder where the entry file was: unlink fails (EISDIR), even for root.
        let file = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::remove_file(&file).unwrap();
        std::fs::create_dir(&file).unwrap();
        std::fs::write(file.join("inside"), b"").unwrap();
        c.clear().unwrap();
        let failures = when_written(&c);
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].op, DiskOp::Clear);
        assert_eq!(failures[0].path, file);
    }

    #[test]
    fn a_load_keeps_entries_set_while_it_ran() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = persistent(dir.path(), false);
        a.set("k", "\"old\"", None, None, 1000).unwrap();
        a.set("other", "1", None, None, 1000).unwrap();
        a.destroy();
        let mut b = Cache::new(CacheOptions {
            disk_dir: Some(dir.path().to_path_buf()),
            ..CacheOptions::default()
        })
        .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        b.load(Box::new(move |l| tx.send(l).unwrap()));
        let loaded = rx.recv().unwrap();
        b.set("k", "\"new\"", None, None, 2000).unwrap();
        assert!(b.apply_loaded(loaded, 2000).is_empty());
        assert_eq!(b.get("k", 2000).unwrap().as_deref(), Some("\"new\""));
        assert_eq!(b.get("other", 2000).unwrap().as_deref(), Some("1"));
    }

    #[test]
    fn a_load_for_a_destroyed_cache_inserts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = persistent(dir.path(), false);
        a.set("k", "1", None, None, 1000).unwrap();
        a.destroy();
        let mut b = persistent(dir.path(), false);
        let (tx, rx) = std::sync::mpsc::channel();
        b.load(Box::new(move |l| tx.send(l).unwrap()));
        b.destroy();
        b.apply_loaded(rx.recv().unwrap(), 1000);
        assert!(b.is_empty());
    }
}
