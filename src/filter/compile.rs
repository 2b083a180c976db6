//! A pattern's JSON, checked and compiled once into a tree of fields and rules.
//!
//! An object's keys are fields; a field holds either nested fields (an object) or a
//! non-empty list of match values (an array); `"$or": [p1, p2, ...]` (at least two
//! objects) matches when any branch does. At the top level the fields are the record's:
//! `value`, `key`, `topic`, `partition`, `offset`, `timestamp`, `timestampType`, `headers`.
//! A repeated key keeps its last occurrence (serde_json's, and AWS's documented rule).
//! Everything invalid is an error here, so matching never fails.

use super::error::{PatternError, PatternProblem, kind};
use super::rule::Rule;
use serde_json::{Map, Value};

/// How deep a pattern may nest (objects and `$or` branches); serde_json stops at 128.
pub const MAX_DEPTH: usize = 64;

/// The record fields a top-level pattern may name, as AWS's Kafka event spells them.
pub const RECORD_FIELDS: [&str; 8] = [
    "value",
    "key",
    "topic",
    "partition",
    "offset",
    "timestamp",
    "timestampType",
    "headers",
];

const OR: &str = "$or";

/// One level of a pattern: every field must match, and each `$or` group must have a
/// matching branch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub fields: Vec<(String, Child)>,
    pub ors: Vec<Vec<Node>>,
}

/// What a field holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Child {
    Nested(Node),
    Rules(Vec<Rule>),
}

/// Compile a whole pattern. `{}` at the top is allowed and matches every record.
pub(crate) fn compile_root(v: &Value) -> Result<Node, PatternError> {
    let Value::Object(map) = v else {
        return Err(PatternError::new(
            "",
            PatternProblem::NotAnObject { got: kind(v) },
        ));
    };
    let mut path = String::new();
    object(map, &mut path, 0, true)
}

fn object(
    map: &Map<String, Value>,
    path: &mut String,
    depth: usize,
    top: bool,
) -> Result<Node, PatternError> {
    if depth >= MAX_DEPTH {
        return Err(PatternError::new(
            path,
            PatternProblem::TooDeep { max: MAX_DEPTH },
        ));
    }
    if map.is_empty() && !top {
        return Err(PatternError::new(path, PatternProblem::EmptyObject));
    }
    let mut node = Node {
        fields: Vec::with_capacity(map.len()),
        ors: Vec::new(),
    };
    for (key, v) in map {
        let len = path.len();
        if key == OR {
            node.ors.push(or(v, path, depth, top)?);
            continue;
        }
        if top && !RECORD_FIELDS.contains(&key.as_str()) {
            return Err(PatternError::new(
                path,
                PatternProblem::UnknownRecordField { key: key.clone() },
            ));
        }
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
        let child = match v {
            Value::Object(inner) => Child::Nested(object(inner, path, depth + 1, false)?),
            Value::Array(items) => Child::Rules(rules(items, path)?),
            other => {
                return Err(PatternError::new(
                    path,
                    PatternProblem::FieldValue { got: kind(other) },
                ));
            }
        };
        path.truncate(len);
        node.fields.push((key.clone(), child));
    }
    Ok(node)
}

fn or(v: &Value, path: &mut String, depth: usize, top: bool) -> Result<Vec<Node>, PatternError> {
    let at = |p: &str| {
        if p.is_empty() {
            OR.to_owned()
        } else {
            format!("{p}.{OR}")
        }
    };
    let branches = match v {
        Value::Array(items) if items.len() >= 2 => items,
        Value::Array(items) => {
            return Err(PatternError::new(
                &at(path),
                PatternProblem::Or {
                    got: format!("{} element(s)", items.len()),
                },
            ));
        }
        other => {
            return Err(PatternError::new(
                &at(path),
                PatternProblem::Or {
                    got: kind(other).to_owned(),
                },
            ));
        }
    };
    let mut out = Vec::with_capacity(branches.len());
    for (i, b) in branches.iter().enumerate() {
        let Value::Object(map) = b else {
            return Err(PatternError::new(
                &format!("{}[{i}]", at(path)),
                PatternProblem::Or {
                    got: format!("{} in the array", kind(b)),
                },
            ));
        };
        if map.is_empty() {
            return Err(PatternError::new(
                &format!("{}[{i}]", at(path)),
                PatternProblem::EmptyObject,
            ));
        }
        out.push(object(map, path, depth + 1, top)?);
    }
    Ok(out)
}

fn rules(items: &[Value], path: &str) -> Result<Vec<Rule>, PatternError> {
    if items.is_empty() {
        return Err(PatternError::new(path, PatternProblem::EmptyArray));
    }
    items
        .iter()
        .map(|v| Rule::compile(v).map_err(|p| PatternError::new(path, p)))
        .collect()
}
