use std::path::PathBuf;

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
    /// Every policy with the name the public options use.
    pub const NAMED: [(&'static str, EvictionPolicy); 4] = [
        ("lru", Self::Lru),
        ("lfu", Self::Lfu),
        ("ttl", Self::Ttl),
        ("size", Self::Size),
    ];

    pub fn name(self) -> &'static str {
        Self::NAMED
            .iter()
            .find(|(_, p)| *p == self)
            .map(|(n, _)| *n)
            .expect("every policy is named")
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
