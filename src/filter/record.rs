//! The record as filters see it: AWS's Kafka event record, with `key` and `value` decoded.
//!
//! [`RecordView`] only borrows the fetched bytes. [`Fields`] resolves a top-level field on
//! first use and keeps it for the other filters: `value` and `key` are parsed as JSON only
//! when a pattern names them. A decoded `value`/`key` is JSON when its bytes are UTF-8 JSON
//! holding an object or an array; any other UTF-8 bytes are a plain string (so `42` and
//! `"x"` are the strings `42` and `"x"`); a null or non-UTF-8 one is absent. `headers` is
//! the event's shape, `[{"name": [byte, ...]}]` with signed bytes, built only when named.

use super::rule::Leaf;
use crate::kafka::protocol::records::{Headers, Record, TimestampType};
use serde_json::{Number, Value};
use std::cell::OnceCell;

/// A Kafka record, borrowed, with the metadata AWS puts next to it in the event.
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub timestamp_type: TimestampType,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Option<&'a Headers>,
}

impl<'a> RecordView<'a> {
    /// The view of `record`, fetched from `topic`-`partition`.
    pub fn new(topic: &'a str, partition: i32, record: &'a Record) -> Self {
        Self {
            topic,
            partition,
            offset: record.offset,
            timestamp: record.timestamp,
            timestamp_type: record.timestamp_type,
            key: record.key.as_deref(),
            value: record.value.as_deref(),
            headers: Some(&record.headers),
        }
    }

    /// A record with only a value, the rest zero: for tests and tools.
    pub fn with_value(topic: &'a str, value: Option<&'a [u8]>) -> Self {
        Self {
            topic,
            partition: 0,
            offset: 0,
            timestamp: 0,
            timestamp_type: TimestampType::CreateTime,
            key: None,
            value,
            headers: None,
        }
    }
}

/// A decoded `value` or `key`.
#[derive(Debug)]
pub(crate) enum Payload<'a> {
    Absent,
    Json(Value),
    Text(&'a str),
}

impl<'a> Payload<'a> {
    fn decode(bytes: Option<&'a [u8]>) -> Self {
        let Some(text) = bytes.and_then(|b| std::str::from_utf8(b).ok()) else {
            return Payload::Absent;
        };
        match serde_json::from_str::<Value>(text) {
            Ok(v @ (Value::Object(_) | Value::Array(_))) => Payload::Json(v),
            _ => Payload::Text(text),
        }
    }
}

/// What a field holds in the record: JSON to walk, or a scalar.
#[derive(Debug, Clone)]
pub(crate) enum Item<'s> {
    Json(&'s Value),
    Leaf(Leaf<'s>),
}

/// Push `v` as items, one per element when it is an array (arrays flatten).
pub(crate) fn push_json<'s>(v: &'s Value, out: &mut Vec<Item<'s>>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| push_json(i, out)),
        v => out.push(Item::Json(v)),
    }
}

/// The top-level fields of one record, resolved lazily and shared by all filters.
pub(crate) struct Fields<'r, 'a> {
    view: &'r RecordView<'a>,
    value: OnceCell<Payload<'a>>,
    key: OnceCell<Payload<'a>>,
    headers: OnceCell<Value>,
}

impl<'r, 'a> Fields<'r, 'a> {
    pub fn new(view: &'r RecordView<'a>) -> Self {
        Self {
            view,
            value: OnceCell::new(),
            key: OnceCell::new(),
            headers: OnceCell::new(),
        }
    }

    /// `value` or `key` decoded; `None` for other names.
    pub fn payload(&self, name: &str) -> Option<&Payload<'a>> {
        match name {
            "value" => Some(self.value.get_or_init(|| Payload::decode(self.view.value))),
            "key" => Some(self.key.get_or_init(|| Payload::decode(self.view.key))),
            _ => None,
        }
    }

    /// The items at top-level field `name`.
    pub fn get<'s>(&'s self, name: &str, out: &mut Vec<Item<'s>>) {
        if let Some(p) = self.payload(name) {
            match p {
                Payload::Absent => {}
                Payload::Json(v) => push_json(v, out),
                Payload::Text(s) => out.push(Item::Leaf(Leaf::Str(s))),
            }
            return;
        }
        let v = self.view;
        let leaf = match name {
            "topic" => Leaf::Str(v.topic),
            "partition" => Leaf::Num(Number::from(v.partition)),
            "offset" => Leaf::Num(Number::from(v.offset)),
            "timestamp" => Leaf::Num(Number::from(v.timestamp)),
            "timestampType" => Leaf::Str(match v.timestamp_type {
                TimestampType::CreateTime => "CREATE_TIME",
                TimestampType::LogAppendTime => "LOG_APPEND_TIME",
                TimestampType::NoTimestampType => "NO_TIMESTAMP_TYPE",
            }),
            "headers" => {
                push_json(self.headers.get_or_init(|| headers_json(v.headers)), out);
                return;
            }
            _ => return,
        };
        out.push(Item::Leaf(leaf));
    }
}

fn headers_json(headers: Option<&Headers>) -> Value {
    let Some(headers) = headers else {
        return Value::Array(Vec::new());
    };
    headers
        .slices()
        .map(|(k, v)| {
            let bytes = v.map_or(Value::Null, |v| {
                Value::Array(v.iter().map(|&b| Value::from(b as i8)).collect())
            });
            let mut m = serde_json::Map::new();
            m.insert(String::from_utf8_lossy(k).into_owned(), bytes);
            Value::Object(m)
        })
        .collect()
}
