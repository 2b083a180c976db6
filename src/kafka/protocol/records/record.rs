//! Records: the [`Record`] type, its lazily iterated [`Headers`], and the iterator over the
//! records of one v2 batch.
//!
//! A v2 record is fully validated (lengths against the record's own size, header count
//! against the bytes left, exact consumption) before it is yielded; keys, values and
//! headers are then [`Bytes`] slices of the batch's buffer, so iterating allocates
//! nothing. Offsets and timestamps are computed from the batch header with checked
//! arithmetic. It must not decompress or parse batch headers: `batch.rs` does that.

use std::fmt;

use bytes::Bytes;

use crate::kafka::protocol::{DecodeError, Reader};

/// The smallest possible encoded v2 record: a one-byte length, attributes, timestamp delta,
/// offset delta, key length, value length and header count.
pub(crate) const MIN_RECORD_SIZE: usize = 7;

/// What a record's timestamp means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    /// Set by the producer (`CREATE_TIME`).
    CreateTime,
    /// Set by the broker when it appended the batch (`LOG_APPEND_TIME`).
    LogAppendTime,
    /// Magic 0 messages have no timestamp (`NO_TIMESTAMP_TYPE`); their timestamp is -1.
    NoTimestampType,
}

impl TimestampType {
    /// The attribute bit every format with timestamps (magic 1 and 2) sets for
    /// `LOG_APPEND_TIME`.
    const LOG_APPEND_TIME_BIT: i16 = 0x08;

    /// What the timestamps of a batch or message of this `magic` and `attributes` mean.
    pub(crate) fn of(magic: i8, attributes: i16) -> TimestampType {
        if magic == 0 {
            TimestampType::NoTimestampType
        } else if attributes & Self::LOG_APPEND_TIME_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }
}

/// One record, whatever the batch format it came from. Byte fields are slices of the
/// fetch response (or of the decompressed batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    pub timestamp: i64,
    pub timestamp_type: TimestampType,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Headers,
}

/// A record's headers, iterated lazily as `(key, value)` pairs of slices. Already validated
/// when the record was yielded, so iterating cannot fail.
#[derive(Clone, Default)]
pub struct Headers {
    reader: Reader,
    left: u32,
}

impl Headers {
    /// Headers encoded in `buf`, whose `count` entries were validated by [`validate_headers`].
    fn new(buf: Bytes, count: u32) -> Self {
        Self {
            reader: Reader::new(buf),
            left: count,
        }
    }

    /// Whether there are no headers left.
    pub fn is_empty(&self) -> bool {
        self.left == 0
    }

    /// The headers left, as `(key, value)` slices borrowed from the record's buffer: what
    /// iterating yields, without the reference-count update each `Bytes` costs (for
    /// encoders that only read them).
    pub fn slices(&self) -> HeaderSlices<'_> {
        HeaderSlices {
            rest: self.reader.peek_rest(),
            left: self.left,
        }
    }

    fn read_one(&mut self) -> Result<(Bytes, Option<Bytes>), DecodeError> {
        let key = self
            .reader
            .read_varint_nullable_bytes("record.header.key")?;
        let value = self
            .reader
            .read_varint_nullable_bytes("record.header.value")?;
        Ok((key.unwrap_or_default(), value))
    }
}

impl Iterator for Headers {
    type Item = (Bytes, Option<Bytes>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match self.read_one() {
            Ok(h) => Some(h),
            Err(_) => {
                // Unreachable for validated headers; end rather than panic.
                self.left = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.left as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Headers {}

/// Borrowed headers: see [`Headers::slices`].
#[derive(Debug, Clone)]
pub struct HeaderSlices<'a> {
    rest: &'a [u8],
    left: u32,
}

impl<'a> HeaderSlices<'a> {
    /// A zigzag varint (already validated: well-formed, at most 5 bytes).
    fn varint(&mut self) -> Option<i32> {
        let mut v: u32 = 0;
        for i in 0..5 {
            let (&b, rest) = self.rest.split_first()?;
            self.rest = rest;
            v |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some(((v >> 1) as i32) ^ -((v & 1) as i32));
            }
        }
        None
    }

    /// A varint-length-prefixed byte string; `Some(None)` when null.
    fn bytes(&mut self) -> Option<Option<&'a [u8]>> {
        let Ok(len) = usize::try_from(self.varint()?) else {
            return Some(None);
        };
        let (bytes, rest) = self.rest.split_at_checked(len)?;
        self.rest = rest;
        Some(Some(bytes))
    }
}

impl<'a> Iterator for HeaderSlices<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let header = self
            .bytes()
            .and_then(|key| Some((key.unwrap_or_default(), self.bytes()?)));
        if header.is_none() {
            // Unreachable for validated headers; end rather than panic.
            self.left = 0;
        }
        header
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.left as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for HeaderSlices<'_> {}

impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.clone().eq(other.clone())
    }
}

impl Eq for Headers {}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

/// Walk `count` headers without keeping them: keys must be non-null, values may be null.
fn validate_headers(r: &mut Reader, count: usize) -> Result<(), DecodeError> {
    for _ in 0..count {
        let key_len = r.read_varint("record.header.key")?;
        if key_len < 0 {
            return Err(DecodeError::NegativeLength {
                field: "record.header.key",
                len: key_len.into(),
            });
        }
        r.skip("record.header.key", key_len as usize)?;
        let value_len = r.read_varint("record.header.value")?;
        if value_len < -1 {
            return Err(DecodeError::NegativeLength {
                field: "record.header.value",
                len: value_len.into(),
            });
        }
        if value_len > 0 {
            r.skip("record.header.value", value_len as usize)?;
        }
    }
    Ok(())
}

/// What every record of a v2 batch shares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchContext {
    pub base_offset: i64,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub timestamp_type: TimestampType,
}

/// Parse one v2 record at the reader's position.
fn read_record(r: &mut Reader, ctx: &BatchContext) -> Result<Record, DecodeError> {
    let len = r.read_varint("record.length")?;
    if len < 0 {
        return Err(DecodeError::NegativeLength {
            field: "record.length",
            len: len.into(),
        });
    }
    r.with_limit("record", len as usize, |r| {
        let _attributes = r.read_i8("record.attributes")?;
        let timestamp_delta = r.read_varlong("record.timestamp_delta")?;
        let offset_delta = r.read_varint("record.offset_delta")?;
        let key = r.read_varint_nullable_bytes("record.key")?;
        let value = r.read_varint_nullable_bytes("record.value")?;
        let header_count = r.read_varint("record.header_count")?;
        if header_count < 0 {
            return Err(DecodeError::NegativeLength {
                field: "record.header_count",
                len: header_count.into(),
            });
        }
        // A header is at least a key length and a value length.
        let left = r.remaining();
        if header_count as usize > left / 2 {
            return Err(DecodeError::CountTooLarge {
                field: "record.header_count",
                count: header_count as u64,
                left,
            });
        }
        let headers = if header_count == 0 {
            Headers::default()
        } else {
            let start = r.position();
            validate_headers(r, header_count as usize)?;
            Headers::new(r.slice_between(start, r.position()), header_count as u32)
        };
        let offset =
            ctx.base_offset
                .checked_add(offset_delta.into())
                .ok_or(DecodeError::Overflow {
                    field: "record.offset_delta",
                })?;
        let timestamp = match ctx.timestamp_type {
            TimestampType::LogAppendTime => ctx.max_timestamp,
            _ => ctx
                .base_timestamp
                .checked_add(timestamp_delta)
                .ok_or(DecodeError::Overflow {
                    field: "record.timestamp_delta",
                })?,
        };
        Ok(Record {
            offset,
            timestamp,
            timestamp_type: ctx.timestamp_type,
            key,
            value,
            headers,
        })
    })
}

/// The records of one v2 batch: exactly `left` records, then nothing.
#[derive(Debug, Clone)]
pub(crate) struct V2Records {
    reader: Reader,
    pub(super) left: u32,
    ctx: BatchContext,
}

impl V2Records {
    /// Records in `data` (uncompressed), whose declared `count` is checked here against the
    /// size of `data`.
    pub(crate) fn new(data: Bytes, count: u32, ctx: BatchContext) -> Result<Self, DecodeError> {
        let left = data.len();
        if count as usize > left / MIN_RECORD_SIZE {
            return Err(DecodeError::CountTooLarge {
                field: "record_count",
                count: count.into(),
                left,
            });
        }
        Ok(Self {
            reader: Reader::new(data),
            left: count,
            ctx,
        })
    }

    pub(super) fn next(&mut self) -> Option<Result<Record, DecodeError>> {
        if self.left == 0 {
            return if self.reader.is_empty() {
                None
            } else {
                Some(Err(DecodeError::TrailingBytes {
                    field: "records",
                    left: self.reader.remaining(),
                }))
            };
        }
        self.left -= 1;
        Some(read_record(&mut self.reader, &self.ctx))
    }
}

#[cfg(test)]
mod tests;
