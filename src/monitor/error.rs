use thiserror::Error;

/// Everything the monitor core can refuse or fail at.
#[derive(Debug, Error)]
pub enum MonitorError {
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
        expected: &'static str,
        got: impl ToString,
    ) -> Self {
        MonitorError::OutOfRange {
            name,
            expected,
            got: got.to_string(),
        }
    }
}
