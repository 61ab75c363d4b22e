//! The shared level: a cache on Redis that several machines read and fill, below the local
//! levels of a [`MultiLevelCache`](super::MultiLevelCache).
//!
//! Every command runs under one deadline (`timeout_ms`, connecting included), so a slow or
//! stopped Redis costs a read at most that long, and it fails instead of waiting: the caller
//! then answers from its local levels. A lost connection is dropped and made again by the next
//! command; while Redis cannot be reached, commands fail at once for [`RECONNECT_AFTER`]
//! rather than each waiting for its own connect to time out.
//!
//! Keys are `prefix ":" FORMAT ":" key`, where a key longer than [`MAX_PLAIN_KEY`] bytes is
//! replaced by its BLAKE3 hash. Redis keys are binary-safe and only ever named exactly (no
//! `KEYS` or `SCAN` pattern is built from them), so `*`, newlines or lone surrogates in a key
//! mean nothing special. Values are zstd-compressed behind a small header holding the entry's
//! creation time and expiry; a value without it (another program's, or damaged) is a miss.

use std::future::Future;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client};
use tokio::sync::{watch, Mutex};

use super::store::{Entry, NEVER};
use super::{AsKey, CacheError, Key};
use crate::error::ArgError;

/// The layout of keys and values; a change of layout changes it, so old entries are not read.
pub const FORMAT: &str = "v1";
/// The first bytes of every value this level writes.
const MAGIC: &[u8; 4] = b"PBC1";
/// Magic, creation time, time to live and expiry (little-endian `u64`s).
const HEADER_LEN: usize = 4 + 8 * 3;
/// Keys up to this many bytes are used as they are; longer ones by their hash.
pub const MAX_PLAIN_KEY: usize = 200;
/// A value decompressing to more than this is refused (a hostile value must not exhaust memory).
const MAX_VALUE_BYTES: u64 = 256 << 20;
/// While Redis cannot be reached, how long commands fail at once before one tries again.
pub const RECONNECT_AFTER: Duration = Duration::from_millis(500);
const COMPRESSION_LEVEL: i32 = 3;

#[derive(Debug, Clone, PartialEq)]
pub struct SharedOptions {
    /// `redis://[user:password@]host[:port][/db]`.
    pub url: String,
    pub key_prefix: String,
    /// Time to live of a value stored without one, ms; 0 never expires.
    pub default_ttl_ms: u64,
    /// The deadline of each command, connecting included, ms.
    pub timeout_ms: u64,
}

impl SharedOptions {
    pub const DEFAULT_PREFIX: &'static str = "promethean-bench";
    pub const DEFAULT_TTL_MS: u64 = 3_600_000;
    pub const DEFAULT_TIMEOUT_MS: u64 = 250;
    pub const MAX_TIMEOUT_MS: u64 = 60_000;

    /// Options for `url` with every default.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            key_prefix: Self::DEFAULT_PREFIX.into(),
            default_ttl_ms: Self::DEFAULT_TTL_MS,
            timeout_ms: Self::DEFAULT_TIMEOUT_MS,
        }
    }
}

/// Why a command of the shared level failed; the caller answers from its local levels.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SharedError {
    #[error("Redis did not answer within {0} ms")]
    Timeout(u64),
    #[error("Redis failed: {0}")]
    Redis(String),
    #[error("Redis cannot be reached ({0}); trying again shortly")]
    Down(String),
    #[error("the shared cache was closed")]
    Closed,
}

/// A value found in the shared level, with the times it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedEntry {
    pub value_json: String,
    pub created_ms: u64,
    /// 0 when it never expires.
    pub ttl_ms: u64,
    pub expires_ms: u64,
}

impl SharedEntry {
    /// The entry as a local level stores it ([`super::Cache::adopt`] keeps its expiry).
    pub fn into_entry(self, key: Key) -> Entry {
        let mut entry = Entry::new(
            &key,
            self.value_json.as_bytes(),
            false,
            self.created_ms,
            self.ttl_ms,
            None,
        );
        entry.expires_ms = self.expires_ms;
        entry
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SharedStats {
    pub hits: u64,
    pub misses: u64,
    /// Commands that failed (timeouts, lost connections, Redis errors).
    pub errors: u64,
    /// Values written.
    pub writes: u64,
    /// Values found that this level did not write, or damaged: counted as misses too.
    pub foreign: u64,
    /// Writes not finished yet.
    pub pending_writes: u64,
}

enum Connection {
    Idle,
    Up(MultiplexedConnection),
    Down { since: Instant, reason: String },
    Closed,
}

pub struct SharedLevel {
    client: Client,
    options: SharedOptions,
    connection: Mutex<Connection>,
    hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
    writes: AtomicU64,
    foreign: AtomicU64,
    pending: watch::Sender<u64>,
}

/// Counts a write as pending from the call until its future ends (or is dropped).
struct PendingWrite(watch::Sender<u64>);

impl Drop for PendingWrite {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

impl SharedLevel {
    /// Checks the options; connects on the first command, not here.
    pub fn new(options: SharedOptions) -> Result<Self, CacheError> {
        let url_ok = options.url.starts_with("redis://") && options.url.len() > "redis://".len();
        if !url_ok {
            return Err(ArgError::invalid_type_got(
                "url",
                "a redis:// URL (redis://host:port)",
                format!("{:?}", options.url),
            )
            .into());
        }
        let client = Client::open(options.url.as_str()).map_err(|e| {
            ArgError::invalid_type_got(
                "url",
                format!("a redis:// URL ({e})"),
                format!("{:?}", options.url),
            )
        })?;
        if options.key_prefix.is_empty() {
            return Err(ArgError::invalid_type("keyPrefix", "a non-empty string").into());
        }
        if options.timeout_ms == 0 || options.timeout_ms > SharedOptions::MAX_TIMEOUT_MS {
            return Err(CacheError::out_of_range(
                "timeoutMs",
                format!("a whole number from 1 to {}", SharedOptions::MAX_TIMEOUT_MS),
                options.timeout_ms,
            ));
        }
        Ok(Self {
            client,
            options,
            connection: Mutex::new(Connection::Idle),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            foreign: AtomicU64::new(0),
            pending: watch::Sender::new(0),
        })
    }

    pub fn options(&self) -> &SharedOptions {
        &self.options
    }

    /// The Redis key of `key`.
    pub fn redis_key(&self, key: &(impl AsKey + ?Sized)) -> Vec<u8> {
        let bytes = key.wtf8();
        let mut out = Vec::with_capacity(self.options.key_prefix.len() + 8 + bytes.len().min(66));
        out.extend_from_slice(self.options.key_prefix.as_bytes());
        out.push(b':');
        out.extend_from_slice(FORMAT.as_bytes());
        out.push(b':');
        if bytes.len() <= MAX_PLAIN_KEY {
            out.extend_from_slice(b"k:");
            out.extend_from_slice(bytes);
        } else {
            // Tagged apart from plain keys, so no plain key can name a hashed one.
            out.extend_from_slice(b"h:");
            out.extend_from_slice(blake3::hash(bytes).to_hex().as_bytes());
        }
        out
    }

    /// The value of `key`, `None` on a miss (an expired, foreign or damaged value is one).
    pub async fn get(
        &self,
        key: &(impl AsKey + ?Sized),
        now_ms: u64,
    ) -> Result<Option<SharedEntry>, SharedError> {
        let redis_key = self.redis_key(key);
        let raw: Option<Vec<u8>> = self.run(redis::cmd("GET").arg(redis_key)).await?;
        let found = match raw {
            None => None,
            Some(raw) => match decode(&raw) {
                Some(entry) if entry.expires_ms > now_ms => Some(entry),
                Some(_) => None,
                None => {
                    self.foreign.fetch_add(1, Ordering::Relaxed);
                    None
                }
            },
        };
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(found)
    }

    /// Stores `value_json` for `ttl_ms` (`None`: the default TTL; 0 never expires). The write
    /// counts as pending from this call on, so [`SharedLevel::flush`] waits for it even before
    /// the future is first polled.
    pub fn set(
        self: &Arc<Self>,
        key: &(impl AsKey + ?Sized),
        value_json: &str,
        ttl_ms: Option<u64>,
        now_ms: u64,
    ) -> impl Future<Output = Result<(), SharedError>> + Send + 'static {
        self.pending.send_modify(|n| *n += 1);
        let guard = PendingWrite(self.pending.clone());
        let this = Arc::clone(self);
        let redis_key = self.redis_key(key);
        let ttl_ms = ttl_ms.unwrap_or(self.options.default_ttl_ms);
        let value = encode(value_json, now_ms, ttl_ms);
        async move {
            let _guard = guard;
            let mut cmd = redis::cmd("SET");
            cmd.arg(redis_key).arg(value);
            if ttl_ms > 0 {
                cmd.arg("PX").arg(ttl_ms);
            }
            let () = this.run(&cmd).await?;
            this.writes.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    }

    /// Removes `key`; whether it was there.
    pub async fn delete(&self, key: &(impl AsKey + ?Sized)) -> Result<bool, SharedError> {
        let removed: u64 = self.run(redis::cmd("DEL").arg(self.redis_key(key))).await?;
        Ok(removed > 0)
    }

    pub fn stats(&self) -> SharedStats {
        SharedStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            foreign: self.foreign.load(Ordering::Relaxed),
            pending_writes: *self.pending.borrow(),
        }
    }

    /// Waits until every write asked for so far has finished (each is bounded by the deadline).
    pub async fn flush(&self) {
        let mut rx = self.pending.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    /// Lets the pending writes finish, then drops the connection; later commands fail with
    /// [`SharedError::Closed`].
    pub async fn close(&self) {
        self.flush().await;
        *self.connection.lock().await = Connection::Closed;
    }

    /// Runs one command under the deadline; a failure drops the connection, so the next
    /// command makes a new one.
    async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, SharedError> {
        let deadline = Duration::from_millis(self.options.timeout_ms);
        let attempt = async {
            let mut conn = self.connection().await?;
            cmd.query_async::<T>(&mut conn).await.map_err(|e| {
                if e.is_timeout() {
                    SharedError::Timeout(self.options.timeout_ms)
                } else {
                    SharedError::Redis(e.to_string())
                }
            })
        };
        let outcome = match tokio::time::timeout(deadline, attempt).await {
            Ok(outcome) => outcome,
            Err(_) => Err(SharedError::Timeout(self.options.timeout_ms)),
        };
        if let Err(e) = &outcome {
            self.errors.fetch_add(1, Ordering::Relaxed);
            // Not waited for: a command that holds the lock (connecting) decides the state
            // itself, and waiting for it here would outlast the deadline.
            if !matches!(e, SharedError::Down(_) | SharedError::Closed) {
                if let Ok(mut connection) = self.connection.try_lock() {
                    if matches!(*connection, Connection::Up(_)) {
                        *connection = Connection::Idle;
                    }
                }
            }
        }
        outcome
    }

    /// The open connection, or a new one; fails at once while Redis was just found unreachable.
    async fn connection(&self) -> Result<MultiplexedConnection, SharedError> {
        let mut connection = self.connection.lock().await;
        match &*connection {
            Connection::Up(conn) => return Ok(conn.clone()),
            Connection::Closed => return Err(SharedError::Closed),
            Connection::Down { since, reason } if since.elapsed() < RECONNECT_AFTER => {
                return Err(SharedError::Down(reason.clone()));
            }
            _ => {}
        }
        let deadline = Some(Duration::from_millis(self.options.timeout_ms));
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(deadline)
            .set_response_timeout(deadline);
        // Marked down first: a connect cut short by the caller's deadline leaves it so.
        *connection = Connection::Down {
            since: Instant::now(),
            reason: "connecting timed out".into(),
        };
        match self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(conn) => {
                *connection = Connection::Up(conn.clone());
                Ok(conn)
            }
            Err(e) => {
                let reason = e.to_string();
                *connection = Connection::Down {
                    since: Instant::now(),
                    reason: reason.clone(),
                };
                Err(SharedError::Down(reason))
            }
        }
    }
}

/// The stored form of a value: the header, then the JSON text compressed.
pub fn encode(value_json: &str, now_ms: u64, ttl_ms: u64) -> Vec<u8> {
    let expires_ms = if ttl_ms == 0 {
        NEVER
    } else {
        now_ms.saturating_add(ttl_ms)
    };
    let mut out = Vec::with_capacity(HEADER_LEN + value_json.len() / 2 + 16);
    out.extend_from_slice(MAGIC);
    for n in [now_ms, ttl_ms, expires_ms] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    let compressed = zstd::bulk::compress(value_json.as_bytes(), COMPRESSION_LEVEL)
        .expect("compressing into a growable buffer cannot fail");
    out.extend_from_slice(&compressed);
    out
}

/// The entry of a stored value; `None` for anything this level did not write whole.
pub fn decode(raw: &[u8]) -> Option<SharedEntry> {
    if raw.len() < HEADER_LEN || &raw[..4] != MAGIC {
        return None;
    }
    let n = |i: usize| u64::from_le_bytes(raw[4 + 8 * i..12 + 8 * i].try_into().unwrap());
    let (created_ms, ttl_ms, expires_ms) = (n(0), n(1), n(2));
    let mut text = Vec::new();
    zstd::stream::read::Decoder::new(&raw[HEADER_LEN..])
        .ok()?
        .take(MAX_VALUE_BYTES + 1)
        .read_to_end(&mut text)
        .ok()?;
    if text.len() as u64 > MAX_VALUE_BYTES {
        return None;
    }
    let value_json = String::from_utf8(text).ok()?;
    // Values are JSON text: anything else would fail where it is parsed.
    serde_json::from_str::<serde::de::IgnoredAny>(&value_json).ok()?;
    Some(SharedEntry {
        value_json,
        created_ms,
        ttl_ms,
        expires_ms,
    })
}

#[cfg(test)]
#[path = "shared_tests.rs"]
mod tests;
