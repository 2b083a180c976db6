//! The layout table of an encoded event: where its groups and records lie in the JSON, so
//! that any part of it can be copied out again without re-encoding.
//!
//! The table is stored after the JSON in the event's one allocation (so that encoding a
//! batch allocates once): little-endian 64-bit words, first the length of the event's
//! opening (`{"eventSource":...,"records":{`), then [`GROUP_WORDS`] per group, then
//! [`RECORD_WORDS`] per record in event order (group by group). A record's JSON starts
//! one byte (the comma) after the end of the one before it in its group, or right after
//! its group's opening for the first. This file only stores and reads the table: it
//! does not write JSON.

use std::ops::Range;

/// Words of one group entry.
const GROUP_WORDS: usize = 6;
/// Words of one record entry.
const RECORD_WORDS: usize = 3;
const WORD: usize = 8;

/// The size of the table of an event with `groups` groups and `records` records.
pub(crate) fn table_len(groups: usize, records: usize) -> usize {
    (1 + groups * GROUP_WORDS + records * RECORD_WORDS) * WORD
}

/// Where one topic-partition group lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GroupEntry {
    /// Where `"<topic>-<partition>":[` starts.
    pub open_start: usize,
    /// Its length.
    pub open_len: usize,
    /// The length of the escaped topic in it (which starts one byte after `open_start`).
    pub topic_len: usize,
    pub partition: i32,
    /// The event-wide index of its first record.
    pub first_record: usize,
    /// How many records it holds (at least one).
    pub count: usize,
}

impl GroupEntry {
    /// Where its first record starts.
    pub fn records_start(&self) -> usize {
        self.open_start + self.open_len
    }
}

/// What the table keeps of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordEntry {
    pub offset: i64,
    pub timestamp: i64,
    /// Where its JSON ends (exclusive).
    pub end: usize,
}

/// Appends a table after the JSON: the opening's length, then every group, then every
/// record (the caller writes exactly the counts it sized the buffer for).
pub(crate) fn push_opening(out: &mut Vec<u8>, len: usize) {
    push_word(out, len as u64);
}

pub(crate) fn push_group(out: &mut Vec<u8>, g: &GroupEntry) {
    push_word(out, g.open_start as u64);
    push_word(out, g.open_len as u64);
    push_word(out, g.topic_len as u64);
    push_word(out, i64::from(g.partition) as u64);
    push_word(out, g.first_record as u64);
    push_word(out, g.count as u64);
}

pub(crate) fn push_record(out: &mut Vec<u8>, r: &RecordEntry) {
    push_word(out, r.offset as u64);
    push_word(out, r.timestamp as u64);
    push_word(out, r.end as u64);
}

fn push_word(out: &mut Vec<u8>, w: u64) {
    out.extend_from_slice(&w.to_le_bytes());
}

/// A table, read in place.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout<'a> {
    table: &'a [u8],
    groups: usize,
}

impl<'a> Layout<'a> {
    /// The table `table` of an event with `groups` groups.
    pub fn new(table: &'a [u8], groups: usize) -> Self {
        Self { table, groups }
    }

    fn word(&self, i: usize) -> u64 {
        let bytes = self.table[i * WORD..][..WORD]
            .try_into()
            .expect("a word is 8 bytes");
        u64::from_le_bytes(bytes)
    }

    fn size(&self, i: usize) -> usize {
        // Written from `usize` values by this process.
        self.word(i) as usize
    }

    /// The length of the event's opening: where its first group starts.
    pub fn opening_len(&self) -> usize {
        self.size(0)
    }

    pub fn group(&self, g: usize) -> GroupEntry {
        let w = 1 + g * GROUP_WORDS;
        GroupEntry {
            open_start: self.size(w),
            open_len: self.size(w + 1),
            topic_len: self.size(w + 2),
            partition: self.word(w + 3) as i64 as i32,
            first_record: self.size(w + 4),
            count: self.size(w + 5),
        }
    }

    pub fn record(&self, r: usize) -> RecordEntry {
        let w = 1 + self.groups * GROUP_WORDS + r * RECORD_WORDS;
        RecordEntry {
            offset: self.word(w) as i64,
            timestamp: self.word(w + 1) as i64,
            end: self.size(w + 2),
        }
    }

    /// The bytes of records `range` (indices within group `g`), commas between them
    /// included: one contiguous span of the JSON.
    pub fn records_span(&self, g: &GroupEntry, range: Range<usize>) -> Range<usize> {
        debug_assert!(!range.is_empty() && range.end <= g.count);
        let start = if range.start == 0 {
            g.records_start()
        } else {
            self.record(g.first_record + range.start - 1).end + 1
        };
        start..self.record(g.first_record + range.end - 1).end
    }
}
