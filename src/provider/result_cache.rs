//! The provider's cache of whole answers: a [`MultiLevelCache`] of a memory level and, when a
//! folder is given, a compressed disk level that a later provider reads back; below them,
//! optionally, a [`SharedLevel`] on Redis that providers on other machines fill and read. What
//! it cannot do is reported as [`ProviderError::Cache`] (or [`ProviderError::SharedCache`]),
//! never dropped: the answer stands without the cache.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::{lock, now_ms, ProviderError};
use crate::cache::{
    Cache, CacheError, CacheOptions, DiskFailure, Key, MultiLevelCache, SharedError, SharedLevel,
    SharedOptions, SharedStats,
};

/// Entries of the memory level (answers are a few KB each).
const MEMORY_ENTRIES: usize = 100;
/// Entries of the disk level.
const DISK_ENTRIES: usize = 1000;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CacheCounters {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    /// The shared level's counters, when there is one.
    pub shared: Option<SharedStats>,
}

pub struct ResultCache {
    /// `None` once closed.
    levels: Mutex<Option<MultiLevelCache>>,
    shared: Option<Arc<SharedLevel>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

fn shared_failure(operation: &str, key: &str, e: SharedError) -> ProviderError {
    ProviderError::SharedCache {
        message: format!("the shared result cache could not {operation} an answer: {e}"),
        operation: operation.into(),
        key: key.into(),
    }
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
    /// The shared level takes the answers' TTL (`ttl_ms`) as its default.
    pub fn open(
        ttl_ms: u64,
        disk_dir: Option<PathBuf>,
        shared: Option<SharedOptions>,
    ) -> Result<Self, ProviderError> {
        let bad = |e: CacheError| match e {
            CacheError::Arg(a) => ProviderError::Arg(a),
            other => ProviderError::Io(other.to_string()),
        };
        let shared = shared
            .map(|o| {
                SharedLevel::new(SharedOptions {
                    default_ttl_ms: ttl_ms,
                    ..o
                })
            })
            .transpose()
            .map_err(bad)?
            .map(Arc::new);
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
            shared,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    /// The cached answer for `key`: from the local levels, else from the shared level (whose
    /// hit fills the local ones); a damaged one, or a shared level that fails, is a failure,
    /// and a miss.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<Value>>, ProviderError> {
        let local = match lock(&self.levels).as_mut() {
            Some(levels) => levels
                .get(key, now_ms())
                .map_err(|e| failure("read", key, e))?,
            None => return Ok(None),
        };
        let hit = match (local, &self.shared) {
            (Some(hit), _) => hit.value_json,
            (None, None) => return Ok(None),
            (None, Some(shared)) => {
                let Some(found) = shared
                    .get(key, now_ms())
                    .await
                    .map_err(|e| shared_failure("get", key, e))?
                else {
                    return Ok(None);
                };
                let value_json = found.value_json.clone();
                if let Some(levels) = lock(&self.levels).as_mut() {
                    levels
                        .fill(Key::from(key), found, now_ms())
                        .map_err(|e| failure("store", key, e))?;
                }
                value_json
            }
        };
        serde_json::from_str(&hit)
            .map(Some)
            .map_err(|e| failure("read", key, e))
    }

    /// Stores an answer in every level, and waits for the disk level's and the shared level's
    /// writes (the shared one is bounded by its deadline); returns what failed.
    pub async fn put(&self, key: &str, results: &[Value]) -> Vec<ProviderError> {
        let text = Value::from(results.to_vec()).to_string();
        let stored = match lock(&self.levels).as_mut() {
            Some(levels) => levels.set(key, &text, None, now_ms()).map(drop),
            None => return Vec::new(),
        };
        let shared = self
            .shared
            .as_ref()
            .map(|shared| shared.set(key, &text, None, now_ms()));
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
        if let Some(Err(e)) = match shared {
            Some(write) => Some(write.await),
            None => None,
        } {
            failures.push(shared_failure("set", key, e));
        }
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
            shared: self.shared.as_ref().map(|s| s.stats()),
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
    /// returns) and the shared level its own, then frees every level and the connection.
    pub async fn close(&self) {
        written(&self.levels).await;
        if let Some(shared) = &self.shared {
            shared.close().await;
        }
        if let Some(levels) = lock(&self.levels).take() {
            for mut level in levels.into_levels() {
                level.destroy();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::json;

    use super::*;
    use crate::cache::test_redis::Redis;

    fn shared(url: String) -> Option<SharedOptions> {
        Some(SharedOptions {
            key_prefix: "provider-test".into(),
            timeout_ms: 10_000,
            ..SharedOptions::new(url)
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_answer_stored_by_one_provider_is_a_hit_of_another() {
        let Some(redis) = Redis::start() else { return };
        let disk = tempfile::tempdir().unwrap();
        let here = ResultCache::open(60_000, None, shared(redis.url())).unwrap();
        let there =
            ResultCache::open(60_000, Some(disk.path().join("c")), shared(redis.url())).unwrap();
        let answer = vec![json!({"fixture": "a", "fixed": true})];
        assert!(here.put("key", &answer).await.is_empty());
        assert_eq!(there.get("key").await.unwrap(), Some(answer.clone()));
        let counters = there.counters().shared.unwrap();
        assert_eq!((counters.hits, counters.misses), (1, 0));
        // The hit filled the local levels: the next read does not ask Redis.
        assert_eq!(there.get("key").await.unwrap(), Some(answer));
        assert_eq!(there.counters().shared.unwrap().hits, 1);
        assert_eq!(there.get("other").await.unwrap(), None);
        here.close().await;
        there.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stopped_redis_is_a_reported_miss_and_never_a_hang() {
        let Some(mut redis) = Redis::start() else {
            return;
        };
        let cache = ResultCache::open(60_000, None, shared(redis.url())).unwrap();
        let answer = vec![json!(1)];
        assert!(cache.put("a", &answer).await.is_empty());
        redis.stop();
        let started = Instant::now();
        // Local hits never ask Redis.
        assert_eq!(cache.get("a").await.unwrap(), Some(answer.clone()));
        let err = cache.get("b").await.unwrap_err();
        assert!(
            matches!(&err, ProviderError::SharedCache { operation, key, .. } if operation == "get" && key == "b"),
            "{err:?}"
        );
        let failures = cache.put("b", &answer).await;
        assert!(
            matches!(failures.as_slice(), [ProviderError::SharedCache { operation, .. }] if operation == "set"),
            "{failures:?}"
        );
        // Stored locally all the same.
        assert_eq!(cache.get("b").await.unwrap(), Some(answer));
        assert!(started.elapsed() < Duration::from_secs(20));
        cache.close().await;
    }

    #[test]
    fn bad_shared_options_are_argument_errors() {
        let err = ResultCache::open(1, None, Some(SharedOptions::new("http://x")))
            .err()
            .unwrap();
        assert!(matches!(err, ProviderError::Arg(_)), "{err:?}");
    }
}
