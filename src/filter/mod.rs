//! Lambda event filtering (`FilterCriteria`) for Kafka records.
//!
//! This layer owns the pattern language AWS documents as "Filter rule syntax" (the
//! EventBridge event-pattern language): it compiles each `FilterCriteria.Filters[].Pattern`
//! once ([`Pattern::compile`], [`FilterSet::compile`]), refusing invalid patterns with a
//! [`PatternError`] that says where and what, and answers whether a record matches
//! ([`FilterSet::matches`]). It reads no configuration file, fetches nothing and commits
//! nothing; [`config`](crate::config) calls it to validate patterns, the runtime to skip
//! records.
//!
//! # What a pattern sees
//!
//! The record as AWS's Kafka event shows it ([`RecordView`]): `topic`, `partition`,
//! `offset`, `timestamp`, `timestampType`, `headers`, and `key` and `value` decoded. AWS
//! documents filtering on `value` (and, in older pages, `key`); the metadata fields are a
//! kafka-esm extension, and any other top-level field is a configuration error. A `value`
//! whose bytes are UTF-8 JSON holding an object or array is matched as JSON (`{"value":
//! {"device_ID": [{"prefix": "AB"}]}}`); any other UTF-8 value is a plain string, matched
//! only by a list of match values (`{"value": [{"anything-but": ["error"]}]}`). A format
//! mismatch never matches, as AWS drops such records. A null or non-UTF-8 value is absent.
//!
//! # How the runtime uses it
//!
//! Compile once per mapping (`FilterSet::compile(&mapping.filters)`, which cannot fail
//! for a validated mapping), then for every fetched record build
//! `RecordView::new(topic, partition, &record)` and call [`FilterSet::matches`]. A record
//! that matches goes into the batch. One that does not is never sent to the function, but
//! it is consumed: its offset counts as processed and is committed with the batch around
//! it (or on its own when a whole fetch is filtered out), and it is counted in a metric.
//! With no filters every record matches and nothing is decoded.
//!
//! # Decisions where AWS is silent or vague
//!
//! - `key` is decoded like `value` (an older AWS page lists both as the Kafka message
//!   fields); metadata fields are matched as the event shows them, `headers` included.
//! - A JSON scalar value (`42`, `"x"`) is a plain string; a list of match values never
//!   matches a JSON object/array value, not even `exists` (AWS drops format mismatches).
//! - `{}` as a whole pattern matches every record; nested `{}` and `[]` are refused.
//! - Exact numbers compare as JSON numbers (`300` ≠ `300.0`, but `300.0` = `3.0e2`: the
//!   text is not kept); `numeric` operands are limited to ±5.0e9 and a range is a lower
//!   bound then an upper bound.
//! - `anything-but` never matches a missing field; on an array it matches when any
//!   element is not excluded. Its `prefix`/`suffix`/`wildcard`/`equals-ignore-case` take a
//!   string or a list of strings (an empty prefix or suffix is refused).
//! - `$or` needs at least two branches; nesting is limited to [`MAX_DEPTH`] levels.

mod cidr;
mod compile;
mod error;
mod matcher;
mod numeric;
mod record;
mod rule;
#[cfg(test)]
mod tests;
mod text;

pub use compile::{MAX_DEPTH, RECORD_FIELDS};
pub use error::{PatternError, PatternProblem};
pub use numeric::NUMERIC_LIMIT;
pub use record::RecordView;

use crate::config::Filter;
use compile::Node;
use record::Fields;
use serde_json::Value;

/// One compiled filter pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    root: Node,
}

impl Pattern {
    /// Compile a pattern's parsed JSON.
    pub fn compile(pattern: &Value) -> Result<Self, PatternError> {
        compile::compile_root(pattern).map(|root| Self { root })
    }

    /// Parse and compile a pattern's text, as in `FilterCriteria.Filters[].Pattern`.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| PatternError::new("", PatternProblem::Json(e.to_string())))?;
        Self::compile(&v)
    }

    /// Whether `record` matches this pattern alone.
    pub fn matches(&self, record: &RecordView<'_>) -> bool {
        matcher::record_matches(&self.root, &Fields::new(record))
    }
}

/// A filter of `FilterCriteria.Filters` that does not compile: its index and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("FilterCriteria.Filters[{index}].Pattern: {error}")]
pub struct FilterError {
    pub index: usize,
    pub error: PatternError,
}

/// A mapping's filters, compiled: a record is sent to the function when any matches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilterSet {
    patterns: Vec<Pattern>,
}

impl FilterSet {
    /// Compile every filter; all the bad ones are reported, with their index.
    pub fn compile(filters: &[Filter]) -> Result<Self, Vec<FilterError>> {
        let mut patterns = Vec::with_capacity(filters.len());
        let mut errors = Vec::new();
        for (index, f) in filters.iter().enumerate() {
            match Pattern::compile(&f.parsed) {
                Ok(p) => patterns.push(p),
                Err(error) => errors.push(FilterError { index, error }),
            }
        }
        if errors.is_empty() {
            Ok(Self { patterns })
        } else {
            Err(errors)
        }
    }

    /// A set of already compiled patterns.
    pub fn from_patterns(patterns: Vec<Pattern>) -> Self {
        Self { patterns }
    }

    /// Whether there are no filters (every record matches).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// How many filters there are.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Whether `record` goes to the function: true with no filters, else when any filter
    /// matches. `value` and `key` are decoded at most once, and only if a filter names them.
    pub fn matches(&self, record: &RecordView<'_>) -> bool {
        if self.patterns.is_empty() {
            return true;
        }
        let fields = Fields::new(record);
        self.patterns
            .iter()
            .any(|p| matcher::record_matches(&p.root, &fields))
    }
}
