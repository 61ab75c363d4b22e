use thiserror::Error;

/// Everything the load-test core can refuse or fail at.
#[derive(Debug, Error)]
pub enum LoadTestError {
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
    /// A target URL this client cannot send to (becomes a JS `TypeError`).
    #[error("url {url:?} cannot be used: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// `run` was called on a run that already started; create a new one per test.
    #[error("this load test run was already started; create a new run for each test")]
    AlreadyStarted,
}

impl LoadTestError {
    pub(crate) fn out_of_range(
        name: &'static str,
        expected: &'static str,
        got: impl ToString,
    ) -> Self {
        LoadTestError::OutOfRange {
            name,
            expected,
            got: got.to_string(),
        }
    }
}
