//! `DestinationConfig.OnFailure.Destination`: what the string may name.
//!
//! An SQS queue ARN, an SNS topic ARN, an S3 bucket ARN (`arn:aws:s3:::bucket`), or
//! `kafka://topic` on the same cluster (never the source topic: that would loop); the
//! empty string means no destination, as AWS uses it to remove one. This file parses and
//! checks the string only: it never reaches the destination.

use super::mapping::OnFailureDestination;
use super::names::{check_topic, is_account_id, is_region, split_arn};

const EXPECTED: &str = "must be an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:QUEUE), an SNS topic \
     ARN (arn:aws:sns:REGION:ACCOUNT:TOPIC), an S3 bucket ARN (arn:aws:s3:::BUCKET), \
     kafka://TOPIC, or \"\" for none";

/// Parses an on-failure destination; `Ok(None)` for `""`. `source_topic` is the mapping's
/// topic, which a `kafka://` destination must not equal.
pub fn parse_destination(
    s: &str,
    source_topic: Option<&str>,
) -> Result<Option<OnFailureDestination>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    if let Some(topic) = s.strip_prefix("kafka://") {
        check_topic(topic).map_err(|e| format!("kafka:// destination topic: {e}"))?;
        if source_topic == Some(topic) {
            return Err(format!(
                "kafka://{topic} is the source topic; a destination topic equal to the source \
                 would feed failures back into the mapping"
            ));
        }
        return Ok(Some(OnFailureDestination::Kafka {
            topic: topic.to_owned(),
        }));
    }
    let Some(arn) = split_arn(s) else {
        return Err(format!("{EXPECTED}, got \"{s}\""));
    };
    let regional = |what: &str| -> Result<(), String> {
        if !is_region(arn.region) {
            return Err(format!(
                "{what} ARN \"{s}\": \"{}\" is not a region",
                arn.region
            ));
        }
        if !is_account_id(arn.account) {
            return Err(format!(
                "{what} ARN \"{s}\": \"{}\" is not a 12-digit account id",
                arn.account
            ));
        }
        Ok(())
    };
    match arn.service {
        "sqs" => {
            regional("SQS queue")?;
            check_queue_or_topic_name("SQS queue", arn.resource, 80)?;
            Ok(Some(OnFailureDestination::Sqs {
                arn: s.to_owned(),
                region: arn.region.to_owned(),
                account: arn.account.to_owned(),
                queue_name: arn.resource.to_owned(),
            }))
        }
        "sns" => {
            regional("SNS topic")?;
            check_queue_or_topic_name("SNS topic", arn.resource, 256)?;
            Ok(Some(OnFailureDestination::Sns {
                arn: s.to_owned(),
                region: arn.region.to_owned(),
                account: arn.account.to_owned(),
                topic_name: arn.resource.to_owned(),
            }))
        }
        "s3" => {
            if !arn.region.is_empty() || !arn.account.is_empty() {
                return Err(format!(
                    "S3 bucket ARN \"{s}\" must have no region and no account: arn:aws:s3:::BUCKET"
                ));
            }
            check_bucket_name(arn.resource)?;
            Ok(Some(OnFailureDestination::S3 {
                arn: s.to_owned(),
                bucket: arn.resource.to_owned(),
            }))
        }
        other => Err(format!(
            "{EXPECTED}; an ARN of service \"{other}\" is none of them"
        )),
    }
}

/// SQS queue and SNS topic names: `[A-Za-z0-9_-]`, optionally ending in `.fifo`.
fn check_queue_or_topic_name(what: &str, name: &str, max: usize) -> Result<(), String> {
    let stem = name.strip_suffix(".fifo").unwrap_or(name);
    let chars_ok = stem
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if stem.is_empty() || name.len() > max || !chars_ok {
        return Err(format!(
            "\"{name}\" is not a valid {what} name (1 to {max} characters of A-Z, a-z, 0-9, '-', '_')"
        ));
    }
    Ok(())
}

/// S3 bucket names: 3..=63 of lowercase letters, digits, '.' and '-', starting and ending
/// with a letter or digit.
fn check_bucket_name(name: &str) -> Result<(), String> {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok = (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && edge(name.chars().next())
        && edge(name.chars().last());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "\"{name}\" is not a valid S3 bucket name (3 to 63 characters of a-z, 0-9, '.', '-', \
             starting and ending with a letter or digit)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_destination() {
        assert_eq!(parse_destination("", Some("orders")), Ok(None));
        assert_eq!(
            parse_destination("arn:aws:sqs:us-east-1:123456789012:dest-queue", None),
            Ok(Some(OnFailureDestination::Sqs {
                arn: "arn:aws:sqs:us-east-1:123456789012:dest-queue".into(),
                region: "us-east-1".into(),
                account: "123456789012".into(),
                queue_name: "dest-queue".into(),
            }))
        );
        let sns = parse_destination("arn:aws:sns:eu-west-1:123456789012:alerts.fifo", None)
            .unwrap()
            .unwrap();
        assert!(
            matches!(sns, OnFailureDestination::Sns { ref topic_name, .. } if topic_name == "alerts.fifo")
        );
        assert_eq!(
            parse_destination("arn:aws:s3:::dest-bucket", None),
            Ok(Some(OnFailureDestination::S3 {
                arn: "arn:aws:s3:::dest-bucket".into(),
                bucket: "dest-bucket".into(),
            }))
        );
        let k = parse_destination("kafka://failed-records-topic", Some("orders"))
            .unwrap()
            .unwrap();
        assert_eq!(
            k,
            OnFailureDestination::Kafka {
                topic: "failed-records-topic".into()
            }
        );
        assert_eq!(k.to_uri(), "kafka://failed-records-topic");
    }

    #[test]
    fn bad_destinations_say_why() {
        for (bad, why) in [
            ("kafka://orders", "is the source topic"),
            ("kafka://", "must not be empty"),
            ("kafka://a b", "not a valid Kafka topic name"),
            (
                "https://sqs.us-east-1.amazonaws.com/1/q",
                "must be an SQS queue ARN",
            ),
            (
                "arn:aws:lambda:us-east-1:123456789012:function:f",
                "service \"lambda\"",
            ),
            ("arn:aws:sqs:us-east-1:1234:q", "12-digit account"),
            ("arn:aws:sqs::123456789012:q", "is not a region"),
            (
                "arn:aws:sqs:us-east-1:123456789012:bad/queue",
                "not a valid SQS queue name",
            ),
            (
                "arn:aws:sns:us-east-1:123456789012:",
                "not a valid SNS topic name",
            ),
            (
                "arn:aws:s3:us-east-1:123456789012:bucket",
                "no region and no account",
            ),
            ("arn:aws:s3:::Bucket", "not a valid S3 bucket name"),
            ("arn:aws:s3:::ab", "not a valid S3 bucket name"),
            ("arn:aws:s3:::-ab", "not a valid S3 bucket name"),
        ] {
            let e = parse_destination(bad, Some("orders")).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
