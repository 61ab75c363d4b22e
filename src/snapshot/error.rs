use std::path::PathBuf;

use thiserror::Error;

/// Everything the snapshot core can refuse or fail at.
#[derive(Debug, Error)]
pub enum SnapshotError {
    /// The folder to snapshot does not exist or is not a directory.
    #[error("workdir {path:?} cannot be snapshotted: {reason}")]
    Workdir {
        path: PathBuf,
        reason: String,
        /// `ENOENT`, `ENOTDIR`, or `EIO` for anything else, as Node's fs would say.
        code: &'static str,
    },
    /// The snapshot was taken by another manager (another folder or another store).
    #[error("snapshot {id:?} belongs to another snapshot manager (this one is {manager:?}); restore it with the manager that created it")]
    ForeignSnapshot { id: String, manager: String },
    /// The snapshot was dropped, or its id was never issued by this manager.
    #[error("snapshot {id:?} was dropped or never existed in this manager; take a new snapshot with createSnapshot()")]
    UnknownSnapshot { id: String },
    /// `dispose()` was called; the private store is gone.
    #[error("the snapshot manager was disposed; create a new one with createGitSnapshotManager()")]
    Disposed,
    /// A filesystem operation failed.
    #[error("{op} {path:?} failed: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The private object store failed.
    #[error("private snapshot store failed: {0}")]
    Git(#[from] git2::Error),
    /// The caller cancelled before the operation changed anything.
    #[error("{operation} was aborted")]
    Cancelled { operation: &'static str },
    /// Walking the folder failed.
    #[error("walking the workdir failed: {0}")]
    Walk(String),
}

pub type Result<T> = std::result::Result<T, SnapshotError>;

pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| SnapshotError::Io {
            op,
            path: path.to_path_buf(),
            source,
        })
    }
}
