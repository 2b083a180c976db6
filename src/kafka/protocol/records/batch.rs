//! Iterating the batches of a fetch response's records field.
//!
//! It owns framing (offset + length), telling a partial trailing batch (which brokers send
//! when they cut a response at its byte limit: not an error) from a corrupt one, and the
//! v2 batch header: CRC-32C over attributes..end, attributes, offsets and counts. Legacy
//! (magic 0/1) messages become batches here too, one per shallow message. Uncompressed
//! batches are slices of the input; a compressed one is decompressed, with the configured
//! cap, only when its records are asked for. It must not parse records (`record.rs`,
//! `legacy.rs`) or decide which batches to deliver (`transactions.rs`, the consumer).

use bytes::Bytes;

use super::compression::{Compression, DEFAULT_MAX_DECOMPRESSED_SIZE, decompress};
use super::legacy::{self, LOG_OVERHEAD, LegacyMessage, LegacyRecords, WrapperRecords};
use super::record::{BatchContext, MIN_RECORD_SIZE, Record, TimestampType, V2Records};
use crate::kafka::protocol::{DecodeError, Reader};

/// The v2 batch length (after the length field) of a batch with no records.
const V2_MIN_BATCH_LENGTH: i32 = 49;
/// Where the magic byte sits in both v2 batches and legacy messages.
const MAGIC_OFFSET: usize = 16;
/// Attribute bits shared by every format.
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;

/// A batch cut short at the end of the records field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialBatch {
    /// Where it starts in the records field.
    pub position: usize,
    /// How many of its bytes are present.
    pub available: usize,
    /// Its base offset, if those 8 bytes are present.
    pub base_offset: Option<i64>,
    /// Its full size (log overhead + batch length), if the length field is present.
    pub size: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    Done,
    Partial(PartialBatch),
    Failed,
}

/// The batches of a records field, in order. Iterating allocates nothing; a partial
/// trailing batch ends iteration cleanly (see [`RecordBatches::partial_batch`]); an error
/// is yielded once and ends iteration.
#[derive(Debug, Clone)]
pub struct RecordBatches {
    data: Bytes,
    pos: usize,
    max_decompressed_size: usize,
    verify_crc: bool,
    state: State,
}

impl RecordBatches {
    /// The batches in `bytes`, with CRC verification and the default decompression cap.
    pub fn new(bytes: Bytes) -> Self {
        Self {
            data: bytes,
            pos: 0,
            max_decompressed_size: DEFAULT_MAX_DECOMPRESSED_SIZE,
            verify_crc: true,
            state: State::Running,
        }
    }

    /// Cap the decompressed size of any one batch (or legacy wrapper) at `cap` bytes.
    pub fn max_decompressed_size(mut self, cap: usize) -> Self {
        self.max_decompressed_size = cap;
        self
    }

    /// Whether to verify checksums (on by default, like Java's `check.crcs`).
    pub fn verify_crc(mut self, verify: bool) -> Self {
        self.verify_crc = verify;
        self
    }

    /// The partial batch iteration stopped at, if it ended on one.
    pub fn partial_batch(&self) -> Option<PartialBatch> {
        match self.state {
            State::Partial(p) => Some(p),
            _ => None,
        }
    }

    /// Bytes of the records field not consumed yet.
    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn read_next(&mut self) -> Option<Result<RecordBatch, DecodeError>> {
        let head = self.data.get(self.pos..).unwrap_or_default();
        if head.is_empty() {
            self.state = State::Done;
            return None;
        }
        let base_offset = head.first_chunk::<8>().map(|b| i64::from_be_bytes(*b));
        let length = head
            .get(8..)
            .and_then(|b| b.first_chunk::<4>())
            .map(|b| i32::from_be_bytes(*b));
        let (Some(base_offset), Some(length)) = (base_offset, length) else {
            return self.partial(head.len(), base_offset, None);
        };
        let size = match usize::try_from(length) {
            Ok(l) if l >= legacy::MIN_MESSAGE_SIZE_V0 => l + LOG_OVERHEAD,
            _ => {
                return Some(Err(DecodeError::InvalidValue {
                    field: "batch.length",
                    value: length.into(),
                }));
            }
        };
        if head.len() < size {
            return self.partial(head.len(), Some(base_offset), Some(size));
        }
        let magic = head.get(MAGIC_OFFSET).map_or(-1, |&m| m as i8);
        let entry = self.data.slice(self.pos..self.pos + size);
        self.pos += size;
        let batch = match magic {
            2 => RecordBatch::parse_v2(entry, self.max_decompressed_size, self.verify_crc),
            0 | 1 => RecordBatch::parse_legacy(entry, self.max_decompressed_size, self.verify_crc),
            magic => Err(DecodeError::UnsupportedMagic { base_offset, magic }),
        };
        Some(batch)
    }

    fn partial(
        &mut self,
        available: usize,
        base_offset: Option<i64>,
        size: Option<usize>,
    ) -> Option<Result<RecordBatch, DecodeError>> {
        self.state = State::Partial(PartialBatch {
            position: self.pos,
            available,
            base_offset,
            size,
        });
        None
    }
}

impl Iterator for RecordBatches {
    type Item = Result<RecordBatch, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.state != State::Running {
            return None;
        }
        let item = self.read_next();
        if let Some(Err(_)) = item {
            self.state = State::Failed;
        }
        item
    }
}

impl std::iter::FusedIterator for RecordBatches {}

#[derive(Debug, Clone)]
enum Body {
    /// The records section of a v2 batch, still compressed if the batch is.
    V2(Bytes),
    /// One legacy message: a record, or a compressed wrapper of inner messages.
    Legacy(LegacyMessage),
}

/// One batch: a v2 record batch, or one legacy message (magic 0/1) seen as a batch.
///
/// For legacy messages, the v2-only fields take their "none" values (leader epoch,
/// producer id, epoch and sequence are -1, never transactional or control), and for a
/// compressed wrapper the base offset is the wrapper's own offset (that of its last inner
/// message) and the record count is unknown, as neither is known before decompression.
#[derive(Debug, Clone)]
pub struct RecordBatch {
    base_offset: i64,
    last_offset_delta: i32,
    last_offset: i64,
    size: usize,
    partition_leader_epoch: i32,
    magic: i8,
    crc: u32,
    attributes: i16,
    compression: Compression,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    record_count: Option<u32>,
    body: Body,
    max_decompressed_size: usize,
    verify_crc: bool,
}

impl RecordBatch {
    /// Parse a whole v2 batch `entry` (from its base offset field to its end).
    fn parse_v2(entry: Bytes, cap: usize, verify_crc: bool) -> Result<Self, DecodeError> {
        let size = entry.len();
        let mut r = Reader::new(entry);
        let base_offset = r.read_i64("batch.base_offset")?;
        let batch_length = r.read_i32("batch.length")?;
        if batch_length < V2_MIN_BATCH_LENGTH {
            return Err(DecodeError::InvalidValue {
                field: "batch.length",
                value: batch_length.into(),
            });
        }
        let partition_leader_epoch = r.read_i32("batch.partition_leader_epoch")?;
        let magic = r.read_i8("batch.magic")?;
        let crc = r.read_u32("batch.crc")?;
        if verify_crc {
            let computed = crc32c::crc32c(r.peek_rest());
            if computed != crc {
                return Err(DecodeError::CrcMismatch {
                    base_offset,
                    stored: crc,
                    computed,
                });
            }
        }
        let attributes = r.read_i16("batch.attributes")?;
        let last_offset_delta = r.read_i32("batch.last_offset_delta")?;
        let base_timestamp = r.read_i64("batch.base_timestamp")?;
        let max_timestamp = r.read_i64("batch.max_timestamp")?;
        let producer_id = r.read_i64("batch.producer_id")?;
        let producer_epoch = r.read_i16("batch.producer_epoch")?;
        let base_sequence = r.read_i32("batch.base_sequence")?;
        let record_count = r.read_i32("batch.record_count")?;
        let record_count =
            u32::try_from(record_count).map_err(|_| DecodeError::NegativeLength {
                field: "batch.record_count",
                len: record_count.into(),
            })?;
        let codec = (attributes & 0x07) as u8;
        let compression = Compression::from_code(codec)
            .ok_or(DecodeError::UnknownCompression { base_offset, codec })?;
        let last_offset =
            base_offset
                .checked_add(last_offset_delta.into())
                .ok_or(DecodeError::Overflow {
                    field: "batch.last_offset_delta",
                })?;
        let records = r.read_rest();
        if compression == Compression::None
            && record_count as usize > records.len() / MIN_RECORD_SIZE
        {
            return Err(DecodeError::CountTooLarge {
                field: "batch.record_count",
                count: record_count.into(),
                left: records.len(),
            });
        }
        Ok(Self {
            base_offset,
            last_offset_delta,
            last_offset,
            size,
            partition_leader_epoch,
            magic,
            crc,
            attributes,
            compression,
            base_timestamp,
            max_timestamp,
            producer_id,
            producer_epoch,
            base_sequence,
            record_count: Some(record_count),
            body: Body::V2(records),
            max_decompressed_size: cap,
            verify_crc,
        })
    }

    /// Parse one whole legacy message `entry` as a batch.
    fn parse_legacy(entry: Bytes, cap: usize, verify_crc: bool) -> Result<Self, DecodeError> {
        let size = entry.len();
        let msg = legacy::parse_message(entry, verify_crc)?;
        let codec = msg.codec_bits();
        let compression = Compression::from_code(codec).ok_or(DecodeError::UnknownCompression {
            base_offset: msg.offset,
            codec,
        })?;
        if compression != Compression::None && msg.value.is_none() {
            return Err(DecodeError::UnexpectedNull {
                field: "message.value",
            });
        }
        Ok(Self {
            base_offset: msg.offset,
            last_offset_delta: 0,
            last_offset: msg.offset,
            size,
            partition_leader_epoch: -1,
            magic: msg.magic,
            crc: msg.crc,
            attributes: i16::from(msg.attributes as u8),
            compression,
            base_timestamp: msg.timestamp,
            max_timestamp: msg.timestamp,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            record_count: (compression == Compression::None).then_some(1),
            body: Body::Legacy(msg),
            max_decompressed_size: cap,
            verify_crc,
        })
    }

    /// The offset of the first record (see the type's docs for legacy wrappers).
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// The offset of the last record, as written when the batch was created (compaction
    /// may have removed records since; this offset still counts as consumed).
    pub fn last_offset(&self) -> i64 {
        self.last_offset
    }

    /// The offset to fetch after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset.saturating_add(1)
    }

    /// `last_offset - base_offset` (0 for legacy messages).
    pub fn last_offset_delta(&self) -> i32 {
        self.last_offset_delta
    }

    /// The batch's size in the records field, log overhead included.
    pub fn size_in_bytes(&self) -> usize {
        self.size
    }

    /// The partition leader epoch (-1 for legacy messages).
    pub fn partition_leader_epoch(&self) -> i32 {
        self.partition_leader_epoch
    }

    /// The magic byte: 2 for record batches, 0 or 1 for legacy messages.
    pub fn magic(&self) -> i8 {
        self.magic
    }

    /// The stored checksum (CRC-32C for v2, CRC-32 for legacy messages).
    pub fn crc(&self) -> u32 {
        self.crc
    }

    /// The raw attributes.
    pub fn attributes(&self) -> i16 {
        self.attributes
    }

    /// The compression codec.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Whether the records are compressed.
    pub fn is_compressed(&self) -> bool {
        self.compression != Compression::None
    }

    /// What the record timestamps mean.
    pub fn timestamp_type(&self) -> TimestampType {
        TimestampType::of(self.magic, self.attributes)
    }

    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.magic >= 2 && self.attributes & TRANSACTIONAL_BIT != 0
    }

    /// Whether the batch holds control records (transaction markers), never delivered.
    pub fn is_control(&self) -> bool {
        self.magic >= 2 && self.attributes & CONTROL_BIT != 0
    }

    /// The first record's timestamp (v2) or the message timestamp (legacy; -1 for magic 0).
    pub fn base_timestamp(&self) -> i64 {
        self.base_timestamp
    }

    /// The largest record timestamp, or the log append time.
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    /// The producer id (-1 when none).
    pub fn producer_id(&self) -> i64 {
        self.producer_id
    }

    /// The producer epoch (-1 when none).
    pub fn producer_epoch(&self) -> i16 {
        self.producer_epoch
    }

    /// The base sequence (-1 when none).
    pub fn base_sequence(&self) -> i32 {
        self.base_sequence
    }

    /// Caps what [`RecordBatch::records`] may decompress at `cap` bytes from now on (a
    /// reader with a budget for several batches lowers it as the budget runs out).
    pub fn set_max_decompressed_size(&mut self, cap: usize) {
        self.max_decompressed_size = cap;
    }

    /// The cap [`RecordBatch::records`] decompresses under.
    pub fn max_decompressed_size(&self) -> usize {
        self.max_decompressed_size
    }

    /// The declared record count; `None` for a legacy compressed wrapper.
    pub fn record_count(&self) -> Option<u32> {
        self.record_count
    }

    /// The batch's records. An uncompressed batch's records are slices of the input; a
    /// compressed one is decompressed (each call decompresses again) into one new buffer of
    /// at most the configured cap, which its records then slice.
    pub fn records(&self) -> Result<Records, DecodeError> {
        match &self.body {
            Body::V2(data) => {
                let data = match self.compression {
                    Compression::None => data.clone(),
                    codec => decompress(
                        codec,
                        data,
                        self.max_decompressed_size,
                        self.base_offset,
                        false,
                    )?,
                };
                let ctx = BatchContext {
                    base_offset: self.base_offset,
                    base_timestamp: self.base_timestamp,
                    max_timestamp: self.max_timestamp,
                    timestamp_type: self.timestamp_type(),
                };
                let count = self.record_count.unwrap_or_default();
                let decompressed = if self.compression == Compression::None {
                    0
                } else {
                    data.len()
                };
                Ok(Records::v2(V2Records::new(data, count, ctx)?).decompressed(decompressed))
            }
            Body::Legacy(msg) => match (self.compression, &msg.value) {
                (Compression::None, _) => Ok(Records::legacy(LegacyRecords::single(msg))),
                (codec, value) => {
                    let value = value.as_deref().unwrap_or_default();
                    let inner = decompress(
                        codec,
                        value,
                        self.max_decompressed_size,
                        msg.offset,
                        msg.magic == 0,
                    )?;
                    let decompressed = inner.len();
                    let inner = WrapperRecords::new(inner, msg, self.verify_crc)?;
                    Ok(Records::legacy(LegacyRecords::Wrapper(inner)).decompressed(decompressed))
                }
            },
        }
    }
}

/// The records of one batch, in order. Yields an error at most once, then ends.
#[derive(Debug, Clone)]
pub struct Records {
    inner: Inner,
    /// The bytes decompressed for them (0 for an uncompressed batch, whose records slice
    /// the input).
    decompressed: usize,
}

#[derive(Debug, Clone)]
enum Inner {
    V2(V2Records),
    Legacy(LegacyRecords),
    Done,
}

impl Records {
    pub(crate) fn v2(records: V2Records) -> Self {
        Self {
            inner: Inner::V2(records),
            decompressed: 0,
        }
    }

    pub(crate) fn legacy(records: LegacyRecords) -> Self {
        Self {
            inner: Inner::Legacy(records),
            decompressed: 0,
        }
    }

    pub(crate) fn decompressed(mut self, bytes: usize) -> Self {
        self.decompressed = bytes;
        self
    }

    /// The bytes decompressed to read these records: the memory they hold beyond the
    /// fetched bytes (0 for an uncompressed batch).
    pub fn decompressed_len(&self) -> usize {
        self.decompressed
    }
}

impl Iterator for Records {
    type Item = Result<Record, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = match &mut self.inner {
            Inner::V2(r) => r.next(),
            Inner::Legacy(r) => r.next(),
            Inner::Done => None,
        };
        if !matches!(item, Some(Ok(_))) {
            self.inner = Inner::Done;
        }
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            Inner::V2(r) => (0, Some(r.left as usize + 1)),
            Inner::Legacy(_) => (0, None),
            Inner::Done => (0, Some(0)),
        }
    }
}
