use std::borrow::Cow;

use thiserror::Error;

use crate::error::ArgError;

use super::scheduler::MAX_USERS;

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

/// A whole number of at least `min` given as a JS number.
pub fn whole(name: &'static str, value: f64, min: u64) -> Result<u64, LoadTestError> {
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
    if !value.is_finite() || value.fract() != 0.0 || value < min as f64 || value > MAX_SAFE {
        let expected = if min == 0 {
            "a finite whole number >= 0"
        } else {
            "a finite whole number >= 1"
        };
        return Err(LoadTestError::out_of_range(name, expected, value));
    }
    Ok(value as u64)
}

/// A finite number greater than zero given as a JS number.
pub fn positive(name: &'static str, value: f64) -> Result<f64, LoadTestError> {
    if !value.is_finite() || value <= 0.0 {
        return Err(LoadTestError::out_of_range(
            name,
            "a finite number > 0",
            value,
        ));
    }
    Ok(value)
}

/// A count of virtual users (or slots) given as a JS number: 1 ..= [`MAX_USERS`].
pub fn users(name: &'static str, value: f64) -> Result<u32, LoadTestError> {
    // `expected` must be a literal; the test below keeps it in step with MAX_USERS.
    const EXPECTED: &str = "a whole number from 1 to 1000000";
    let n = whole(name, value, 1)?;
    u32::try_from(n)
        .ok()
        .filter(|n| *n <= MAX_USERS)
        .ok_or_else(|| LoadTestError::out_of_range(name, EXPECTED, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_bounded_by_max_users_and_the_message_says_so() {
        assert_eq!(users("concurrentUsers", 1.0).unwrap(), 1);
        assert_eq!(
            users("concurrentUsers", f64::from(MAX_USERS)).unwrap(),
            MAX_USERS
        );
        for bad in [0.0, 1.5, f64::from(MAX_USERS) + 1.0, 1e9, 4294967296.0] {
            let err = users("concurrentUsers", bad).unwrap_err().to_string();
            assert!(err.starts_with("concurrentUsers must be"), "{err}");
        }
        let err = users("concurrentUsers", 1e9).unwrap_err().to_string();
        assert!(err.contains(&format!("from 1 to {MAX_USERS}")), "{err}");
    }
}
