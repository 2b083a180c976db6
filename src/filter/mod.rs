//! Lambda event filtering (`FilterCriteria`) for Kafka records.
//!
//! This layer owns the pattern language AWS documents as "Filter rule syntax" (the
//! EventBridge event-pattern language): it compiles each `FilterCriteria.Filters[].Pattern`
//! once ([`Pattern::compile`], [`Filter::compile`]), refusing invalid patterns with a
//! [`PatternError`] that says where and what, and answers whether a record matches
//! ([`FilterSet::matches`]). It owns the pattern types ([`Pattern`], [`Filter`],
//! [`FilterSet`]); it reads no configuration file, fetches nothing and commits nothing.
//! [`config`](crate::config) compiles the patterns while it validates a mapping, and the
//! resolved mapping carries them compiled (`Mapping::filters`); the runtime only matches.
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
//! The mapping's filters come compiled (`mapping.filters`, a [`FilterSet`]); for every
//! fetched record the runtime builds `RecordView::new(topic, partition, &record)` and
//! calls [`FilterSet::matches`]. A record
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
        Self::compile(&parse_json(text)?)
    }

    /// Whether `record` matches this pattern alone.
    pub fn matches(&self, record: &RecordView<'_>) -> bool {
        matcher::record_matches(&self.root, &Fields::new(record))
    }
}

/// A pattern's text as JSON.
fn parse_json(text: &str) -> Result<Value, PatternError> {
    serde_json::from_str(text)
        .map_err(|e| PatternError::new("", PatternProblem::Json(e.to_string())))
}

/// One `FilterCriteria.Filters[].Pattern`: its text as configured, its parsed JSON and
/// its compiled form. Only made by compiling, so it always matches what its text says.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pattern: String,
    parsed: Value,
    compiled: Pattern,
}

impl Filter {
    /// Compiles `parsed`, the JSON of the pattern text `pattern`.
    pub fn compile(pattern: impl Into<String>, parsed: Value) -> Result<Self, PatternError> {
        let compiled = Pattern::compile(&parsed)?;
        Ok(Self {
            pattern: pattern.into(),
            parsed,
            compiled,
        })
    }

    /// The pattern's text, as configured.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The pattern's parsed JSON.
    pub fn parsed(&self) -> &Value {
        &self.parsed
    }

    /// Whether `record` matches this filter alone.
    pub fn matches(&self, record: &RecordView<'_>) -> bool {
        self.compiled.matches(record)
    }
}

/// A filter of `FilterCriteria.Filters` that does not compile: its index and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("FilterCriteria.Filters[{index}].Pattern: {error}")]
pub struct FilterError {
    pub index: usize,
    pub error: PatternError,
}

/// A mapping's filters, compiled: a record is sent to the function when any matches. It
/// derefs to its [`Filter`]s, in configuration order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilterSet {
    filters: Vec<Filter>,
}

impl FilterSet {
    /// A set of compiled filters.
    pub fn new(filters: Vec<Filter>) -> Self {
        Self { filters }
    }

    /// Parses and compiles every pattern text; all the bad ones are reported, with their
    /// index.
    pub fn parse<S: AsRef<str>>(patterns: &[S]) -> Result<Self, Vec<FilterError>> {
        let mut filters = Vec::with_capacity(patterns.len());
        let mut errors = Vec::new();
        for (index, text) in patterns.iter().enumerate() {
            let text = text.as_ref();
            match parse_json(text).and_then(|parsed| Filter::compile(text, parsed)) {
                Ok(filter) => filters.push(filter),
                Err(error) => errors.push(FilterError { index, error }),
            }
        }
        if errors.is_empty() {
            Ok(Self { filters })
        } else {
            Err(errors)
        }
    }

    /// Whether `record` goes to the function: true with no filters, else when any filter
    /// matches. `value` and `key` are decoded at most once, and only if a filter names them.
    pub fn matches(&self, record: &RecordView<'_>) -> bool {
        if self.filters.is_empty() {
            return true;
        }
        let fields = Fields::new(record);
        self.filters
            .iter()
            .any(|f| matcher::record_matches(&f.compiled.root, &fields))
    }
}

impl std::ops::Deref for FilterSet {
    type Target = [Filter];

    fn deref(&self) -> &[Filter] {
        &self.filters
    }
}
