//! One conversion from core errors to JS errors.
//!
//! Each core error names its JS `code` below; the message is its `Display`. Bad input carries
//! Node's own codes, `ERR_INVALID_ARG_TYPE` and `ERR_OUT_OF_RANGE` (every core wraps the shared
//! [`ArgError`] for them); the JS layer (`lib/native.js`) turns those into `TypeError` and
//! `RangeError`. Runtime faults keep napi's `GenericFailure` unless a caller needs to tell them
//! apart.

use crate::cache::CacheError;
use crate::error::ArgError;
use crate::loadtest::LoadTestError;
use crate::mine::MineError;
use crate::monitor::MonitorError;
use crate::pool::PoolError;
use crate::provider::ProviderError;
use crate::snapshot::SnapshotError;

pub const INVALID_ARG_TYPE: &str = "ERR_INVALID_ARG_TYPE";
pub const OUT_OF_RANGE: &str = "ERR_OUT_OF_RANGE";
pub const INVALID_ARG_VALUE: &str = "ERR_INVALID_ARG_VALUE";
const GENERIC_FAILURE: &str = "GenericFailure";

/// Error with a string code, so JS can switch on `err.code`.
pub type Result<T> = std::result::Result<T, napi::Error<&'static str>>;

/// A `TypeError` (Node's `ERR_INVALID_ARG_TYPE`) with a message already written.
pub fn type_error(message: impl Into<String>) -> napi::Error<&'static str> {
    napi::Error::new(INVALID_ARG_TYPE, message.into())
}

/// A `RangeError` (Node's `ERR_OUT_OF_RANGE`) with a message already written.
pub fn range_error(message: impl Into<String>) -> napi::Error<&'static str> {
    napi::Error::new(OUT_OF_RANGE, message.into())
}

pub fn failure(message: impl Into<String>) -> napi::Error<&'static str> {
    napi::Error::new(GENERIC_FAILURE, message.into())
}

/// The JS `code` of a core error.
trait JsCode: std::fmt::Display {
    fn code(&self) -> &'static str;
}

/// The one conversion: the code from [`JsCode`], the message from `Display`.
macro_rules! into_js_error {
    ($($error:ty),*) => {$(
        impl From<$error> for napi::Error<&'static str> {
            fn from(e: $error) -> Self {
                napi::Error::new(e.code(), e.to_string())
            }
        }
    )*};
}

into_js_error!(
    ArgError,
    CacheError,
    PoolError,
    LoadTestError,
    MonitorError,
    SnapshotError,
    ProviderError,
    MineError,
    crate::history::HistoryError
);

impl JsCode for ArgError {
    fn code(&self) -> &'static str {
        match self {
            ArgError::InvalidType { .. } => INVALID_ARG_TYPE,
            ArgError::OutOfRange { .. } => OUT_OF_RANGE,
        }
    }
}

impl JsCode for CacheError {
    fn code(&self) -> &'static str {
        match self {
            CacheError::Arg(e) => e.code(),
            CacheError::DiskDir { .. } => INVALID_ARG_VALUE,
            CacheError::Destroyed => GENERIC_FAILURE,
        }
    }
}

impl JsCode for PoolError {
    fn code(&self) -> &'static str {
        match self {
            PoolError::Arg(e) => e.code(),
            PoolError::Closed => GENERIC_FAILURE,
        }
    }
}

impl JsCode for LoadTestError {
    fn code(&self) -> &'static str {
        match self {
            LoadTestError::Arg(e) => e.code(),
            LoadTestError::InvalidUrl { .. } => INVALID_ARG_VALUE,
            LoadTestError::AlreadyStarted => GENERIC_FAILURE,
        }
    }
}

impl JsCode for MonitorError {
    fn code(&self) -> &'static str {
        match self {
            MonitorError::Arg(e) => e.code(),
            MonitorError::System(_) | MonitorError::Thread(_) => GENERIC_FAILURE,
        }
    }
}

impl JsCode for SnapshotError {
    fn code(&self) -> &'static str {
        match self {
            SnapshotError::ForeignSnapshot { .. } => INVALID_ARG_VALUE,
            SnapshotError::UnknownSnapshot { .. } => "ERR_SNAPSHOT_DROPPED",
            SnapshotError::Disposed => "ERR_SNAPSHOT_MANAGER_DISPOSED",
            SnapshotError::Workdir { code, .. } => code,
            SnapshotError::Cancelled { .. } => "ABORT_ERR",
            SnapshotError::Io { .. } | SnapshotError::Git(_) | SnapshotError::Walk(_) => {
                GENERIC_FAILURE
            }
        }
    }
}

impl JsCode for ProviderError {
    fn code(&self) -> &'static str {
        match self {
            ProviderError::Arg(e) => e.code(),
            ProviderError::Missing(_) => "ERR_BUILDFIX_MISSING",
            ProviderError::Timeout { .. } => "ERR_BUILDFIX_TIMEOUT",
            ProviderError::Process { .. } => "ERR_BUILDFIX_PROCESS",
            ProviderError::CircuitOpen { .. } => "ERR_BUILDFIX_CIRCUIT_OPEN",
            ProviderError::NotConnected => "ERR_BUILDFIX_NOT_CONNECTED",
            ProviderError::Cancelled => "ABORT_ERR",
            ProviderError::Cache { .. }
            | ProviderError::SharedCache { .. }
            | ProviderError::Io(_) => GENERIC_FAILURE,
        }
    }
}

impl JsCode for crate::history::HistoryError {
    fn code(&self) -> &'static str {
        use crate::history::HistoryError as E;
        match self {
            E::Arg(e) => e.code(),
            E::NotAHistory { .. } => "ERR_HISTORY_UNREADABLE",
            E::NewerSchema { .. } => "ERR_HISTORY_NEWER_SCHEMA",
            E::Closed | E::Sqlite { .. } => GENERIC_FAILURE,
        }
    }
}

impl JsCode for MineError {
    fn code(&self) -> &'static str {
        match self {
            MineError::Arg(e) => e.code(),
            MineError::NotARepository { .. } => "ERR_NOT_A_REPOSITORY",
            MineError::TooLarge { .. } => "ERR_FIXTURE_TOO_LARGE",
            MineError::UnknownCommit { .. }
            | MineError::UnknownFolder { .. }
            | MineError::OutputExists { .. } => INVALID_ARG_VALUE,
            MineError::Io { .. } | MineError::Git(_) => GENERIC_FAILURE,
        }
    }
}
