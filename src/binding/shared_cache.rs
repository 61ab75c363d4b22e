//! The shared cache level on Redis (`src/cache/shared.rs`) behind numeric handles, for the JS
//! `MultiLevelCache`'s `l3`. Every command runs on napi's tokio runtime; its promise settles on
//! the JS thread, where a hit fills the local levels (`MultiLevelCache::fill` has the rule).
//! A failed command never rejects: it resolves with the error's message, which the JS layer
//! reports as `shared-cache-error` while answering from the local levels.

// napi-derive registers `#[napi]` functions only outside `cfg(test)`.
#![cfg_attr(test, allow(dead_code))]

use std::cell::RefCell;
use std::sync::Arc;

use napi::bindgen_prelude::{Env, PromiseRaw, ToNapiValue, Utf16String};
use napi_derive::napi;

use super::args::{number, string, Arg, Options, Range};
use super::cache::{core_key, now_ms, with_levels, NativeLevelHit};
use super::error::{failure, Result};
use super::handles::Handles;
use crate::cache::{CacheError, SharedLevel, SharedOptions, SharedStats};
use crate::error::ArgError;

/// `l3` (or the provider's `options.sharedCache`) as the caller wrote it.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct NativeSharedOptions {
    #[napi(ts_type = "string")]
    pub url: Option<Arg>,
    #[napi(ts_type = "string")]
    pub key_prefix: Option<Arg>,
    #[napi(ts_type = "number")]
    pub default_ttl: Option<Arg>,
    #[napi(ts_type = "number")]
    pub timeout_ms: Option<Arg>,
}

/// The shared level's options in force, defaults filled in.
#[napi(object)]
pub struct NativeSharedConfig {
    pub url: String,
    pub key_prefix: String,
    pub default_ttl: f64,
    pub timeout_ms: f64,
}

impl From<&SharedOptions> for NativeSharedConfig {
    fn from(o: &SharedOptions) -> Self {
        Self {
            url: o.url.clone(),
            key_prefix: o.key_prefix.clone(),
            default_ttl: o.default_ttl_ms as f64,
            timeout_ms: o.timeout_ms as f64,
        }
    }
}

impl From<NativeSharedConfig> for SharedOptions {
    fn from(c: NativeSharedConfig) -> Self {
        Self {
            url: c.url,
            key_prefix: c.key_prefix,
            default_ttl_ms: c.default_ttl as u64,
            timeout_ms: c.timeout_ms as u64,
        }
    }
}

/// The argument's name as the caller knows it: `l3.url`, `options.sharedCache.url`.
fn named(e: CacheError, within: &str) -> CacheError {
    let rename = |name: &str| format!("{within}.{name}").into();
    match e {
        CacheError::Arg(ArgError::InvalidType {
            name,
            expected,
            got,
        }) => ArgError::InvalidType {
            name: rename(&name),
            expected,
            got,
        }
        .into(),
        CacheError::Arg(ArgError::OutOfRange {
            name,
            expected,
            got,
        }) => ArgError::OutOfRange {
            name: rename(&name),
            expected,
            got,
        }
        .into(),
        other => other,
    }
}

/// The one check of the shared level's options (a URL string alone is `{url}`), naming each
/// option within `within`; makes the level (no connection yet).
fn open_level(
    options: Options<NativeSharedOptions>,
    within: &str,
) -> std::result::Result<SharedLevel, CacheError> {
    let o = match options {
        Options::Other(Arg::String(url)) => NativeSharedOptions {
            url: Some(Arg::String(url)),
            ..NativeSharedOptions::default()
        },
        Options::Other(other) => {
            return Err(ArgError::invalid_type_got(
                within.to_owned(),
                "a redis:// URL or an object {url, keyPrefix?, defaultTtl?, timeoutMs?}",
                other.describe(),
            )
            .into())
        }
        Options::Given(o) => o,
        Options::Absent => NativeSharedOptions::default(),
    };
    let checked = || -> std::result::Result<SharedOptions, CacheError> {
        let url = string("url", o.url)?
            .ok_or_else(|| ArgError::invalid_type("url", "a redis:// URL (redis://host:port)"))?;
        let mut options = SharedOptions::new(url);
        if let Some(prefix) = string("keyPrefix", o.key_prefix)? {
            options.key_prefix = prefix;
        }
        if let Some(ttl) = number("defaultTtl", o.default_ttl, Range::whole(0.0))? {
            options.default_ttl_ms = ttl as u64;
        }
        if let Some(t) = number("timeoutMs", o.timeout_ms, Range::whole(0.0))? {
            options.timeout_ms = t as u64;
        }
        Ok(options)
    };
    let options = checked().map_err(|e| named(e, within))?;
    SharedLevel::new(options).map_err(|e| named(e, within))
}

/// Checks the shared level's options (`within` names them in errors) and returns them with the
/// defaults filled in; connects nowhere.
#[napi(
    catch_unwind,
    ts_args_type = "options: string | NativeSharedOptions, within: string"
)]
pub fn shared_cache_check(
    options: Options<NativeSharedOptions>,
    within: String,
) -> Result<NativeSharedConfig> {
    let level = open_level(options, &within)?;
    Ok(level.options().into())
}

thread_local! {
    static LEVELS: RefCell<Handles<Arc<SharedLevel>>> = const { RefCell::new(Handles::new()) };
}

fn level(handle: u32) -> Result<Arc<SharedLevel>> {
    LEVELS.with(|levels| match levels.borrow_mut().get_mut(handle) {
        Some(level) => Ok(Arc::clone(level)),
        None => Err(CacheError::Destroyed.into()),
    })
}

#[napi(object)]
pub struct NativeSharedOpened {
    pub handle: u32,
    pub config: NativeSharedConfig,
}

/// A shared level: its handle and its configuration. Connects on the first command.
#[napi(
    catch_unwind,
    ts_args_type = "options: string | NativeSharedOptions, within: string"
)]
pub fn shared_cache_open(
    options: Options<NativeSharedOptions>,
    within: String,
) -> Result<NativeSharedOpened> {
    let level = open_level(options, &within)?;
    let config = level.options().into();
    let handle = LEVELS.with(|levels| levels.borrow_mut().insert(Arc::new(level)));
    Ok(NativeSharedOpened { handle, config })
}

/// What a read of the shared level found: a hit (`level` one past the local levels, which it
/// has filled), nothing, or an error (a miss for the caller).
#[napi(object)]
pub struct NativeSharedRead {
    pub hit: Option<NativeLevelHit>,
    pub error: Option<String>,
}

fn spawn<'env, T, V>(
    env: &'env Env,
    work: impl std::future::Future<Output = T> + Send + 'static,
    settle: impl FnOnce(T) -> V + 'static,
) -> Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
{
    env.spawn_future_with_callback(async move { Ok(work.await) }, move |_, out| Ok(settle(out)))
        .map_err(|e| failure(e.reason))
}

/// Reads `key` from the shared level after a miss of the local levels behind `levels`; a hit
/// fills them on the JS thread. Never rejects.
#[napi(catch_unwind, ts_return_type = "Promise<NativeSharedRead>")]
pub fn shared_cache_get<'env>(
    env: &'env Env,
    levels: Vec<u32>,
    shared: u32,
    key: Utf16String,
) -> Result<PromiseRaw<'env, NativeSharedRead>> {
    let level = level(shared)?;
    let key = core_key(&key);
    let read_key = key.clone();
    spawn(
        env,
        async move { level.get(&read_key, now_ms()).await },
        move |found| match found {
            Ok(Some(found)) => {
                let value = found.value_json.clone();
                let local = levels.len() as u32;
                // Locals destroyed meanwhile: the value still answers this read.
                let hit = with_levels(&levels, |m| m.fill(key, found, now_ms()))
                    .ok()
                    .and_then(|filled| filled.ok())
                    .map_or(
                        NativeLevelHit {
                            value,
                            level: local,
                        },
                        |h| NativeLevelHit {
                            value: h.value_json,
                            level: h.level as u32,
                        },
                    );
                NativeSharedRead {
                    hit: Some(hit),
                    error: None,
                }
            }
            Ok(None) => NativeSharedRead {
                hit: None,
                error: None,
            },
            Err(e) => NativeSharedRead {
                hit: None,
                error: Some(e.to_string()),
            },
        },
    )
}

/// Stores the value in the shared level (`ttl` of `undefined`: its default TTL); resolves with
/// the error's message, or `null` once stored. The write counts as pending from this call on.
#[napi(
    catch_unwind,
    ts_args_type = "shared: number, key: string, valueJson: string, ttl?: number",
    ts_return_type = "Promise<string | null>"
)]
pub fn shared_cache_set<'env>(
    env: &'env Env,
    shared: u32,
    key: Utf16String,
    value_json: String,
    ttl: Arg,
) -> Result<PromiseRaw<'env, Option<String>>> {
    let ttl = number("ttl", ttl.given(), Range::whole(0.0))?.map(|t| t as u64);
    let level = level(shared)?;
    let write = level.set(&core_key(&key), &value_json, ttl, now_ms());
    spawn(env, write, |done| done.err().map(|e| e.to_string()))
}

#[napi(object)]
pub struct NativeSharedDelete {
    pub deleted: bool,
    pub error: Option<String>,
}

/// Removes `key` from the shared level. Never rejects.
#[napi(catch_unwind, ts_return_type = "Promise<NativeSharedDelete>")]
pub fn shared_cache_delete<'env>(
    env: &'env Env,
    shared: u32,
    key: Utf16String,
) -> Result<PromiseRaw<'env, NativeSharedDelete>> {
    let level = level(shared)?;
    let key = core_key(&key);
    spawn(
        env,
        async move { level.delete(&key).await },
        |done| match done {
            Ok(deleted) => NativeSharedDelete {
                deleted,
                error: None,
            },
            Err(e) => NativeSharedDelete {
                deleted: false,
                error: Some(e.to_string()),
            },
        },
    )
}

#[napi(object)]
pub struct NativeSharedStats {
    pub hits: f64,
    pub misses: f64,
    pub errors: f64,
    pub writes: f64,
    pub foreign: f64,
    pub pending_writes: f64,
}

#[napi(catch_unwind)]
pub fn shared_cache_stats(shared: u32) -> Result<NativeSharedStats> {
    Ok(level(shared)?.stats().into())
}

impl From<SharedStats> for NativeSharedStats {
    fn from(s: SharedStats) -> Self {
        Self {
            hits: s.hits as f64,
            misses: s.misses as f64,
            errors: s.errors as f64,
            writes: s.writes as f64,
            foreign: s.foreign as f64,
            pending_writes: s.pending_writes as f64,
        }
    }
}

/// Resolves once every write asked for so far has finished (each within the deadline).
#[napi(catch_unwind, ts_return_type = "Promise<void>")]
pub fn shared_cache_flush<'env>(env: &'env Env, shared: u32) -> Result<PromiseRaw<'env, ()>> {
    let level = level(shared)?;
    spawn(env, async move { level.flush().await }, |()| ())
}

/// Forgets the handle, lets the pending writes finish and drops the connection; resolves then,
/// with the level's final counters (`null` for a handle already closed).
#[napi(catch_unwind, ts_return_type = "Promise<NativeSharedStats | null>")]
pub fn shared_cache_close<'env>(
    env: &'env Env,
    shared: u32,
) -> Result<PromiseRaw<'env, Option<NativeSharedStats>>> {
    let level = LEVELS.with(|levels| levels.borrow_mut().remove(shared));
    spawn(
        env,
        async move {
            match level {
                Some(level) => {
                    level.close().await;
                    Some(level.stats())
                }
                None => None,
            }
        },
        |stats| stats.map(Into::into),
    )
}
