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
    /// A number out of range, shown as the caller wrote it in JavaScript (see [`js_number`]).
    pub(crate) fn number_out_of_range(
        name: &'static str,
        expected: &'static str,
        got: f64,
    ) -> Self {
        Self::out_of_range(name, expected, js_number(got))
    }

    pub(crate) fn out_of_range(
        name: &'static str,
        expected: impl Into<Cow<'static, str>>,
        got: impl ToString,
    ) -> Self {
        ArgError::out_of_range(name, expected, got).into()
    }
}

/// `v` as JavaScript prints it, so a message quotes the value the caller passed: `Infinity`,
/// `-Infinity` and `NaN` (Rust prints `inf`, `-inf`, `NaN`), and `0` for `-0`.
pub(crate) fn js_number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if v == 0.0 {
        "0".into()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_in_javascript() {
        let shown: Vec<String> = [f64::INFINITY, f64::NEG_INFINITY, f64::NAN, -0.0, 1.5, 100.0]
            .into_iter()
            .map(js_number)
            .collect();
        assert_eq!(shown, ["Infinity", "-Infinity", "NaN", "0", "1.5", "100"]);
        let e = MonitorError::number_out_of_range("thresholds.gcDuration", "ms > 0", f64::INFINITY);
        assert_eq!(
            e.to_string(),
            "thresholds.gcDuration must be ms > 0, got Infinity"
        );
    }
}
