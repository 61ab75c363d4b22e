use thiserror::Error;

/// Everything the pool core can refuse.
#[derive(Debug, Error)]
pub enum PoolError {
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
        expected: String,
        got: String,
    },
    /// The pool was destroyed and hands out nothing any more.
    #[error("the pool was destroyed; create a new one")]
    Closed,
}

impl PoolError {
    pub(crate) fn out_of_range(
        name: &'static str,
        expected: impl Into<String>,
        got: impl ToString,
    ) -> Self {
        PoolError::OutOfRange {
            name,
            expected: expected.into(),
            got: got.to_string(),
        }
    }
}
