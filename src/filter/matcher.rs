//! Matching a compiled pattern against a record's fields.
//!
//! Values are gathered per field the way EventBridge flattens an event: arrays contribute
//! their elements at any depth, and nested fields are looked up in every object found at
//! the parent (so sibling fields in different array elements can both match). Leaf rules
//! see only scalars: `exists` is true for a scalar, false for an absent field or one that
//! holds only objects or an empty array. At the top, `value` and `key` also check the
//! format as AWS does: nested fields never match a plain-string payload, and a list of
//! match values never matches a JSON payload.

use super::compile::{Child, Node};
use super::record::{Fields, Item, Payload, push_json};
use super::rule::Leaf;
use serde_json::Value;

/// Whether `node` (a whole pattern or a top-level `$or` branch) matches the record.
pub(crate) fn record_matches(node: &Node, fields: &Fields<'_, '_>) -> bool {
    for (name, child) in &node.fields {
        if let Some(payload) = fields.payload(name) {
            let wrong_format = matches!(
                (child, payload),
                (Child::Nested(_), Payload::Text(_)) | (Child::Rules(_), Payload::Json(_))
            );
            if wrong_format {
                return false;
            }
        }
        let mut items = Vec::new();
        fields.get(name, &mut items);
        if !child_matches(child, &items) {
            return false;
        }
    }
    node.ors
        .iter()
        .all(|branches| branches.iter().any(|b| record_matches(b, fields)))
}

fn child_matches(child: &Child, items: &[Item<'_>]) -> bool {
    match child {
        Child::Rules(rules) => {
            let leaves: Vec<Leaf<'_>> = items
                .iter()
                .filter_map(|i| match i {
                    Item::Json(v) => Leaf::of(v),
                    Item::Leaf(l) => Some(l.clone()),
                })
                .collect();
            rules.iter().any(|r| r.matches(&leaves))
        }
        Child::Nested(node) => {
            let objects: Vec<&Value> = items
                .iter()
                .filter_map(|i| match i {
                    Item::Json(v @ Value::Object(_)) => Some(*v),
                    _ => None,
                })
                .collect();
            nested_matches(node, &objects)
        }
    }
}

fn nested_matches(node: &Node, objects: &[&Value]) -> bool {
    for (name, child) in &node.fields {
        let mut items = Vec::new();
        for o in objects {
            if let Some(v) = o.get(name) {
                push_json(v, &mut items);
            }
        }
        if !child_matches(child, &items) {
            return false;
        }
    }
    node.ors
        .iter()
        .all(|branches| branches.iter().any(|b| nested_matches(b, objects)))
}
