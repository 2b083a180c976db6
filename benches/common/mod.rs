//! Inputs the benches share: a deterministic generator, and fetched-buffer-shaped record
//! batches built with kafka-protocol's (trusted) encoder, 500 records in batches of 50 as
//! a producer would send them, each with a key and two headers.

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

pub const RECORDS: usize = 500;
pub const PER_BATCH: usize = 50;

/// A small deterministic generator, so every run measures the same bytes.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// `n` characters from a 32-letter alphabet: compressible about as well as JSON.
    pub fn text(&mut self, n: usize) -> String {
        const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz012345";
        (0..n)
            .map(|_| ALPHABET[(self.next() % 32) as usize] as char)
            .collect()
    }
}

/// Record `i` of a batch sequence starting at `base_offset`, valued `value`.
fn record(base_offset: i64, i: usize, value: String, rng: &mut XorShift) -> Record {
    let mut headers = IndexMap::new();
    headers.insert(
        StrBytes::from_static_str("trace-id"),
        Some(Bytes::from(rng.text(32))),
    );
    headers.insert(
        StrBytes::from_static_str("content-type"),
        Some(Bytes::from_static(b"application/json")),
    );
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: base_offset + i as i64,
        // Keep `offset - sequence` constant so the encoder keeps a batch together.
        sequence: (i % PER_BATCH) as i32 - 1,
        timestamp: 1_700_000_000_000 + i as i64,
        key: Some(Bytes::from(format!("key-{i:012}"))),
        value: Some(Bytes::from(value)),
        headers,
    }
}

/// A records field of `RECORDS` records from `base_offset`, in batches of `PER_BATCH`
/// compressed with `compression`; `value(i, rng)` makes record `i`'s value.
pub fn fetch_response(
    base_offset: i64,
    compression: Compression,
    mut value: impl FnMut(usize, &mut XorShift) -> String,
) -> Bytes {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let records: Vec<Record> = (0..RECORDS)
        .map(|i| {
            let v = value(i, &mut rng);
            record(base_offset, i, v, &mut rng)
        })
        .collect();
    let mut buf = BytesMut::new();
    for batch in records.chunks(PER_BATCH) {
        RecordBatchEncoder::encode(
            &mut buf,
            batch,
            &RecordEncodeOptions {
                version: 2,
                compression,
            },
        )
        .expect("encode");
    }
    buf.freeze()
}
