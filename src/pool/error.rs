use std::borrow::Cow;

use thiserror::Error;

use crate::error::ArgError;

/// Everything the pool core can refuse.
#[derive(Debug, Error)]
pub enum PoolError {
    /// A bad option or argument.
    #[error(transparent)]
    Arg(#[from] ArgError),
    /// The pool was destroyed and hands out nothing any more.
    #[error("the pool was destroyed; create a new one")]
    Closed,
}

impl PoolError {
    pub(crate) fn out_of_range(
        name: &'static str,
        expected: impl Into<Cow<'static, str>>,
        got: impl ToString,
    ) -> Self {
        ArgError::out_of_range(name, expected, got).into()
    }
}
