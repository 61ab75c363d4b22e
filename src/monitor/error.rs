use std::borrow::Cow;

use thiserror::Error;

use crate::error::ArgError;

/// Everything the monitor core can refuse or fail at.
#[derive(Debug, Error)]
pub enum MonitorError {
    /// A bad option or argument.
    #[error(transparent)]
    Arg(#[from] ArgError),
    /// The operating system refused a reading the sampler needs.
    #[error("cannot read system figures: {0}")]
    System(String),
    /// The sampler thread could not be started.
    #[error("cannot start the sampler thread: {0}")]
    Thread(String),
}

impl MonitorError {
    pub(crate) fn out_of_range(
        name: &'static str,
        expected: impl Into<Cow<'static, str>>,
        got: impl ToString,
    ) -> Self {
        ArgError::out_of_range(name, expected, got).into()
    }
}
