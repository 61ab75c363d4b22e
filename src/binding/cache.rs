// napi-derive registers `#[napi]` functions only outside `cfg(test)`.
#![cfg_attr(test, allow(dead_code))]

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use napi::bindgen_prelude::{Env, Object, Unknown, Utf16String};
use napi::sys;
use napi_derive::napi;

use super::args::{boolean, number, one_of, resolve_path, string, Arg, Options, Range};
use super::error::Result;
use super::handles::Handles;
use crate::cache::{
    BarrierDone, Cache, CacheError, CacheOptions, DiskFailure, EntryInfo, EvictionPolicy, Key,
    KeyBuf, LevelWrite, LoadDone, Loaded, MultiLevelCache, StoreStats,
};
use crate::error::ArgError;

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `AdvancedCache`'s options as the caller wrote them; [`to_cache_options`] checks them.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct NativeCacheOptions {
    #[napi(ts_type = "number")]
    pub max_size: Option<Arg>,
    #[napi(ts_type = "number")]
    pub max_memory: Option<Arg>,
    #[napi(ts_type = "number")]
    pub default_ttl: Option<Arg>,
    #[napi(ts_type = "number")]
    pub cleanup_interval: Option<Arg>,
    #[napi(ts_type = "boolean")]
    pub persist_to_disk: Option<Arg>,
    #[napi(ts_type = "string")]
    pub disk_cache_dir: Option<Arg>,
    #[napi(ts_type = "boolean")]
    pub compression_enabled: Option<Arg>,
    #[napi(ts_type = "'lru' | 'lfu' | 'ttl' | 'size'")]
    pub eviction_policy: Option<Arg>,
}

/// The options in force, defaults filled in (`AdvancedCache#config`).
#[napi(object)]
pub struct NativeCacheConfig {
    pub max_size: f64,
    pub max_memory: f64,
    pub default_ttl: f64,
    /// How often the JS layer drops expired entries, ms; 0 never.
    pub cleanup_interval: f64,
    pub persist_to_disk: bool,
    /// As given (relative paths are resolved against the current folder when the cache opens).
    pub disk_cache_dir: String,
    pub compression_enabled: bool,
    #[napi(ts_type = "'lru' | 'lfu' | 'ttl' | 'size'")]
    pub eviction_policy: String,
}

/// Defaults of the options the core does not see (API.md, AdvancedCache).
const DEFAULT_CLEANUP_INTERVAL_MS: f64 = 60_000.0;
const DEFAULT_DISK_CACHE_DIR: &str = ".cache";
/// `setInterval`'s bound (a 32-bit count of ms).
const MAX_TIMER_MS: f64 = 2_147_483_647.0;

/// The one conversion of the JS options into the core's, with the resolved configuration.
fn to_cache_options(
    o: NativeCacheOptions,
) -> std::result::Result<(CacheOptions, NativeCacheConfig), CacheError> {
    let d = CacheOptions::default();
    let max_size = number("maxSize", o.max_size, Range::whole(1.0))?;
    let max_memory = number("maxMemory", o.max_memory, Range::whole(1.0))?;
    let default_ttl = number("defaultTtl", o.default_ttl, Range::whole(0.0))?;
    let cleanup_interval = number(
        "cleanupInterval",
        o.cleanup_interval,
        Range {
            max: MAX_TIMER_MS,
            ..Range::whole(0.0)
        },
    )?;
    let persist = boolean("persistToDisk", o.persist_to_disk)?.unwrap_or(false);
    let dir = string("diskCacheDir", o.disk_cache_dir)?;
    if dir.as_deref() == Some("") {
        // '' would silently mean the current folder.
        return Err(
            ArgError::invalid_type_got("diskCacheDir", "a non-empty folder path", "\"\"").into(),
        );
    }
    let dir = dir.unwrap_or_else(|| DEFAULT_DISK_CACHE_DIR.into());
    let compression = boolean("compressionEnabled", o.compression_enabled)?.unwrap_or(false);
    let policy =
        one_of("evictionPolicy", o.eviction_policy, &EvictionPolicy::NAMED)?.unwrap_or(d.policy);
    let disk_dir = if persist {
        Some(resolve_path(&dir).map_err(|e| CacheError::DiskDir {
            path: dir.clone(),
            reason: e.to_string(),
        })?)
    } else {
        None
    };
    let options = CacheOptions {
        max_size: max_size.map_or(d.max_size, |v| v as usize),
        max_memory: max_memory.map_or(d.max_memory, |v| v as u64),
        default_ttl_ms: default_ttl.map_or(d.default_ttl_ms, |v| v as u64),
        policy,
        compression,
        disk_dir,
    };
    let config = NativeCacheConfig {
        max_size: options.max_size as f64,
        max_memory: options.max_memory as f64,
        default_ttl: options.default_ttl_ms as f64,
        cleanup_interval: cleanup_interval.unwrap_or(DEFAULT_CLEANUP_INTERVAL_MS),
        persist_to_disk: persist,
        disk_cache_dir: dir,
        compression_enabled: compression,
        eviction_policy: policy.name().into(),
    };
    Ok((options, config))
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
pub(super) fn core_key(js: &Utf16String) -> Key {
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

/// A new, empty cache: its handle and its configuration. The options are checked here, once
/// (`config` absent takes every default). A persistent cache checks (and makes) its folder
/// here, a few system calls, and reads it only in `cacheLoad`. The JS layer (`lib/cache.js`)
/// wraps the handle in the public `AdvancedCache` EventEmitter; every call here is synchronous
/// and cheap except `cacheLoad` and `cacheWhenWritten`, whose promises settle from the disk
/// writer.
#[napi(
    catch_unwind,
    ts_args_type = "config?: NativeCacheOptions",
    ts_return_type = "NativeCacheOpened"
)]
pub fn cache_open(config: Options<NativeCacheOptions>) -> Result<NativeCacheOpened> {
    let (options, config) = to_cache_options(config.check("config")?.unwrap_or_default())?;
    let cache = Cache::new(options)?;
    let handle = CACHES.with(|caches| caches.borrow_mut().insert(cache));
    Ok(NativeCacheOpened { handle, config })
}

#[napi(object)]
pub struct NativeCacheOpened {
    pub handle: u32,
    pub config: NativeCacheConfig,
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
            Ok(js_failures(failures))
        });
    });
    hand_to_cache(
        handle,
        settle,
        |c, d| c.load(d),
        |done| done(Loaded::default()),
    );
    Ok(promise)
}

thread_local! {
    /// The key of the read in progress, reused from one read to the next: its UTF-16 code units
    /// as V8 hands them out, and their WTF-8.
    static READ_KEY: RefCell<(Vec<u16>, KeyBuf)> = const { RefCell::new((Vec::new(), KeyBuf::new())) };
}

/// Runs `f` with the key of the JS string `key`, converted in buffers reused by every read: the
/// hot read path allocates nothing for its key.
fn with_read_key<R>(
    env: sys::napi_env,
    key: sys::napi_value,
    f: impl FnOnce(&KeyBuf) -> R,
) -> Result<R> {
    READ_KEY.with(|cell| {
        let (units, buf) = &mut *cell.borrow_mut();
        // Room for most keys, so that one call usually reads the whole string.
        if units.len() < 128 {
            units.resize(128, 0);
        }
        let read = |units: &mut Vec<u16>| -> Result<usize> {
            let mut written = 0;
            // SAFETY: `units` has `units.len()` writable code units; V8 writes at most that
            // many, the terminating NUL included, and says how many it wrote before the NUL.
            let status = unsafe {
                sys::napi_get_value_string_utf16(
                    env,
                    key,
                    units.as_mut_ptr(),
                    units.len(),
                    &mut written,
                )
            };
            if status != sys::Status::napi_ok {
                return Err(ArgError::invalid_type("key", "a string").into());
            }
            Ok(written)
        };
        let mut written = read(units)?;
        if written + 1 >= units.len() {
            // Perhaps cut short: ask for the length, then read it all.
            let mut len = 0;
            // SAFETY: a null buffer asks only for the length.
            unsafe {
                sys::napi_get_value_string_utf16(env, key, std::ptr::null_mut(), 0, &mut len)
            };
            units.resize(len + 1, 0);
            written = read(units)?;
        }
        buf.set_utf16(&units[..written]);
        Ok(f(buf))
    })
}

/// The JS string of a value's JSON text (UTF-8), made straight from the stored bytes: ASCII, the
/// usual case, as a one-byte string with no decoding.
fn json_string(env: sys::napi_env, json: &[u8]) -> Result<sys::napi_value> {
    let mut out = std::ptr::null_mut();
    // SAFETY: `json` is valid for its length; `out` receives the new string.
    let status = unsafe {
        if json.is_ascii() {
            sys::napi_create_string_latin1(env, json.as_ptr().cast(), json.len() as isize, &mut out)
        } else {
            // Stored values are JSON.stringify's output, well-formed UTF-8; "" if one were not
            // (as a copy through `String` gave), which JSON.parse then refuses.
            let text = std::str::from_utf8(json).unwrap_or_default();
            sys::napi_create_string_utf8(env, text.as_ptr().cast(), text.len() as isize, &mut out)
        }
    };
    if status == sys::Status::napi_ok {
        Ok(out)
    } else {
        Err(super::error::failure("could not make the value's string"))
    }
}

/// `cacheGet(handle, key)`: the value as JSON text, or `null` on a miss. The hot path of
/// `AdvancedCache.get`: the key is read into reused buffers and the JS string is made from the
/// stored bytes, so a hit allocates nothing on the Rust side.
fn cache_get(
    env: sys::napi_env,
    handle: sys::napi_value,
    key: sys::napi_value,
) -> Result<sys::napi_value> {
    let mut handle_number = 0u32;
    // SAFETY: `handle` is a value of this call; a non-number is refused with a status.
    if unsafe { sys::napi_get_value_uint32(env, handle, &mut handle_number) }
        != sys::Status::napi_ok
    {
        return Err(ArgError::invalid_type("handle", "a number").into());
    }
    let found = with_read_key(env, key, |key| {
        // Making a string runs no JS, so the cache's borrow is not re-entered.
        with_cache(handle_number, |c| {
            c.get_with(key, now_ms(), |json| json_string(env, json))
        })
    })???;
    match found {
        Some(value) => value,
        None => {
            let mut null = std::ptr::null_mut();
            // SAFETY: `null` receives JS null.
            unsafe { sys::napi_get_null(env, &mut null) };
            Ok(null)
        }
    }
}

/// The Node-API callback of `cacheGet`. A plain callback, not a `#[napi]` function: napi-rs's
/// per-call bookkeeping for borrowed arguments (an allocation, a lock and a thread-local scope
/// per call) cost as much as the lookup itself. Panics are caught as `catch_unwind` exports
/// catch them, and errors thrown as napi-rs throws them.
unsafe extern "C" fn cache_get_callback(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    let mut argc = 2usize;
    let mut argv = [std::ptr::null_mut(); 2];
    // SAFETY: `info` is this call's; `argv` has room for `argc` values (missing ones are
    // `undefined`).
    let status = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    let result = if status == sys::Status::napi_ok {
        std::panic::catch_unwind(|| cache_get(env, argv[0], argv[1])).unwrap_or_else(|panic| {
            Err(super::error::failure(
                napi::bindgen_prelude::panic_to_error(panic).reason,
            ))
        })
    } else {
        Err(super::error::failure("could not read the arguments"))
    };
    match result {
        Ok(value) => value,
        Err(e) => {
            // SAFETY: `env` is this call's.
            unsafe { napi::JsError::from(e).throw_into(env) };
            std::ptr::null_mut()
        }
    }
}

/// The plain Node-API function `lib/native.js` exposes as `cacheGet(handle, key)`: the value as
/// JSON text, or `null` on a miss (see [`cache_get_callback`] for why it is not an export).
#[napi(
    catch_unwind,
    ts_return_type = "(handle: number, key: string) => string | null"
)]
pub fn cache_get_function(env: &Env) -> Result<Unknown<'_>> {
    let mut f = std::ptr::null_mut();
    // SAFETY: a named function over a callback that lives as long as the library.
    let status = unsafe {
        sys::napi_create_function(
            env.raw(),
            c"cacheGet".as_ptr(),
            8,
            Some(cache_get_callback),
            std::ptr::null_mut(),
            &mut f,
        )
    };
    if status != sys::Status::napi_ok {
        return Err(super::error::failure("could not make cacheGet"));
    }
    // SAFETY: `f` is a function just made in `env`.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), f) })
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
#[napi(
    catch_unwind,
    ts_args_type = "handle: number, key: string, valueJson: string, ttl?: number, metadataJson?: string | undefined | null"
)]
pub fn cache_set(
    handle: u32,
    key: Utf16String,
    value_json: String,
    ttl: Arg,
    metadata_json: Option<String>,
) -> Result<()> {
    let key = core_key(&key);
    let ttl = number("ttl", ttl.given(), Range::whole(0.0))?.map(|t| t as u64);
    Ok(with_cache(handle, |c| {
        c.set(&key, &value_json, ttl, metadata_json.as_deref(), now_ms())
    })??)
}

/// Runs `f` on the caches behind `handles` as the levels of one multi-level cache, fastest
/// first.
pub(super) fn with_levels<R>(
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
    ttl: Arg,
) -> Result<Vec<NativeLevelWrite>> {
    let key = core_key(&key);
    let ttl = number("ttl", ttl.given(), Range::whole(0.0))?.map(|t| t as u64);
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
        deferred.resolve(move |_| Ok(js_failures(failures)));
    });
    hand_to_cache(
        handle,
        settle,
        |c, d| c.when_written(d),
        |done| done(Vec::new()),
    );
    Ok(promise)
}

/// Gives the callback `done` to the cache behind `handle`; for a freed handle it is called at
/// once through `otherwise`, so a promise waiting on it always settles.
fn hand_to_cache<D>(
    handle: u32,
    done: D,
    give: impl FnOnce(&mut Cache, D),
    otherwise: impl FnOnce(D),
) {
    let mut done = Some(done);
    let _ = with_cache(handle, |c| {
        if let Some(d) = done.take() {
            give(c, d);
        }
    });
    if let Some(d) = done {
        otherwise(d);
    }
}

fn js_failures(failures: Vec<DiskFailure>) -> Vec<NativeDiskFailure> {
    failures.into_iter().map(NativeDiskFailure::from).collect()
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
