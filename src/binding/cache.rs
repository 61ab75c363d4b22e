use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use napi::bindgen_prelude::{Env, Object};
use napi_derive::napi;

use super::error::Result;
use crate::cache::{
    non_negative_integer, positive_integer, Cache, CacheOptions, DiskFailure, EntryInfo,
    EvictionPolicy, StoreStats,
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
    pub key: Option<String>,
    pub path: String,
    pub error: String,
}

impl From<DiskFailure> for NativeDiskFailure {
    fn from(f: DiskFailure) -> Self {
        Self {
            key: f.key,
            path: f.path.display().to_string(),
            error: f.error,
        }
    }
}

/// The cache core as one JS object. The JS layer (`lib/cache.js`) wraps it in the public
/// `AdvancedCache` EventEmitter; every call here is synchronous and cheap except
/// `whenWritten`, whose promise settles from the disk writer thread.
#[napi]
pub struct NativeCache {
    inner: Cache,
}

#[napi]
impl NativeCache {
    #[napi(constructor)]
    pub fn new(options: NativeCacheOptions) -> Result<Self> {
        let options = CacheOptions::try_from(options)?;
        Ok(Self {
            inner: Cache::open(options, now_ms())?,
        })
    }

    /// The value as JSON text, or `undefined` on a miss.
    #[napi]
    pub fn get(&mut self, key: String) -> Result<Option<String>> {
        Ok(self.inner.get(&key, now_ms())?)
    }

    #[napi]
    pub fn inspect(&self, key: String) -> Option<NativeEntryInfo> {
        self.inner.inspect(&key, now_ms()).map(Into::into)
    }

    #[napi]
    pub fn has(&self, key: String) -> bool {
        self.inner.has(&key, now_ms())
    }

    /// `ttl` of `undefined` takes the default; 0 never expires.
    #[napi]
    pub fn set(
        &mut self,
        key: String,
        value_json: String,
        ttl: Option<f64>,
        metadata_json: Option<String>,
    ) -> Result<()> {
        let ttl = ttl.map(|t| non_negative_integer("ttl", t)).transpose()?;
        self.inner
            .set(&key, &value_json, ttl, metadata_json.as_deref(), now_ms())?;
        Ok(())
    }

    #[napi]
    pub fn delete(&mut self, key: String) -> Result<bool> {
        Ok(self.inner.delete(&key)?)
    }

    #[napi]
    pub fn clear(&mut self) -> Result<()> {
        Ok(self.inner.clear()?)
    }

    /// Drops expired entries; returns how many.
    #[napi]
    pub fn cleanup(&mut self) -> u32 {
        self.inner.cleanup(now_ms()) as u32
    }

    #[napi]
    pub fn stats(&self) -> NativeCacheStats {
        self.inner.stats().into()
    }

    #[napi(getter)]
    pub fn persistent(&self) -> bool {
        self.inner.is_persistent()
    }

    #[napi]
    pub fn take_load_failures(&mut self) -> Vec<NativeDiskFailure> {
        self.inner
            .take_load_failures()
            .into_iter()
            .map(Into::into)
            .collect()
    }

    /// Resolves once every disk write asked for so far is done, with the failures since the
    /// last call (an empty list for a memory-only cache).
    #[napi(ts_return_type = "Promise<NativeDiskFailure[]>")]
    pub fn when_written<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        if !self.inner.is_persistent() {
            // Settled here rather than through the writer: no thread hop for memory-only caches.
            let (deferred, promise) = env.create_deferred()?;
            deferred.resolve(|_| Ok(Vec::<NativeDiskFailure>::new()));
            return Ok(promise);
        }
        let (deferred, promise) = env.create_deferred()?;
        self.inner
            .when_written(Box::new(move |failures: Vec<DiskFailure>| {
                deferred.resolve(move |_| {
                    Ok(failures
                        .into_iter()
                        .map(NativeDiskFailure::from)
                        .collect::<Vec<_>>())
                });
            }));
        Ok(promise)
    }

    /// Frees every entry and waits for the disk writer to finish what was queued.
    #[napi]
    pub fn destroy(&mut self) {
        self.inner.destroy();
    }

    /// Keys in eviction order, next victim first (diagnostics and tests).
    #[napi]
    pub fn eviction_order(&self) -> Vec<String> {
        self.inner
            .eviction_order()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }
}
