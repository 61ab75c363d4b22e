use std::path::PathBuf;

use thiserror::Error;

/// Everything the history store can refuse or fail at.
#[derive(Debug, Error)]
pub enum HistoryError {
    /// An argument of the wrong kind (becomes a JS `TypeError`).
    #[error("{name} must be {expected}")]
    InvalidType {
        name: String,
        expected: &'static str,
    },
    /// A value outside what is accepted (becomes a JS `RangeError`).
    #[error("{name} must be {expected}, got {got}")]
    OutOfRange {
        name: String,
        expected: &'static str,
        got: String,
    },
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
