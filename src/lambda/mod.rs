//! The Lambda side of the mapping: the `SelfManagedKafka` event the function receives.
//!
//! [`EventEncoder`] turns fetched [`Record`](crate::kafka::protocol::records::Record)s into the
//! event's JSON (SPEC §2) with no intermediate values: base64 is encoded straight into the
//! one, exactly sized output buffer, and the encoder knows the exact size of the event
//! before and after every record, so the engine can close a batch at
//! [`MAX_PAYLOAD_BYTES`]. An [`Event`] hands its payload out as `Bytes` without a copy
//! (`aws_smithy_types::Blob::from_maybe_shared` takes it as is) and builds sub-events
//! (bisect halves, retries after a partial batch response, single records for on-failure
//! destinations) by copying encoded spans. This layer must not fetch, batch, invoke or
//! commit: the mapping engine above it decides which records go into which event.
//!
//! Format decisions where AWS's documentation is silent:
//! - Header keys that are not valid UTF-8 are decoded as Java does (AWS's poller is Java):
//!   U+FFFD per maximal subpart, with Java's treatment of encoded surrogates (`json.rs`).
//! - A header with a null value is written `{"key":null}`: AWS's docs don't show one; a
//!   null Java `byte[]` is what its poller holds, and JSON mappers write it as `null`. A
//!   record without headers has `"headers":[]`, as in AWS's events.
//! - Magic 0 messages, which have no timestamp, get `"timestamp":-1` and
//!   `"timestampType":"NO_TIMESTAMP_TYPE"`, what Java's consumer reports for them.

mod encoder;
mod event;
mod json;
mod layout;
mod record;

#[cfg(test)]
mod tests;

pub use encoder::EventEncoder;
pub use event::{Event, Group, GroupRange, RecordInfo};

/// The largest payload a synchronous Lambda invocation accepts: 6 MB (6 × 2^20 bytes).
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// A record the encoder refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// Records of a partition must be pushed in offset order, each offset once.
    #[error(
        "record at offset {offset} of partition {partition} pushed after offset {previous} of the same partition"
    )]
    OffsetNotIncreasing {
        partition: i32,
        offset: i64,
        previous: i64,
    },
}

/// A sub-event asked for records the event does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectError {
    #[error("the event has {groups} groups; there is no group {group}")]
    NoSuchGroup { group: usize, groups: usize },
    #[error("records {start}..{end} are out of range: {} holds {len} records", holder(*.group))]
    RecordsOutOfRange {
        /// The group, or `None` for event-wide indices.
        group: Option<usize>,
        start: usize,
        end: usize,
        len: usize,
    },
    #[error("group {group} is selected twice")]
    DuplicateGroup { group: usize },
}

/// What holds the records of a [`SelectError::RecordsOutOfRange`].
fn holder(group: Option<usize>) -> String {
    match group {
        Some(g) => format!("group {g}"),
        None => "the event".to_owned(),
    }
}
