//! The consumer group protocol (protocol type "consumer"): the subscription each member
//! puts in its JoinGroup metadata and the assignment the leader hands out via SyncGroup.
//!
//! Not a Kafka API: these bytes are written by other group members, so they are decoded
//! as untrusted input like any response. Both are classic encodings behind an int16
//! version. As Java's client does, a version newer than we know is decoded as the newest
//! we know and whatever follows is ignored, as are trailing bytes at any version. The
//! matching encoders are here too. Choosing or checking assignments is the group logic's
//! job, not this module's.

use crate::kafka::protocol::{DecodeError, Reader};
use bytes::{BufMut, Bytes, BytesMut};

/// The subscription versions this module knows (newer ones decode as the newest).
pub const SUBSCRIPTION_VERSIONS: std::ops::RangeInclusive<i16> = 0..=3;

/// The assignment versions this module knows (newer ones decode as the newest). All share
/// one layout; the version only tells which assignor features the writer understood.
pub const ASSIGNMENT_VERSIONS: std::ops::RangeInclusive<i16> = 0..=3;

/// A member's subscription (`ConsumerProtocolSubscription`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// The version it is encoded at; when decoded, as written (it may be newer than
    /// [`SUBSCRIPTION_VERSIONS`]).
    pub version: i16,
    pub topics: Vec<String>,
    pub user_data: Option<Bytes>,
    /// v1+: the partitions the member owns (cooperative rebalancing); empty before.
    pub owned_partitions: Vec<TopicPartitions>,
    /// v2+: the generation the owned partitions are from; -1 before.
    pub generation_id: i32,
    /// v3+: the member's rack; None before.
    pub rack_id: Option<String>,
}

/// A member's assignment (`ConsumerProtocolAssignment`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    /// The version it is encoded at; when decoded, as written (it may be newer than
    /// [`ASSIGNMENT_VERSIONS`]).
    pub version: i16,
    pub assigned_partitions: Vec<TopicPartitions>,
    pub user_data: Option<Bytes>,
}

/// Some partitions of one topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicPartitions {
    pub topic: String,
    pub partitions: Vec<i32>,
}

/// Why a subscription or assignment could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A string, byte array or array is longer than its length prefix can say.
    #[error("{field}: length {len} does not fit its length prefix")]
    TooLong { field: &'static str, len: usize },
    /// The version asked for is not one this module knows.
    #[error("{field}: unsupported version {version}")]
    UnsupportedVersion { field: &'static str, version: i16 },
}

/// Decodes a member's subscription (JoinGroup member metadata for protocol type
/// "consumer").
pub fn decode_subscription(data: Bytes) -> Result<Subscription, DecodeError> {
    let mut r = Reader::new(data);
    let version = read_version(&mut r, "Subscription version")?;
    let known = version.min(*SUBSCRIPTION_VERSIONS.end());
    // A string's length at the least.
    let n = r.read_array_len("Subscription topics", 2)?;
    let mut topics = Vec::with_capacity(n);
    for _ in 0..n {
        topics.push(text(r.read_string("Subscription topic")?));
    }
    let user_data = r.read_nullable_bytes("Subscription user_data")?;
    let owned_partitions = if known >= 1 {
        read_topic_partitions(&mut r, "Subscription owned_partitions")?
    } else {
        Vec::new()
    };
    let generation_id = if known >= 2 {
        r.read_i32("Subscription generation_id")?
    } else {
        -1
    };
    let rack_id = if known >= 3 {
        r.read_nullable_string("Subscription rack_id")?.map(text)
    } else {
        None
    };
    Ok(Subscription {
        version,
        topics,
        user_data,
        owned_partitions,
        generation_id,
        rack_id,
    })
}

/// Decodes a member's assignment (the SyncGroup assignment for protocol type "consumer").
pub fn decode_assignment(data: Bytes) -> Result<Assignment, DecodeError> {
    let mut r = Reader::new(data);
    let version = read_version(&mut r, "Assignment version")?;
    let assigned_partitions = read_topic_partitions(&mut r, "Assignment assigned_partitions")?;
    let user_data = r.read_nullable_bytes("Assignment user_data")?;
    Ok(Assignment {
        version,
        assigned_partitions,
        user_data,
    })
}

/// Appends `s` to `buf`, encoded at `s.version` (one of [`SUBSCRIPTION_VERSIONS`]); fields
/// that version lacks are left out. On error `buf` is left as it was.
pub fn encode_subscription(s: &Subscription, buf: &mut BytesMut) -> Result<(), EncodeError> {
    let start = buf.len();
    let result = write_subscription(s, buf);
    if result.is_err() {
        buf.truncate(start);
    }
    result
}

/// Appends `a` to `buf`, encoded at `a.version` (one of [`ASSIGNMENT_VERSIONS`]). On error
/// `buf` is left as it was.
pub fn encode_assignment(a: &Assignment, buf: &mut BytesMut) -> Result<(), EncodeError> {
    let start = buf.len();
    let result = write_assignment(a, buf);
    if result.is_err() {
        buf.truncate(start);
    }
    result
}

fn read_version(r: &mut Reader, field: &'static str) -> Result<i16, DecodeError> {
    let version = r.read_i16(field)?;
    if version < 0 {
        return Err(DecodeError::InvalidValue {
            field,
            value: version.into(),
        });
    }
    Ok(version)
}

fn read_topic_partitions(
    r: &mut Reader,
    field: &'static str,
) -> Result<Vec<TopicPartitions>, DecodeError> {
    // topic length + partition count at the least.
    let n = r.read_array_len(field, 6)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let topic = text(r.read_string("TopicPartitions topic")?);
        let np = r.read_array_len("TopicPartitions partitions", 4)?;
        let mut partitions = Vec::with_capacity(np);
        for _ in 0..np {
            partitions.push(r.read_i32("TopicPartitions partition")?);
        }
        out.push(TopicPartitions { topic, partitions });
    }
    Ok(out)
}

/// The reader has already checked the bytes are UTF-8.
fn text(b: Bytes) -> String {
    String::from_utf8_lossy(&b).into_owned()
}

fn write_subscription(s: &Subscription, buf: &mut BytesMut) -> Result<(), EncodeError> {
    let version = s.version;
    if !SUBSCRIPTION_VERSIONS.contains(&version) {
        return Err(EncodeError::UnsupportedVersion {
            field: "Subscription version",
            version,
        });
    }
    buf.put_i16(version);
    put_len(buf, "Subscription topics", s.topics.len())?;
    for topic in &s.topics {
        put_string(buf, "Subscription topic", Some(topic))?;
    }
    put_nullable_bytes(buf, "Subscription user_data", s.user_data.as_deref())?;
    if version >= 1 {
        put_topic_partitions(buf, "Subscription owned_partitions", &s.owned_partitions)?;
    }
    if version >= 2 {
        buf.put_i32(s.generation_id);
    }
    if version >= 3 {
        put_string(buf, "Subscription rack_id", s.rack_id.as_deref())?;
    }
    Ok(())
}

fn write_assignment(a: &Assignment, buf: &mut BytesMut) -> Result<(), EncodeError> {
    if !ASSIGNMENT_VERSIONS.contains(&a.version) {
        return Err(EncodeError::UnsupportedVersion {
            field: "Assignment version",
            version: a.version,
        });
    }
    buf.put_i16(a.version);
    put_topic_partitions(
        buf,
        "Assignment assigned_partitions",
        &a.assigned_partitions,
    )?;
    put_nullable_bytes(buf, "Assignment user_data", a.user_data.as_deref())
}

/// An int32 array count.
fn put_len(buf: &mut BytesMut, field: &'static str, len: usize) -> Result<(), EncodeError> {
    let n = i32::try_from(len).map_err(|_| EncodeError::TooLong { field, len })?;
    buf.put_i32(n);
    Ok(())
}

/// A nullable string (int16 length, -1 for null).
fn put_string(buf: &mut BytesMut, field: &'static str, s: Option<&str>) -> Result<(), EncodeError> {
    match s {
        None => buf.put_i16(-1),
        Some(s) => {
            let len = s.len();
            buf.put_i16(i16::try_from(len).map_err(|_| EncodeError::TooLong { field, len })?);
            buf.put_slice(s.as_bytes());
        }
    }
    Ok(())
}

/// Nullable bytes (int32 length, -1 for null).
fn put_nullable_bytes(
    buf: &mut BytesMut,
    field: &'static str,
    b: Option<&[u8]>,
) -> Result<(), EncodeError> {
    match b {
        None => buf.put_i32(-1),
        Some(b) => {
            put_len(buf, field, b.len())?;
            buf.put_slice(b);
        }
    }
    Ok(())
}

fn put_topic_partitions(
    buf: &mut BytesMut,
    field: &'static str,
    tps: &[TopicPartitions],
) -> Result<(), EncodeError> {
    put_len(buf, field, tps.len())?;
    for tp in tps {
        put_string(buf, "TopicPartitions topic", Some(&tp.topic))?;
        put_len(buf, "TopicPartitions partitions", tp.partitions.len())?;
        for &p in &tp.partitions {
            buf.put_i32(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
