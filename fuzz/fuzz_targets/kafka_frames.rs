//! Structure-aware Kafka responses: the input drives `arbitrary` to build Metadata, Fetch
//! and FindCoordinator responses with `kafka-protocol`'s types at any version our
//! decoders accept, encoded by `kafka-protocol` (a trusted encoder), so every frame starts
//! valid, whatever its counts, strings and tagged fields. Then:
//!
//! 1. our decoder must read back exactly what was encoded (each field the version has);
//! 2. a few bytes of the frame are overwritten (array counts, string lengths, varints:
//!    lies told by a frame that is otherwise well-formed) and our decoder must decode or
//!    refuse, within its memory bound;
//! 3. the consumer group protocol (which we both encode and decode) round-trips:
//!    decode → encode → decode is stable for any bytes that decode, at every version.
//!
//! Memory, for each decode: at most 64 × frame + 4 KiB at peak (as `responses`), and
//! nothing leaked.

#![no_main]

use arbitrary::{Result, Unstructured};
use bytes::{Bytes, BytesMut};
use kafka_esm::kafka::protocol::messages::{consumer_protocol, fetch, find_coordinator, metadata};
use kafka_esm_fuzz::{KIB, check};
use kafka_protocol::messages::{
    BrokerId, FetchResponse, FindCoordinatorResponse, MetadataResponse, TopicName, fetch_response,
    find_coordinator_response, metadata_response,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});

fn bound(len: usize) -> usize {
    64 * len + 4 * KIB
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    match u.int_in_range(0..=3)? {
        0 => metadata_frame(u),
        1 => fetch_frame(u),
        2 => find_coordinator_frame(u),
        _ => consumer_protocol_round_trip(u),
    }
}

fn string(u: &mut Unstructured<'_>) -> Result<String> {
    let s: &str = u.arbitrary()?;
    Ok(s.chars().take(24).collect())
}

fn str_bytes(u: &mut Unstructured<'_>) -> Result<StrBytes> {
    Ok(StrBytes::from_string(string(u)?))
}

fn count(u: &mut Unstructured<'_>, max: usize) -> Result<usize> {
    u.int_in_range(0..=max)
}

/// Encodes `msg` at `version`, or `None` when `kafka-protocol` refuses a field the
/// version can't carry.
fn encode<T: Encodable>(msg: &T, version: i16) -> Option<Bytes> {
    let mut buf = BytesMut::new();
    msg.encode(&mut buf, version).ok()?;
    Some(buf.freeze())
}

/// Overwrites one to four bytes of `frame` at arbitrary places: the lie.
fn lie(u: &mut Unstructured<'_>, frame: &Bytes) -> Result<Bytes> {
    let mut out = frame.to_vec();
    if out.is_empty() {
        return Ok(frame.clone());
    }
    for _ in 0..u.int_in_range(1..=4)? {
        let at = u.choose_index(out.len())?;
        let value: u8 = u.arbitrary()?;
        out[at] = value;
    }
    Ok(Bytes::from(out))
}

fn then_lie<T>(u: &mut Unstructured<'_>, frame: &Bytes, decode: impl Fn(Bytes) -> T) -> Result<()> {
    let lied = lie(u, frame)?;
    // A `Bytes` made from a `Vec` allocates its shared header on the first clone: do that
    // outside the measurement, since the header lives as long as `lied`.
    let _shared = lied.clone();
    check(lied.len(), bound(lied.len()), "64 × frame + 4 KiB", || {
        decode(lied.clone())
    });
    Ok(())
}

fn metadata_frame(u: &mut Unstructured<'_>) -> Result<()> {
    let version = u.int_in_range(*metadata::VERSIONS.start()..=*metadata::VERSIONS.end())?;
    let mut msg = MetadataResponse::default();
    for _ in 0..count(u, 4)? {
        msg.brokers.push(
            metadata_response::MetadataResponseBroker::default()
                .with_node_id(BrokerId(u.arbitrary()?))
                .with_host(str_bytes(u)?)
                .with_port(u.arbitrary()?)
                .with_rack(if u.arbitrary()? {
                    Some(str_bytes(u)?)
                } else {
                    None
                }),
        );
    }
    msg.controller_id = BrokerId(u.arbitrary()?);
    if version >= 2 && u.arbitrary()? {
        msg.cluster_id = Some(str_bytes(u)?);
    }
    for _ in 0..count(u, 4)? {
        let mut topic = metadata_response::MetadataResponseTopic::default()
            .with_error_code(u.arbitrary()?)
            .with_is_internal(u.arbitrary()?);
        topic.name = if version >= 12 && u.ratio(1, 8)? {
            None
        } else {
            Some(TopicName(str_bytes(u)?))
        };
        if version >= 10 {
            topic.topic_id = uuid(u)?;
        }
        for _ in 0..count(u, 8)? {
            let mut p = metadata_response::MetadataResponsePartition::default()
                .with_error_code(u.arbitrary()?)
                .with_partition_index(u.arbitrary()?)
                .with_leader_id(BrokerId(u.arbitrary()?));
            if version >= 7 {
                p.leader_epoch = u.arbitrary()?;
            }
            for _ in 0..count(u, 3)? {
                p.replica_nodes.push(BrokerId(u.arbitrary()?));
            }
            topic.partitions.push(p);
        }
        msg.topics.push(topic);
    }
    let Some(frame) = encode(&msg, version) else {
        return Ok(());
    };
    let decoded = metadata::decode(frame.clone(), version).expect("a valid Metadata response");
    assert_eq!(decoded.brokers.len(), msg.brokers.len());
    for (ours, theirs) in decoded.brokers.iter().zip(&msg.brokers) {
        assert_eq!(ours.node_id, theirs.node_id.0);
        assert_eq!(ours.host, theirs.host.as_str());
        assert_eq!(ours.port, theirs.port);
        assert_eq!(ours.rack.as_deref(), theirs.rack.as_deref());
    }
    assert_eq!(decoded.controller_id, msg.controller_id.0);
    assert_eq!(decoded.cluster_id.as_deref(), msg.cluster_id.as_deref());
    assert_eq!(decoded.topics.len(), msg.topics.len());
    for (ours, theirs) in decoded.topics.iter().zip(&msg.topics) {
        assert_eq!(ours.error_code, theirs.error_code);
        assert_eq!(
            ours.name.as_deref(),
            theirs.name.as_ref().map(|n| n.0.as_str())
        );
        assert_eq!(&ours.topic_id, theirs.topic_id.as_bytes());
        assert_eq!(ours.is_internal, theirs.is_internal);
        assert_eq!(ours.partitions.len(), theirs.partitions.len());
        for (p, q) in ours.partitions.iter().zip(&theirs.partitions) {
            assert_eq!(p.error_code, q.error_code);
            assert_eq!(p.partition, q.partition_index);
            assert_eq!(p.leader, q.leader_id.0);
            assert_eq!(
                p.leader_epoch,
                if version >= 7 { q.leader_epoch } else { -1 }
            );
        }
    }
    then_lie(u, &frame, |b| metadata::decode(b, version))
}

fn uuid(u: &mut Unstructured<'_>) -> Result<uuid::Uuid> {
    Ok(uuid::Uuid::from_bytes(u.arbitrary()?))
}

fn fetch_frame(u: &mut Unstructured<'_>) -> Result<()> {
    let version = u.int_in_range(*fetch::VERSIONS.start()..=*fetch::VERSIONS.end())?;
    let mut msg = FetchResponse::default().with_throttle_time_ms(u.arbitrary()?);
    if version >= 7 {
        msg.error_code = u.arbitrary()?;
        msg.session_id = u.arbitrary()?;
    }
    for _ in 0..count(u, 4)? {
        let mut topic = fetch_response::FetchableTopicResponse::default();
        if version >= 13 {
            topic.topic_id = uuid(u)?;
        } else {
            topic.topic = TopicName(str_bytes(u)?);
        }
        for _ in 0..count(u, 6)? {
            let mut p = fetch_response::PartitionData::default()
                .with_partition_index(u.arbitrary()?)
                .with_error_code(u.arbitrary()?)
                .with_high_watermark(u.arbitrary()?);
            if version >= 4 {
                p.last_stable_offset = u.arbitrary()?;
                if u.arbitrary()? {
                    let mut txns = Vec::new();
                    for _ in 0..count(u, 3)? {
                        txns.push(
                            fetch_response::AbortedTransaction::default()
                                .with_producer_id(kafka_protocol::messages::ProducerId(
                                    u.arbitrary()?,
                                ))
                                .with_first_offset(u.arbitrary()?),
                        );
                    }
                    p.aborted_transactions = Some(txns);
                }
            }
            if version >= 5 {
                p.log_start_offset = u.arbitrary()?;
            }
            if version >= 11 {
                p.preferred_read_replica = BrokerId(u.arbitrary()?);
            }
            if u.ratio(7, 8)? {
                let n = count(u, 64)?.min(u.len());
                p.records = Some(Bytes::copy_from_slice(u.bytes(n)?));
            }
            topic.partitions.push(p);
        }
        msg.responses.push(topic);
    }
    let Some(frame) = encode(&msg, version) else {
        return Ok(());
    };
    let decoded = fetch::decode(frame.clone(), version).expect("a valid Fetch response");
    assert_eq!(decoded.throttle_time_ms, msg.throttle_time_ms);
    assert_eq!(decoded.error_code, msg.error_code);
    assert_eq!(decoded.session_id, msg.session_id);
    assert_eq!(decoded.topics.len(), msg.responses.len());
    for (ours, theirs) in decoded.topics.iter().zip(&msg.responses) {
        if version >= 13 {
            assert_eq!(ours.name, None);
            assert_eq!(&ours.topic_id, theirs.topic_id.as_bytes());
        } else {
            assert_eq!(ours.name.as_deref(), Some(theirs.topic.0.as_str()));
        }
        assert_eq!(ours.partitions.len(), theirs.partitions.len());
        for (p, q) in ours.partitions.iter().zip(&theirs.partitions) {
            assert_eq!(p.partition, q.partition_index);
            assert_eq!(p.error_code, q.error_code);
            assert_eq!(p.high_watermark, q.high_watermark);
            assert_eq!(p.last_stable_offset, q.last_stable_offset);
            assert_eq!(p.log_start_offset, q.log_start_offset);
            assert_eq!(p.preferred_read_replica, q.preferred_read_replica.0);
            let txns = |t: &fetch_response::AbortedTransaction| (t.producer_id.0, t.first_offset);
            assert_eq!(
                p.aborted_transactions.as_ref().map(|v| v
                    .iter()
                    .map(|t| (t.producer_id, t.first_offset))
                    .collect::<Vec<_>>()),
                q.aborted_transactions
                    .as_ref()
                    .map(|v| v.iter().map(txns).collect())
            );
            assert_eq!(p.records, q.records.clone().unwrap_or_default());
        }
    }
    then_lie(u, &frame, |b| fetch::decode(b, version))
}

fn find_coordinator_frame(u: &mut Unstructured<'_>) -> Result<()> {
    let version =
        u.int_in_range(*find_coordinator::VERSIONS.start()..=*find_coordinator::VERSIONS.end())?;
    let mut msg = FindCoordinatorResponse::default();
    if version >= 1 {
        msg.throttle_time_ms = u.arbitrary()?;
    }
    let mut want = Vec::new();
    if version >= 4 {
        for _ in 0..count(u, 4)? {
            let c = find_coordinator_response::Coordinator::default()
                .with_key(str_bytes(u)?)
                .with_node_id(BrokerId(u.arbitrary()?))
                .with_host(str_bytes(u)?)
                .with_port(u.arbitrary()?)
                .with_error_code(u.arbitrary()?)
                .with_error_message(if u.arbitrary()? {
                    Some(str_bytes(u)?)
                } else {
                    None
                });
            want.push((
                c.key.to_string(),
                c.error_code,
                c.error_message.as_ref().map(|m| m.to_string()),
                c.node_id.0,
                c.host.to_string(),
                c.port,
            ));
            msg.coordinators.push(c);
        }
    } else {
        msg.error_code = u.arbitrary()?;
        msg.error_message = if version >= 1 && u.arbitrary()? {
            Some(str_bytes(u)?)
        } else {
            None
        };
        msg.node_id = BrokerId(u.arbitrary()?);
        msg.host = str_bytes(u)?;
        msg.port = u.arbitrary()?;
        want.push((
            String::new(),
            msg.error_code,
            msg.error_message.as_ref().map(|m| m.to_string()),
            msg.node_id.0,
            msg.host.to_string(),
            msg.port,
        ));
    }
    let Some(frame) = encode(&msg, version) else {
        return Ok(());
    };
    let decoded =
        find_coordinator::decode(frame.clone(), version).expect("a valid FindCoordinator response");
    assert_eq!(decoded.throttle_time_ms, msg.throttle_time_ms);
    let got: Vec<_> = decoded
        .coordinators
        .iter()
        .map(|c| {
            (
                c.key.clone(),
                c.error_code,
                c.error_message.clone(),
                c.node_id,
                c.host.clone(),
                c.port,
            )
        })
        .collect();
    assert_eq!(got, want);
    then_lie(u, &frame, |b| find_coordinator::decode(b, version))
}

fn consumer_protocol_round_trip(u: &mut Unstructured<'_>) -> Result<()> {
    let subscription: bool = u.arbitrary()?;
    let bytes = Bytes::copy_from_slice(u.bytes(u.len())?);
    if subscription {
        let Ok(first) = consumer_protocol::decode_subscription(bytes) else {
            return Ok(());
        };
        let mut buf = BytesMut::new();
        let mut at = first.clone();
        // Newer versions decode as the newest we know; encode at that one.
        at.version = at
            .version
            .min(*consumer_protocol::SUBSCRIPTION_VERSIONS.end());
        if consumer_protocol::encode_subscription(&at, &mut buf).is_err() {
            assert!(at.version < 0, "a decoded subscription re-encodes: {at:?}");
            return Ok(());
        }
        let again = consumer_protocol::decode_subscription(buf.freeze()).expect("re-decodes");
        assert_eq!(again, at);
    } else {
        let Ok(first) = consumer_protocol::decode_assignment(bytes) else {
            return Ok(());
        };
        let mut buf = BytesMut::new();
        let mut at = first.clone();
        at.version = at
            .version
            .min(*consumer_protocol::ASSIGNMENT_VERSIONS.end());
        if consumer_protocol::encode_assignment(&at, &mut buf).is_err() {
            assert!(at.version < 0, "a decoded assignment re-encodes: {at:?}");
            return Ok(());
        }
        let again = consumer_protocol::decode_assignment(buf.freeze()).expect("re-decodes");
        assert_eq!(again, at);
    }
    Ok(())
}
