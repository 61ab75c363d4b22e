//! The shared level against a real `redis-server` (`test_redis.rs`); skipped with a message
//! when the binary is missing, unless `CI` is set.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::cache::test_redis::Redis;
use crate::cache::{Cache, CacheOptions, MultiLevelCache};

fn level(url: String, timeout_ms: u64) -> Arc<SharedLevel> {
    Arc::new(
        SharedLevel::new(SharedOptions {
            timeout_ms,
            key_prefix: "test".into(),
            ..SharedOptions::new(url)
        })
        .unwrap(),
    )
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn values_round_trip_and_anything_else_is_refused() {
    let raw = encode(r#"{"a":[1,2,3]}"#, 1_000, 60_000);
    let entry = decode(&raw).unwrap();
    assert_eq!(entry.value_json, r#"{"a":[1,2,3]}"#);
    assert_eq!(
        (entry.created_ms, entry.ttl_ms, entry.expires_ms),
        (1_000, 60_000, 61_000)
    );
    assert_eq!(decode(&encode("1", 5, 0)).unwrap().expires_ms, NEVER);
    assert_eq!(
        decode(b"{\"plain\":\"json\"}"),
        None,
        "another program's value"
    );
    assert_eq!(decode(&raw[..HEADER_LEN + 3]), None, "truncated");
    assert_eq!(decode(&raw[..10]), None, "shorter than the header");
    let mut flipped = raw.clone();
    *flipped.last_mut().unwrap() ^= 0xFF;
    assert_eq!(decode(&flipped), None, "damaged");
    assert_eq!(decode(&encode("not json", 0, 0)), None, "not JSON text");
}

#[test]
fn keys_are_namespaced_exact_and_bounded() {
    let l = level("redis://127.0.0.1:1".into(), 250);
    assert_eq!(l.redis_key("a*b\nc"), b"test:v1:k:a*b\nc");
    let lone = Key::from_utf16(&[0xD800]);
    let replacement = Key::from("\u{FFFD}");
    assert_ne!(l.redis_key(&lone), l.redis_key(&replacement));
    let long = "x".repeat(10_000);
    let hashed = l.redis_key(long.as_str());
    assert!(hashed.starts_with(b"test:v1:h:") && hashed.len() == 10 + 64);
    assert_ne!(hashed, l.redis_key(&"x".repeat(10_001)));
    // No plain key can name a hashed one.
    let plain = format!("h:{}", String::from_utf8_lossy(&hashed[10..]));
    assert_ne!(l.redis_key(plain.as_str()), hashed);
}

#[test]
fn bad_options_are_refused_naming_the_option() {
    for url in ["http://127.0.0.1:6379", "", "redis://", "127.0.0.1:6379"] {
        let err = SharedLevel::new(SharedOptions::new(url)).err().unwrap();
        assert!(
            matches!(&err, CacheError::Arg(ArgError::InvalidType { name, .. }) if name == "url"),
            "{url}: {err}"
        );
    }
    let err = SharedLevel::new(SharedOptions {
        key_prefix: String::new(),
        ..SharedOptions::new("redis://127.0.0.1")
    })
    .err()
    .unwrap();
    assert!(err.to_string().contains("keyPrefix"), "{err}");
    for timeout_ms in [0, 60_001] {
        let err = SharedLevel::new(SharedOptions {
            timeout_ms,
            ..SharedOptions::new("redis://127.0.0.1")
        })
        .err()
        .unwrap();
        assert!(
            matches!(&err, CacheError::Arg(ArgError::OutOfRange { name, .. }) if name == "timeoutMs"),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_set_by_one_level_is_a_hit_of_another() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (level(redis.url(), 5_000), level(redis.url(), 5_000));
    let hostile = [
        "plain",
        "a*b?[c]",
        "line\nbreak\r\n",
        &"long".repeat(1_000),
        "",
    ];
    for (i, key) in hostile.iter().enumerate() {
        a.set(*key, &format!("{{\"n\":{i}}}"), Some(60_000), now())
            .await
            .unwrap();
    }
    let lone = Key::from_utf16(&[0x61, 0xDC00]);
    a.set(&lone, "\"lone\"", None, now()).await.unwrap();
    for (i, key) in hostile.iter().enumerate() {
        let found = b.get(*key, now()).await.unwrap().unwrap();
        assert_eq!(found.value_json, format!("{{\"n\":{i}}}"));
        assert_eq!(found.ttl_ms, 60_000);
    }
    assert_eq!(
        b.get(&lone, now()).await.unwrap().unwrap().value_json,
        "\"lone\""
    );
    assert_eq!(
        b.get("a\u{FFFD}", now()).await.unwrap(),
        None,
        "a lone surrogate is its own key"
    );
    assert_eq!(
        b.get("a*", now()).await.unwrap(),
        None,
        "no pattern matching"
    );
    // The TTL is Redis's own, and the default one applies when none is given.
    let pttl = redis.resp(&[b"PTTL", b"test:v1:k:plain"]);
    let ms: i64 = pttl.trim_start_matches(':').trim().parse().unwrap();
    assert!(ms > 0 && ms <= 60_000, "{pttl}");
    let pttl = redis.resp(&[b"PTTL", &a.redis_key(&lone)]);
    let ms: i64 = pttl.trim_start_matches(':').trim().parse().unwrap();
    assert!(
        ms > 60_000 && ms <= SharedOptions::DEFAULT_TTL_MS as i64,
        "{pttl}"
    );
    assert!(b.delete("plain").await.unwrap());
    assert_eq!(a.get("plain", now()).await.unwrap(), None);
    let s = b.stats();
    assert_eq!((s.hits, s.misses, s.errors), (6, 2, 0));
    assert_eq!(a.stats().writes, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_or_damaged_value_is_a_miss() {
    let Some(redis) = Redis::start() else { return };
    let l = level(redis.url(), 5_000);
    redis.resp(&[b"SET", &l.redis_key("k"), b"\x00\xFFnot ours"]);
    assert_eq!(l.get("k", now()).await.unwrap(), None);
    // A value of another type is a Redis error for GET: an error, never a crash.
    redis.resp(&[b"LPUSH", &l.redis_key("list"), b"x"]);
    assert!(matches!(
        l.get("list", now()).await,
        Err(SharedError::Redis(_))
    ));
    let s = l.stats();
    assert_eq!((s.misses, s.foreign, s.errors), (1, 1, 1));
    // The connection made again after the error still works.
    l.set("k", "2", None, now()).await.unwrap();
    assert_eq!(l.get("k", now()).await.unwrap().unwrap().value_json, "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_redis_fails_fast_and_is_used_again_when_back() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let l = level(redis.url(), 5_000);
    l.set("k", "1", None, now()).await.unwrap();
    redis.stop();
    let started = Instant::now();
    for _ in 0..20 {
        assert!(l.get("k", now()).await.is_err());
    }
    // Twenty reads cost far less than twenty deadlines: the level knows Redis is down.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(l.stats().errors >= 20);
    assert!(l.set("k", "2", None, now()).await.is_err());
    redis.resume();
    // Within a few reconnect intervals, the level is used again (the new server is empty).
    let deadline = Instant::now() + RECONNECT_AFTER * 40;
    loop {
        if l.set("k", "3", None, now()).await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "never reconnected");
        tokio::time::sleep(RECONNECT_AFTER / 5).await;
    }
    assert_eq!(l.get("k", now()).await.unwrap().unwrap().value_json, "3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_does_not_answer_costs_one_deadline() {
    let Some(redis) = Redis::start() else { return };
    level(redis.url(), 10_000)
        .set("k", "1", None, now())
        .await
        .unwrap();
    let l = level(redis.url(), 200);
    // Connected first (on a busy machine a connection may take a few tries within 200 ms).
    let deadline = Instant::now() + Duration::from_secs(30);
    while l.get("k", now()).await.is_err() {
        assert!(Instant::now() < deadline, "never connected");
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
    redis.signal(libc::SIGSTOP);
    let started = Instant::now();
    assert_eq!(l.get("k", now()).await, Err(SharedError::Timeout(200)));
    assert!(l.set("k", "2", None, now()).await.is_err());
    // Two deadlines of 200 ms; the bound is ten times more than that.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    redis.signal(libc::SIGCONT);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match l.get("k", now()).await {
            Ok(Some(found)) => {
                assert_eq!(found.value_json, "1");
                break;
            }
            other => assert!(Instant::now() < deadline, "{other:?}"),
        }
        tokio::time::sleep(RECONNECT_AFTER / 5).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_waits_for_writes_and_close_ends_the_level() {
    let Some(redis) = Redis::start() else { return };
    let l = level(redis.url(), 5_000);
    let writes: Vec<_> = (0..50)
        .map(|i| l.set(format!("k{i}").as_str(), "1", None, now()))
        .collect();
    assert_eq!(l.stats().pending_writes, 50, "pending from the call on");
    let handles: Vec<_> = writes.into_iter().map(tokio::spawn).collect();
    l.flush().await;
    assert_eq!(l.stats().pending_writes, 0);
    assert_eq!(l.stats().writes, 50);
    for h in handles {
        h.await.unwrap().unwrap();
    }
    l.close().await;
    assert_eq!(l.get("k1", now()).await, Err(SharedError::Closed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_hit_fills_the_local_levels_of_another_cache() {
    let Some(redis) = Redis::start() else { return };
    let local = || {
        MultiLevelCache::new(vec![Cache::new(CacheOptions {
            default_ttl_ms: 0,
            ..CacheOptions::default()
        })
        .unwrap()])
    };
    let (mut here, mut there) = (local(), local());
    let (shared_here, shared_there) = (level(redis.url(), 5_000), level(redis.url(), 5_000));
    here.set("k", "\"v\"", Some(60_000), now()).unwrap();
    shared_here
        .set("k", "\"v\"", Some(60_000), now())
        .await
        .unwrap();
    assert_eq!(there.get("k", now()).unwrap(), None);
    let found = shared_there.get("k", now()).await.unwrap().unwrap();
    let hit = there.fill(Key::from("k"), found, now()).unwrap();
    assert_eq!((hit.level, hit.value_json.as_str()), (1, "\"v\""));
    let local_hit = there.get("k", now()).unwrap().unwrap();
    assert_eq!(local_hit.level, 0);
    let info = there.levels()[0].inspect("k", now()).unwrap();
    assert_eq!(
        info.ttl_ms, 60_000,
        "the shared entry's TTL, not the local default"
    );
}
