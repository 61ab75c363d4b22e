use std::path::PathBuf;

use thiserror::Error;

use crate::error::ArgError;

/// Everything mining a repository's history can refuse or fail at.
#[derive(Debug, Error)]
pub enum MineError {
    #[error(transparent)]
    Arg(#[from] ArgError),
    /// The path is not a git repository (or cannot be opened as one).
    #[error("{path:?} is not a git repository: {reason}")]
    NotARepository { path: PathBuf, reason: String },
    /// A commit id that is not in the repository.
    #[error("commit {id:?} is not in the repository")]
    UnknownCommit { id: String },
    /// A project folder that is not in the commit's tree.
    #[error("{dir:?} is not a folder of commit {commit}")]
    UnknownFolder { dir: String, commit: String },
    /// The project exceeds the export bound; nothing is left in the output folder.
    #[error("the project {dir:?} holds more than {limit} ({what}); a fixture must be small")]
    TooLarge {
        dir: String,
        what: &'static str,
        limit: u64,
    },
    /// The output folder exists and is not empty.
    #[error("{path:?} already exists and is not empty; export into a new folder")]
    OutputExists { path: PathBuf },
    #[error("{op} {path:?} failed: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reading the repository failed: {0}")]
    Git(#[from] git2::Error),
}

pub type Result<T> = std::result::Result<T, MineError>;

pub(crate) fn io(
    op: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> MineError {
    let path = path.to_path_buf();
    move |source| MineError::Io { op, path, source }
}
