//! [`EventEncoder`]: builds one `SelfManagedKafka` event from [`Record`]s, knowing its exact
//! size at every step.
//!
//! Pushing a record only measures it and keeps it (its key, value and headers are slices
//! of the fetched buffer, so keeping it copies nothing); [`EventEncoder::finish`] then
//! allocates the event once, at its exact size, and writes every record straight into it
//! (base64 included), group by group. The encoder keeps its own buffers' capacity from one
//! batch to the next. It must not decide when a batch is full (the mapping engine does,
//! with the sizes it reports) or know anything about invoking.

use crate::kafka::protocol::records::Record;

use super::event::Event;
use super::layout::{self, GroupEntry, RecordEntry};
use super::{EncodeError, json, record};

/// No record: the end of a group's list.
const NONE: usize = usize::MAX;

/// A topic-partition group of the event being built.
#[derive(Debug)]
struct PendingGroup {
    /// Its topic, in the encoder's `topics` text.
    topic: std::ops::Range<usize>,
    topic_len: usize,
    partition: i32,
    open_len: usize,
    head_len: usize,
    /// Its records, as a list through `PendingRecord::next`.
    first: usize,
    last: usize,
    count: usize,
    last_offset: i64,
}

#[derive(Debug)]
struct PendingRecord {
    record: Record,
    len: usize,
    next: usize,
    /// Where its JSON ends, once written.
    end: usize,
}

/// Builds `SelfManagedKafka` events. Push records with [`push`](Self::push), read the
/// exact size at any time with [`len`](Self::len) and [`added_len`](Self::added_len), and
/// take the event with [`finish`](Self::finish), which leaves the encoder empty and ready
/// for the next batch.
///
/// Records are grouped by topic and partition, groups in the order they first appear;
/// within a group, offsets must increase.
#[derive(Debug)]
pub struct EventEncoder {
    bootstrap_servers: String,
    empty_len: usize,
    topics: String,
    groups: Vec<PendingGroup>,
    records: Vec<PendingRecord>,
    /// The exact length of the event as it stands.
    len: usize,
    /// The group pushed to last: records come in runs of one partition.
    last_group: usize,
    /// One group's record head, while writing.
    head: Vec<u8>,
}

impl EventEncoder {
    /// An encoder for events whose `bootstrapServers` is `bootstrap_servers` (the
    /// comma-separated `host:port` list of the mapping).
    pub fn new(bootstrap_servers: &str) -> Self {
        let empty_len = record::empty_event_len(bootstrap_servers);
        Self {
            bootstrap_servers: bootstrap_servers.to_owned(),
            empty_len,
            topics: String::new(),
            groups: Vec::new(),
            records: Vec::new(),
            len: empty_len,
            last_group: 0,
            head: Vec::new(),
        }
    }

    /// The exact length in bytes of the event holding the records pushed so far, closing
    /// brackets included: what [`finish`](Self::finish) would return now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no record was pushed since the last [`finish`](Self::finish).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// How many records were pushed since the last [`finish`](Self::finish).
    pub fn record_count(&self) -> usize {
        self.records.len()
    }

    fn find(&self, topic: &str, partition: i32) -> Option<usize> {
        let is =
            |g: &PendingGroup| g.partition == partition && self.topics[g.topic.clone()] == *topic;
        match self.groups.get(self.last_group) {
            Some(g) if is(g) => Some(self.last_group),
            _ => self.groups.iter().position(is),
        }
    }

    /// How many bytes pushing `record` of `topic`/`partition` would add to the event: its
    /// JSON, the comma before it, and the opening and closing of its group if it would be
    /// the group's first. `len() + added_len(...)` is the event's exact length after it.
    pub fn added_len(&self, topic: &str, partition: i32, record: &Record) -> usize {
        match self.find(topic, partition) {
            Some(g) => record::COMMA.len() + record::record_len(self.groups[g].head_len, record),
            None => self.new_group_len(topic, partition, record),
        }
    }

    /// Bytes a record adds as the first of a new group.
    fn new_group_len(&self, topic: &str, partition: i32, record: &Record) -> usize {
        let topic_len = json::escaped_len(topic.as_bytes());
        let comma = if self.groups.is_empty() {
            0
        } else {
            record::COMMA.len()
        };
        comma
            + record::group_open_len(topic_len, partition)
            + record::record_len(record::record_head_len(topic_len, partition), record)
            + record::GROUP_CLOSE.len()
    }

    /// The exact length of an event holding `record` alone. When it exceeds the payload
    /// limit, the record can never be invoked (`MaximumPayloadSizeExceeded`).
    pub fn single_record_len(&self, topic: &str, partition: i32, record: &Record) -> usize {
        let topic_len = json::escaped_len(topic.as_bytes());
        self.empty_len
            + record::group_open_len(topic_len, partition)
            + record::record_len(record::record_head_len(topic_len, partition), record)
            + record::GROUP_CLOSE.len()
    }

    /// The bytes `record` of `topic`/`partition` takes in a group after the group's first
    /// record: its JSON and the comma before it. An event holding only that group's
    /// records `r1..rn` is exactly `group_envelope_len + Σ record_len_in_group(ri)` long,
    /// which is how the mapping engine sizes batches without an encoder.
    pub fn record_len_in_group(&self, topic: &str, partition: i32, record: &Record) -> usize {
        let topic_len = json::escaped_len(topic.as_bytes());
        record::COMMA.len()
            + record::record_len(record::record_head_len(topic_len, partition), record)
    }

    /// The bytes of an event holding one group of `topic`/`partition`, apart from its
    /// records' [`record_len_in_group`](Self::record_len_in_group) (the first record has
    /// no comma before it, hence one byte less).
    pub fn group_envelope_len(&self, topic: &str, partition: i32) -> usize {
        let topic_len = json::escaped_len(topic.as_bytes());
        self.empty_len + record::group_open_len(topic_len, partition) + record::GROUP_CLOSE.len()
            - record::COMMA.len()
    }

    /// Add `record` of `topic`/`partition` to the event; returns how many bytes it added
    /// (what [`added_len`](Self::added_len) predicted).
    ///
    /// # Errors
    /// [`EncodeError::OffsetNotIncreasing`] if its group already holds this offset or a
    /// later one; the record is not added.
    pub fn push(
        &mut self,
        topic: &str,
        partition: i32,
        record: Record,
    ) -> Result<usize, EncodeError> {
        let before = self.len;
        let g = match self.find(topic, partition) {
            Some(g) => {
                let last_offset = self.groups[g].last_offset;
                if record.offset <= last_offset {
                    return Err(EncodeError::OffsetNotIncreasing {
                        partition,
                        offset: record.offset,
                        previous: last_offset,
                    });
                }
                self.len += record::COMMA.len();
                g
            }
            None => self.open_group(topic, partition),
        };
        let index = self.records.len();
        let group = &mut self.groups[g];
        let len = record::record_len(group.head_len, &record);
        if group.last == NONE {
            group.first = index;
        } else {
            self.records[group.last].next = index;
        }
        group.last = index;
        group.count += 1;
        group.last_offset = record.offset;
        self.records.push(PendingRecord {
            record,
            len,
            next: NONE,
            end: 0,
        });
        self.len += len;
        self.last_group = g;
        Ok(self.len - before)
    }

    /// Start a new, empty group and count its opening and closing.
    fn open_group(&mut self, topic: &str, partition: i32) -> usize {
        let topic_len = json::escaped_len(topic.as_bytes());
        let start = self.topics.len();
        self.topics.push_str(topic);
        let open_len = record::group_open_len(topic_len, partition);
        if !self.groups.is_empty() {
            self.len += record::COMMA.len();
        }
        self.len += open_len + record::GROUP_CLOSE.len();
        self.groups.push(PendingGroup {
            topic: start..self.topics.len(),
            topic_len,
            partition,
            open_len,
            head_len: record::record_head_len(topic_len, partition),
            first: NONE,
            last: NONE,
            count: 0,
            last_offset: i64::MIN,
        });
        self.groups.len() - 1
    }

    /// Drop every record pushed since the last [`finish`](Self::finish), keeping the
    /// buffers' capacity.
    pub fn clear(&mut self) {
        self.topics.clear();
        self.groups.clear();
        self.records.clear();
        self.len = self.empty_len;
        self.last_group = 0;
    }

    /// The event holding every record pushed since the last `finish`, written into one
    /// allocation of exactly [`len`](Self::len) bytes (plus its layout table). The
    /// encoder is then empty.
    ///
    /// # Panics
    /// If the written length differs from the predicted one: a bug in this module, which
    /// would make the payload limit unsafe to rely on.
    pub fn finish(&mut self) -> Event {
        let json_len = self.len;
        let total = json_len + layout::table_len(self.groups.len(), self.records.len());
        let mut out = Vec::with_capacity(total);
        record::push_event_open(&mut out, &self.bootstrap_servers);
        let opening_len = out.len();
        let Self {
            topics,
            groups,
            records,
            head,
            ..
        } = self;
        for (i, g) in groups.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(record::COMMA);
            }
            let topic = &topics[g.topic.clone()];
            record::push_group_open(&mut out, topic, g.partition);
            head.clear();
            record::push_record_head(head, topic, g.partition);
            let mut r = g.first;
            while r != NONE {
                if r != g.first {
                    out.extend_from_slice(record::COMMA);
                }
                let pending = &mut records[r];
                let start = out.len();
                record::push_record(&mut out, head, &pending.record);
                debug_assert_eq!(out.len() - start, pending.len, "record length mispredicted");
                pending.end = out.len();
                r = pending.next;
            }
            out.extend_from_slice(record::GROUP_CLOSE);
        }
        out.extend_from_slice(record::EVENT_CLOSE);
        assert_eq!(out.len(), json_len, "event length mispredicted");

        layout::push_opening(&mut out, opening_len);
        let (mut open_start, mut first_record) = (opening_len, 0);
        for g in groups.iter() {
            layout::push_group(
                &mut out,
                &GroupEntry {
                    open_start,
                    open_len: g.open_len,
                    topic_len: g.topic_len,
                    partition: g.partition,
                    first_record,
                    count: g.count,
                },
            );
            let last_end = records[g.last].end;
            open_start = last_end + record::GROUP_CLOSE.len() + record::COMMA.len();
            first_record += g.count;
        }
        for g in groups.iter() {
            let mut r = g.first;
            while r != NONE {
                let pending = &records[r];
                layout::push_record(
                    &mut out,
                    &RecordEntry {
                        offset: pending.record.offset,
                        timestamp: pending.record.timestamp,
                        end: pending.end,
                    },
                );
                r = pending.next;
            }
        }
        debug_assert_eq!(out.len(), total);
        let event = Event::new(out.into(), json_len, groups.len(), records.len());
        self.clear();
        event
    }
}
