//! Reading a JSON tree while collecting every problem instead of stopping at the first.
//!
//! The configuration is parsed into a [`serde_json::Value`] and walked by hand: each
//! getter either returns the typed value or records a [`FieldError`] naming the field by
//! its dotted AWS path, then the walk goes on. `null` counts as absent everywhere. This
//! file knows no configuration key and no rule beyond JSON types and integer ranges.

use super::error::{FieldError, Problem};
use super::mapping::ConfigWarning;
use serde_json::{Map, Value};

/// Errors and warnings gathered during one walk.
#[derive(Debug, Default)]
pub(super) struct Report {
    pub errors: Vec<FieldError>,
    pub warnings: Vec<ConfigWarning>,
}

impl Report {
    pub fn error(&mut self, field: impl Into<String>, problem: Problem) {
        self.errors.push(FieldError {
            field: field.into(),
            problem,
        });
    }

    pub fn invalid(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.error(field, Problem::Invalid(message.into()));
    }

    pub fn warn(&mut self, warning: ConfigWarning) {
        self.warnings.push(warning);
    }
}

/// `parent.key`, or `key` at the top.
pub(super) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[i]`.
pub(super) fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// How a value's type is named in messages.
pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a decimal number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn wrong(r: &mut Report, field: &str, expected: &'static str, v: &Value) {
    r.error(
        field,
        Problem::WrongType {
            expected,
            got: kind(v),
        },
    );
}

/// The value of `key`, `None` when absent or `null`.
pub(super) fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

/// Reports every key of `map` that is not in `known`, suggesting a known key that differs
/// only in case or underscores.
pub(super) fn check_keys(
    r: &mut Report,
    parent: &str,
    map: &Map<String, Value>,
    known: &[&'static str],
) {
    for key in map.keys() {
        if !known.contains(&key.as_str()) {
            unknown_key(r, parent, key, known);
        }
    }
}

/// Reports `key` as unknown, suggesting a known key that differs only in case or
/// underscores.
pub(super) fn unknown_key(r: &mut Report, parent: &str, key: &str, known: &[&'static str]) {
    let squash = |s: &str| s.replace(['_', '-'], "").to_ascii_lowercase();
    let suggestion = known.iter().copied().find(|k| squash(k) == squash(key));
    r.error(join(parent, key), Problem::UnknownKey { suggestion });
}

pub(super) fn object<'a>(
    r: &mut Report,
    field: &str,
    v: &'a Value,
) -> Option<&'a Map<String, Value>> {
    match v {
        Value::Object(m) => Some(m),
        _ => {
            wrong(r, field, "an object", v);
            None
        }
    }
}

pub(super) fn array<'a>(r: &mut Report, field: &str, v: &'a Value) -> Option<&'a [Value]> {
    match v {
        Value::Array(a) => Some(a),
        _ => {
            wrong(r, field, "a list", v);
            None
        }
    }
}

pub(super) fn string<'a>(r: &mut Report, field: &str, v: &'a Value) -> Option<&'a str> {
    match v {
        Value::String(s) => Some(s),
        _ => {
            wrong(r, field, "a string", v);
            None
        }
    }
}

pub(super) fn boolean(r: &mut Report, field: &str, v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        _ => {
            wrong(r, field, "true or false", v);
            None
        }
    }
}

pub(super) fn integer(r: &mut Report, field: &str, v: &Value) -> Option<i64> {
    match v.as_i64() {
        Some(i) => Some(i),
        None if v.is_u64() => {
            // Too big for i64: certainly out of every range we have.
            r.invalid(
                field,
                format!("must be an integer of a sensible size, got {v}"),
            );
            None
        }
        None => {
            wrong(r, field, "an integer", v);
            None
        }
    }
}

/// An integer in `min..=max`.
pub(super) fn integer_in(
    r: &mut Report,
    field: &str,
    v: &Value,
    min: i64,
    max: i64,
) -> Option<i64> {
    let got = integer(r, field, v)?;
    if (min..=max).contains(&got) {
        Some(got)
    } else {
        r.error(field, Problem::OutOfRange { min, max, got });
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn getters_record_the_wrong_type_and_go_on() {
        let mut r = Report::default();
        assert_eq!(string(&mut r, "A", &json!(1)), None);
        assert_eq!(integer(&mut r, "B", &json!(1.5)), None);
        assert_eq!(integer(&mut r, "C", &json!("7")), None);
        assert_eq!(boolean(&mut r, "D", &json!("true")), None);
        assert_eq!(integer_in(&mut r, "E", &json!(0), 1, 10), None);
        assert_eq!(integer_in(&mut r, "F", &json!(10), 1, 10), Some(10));
        assert_eq!(integer(&mut r, "G", &json!(u64::MAX)), None);
        let shown: Vec<String> = r.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            shown,
            [
                "A: must be a string, got an integer",
                "B: must be an integer, got a decimal number",
                "C: must be an integer, got a string",
                "D: must be true or false, got a string",
                "E: must be between 1 and 10, got 0",
                "G: must be an integer of a sensible size, got 18446744073709551615",
            ]
        );
    }

    #[test]
    fn unknown_keys_are_reported_with_a_suggestion() {
        let mut r = Report::default();
        let v = json!({"BatchSize": 1, "batch_size": 2, "Nope": 3});
        check_keys(&mut r, "X", v.as_object().unwrap(), &["BatchSize"]);
        let shown: Vec<String> = r.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            shown,
            [
                "X.Nope: unknown key",
                "X.batch_size: unknown key; did you mean BatchSize?"
            ]
        );
    }

    #[test]
    fn null_is_absent() {
        let v = json!({"A": null, "B": 1});
        let m = v.as_object().unwrap();
        assert!(get(m, "A").is_none());
        assert!(get(m, "B").is_some());
        assert!(get(m, "C").is_none());
    }
}
