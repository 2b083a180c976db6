//! Why a mapping configuration was refused: one [`FieldError`] per bad field, all of them.
//!
//! Every error names the field by its AWS name and path (`BatchSize`,
//! `DestinationConfig.OnFailure.Destination`, `SourceAccessConfigurations[1].URI`, or
//! `KafkaEsm.FunctionTimeout` for kafka-esm's own settings), so a user can fix the file
//! in one pass. [`ConfigErrors::reason`] answers which documented state reason the whole
//! refusal is. This file owns no validation rule: the rules live next to the fields.

use std::fmt;

/// The state reason of a mapping refused for its own configuration.
pub const ESM_CONFIG_NOT_VALID: &str = "ESM_CONFIG_NOT_VALID";
/// The state reason of a mapping refused for its function's configuration (a timeout
/// beyond 14 minutes).
pub const FUNCTION_CONFIG_NOT_VALID: &str = "FUNCTION_CONFIG_NOT_VALID";

/// What is wrong with one field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// A required field is absent (or `null`).
    #[error("is required")]
    Missing,
    /// The JSON value has the wrong type.
    #[error("must be {expected}, got {got}")]
    WrongType {
        expected: &'static str,
        got: &'static str,
    },
    /// An integer outside its inclusive range.
    #[error("must be between {min} and {max}, got {got}")]
    OutOfRange { min: i64, max: i64, got: i64 },
    /// A key nobody knows: not AWS's, not kafka-esm's.
    #[error("unknown key{}", suggestion.map(|s| format!("; did you mean {s}?")).unwrap_or_default())]
    UnknownKey { suggestion: Option<&'static str> },
    /// An AWS parameter of another event source type.
    #[error("does not apply to self-managed Kafka (it is for {used_for}); remove it")]
    NotApplicable { used_for: &'static str },
    /// An AWS parameter that applies to self-managed Kafka but that kafka-esm does not
    /// implement; ignoring it would change what the function receives.
    #[error("is not supported by kafka-esm: {why}")]
    Unsupported { why: &'static str },
    /// The function's timeout leaves the mapping no margin (more than 14 minutes).
    #[error(
        "must be between 1 and {max_seconds} seconds (an event source mapping needs a function \
         timeout of at most 14 minutes), got {got}"
    )]
    FunctionTimeout { max_seconds: i64, got: i64 },
    /// Any other broken rule, said in full.
    #[error("{0}")]
    Invalid(String),
}

impl Problem {
    /// The documented reason this problem maps to.
    pub fn reason(&self) -> &'static str {
        match self {
            Problem::FunctionTimeout { .. } => FUNCTION_CONFIG_NOT_VALID,
            _ => ESM_CONFIG_NOT_VALID,
        }
    }
}

/// One bad field: its AWS name (a dotted path with list indexes) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct FieldError {
    pub field: String,
    pub problem: Problem,
}

/// Every problem of a refused configuration, in the order the fields were checked.
/// Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    errors: Vec<FieldError>,
}

impl ConfigErrors {
    /// `None` when `errors` is empty: there is nothing to refuse.
    pub(crate) fn from_vec(errors: Vec<FieldError>) -> Option<Self> {
        (!errors.is_empty()).then_some(Self { errors })
    }

    /// The problems, one per bad field (a field may have more than one).
    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }

    /// The problem reported for `field`, if any (the first one).
    pub fn for_field(&self, field: &str) -> Option<&Problem> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| &e.problem)
    }

    /// `ESM_CONFIG_NOT_VALID`, or `FUNCTION_CONFIG_NOT_VALID` when the only problems are
    /// the function's (a mapping whose own settings are wrong is refused for those first,
    /// as AWS refuses it at creation before it ever looks at the function).
    pub fn reason(&self) -> &'static str {
        if self
            .errors
            .iter()
            .all(|e| e.problem.reason() == FUNCTION_CONFIG_NOT_VALID)
        {
            FUNCTION_CONFIG_NOT_VALID
        } else {
            ESM_CONFIG_NOT_VALID
        }
    }

    /// Configuration errors never go away by retrying.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "invalid event source mapping configuration ({}), {n} problem{}:",
            self.reason(),
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(field: &str, problem: Problem) -> FieldError {
        FieldError {
            field: field.into(),
            problem,
        }
    }

    #[test]
    fn messages_name_the_field_first() {
        let e = err(
            "BatchSize",
            Problem::OutOfRange {
                min: 1,
                max: 10000,
                got: 0,
            },
        );
        assert_eq!(
            e.to_string(),
            "BatchSize: must be between 1 and 10000, got 0"
        );
        let e = err(
            "batchSize",
            Problem::UnknownKey {
                suggestion: Some("BatchSize"),
            },
        );
        assert_eq!(
            e.to_string(),
            "batchSize: unknown key; did you mean BatchSize?"
        );
    }

    #[test]
    fn the_reason_is_the_function_only_when_nothing_else_is_wrong() {
        let timeout = err(
            "KafkaEsm.FunctionTimeout",
            Problem::FunctionTimeout {
                max_seconds: 840,
                got: 900,
            },
        );
        let only = ConfigErrors::from_vec(vec![timeout.clone()]).unwrap();
        assert_eq!(only.reason(), FUNCTION_CONFIG_NOT_VALID);
        let both = ConfigErrors::from_vec(vec![timeout, err("Topics", Problem::Missing)]).unwrap();
        assert_eq!(both.reason(), ESM_CONFIG_NOT_VALID);
        assert!(!both.is_retryable());
        let shown = both.to_string();
        assert!(shown.starts_with(
            "invalid event source mapping configuration (ESM_CONFIG_NOT_VALID), 2 problems:"
        ));
        assert!(shown.contains("\n  Topics: is required"));
        assert!(ConfigErrors::from_vec(vec![]).is_none());
    }
}
