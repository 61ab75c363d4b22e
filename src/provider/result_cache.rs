//! The provider's cache of whole answers: a [`MultiLevelCache`] of a memory level and, when a
//! folder is given, a compressed disk level that a later provider reads back. What it cannot do
//! is reported as [`ProviderError::Cache`], never dropped: the answer stands without the cache.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde_json::Value;

use super::{lock, now_ms, ProviderError};
use crate::cache::{Cache, CacheError, CacheOptions, DiskFailure, MultiLevelCache};

/// Entries of the memory level (answers are a few KB each).
const MEMORY_ENTRIES: usize = 100;
/// Entries of the disk level.
const DISK_ENTRIES: usize = 1000;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CacheCounters {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
}

pub struct ResultCache {
    /// `None` once closed.
    levels: Mutex<Option<MultiLevelCache>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

fn failure(operation: &str, key: &str, e: impl std::fmt::Display) -> ProviderError {
    ProviderError::Cache {
        message: format!("the result cache could not {operation} an answer: {e}"),
        operation: operation.into(),
        key: key.into(),
    }
}

/// Waits, without blocking a thread, until every disk write asked of `cache` so far is done;
/// returns the failures.
async fn written(cache: &Mutex<Option<MultiLevelCache>>) -> Vec<DiskFailure> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut tx = Some(tx);
    if let Some(levels) = lock(cache).as_ref() {
        if let Some(disk) = levels.levels().iter().find(|l| l.is_persistent()) {
            let tx = tx.take();
            disk.when_written(Box::new(move |failures| {
                if let Some(tx) = tx {
                    let _ = tx.send(failures);
                }
            }));
        }
    }
    if tx.is_some() {
        return Vec::new();
    }
    rx.await.unwrap_or_default()
}

impl ResultCache {
    pub fn open(ttl_ms: u64, disk_dir: Option<PathBuf>) -> Result<Self, ProviderError> {
        let bad = |e: CacheError| ProviderError::Io(e.to_string());
        let mut levels = vec![Cache::open(
            CacheOptions {
                max_size: MEMORY_ENTRIES,
                default_ttl_ms: ttl_ms,
                ..CacheOptions::default()
            },
            now_ms(),
        )
        .map_err(bad)?];
        if let Some(dir) = disk_dir {
            levels.push(
                Cache::open(
                    CacheOptions {
                        max_size: DISK_ENTRIES,
                        default_ttl_ms: ttl_ms,
                        compression: true,
                        disk_dir: Some(dir),
                        ..CacheOptions::default()
                    },
                    now_ms(),
                )
                .map_err(bad)?,
            );
        }
        Ok(Self {
            levels: Mutex::new(Some(MultiLevelCache::new(levels))),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    /// The cached answer for `key`; a damaged one is a failure, and a miss.
    pub fn get(&self, key: &str) -> Result<Option<Vec<Value>>, ProviderError> {
        let mut guard = lock(&self.levels);
        let Some(levels) = guard.as_mut() else {
            return Ok(None);
        };
        let Some(hit) = levels
            .get(key, now_ms())
            .map_err(|e| failure("read", key, e))?
        else {
            return Ok(None);
        };
        serde_json::from_str(&hit.value_json)
            .map(Some)
            .map_err(|e| failure("read", key, e))
    }

    /// Stores an answer in every level, and waits for the disk level's write; returns what
    /// failed.
    pub async fn put(&self, key: &str, results: &[Value]) -> Vec<ProviderError> {
        let text = Value::from(results.to_vec()).to_string();
        let stored = match lock(&self.levels).as_mut() {
            Some(levels) => levels.set(key, &text, None, now_ms()).map(drop),
            None => return Vec::new(),
        };
        let mut failures: Vec<ProviderError> = stored
            .err()
            .map(|e| failure("store", key, e))
            .into_iter()
            .collect();
        failures.extend(
            written(&self.levels)
                .await
                .into_iter()
                .map(|f| failure("store", key, format!("{}: {}", f.path.display(), f.error))),
        );
        failures
    }

    pub fn count_hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    pub fn counters(&self) -> CacheCounters {
        CacheCounters {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: lock(&self.levels).as_ref().map_or(0, |l| l.evictions()),
        }
    }

    /// Empties every level (the disk level's files too) and zeroes the counters.
    pub async fn clear(&self) -> Result<(), ProviderError> {
        let cleared = lock(&self.levels).as_mut().map_or(Ok(()), |l| l.clear());
        self.hits.store(0, Ordering::Relaxed);
        self.misses.store(0, Ordering::Relaxed);
        cleared.map_err(|e| failure("clear", "", e))?;
        match written(&self.levels).await.into_iter().next() {
            Some(f) => Err(failure(
                "clear",
                "",
                format!("{}: {}", f.path.display(), f.error),
            )),
            None => Ok(()),
        }
    }

    /// Lets the disk level finish its writes (so what was cached is on disk when this
    /// returns), then frees every level.
    pub async fn close(&self) {
        written(&self.levels).await;
        if let Some(levels) = lock(&self.levels).take() {
            for mut level in levels.into_levels() {
                level.destroy();
            }
        }
    }
}
