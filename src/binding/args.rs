//! Arguments as JavaScript passes them, checked once where they become core values.
//!
//! [`Arg`] and [`Options`] read any JS value without refusing it, so that the check that follows
//! (which knows the argument's name) raises the shared [`ArgError`] with a message naming the
//! argument, what was expected and what was given — as `describe` in `lib/validate.js` shows
//! it, since both languages' checks must read alike. The cores then receive typed values only.

use std::path::{Component, Path, PathBuf};

use napi::bindgen_prelude::{
    FromNapiValue, JsObjectValue, Object, TypeName, Unknown, ValidateNapiValue,
};
use napi::{sys, JsValue, ValueType};

use super::error::{failure, range_error, type_error as type_failure, Result as JsResult};
use crate::error::ArgError;

/// `Number.MAX_SAFE_INTEGER`: the largest whole number a JS number holds exactly.
pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A JS value, read whatever its type.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Number(f64),
    Boolean(bool),
    String(String),
    /// Any other value, described as the messages show it: `null`, `an array`, or its `typeof`.
    Other(&'static str),
}

unsafe fn type_of(env: sys::napi_env, value: sys::napi_value) -> napi::Result<ValueType> {
    let mut kind = 0;
    napi::check_status!(unsafe { sys::napi_typeof(env, value, &mut kind) })?;
    Ok(ValueType::from(kind))
}

/// Describes an object the way `typeof` and `describe` (lib/validate.js) do.
unsafe fn describe_object(
    env: sys::napi_env,
    value: sys::napi_value,
) -> napi::Result<&'static str> {
    let mut array = false;
    napi::check_status!(unsafe { sys::napi_is_array(env, value, &mut array) })?;
    Ok(if array { "an array" } else { "object" })
}

impl FromNapiValue for Arg {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        Ok(match unsafe { type_of(env, value)? } {
            ValueType::Number => Arg::Number(unsafe { f64::from_napi_value(env, value)? }),
            ValueType::Boolean => Arg::Boolean(unsafe { bool::from_napi_value(env, value)? }),
            ValueType::String => Arg::String(unsafe { String::from_napi_value(env, value)? }),
            ValueType::Null => Arg::Other("null"),
            ValueType::Undefined => Arg::Other("undefined"),
            ValueType::Object => Arg::Other(unsafe { describe_object(env, value)? }),
            ValueType::Function => Arg::Other("function"),
            ValueType::Symbol => Arg::Other("symbol"),
            ValueType::BigInt => Arg::Other("bigint"),
            _ => Arg::Other("object"),
        })
    }
}

impl TypeName for Arg {
    fn type_name() -> &'static str {
        "unknown"
    }

    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl ValidateNapiValue for Arg {}

impl Arg {
    /// A value already in hand (a property read from an object) as an `Arg`.
    pub fn of(value: &Unknown) -> JsResult<Arg> {
        // SAFETY: `value` is a live handle in the env of the call that read it.
        unsafe { Arg::from_napi_value(value.value().env, value.raw()) }.map_err(napi_failed)
    }

    /// `None` for `undefined`, which means "not given" as for an absent option.
    pub fn given(self) -> Option<Arg> {
        (self != Arg::Other("undefined")).then_some(self)
    }

    /// The value as the messages show it (`describe` in lib/validate.js): a number as JS prints
    /// it, a string quoted (cut after 40 characters).
    pub fn describe(&self) -> String {
        match self {
            Arg::Number(v) => js_number(*v),
            Arg::Boolean(_) => "boolean".into(),
            Arg::String(s) => quoted(s),
            Arg::Other(what) => (*what).into(),
        }
    }
}

/// An options object: absent (`undefined`), an object read as `T`, or anything else (refused
/// by [`Options::check`] naming the argument).
pub enum Options<T> {
    Absent,
    Given(T),
    Other(Arg),
}

impl<T: FromNapiValue> FromNapiValue for Options<T> {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        Ok(match unsafe { type_of(env, value)? } {
            ValueType::Undefined => Options::Absent,
            ValueType::Object if unsafe { describe_object(env, value)? } == "object" => {
                Options::Given(unsafe { T::from_napi_value(env, value)? })
            }
            _ => Options::Other(unsafe { Arg::from_napi_value(env, value)? }),
        })
    }
}

impl<T> TypeName for Options<T> {
    fn type_name() -> &'static str {
        "object | undefined"
    }

    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl<T> ValidateNapiValue for Options<T> {}

impl<T> Options<T> {
    /// The object given, `None` when absent; anything else is a `TypeError` naming `name`.
    pub fn check(self, name: &'static str) -> Result<Option<T>, ArgError> {
        match self {
            Options::Absent => Ok(None),
            Options::Given(options) => Ok(Some(options)),
            Options::Other(other) => Err(type_error(name, "an object", &other)),
        }
    }
}

fn type_error(name: &'static str, expected: &'static str, got: &Arg) -> ArgError {
    ArgError::invalid_type_got(name, expected, got.describe())
}

/// What a JS number must be: within `min ..= max`, and whole when `integer`.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub min: f64,
    pub max: f64,
    pub integer: bool,
}

impl Range {
    /// A whole number of at least `min`.
    pub const fn whole(min: f64) -> Self {
        Range {
            min,
            max: MAX_SAFE_INTEGER,
            integer: true,
        }
    }

    /// A whole or fractional number from `min` to `max`.
    pub const fn finite(min: f64, max: f64) -> Self {
        Range {
            min,
            max,
            integer: false,
        }
    }

    fn expected(&self) -> String {
        let kind = if self.integer {
            "a whole number"
        } else {
            "a finite number"
        };
        if self.max == MAX_SAFE_INTEGER {
            format!("{kind} >= {}", js_number(self.min))
        } else {
            format!(
                "{kind} from {} to {}",
                js_number(self.min),
                js_number(self.max)
            )
        }
    }
}

/// A number in `range`; `None` when absent.
pub fn number(name: &'static str, arg: Option<Arg>, range: Range) -> Result<Option<f64>, ArgError> {
    let v = match arg {
        None => return Ok(None),
        Some(Arg::Number(v)) => v,
        Some(other) => return Err(type_error(name, "a number", &other)),
    };
    let whole = v.fract() == 0.0;
    if !v.is_finite() || v < range.min || v > range.max || (range.integer && !whole) {
        return Err(ArgError::out_of_range(name, range.expected(), js_number(v)));
    }
    Ok(Some(v))
}

/// A number that `accept`s, else a `RangeError` saying it must be `expected`; `None` when absent.
pub fn number_where(
    name: &'static str,
    arg: Option<Arg>,
    expected: &'static str,
    accept: impl Fn(f64) -> bool,
) -> Result<Option<f64>, ArgError> {
    match arg {
        None => Ok(None),
        Some(Arg::Number(v)) if accept(v) => Ok(Some(v)),
        Some(Arg::Number(v)) => Err(ArgError::out_of_range(name, expected, js_number(v))),
        Some(other) => Err(type_error(name, "a number", &other)),
    }
}

/// A fraction greater than 0 and at most 1 (a threshold); `None` when absent.
pub fn fraction(name: &'static str, arg: Option<Arg>) -> Result<Option<f64>, ArgError> {
    number_where(name, arg, "a fraction greater than 0 and at most 1", |v| {
        v > 0.0 && v <= 1.0
    })
}

pub fn boolean(name: &'static str, arg: Option<Arg>) -> Result<Option<bool>, ArgError> {
    match arg {
        None => Ok(None),
        Some(Arg::Boolean(b)) => Ok(Some(b)),
        Some(other) => Err(type_error(name, "a boolean", &other)),
    }
}

pub fn string(name: &'static str, arg: Option<Arg>) -> Result<Option<String>, ArgError> {
    match arg {
        None => Ok(None),
        Some(Arg::String(s)) => Ok(Some(s)),
        Some(other) => Err(type_error(name, "a string", &other)),
    }
}

/// One of `choices` (each named by its first element); `None` when absent.
pub fn one_of<T: Copy>(
    name: &'static str,
    arg: Option<Arg>,
    choices: &[(&str, T)],
) -> Result<Option<T>, ArgError> {
    let Some(arg) = arg else { return Ok(None) };
    if let Arg::String(s) = &arg {
        if let Some((_, value)) = choices.iter().find(|(n, _)| n == s) {
            return Ok(Some(*value));
        }
    }
    let names: Vec<String> = choices.iter().map(|(n, _)| format!("'{n}'")).collect();
    Err(ArgError::invalid_type_got(
        name,
        format!("one of {}", names.join(", ")),
        arg.describe(),
    ))
}

// Loose objects: inputs that arrive as JS objects of open shape (a user's request object, a
// pool's config with its callbacks) rather than as a generated `#[napi(object)]`, read property
// by property with the same messages.

/// How the messages show `value` ([`Arg::describe`]).
pub fn describe(value: &Unknown) -> String {
    Arg::of(value).map_or_else(|_| "object".into(), |arg| arg.describe())
}

/// A napi call's own error (a JS exception from a getter, say) in this layer's error type.
pub fn napi_failed(e: napi::Error) -> napi::Error<&'static str> {
    failure(e.reason)
}

pub fn bad_type(name: &str, expected: &str, value: &Unknown) -> napi::Error<&'static str> {
    type_failure(format!(
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
pub fn object<'env>(name: &str, expected: &str, value: Unknown<'env>) -> JsResult<Object<'env>> {
    if is(&value, ValueType::Object) && !value.is_array().unwrap_or(true) {
        // SAFETY: checked to be an object.
        return unsafe { value.cast::<Object>() }.map_err(napi_failed);
    }
    Err(bad_type(name, expected, &value))
}

/// `undefined` (`None`) or a plain object.
pub fn options_object<'env>(name: &str, value: Unknown<'env>) -> JsResult<Option<Object<'env>>> {
    if is(&value, ValueType::Undefined) {
        return Ok(None);
    }
    object(name, "an object", value).map(Some)
}

pub fn field<'env>(object: &Object<'env>, key: &str) -> JsResult<Unknown<'env>> {
    object
        .get_named_property::<Unknown>(key)
        .map_err(napi_failed)
}

/// The property `key` of `object` as an [`Arg`]; `None` when it is missing or `undefined`.
pub fn field_arg(object: &Object, key: &str) -> JsResult<Option<Arg>> {
    Ok(Arg::of(&field(object, key)?)?.given())
}

pub fn required_string(name: &'static str, value: &Unknown) -> JsResult<String> {
    match Arg::of(value)? {
        Arg::String(s) => Ok(s),
        other => Err(type_error(name, "a string", &other).into()),
    }
}

/// `undefined` (`None`) or an array of strings.
pub fn string_array(name: &str, expected: &str, value: &Unknown) -> JsResult<Option<Vec<String>>> {
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

/// `path` made absolute against the current folder and normalised, as Node's `path.resolve`
/// does (lexically: `..` drops the previous part, symlinks are not followed).
pub fn resolve_path(path: &str) -> std::io::Result<PathBuf> {
    let joined = std::env::current_dir()?.join(Path::new(path));
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Ok(out)
}

/// `v` as JavaScript prints it (`Number.prototype.toString`), so a message quotes the value the
/// caller passed: `Infinity` and `NaN` (Rust prints `inf`, `NaN`), `0` for `-0`, and exponents
/// past 1e21 or below 1e-6 (`1e+21`, `1e-7`).
pub fn js_number(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if v == 0.0 {
        return "0".into();
    }
    // Rust's `{:e}` gives the shortest digits that read back as `v`, as JS does.
    let exp_form = format!("{:e}", v.abs());
    let (mantissa, exponent) = exp_form.split_once('e').expect("`{:e}` has an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i32;
    let n = exponent.parse::<i32>().expect("a decimal exponent") + 1;
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let sign = if n - 1 < 0 { '-' } else { '+' };
        let rest = if k > 1 {
            format!(".{}", &digits[1..])
        } else {
            String::new()
        };
        format!("{}{rest}e{sign}{}", &digits[..1], (n - 1).abs())
    };
    if v < 0.0 {
        format!("-{body}")
    } else {
        body
    }
}

/// A string as `JSON.stringify` quotes it, cut after 40 UTF-16 units with `…`.
fn quoted(s: &str) -> String {
    const SHOWN: usize = 40;
    let units = s.encode_utf16().count();
    let text = if units > SHOWN {
        let mut cut = String::new();
        let mut taken = 0;
        for c in s.chars() {
            if taken + c.len_utf16() > SHOWN {
                break;
            }
            taken += c.len_utf16();
            cut.push(c);
        }
        cut.push('…');
        cut
    } else {
        s.to_owned()
    };
    serde_json::to_string(&text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_in_javascript() {
        let cases = [
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (f64::NAN, "NaN"),
            (-0.0, "0"),
            (1.5, "1.5"),
            (100.0, "100"),
            (-5.0, "-5"),
            (0.1, "0.1"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e-7, "1e-7"),
            (0.000001, "0.000001"),
            (-2.5e-9, "-2.5e-9"),
            (2147483647.0, "2147483647"),
        ];
        for (v, shown) in cases {
            assert_eq!(js_number(v), shown, "{v:?}");
        }
    }

    #[test]
    fn messages_read_as_the_js_checks_write_them() {
        let e = number("maxSize", Some(Arg::Number(0.0)), Range::whole(1.0)).unwrap_err();
        assert_eq!(e.to_string(), "maxSize must be a whole number >= 1, got 0");
        let e = number(
            "interval",
            Some(Arg::Number(f64::INFINITY)),
            Range::finite(1.0, 2147483647.0),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "interval must be a finite number from 1 to 2147483647, got Infinity"
        );
        let e = number("ttl", Some(Arg::String("10".into())), Range::whole(0.0)).unwrap_err();
        assert_eq!(e.to_string(), "ttl must be a number, got \"10\"");
        let e = fraction("thresholds.cpu", Some(Arg::Number(f64::NAN))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "thresholds.cpu must be a fraction greater than 0 and at most 1, got NaN"
        );
        let e = one_of(
            "evictionPolicy",
            Some(Arg::String("x".into())),
            &[("lru", 1), ("lfu", 2)],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "evictionPolicy must be one of 'lru', 'lfu', got \"x\""
        );
        let e = boolean("persistToDisk", Some(Arg::Other("null"))).unwrap_err();
        assert_eq!(e.to_string(), "persistToDisk must be a boolean, got null");
        assert_eq!(number("maxSize", None, Range::whole(1.0)), Ok(None));
    }

    #[test]
    fn long_strings_are_cut_as_in_javascript() {
        let long = "é".repeat(50);
        assert_eq!(quoted(&long), format!("\"{}…\"", "é".repeat(40)));
        assert_eq!(quoted("a\"b\n"), "\"a\\\"b\\n\"");
    }

    #[test]
    fn paths_resolve_as_path_resolve_does() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            resolve_path("/a/b/../c/./d/").unwrap(),
            PathBuf::from("/a/c/d")
        );
        assert_eq!(resolve_path("x/../y").unwrap(), cwd.join("y"));
        assert_eq!(resolve_path("/..").unwrap(), PathBuf::from("/"));
    }
}
