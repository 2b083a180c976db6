//! Encoding records into one record batch (magic 2), as a Produce request carries it.
//!
//! It owns the batch layout: the 61-byte header with its CRC-32C, zigzag varint records
//! with relative offsets and timestamps, headers in record order (duplicate keys kept,
//! which `kafka-protocol`'s encoder can't, as it holds headers in a map), and the four
//! codecs in pure Rust (gzip, raw snappy as librdkafka writes it, lz4 frames, zstd). The
//! producer id, epoch and base sequence are the caller's: this module keeps no state and
//! does no I/O. The result decodes with [`crate::kafka::protocol::records`].

use crate::kafka::protocol::records::Compression;
use bytes::{BufMut, Bytes, BytesMut};
use std::io::Write;

/// A record to produce.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProduceRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    /// Header keys and values, in order; keys may repeat.
    pub headers: Vec<(Bytes, Option<Bytes>)>,
    /// Milliseconds since the epoch (CreateTime).
    pub timestamp: i64,
}

/// The batch-level fields the producer decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    /// -1 without idempotence.
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// The sequence number of the first record; -1 without idempotence.
    pub base_sequence: i32,
    pub compression: Compression,
}

impl BatchHeader {
    /// A batch of a producer without idempotence.
    pub fn plain(compression: Compression) -> BatchHeader {
        BatchHeader {
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            compression,
        }
    }
}

/// Why a batch could not be encoded.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    #[error("a record batch needs at least one record")]
    Empty,
    /// A field longer than the format can say (2 GiB), or a batch over 2 GiB.
    #[error("record batch {field} is too large ({len} bytes)")]
    TooLarge { field: &'static str, len: usize },
    /// A record's timestamp is so far from the first record's that the difference does
    /// not fit in 64 bits: the batch would not decode.
    #[error("record timestamp {timestamp} is too far from the batch's first, {base}")]
    TimestampOutOfRange { timestamp: i64, base: i64 },
    #[error("compressing a record batch with {codec}: {reason}")]
    Compression { codec: Compression, reason: String },
}

/// Bytes from the start of a batch to its CRC-covered part (attributes).
const CRC_START: usize = 21;
/// The batch header's size.
const HEADER_LEN: usize = 61;

/// Encodes `records` as one batch (base offset 0: the broker assigns offsets).
pub fn encode_batch(records: &[ProduceRecord], header: &BatchHeader) -> Result<Bytes, EncodeError> {
    let first = records.first().ok_or(EncodeError::Empty)?;
    let count = i32::try_from(records.len()).map_err(|_| EncodeError::TooLarge {
        field: "record count",
        len: records.len(),
    })?;
    let base_timestamp = first.timestamp;
    let max_timestamp = records
        .iter()
        .map(|r| r.timestamp)
        .max()
        .unwrap_or(base_timestamp);

    let mut body = BytesMut::with_capacity(records.iter().map(estimate).sum());
    for (i, r) in records.iter().enumerate() {
        write_record(&mut body, r, i as i64, base_timestamp)?;
    }
    let body = compress(header.compression, body)?;

    let mut out = BytesMut::with_capacity(HEADER_LEN + body.len());
    out.put_i64(0); // base offset
    let batch_len = HEADER_LEN - 12 + body.len();
    out.put_i32(i32::try_from(batch_len).map_err(|_| EncodeError::TooLarge {
        field: "batch",
        len: batch_len,
    })?);
    out.put_i32(-1); // partition leader epoch
    out.put_i8(2); // magic
    out.put_u32(0); // CRC, filled in below
    out.put_i16(i16::from(header.compression.code())); // CreateTime, not transactional
    out.put_i32(count - 1); // last offset delta
    out.put_i64(base_timestamp);
    out.put_i64(max_timestamp);
    out.put_i64(header.producer_id);
    out.put_i16(header.producer_epoch);
    out.put_i32(header.base_sequence);
    out.put_i32(count);
    out.put_slice(&body);
    let crc = crc32c::crc32c(&out[CRC_START..]);
    out[CRC_START - 4..CRC_START].copy_from_slice(&crc.to_be_bytes());
    Ok(out.freeze())
}

/// A record's encoded size, near enough to size the buffer once.
fn estimate(r: &ProduceRecord) -> usize {
    let headers: usize = r
        .headers
        .iter()
        .map(|(k, v)| k.len() + v.as_ref().map_or(0, Bytes::len) + 10)
        .sum();
    r.key.as_ref().map_or(0, Bytes::len) + r.value.as_ref().map_or(0, Bytes::len) + headers + 32
}

fn write_record(
    out: &mut BytesMut,
    r: &ProduceRecord,
    offset_delta: i64,
    base_timestamp: i64,
) -> Result<(), EncodeError> {
    let mut body = BytesMut::with_capacity(estimate(r));
    body.put_i8(0); // attributes
    // The decoder adds the delta back with checked arithmetic, as it must for hostile
    // input; a delta that wraps would make a batch no consumer of ours can read.
    let delta =
        r.timestamp
            .checked_sub(base_timestamp)
            .ok_or(EncodeError::TimestampOutOfRange {
                timestamp: r.timestamp,
                base: base_timestamp,
            })?;
    put_varlong(&mut body, delta);
    put_varlong(&mut body, offset_delta);
    put_nullable(&mut body, r.key.as_deref(), "key")?;
    put_nullable(&mut body, r.value.as_deref(), "value")?;
    put_varlong(&mut body, r.headers.len() as i64);
    for (k, v) in &r.headers {
        put_nullable(&mut body, Some(k), "header key")?;
        put_nullable(&mut body, v.as_deref(), "header value")?;
    }
    put_varlong(&mut *out, body.len() as i64);
    out.put_slice(&body);
    Ok(())
}

fn put_nullable(
    out: &mut BytesMut,
    b: Option<&[u8]>,
    field: &'static str,
) -> Result<(), EncodeError> {
    match b {
        None => put_varlong(out, -1),
        Some(b) => {
            let len = i32::try_from(b.len()).map_err(|_| EncodeError::TooLarge {
                field,
                len: b.len(),
            })?;
            put_varlong(out, i64::from(len));
            out.put_slice(b);
        }
    }
    Ok(())
}

/// A zigzag varint (Kafka's varint and varlong share the encoding).
fn put_varlong(out: &mut impl BufMut, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.put_u8((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.put_u8(z as u8);
}

fn compress(codec: Compression, body: BytesMut) -> Result<Bytes, EncodeError> {
    let failed = |reason: String| EncodeError::Compression { codec, reason };
    Ok(match codec {
        Compression::None => body.freeze(),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 2),
                flate2::Compression::fast(),
            );
            enc.write_all(&body).map_err(|e| failed(e.to_string()))?;
            enc.finish().map_err(|e| failed(e.to_string()))?.into()
        }
        Compression::Snappy => snap::raw::Encoder::new()
            .compress_vec(&body)
            .map_err(|e| failed(e.to_string()))?
            .into(),
        Compression::Lz4 => {
            let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(body.len() / 2));
            enc.write_all(&body).map_err(|e| failed(e.to_string()))?;
            enc.finish().map_err(|e| failed(e.to_string()))?.into()
        }
        Compression::Zstd => ruzstd::encoding::compress_to_vec(
            &body[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        )
        .into(),
    })
}

#[cfg(test)]
mod tests;
