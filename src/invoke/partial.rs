//! Partial batch responses (`ReportBatchItemFailures`) from the function, parsed by the
//! rules AWS documents for stream event sources, with Kafka's item identifier:
//! `{"batchItemFailures": [{"itemIdentifier": {"topic-partition": "t-0", "offset": 15}}]}`.
//!
//! A success: an empty body, `null`, a response that is not a JSON object (a handler
//! returning a string), an object without `batchItemFailures`, or an empty or null list.
//! A failure of the whole batch ([`PartialError`]): an item whose identifier is
//! missing, null, empty or malformed, or names another partition. This module only
//! reads the body; which offsets belong to the batch is the engine's check.

/// Why a partial batch response fails the whole batch.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PartialError {
    #[error("batchItemFailures is not a list")]
    NotAList,
    #[error("batchItemFailures[{index}]: {reason}")]
    Item { index: usize, reason: String },
}

/// The failed offsets the response reports for `partition_key` (`"topic-0"`).
pub fn parse(body: &[u8], partition_key: &str) -> Result<Vec<i64>, PartialError> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        // Empty or not JSON: not a partial batch response.
        return Ok(Vec::new());
    };
    let Some(failures) = value.as_object().and_then(|o| o.get("batchItemFailures")) else {
        return Ok(Vec::new());
    };
    let items = match failures {
        serde_json::Value::Null => return Ok(Vec::new()),
        serde_json::Value::Array(items) => items,
        _ => return Err(PartialError::NotAList),
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            item_offset(item, partition_key).map_err(|reason| PartialError::Item {
                index,
                reason: reason.to_string(),
            })
        })
        .collect()
}

fn item_offset(item: &serde_json::Value, partition_key: &str) -> Result<i64, String> {
    let id = item
        .as_object()
        .ok_or("not an object")?
        .get("itemIdentifier")
        .ok_or("no itemIdentifier")?;
    let id = id
        .as_object()
        .filter(|o| !o.is_empty())
        .ok_or("itemIdentifier is null, empty or not an object")?;
    let tp = id
        .get("topic-partition")
        .and_then(|v| v.as_str())
        .ok_or("itemIdentifier has no topic-partition string")?;
    if tp != partition_key {
        return Err(format!(
            "itemIdentifier names {tp:?}, not this batch's {partition_key:?}"
        ));
    }
    match id.get("offset") {
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .filter(|o| *o >= 0)
            .ok_or_else(|| format!("offset {n} is not a valid offset")),
        Some(serde_json::Value::String(s)) => s
            .parse::<i64>()
            .ok()
            .filter(|o| *o >= 0)
            .ok_or_else(|| format!("offset {s:?} is not a valid offset")),
        _ => Err("itemIdentifier has no offset".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn successes_as_aws_lists_them() {
        for body in [
            &b""[..],
            b"null",
            b"{}",
            b"\"done\"",
            b"42",
            b"not json",
            br#"{"batchItemFailures": null}"#,
            br#"{"batchItemFailures": []}"#,
            br#"{"statusCode": 200}"#,
        ] {
            assert_eq!(
                parse(body, "t-0"),
                Ok(vec![]),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn failed_items_give_their_offsets() {
        let body = br#"{"batchItemFailures": [
            {"itemIdentifier": {"topic-partition": "t-0", "offset": 15}},
            {"itemIdentifier": {"topic-partition": "t-0", "offset": "12"}}]}"#;
        assert_eq!(parse(body, "t-0"), Ok(vec![15, 12]));
    }

    #[test]
    fn malformed_items_fail_the_whole_batch() {
        for (body, why) in [
            (&br#"{"batchItemFailures": {}}"#[..], "not a list"),
            (br#"{"batchItemFailures": [{}]}"#, "no itemIdentifier"),
            (br#"{"batchItemFailures": [{"itemIdentifier": null}]}"#, "null"),
            (br#"{"batchItemFailures": [{"itemIdentifier": ""}]}"#, "empty"),
            (br#"{"batchItemFailures": [{"itemIdentifier": {}}]}"#, "empty"),
            (
                br#"{"batchItemFailures": [{"itemIdentifier": {"topicPartition": "t-0", "offset": 1}}]}"#,
                "wrong key name",
            ),
            (
                br#"{"batchItemFailures": [{"itemIdentifier": {"topic-partition": "t-1", "offset": 1}}]}"#,
                "another partition",
            ),
            (
                br#"{"batchItemFailures": [{"itemIdentifier": {"topic-partition": "t-0", "offset": -1}}]}"#,
                "negative offset",
            ),
            (
                br#"{"batchItemFailures": [{"itemIdentifier": {"topic-partition": "t-0", "offset": 1.5}}]}"#,
                "fractional offset",
            ),
            (
                br#"{"batchItemFailures": [{"itemIdentifier": {"topic-partition": "t-0"}}]}"#,
                "no offset",
            ),
        ] {
            assert!(parse(body, "t-0").is_err(), "{why}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&body, "t-0");
        }
    }
}
