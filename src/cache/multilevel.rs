//! A cache of several levels, fastest first: the one rule for reading through them and filling
//! them, used by the JS `MultiLevelCache` (over the caches of its `AdvancedCache` levels) and by
//! the provider's result cache (over caches it owns).
//!
//! The levels are a list of local caches. A level is anything that lends a [`Cache`]: the
//! owner's own caches, or `&mut Cache` borrowed for one call. A shared level on Redis
//! ([`super::SharedLevel`]) sits below them all and is read off the caller's thread, so it is
//! not in the list: after a miss here its owner reads it, and a hit there goes through
//! [`MultiLevelCache::fill`], the same rule that promotes a hit of a lower local level.

use std::borrow::BorrowMut;

use super::{AsKey, Cache, CacheError, Entry, EntryInfo, Key, SharedEntry};
use crate::error::ArgError;

/// A value found by [`MultiLevelCache::get`], and the level it was found in.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub value_json: String,
    pub level: usize,
}

/// What [`MultiLevelCache::set`] did in one level.
#[derive(Debug, Clone, PartialEq)]
pub enum LevelWrite {
    Stored,
    /// Too large for this level: its older entry for the key (described here, if there was one)
    /// was removed, so no stale value is served from it.
    Dropped(Option<EntryInfo>),
}

pub struct MultiLevelCache<L = Cache> {
    levels: Vec<L>,
}

impl<L: BorrowMut<Cache>> MultiLevelCache<L> {
    /// `levels` fastest first; at least one.
    pub fn new(levels: Vec<L>) -> Self {
        assert!(!levels.is_empty(), "a multi-level cache needs a level");
        Self { levels }
    }

    pub fn levels(&self) -> &[L] {
        &self.levels
    }

    pub fn into_levels(self) -> Vec<L> {
        self.levels
    }

    /// Reads the levels in order (each read counts a hit or a miss there) and stops at the first
    /// hit. The entry is then copied into every level above it with the expiry it has where it
    /// was found ([`Cache::adopt`]: an upper level's own default TTL could outlive it); a level
    /// it is too large for does not take it, and the level below keeps serving it.
    pub fn get(
        &mut self,
        key: &(impl AsKey + ?Sized),
        now_ms: u64,
    ) -> Result<Option<Hit>, CacheError> {
        for level in 0..self.levels.len() {
            let Some(value_json) = self.levels[level].borrow_mut().get(key, now_ms)? else {
                continue;
            };
            if let Some(entry) = self.levels[level].borrow().export(key, now_ms) {
                promote(&mut self.levels[..level], entry, now_ms)?;
            }
            return Ok(Some(Hit { value_json, level }));
        }
        Ok(None)
    }

    /// Takes a hit of the shared level, found after [`MultiLevelCache::get`] missed: it is
    /// copied into every level as a hit of a lower level is (with its own expiry; not into a
    /// level it is too large for). The hit's level is the shared level's, one past the last.
    pub fn fill(&mut self, key: Key, found: SharedEntry, now_ms: u64) -> Result<Hit, CacheError> {
        let value_json = found.value_json.clone();
        promote(&mut self.levels, found.into_entry(key), now_ms)?;
        Ok(Hit {
            value_json,
            level: self.levels.len(),
        })
    }

    /// Stores the value in every level that can hold it. A level whose `maxMemory` it exceeds
    /// drops its older entry for the key instead. A value no level can hold is refused with
    /// that level's error and changes nothing.
    pub fn set(
        &mut self,
        key: &(impl AsKey + ?Sized),
        value_json: &str,
        ttl_ms: Option<u64>,
        now_ms: u64,
    ) -> Result<Vec<LevelWrite>, CacheError> {
        let mut writes = Vec::with_capacity(self.levels.len());
        let mut too_large = None;
        for level in &mut self.levels {
            match level
                .borrow_mut()
                .set(key, value_json, ttl_ms, None, now_ms)
            {
                Ok(()) => writes.push(LevelWrite::Stored),
                // A refused set changes nothing in that level.
                Err(e @ CacheError::Arg(ArgError::OutOfRange { .. })) => {
                    too_large.get_or_insert(e);
                    writes.push(LevelWrite::Dropped(None));
                }
                Err(e) => return Err(e),
            }
        }
        if !writes.contains(&LevelWrite::Stored) {
            return Err(too_large.expect("every level refused it"));
        }
        for (level, write) in self.levels.iter_mut().zip(&mut writes) {
            if let LevelWrite::Dropped(old) = write {
                let cache = level.borrow_mut();
                *old = cache.inspect(key, now_ms);
                cache.delete(key)?;
            }
        }
        Ok(writes)
    }

    /// Removes the key from every level; whether any had it.
    pub fn delete(&mut self, key: &(impl AsKey + ?Sized)) -> Result<bool, CacheError> {
        let mut any = false;
        for level in &mut self.levels {
            any |= level.borrow_mut().delete(key)?;
        }
        Ok(any)
    }

    /// Empties every level (a disk level's files too).
    pub fn clear(&mut self) -> Result<(), CacheError> {
        for level in &mut self.levels {
            level.borrow_mut().clear()?;
        }
        Ok(())
    }

    /// Entries pushed out by the levels' limits, summed.
    pub fn evictions(&self) -> u64 {
        self.levels
            .iter()
            .map(|l| l.borrow().stats().evictions)
            .sum()
    }
}

/// The one rule for filling levels above a hit: each adopts the entry with the expiry it has
/// where it was found (an upper level's own default TTL could outlive it); a level it is too
/// large for does not take it, and the level below keeps serving it.
fn promote<L: BorrowMut<Cache>>(
    upper: &mut [L],
    entry: Entry,
    now_ms: u64,
) -> Result<(), CacheError> {
    for level in upper {
        level.borrow_mut().adopt(entry.clone(), now_ms)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CacheOptions;

    fn level(max_memory: u64, default_ttl_ms: u64) -> Cache {
        Cache::new(CacheOptions {
            max_memory,
            default_ttl_ms,
            ..CacheOptions::default()
        })
        .unwrap()
    }

    #[test]
    fn a_lower_hit_is_promoted_with_its_remaining_ttl() {
        let mut m = MultiLevelCache::new(vec![level(1 << 20, 300_000), level(1 << 20, 0)]);
        m.set("k", "1", Some(60_000), 1_000).unwrap();
        m.levels[0].delete("k").unwrap();
        let hit = m.get("k", 2_000).unwrap().unwrap();
        assert_eq!(
            hit,
            Hit {
                value_json: "1".into(),
                level: 1
            }
        );
        let upper = m.levels[0].inspect("k", 2_000).unwrap();
        let lower = m.levels[1].inspect("k", 2_000).unwrap();
        assert_eq!(
            upper.created_ms + upper.ttl_ms,
            lower.created_ms + lower.ttl_ms
        );
        assert_eq!(m.get("k", 3_000).unwrap().unwrap().level, 0);
        // Past the expiry it is gone from both.
        assert_eq!(m.get("k", 61_001).unwrap(), None);
    }

    #[test]
    fn three_levels_fill_every_level_above_the_hit() {
        let mut m = MultiLevelCache::new(vec![
            level(1 << 20, 0),
            level(1 << 20, 0),
            level(1 << 20, 0),
        ]);
        m.levels[2].set("k", "\"v\"", None, None, 0).unwrap();
        assert_eq!(m.get("k", 1).unwrap().unwrap().level, 2);
        assert!(m.levels[0].has("k", 1) && m.levels[1].has("k", 1));
    }

    #[test]
    fn a_value_too_large_for_a_level_lives_in_the_others() {
        let big = format!("\"{}\"", "x".repeat(1000));
        let mut m = MultiLevelCache::new(vec![level(100, 0), level(1 << 20, 0)]);
        m.set("k", "1", None, 0).unwrap();
        let writes = m.set("k", &big, None, 0).unwrap();
        assert!(matches!(&writes[0], LevelWrite::Dropped(Some(old)) if old.value_json == "1"));
        assert_eq!(writes[1], LevelWrite::Stored);
        assert!(!m.levels[0].has("k", 0), "no stale value above");
        // Served from below every time, never promoted into a level that cannot hold it.
        assert_eq!(m.get("k", 0).unwrap().unwrap().level, 1);
        assert_eq!(m.get("k", 0).unwrap().unwrap().level, 1);
    }

    #[test]
    fn a_value_too_large_for_every_level_changes_nothing() {
        let big = format!("\"{}\"", "x".repeat(1000));
        let mut m = MultiLevelCache::new(vec![level(100, 0), level(100, 0)]);
        m.set("k", "1", None, 0).unwrap();
        let err = m.set("k", &big, None, 0).unwrap_err();
        assert!(
            matches!(err, CacheError::Arg(ArgError::OutOfRange { .. })),
            "{err:?}"
        );
        assert_eq!(m.get("k", 0).unwrap().unwrap().value_json, "1");
        assert_eq!(m.levels[1].get("k", 0).unwrap().as_deref(), Some("1"));
    }

    #[test]
    fn borrowed_levels_follow_the_same_rule() {
        let (mut a, mut b) = (level(1 << 20, 0), level(1 << 20, 0));
        b.set("k", "2", None, None, 0).unwrap();
        let hit = MultiLevelCache::new(vec![&mut a, &mut b])
            .get("k", 0)
            .unwrap();
        assert_eq!(hit.unwrap().level, 1);
        assert!(a.has("k", 0));
    }

    #[test]
    fn a_shared_hit_fills_every_level_with_its_own_expiry() {
        let mut m = MultiLevelCache::new(vec![level(1 << 20, 300_000), level(100, 0)]);
        let big = format!("\"{}\"", "x".repeat(1000));
        let found = SharedEntry {
            value_json: big.clone(),
            created_ms: 1_000,
            ttl_ms: 10_000,
            expires_ms: 11_000,
        };
        let hit = m.fill(Key::from("k"), found, 2_000).unwrap();
        assert_eq!(hit.level, 2);
        assert_eq!(hit.value_json, big);
        assert_eq!(m.get("k", 3_000).unwrap().unwrap().level, 0);
        assert!(
            !m.levels[1].has("k", 3_000),
            "too large for the second level"
        );
        let upper = m.levels[0].inspect("k", 3_000).unwrap();
        assert_eq!((upper.created_ms, upper.ttl_ms), (1_000, 10_000));
        assert_eq!(
            m.get("k", 11_001).unwrap(),
            None,
            "it expires where it came from"
        );
    }

    #[test]
    fn a_destroyed_level_is_an_error_not_a_miss() {
        let mut m = MultiLevelCache::new(vec![level(1 << 20, 0)]);
        m.levels[0].destroy();
        assert!(matches!(m.get("k", 0), Err(CacheError::Destroyed)));
        assert!(matches!(
            m.set("k", "1", None, 0),
            Err(CacheError::Destroyed)
        ));
    }
}
