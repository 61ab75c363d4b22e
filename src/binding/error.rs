//! One conversion from core errors to JS errors.
//!
//! Bad input carries Node's own codes, `ERR_INVALID_ARG_TYPE` and `ERR_OUT_OF_RANGE`; the JS
//! layer (`lib/native.js`) turns those into `TypeError` and `RangeError`. Runtime faults keep
//! napi's `GenericFailure`.

pub const INVALID_ARG_TYPE: &str = "ERR_INVALID_ARG_TYPE";
pub const OUT_OF_RANGE: &str = "ERR_OUT_OF_RANGE";
pub const INVALID_ARG_VALUE: &str = "ERR_INVALID_ARG_VALUE";

/// Error with a string code, so JS can switch on `err.code`.
pub type Result<T> = std::result::Result<T, napi::Error<&'static str>>;

pub fn type_error(message: impl Into<String>) -> napi::Error<&'static str> {
    napi::Error::new(INVALID_ARG_TYPE, message.into())
}

pub fn range_error(message: impl Into<String>) -> napi::Error<&'static str> {
    napi::Error::new(OUT_OF_RANGE, message.into())
}

pub fn failure(message: impl Into<String>) -> napi::Error<&'static str> {
    napi::Error::new("GenericFailure", message.into())
}

impl From<crate::cache::CacheError> for napi::Error<&'static str> {
    fn from(e: crate::cache::CacheError) -> Self {
        use crate::cache::CacheError as E;
        let message = e.to_string();
        match e {
            E::InvalidType { .. } => type_error(message),
            E::OutOfRange { .. } => range_error(message),
            E::DiskDir { .. } => napi::Error::new(INVALID_ARG_VALUE, message),
            E::Destroyed => failure(message),
        }
    }
}

impl From<crate::pool::PoolError> for napi::Error<&'static str> {
    fn from(e: crate::pool::PoolError) -> Self {
        use crate::pool::PoolError as E;
        let message = e.to_string();
        match e {
            E::InvalidType { .. } => type_error(message),
            E::OutOfRange { .. } => range_error(message),
            E::Closed => failure(message),
        }
    }
}

impl From<crate::loadtest::LoadTestError> for napi::Error<&'static str> {
    fn from(e: crate::loadtest::LoadTestError) -> Self {
        use crate::loadtest::LoadTestError as E;
        let message = e.to_string();
        match e {
            E::InvalidType { .. } => type_error(message),
            E::OutOfRange { .. } => range_error(message),
            E::InvalidUrl { .. } => napi::Error::new(INVALID_ARG_VALUE, message),
            E::AlreadyStarted => failure(message),
        }
    }
}

impl From<crate::monitor::MonitorError> for napi::Error<&'static str> {
    fn from(e: crate::monitor::MonitorError) -> Self {
        use crate::monitor::MonitorError as E;
        let message = e.to_string();
        match e {
            E::InvalidType { .. } => type_error(message),
            E::OutOfRange { .. } => range_error(message),
            E::System(_) | E::Thread(_) => failure(message),
        }
    }
}

impl From<crate::snapshot::SnapshotError> for napi::Error<&'static str> {
    fn from(e: crate::snapshot::SnapshotError) -> Self {
        use crate::snapshot::SnapshotError as E;
        let message = e.to_string();
        match e {
            E::InvalidType { .. } => type_error(message),
            E::ForeignSnapshot { .. } => napi::Error::new(INVALID_ARG_VALUE, message),
            E::UnknownSnapshot { .. } => napi::Error::new("ERR_SNAPSHOT_DROPPED", message),
            E::Disposed => napi::Error::new("ERR_SNAPSHOT_MANAGER_DISPOSED", message),
            E::Workdir { code, .. } => napi::Error::new(code, message),
            E::Cancelled { .. } => napi::Error::new("ABORT_ERR", message),
            E::Io { .. } | E::Git(_) | E::Walk(_) => failure(message),
        }
    }
}
