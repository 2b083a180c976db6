//! [`OnFailureRecord`]: the JSON document AWS Lambda writes to an on-failure destination
//! of a Kafka event source mapping (SPEC.md §7), field for field.
//!
//! Three shapes, as AWS's documentation shows them:
//! - SQS and SNS ([`OnFailureRecord::for_batch`]): metadata only, `KafkaBatchInfo` with
//!   `recordsInfo` per `"topic-partition"` (offsets as strings, timestamps ISO-8601).
//! - S3 ([`OnFailureRecord::with_event_text`]): the same plus `payload`, the whole event
//!   as a JSON string.
//! - `kafka://` ([`OnFailureRecord::for_record`]): one document per failed record,
//!   `KafkaBatchInfo` with `batchSize` 1 and `recordInfo` (`offset`, `timestamp`), and
//!   `payload` the event holding that record as a JSON object (AWS's Kafka-destination
//!   page shows an object, where the S3 page shows an escaped string).
//!
//! The condition is always `RetryAttemptsExhausted` or `MaximumPayloadSizeExceeded` (the
//! Kafka-destination page's `RetriesExhausted` disagrees with every other page and the
//! API; we keep one name). Built with serde: small, once per failure, not a hot path.

use super::{Failure, Origin};
use crate::lambda::Event;
use serde::Serialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// What the last invocation returned (`responseContext`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseContext {
    pub status_code: i32,
    /// `$LATEST`, a version number, or null when Lambda did not say.
    pub executed_version: Option<String>,
    /// `Handled` or `Unhandled`; absent when the function returned without an error
    /// (a partial batch response that kept failing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_error: Option<String>,
}

/// The document written to an on-failure destination. See the module docs.
#[derive(Debug, Serialize)]
pub struct OnFailureRecord {
    #[serde(rename = "requestContext")]
    pub request_context: RequestContext,
    /// Null for `MaximumPayloadSizeExceeded`: nothing was invoked.
    #[serde(rename = "responseContext")]
    pub response_context: Option<ResponseContext>,
    pub version: &'static str,
    /// When the batch was given up, `2019-11-14T00:38:06.021Z`.
    pub timestamp: String,
    #[serde(rename = "KafkaBatchInfo")]
    pub kafka_batch_info: KafkaBatchInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    /// A v4 UUID per failure.
    pub request_id: String,
    pub function_arn: String,
    pub condition: &'static str,
    pub approximate_invoke_count: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaBatchInfo {
    pub batch_size: usize,
    pub event_source_arn: String,
    pub bootstrap_servers: String,
    /// The event's size in bytes.
    pub payload_size: usize,
    /// Per `"topic-partition"` (SQS, SNS, S3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records_info: Option<BTreeMap<String, RecordsInfo>>,
    /// The one record (`kafka://`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_info: Option<RecordInfo>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordsInfo {
    pub first_record_offset: String,
    pub last_record_offset: String,
    pub first_record_timestamp: String,
    pub last_record_timestamp: String,
}

#[derive(Debug, Serialize)]
pub struct RecordInfo {
    pub offset: String,
    pub timestamp: String,
}

/// `payload`: the event as an escaped JSON string (S3) or as a JSON object (`kafka://`).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Payload {
    Text(String),
    Object(Box<RawValue>),
}

impl OnFailureRecord {
    /// The metadata record of a whole failed batch (SQS, SNS).
    pub fn for_batch(origin: &Origin, failure: &Failure, request_id: &str) -> OnFailureRecord {
        let mut info = BTreeMap::new();
        for g in failure.event.groups() {
            let key: String = serde_json::from_slice(g.key_json()).unwrap_or_default();
            let (Some(first), Some(last)) = (g.record(0), g.record(g.len().saturating_sub(1)))
            else {
                continue;
            };
            info.insert(
                key,
                RecordsInfo {
                    first_record_offset: first.offset.to_string(),
                    last_record_offset: last.offset.to_string(),
                    first_record_timestamp: iso8601(first.timestamp),
                    last_record_timestamp: iso8601(last.timestamp),
                },
            );
        }
        OnFailureRecord::new(
            origin,
            failure,
            request_id,
            KafkaBatchInfo {
                batch_size: failure.event.record_count(),
                event_source_arn: origin.event_source_arn.clone(),
                bootstrap_servers: origin.bootstrap_servers.clone(),
                payload_size: failure.event.len(),
                records_info: Some(info),
                record_info: None,
            },
            None,
        )
    }

    /// [`OnFailureRecord::for_batch`] with the whole event as `payload` text (S3).
    pub fn with_event_text(mut self, event: &Event) -> OnFailureRecord {
        self.payload = Some(Payload::Text(
            String::from_utf8_lossy(event.as_bytes()).into_owned(),
        ));
        self
    }

    /// The record of failed record `index` (event order) for a `kafka://` destination: its
    /// own event as `payload`. `None` when the event has no record `index`.
    pub fn for_record(
        origin: &Origin,
        failure: &Failure,
        request_id: &str,
        index: usize,
    ) -> Option<OnFailureRecord> {
        let info = failure.event.record(index)?;
        let single = failure.event.slice(index..index + 1).ok()?;
        let text = String::from_utf8(single.as_bytes().to_vec()).ok()?;
        let payload = RawValue::from_string(text).ok()?;
        Some(OnFailureRecord::new(
            origin,
            failure,
            request_id,
            KafkaBatchInfo {
                batch_size: 1,
                event_source_arn: origin.event_source_arn.clone(),
                bootstrap_servers: origin.bootstrap_servers.clone(),
                payload_size: single.len(),
                records_info: None,
                record_info: Some(RecordInfo {
                    offset: info.offset.to_string(),
                    timestamp: iso8601(info.timestamp),
                }),
            },
            Some(Payload::Object(payload)),
        ))
    }

    fn new(
        origin: &Origin,
        failure: &Failure,
        request_id: &str,
        kafka_batch_info: KafkaBatchInfo,
        payload: Option<Payload>,
    ) -> OnFailureRecord {
        OnFailureRecord {
            request_context: RequestContext {
                request_id: request_id.to_string(),
                function_arn: origin.function_arn.clone(),
                condition: failure.condition.as_str(),
                approximate_invoke_count: failure.attempts,
            },
            response_context: failure.response.clone(),
            version: "1.0",
            timestamp: iso8601(failure.at),
            kafka_batch_info,
            payload,
        }
    }
}

/// A new `requestId`.
pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Milliseconds since the epoch as ISO-8601 UTC with milliseconds:
/// `2019-11-14T00:38:06.021Z`. Times before the epoch (Kafka's `-1`, no timestamp) are
/// written as they fall, `1969-12-31T23:59:59.999Z`.
pub fn iso8601(millis: i64) -> String {
    let (y, mo, d, h, mi, s, ms) = civil(millis);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

/// Year, month, day, hour, minute, second, millisecond of `millis` (UTC, proleptic
/// Gregorian; the days-to-date step is Howard Hinnant's `civil_from_days`).
pub(super) fn civil(millis: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = millis.div_euclid(86_400_000);
    let in_day = millis.rem_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (in_day / 3_600_000) as u32,
        (in_day / 60_000 % 60) as u32,
        (in_day / 1000 % 60) as u32,
        (in_day % 1000) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Condition;
    use crate::kafka::protocol::records::{Headers, Record, TimestampType};
    use crate::lambda::EventEncoder;
    use bytes::Bytes;
    use serde_json::{Value, json};

    #[test]
    fn timestamps_are_iso8601_with_milliseconds() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_573_691_886_021), "2019-11-14T00:38:06.021Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59.999Z");
    }

    fn record(offset: i64, timestamp: i64, key: Option<&str>) -> Record {
        Record {
            offset,
            timestamp,
            timestamp_type: TimestampType::CreateTime,
            key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: Some(Bytes::from_static(b"hello")),
            headers: Headers::default(),
        }
    }

    fn failure(response: Option<ResponseContext>, condition: Condition) -> Failure {
        let mut enc = EventEncoder::new("b1:9092,b2:9092");
        enc.push("orders", 3, record(15, 1_573_691_884_835, Some("k")))
            .unwrap();
        enc.push("orders", 3, record(16, 1_573_691_885_580, None))
            .unwrap();
        Failure {
            condition,
            attempts: 3,
            response,
            event: enc.finish(),
            keys: vec![Some(Bytes::from_static(b"k")), None],
            at: 1_573_691_886_021,
        }
    }

    fn origin() -> Origin {
        Origin {
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:my-function".into(),
            event_source_arn: "arn:aws:lambda:us-east-1:123456789012:event-source-mapping:0f5e6a4c"
                .into(),
            bootstrap_servers: "b1:9092,b2:9092".into(),
            mapping_uuid: "0f5e6a4c".into(),
        }
    }

    #[test]
    fn the_sqs_and_sns_record_is_awss_field_for_field() {
        let f = failure(
            Some(ResponseContext {
                status_code: 200,
                executed_version: Some("$LATEST".into()),
                function_error: Some("Unhandled".into()),
            }),
            Condition::RetryAttemptsExhausted,
        );
        let r = OnFailureRecord::for_batch(&origin(), &f, "316aa6d0-8154-4xmp-9af7-85d5f4a6bc81");
        let v: Value = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            json!({
                "requestContext": {
                    "requestId": "316aa6d0-8154-4xmp-9af7-85d5f4a6bc81",
                    "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:my-function",
                    "condition": "RetryAttemptsExhausted",
                    "approximateInvokeCount": 3
                },
                "responseContext": {
                    "statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"
                },
                "version": "1.0",
                "timestamp": "2019-11-14T00:38:06.021Z",
                "KafkaBatchInfo": {
                    "batchSize": 2,
                    "eventSourceArn": "arn:aws:lambda:us-east-1:123456789012:event-source-mapping:0f5e6a4c",
                    "bootstrapServers": "b1:9092,b2:9092",
                    "payloadSize": f.event.len(),
                    "recordsInfo": {"orders-3": {
                        "firstRecordOffset": "15", "lastRecordOffset": "16",
                        "firstRecordTimestamp": "2019-11-14T00:38:04.835Z",
                        "lastRecordTimestamp": "2019-11-14T00:38:05.580Z"
                    }}
                }
            })
        );
    }

    #[test]
    fn the_s3_record_carries_the_event_as_a_string_and_oversized_has_null_response() {
        let f = failure(None, Condition::MaximumPayloadSizeExceeded);
        let r = OnFailureRecord::for_batch(&origin(), &f, "id").with_event_text(&f.event);
        let v: Value = serde_json::to_value(&r).unwrap();
        assert_eq!(v["responseContext"], Value::Null);
        assert!(v.as_object().unwrap().contains_key("responseContext"));
        assert_eq!(
            v["requestContext"]["condition"],
            "MaximumPayloadSizeExceeded"
        );
        let event: Value = serde_json::from_str(v["payload"].as_str().unwrap()).unwrap();
        assert_eq!(event["eventSource"], "SelfManagedKafka");
        assert_eq!(event["records"]["orders-3"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn the_kafka_record_holds_one_record_and_its_event_as_an_object() {
        let f = failure(
            Some(ResponseContext {
                status_code: 200,
                executed_version: None,
                function_error: None,
            }),
            Condition::RetryAttemptsExhausted,
        );
        let r = OnFailureRecord::for_record(&origin(), &f, "id", 1).unwrap();
        let v: Value = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v["responseContext"],
            json!({"statusCode": 200, "executedVersion": null})
        );
        let info = &v["KafkaBatchInfo"];
        assert_eq!(info["batchSize"], 1);
        assert_eq!(
            info["recordInfo"],
            json!({"offset": "16", "timestamp": "2019-11-14T00:38:05.580Z"})
        );
        assert!(info.get("recordsInfo").is_none());
        let records = v["payload"]["records"]["orders-3"].as_array().unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["offset"], 16);
        assert_eq!(
            info["payloadSize"],
            serde_json::to_string(&v["payload"]).unwrap().len()
        );
        assert!(OnFailureRecord::for_record(&origin(), &f, "id", 2).is_none());
    }
}
