//! Tests of the event encoder: AWS's sample events re-encoded byte for byte, property
//! tests against an independent serde_json encoding (exact sizes, parse round trip,
//! sub-events equal to fresh encodings), invalid UTF-8 header keys, and the zero-copy
//! hand-over to the Lambda SDK. Records come from real v2 record batches built below and
//! decoded by the wire layer's `RecordBatches`.

use std::collections::HashSet;

use base64::Engine as _;
use bytes::Bytes;
use proptest::prelude::*;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use super::*;
use crate::kafka::protocol::records::{Headers, Record, RecordBatches, TimestampType};

// ---------------------------------------------------------------------------------------
// Record batches

/// One record to put in a batch.
#[derive(Debug, Clone)]
struct Spec {
    offset: i64,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Spec {
    fn new(offset: i64, timestamp: i64) -> Self {
        Self {
            offset,
            timestamp,
            key: None,
            value: None,
            headers: Vec::new(),
        }
    }
}

fn varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn varbytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            varint(out, b.len() as i64);
            out.extend_from_slice(b);
        }
        None => varint(out, -1),
    }
}

/// A v2 record batch of `specs` (non-empty, offsets increasing), as a broker sends it.
fn batch(specs: &[Spec], log_append_time: bool) -> Bytes {
    let (base_offset, base_ts) = (specs[0].offset, specs[0].timestamp);
    let max_ts = specs.iter().map(|s| s.timestamp).max().unwrap();
    let mut records = Vec::new();
    for s in specs {
        let mut body = vec![0u8];
        varint(&mut body, s.timestamp - base_ts);
        varint(&mut body, s.offset - base_offset);
        varbytes(&mut body, s.key.as_deref());
        varbytes(&mut body, s.value.as_deref());
        varint(&mut body, s.headers.len() as i64);
        for (k, v) in &s.headers {
            varbytes(&mut body, Some(k));
            varbytes(&mut body, v.as_deref());
        }
        varint(&mut records, body.len() as i64);
        records.extend(body);
    }
    let mut tail = Vec::new();
    tail.extend(i16::from(log_append_time).wrapping_mul(0x08).to_be_bytes());
    tail.extend(((specs.last().unwrap().offset - base_offset) as i32).to_be_bytes());
    tail.extend(base_ts.to_be_bytes());
    tail.extend(max_ts.to_be_bytes());
    tail.extend((-1i64).to_be_bytes());
    tail.extend((-1i16).to_be_bytes());
    tail.extend((-1i32).to_be_bytes());
    tail.extend((specs.len() as i32).to_be_bytes());
    tail.extend(records);
    let mut out = Vec::new();
    out.extend(base_offset.to_be_bytes());
    out.extend(((4 + 1 + 4 + tail.len()) as i32).to_be_bytes());
    out.extend(0i32.to_be_bytes());
    out.push(2);
    out.extend(crc32c::crc32c(&tail).to_be_bytes());
    out.extend(tail);
    Bytes::from(out)
}

/// The records of a batch of `specs`, decoded by the wire layer.
fn records(specs: &[Spec], log_append_time: bool) -> Vec<Record> {
    RecordBatches::new(batch(specs, log_append_time))
        .flat_map(|b| b.unwrap().records().unwrap())
        .map(Result::unwrap)
        .collect()
}

fn record(spec: Spec) -> Record {
    records(&[spec], false).pop().unwrap()
}

// ---------------------------------------------------------------------------------------
// An independent encoding: serde_json over plain structs, in AWS's key order.

/// Java's `new String(bytes, UTF_8)` (`String.decodeUTF8_UTF16` of JDK 17 to 25), ported
/// line by line: the oracle for header keys, independent of `json.rs`'s formulation. (The
/// port and `json.rs` were both checked against real JVMs on 200,000 ill-formed inputs.)
fn java_string(src: &[u8]) -> String {
    const REPL: char = '\u{FFFD}';
    let b = |i: usize| i32::from(src[i] as i8);
    let not_cont = |b: i32| (b & 0xc0) != 0x80;
    let e0 = i32::from(0xe0u8 as i8);
    let mut out = String::new();
    let (mut sp, sl) = (0, src.len());
    while sp < sl {
        let b1 = b(sp);
        sp += 1;
        if b1 >= 0 {
            out.push(char::from(b1 as u8));
        } else if (b1 >> 5) == -2 && (b1 & 0x1e) != 0 {
            if sp < sl {
                let b2 = b(sp);
                sp += 1;
                if not_cont(b2) {
                    out.push(REPL);
                    sp -= 1;
                } else {
                    out.push(char::from_u32((((b1 & 0x1f) << 6) | (b2 & 0x3f)) as u32).unwrap());
                }
                continue;
            }
            out.push(REPL);
            break;
        } else if (b1 >> 4) == -2 {
            if sp + 1 < sl {
                let (b2, b3) = (b(sp), b(sp + 1));
                sp += 2;
                if (b1 == e0 && (b2 & 0xe0) == 0x80) || not_cont(b2) || not_cont(b3) {
                    out.push(REPL);
                    sp -= 3;
                    // malformed3
                    let (m1, m2) = (b(sp), b(sp + 1));
                    sp += if (m1 == e0 && (m2 & 0xe0) == 0x80) || not_cont(m2) {
                        1
                    } else {
                        2
                    };
                } else {
                    let c = ((b1 & 0x0f) << 12) | ((b2 & 0x3f) << 6) | (b3 & 0x3f);
                    out.push(char::from_u32(c as u32).unwrap_or(REPL));
                }
                continue;
            }
            if sp < sl && ((b1 == e0 && (b(sp) & 0xe0) == 0x80) || not_cont(b(sp))) {
                out.push(REPL);
                continue;
            }
            out.push(REPL);
            break;
        } else if (b1 >> 3) == -2 {
            if sp + 2 < sl {
                let (b2, b3, b4) = (b(sp), b(sp + 1), b(sp + 2));
                sp += 3;
                let uc =
                    ((b1 & 0x07) << 18) | ((b2 & 0x3f) << 12) | ((b3 & 0x3f) << 6) | (b4 & 0x3f);
                if not_cont(b2)
                    || not_cont(b3)
                    || not_cont(b4)
                    || !(0x10000..0x110000).contains(&uc)
                {
                    out.push(REPL);
                    sp -= 4;
                    // malformed4
                    let (m1, m2) = (b(sp) & 0xff, b(sp + 1) & 0xff);
                    sp += if m1 > 0xf4
                        || (m1 == 0xf0 && !(0x90..=0xbf).contains(&m2))
                        || (m1 == 0xf4 && (m2 & 0xf0) != 0x80)
                        || not_cont(m2)
                    {
                        1
                    } else if not_cont(b(sp + 2)) {
                        2
                    } else {
                        3
                    };
                } else {
                    out.push(char::from_u32(uc as u32).unwrap());
                }
                continue;
            }
            let b1 = b1 & 0xff;
            if b1 > 0xf4
                || (sp < sl && {
                    let b2 = b(sp) & 0xff;
                    (b1 == 0xf0 && !(0x90..=0xbf).contains(&b2))
                        || (b1 == 0xf4 && (b2 & 0xf0) != 0x80)
                        || not_cont(b2)
                })
            {
                out.push(REPL);
                continue;
            }
            sp += 1;
            out.push(REPL);
            if sp < sl && not_cont(b(sp)) {
                continue;
            }
            break;
        } else {
            out.push(REPL);
        }
    }
    out
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelEvent<'a> {
    event_source: &'static str,
    bootstrap_servers: &'a str,
    records: ModelGroups,
}

/// Groups in event order (a serde_json `Map` would sort them).
struct ModelGroups(Vec<(String, Vec<ModelRecord>)>);

impl Serialize for ModelGroups {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelRecord {
    topic: String,
    partition: i32,
    offset: i64,
    timestamp: i64,
    timestamp_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    headers: Vec<ModelHeader>,
}

struct ModelHeader(String, Option<Vec<i8>>);

impl Serialize for ModelHeader {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(&self.0, &self.1)?;
        map.end()
    }
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn model_record(topic: &str, partition: i32, r: &Record) -> ModelRecord {
    ModelRecord {
        topic: topic.to_owned(),
        partition,
        offset: r.offset,
        timestamp: r.timestamp,
        timestamp_type: match r.timestamp_type {
            TimestampType::CreateTime => "CREATE_TIME",
            TimestampType::LogAppendTime => "LOG_APPEND_TIME",
            TimestampType::NoTimestampType => "NO_TIMESTAMP_TYPE",
        },
        key: r.key.as_deref().map(b64),
        value: r.value.as_deref().map(b64),
        headers: r
            .headers
            .clone()
            .map(|(k, v)| {
                ModelHeader(
                    java_string(&k),
                    v.map(|v| v.iter().map(|&b| b as i8).collect()),
                )
            })
            .collect(),
    }
}

/// serde_json's encoding of the event holding `records` (event order: group by group).
fn model(servers: &str, records: &[(String, i32, Record)]) -> Vec<u8> {
    let mut groups: Vec<(String, Vec<ModelRecord>)> = Vec::new();
    for (topic, partition, r) in records {
        let key = format!("{topic}-{partition}");
        let rec = model_record(topic, *partition, r);
        match groups.last_mut() {
            Some((k, v)) if *k == key => v.push(rec),
            _ => groups.push((key, vec![rec])),
        }
    }
    serde_json::to_vec(&ModelEvent {
        event_source: "SelfManagedKafka",
        bootstrap_servers: servers,
        records: ModelGroups(groups),
    })
    .unwrap()
}

/// A fresh encoding of `records`, pushed in order.
fn encode(enc: &mut EventEncoder, records: &[(String, i32, Record)]) -> Event {
    for (topic, partition, r) in records {
        enc.push(topic, *partition, r.clone()).unwrap();
    }
    enc.finish()
}

/// Same payload and same layout.
fn assert_same(a: &Event, b: &Event) {
    assert_eq!(
        String::from_utf8_lossy(a.as_bytes()),
        String::from_utf8_lossy(b.as_bytes())
    );
    assert_eq!(a.payload(), b.payload());
    assert_eq!(a.len(), b.len());
    assert_eq!(a.record_count(), b.record_count());
    assert_eq!(a.group_count(), b.group_count());
    for (ga, gb) in a.groups().zip(b.groups()) {
        assert_eq!(ga.key_json(), gb.key_json());
        assert_eq!(ga.topic_json(), gb.topic_json());
        assert_eq!(ga.partition(), gb.partition());
        assert_eq!(ga.records(), gb.records());
        assert!(ga.offsets().eq(gb.offsets()));
    }
    for i in 0..a.record_count() {
        assert_eq!(a.record(i), b.record(i));
        assert_eq!(a.record_json(i), b.record_json(i));
    }
}

// ---------------------------------------------------------------------------------------
// AWS's sample events

/// Whitespace outside strings removed.
fn minify(json: &str) -> String {
    let (mut out, mut in_string, mut escaped) = (String::new(), false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !c.is_whitespace() {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

/// Decode base64 that may set bits the padding drops (as AWS's sample key does).
fn lenient_b64(s: &str) -> Vec<u8> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    engine.decode(s).unwrap()
}

/// The sample event of SPEC.md §2.
const SPEC_SAMPLE: &str = r#"{ "eventSource": "SelfManagedKafka",
  "bootstrapServers": "b-2.example:9092,b-1.example:9092",
  "records": {
    "mytopic-0": [
      { "topic": "mytopic", "partition": 0, "offset": 15,
        "timestamp": 1545084650987, "timestampType": "CREATE_TIME",
        "key": "abcDEFghiJKLmnoPQRstuVWXyz1234==",
        "value": "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==",
        "headers": [ { "headerKey": [104, 101, 97, 100, 101, 114, 86, 97, 108, 117, 101] } ] } ] } }"#;

/// The sample event of AWS's self-managed Kafka page (seeds/000, as it is printed there).
const AWS_SAMPLE: &str = r#"{ "eventSource": "SelfManagedKafka", "bootstrapServers":"b-2.demo-cluster-1.a1bcde.c1.kafka.us-east-1.amazonaws.com:9092,b-1.demo-cluster-1.a1bcde.c1.kafka.us-east-1.amazonaws.com:9092", "records":{ "mytopic-0":[ { "topic":"mytopic", "partition":0, "offset":15, "timestamp":1545084650987, "timestampType":"CREATE_TIME", "key":"abcDEFghiJKLmnoPQRstuVWXyz1234==", "value":"SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==", "headers":[ { "headerKey":[ 104, 101, 97, 100, 101, 114, 86, 97, 108, 117, 101 ] } ] } ] } }"#;

/// The sample's key is a placeholder no bytes encode to: its last quantum `34==` sets bits
/// that padding drops. The bytes it stands for encode canonically as `...123w==`.
const SAMPLE_KEY: &str = "abcDEFghiJKLmnoPQRstuVWXyz1234==";
const SAMPLE_KEY_CANONICAL: &str = "abcDEFghiJKLmnoPQRstuVWXyz123w==";

/// Re-encode the sample event `sample` from the record it describes, read off the sample
/// itself.
fn reencode_sample(sample: &str) -> (String, String) {
    let v: Value = serde_json::from_str(sample).unwrap();
    let rec = &v["records"]["mytopic-0"][0];
    let mut spec = Spec::new(
        rec["offset"].as_i64().unwrap(),
        rec["timestamp"].as_i64().unwrap(),
    );
    spec.key = Some(lenient_b64(rec["key"].as_str().unwrap()));
    spec.value = Some(lenient_b64(rec["value"].as_str().unwrap()));
    let header = rec["headers"][0]["headerKey"].as_array().unwrap();
    spec.headers = vec![(
        b"headerKey".to_vec(),
        Some(header.iter().map(|b| b.as_i64().unwrap() as u8).collect()),
    )];
    let mut enc = EventEncoder::new(v["bootstrapServers"].as_str().unwrap());
    enc.push("mytopic", 0, record(spec)).unwrap();
    let predicted = enc.len();
    let event = enc.finish();
    assert_eq!(event.len(), predicted);
    let expected = minify(sample).replace(SAMPLE_KEY, SAMPLE_KEY_CANONICAL);
    (
        String::from_utf8(event.payload().to_vec()).unwrap(),
        expected,
    )
}

#[test]
fn sample_key_is_the_only_non_canonical_part() {
    assert_eq!(lenient_b64(SAMPLE_KEY), lenient_b64(SAMPLE_KEY_CANONICAL));
    assert_eq!(b64(&lenient_b64(SAMPLE_KEY)), SAMPLE_KEY_CANONICAL);
    assert!(
        base64::engine::general_purpose::STANDARD
            .decode(SAMPLE_KEY)
            .is_err()
    );
}

#[test]
fn spec_sample_event_byte_for_byte() {
    let (got, expected) = reencode_sample(SPEC_SAMPLE);
    assert_eq!(got, expected);
}

#[test]
fn aws_sample_event_byte_for_byte() {
    let (got, expected) = reencode_sample(AWS_SAMPLE);
    assert_eq!(got, expected);
    assert!(got.starts_with(r#"{"eventSource":"SelfManagedKafka","bootstrapServers":"b-2.demo"#));
}

/// The event inside the sample Kafka on-failure record (seeds/003): an MSK event whose
/// keys a serializer sorted. Its records must mean the same as ours, `"headers":[]` for
/// a record without headers included.
#[test]
fn destination_sample_records_match() {
    const PAYLOAD_RECORDS: &str = r#"{ "my-topic-0": [ { "headers": [], "key": "dGVzdC1rZXk=", "offset": 100, "partition": 0, "timestamp": 1749116692330, "timestampType": "CREATE_TIME", "topic": "my-topic", "value": "dGVzdC12YWx1ZQ==" } ] }"#;
    let mut spec = Spec::new(100, 1_749_116_692_330);
    spec.key = Some(b"test-key".to_vec());
    spec.value = Some(b"test-value".to_vec());
    let mut enc = EventEncoder::new("b-1.mycluster.abc123.kafka.us-east-1.amazonaws.com:9098");
    enc.push("my-topic", 0, record(spec)).unwrap();
    let ours: Value = serde_json::from_slice(enc.finish().as_bytes()).unwrap();
    let theirs: Value = serde_json::from_str(PAYLOAD_RECORDS).unwrap();
    assert_eq!(ours["records"], theirs);
}

// ---------------------------------------------------------------------------------------
// Unit tests

fn header_keys_json(key: &[u8]) -> (Vec<u8>, Value) {
    let mut spec = Spec::new(0, 0);
    spec.headers = vec![(key.to_vec(), Some(vec![1]))];
    let mut enc = EventEncoder::new("b:9092");
    let r = record(spec);
    let predicted = enc.added_len("t", 0, &r);
    assert_eq!(enc.push("t", 0, r).unwrap(), predicted);
    let event = enc.finish();
    let json = event.record_json(0).unwrap().to_vec();
    let v: Value = serde_json::from_slice(event.as_bytes()).unwrap();
    (json, v["records"]["t-0"][0]["headers"][0].clone())
}

#[test]
fn invalid_utf8_header_keys_become_replacement_characters() {
    let cases: &[(&[u8], &str)] = &[
        (b"\xff", "\u{FFFD}"),
        (b"ok\xc3", "ok\u{FFFD}"),
        (b"\xf0\x9f\x98\x80\xf0\x9f\x98", "\u{1F600}\u{FFFD}"),
        (b"\xe0\x80\x80", "\u{FFFD}\u{FFFD}\u{FFFD}"),
        // Java's quirk: an encoded surrogate is one replacement.
        (b"a\xed\xa0\x80b", "a\u{FFFD}b"),
        (b"\xc3\xab\"\\\x00", "\u{eb}\"\\\u{0}"),
    ];
    for (key, expected) in cases {
        let (json, header) = header_keys_json(key);
        let obj = header.as_object().unwrap();
        assert_eq!(obj.len(), 1);
        let (k, v) = obj.iter().next().unwrap();
        assert_eq!(k, expected, "{key:x?}");
        assert_eq!(*k, java_string(key));
        assert_eq!(v, &serde_json::json!([1]));
        assert!(std::str::from_utf8(&json).is_ok());
    }
    let (json, _) = header_keys_json(b"\"\\\n\x1f\xff");
    let json = String::from_utf8(json).unwrap();
    assert!(json.contains(r#"{"\"\\\n\u001f�":[1]}"#), "{json}");
}

#[test]
fn headers_keep_order_duplicates_and_nulls() {
    let mut spec = Spec::new(7, 1);
    spec.headers = vec![
        (b"b".to_vec(), Some("ë".as_bytes().to_vec())),
        (b"a".to_vec(), None),
        (b"b".to_vec(), Some(vec![])),
        (b"".to_vec(), Some(vec![0, 127, 128, 255])),
    ];
    let mut enc = EventEncoder::new("b:9092");
    enc.push("t", 3, record(spec)).unwrap();
    let event = enc.finish();
    let json = std::str::from_utf8(event.record_json(0).unwrap()).unwrap();
    assert!(
        json.ends_with(r#""headers":[{"b":[-61,-85]},{"a":null},{"b":[]},{"":[0,127,-128,-1]}]}"#),
        "{json}"
    );
}

#[test]
fn null_key_and_value_are_omitted_and_types_named() {
    let r = Record {
        offset: 5,
        timestamp: -1,
        timestamp_type: TimestampType::NoTimestampType,
        key: None,
        value: Some(Bytes::new()),
        headers: Headers::default(),
    };
    let mut enc = EventEncoder::new("b:9092");
    enc.push("t", 0, r).unwrap();
    let mut spec = Spec::new(6, 1_000);
    spec.key = Some(b"k".to_vec());
    for r in records(&[spec], true) {
        enc.push("t", 0, r).unwrap();
    }
    let event = enc.finish();
    assert_eq!(
        event.record_json(0).unwrap(),
        br#"{"topic":"t","partition":0,"offset":5,"timestamp":-1,"timestampType":"NO_TIMESTAMP_TYPE","value":"","headers":[]}"#
    );
    assert_eq!(
        event.record_json(1).unwrap(),
        br#"{"topic":"t","partition":0,"offset":6,"timestamp":1000,"timestampType":"LOG_APPEND_TIME","key":"aw==","headers":[]}"#
    );
}

#[test]
fn empty_event() {
    let mut enc = EventEncoder::new("a:1,\"b\":2");
    assert_eq!(enc.len(), enc.finish().len());
    let event = enc.finish();
    assert_eq!(
        event.as_bytes(),
        br#"{"eventSource":"SelfManagedKafka","bootstrapServers":"a:1,\"b\":2","records":{}}"#
    );
    assert!(event.is_empty());
    assert_eq!(event.group_count(), 0);
    assert!(event.slice(0..0).unwrap().as_bytes() == event.as_bytes());
}

#[test]
fn offsets_must_increase_within_a_partition() {
    let mut enc = EventEncoder::new("b:9092");
    let rs = records(&[Spec::new(10, 0), Spec::new(11, 0)], false);
    enc.push("t", 0, rs[1].clone()).unwrap();
    enc.push("t", 1, rs[0].clone()).unwrap();
    let len = enc.len();
    assert_eq!(
        enc.push("t", 0, rs[0].clone()),
        Err(EncodeError::OffsetNotIncreasing {
            partition: 0,
            offset: 10,
            previous: 11
        })
    );
    assert_eq!(
        enc.push("t", 0, rs[1].clone()),
        Err(EncodeError::OffsetNotIncreasing {
            partition: 0,
            offset: 11,
            previous: 11
        })
    );
    assert_eq!(enc.len(), len);
    assert_eq!(enc.record_count(), 2);
    assert_eq!(enc.finish().len(), len);
}

fn three_groups() -> (Event, Vec<(String, i32, Record)>) {
    let mut all = Vec::new();
    for (topic, partition, n) in [("a", 0, 3), ("b\"", 0, 1), ("a", 1, 2)] {
        let specs: Vec<Spec> = (0..n).map(|i| Spec::new(100 + 2 * i, 5)).collect();
        for r in records(&specs, false) {
            all.push((topic.to_owned(), partition, r));
        }
    }
    let event = encode(&mut EventEncoder::new("b:9092"), &all);
    (event, all)
}

#[test]
fn groups_are_found_and_described() {
    let (event, _) = three_groups();
    assert_eq!(event.group_count(), 3);
    let b = event.find_group("b\"", 0).unwrap();
    assert_eq!(b.index(), 1);
    assert_eq!(b.key_json(), br#""b\"-0""#);
    assert_eq!(b.topic_json(), br#"b\""#);
    assert_eq!(b.records(), 3..4);
    assert!(event.find_group("b", 0).is_none());
    assert!(event.find_group("a", 2).is_none());
    let a1 = event.find_group("a", 1).unwrap();
    assert!(a1.offsets().eq([100, 102]));
    assert_eq!(a1.record(1).unwrap().offset, 102);
    assert_eq!(a1.position(99), 0);
    assert_eq!(a1.position(100), 0);
    assert_eq!(a1.position(101), 1);
    assert_eq!(a1.position(102), 1);
    assert_eq!(a1.position(103), 2);
}

#[test]
fn selection_errors() {
    let (event, _) = three_groups();
    assert_eq!(
        event.slice(2..7).unwrap_err(),
        SelectError::RecordsOutOfRange {
            group: None,
            start: 2,
            end: 7,
            len: 6
        }
    );
    let part = |group, records| GroupRange { group, records };
    assert_eq!(
        event.select(&[part(3, 0..1)]).unwrap_err(),
        SelectError::NoSuchGroup {
            group: 3,
            groups: 3
        }
    );
    assert_eq!(
        event.select(&[part(0, 1..4)]).unwrap_err(),
        SelectError::RecordsOutOfRange {
            group: Some(0),
            start: 1,
            end: 4,
            len: 3
        }
    );
    assert_eq!(
        event.select(&[part(0, 0..1), part(0, 1..2)]).unwrap_err(),
        SelectError::DuplicateGroup { group: 0 }
    );
}

#[test]
fn partial_batch_response_retry() {
    // The function failed offset 102 of a-0 and 102 of a-1: retry from there.
    let (event, all) = three_groups();
    let parts: Vec<GroupRange> = [("a", 0, 102), ("a", 1, 102)]
        .iter()
        .map(|&(t, p, offset)| {
            let g = event.find_group(t, p).unwrap();
            GroupRange {
                group: g.index(),
                records: g.position(offset)..g.len(),
            }
        })
        .collect();
    let retry = event.select(&parts).unwrap();
    let kept: Vec<_> = [all[1].clone(), all[2].clone(), all[5].clone()].to_vec();
    assert_same(&retry, &encode(&mut EventEncoder::new("b:9092"), &kept));
}

#[test]
fn whole_selections_share_the_buffer() {
    let (event, _) = three_groups();
    let whole = event.slice(0..event.record_count()).unwrap();
    assert_eq!(whole.payload().as_ptr(), event.payload().as_ptr());
    let parts: Vec<GroupRange> = event
        .groups()
        .map(|g| GroupRange {
            group: g.index(),
            records: 0..g.len(),
        })
        .collect();
    let whole = event.select(&parts).unwrap();
    assert_eq!(whole.payload().as_ptr(), event.payload().as_ptr());
}

/// The payload reaches the Lambda SDK without a copy: `Blob` (aws-smithy-types 1.9) holds
/// `Bytes`, and `from_maybe_shared` takes them as they are, while `Blob::new` goes through
/// `Vec<u8>`, which copies a buffer that is still shared (as it is while the engine keeps
/// the event for a retry).
#[test]
fn payload_becomes_a_blob_without_a_copy() {
    use aws_sdk_lambda::primitives::Blob;
    let (event, _) = three_groups();
    let payload = event.payload();
    let blob = Blob::from_maybe_shared(payload.clone());
    assert_eq!(blob.as_ref().as_ptr(), payload.as_ptr());
    assert_eq!(blob.clone().into_bytes().as_ptr(), payload.as_ptr());
    let copied = Blob::new(payload.clone());
    assert_ne!(copied.as_ref().as_ptr(), payload.as_ptr());
    assert_eq!(copied.as_ref(), payload.as_ref());
}

#[test]
fn max_payload_is_six_mebibytes() {
    assert_eq!(MAX_PAYLOAD_BYTES, 6_291_456);
}

#[test]
fn a_batch_closes_at_the_payload_limit() {
    // Records of 1 MiB: an engine adding while the event stays within the limit.
    let mut enc = EventEncoder::new("b:9092");
    let specs: Vec<Spec> = (0..10)
        .map(|i| {
            let mut s = Spec::new(i, 0);
            s.value = Some(vec![b'x'; 1 << 20]);
            s
        })
        .collect();
    let mut pushed = 0;
    for r in records(&specs, false) {
        if enc.len() + enc.added_len("t", 0, &r) > MAX_PAYLOAD_BYTES {
            break;
        }
        enc.push("t", 0, r).unwrap();
        pushed += 1;
    }
    // 4/3 MiB of base64 each: four fit, a fifth would not.
    assert_eq!(pushed, 4);
    let event = enc.finish();
    assert!(event.len() <= MAX_PAYLOAD_BYTES);
    assert!(event.len() + 4 * (1 << 20) / 3 > MAX_PAYLOAD_BYTES);
}

// ---------------------------------------------------------------------------------------
// Properties

fn topic() -> impl Strategy<Value = String> {
    let chars = vec![
        'a', 'Z', '0', '.', '_', '-', '"', '\\', '/', '\u{0}', '\u{1f}', '\n', '\t', '\u{7f}', 'é',
        '€', '😀', '\u{2028}',
    ];
    prop::collection::vec(prop::sample::select(chars), 0..10).prop_map(String::from_iter)
}

fn some_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let interesting = prop::sample::select(vec![
        0x00u8, b'"', b'\\', b'\n', 0x7f, 0x80, 0xa0, 0xbf, 0xc3, 0xab, 0xe0, 0xed, 0xf0, 0x9f,
        0xf4, 0xff,
    ]);
    prop::collection::vec(prop_oneof![any::<u8>(), interesting, 0x20u8..0x7f], 0..max)
}

fn spec() -> impl Strategy<Value = (i64, i64, Spec)> {
    (
        1..1_000i64,
        prop_oneof![Just(-1i64), 0..2_000_000_000_000i64],
        prop::option::weighted(0.8, some_bytes(40)),
        prop::option::weighted(0.9, some_bytes(200)),
        prop::collection::vec(
            (some_bytes(10), prop::option::weighted(0.8, some_bytes(12))),
            0..4,
        ),
    )
        .prop_map(|(gap, timestamp, key, value, headers)| {
            let spec = Spec {
                offset: 0,
                timestamp,
                key,
                value,
                headers,
            };
            (gap, timestamp, spec)
        })
}

#[derive(Debug, Clone)]
struct GroupCase {
    topic: String,
    partition: i32,
    log_append_time: bool,
    base_offset: i64,
    specs: Vec<Spec>,
}

fn group_case() -> impl Strategy<Value = GroupCase> {
    (
        topic(),
        prop_oneof![0..4i32, any::<i32>()],
        any::<bool>(),
        0..1_000_000_000_000i64,
        prop::collection::vec(spec(), 1..6),
    )
        .prop_map(|(topic, partition, log_append_time, base_offset, specs)| {
            let mut offset = base_offset;
            let specs = specs
                .into_iter()
                .map(|(gap, _, mut s)| {
                    offset += gap;
                    s.offset = offset;
                    s
                })
                .collect();
            GroupCase {
                topic,
                partition,
                log_append_time,
                base_offset,
                specs,
            }
        })
}

#[derive(Debug, Clone)]
struct Case {
    servers: String,
    groups: Vec<GroupCase>,
    /// Which group each push takes its next record from (modulo the groups left).
    order: Vec<prop::sample::Index>,
    /// Two event-wide indices, for a slice.
    cut: (prop::sample::Index, prop::sample::Index),
    /// (group, start, end) picks, for a selection.
    picks: Vec<(
        prop::sample::Index,
        prop::sample::Index,
        prop::sample::Index,
    )>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        topic(),
        prop::collection::vec(group_case(), 0..4),
        prop::collection::vec(any::<prop::sample::Index>(), 0..24),
        any::<(prop::sample::Index, prop::sample::Index)>(),
        prop::collection::vec(
            any::<(
                prop::sample::Index,
                prop::sample::Index,
                prop::sample::Index,
            )>(),
            0..4,
        ),
    )
        .prop_map(|(servers, mut groups, order, cut, picks)| {
            let mut seen = HashSet::new();
            groups.retain(|g| seen.insert((g.topic.clone(), g.partition)));
            Case {
                servers,
                groups,
                order,
                cut,
                picks,
            }
        })
}

fn check_parsed(event: &Event, servers: &str, ordered: &[(String, i32, Record)], specs: &[&Spec]) {
    let v: Value = serde_json::from_slice(event.as_bytes()).unwrap();
    assert_eq!(v["eventSource"], "SelfManagedKafka");
    assert_eq!(v["bootstrapServers"], servers);
    let groups = v["records"].as_object().unwrap();
    assert_eq!(groups.len(), event.group_count());
    let mut at = std::collections::HashMap::<String, usize>::new();
    for ((topic, partition, r), spec) in ordered.iter().zip(specs) {
        let key = format!("{topic}-{partition}");
        let i = at.entry(key.clone()).or_default();
        let rec = &groups[&key][*i];
        *i += 1;
        assert_eq!(rec["topic"], topic.as_str());
        assert_eq!(rec["partition"], *partition);
        assert_eq!(rec["offset"], spec.offset);
        assert_eq!(rec["timestamp"], r.timestamp);
        let decode = |field: &str| {
            rec.get(field).map(|s| {
                base64::engine::general_purpose::STANDARD
                    .decode(s.as_str().unwrap())
                    .unwrap()
            })
        };
        assert_eq!(decode("key"), spec.key);
        assert_eq!(decode("value"), spec.value);
        let headers = rec["headers"].as_array().unwrap();
        assert_eq!(headers.len(), spec.headers.len());
        for (h, (k, value)) in headers.iter().zip(&spec.headers) {
            let h = h.as_object().unwrap();
            assert_eq!(h.len(), 1);
            let (hk, hv) = h.iter().next().unwrap();
            assert_eq!(*hk, java_string(k));
            match value {
                None => assert!(hv.is_null()),
                Some(bytes) => {
                    let got: Vec<i8> = serde_json::from_value(hv.clone()).unwrap();
                    let expected: Vec<i8> = bytes.iter().map(|&b| b as i8).collect();
                    assert_eq!(got, expected);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn encodes_exactly_and_round_trips(case in case()) {
        // Each group's records, decoded from a batch of their own.
        let mut queues: Vec<(usize, std::collections::VecDeque<(Record, &Spec)>)> = case
            .groups
            .iter()
            .enumerate()
            .map(|(g, gc)| {
                let rs = records(&gc.specs, gc.log_append_time);
                (g, rs.into_iter().zip(&gc.specs).collect())
            })
            .collect();
        prop_assert!(case.groups.iter().all(|g| g.base_offset <= g.specs[0].offset));

        // Push them interleaved, checking every prediction.
        let mut enc = EventEncoder::new(&case.servers);
        let mut single = EventEncoder::new(&case.servers);
        let mut first_seen: Vec<usize> = Vec::new();
        let mut per_group: Vec<Vec<(Record, &Spec)>> = vec![Vec::new(); case.groups.len()];
        let mut order = case.order.iter();
        loop {
            queues.retain(|(_, q)| !q.is_empty());
            if queues.is_empty() {
                break;
            }
            let pick = order.next().map_or(0, |i| i.index(queues.len()));
            let (g, q) = &mut queues[pick];
            let (r, spec) = q.pop_front().unwrap();
            let gc = &case.groups[*g];
            let before = enc.len();
            let predicted = enc.added_len(&gc.topic, gc.partition, &r);
            let alone = enc.single_record_len(&gc.topic, gc.partition, &r);
            prop_assert_eq!(enc.push(&gc.topic, gc.partition, r.clone()), Ok(predicted));
            prop_assert_eq!(enc.len(), before + predicted);
            single.push(&gc.topic, gc.partition, r.clone()).unwrap();
            prop_assert_eq!(single.finish().len(), alone);
            if !first_seen.contains(g) {
                first_seen.push(*g);
            }
            per_group[*g].push((r, spec));
        }
        let ordered: Vec<(String, i32, Record)> = first_seen
            .iter()
            .flat_map(|&g| {
                let gc = &case.groups[g];
                per_group[g]
                    .iter()
                    .map(|(r, _)| (gc.topic.clone(), gc.partition, r.clone()))
            })
            .collect();
        let specs: Vec<&Spec> = first_seen
            .iter()
            .flat_map(|&g| per_group[g].iter().map(|(_, s)| *s))
            .collect();

        // Each group alone is its envelope plus its records' in-group sizes, exactly.
        for (g, gc) in case.groups.iter().enumerate() {
            if per_group[g].is_empty() {
                continue;
            }
            let mut alone = EventEncoder::new(&case.servers);
            let mut sized = enc.group_envelope_len(&gc.topic, gc.partition);
            for (r, _) in &per_group[g] {
                sized += enc.record_len_in_group(&gc.topic, gc.partition, r);
                alone.push(&gc.topic, gc.partition, r.clone()).unwrap();
            }
            prop_assert_eq!(alone.finish().len(), sized);
        }

        let predicted = enc.len();
        let count = enc.record_count();
        let event = enc.finish();
        prop_assert!(enc.is_empty());
        prop_assert_eq!(event.len(), predicted);
        prop_assert_eq!(event.payload().len(), predicted);
        prop_assert_eq!(event.record_count(), count);
        prop_assert_eq!(
            String::from_utf8(event.payload().to_vec()).unwrap(),
            String::from_utf8(model(&case.servers, &ordered)).unwrap()
        );
        check_parsed(&event, &case.servers, &ordered, &specs);
        for (i, (_, _, r)) in ordered.iter().enumerate() {
            prop_assert_eq!(event.record(i), Some(RecordInfo { offset: r.offset, timestamp: r.timestamp }));
        }
        for (g, &gi) in first_seen.iter().enumerate() {
            let gc = &case.groups[gi];
            prop_assert!(event.group(g).unwrap().is_topic(&gc.topic));
            prop_assert_eq!(event.find_group(&gc.topic, gc.partition).unwrap().index(), g);
        }

        // The encoder, reused, encodes the same event again.
        assert_same(&encode(&mut enc, &ordered), &event);

        // A slice equals a fresh encoding of its records, and so does a slice of it.
        let n = ordered.len();
        let (a, b) = (case.cut.0.index(n + 1), case.cut.1.index(n + 1));
        let (a, b) = (a.min(b), a.max(b));
        let sliced = event.slice(a..b).unwrap();
        assert_same(&sliced, &encode(&mut enc, &ordered[a..b]));
        let half = sliced.record_count() / 2;
        assert_same(&sliced.slice(half..sliced.record_count()).unwrap(), &encode(&mut enc, &ordered[a + half..b]));
        assert_same(&sliced.slice(0..half).unwrap(), &encode(&mut enc, &ordered[a..a + half]));

        // A selection equals a fresh encoding of its parts, in their order.
        if event.group_count() > 0 {
            let mut parts: Vec<GroupRange> = Vec::new();
            let mut kept = Vec::new();
            for (g, x, y) in &case.picks {
                let g = event.group(g.index(event.group_count())).unwrap();
                if parts.iter().any(|p| p.group == g.index()) {
                    continue;
                }
                let (x, y) = (x.index(g.len() + 1), y.index(g.len() + 1));
                let records = x.min(y)..x.max(y);
                kept.extend(ordered[g.records()][records.clone()].iter().cloned());
                parts.push(GroupRange { group: g.index(), records });
            }
            assert_same(&event.select(&parts).unwrap(), &encode(&mut enc, &kept));
        }
    }

    #[test]
    fn java_string_port_agrees_with_the_encoder(bytes in some_bytes(16)) {
        let (_, header) = header_keys_json(&bytes);
        let key = header.as_object().unwrap().keys().next().unwrap().clone();
        prop_assert_eq!(key, java_string(&bytes));
    }
}
