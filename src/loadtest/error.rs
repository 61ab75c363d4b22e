use std::borrow::Cow;

use thiserror::Error;

use crate::error::ArgError;

/// Everything the load-test core can refuse or fail at.
#[derive(Debug, Error)]
pub enum LoadTestError {
    /// A bad option or argument.
    #[error(transparent)]
    Arg(#[from] ArgError),
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
        expected: impl Into<Cow<'static, str>>,
        got: impl ToString,
    ) -> Self {
        ArgError::out_of_range(name, expected, got).into()
    }
}
