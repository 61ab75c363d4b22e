//! Reading plain JS values at the napi edge, with the messages of `lib/validate.js`
//! (`<name> must be <expected>, got <what it was>`), for inputs that arrive as JS objects of
//! loose shape (a user's request object) rather than as a generated `#[napi(object)]`.

use napi::bindgen_prelude::{JsObjectValue, Object, Unknown};
use napi::{JsValue, ValueType};

use super::error::{failure, range_error, type_error, Result};

/// A napi call's own error (a JS exception from a getter, say) in this layer's error type.
fn napi_failed(e: napi::Error) -> napi::Error<&'static str> {
    failure(e.reason)
}

/// A JS number as `String(n)` writes it (for the ones a message may show).
fn js_number(n: f64) -> String {
    if n.is_nan() {
        "NaN".into()
    } else if n.is_infinite() {
        if n > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if n == n.trunc() && n.abs() < 1e21 {
        format!("{n:.0}")
    } else {
        n.to_string()
    }
}

/// What a value was, as `describe` in `lib/validate.js` says it.
pub fn describe(value: &Unknown) -> String {
    let kind = value.get_type().unwrap_or(ValueType::Unknown);
    // SAFETY (each cast): the value's type was checked just before.
    match kind {
        ValueType::Null => "null".into(),
        ValueType::Number => js_number(unsafe { value.cast::<f64>() }.unwrap_or(f64::NAN)),
        ValueType::String => {
            let s = unsafe { value.cast::<String>() }.unwrap_or_default();
            let short: String = if s.encode_utf16().count() > 40 {
                s.chars().take(40).chain(['…']).collect()
            } else {
                s
            };
            serde_json::to_string(&short).unwrap_or_default()
        }
        ValueType::Object if value.is_array().unwrap_or(false) => "an array".into(),
        ValueType::Undefined => "undefined".into(),
        ValueType::Boolean => "boolean".into(),
        ValueType::Symbol => "symbol".into(),
        ValueType::Function => "function".into(),
        ValueType::BigInt => "bigint".into(),
        _ => "object".into(),
    }
}

pub fn bad_type(name: &str, expected: &str, value: &Unknown) -> napi::Error<&'static str> {
    type_error(format!(
        "{name} must be {expected}, got {}",
        describe(value)
    ))
}

pub fn bad_range(name: &str, expected: &str, got: &str) -> napi::Error<&'static str> {
    range_error(format!("{name} must be {expected}, got {got}"))
}

fn is(value: &Unknown, kind: ValueType) -> bool {
    value.get_type().ok() == Some(kind)
}

/// A plain object (not null, not an array).
pub fn object<'env>(name: &str, expected: &str, value: Unknown<'env>) -> Result<Object<'env>> {
    if is(&value, ValueType::Object) && !value.is_array().unwrap_or(true) {
        // SAFETY: checked to be an object.
        return unsafe { value.cast::<Object>() }.map_err(napi_failed);
    }
    Err(bad_type(name, expected, &value))
}

/// `undefined` (`None`) or a plain object.
pub fn options_object<'env>(name: &str, value: Unknown<'env>) -> Result<Option<Object<'env>>> {
    if is(&value, ValueType::Undefined) {
        return Ok(None);
    }
    object(name, "an object", value).map(Some)
}

pub fn field<'env>(object: &Object<'env>, key: &str) -> Result<Unknown<'env>> {
    object
        .get_named_property::<Unknown>(key)
        .map_err(napi_failed)
}

pub fn required_string(name: &str, value: &Unknown) -> Result<String> {
    if is(value, ValueType::String) {
        // SAFETY: checked to be a string.
        return unsafe { value.cast::<String>() }.map_err(napi_failed);
    }
    Err(bad_type(name, "a string", value))
}

/// `undefined` (`None`) or a number in `[min, max]`, whole when `integer`.
pub fn number(
    name: &str,
    value: &Unknown,
    min: f64,
    max: f64,
    integer: bool,
) -> Result<Option<f64>> {
    if is(value, ValueType::Undefined) {
        return Ok(None);
    }
    if !is(value, ValueType::Number) {
        return Err(bad_type(name, "a number", value));
    }
    // SAFETY: checked to be a number.
    let n = unsafe { value.cast::<f64>() }.map_err(napi_failed)?;
    if !n.is_finite() || n < min || n > max || (integer && n != n.trunc()) {
        let kind = if integer {
            "a whole number"
        } else {
            "a finite number"
        };
        let bounds = if max == MAX_SAFE_INTEGER {
            format!(">= {}", js_number(min))
        } else {
            format!("from {} to {}", js_number(min), js_number(max))
        };
        return Err(bad_range(name, &format!("{kind} {bounds}"), &js_number(n)));
    }
    Ok(Some(n))
}

/// `Number.MAX_SAFE_INTEGER`: `number`'s "no upper bound".
pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// `undefined` (`None`) or one of `choices` (a TypeError otherwise, as `oneOf` throws).
pub fn one_of(
    name: &str,
    value: &Unknown,
    choices: &[&'static str],
) -> Result<Option<&'static str>> {
    if is(value, ValueType::Undefined) {
        return Ok(None);
    }
    let expected = || {
        let listed: Vec<String> = choices.iter().map(|c| format!("'{c}'")).collect();
        format!("one of {}", listed.join(", "))
    };
    if !is(value, ValueType::String) {
        return Err(bad_type(name, &expected(), value));
    }
    // SAFETY: checked to be a string.
    let s = unsafe { value.cast::<String>() }.map_err(napi_failed)?;
    choices
        .iter()
        .find(|c| **c == s)
        .copied()
        .map(Some)
        .ok_or_else(|| bad_type(name, &expected(), value))
}

/// `undefined` (`None`) or an array of strings.
pub fn string_array(name: &str, expected: &str, value: &Unknown) -> Result<Option<Vec<String>>> {
    if is(value, ValueType::Undefined) {
        return Ok(None);
    }
    if !value.is_array().unwrap_or(false) {
        return Err(bad_type(name, expected, value));
    }
    // SAFETY: checked to be an array (an object).
    let array = unsafe { value.cast::<Object>() }.map_err(napi_failed)?;
    let len = array.get_array_length().map_err(napi_failed)?;
    let mut out = Vec::with_capacity(len as usize);
    for i in 0..len {
        let item = array.get_element::<Unknown>(i).map_err(napi_failed)?;
        if !is(&item, ValueType::String) {
            return Err(bad_type(name, expected, value));
        }
        // SAFETY: checked to be a string.
        out.push(unsafe { item.cast::<String>() }.map_err(napi_failed)?);
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::js_number;

    #[test]
    fn numbers_read_as_js_writes_them() {
        assert_eq!(js_number(-1.0), "-1");
        assert_eq!(js_number(1.5), "1.5");
        assert_eq!(js_number(f64::NAN), "NaN");
        assert_eq!(js_number(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(js_number(2147483647.0), "2147483647");
    }
}
