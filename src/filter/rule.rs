//! One match value of a field's list: an exact scalar or an operator object, compiled, and
//! how it matches the values a record has at that field.
//!
//! A field's values are its scalars (an array in the event contributes each element); a
//! rule matches when any of them does, except `exists`, which looks at whether there is
//! any, and `anything-but`, which needs at least one value that is not excluded (a missing
//! field never matches it). Exact numbers compare by JSON number (`300` is not `300.0`, as
//! AWS compares numbers by their text); `numeric` compares values. This file does not walk
//! patterns or records (`compile.rs`, `matcher.rs`).

use super::cidr::Cidr;
use super::error::{PatternProblem, kind};
use super::numeric::Numeric;
use super::text::{Affix, Wildcard, eq_ignore_case};
use serde_json::{Number, Value};

/// A scalar value of the record at a field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Leaf<'a> {
    Null,
    Bool(bool),
    Num(Number),
    Str(&'a str),
}

impl<'a> Leaf<'a> {
    /// The scalar `v` is, or `None` for objects and arrays.
    pub fn of(v: &'a Value) -> Option<Self> {
        match v {
            Value::Null => Some(Leaf::Null),
            Value::Bool(b) => Some(Leaf::Bool(*b)),
            Value::Number(n) => Some(Leaf::Num(n.clone())),
            Value::String(s) => Some(Leaf::Str(s)),
            Value::Array(_) | Value::Object(_) => None,
        }
    }

    fn as_str(&self) -> Option<&'a str> {
        match self {
            Leaf::Str(s) => Some(s),
            _ => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Leaf::Num(n) => n.as_f64(),
            _ => None,
        }
    }
}

/// An exact match value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Exact {
    Null,
    Bool(bool),
    Num(Number),
    Str(String),
}

/// What `anything-but` excludes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Excluded {
    Strings(Vec<String>),
    Numbers(Vec<f64>),
    Prefixes(Vec<Affix>),
    Suffixes(Vec<Affix>),
    Wildcards(Vec<Wildcard>),
    /// Lowercased.
    IgnoringCase(Vec<String>),
}

/// One compiled match value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rule {
    Exact(Exact),
    Prefix(Affix),
    Suffix(Affix),
    /// Lowercased.
    EqualsIgnoreCase(String),
    AnythingBut(Excluded),
    Numeric(Numeric),
    Exists(bool),
    Wildcard(Wildcard),
    Cidr(Cidr),
}

impl Rule {
    /// Compile one element of a field's match list.
    pub fn compile(v: &Value) -> Result<Self, PatternProblem> {
        match v {
            Value::Null => Ok(Rule::Exact(Exact::Null)),
            Value::Bool(b) => Ok(Rule::Exact(Exact::Bool(*b))),
            Value::Number(n) => Ok(Rule::Exact(Exact::Num(n.clone()))),
            Value::String(s) => Ok(Rule::Exact(Exact::Str(s.clone()))),
            Value::Array(_) => Err(PatternProblem::MatchValue { got: kind(v) }),
            Value::Object(map) => {
                let mut entries = map.iter();
                let (Some((name, operand)), None) = (entries.next(), entries.next()) else {
                    return Err(PatternProblem::OperatorKeys { keys: map.len() });
                };
                operator(name, operand)
            }
        }
    }

    /// Whether the field's scalar `values` satisfy this rule.
    pub fn matches(&self, values: &[Leaf<'_>]) -> bool {
        match self {
            Rule::Exists(want) => values.is_empty() != *want,
            _ => values.iter().any(|v| self.matches_one(v)),
        }
    }

    fn matches_one(&self, v: &Leaf<'_>) -> bool {
        match self {
            Rule::Exact(e) => match (e, v) {
                (Exact::Null, Leaf::Null) => true,
                (Exact::Bool(a), Leaf::Bool(b)) => a == b,
                (Exact::Num(a), Leaf::Num(b)) => a == b,
                (Exact::Str(a), Leaf::Str(b)) => a == b,
                _ => false,
            },
            Rule::Prefix(a) => v.as_str().is_some_and(|s| a.is_prefix_of(s)),
            Rule::Suffix(a) => v.as_str().is_some_and(|s| a.is_suffix_of(s)),
            Rule::EqualsIgnoreCase(lower) => v.as_str().is_some_and(|s| eq_ignore_case(s, lower)),
            Rule::AnythingBut(ex) => !excluded(ex, v),
            Rule::Numeric(n) => v.as_f64().is_some_and(|x| n.matches(x)),
            Rule::Exists(_) => true,
            Rule::Wildcard(w) => v.as_str().is_some_and(|s| w.matches(s)),
            Rule::Cidr(c) => v.as_str().is_some_and(|s| c.contains(s)),
        }
    }
}

fn excluded(ex: &Excluded, v: &Leaf<'_>) -> bool {
    match ex {
        Excluded::Strings(list) => v.as_str().is_some_and(|s| list.iter().any(|x| x == s)),
        Excluded::Numbers(list) => v.as_f64().is_some_and(|x| list.contains(&x)),
        Excluded::Prefixes(list) => v
            .as_str()
            .is_some_and(|s| list.iter().any(|a| a.is_prefix_of(s))),
        Excluded::Suffixes(list) => v
            .as_str()
            .is_some_and(|s| list.iter().any(|a| a.is_suffix_of(s))),
        Excluded::Wildcards(list) => v
            .as_str()
            .is_some_and(|s| list.iter().any(|w| w.matches(s))),
        Excluded::IgnoringCase(list) => v
            .as_str()
            .is_some_and(|s| list.iter().any(|l| eq_ignore_case(s, l))),
    }
}

fn operand_err(operator: &'static str, expected: &'static str, got: &Value) -> PatternProblem {
    PatternProblem::Operand {
        operator,
        expected,
        got: kind(got).to_owned(),
    }
}

fn operator(name: &str, operand: &Value) -> Result<Rule, PatternProblem> {
    match name {
        "prefix" => affix("prefix", operand).map(Rule::Prefix),
        "suffix" => affix("suffix", operand).map(Rule::Suffix),
        "equals-ignore-case" => match operand {
            Value::String(s) => Ok(Rule::EqualsIgnoreCase(s.to_lowercase())),
            _ => Err(operand_err("equals-ignore-case", "a string", operand)),
        },
        "anything-but" => anything_but(operand).map(Rule::AnythingBut),
        "numeric" => Numeric::compile(operand).map(Rule::Numeric),
        "exists" => match operand {
            Value::Bool(b) => Ok(Rule::Exists(*b)),
            _ => Err(operand_err("exists", "true or false", operand)),
        },
        "wildcard" => match operand {
            Value::String(s) => Wildcard::compile(s).map(Rule::Wildcard),
            _ => Err(operand_err("wildcard", "a string", operand)),
        },
        "cidr" => match operand {
            Value::String(s) => Cidr::parse(s).map(Rule::Cidr),
            _ => Err(operand_err(
                "cidr",
                "a string such as \"10.0.0.0/24\"",
                operand,
            )),
        },
        other => Err(PatternProblem::UnknownOperator {
            name: other.to_owned(),
        }),
    }
}

/// `prefix`/`suffix`: a string, or `{"equals-ignore-case": string}`.
fn affix(operator: &'static str, operand: &Value) -> Result<Affix, PatternProblem> {
    const EXPECTED: &str = "a string or {\"equals-ignore-case\": string}";
    match operand {
        Value::String(s) => Ok(Affix::exact(s)),
        Value::Object(map) if map.len() == 1 => match map.get("equals-ignore-case") {
            Some(Value::String(s)) => Ok(Affix::ignoring_case(s)),
            _ => Err(operand_err(operator, EXPECTED, operand)),
        },
        _ => Err(operand_err(operator, EXPECTED, operand)),
    }
}

/// `anything-but`: a string, a number, a non-empty list of only strings or only numbers,
/// or one of `{"prefix"|"suffix"|"wildcard"|"equals-ignore-case": string or strings}`.
fn anything_but(operand: &Value) -> Result<Excluded, PatternProblem> {
    const EXPECTED: &str = "a string, a number, a list of strings or of numbers, or {\"prefix\"|\"suffix\"|\"wildcard\"|\"equals-ignore-case\": ...}";
    let err = || operand_err("anything-but", EXPECTED, operand);
    match operand {
        Value::String(s) => Ok(Excluded::Strings(vec![s.clone()])),
        Value::Number(n) => Ok(Excluded::Numbers(vec![n.as_f64().unwrap_or(f64::NAN)])),
        Value::Array(items) if items.iter().all(Value::is_string) && !items.is_empty() => {
            Ok(Excluded::Strings(
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
            ))
        }
        Value::Array(items) if items.iter().all(Value::is_number) && !items.is_empty() => Ok(
            Excluded::Numbers(items.iter().filter_map(Value::as_f64).collect()),
        ),
        Value::Object(map) if map.len() == 1 => {
            let Some((name, inner)) = map.iter().next() else {
                return Err(err());
            };
            let strings = strings(inner).ok_or_else(|| PatternProblem::Operand {
                operator: "anything-but",
                expected: "a string or a non-empty list of strings inside its operator",
                got: kind(inner).to_owned(),
            })?;
            if matches!(name.as_str(), "prefix" | "suffix") && strings.contains(&"") {
                return Err(PatternProblem::Operand {
                    operator: "anything-but",
                    expected: "a non-empty prefix or suffix",
                    got: "\"\"".to_owned(),
                });
            }
            match name.as_str() {
                "prefix" => Ok(Excluded::Prefixes(
                    strings.iter().map(|s| Affix::exact(s)).collect(),
                )),
                "suffix" => Ok(Excluded::Suffixes(
                    strings.iter().map(|s| Affix::exact(s)).collect(),
                )),
                "equals-ignore-case" => Ok(Excluded::IgnoringCase(
                    strings.iter().map(|s| s.to_lowercase()).collect(),
                )),
                "wildcard" => strings
                    .iter()
                    .map(|s| Wildcard::compile(s))
                    .collect::<Result<_, _>>()
                    .map(Excluded::Wildcards),
                _ => Err(err()),
            }
        }
        _ => Err(err()),
    }
}

/// A string or a non-empty list of strings.
fn strings(v: &Value) -> Option<Vec<&str>> {
    match v {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(items) if !items.is_empty() => items.iter().map(Value::as_str).collect(),
        _ => None,
    }
}
