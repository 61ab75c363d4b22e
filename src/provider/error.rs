use thiserror::Error;

use crate::error::ArgError;

/// What the provider core can refuse or fail at. The JS layer maps the runtime faults onto the
/// contract's error classes (`EnhancedBuildFixTimeoutError`, `...ProcessError`, `...CacheError`).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ProviderError {
    /// A bad option or argument.
    #[error(transparent)]
    Arg(#[from] ArgError),
    /// Something the provider needs is not installed or not where it should be.
    #[error("{0}")]
    Missing(String),
    /// An operation ran past its time limit; the worker doing it was killed.
    #[error("{operation} timed out after {timeout_ms} ms")]
    Timeout { operation: String, timeout_ms: u64 },
    /// A worker process failed: it exited, crashed, or broke the protocol.
    #[error("{message}")]
    Process {
        message: String,
        exit_code: Option<i32>,
        stderr: String,
        operation: String,
    },
    /// The circuit breaker is open: recent requests failed and the provider is resting.
    #[error("circuit open after {failures} consecutive failures; retrying in {retry_in_ms} ms")]
    CircuitOpen { failures: u32, retry_in_ms: u64 },
    #[error("the provider is not connected; call connect() first")]
    NotConnected,
    /// The result cache could not read, store or clear an answer; the answer stands without it.
    #[error("{message}")]
    Cache {
        message: String,
        operation: String,
        key: String,
    },
    /// The shared cache level (Redis) could not read or store an answer: the request goes on
    /// with the local levels.
    #[error("{message}")]
    SharedCache {
        message: String,
        operation: String,
        key: String,
    },
    /// The caller cancelled the work (an aborted `AbortSignal`).
    #[error("the operation was aborted")]
    Cancelled,
    #[error("{0}")]
    Io(String),
}

impl ProviderError {
    pub fn process(message: impl Into<String>, operation: &str) -> Self {
        ProviderError::Process {
            message: message.into(),
            exit_code: None,
            stderr: String::new(),
            operation: operation.into(),
        }
    }
}

impl From<std::io::Error> for ProviderError {
    fn from(e: std::io::Error) -> Self {
        ProviderError::Io(e.to_string())
    }
}
