//! A Kafka-triggered Lambda function in Rust, as it would be deployed to AWS Lambda: a
//! `bootstrap` built with AWS's runtime client (`lambda_runtime`) that takes the event as
//! `aws_lambda_events`' `KafkaEvent`. kafka-esm runs it on this host through the Lambda
//! Runtime API (`--function-command target/debug/examples/kafka_handler`).
//!
//! For each record it prints one line (`received TOPIC-PARTITION@OFFSET key=... value=...`,
//! on Lambda a CloudWatch log line) and returns what it parsed, so a caller can see the
//! event deserialized field by field. A record whose value asks for it shows how
//! kafka-esm handles a failing function:
//!
//! - `fail`: the handler returns an error (`RecordRejected`): a function error, retried;
//! - `sleep N`: the handler sleeps N seconds, past a short function timeout;
//! - `crash`: the process exits without answering (`Runtime.ExitError`), and is restarted.
//!
//! `KafkaRecord::timestamp` is a chrono time: aws_lambda_events 1.2 converts the event's
//! milliseconds through f64 seconds, which can lose the last millisecond.
//!
//! Build: `cargo build --example kafka_handler` (dev-dependencies `lambda_runtime` and
//! `aws_lambda_events` with its `kafka` feature).

use aws_lambda_events::event::kafka::{KafkaEvent, KafkaRecord};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Value, json};
use std::time::Duration;

/// The handler's own error: its name is the `errorType` Lambda reports.
#[derive(Debug, thiserror::Error)]
#[error("record {topic}-{partition}@{offset} rejected: its value is \"fail\"")]
struct RecordRejected {
    topic: String,
    partition: i64,
    offset: i64,
}

impl From<RecordRejected> for Diagnostic {
    fn from(e: RecordRejected) -> Diagnostic {
        Diagnostic {
            error_type: "RecordRejected".into(),
            error_message: e.to_string(),
        }
    }
}

/// A base64 field as text (lossy: a binary value shows replacement characters).
fn text(field: Option<&str>) -> Option<String> {
    field
        .and_then(|b64| STANDARD.decode(b64).ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// What the handler parsed from one record, as JSON.
fn parsed(record: &KafkaRecord) -> Value {
    let headers: Vec<Value> = record
        .headers
        .iter()
        .flat_map(|h| h.iter())
        .map(|(name, bytes)| {
            // AWS sends header values as arrays of signed bytes.
            let bytes: Vec<u8> = bytes.iter().map(|b| *b as u8).collect();
            json!({"key": name, "value": String::from_utf8_lossy(&bytes)})
        })
        .collect();
    json!({
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp.timestamp_millis(),
        "timestampType": record.timestamp_type,
        "key": text(record.key.as_deref()),
        "value": text(record.value.as_deref()),
        "headers": headers,
    })
}

async fn handle(event: LambdaEvent<KafkaEvent>) -> Result<Value, RecordRejected> {
    let (event, context) = event.into_parts();
    // Partitions in a stable order; records within one are in offset order already.
    let mut partitions: Vec<_> = event.records.iter().collect();
    partitions.sort_by(|a, b| a.0.cmp(b.0));
    let mut records = Vec::new();
    for record in partitions.into_iter().flat_map(|(_, records)| records) {
        let value = text(record.value.as_deref());
        println!(
            "kafka_handler: received {}-{}@{} key={} value={}",
            record.topic.as_deref().unwrap_or("?"),
            record.partition,
            record.offset,
            text(record.key.as_deref()).as_deref().unwrap_or("(null)"),
            value.as_deref().unwrap_or("(null)"),
        );
        match value.as_deref() {
            Some("fail") => {
                return Err(RecordRejected {
                    topic: record.topic.clone().unwrap_or_default(),
                    partition: record.partition,
                    offset: record.offset,
                });
            }
            Some("crash") => std::process::exit(3),
            Some(v) => {
                if let Some(seconds) = v.strip_prefix("sleep ").and_then(|s| s.parse().ok()) {
                    tokio::time::sleep(Duration::from_secs(seconds)).await;
                }
            }
            None => {}
        }
        records.push(parsed(record));
    }
    Ok(json!({
        "eventSource": event.event_source,
        "eventSourceArn": event.event_source_arn,
        "bootstrapServers": event.bootstrap_servers,
        "records": records,
        "requestId": context.request_id,
        "functionArn": context.invoked_function_arn,
        "pid": std::process::id(),
    }))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(handle)).await
}
