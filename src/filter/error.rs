//! Why a filter pattern was refused: the place in the pattern and what is wrong there.
//!
//! Every problem is found when the pattern is compiled (at configuration time), never
//! while matching records. The messages name the operator or field as the user wrote it,
//! so `FilterCriteria.Filters[1].Pattern` can be fixed in one pass. This file owns no
//! rule: the rules live in `compile.rs` and the operator files.

/// A pattern that is not valid: `path` is where (dotted field names, as in
/// `value.session.duration`; empty for the whole pattern), `problem` is what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{problem}", at(path))]
pub struct PatternError {
    pub path: String,
    pub problem: PatternProblem,
}

fn at(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("at {path}: ")
    }
}

impl PatternError {
    pub(crate) fn new(path: &str, problem: PatternProblem) -> Self {
        Self {
            path: path.to_owned(),
            problem,
        }
    }
}

/// What is wrong with one place of a pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternProblem {
    /// The pattern text is not JSON.
    #[error("is not valid JSON: {0}")]
    Json(String),
    /// The pattern is not a JSON object.
    #[error("a pattern must be a JSON object, got {got}")]
    NotAnObject { got: &'static str },
    /// `{}` below the top level.
    #[error("empty objects are not allowed")]
    EmptyObject,
    /// `[]` as a list of match values.
    #[error("empty arrays are not allowed; list at least one value")]
    EmptyArray,
    /// A field whose pattern is neither nested fields nor a list of match values.
    #[error(
        "must be an object (nested fields) or an array of match values such as [\"a\", {{\"prefix\": \"b\"}}], got {got}"
    )]
    FieldValue { got: &'static str },
    /// An array element that is neither a scalar nor an operator object.
    #[error(
        "a match value must be a string, number, true, false, null or an operator object, got {got}"
    )]
    MatchValue { got: &'static str },
    /// An operator object with zero or several keys.
    #[error(
        "an operator object must have exactly one key, such as {{\"prefix\": \"a\"}}, got {keys}"
    )]
    OperatorKeys { keys: usize },
    /// An operator nobody knows.
    #[error(
        "unknown operator \"{name}\"; the operators are prefix, suffix, equals-ignore-case, \
         anything-but, numeric, exists, wildcard and cidr"
    )]
    UnknownOperator { name: String },
    /// An operator given an operand of the wrong kind.
    #[error("\"{operator}\" takes {expected}, got {got}")]
    Operand {
        operator: &'static str,
        expected: &'static str,
        got: String,
    },
    /// A `numeric` rule that is not a valid comparison or range.
    #[error("\"numeric\": {0}")]
    Numeric(String),
    /// A `wildcard` operand that is not valid.
    #[error("\"wildcard\": {0}")]
    Wildcard(String),
    /// A `cidr` operand that is not an IP network.
    #[error("\"cidr\": {0}")]
    Cidr(String),
    /// A `$or` that is not a list of at least two patterns.
    #[error("\"$or\" takes an array of at least 2 objects, got {got}")]
    Or { got: String },
    /// A top-level field a Kafka record does not have.
    #[error(
        "a Kafka record has no field \"{key}\"; filter on value (or key, topic, partition, \
         offset, timestamp, timestampType, headers)"
    )]
    UnknownRecordField { key: String },
    /// Nesting beyond what kafka-esm compiles.
    #[error("nested deeper than {max} levels")]
    TooDeep { max: usize },
}

/// The JSON kind of a value, for messages.
pub(crate) fn kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
