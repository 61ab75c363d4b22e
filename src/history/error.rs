use std::path::PathBuf;

use thiserror::Error;

/// Everything the history store can refuse or fail at.
#[derive(Debug, Error)]
pub enum HistoryError {
    /// A bad argument (becomes a JS `TypeError` / `RangeError`).
    #[error(transparent)]
    Arg(#[from] crate::error::ArgError),
    /// The file exists but is not a history this package wrote (not SQLite, damaged, or
    /// another application's database). It is left untouched.
    #[error("{path:?} is not a promethean-bench history ({reason}); nothing was changed: point --history at another file, or move this one away")]
    NotAHistory { path: PathBuf, reason: String },
    /// The file was written by a newer version of the package, with a schema this one cannot read.
    #[error("{path:?} holds a history of schema version {found}, newer than this version reads (up to {supported}); nothing was changed: upgrade @promethean/benchmark, or use another file")]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// `close()` was called.
    #[error("the history store is closed")]
    Closed,
    /// SQLite failed while doing `op`.
    #[error("history {path:?}: {op} failed: {source}")]
    Sqlite {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

pub type Result<T> = std::result::Result<T, HistoryError>;
