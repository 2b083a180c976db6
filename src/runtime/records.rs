//! The record path of one consumer, through its one [`EventEncoder`]: fetched records as
//! the engine sees them ([`EngineRec`], each with the exact bytes it adds to an event, so
//! batches close at the payload cap without encoding), and the events the engine's
//! batches become ([`Events::event`]). A batch is encoded once: its retries, bisect
//! halves, the records after a partial batch response and the batch given up to the
//! on-failure destination are selected from that event ([`crate::lambda::Event::select`]),
//! never encoded again. This file decides nothing about which records go together.

use crate::engine::EngineRecord;
use crate::kafka::TopicPartition;
use crate::kafka::protocol::records::Record;
use crate::lambda::{Event, EventEncoder, GroupRange};
use std::collections::HashMap;

/// One consumer's encoder and the last event of each partition's batch, kept while the
/// engine may ask for its records again.
pub(super) struct Events {
    encoder: EventEncoder,
    envelope: usize,
    /// The partition's last encoded event, until its batch is done ([`Events::forget`]).
    last: HashMap<TopicPartition, Event>,
}

impl Events {
    /// The events of `topic` with this `bootstrapServers` string.
    pub(super) fn new(bootstrap_servers: &str, topic: &str) -> Events {
        let encoder = EventEncoder::new(bootstrap_servers);
        // The envelope depends on the partition's digits; the widest partition number
        // makes it an upper bound, so a batch never exceeds the cap (by at most 9 bytes
        // of slack).
        let envelope = encoder.group_envelope_len(topic, i32::MAX);
        Events {
            encoder,
            envelope,
            last: HashMap::new(),
        }
    }

    /// The bytes of an event holding one partition's group and no records.
    pub(super) fn envelope(&self) -> usize {
        self.envelope
    }

    /// `record` of `tp`, measured for the engine with the encoder's arithmetic.
    pub(super) fn measure(&self, topic: &str, partition: i32, record: Record) -> EngineRec {
        let size = self.encoder.record_len_in_group(topic, partition, &record);
        EngineRec { record, size }
    }

    /// The event of `records` of `tp` (in offset order): selected from the partition's
    /// last event when that holds them, in a row (a retry, a bisect half, the records
    /// after a partial batch response, a batch given up), else encoded, and kept.
    pub(super) fn event(&mut self, tp: &TopicPartition, records: Vec<EngineRec>) -> Event {
        if let Some(event) = self.last.get(tp).and_then(|last| within(last, &records)) {
            return event;
        }
        for r in records {
            if let Err(e) = self.encoder.push(&tp.0, tp.1, r.record) {
                // The engine hands records in offset order: this is a bug, not input.
                tracing::error!("encoding a batch: {e}");
            }
        }
        let event = self.encoder.finish();
        self.last.insert(tp.clone(), event.clone());
        event
    }

    /// Records of `tp` up to `last_offset` are done with (invoked successfully, written
    /// to the destination or dropped): lets the partition's last event go if it ends
    /// there. One that goes on (the second half of a bisected batch) is kept.
    pub(super) fn done(&mut self, tp: &TopicPartition, last_offset: i64) {
        let ends_there = self.last.get(tp).is_some_and(|event| {
            event
                .record_count()
                .checked_sub(1)
                .and_then(|i| event.record(i))
                .is_none_or(|last| last.offset <= last_offset)
        });
        if ends_there {
            self.last.remove(tp);
        }
    }

    /// Lets the partition's last event go: the records at its offsets may no longer be
    /// the ones it holds (a log reset, a new assignment) or the partition is gone.
    pub(super) fn forget(&mut self, tp: &TopicPartition) {
        self.last.remove(tp);
    }
}

/// `records` selected from `event` (one partition's), if it holds them in a row: the same
/// offsets and timestamps, at consecutive positions.
fn within(event: &Event, records: &[EngineRec]) -> Option<Event> {
    let group = event.group(0)?;
    let start = group.position(records.first()?.record.offset);
    let end = start + records.len();
    let same = end <= group.len()
        && records.iter().enumerate().all(|(i, r)| {
            group.record(start + i).is_some_and(|info| {
                info.offset == r.record.offset && info.timestamp == r.record.timestamp
            })
        });
    if !same {
        return None;
    }
    event
        .select(&[GroupRange {
            group: 0,
            records: start..end,
        }])
        .ok()
}

/// A record with its encoded size.
#[derive(Clone, Debug)]
pub(super) struct EngineRec {
    pub(super) record: Record,
    size: usize,
}

impl EngineRecord for EngineRec {
    fn offset(&self) -> i64 {
        self.record.offset
    }

    fn timestamp(&self) -> i64 {
        self.record.timestamp
    }

    fn encoded_size(&self) -> usize {
        self.size
    }
}
