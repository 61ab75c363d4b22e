use std::path::PathBuf;

use super::CacheError;

/// Which entry goes when the cache is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictionPolicy {
    /// Least recently read or written.
    Lru,
    /// Fewest reads; ties go to the least recently used.
    Lfu,
    /// An expired entry first, else the one closest to expiry.
    Ttl,
    /// The largest stored value; ties go to the least recently used.
    Size,
}

impl EvictionPolicy {
    pub fn parse(name: &str) -> Result<Self, CacheError> {
        match name {
            "lru" => Ok(Self::Lru),
            "lfu" => Ok(Self::Lfu),
            "ttl" => Ok(Self::Ttl),
            "size" => Ok(Self::Size),
            other => Err(CacheError::out_of_range(
                "evictionPolicy",
                "one of 'lru', 'lfu', 'ttl', 'size'",
                format!("{other:?}"),
            )),
        }
    }
}

/// Defaults come from the public contract (`API.md`, AdvancedCache).
pub const DEFAULT_MAX_SIZE: usize = 1000;
pub const DEFAULT_MAX_MEMORY: u64 = 100 * 1024 * 1024;
pub const DEFAULT_TTL_MS: u64 = 300_000;

#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// Most entries held at once (at least 1).
    pub max_size: usize,
    /// Most bytes of stored value held at once (at least 1).
    pub max_memory: u64,
    /// Time to live of an entry set without one; 0 means entries never expire.
    pub default_ttl_ms: u64,
    pub policy: EvictionPolicy,
    pub compression: bool,
    /// Where entries are mirrored on disk, when they are.
    pub disk_dir: Option<PathBuf>,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            max_size: DEFAULT_MAX_SIZE,
            max_memory: DEFAULT_MAX_MEMORY,
            default_ttl_ms: DEFAULT_TTL_MS,
            policy: EvictionPolicy::Lru,
            compression: false,
            disk_dir: None,
        }
    }
}

/// Checks a JS number meant as a count or a duration: finite, whole, not negative.
pub fn non_negative_integer(name: &'static str, value: f64) -> Result<u64, CacheError> {
    if !value.is_finite() || value < 0.0 || value.fract() != 0.0 || value > 9_007_199_254_740_991.0
    {
        return Err(CacheError::out_of_range(
            name,
            "a finite whole number >= 0",
            value,
        ));
    }
    Ok(value as u64)
}

/// Like [`non_negative_integer`] but at least 1.
pub fn positive_integer(name: &'static str, value: f64) -> Result<u64, CacheError> {
    let v = non_negative_integer(name, value)
        .map_err(|_| CacheError::out_of_range(name, "a finite whole number >= 1", value))?;
    if v == 0 {
        return Err(CacheError::out_of_range(
            name,
            "a finite whole number >= 1",
            value,
        ));
    }
    Ok(v)
}
