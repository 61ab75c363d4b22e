// napi-derive registers `#[napi]` functions only outside `cfg(test)`.
#![cfg_attr(test, allow(dead_code))]

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use napi::bindgen_prelude::{Env, Object, Utf16String};
use napi_derive::napi;

use super::error::Result;
use super::handles::Handles;
use crate::cache::{
    non_negative_integer, positive_integer, BarrierDone, Cache, CacheError, CacheOptions,
    DiskFailure, EntryInfo, EvictionPolicy, Key, LevelWrite, LoadDone, Loaded, MultiLevelCache,
    StoreStats,
};

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[napi(object)]
pub struct NativeCacheOptions {
    pub max_size: Option<f64>,
    pub max_memory: Option<f64>,
    pub default_ttl: Option<f64>,
    /// Folder of the disk mirror; absent when entries stay in memory only.
    pub disk_cache_dir: Option<String>,
    pub compression_enabled: Option<bool>,
    pub eviction_policy: Option<String>,
}

impl TryFrom<NativeCacheOptions> for CacheOptions {
    type Error = crate::cache::CacheError;

    fn try_from(o: NativeCacheOptions) -> std::result::Result<Self, Self::Error> {
        let d = CacheOptions::default();
        Ok(CacheOptions {
            max_size: match o.max_size {
                Some(v) => positive_integer("maxSize", v)? as usize,
                None => d.max_size,
            },
            max_memory: match o.max_memory {
                Some(v) => positive_integer("maxMemory", v)?,
                None => d.max_memory,
            },
            default_ttl_ms: match o.default_ttl {
                Some(v) => non_negative_integer("defaultTtl", v)?,
                None => d.default_ttl_ms,
            },
            policy: match o.eviction_policy.as_deref() {
                Some(p) => EvictionPolicy::parse(p)?,
                None => d.policy,
            },
            compression: o.compression_enabled.unwrap_or(false),
            disk_dir: o.disk_cache_dir.map(PathBuf::from),
        })
    }
}

#[napi(object)]
pub struct NativeEntryInfo {
    /// The value as JSON text.
    pub value: String,
    pub timestamp: f64,
    pub ttl: f64,
    pub access_count: f64,
    pub last_accessed: f64,
    pub size: f64,
    /// The metadata as JSON text.
    pub metadata: Option<String>,
}

impl From<EntryInfo> for NativeEntryInfo {
    fn from(i: EntryInfo) -> Self {
        Self {
            value: i.value_json,
            timestamp: i.created_ms as f64,
            ttl: i.ttl_ms as f64,
            access_count: i.reads as f64,
            last_accessed: i.last_access_ms as f64,
            size: i.size as f64,
            metadata: i.metadata_json,
        }
    }
}

#[napi(object)]
pub struct NativeCacheStats {
    pub total_entries: f64,
    pub total_size: f64,
    pub hit_count: f64,
    pub miss_count: f64,
    pub hit_rate: f64,
    pub eviction_count: f64,
    pub expired_count: f64,
    pub avg_access_time: f64,
    pub oldest_entry: Option<f64>,
    pub newest_entry: Option<f64>,
}

impl From<StoreStats> for NativeCacheStats {
    fn from(s: StoreStats) -> Self {
        Self {
            total_entries: s.entries as f64,
            total_size: s.total_size as f64,
            hit_count: s.hits as f64,
            miss_count: s.misses as f64,
            hit_rate: s.hit_rate(),
            eviction_count: s.evictions as f64,
            expired_count: s.expirations as f64,
            avg_access_time: s.avg_access_ms,
            oldest_entry: s.oldest_ms.map(|v| v as f64),
            newest_entry: s.newest_ms.map(|v| v as f64),
        }
    }
}

#[napi(object)]
pub struct NativeDiskFailure {
    /// What failed: 'write', 'remove', 'clear' or 'load'.
    pub op: String,
    pub key: Option<Utf16String>,
    pub path: String,
    pub error: String,
}

impl From<DiskFailure> for NativeDiskFailure {
    fn from(f: DiskFailure) -> Self {
        Self {
            op: f.op.as_str().into(),
            key: f.key.as_ref().map(js_key),
            path: f.path.display().to_string(),
            error: f.error,
        }
    }
}

/// The core's key of a JS string. Keys cross as UTF-16, not as `String`: the conversion to
/// UTF-8 is lossy (every lone surrogate becomes U+FFFD), and distinct strings must stay
/// distinct keys.
fn core_key(js: &Utf16String) -> Key {
    Key::from_utf16(js)
}

/// The exact JS string a key was made from.
fn js_key(key: &Key) -> Utf16String {
    key.to_utf16().into()
}

thread_local! {
    static CACHES: RefCell<Handles<Cache>> = const { RefCell::new(Handles::new()) };
}

/// Runs `f` on the cache behind `handle`. No JS callback runs inside `f`, so the borrow is
/// never re-entered.
fn with_cache<R>(handle: u32, f: impl FnOnce(&mut Cache) -> R) -> Result<R> {
    CACHES.with(|caches| match caches.borrow_mut().get_mut(handle) {
        Some(cache) => Ok(f(cache)),
        None => Err(CacheError::Destroyed.into()),
    })
}

/// A new, empty cache; returns its handle. A persistent one checks (and makes) its folder here,
/// a few system calls, and reads it only in `cacheLoad`. The JS layer (`lib/cache.js`) wraps
/// the handle in the public `AdvancedCache` EventEmitter; every call here is synchronous and
/// cheap except `cacheLoad` and `cacheWhenWritten`, whose promises settle from the disk writer.
#[napi(catch_unwind)]
pub fn cache_open(options: NativeCacheOptions) -> Result<u32> {
    let options = CacheOptions::try_from(options)?;
    let cache = Cache::new(options)?;
    Ok(CACHES.with(|caches| caches.borrow_mut().insert(cache)))
}

/// Reads the cache's disk folder on a disk writer and takes in its valid entries on the JS
/// thread; resolves with the files that could not be used (at once, with none, for a
/// memory-only or freed cache). Never rejects: a folder that cannot be read is one of the
/// failures.
///
/// The handle cannot be reused before this settles: the pending promise keeps the JS owner
/// alive, and only the owner's collection frees the handle.
#[napi(catch_unwind, ts_return_type = "Promise<NativeDiskFailure[]>")]
pub fn cache_load<'env>(env: &'env Env, handle: u32) -> napi::Result<Object<'env>> {
    let (deferred, promise) = env.create_deferred()?;
    let settle: LoadDone = Box::new(move |loaded: Loaded| {
        deferred.resolve(move |_| {
            // Runs on the JS thread, where the cache lives.
            let failures =
                with_cache(handle, |c| c.apply_loaded(loaded, now_ms())).unwrap_or_default();
            Ok(failures
                .into_iter()
                .map(NativeDiskFailure::from)
                .collect::<Vec<_>>())
        });
    });
    let mut settle = Some(settle);
    let _ = with_cache(handle, |c| {
        if let Some(done) = settle.take() {
            c.load(done);
        }
    });
    if let Some(done) = settle {
        done(Loaded::default());
    }
    Ok(promise)
}

/// The value as JSON text, or `null` on a miss.
#[napi(catch_unwind)]
pub fn cache_get(handle: u32, key: Utf16String) -> Result<Option<String>> {
    let key = core_key(&key);
    Ok(with_cache(handle, |c| c.get(&key, now_ms()))??)
}

#[napi(catch_unwind)]
pub fn cache_inspect(handle: u32, key: Utf16String) -> Result<Option<NativeEntryInfo>> {
    let key = core_key(&key);
    with_cache(handle, |c| c.inspect(&key, now_ms()).map(Into::into))
}

#[napi(catch_unwind)]
pub fn cache_has(handle: u32, key: Utf16String) -> bool {
    let key = core_key(&key);
    with_cache(handle, |c| c.has(&key, now_ms())).unwrap_or(false)
}

/// `ttl` of `undefined` takes the default; 0 never expires.
#[napi(catch_unwind)]
pub fn cache_set(
    handle: u32,
    key: Utf16String,
    value_json: String,
    ttl: Option<f64>,
    metadata_json: Option<String>,
) -> Result<()> {
    let key = core_key(&key);
    let ttl = ttl.map(|t| non_negative_integer("ttl", t)).transpose()?;
    Ok(with_cache(handle, |c| {
        c.set(&key, &value_json, ttl, metadata_json.as_deref(), now_ms())
    })??)
}

/// Runs `f` on the caches behind `handles` as the levels of one multi-level cache, fastest
/// first.
fn with_levels<R>(
    handles: &[u32],
    f: impl FnOnce(&mut MultiLevelCache<&mut Cache>) -> R,
) -> Result<R> {
    CACHES.with(|caches| match caches.borrow_mut().get_many_mut(handles) {
        Some(levels) if !levels.is_empty() => Ok(f(&mut MultiLevelCache::new(levels))),
        _ => Err(CacheError::Destroyed.into()),
    })
}

#[napi(object)]
pub struct NativeLevelHit {
    /// The value as JSON text.
    pub value: String,
    /// The level it was found in (0 is the fastest).
    pub level: u32,
}

/// Reads `key` through the caches behind `levels` (a `MultiLevelCache`), filling the levels
/// above a hit (`MultiLevelCache::get` has the rule); `null` on a miss.
#[napi(catch_unwind)]
pub fn cache_levels_get(levels: Vec<u32>, key: Utf16String) -> Result<Option<NativeLevelHit>> {
    let key = core_key(&key);
    let hit = with_levels(&levels, |m| m.get(&key, now_ms()))??;
    Ok(hit.map(|h| NativeLevelHit {
        value: h.value_json,
        level: h.level as u32,
    }))
}

/// What `cacheLevelsSet` did in one level.
#[napi(object)]
pub struct NativeLevelWrite {
    pub stored: bool,
    /// Too large for the level: the older entry it removed there, if there was one.
    pub dropped: Option<NativeEntryInfo>,
}

/// Stores a value in every level behind `levels` that can hold it (`MultiLevelCache::set` has
/// the rule); a value no level can hold throws its RangeError and changes nothing.
#[napi(catch_unwind)]
pub fn cache_levels_set(
    levels: Vec<u32>,
    key: Utf16String,
    value_json: String,
    ttl: Option<f64>,
) -> Result<Vec<NativeLevelWrite>> {
    let key = core_key(&key);
    let ttl = ttl.map(|t| non_negative_integer("ttl", t)).transpose()?;
    let writes = with_levels(&levels, |m| m.set(&key, &value_json, ttl, now_ms()))??;
    Ok(writes
        .into_iter()
        .map(|w| match w {
            LevelWrite::Stored => NativeLevelWrite {
                stored: true,
                dropped: None,
            },
            LevelWrite::Dropped(old) => NativeLevelWrite {
                stored: false,
                dropped: old.map(Into::into),
            },
        })
        .collect())
}

#[napi(catch_unwind)]
pub fn cache_delete(handle: u32, key: Utf16String) -> Result<bool> {
    let key = core_key(&key);
    Ok(with_cache(handle, |c| c.delete(&key))??)
}

#[napi(catch_unwind)]
pub fn cache_clear(handle: u32) -> Result<()> {
    Ok(with_cache(handle, |c| c.clear())??)
}

/// Drops expired entries; returns how many.
#[napi(catch_unwind)]
pub fn cache_cleanup(handle: u32) -> u32 {
    with_cache(handle, |c| c.cleanup(now_ms()) as u32).unwrap_or(0)
}

#[napi(catch_unwind)]
pub fn cache_stats(handle: u32) -> Result<NativeCacheStats> {
    with_cache(handle, |c| c.stats().into())
}

#[napi(catch_unwind)]
pub fn cache_persistent(handle: u32) -> bool {
    with_cache(handle, |c| c.is_persistent()).unwrap_or(false)
}

/// Resolves once every disk write asked for so far is done, with the failures since the last
/// call (at once, with none, for a memory-only or freed cache).
#[napi(catch_unwind, ts_return_type = "Promise<NativeDiskFailure[]>")]
pub fn cache_when_written<'env>(env: &'env Env, handle: u32) -> napi::Result<Object<'env>> {
    let (deferred, promise) = env.create_deferred()?;
    let settle: BarrierDone = Box::new(move |failures: Vec<DiskFailure>| {
        deferred.resolve(move |_| {
            Ok(failures
                .into_iter()
                .map(NativeDiskFailure::from)
                .collect::<Vec<_>>())
        });
    });
    let mut settle = Some(settle);
    let _ = with_cache(handle, |c| {
        if let Some(done) = settle.take() {
            c.when_written(done);
        }
    });
    if let Some(done) = settle {
        done(Vec::new());
    }
    Ok(promise)
}

/// Frees every entry; queued disk writes still land, without anyone waiting for them. The
/// handle stays valid (every later call says the cache was destroyed) until `cacheFree`.
#[napi(catch_unwind)]
pub fn cache_destroy(handle: u32) {
    let _ = with_cache(handle, |c| c.destroy());
}

/// Forgets the cache; its handle may be reused afterwards.
#[napi(catch_unwind)]
pub fn cache_free(handle: u32) {
    CACHES.with(|caches| caches.borrow_mut().remove(handle));
}

/// Keys in eviction order, next victim first (diagnostics and tests).
#[napi(catch_unwind)]
pub fn cache_eviction_order(handle: u32) -> Result<Vec<Utf16String>> {
    with_cache(handle, |c| {
        c.eviction_order().into_iter().map(js_key).collect()
    })
}
