use std::borrow::Cow;

use thiserror::Error;

use crate::error::ArgError;

/// Everything the cache core can refuse or fail at.
#[derive(Debug, Error)]
pub enum CacheError {
    /// A bad option or argument.
    #[error(transparent)]
    Arg(#[from] ArgError),
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
        expected: impl Into<Cow<'static, str>>,
        got: impl ToString,
    ) -> Self {
        ArgError::out_of_range(name, expected, got).into()
    }
}
