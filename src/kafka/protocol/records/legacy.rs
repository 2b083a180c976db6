//! Legacy message sets (magic 0 and 1, brokers before 0.11).
//!
//! It owns parsing one message (offset, size, CRC-32 over magic..end, magic, attributes,
//! the v1 timestamp, key, value) and iterating the inner messages of a compressed wrapper,
//! whose offsets are absolute for magic 0 and relative for magic 1 (absolute = wrapper
//! offset - last inner relative offset + inner relative offset). Records come out as the
//! same [`Record`] type as v2, without headers. It must not decompress (the caller hands it
//! the decompressed inner set) or handle partial trailing messages (`batch.rs` does).

use bytes::Bytes;

use super::record::{Record, TimestampType};
use crate::kafka::protocol::{DecodeError, Reader};

/// The offset and size fields in front of every message (and batch).
pub(crate) const LOG_OVERHEAD: usize = 12;
/// The smallest possible magic 0 message after the size field.
pub(crate) const MIN_MESSAGE_SIZE_V0: usize = 14;
/// The smallest possible magic 1 message after the size field.
const MIN_MESSAGE_SIZE_V1: usize = 22;

/// One decoded legacy message. Key and value are slices of the input.
#[derive(Debug, Clone)]
pub(crate) struct LegacyMessage {
    pub offset: i64,
    pub crc: u32,
    pub magic: i8,
    pub attributes: i8,
    /// -1 for magic 0.
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
}

impl LegacyMessage {
    /// The codec bits of the attributes.
    pub fn codec_bits(&self) -> u8 {
        (self.attributes & 0x07) as u8
    }

    /// What the message's timestamp means.
    pub fn timestamp_type(&self) -> TimestampType {
        TimestampType::of(self.magic, i16::from(self.attributes as u8))
    }
}

/// Parse one message whose bytes, from its offset field on, are exactly `entry`.
pub(crate) fn parse_message(entry: Bytes, verify_crc: bool) -> Result<LegacyMessage, DecodeError> {
    let mut r = Reader::new(entry);
    let offset = r.read_i64("message.offset")?;
    let size = r.read_i32("message.size")?;
    let crc = r.read_u32("message.crc")?;
    let computed = verify_crc.then(|| crc32fast::hash(r.peek_rest()));
    let magic = r.read_i8("message.magic")?;
    let min_size = match magic {
        0 => MIN_MESSAGE_SIZE_V0,
        1 => MIN_MESSAGE_SIZE_V1,
        magic => {
            return Err(DecodeError::UnsupportedMagic {
                base_offset: offset,
                magic,
            });
        }
    };
    if !usize::try_from(size).is_ok_and(|s| s >= min_size) {
        return Err(DecodeError::InvalidValue {
            field: "message.size",
            value: size.into(),
        });
    }
    if let Some(computed) = computed
        && computed != crc
    {
        return Err(DecodeError::CrcMismatch {
            base_offset: offset,
            stored: crc,
            computed,
        });
    }
    let attributes = r.read_i8("message.attributes")?;
    let timestamp = if magic >= 1 {
        r.read_i64("message.timestamp")?
    } else {
        -1
    };
    let key = r.read_nullable_bytes("message.key")?;
    let value = r.read_nullable_bytes("message.value")?;
    if !r.is_empty() {
        return Err(DecodeError::TrailingBytes {
            field: "message",
            left: r.remaining(),
        });
    }
    Ok(LegacyMessage {
        offset,
        crc,
        magic,
        attributes,
        timestamp,
        key,
        value,
    })
}

/// The offset and declared size of the message at the start of `head`, if `head` holds
/// them; the size is checked against the smallest possible message.
fn peek_entry(head: &[u8]) -> Result<(i64, usize), DecodeError> {
    let Some((offset, rest)) = head.split_first_chunk::<8>() else {
        return Err(DecodeError::Truncated {
            field: "message",
            needed: LOG_OVERHEAD,
            left: head.len(),
        });
    };
    let Some(size) = rest.first_chunk::<4>() else {
        return Err(DecodeError::Truncated {
            field: "message",
            needed: LOG_OVERHEAD,
            left: head.len(),
        });
    };
    let size = i32::from_be_bytes(*size);
    match usize::try_from(size) {
        Ok(s) if s >= MIN_MESSAGE_SIZE_V0 => Ok((i64::from_be_bytes(*offset), s + LOG_OVERHEAD)),
        _ => Err(DecodeError::InvalidValue {
            field: "message.size",
            value: size.into(),
        }),
    }
}

/// The records of one legacy entry: a single uncompressed message, or the inner messages
/// of a compressed wrapper.
#[derive(Debug, Clone)]
pub(crate) enum LegacyRecords {
    Single(Option<Record>),
    Wrapper(WrapperRecords),
}

impl LegacyRecords {
    /// The one record of an uncompressed message.
    pub(crate) fn single(msg: &LegacyMessage) -> Self {
        Self::Single(Some(Record {
            offset: msg.offset,
            timestamp: msg.timestamp,
            timestamp_type: msg.timestamp_type(),
            key: msg.key.clone(),
            value: msg.value.clone(),
            headers: Default::default(),
        }))
    }

    pub(crate) fn next(&mut self) -> Option<Result<Record, DecodeError>> {
        match self {
            Self::Single(r) => r.take().map(Ok),
            Self::Wrapper(w) => w.next(),
        }
    }
}

/// The inner messages of a compressed wrapper message.
#[derive(Debug, Clone)]
pub(crate) struct WrapperRecords {
    reader: Reader,
    wrapper_offset: i64,
    wrapper_magic: i8,
    wrapper_timestamp: i64,
    wrapper_timestamp_type: TimestampType,
    /// For magic 1: wrapper offset - last inner relative offset.
    relative_base: Option<i64>,
    verify_crc: bool,
}

impl WrapperRecords {
    /// Iterate the decompressed inner message set `inner` of `wrapper`.
    pub(crate) fn new(
        inner: Bytes,
        wrapper: &LegacyMessage,
        verify_crc: bool,
    ) -> Result<Self, DecodeError> {
        if inner.is_empty() {
            return Err(DecodeError::EmptyWrapper {
                offset: wrapper.offset,
            });
        }
        let relative_base = if wrapper.magic >= 1 {
            // Walk the entries (without parsing them) to find the last relative offset.
            let mut rest: &[u8] = &inner;
            let mut last = 0;
            while !rest.is_empty() {
                let (offset, len) = peek_entry(rest)?;
                rest = rest.get(len..).ok_or(DecodeError::Truncated {
                    field: "message",
                    needed: len,
                    left: rest.len(),
                })?;
                last = offset;
            }
            Some(
                wrapper
                    .offset
                    .checked_sub(last)
                    .ok_or(DecodeError::Overflow {
                        field: "message.offset",
                    })?,
            )
        } else {
            None
        };
        Ok(Self {
            reader: Reader::new(inner),
            wrapper_offset: wrapper.offset,
            wrapper_magic: wrapper.magic,
            wrapper_timestamp: wrapper.timestamp,
            wrapper_timestamp_type: wrapper.timestamp_type(),
            relative_base,
            verify_crc,
        })
    }

    fn next(&mut self) -> Option<Result<Record, DecodeError>> {
        if self.reader.is_empty() {
            return None;
        }
        Some(self.read_next())
    }

    fn read_next(&mut self) -> Result<Record, DecodeError> {
        let (_, len) = peek_entry(self.reader.peek_rest())?;
        let entry = self.reader.read_slice("message", len)?;
        let msg = parse_message(entry, self.verify_crc)?;
        if msg.codec_bits() != 0 {
            return Err(DecodeError::NestedCompression {
                offset: self.wrapper_offset,
            });
        }
        let offset = match self.relative_base {
            Some(base) => base.checked_add(msg.offset).ok_or(DecodeError::Overflow {
                field: "message.offset",
            })?,
            None => msg.offset,
        };
        let (timestamp, timestamp_type) = if self.wrapper_magic >= 1
            && self.wrapper_timestamp_type == TimestampType::LogAppendTime
        {
            (self.wrapper_timestamp, TimestampType::LogAppendTime)
        } else {
            (msg.timestamp, msg.timestamp_type())
        };
        Ok(Record {
            offset,
            timestamp,
            timestamp_type,
            key: msg.key,
            value: msg.value,
            headers: Default::default(),
        })
    }
}
