//! [`Event`]: one encoded `SelfManagedKafka` event, its [`Group`]s, and sub-events.
//!
//! An event is one buffer: the JSON payload, then its layout table (`layout.rs`). The
//! payload is handed out as [`Bytes`] without a copy. A sub-event (bisect's halves, a
//! retry from the lowest failed offset, one record for an on-failure destination) is
//! built by copying the encoded spans of the records it keeps, one copy per group; no
//! record is re-encoded. This file must not encode records (`encoder.rs`) or decide
//! which records to keep (the mapping engine does).

use std::fmt;
use std::ops::Range;

use bytes::Bytes;

use super::SelectError;
use super::json::{self, Matches};
use super::layout::{self, GroupEntry, Layout, RecordEntry};
use super::record;

/// One encoded `SelfManagedKafka` event. Cloning it is cheap (a reference count).
#[derive(Clone)]
pub struct Event {
    /// The JSON, then the layout table.
    buf: Bytes,
    json_len: usize,
    groups: usize,
    records: usize,
}

/// What the event keeps of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordInfo {
    pub offset: i64,
    pub timestamp: i64,
}

/// Records `records` (indices within the group, in offset order) of group `group`: one
/// part of a sub-event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRange {
    pub group: usize,
    pub records: Range<usize>,
}

impl Event {
    pub(crate) fn new(buf: Bytes, json_len: usize, groups: usize, records: usize) -> Self {
        Self {
            buf,
            json_len,
            groups,
            records,
        }
    }

    fn layout(&self) -> Layout<'_> {
        Layout::new(&self.buf[self.json_len..], self.groups)
    }

    /// The JSON payload, for the Lambda `Invoke` call: a view of the event's buffer, not a
    /// copy. (Bytes shares a buffer through a small reference-counted header, allocated
    /// the first time the buffer is shared.)
    pub fn payload(&self) -> Bytes {
        self.buf.slice(..self.json_len)
    }

    /// The JSON payload, borrowed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.json_len]
    }

    /// The payload's length in bytes.
    pub fn len(&self) -> usize {
        self.json_len
    }

    /// Whether the event holds no record.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// How many records the event holds.
    pub fn record_count(&self) -> usize {
        self.records
    }

    /// How many topic-partition groups the event holds.
    pub fn group_count(&self) -> usize {
        self.groups
    }

    /// Group `index`, in event order.
    pub fn group(&self, index: usize) -> Option<Group<'_>> {
        (index < self.groups).then(|| Group {
            event: self,
            index,
            entry: self.layout().group(index),
        })
    }

    /// The groups, in event order.
    pub fn groups(&self) -> impl ExactSizeIterator<Item = Group<'_>> {
        (0..self.groups).map(|i| Group {
            event: self,
            index: i,
            entry: self.layout().group(i),
        })
    }

    /// The group of `topic` and `partition`, if the event holds one.
    pub fn find_group(&self, topic: &str, partition: i32) -> Option<Group<'_>> {
        self.groups()
            .find(|g| g.partition() == partition && g.is_topic(topic))
    }

    /// Record `index`, in event order (group by group, offset order within a group).
    pub fn record(&self, index: usize) -> Option<RecordInfo> {
        (index < self.records).then(|| info(self.layout().record(index)))
    }

    /// The JSON text of record `index` (in event order), as it appears in the payload.
    pub fn record_json(&self, index: usize) -> Option<&[u8]> {
        let group = self.groups().find(|g| g.records().contains(&index))?;
        let local = index - group.entry.first_record;
        let span = self.layout().records_span(&group.entry, local..local + 1);
        Some(&self.as_bytes()[span])
    }

    /// The event holding records `range` in event order (group by group): a prefix for
    /// bisect's first half, a suffix for its second, one record for a destination. The
    /// whole range returns this event itself, without a copy.
    ///
    /// # Errors
    /// [`SelectError::RecordsOutOfRange`] if `range` reaches past the last record.
    pub fn slice(&self, range: Range<usize>) -> Result<Event, SelectError> {
        if range.start > range.end || range.end > self.records {
            return Err(SelectError::RecordsOutOfRange {
                group: None,
                start: range.start,
                end: range.end,
                len: self.records,
            });
        }
        if range == (0..self.records) {
            return Ok(self.clone());
        }
        let layout = self.layout();
        let parts = (0..self.groups).map(move |g| {
            let entry = layout.group(g);
            let first = entry.first_record;
            let start = range.start.clamp(first, first + entry.count) - first;
            let end = range.end.clamp(first, first + entry.count) - first;
            (g, start..end)
        });
        Ok(self.build(parts))
    }

    /// The event holding, for each part, records `part.records` of group `part.group`, in
    /// the order of `parts` (parts with no records are left out): for a partial batch
    /// response, each failed partition's records from its lowest failed offset (see
    /// [`Group::position`]). Selecting every record in event order returns this event
    /// itself, without a copy.
    ///
    /// # Errors
    /// [`SelectError`] if a part names a group or records the event does not hold, or the
    /// same group twice.
    pub fn select(&self, parts: &[GroupRange]) -> Result<Event, SelectError> {
        for (i, part) in parts.iter().enumerate() {
            let group = self.group(part.group).ok_or(SelectError::NoSuchGroup {
                group: part.group,
                groups: self.groups,
            })?;
            let r = &part.records;
            if r.start > r.end || r.end > group.len() {
                return Err(SelectError::RecordsOutOfRange {
                    group: Some(part.group),
                    start: r.start,
                    end: r.end,
                    len: group.len(),
                });
            }
            if parts[..i].iter().any(|p| p.group == part.group) {
                return Err(SelectError::DuplicateGroup { group: part.group });
            }
        }
        let whole = parts.len() == self.groups
            && self
                .groups()
                .zip(parts)
                .all(|(g, p)| p.group == g.index && p.records == (0..g.len()));
        if whole {
            return Ok(self.clone());
        }
        Ok(self.build(parts.iter().map(|p| (p.group, p.records.clone()))))
    }

    /// Copy the parts (group, records within it; validated) into a new event.
    fn build<I>(&self, parts: I) -> Event
    where
        I: Iterator<Item = (usize, Range<usize>)> + Clone,
    {
        let layout = self.layout();
        let json = self.as_bytes();
        let opening_len = layout.opening_len();
        let parts = parts.filter(|(_, r)| !r.is_empty()).map(|(g, r)| {
            let entry = layout.group(g);
            let span = layout.records_span(&entry, r.clone());
            (entry, r, span)
        });

        let (mut json_len, mut groups, mut records) =
            (opening_len + record::EVENT_CLOSE.len(), 0, 0);
        for (entry, r, span) in parts.clone() {
            if groups > 0 {
                json_len += record::COMMA.len();
            }
            json_len += entry.open_len + span.len() + record::GROUP_CLOSE.len();
            groups += 1;
            records += r.len();
        }
        let total = json_len + layout::table_len(groups, records);
        let mut out = Vec::with_capacity(total);

        out.extend_from_slice(&json[..opening_len]);
        for (i, (entry, _, span)) in parts.clone().enumerate() {
            if i > 0 {
                out.extend_from_slice(record::COMMA);
            }
            out.extend_from_slice(&json[entry.open_start..entry.records_start()]);
            out.extend_from_slice(&json[span]);
            out.extend_from_slice(record::GROUP_CLOSE);
        }
        out.extend_from_slice(record::EVENT_CLOSE);
        debug_assert_eq!(out.len(), json_len);

        layout::push_opening(&mut out, opening_len);
        let (mut open_start, mut first_record) = (opening_len, 0);
        for (entry, r, span) in parts.clone() {
            layout::push_group(
                &mut out,
                &GroupEntry {
                    open_start,
                    first_record,
                    count: r.len(),
                    ..entry
                },
            );
            open_start +=
                entry.open_len + span.len() + record::GROUP_CLOSE.len() + record::COMMA.len();
            first_record += r.len();
        }
        let mut open_start = opening_len;
        for (entry, r, span) in parts {
            let new_start = open_start + entry.open_len;
            for i in r {
                let old = layout.record(entry.first_record + i);
                layout::push_record(
                    &mut out,
                    &RecordEntry {
                        end: old.end - span.start + new_start,
                        ..old
                    },
                );
            }
            open_start = new_start + span.len() + record::GROUP_CLOSE.len() + record::COMMA.len();
        }
        debug_assert_eq!(out.len(), total);
        Event::new(out.into(), json_len, groups, records)
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("len", &self.json_len)
            .field("groups", &self.groups)
            .field("records", &self.records)
            .finish()
    }
}

fn info(r: RecordEntry) -> RecordInfo {
    RecordInfo {
        offset: r.offset,
        timestamp: r.timestamp,
    }
}

/// One topic-partition group of an [`Event`]: `"<topic>-<partition>": [records...]`.
#[derive(Clone, Copy)]
pub struct Group<'a> {
    event: &'a Event,
    index: usize,
    entry: GroupEntry,
}

impl<'a> Group<'a> {
    /// Its index in the event.
    pub fn index(&self) -> usize {
        self.index
    }

    pub fn partition(&self) -> i32 {
        self.entry.partition
    }

    /// Whether its topic is `topic`.
    pub fn is_topic(&self, topic: &str) -> bool {
        let mut m = Matches::new(self.topic_json());
        json::push_escaped(&mut m, topic.as_bytes());
        m.finish()
    }

    /// Its topic as escaped in the JSON (without quotes).
    pub fn topic_json(&self) -> &'a [u8] {
        let start = self.entry.open_start + 1;
        &self.event.as_bytes()[start..start + self.entry.topic_len]
    }

    /// Its key as it appears in the JSON, quotes included: `"<topic>-<partition>"`,
    /// ready to be copied into another JSON document.
    pub fn key_json(&self) -> &'a [u8] {
        let start = self.entry.open_start;
        // The opening is the key, a colon and a bracket.
        &self.event.as_bytes()[start..self.entry.records_start() - 2]
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.entry.count
    }

    /// Whether it holds no record (never, in an event).
    pub fn is_empty(&self) -> bool {
        self.entry.count == 0
    }

    /// The event-wide indices of its records.
    pub fn records(&self) -> Range<usize> {
        self.entry.first_record..self.entry.first_record + self.entry.count
    }

    /// Its record `index` (within the group).
    pub fn record(&self, index: usize) -> Option<RecordInfo> {
        (index < self.entry.count)
            .then(|| info(self.event.layout().record(self.entry.first_record + index)))
    }

    /// Its records' offsets, in order.
    pub fn offsets(&self) -> impl ExactSizeIterator<Item = i64> + 'a {
        let layout = self.event.layout();
        self.records().map(move |r| layout.record(r).offset)
    }

    /// How many of its records have an offset below `offset`: the index (within the
    /// group) of the first record at or after `offset`.
    pub fn position(&self, offset: i64) -> usize {
        let layout = self.event.layout();
        let first = self.entry.first_record;
        let (mut lo, mut hi) = (0, self.entry.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if layout.record(first + mid).offset < offset {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

impl fmt::Debug for Group<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("key", &String::from_utf8_lossy(self.key_json()))
            .field("index", &self.index)
            .field("records", &self.records())
            .finish()
    }
}
