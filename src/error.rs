//! The argument error every core shares: a value of the wrong kind, or out of its range.
//!
//! Each core's error enum wraps it (`#[from]`), so a rule that refuses an argument reads the same
//! in every capability and the binding turns it into a JS error in one place
//! (`src/binding/error.rs`: `TypeError` / `RangeError` with Node's codes).

use std::borrow::Cow;

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ArgError {
    /// An option or argument of the wrong kind (becomes a JS `TypeError`). `got` describes the
    /// value passed, when it is worth showing.
    #[error("{name} must be {expected}{}", shown(got))]
    InvalidType {
        name: Cow<'static, str>,
        expected: Cow<'static, str>,
        got: Option<String>,
    },
    /// An option or argument outside its range (becomes a JS `RangeError`).
    #[error("{name} must be {expected}, got {got}")]
    OutOfRange {
        name: Cow<'static, str>,
        expected: Cow<'static, str>,
        got: String,
    },
}

fn shown(got: &Option<String>) -> String {
    got.as_ref()
        .map(|g| format!(", got {g}"))
        .unwrap_or_default()
}

impl ArgError {
    /// `name` must be `expected`; the message says no more.
    pub fn invalid_type(
        name: impl Into<Cow<'static, str>>,
        expected: impl Into<Cow<'static, str>>,
    ) -> Self {
        ArgError::InvalidType {
            name: name.into(),
            expected: expected.into(),
            got: None,
        }
    }

    /// `name` must be `expected`, and `got` (a description of the value) is not.
    pub fn invalid_type_got(
        name: impl Into<Cow<'static, str>>,
        expected: impl Into<Cow<'static, str>>,
        got: impl Into<String>,
    ) -> Self {
        ArgError::InvalidType {
            name: name.into(),
            expected: expected.into(),
            got: Some(got.into()),
        }
    }

    pub fn out_of_range(
        name: impl Into<Cow<'static, str>>,
        expected: impl Into<Cow<'static, str>>,
        got: impl ToString,
    ) -> Self {
        ArgError::OutOfRange {
            name: name.into(),
            expected: expected.into(),
            got: got.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_argument_and_what_was_expected() {
        assert_eq!(
            ArgError::invalid_type("options.command", "a non-empty array of strings").to_string(),
            "options.command must be a non-empty array of strings"
        );
        assert_eq!(
            ArgError::invalid_type_got("key", "a string", "null").to_string(),
            "key must be a string, got null"
        );
        assert_eq!(
            ArgError::out_of_range("maxSize", format!("a whole number from 1 to {}", 10), 0)
                .to_string(),
            "maxSize must be a whole number from 1 to 10, got 0"
        );
    }
}
