//! The JSON text of the event's parts: its opening and closing, a topic-partition group's
//! opening, and one record; each with the exact length it writes.
//!
//! Key order follows AWS's sample event: `eventSource`, `bootstrapServers`, `records`; and
//! in a record `topic`, `partition`, `offset`, `timestamp`, `timestampType`, `key`, `value`,
//! `headers`. A null key or value is omitted; `headers` is always present (`[]` when
//! empty), as in AWS's events. This file does not decide which records go where
//! (`encoder.rs`) or keep positions (`layout.rs`).

use crate::kafka::protocol::records::{Record, TimestampType};

use super::json;

const EVENT_OPEN: &[u8] = b"{\"eventSource\":\"SelfManagedKafka\",\"bootstrapServers\":\"";
const EVENT_RECORDS: &[u8] = b"\",\"records\":{";
/// What closes the `records` object and the event.
pub(crate) const EVENT_CLOSE: &[u8] = b"}}";

const GROUP_DASH: &[u8] = b"-";
const GROUP_OPEN: &[u8] = b"\":[";
/// What closes a group's array.
pub(crate) const GROUP_CLOSE: &[u8] = b"]";
/// What separates groups, and records in a group.
pub(crate) const COMMA: &[u8] = b",";

const TOPIC: &[u8] = b"{\"topic\":\"";
const PARTITION: &[u8] = b"\",\"partition\":";
const OFFSET: &[u8] = b",\"offset\":";
const TIMESTAMP: &[u8; 13] = b",\"timestamp\":";
const TIMESTAMP_TYPE: &[u8; 18] = b",\"timestampType\":\"";
// Each timestamp type with the quote that closes it.
const CREATE_TIME: &[u8; 12] = b"CREATE_TIME\"";
const LOG_APPEND_TIME: &[u8; 16] = b"LOG_APPEND_TIME\"";
// Magic 0 messages, with timestamp -1: Java's `TimestampType.NO_TIMESTAMP_TYPE`.
const NO_TIMESTAMP_TYPE: &[u8; 18] = b"NO_TIMESTAMP_TYPE\"";
/// Room for a record's offset, timestamp and timestamp type (see [`push_fields`]).
const FIELDS_MAX_LEN: usize =
    json::INT_MAX_LEN + TIMESTAMP.len() + json::INT_MAX_LEN + TIMESTAMP_TYPE.len() + 18;
const KEY: &[u8] = b",\"key\":\"";
const VALUE: &[u8] = b",\"value\":\"";
const QUOTE: &[u8] = b"\"";
const HEADERS: &[u8] = b",\"headers\":[";
const RECORD_CLOSE: &[u8] = b"]}";

const HEADER_OPEN: &[u8] = b"{\"";
const HEADER_COLON: &[u8] = b"\":";
const HEADER_NULL: &[u8] = b"null";
const HEADER_CLOSE: &[u8] = b"}";

/// `{"eventSource":"SelfManagedKafka","bootstrapServers":"...","records":{`: the event up
/// to its first group.
pub(crate) fn push_event_open(out: &mut Vec<u8>, bootstrap_servers: &str) {
    out.extend_from_slice(EVENT_OPEN);
    json::push_escaped(out, bootstrap_servers.as_bytes());
    out.extend_from_slice(EVENT_RECORDS);
}

/// `"<topic>-<partition>":[`, whose escaped topic is `topic_len` bytes long.
pub(crate) fn group_open_len(topic_len: usize, partition: i32) -> usize {
    QUOTE.len() + topic_len + GROUP_DASH.len() + json::int_len(partition.into()) + GROUP_OPEN.len()
}

pub(crate) fn push_group_open(out: &mut Vec<u8>, topic: &str, partition: i32) {
    out.extend_from_slice(QUOTE);
    json::push_escaped(out, topic.as_bytes());
    out.extend_from_slice(GROUP_DASH);
    json::push_int(out, partition.into());
    out.extend_from_slice(GROUP_OPEN);
}

/// `{"topic":"...","partition":N,"offset":`: what every record of a group starts with.
pub(crate) fn record_head_len(topic_len: usize, partition: i32) -> usize {
    TOPIC.len() + topic_len + PARTITION.len() + json::int_len(partition.into()) + OFFSET.len()
}

pub(crate) fn push_record_head(out: &mut Vec<u8>, topic: &str, partition: i32) {
    out.extend_from_slice(TOPIC);
    json::push_escaped(out, topic.as_bytes());
    out.extend_from_slice(PARTITION);
    json::push_int(out, partition.into());
    out.extend_from_slice(OFFSET);
}

/// The timestamp type's name and closing quote.
fn timestamp_type(t: TimestampType) -> &'static [u8] {
    match t {
        TimestampType::CreateTime => CREATE_TIME,
        TimestampType::LogAppendTime => LOG_APPEND_TIME,
        TimestampType::NoTimestampType => NO_TIMESTAMP_TYPE,
    }
}

/// Copy `src` to the start of `dst`, a fixed-size copy; returns its length.
#[inline]
fn put<const N: usize>(dst: &mut [u8], src: &[u8; N]) -> usize {
    dst[..N].copy_from_slice(src);
    N
}

/// `<offset>,"timestamp":<timestamp>,"timestampType":"<type>"`: assembled on the stack
/// with fixed-size copies, so that it reaches the output in one copy.
#[inline]
fn push_fields(out: &mut Vec<u8>, record: &Record) {
    let mut buf = [0u8; FIELDS_MAX_LEN];
    let mut n = json::write_int(&mut buf, record.offset);
    n += put(&mut buf[n..], TIMESTAMP);
    n += json::write_int(&mut buf[n..], record.timestamp);
    n += put(&mut buf[n..], TIMESTAMP_TYPE);
    n += match record.timestamp_type {
        TimestampType::CreateTime => put(&mut buf[n..], CREATE_TIME),
        TimestampType::LogAppendTime => put(&mut buf[n..], LOG_APPEND_TIME),
        TimestampType::NoTimestampType => put(&mut buf[n..], NO_TIMESTAMP_TYPE),
    };
    out.extend_from_slice(&buf[..n]);
}

/// The length of `record` as JSON, whose group's record head is `head_len` bytes long.
pub(crate) fn record_len(head_len: usize, record: &Record) -> usize {
    let mut len = head_len
        + json::int_len(record.offset)
        + TIMESTAMP.len()
        + json::int_len(record.timestamp)
        + TIMESTAMP_TYPE.len()
        + timestamp_type(record.timestamp_type).len()
        + HEADERS.len()
        + RECORD_CLOSE.len();
    if let Some(key) = &record.key {
        len += KEY.len() + json::base64_len(key) + QUOTE.len();
    }
    if let Some(value) = &record.value {
        len += VALUE.len() + json::base64_len(value) + QUOTE.len();
    }
    if !record.headers.is_empty() {
        let mut headers = 0;
        for (key, value) in record.headers.slices() {
            headers += COMMA.len()
                + HEADER_OPEN.len()
                + json::lossy_escaped_len(key)
                + HEADER_COLON.len()
                + value.map_or(HEADER_NULL.len(), json::signed_array_len)
                + HEADER_CLOSE.len();
        }
        len += headers - COMMA.len();
    }
    len
}

/// Append `record` as JSON; `head` is its group's record head.
pub(crate) fn push_record(out: &mut Vec<u8>, head: &[u8], record: &Record) {
    out.extend_from_slice(head);
    push_fields(out, record);
    if let Some(key) = &record.key {
        out.extend_from_slice(KEY);
        json::push_base64(out, key);
        out.extend_from_slice(QUOTE);
    }
    if let Some(value) = &record.value {
        out.extend_from_slice(VALUE);
        json::push_base64(out, value);
        out.extend_from_slice(QUOTE);
    }
    out.extend_from_slice(HEADERS);
    if !record.headers.is_empty() {
        for (i, (key, value)) in record.headers.slices().enumerate() {
            if i > 0 {
                out.extend_from_slice(COMMA);
            }
            out.extend_from_slice(HEADER_OPEN);
            json::push_lossy_escaped(out, key);
            out.extend_from_slice(HEADER_COLON);
            match value {
                Some(v) => json::push_signed_array(out, v),
                None => out.extend_from_slice(HEADER_NULL),
            }
            out.extend_from_slice(HEADER_CLOSE);
        }
    }
    out.extend_from_slice(RECORD_CLOSE);
}

/// The length of the event with no records, for `bootstrap_servers`.
pub(crate) fn empty_event_len(bootstrap_servers: &str) -> usize {
    EVENT_OPEN.len()
        + json::escaped_len(bootstrap_servers.as_bytes())
        + EVENT_RECORDS.len()
        + EVENT_CLOSE.len()
}
