use thiserror::Error;

/// Everything the cache core can refuse or fail at.
#[derive(Debug, Error)]
pub enum CacheError {
    /// An option or argument of the wrong kind (becomes a JS `TypeError`).
    #[error("{name} must be {expected}")]
    InvalidType {
        name: &'static str,
        expected: &'static str,
    },
    /// An option or argument outside its range (becomes a JS `RangeError`).
    #[error("{name} must be {expected}, got {got}")]
    OutOfRange {
        name: &'static str,
        expected: &'static str,
        got: String,
    },
    /// The disk cache folder cannot be used.
    #[error("diskCacheDir {path:?} cannot be used: {reason}")]
    DiskDir { path: String, reason: String },
    /// The cache was destroyed and cannot be used any more.
    #[error("the cache was destroyed; create a new one")]
    Destroyed,
}

impl CacheError {
    pub(crate) fn out_of_range(
        name: &'static str,
        expected: &'static str,
        got: impl ToString,
    ) -> Self {
        CacheError::OutOfRange {
            name,
            expected,
            got: got.to_string(),
        }
    }
}
