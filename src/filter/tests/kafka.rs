//! What a Kafka record offers filters beyond its JSON value: metadata fields, `key`,
//! `headers`, plain-string and absent values, and a set of filters ORed.

use crate::filter::{FilterSet, Pattern, RecordView};
use crate::kafka::protocol::records::{Record, RecordBatches, TimestampType};
use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record as KRecord, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType as KTimestampType,
};
use serde_json::json;

fn matches(pattern: &str, record: &RecordView<'_>) -> bool {
    Pattern::parse(pattern)
        .unwrap_or_else(|e| panic!("{pattern}: {e}"))
        .matches(record)
}

fn view(value: Option<&'static [u8]>) -> RecordView<'static> {
    RecordView {
        topic: "orders",
        partition: 3,
        offset: 15,
        timestamp: 1_545_084_650_987,
        timestamp_type: TimestampType::LogAppendTime,
        key: Some(b"customer-7"),
        value,
        headers: None,
    }
}

#[test]
fn metadata_fields_as_the_event_shows_them() {
    let r = view(Some(b"x"));
    assert!(matches(r#"{"topic":["orders"]}"#, &r));
    assert!(matches(r#"{"topic":[{"prefix":"ord"}]}"#, &r));
    assert!(!matches(r#"{"topic":["payments"]}"#, &r));
    assert!(matches(r#"{"partition":[3]}"#, &r));
    assert!(matches(r#"{"partition":[{"numeric":[">=",2,"<",4]}]}"#, &r));
    assert!(!matches(r#"{"partition":["3"]}"#, &r));
    assert!(matches(r#"{"offset":[{"numeric":[">",10]}]}"#, &r));
    assert!(matches(r#"{"timestamp":[1545084650987]}"#, &r));
    assert!(matches(r#"{"timestampType":["LOG_APPEND_TIME"]}"#, &r));
    assert!(!matches(r#"{"timestampType":["CREATE_TIME"]}"#, &r));
    assert!(matches(r#"{"topic":["orders"],"value":["x"]}"#, &r));
    assert!(!matches(r#"{"topic":["orders"],"value":["y"]}"#, &r));
}

#[test]
fn key_is_decoded_like_value() {
    let r = view(None);
    assert!(matches(r#"{"key":["customer-7"]}"#, &r));
    assert!(matches(r#"{"key":[{"prefix":"customer-"}]}"#, &r));
    let json_key = RecordView {
        key: Some(br#"{"customer":7}"#),
        ..r
    };
    assert!(matches(r#"{"key":{"customer":[7]}}"#, &json_key));
    assert!(!matches(r#"{"key":[{"prefix":"{"}]}"#, &json_key));
}

#[test]
fn plain_string_absent_and_odd_values() {
    // A JSON scalar is not a JSON document for filtering: it is matched as its text.
    assert!(matches(r#"{"value":["42"]}"#, &view(Some(b"42"))));
    assert!(!matches(r#"{"value":[42]}"#, &view(Some(b"42"))));
    assert!(matches(
        r#"{"value":["\"quoted\""]}"#,
        &view(Some(br#""quoted""#))
    ));
    assert!(matches(r#"{"value":[""]}"#, &view(Some(b""))));
    // A tombstone (null value) and non-UTF-8 bytes have no value.
    for r in [view(None), view(Some(&[0xff, 0xfe, b'{']))] {
        assert!(matches(r#"{"value":[{"exists":false}]}"#, &r));
        assert!(!matches(r#"{"value":[{"exists":true}]}"#, &r));
        assert!(!matches(r#"{"value":[{"anything-but":["error"]}]}"#, &r));
        assert!(!matches(r#"{"value":{"a":[1]}}"#, &r));
    }
    // A JSON array value: nested fields are looked up in each element.
    let arr = view(Some(br#"[{"kind":"order"},{"kind":"refund"}]"#));
    assert!(matches(r#"{"value":{"kind":["refund"]}}"#, &arr));
    assert!(!matches(r#"{"value":{"kind":["payment"]}}"#, &arr));
}

#[test]
fn empty_top_level_pattern_matches_everything() {
    assert!(matches("{}", &view(None)));
    assert!(matches("{}", &view(Some(b"anything"))));
}

#[test]
fn top_level_or_across_fields() {
    let p = r#"{"$or":[{"topic":["payments"]},{"value":{"kind":["order"]}}]}"#;
    assert!(matches(p, &view(Some(br#"{"kind":"order"}"#))));
    assert!(!matches(p, &view(Some(br#"{"kind":"refund"}"#))));
    let nested = r#"{"value":{"$or":[{"a":[1]},{"$or":[{"b":[2]},{"c":[{"exists":true}]}]}]}}"#;
    assert!(matches(nested, &view(Some(br#"{"c":null}"#))));
    assert!(matches(nested, &view(Some(br#"{"b":2}"#))));
    assert!(!matches(nested, &view(Some(br#"{"b":3}"#))));
}

fn filters(patterns: &[serde_json::Value]) -> Vec<String> {
    patterns.iter().map(ToString::to_string).collect()
}

#[test]
fn a_set_matches_everything_when_empty_and_ors_its_filters() {
    let none = FilterSet::parse::<&str>(&[]).unwrap();
    assert!(none.is_empty());
    assert!(none.matches(&view(None)));

    let set = FilterSet::parse(&filters(&[
        json!({"value": {"kind": ["order"]}}),
        json!({"value": [{"prefix": "PING"}]}),
    ]))
    .unwrap();
    assert_eq!(set.len(), 2);
    assert!(set.matches(&view(Some(br#"{"kind":"order"}"#))));
    assert!(set.matches(&view(Some(b"PING 1"))));
    assert!(!set.matches(&view(Some(br#"{"kind":"refund"}"#))));
    assert!(!set.matches(&view(Some(b"PONG"))));

    let errors = FilterSet::parse(&filters(&[
        json!({"value": ["ok"]}),
        json!({"value": [{"numeric": ["<"]}]}),
    ]))
    .unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].index, 1);
    assert!(
        errors[0]
            .to_string()
            .starts_with("FilterCriteria.Filters[1].Pattern: at value: \"numeric\""),
        "{}",
        errors[0]
    );
}

/// A record decoded from a real v2 batch, with headers.
fn decoded_record() -> Record {
    let mut headers = IndexMap::new();
    headers.insert(
        StrBytes::from_static_str("source"),
        Some(Bytes::from_static(b"web")),
    );
    headers.insert(StrBytes::from_static_str("trace"), None);
    let r = KRecord {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: KTimestampType::Creation,
        offset: 7,
        sequence: -1,
        timestamp: 1_700_000_000_000,
        key: Some(Bytes::from_static(b"k")),
        value: Some(Bytes::from_static(br#"{"kind":"order"}"#)),
        headers,
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &[r],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    let batch = RecordBatches::new(buf.freeze()).next().unwrap().unwrap();
    batch.records().unwrap().next().unwrap().unwrap()
}

#[test]
fn headers_and_records_from_the_wire() {
    let record = decoded_record();
    let r = RecordView::new("orders", 0, &record);
    assert_eq!(r.offset, 7);
    assert!(matches(r#"{"value":{"kind":["order"]}}"#, &r));
    assert!(matches(r#"{"key":["k"]}"#, &r));
    assert!(matches(r#"{"timestampType":["CREATE_TIME"]}"#, &r));
    // As in the event: each header an object of its name and its bytes (signed).
    assert!(matches(r#"{"headers":{"source":[{"exists":true}]}}"#, &r));
    assert!(matches(r#"{"headers":{"source":[119]}}"#, &r));
    assert!(matches(r#"{"headers":{"trace":[null]}}"#, &r));
    assert!(matches(r#"{"headers":{"missing":[{"exists":false}]}}"#, &r));
    assert!(!matches(r#"{"headers":{"missing":[{"exists":true}]}}"#, &r));
}
