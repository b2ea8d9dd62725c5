//! Scalar resolution with the YAML 1.2 core schema: `NO`, `yes` and `on` stay strings, numbers
//! that cannot be represented exactly are refused, tags other than the core ones are reported.

use saphyr_parser::{ScalarStyle, Tag};
use serde_json::{Number, Value};

/// A scalar after YAML 1.2 core-schema resolution.
pub(super) enum Resolved {
    Value(Value),
    /// A number that cannot be represented exactly (`99999999999999999999`, `.nan`, `.inf`).
    OutOfRange,
    UnsupportedTag(String),
}

pub(super) fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Resolved {
    if let Some(tag) = tag {
        if tag.handle == "tag:yaml.org,2002:" {
            return match tag.suffix.as_str() {
                "str" => Resolved::Value(Value::String(text.to_string())),
                "null" | "bool" | "int" | "float" => match resolve_plain(text) {
                    Resolved::Value(v) if core_type_matches(&tag.suffix, &v) => Resolved::Value(v),
                    Resolved::OutOfRange => Resolved::OutOfRange,
                    _ => Resolved::UnsupportedTag(format!("!!{} {text}", tag.suffix)),
                },
                other => Resolved::UnsupportedTag(format!("!!{other}")),
            };
        }
        // The non-specific tag `!` forces a string.
        if tag.handle.is_empty() && tag.suffix == "!" {
            return Resolved::Value(Value::String(text.to_string()));
        }
        return Resolved::UnsupportedTag(tag.to_string());
    }
    if style != ScalarStyle::Plain {
        return Resolved::Value(Value::String(text.to_string()));
    }
    resolve_plain(text)
}

fn core_type_matches(suffix: &str, value: &Value) -> bool {
    match suffix {
        "null" => value.is_null(),
        "bool" => value.is_boolean(),
        "int" => value.is_i64() || value.is_u64(),
        "float" => value.is_number(),
        _ => false,
    }
}

/// YAML 1.2 core schema for plain scalars (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
fn resolve_plain(text: &str) -> Resolved {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Value(Value::Null),
        "true" | "True" | "TRUE" => return Resolved::Value(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Resolved::Value(Value::Bool(false)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return Resolved::OutOfRange,
        _ => {}
    }
    let bytes = text.as_bytes();
    let unsigned = bytes
        .strip_prefix(b"-")
        .or_else(|| bytes.strip_prefix(b"+"))
        .unwrap_or(bytes);
    if !unsigned.is_empty() && unsigned.iter().all(u8::is_ascii_digit) {
        return match text.parse::<i64>() {
            Ok(n) => Resolved::Value(Value::Number(n.into())),
            Err(_) => Resolved::OutOfRange,
        };
    }
    if let Some(octal) = text.strip_prefix("0o") {
        if !octal.is_empty() && octal.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return i64::from_str_radix(octal, 8).map_or(Resolved::OutOfRange, |n| {
                Resolved::Value(Value::Number(n.into()))
            });
        }
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return i64::from_str_radix(hex, 16).map_or(Resolved::OutOfRange, |n| {
                Resolved::Value(Value::Number(n.into()))
            });
        }
    }
    if is_core_float(unsigned) {
        return match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Number::from_f64(f)
                .map_or(Resolved::OutOfRange, |n| Resolved::Value(Value::Number(n))),
            _ => Resolved::OutOfRange,
        };
    }
    Resolved::Value(Value::String(text.to_string()))
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` without the sign.
fn is_core_float(b: &[u8]) -> bool {
    let digits = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = digits(b);
    let mut mantissa_digits = i;
    if b.get(i) == Some(&b'.') {
        let frac = digits(&b[i + 1..]);
        mantissa_digits += frac;
        i += 1 + frac;
    }
    if mantissa_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let exp = digits(&b[i..]);
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == b.len()
}
