//! Where JSON text comes from: `file://PATH`, a plain path, or the text itself.
//!
//! The AWS CLI reads any parameter from `file://PATH`; kafka-esm does the same for
//! `--cli-input-json` and every JSON-valued flag, and also takes a plain path for the
//! document. Parse errors say when the text looks like the AWS CLI's shorthand syntax
//! (`Key=Value`), which is not supported. This file reads and parses; it checks no rule.

use super::error::ConfigErrors;
use super::json::Report;
use super::mapping::Mapping;
use super::resolve::resolve_document;
use serde_json::Value;
use std::collections::BTreeSet;

/// How a document that could not be read at all is named in messages.
pub(super) const CLI_INPUT_JSON: &str = "--cli-input-json";

/// Resolves a mapping from a `--cli-input-json` document given as text.
pub fn from_cli_input_json(text: &str) -> Result<Mapping, ConfigErrors> {
    let mut report = Report::default();
    match parse_json(text) {
        Ok(doc) => resolve_document(&doc, report, &BTreeSet::new()),
        Err(e) => {
            report.invalid(CLI_INPUT_JSON, e);
            Err(ConfigErrors::from_vec(report.errors).expect("one error"))
        }
    }
}

/// Resolves a mapping from a parsed document: the JSON body of a
/// `CreateEventSourceMapping` request, or a stored one (`kafka-esm serve`).
pub fn from_document(doc: &Value) -> Result<Mapping, ConfigErrors> {
    resolve_document(doc, Report::default(), &BTreeSet::new())
}

/// `--cli-input-json`: `file://PATH`, inline JSON, or (kafka-esm only) a plain path.
pub(super) fn load_document(src: &str) -> Result<Value, String> {
    let trimmed = src.trim_start();
    if src.starts_with("file://") || trimmed.starts_with('{') || trimmed.starts_with('[') {
        return load_json(src);
    }
    let text = std::fs::read_to_string(src).map_err(|e| format!("cannot read {src}: {e}"))?;
    parse_json(&text).map_err(|e| format!("{src}: {e}"))
}

/// A JSON-valued flag: inline JSON or `file://PATH`.
pub(super) fn load_json(src: &str) -> Result<Value, String> {
    if let Some(path) = src.strip_prefix("file://") {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read file://{path}: {e}"))?;
        return parse_json(&text).map_err(|e| format!("file://{path}: {e}"));
    }
    parse_json(src)
}

fn parse_json(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| {
        let t = text.trim_start();
        if !(t.starts_with('{') || t.starts_with('[') || t.starts_with('"')) && t.contains('=') {
            format!(
                "not valid JSON ({e}); the AWS CLI's shorthand syntax (Key=Value) is not \
                 supported, give JSON"
            )
        } else {
            format!("not valid JSON ({e})")
        }
    })
}
