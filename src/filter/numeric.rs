//! The `numeric` operator: a comparison (`["<", 10]`) or a range (`[">", 0, "<=", 5]`).
//!
//! Operands must be JSON numbers between -5.0e9 and 5.0e9, EventBridge's limit; a range
//! takes a lower bound (`>` or `>=`) then an upper bound (`<` or `<=`), the lower below
//! the upper, and `=` stands alone. Event values are compared as `f64` and only JSON
//! numbers match (a string `"5"` is not a number). This file knows nothing of records.

use super::error::{PatternProblem, kind};
use serde_json::Value;

/// The largest magnitude EventBridge accepts in a numeric rule.
pub const NUMERIC_LIMIT: f64 = 5.0e9;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A compiled `numeric` rule: every condition must hold.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Numeric {
    conditions: Vec<(Op, f64)>,
}

impl Numeric {
    pub fn compile(operand: &Value) -> Result<Self, PatternProblem> {
        let bad = |why: String| PatternProblem::Numeric(why);
        let Value::Array(items) = operand else {
            return Err(bad(format!(
                "takes an array such as [\">\", 0, \"<=\", 5], got {}",
                kind(operand)
            )));
        };
        if items.len() != 2 && items.len() != 4 {
            return Err(bad(format!(
                "takes one comparison [op, number] or a range [op, number, op, number], got {} elements",
                items.len()
            )));
        }
        let mut conditions = Vec::with_capacity(2);
        for pair in items.chunks(2) {
            let op = match pair.first() {
                Some(Value::String(s)) => match s.as_str() {
                    "=" => Op::Eq,
                    "<" => Op::Lt,
                    "<=" => Op::Le,
                    ">" => Op::Gt,
                    ">=" => Op::Ge,
                    other => {
                        return Err(bad(format!(
                            "unknown comparison {other:?}; use =, <, <=, > or >="
                        )));
                    }
                },
                other => {
                    return Err(bad(format!(
                        "expected a comparison (=, <, <=, >, >=), got {}",
                        other.map_or("nothing", kind)
                    )));
                }
            };
            let n = match pair.get(1) {
                Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
                other => {
                    return Err(bad(format!(
                        "expected a number after the comparison, got {}",
                        other.map_or("nothing", kind)
                    )));
                }
            };
            if !(-NUMERIC_LIMIT..=NUMERIC_LIMIT).contains(&n) {
                return Err(bad(format!(
                    "{n} is outside -5.0e9..=5.0e9, the range numeric matching supports"
                )));
            }
            conditions.push((op, n));
        }
        if let [(first, low), (second, high)] = conditions[..] {
            if !matches!(first, Op::Gt | Op::Ge) || !matches!(second, Op::Lt | Op::Le) {
                return Err(bad(
                    "a range takes a lower bound (> or >=) first, then an upper bound (< or <=)"
                        .into(),
                ));
            }
            if low >= high {
                return Err(bad(format!(
                    "the lower bound {low} must be below the upper bound {high}"
                )));
            }
        }
        Ok(Self { conditions })
    }

    pub fn matches(&self, x: f64) -> bool {
        self.conditions.iter().all(|&(op, n)| match op {
            Op::Eq => x == n,
            Op::Lt => x < n,
            Op::Le => x <= n,
            Op::Gt => x > n,
            Op::Ge => x >= n,
        })
    }
}
