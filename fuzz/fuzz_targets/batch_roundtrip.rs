//! Structure-aware record batches: the input drives `arbitrary` to build records (keys,
//! values, duplicate headers, timestamps) and a codec, our producer's encoder writes them
//! as one valid batch (right lengths, right CRC-32C, really compressed), and then:
//!
//! 1. round trip: the decoder must give back exactly the records that went in, at
//!    offsets 0.., with the header fields the encoder wrote;
//! 2. lies: a few header fields (batch length, record count, last offset delta,
//!    attributes) or body bytes are overwritten with arbitrary values, the CRC is fixed up
//!    (or not) so the lie reaches the record parser and the codecs, and the result must
//!    decode or fail cleanly;
//! 3. bombs: one value of up to 4 × the cap of a single repeated byte, which every codec
//!    squeezes into a few hundred bytes: it must decode when the batch fits the cap and
//!    fail with `DecompressedTooLarge` when it doesn't, and never allocate much past it.
//!
//! Memory, for each decode: at most 2 × batch + 4 × cap + 9 MiB at peak (the cap is
//! 128 KiB: one decompressed buffer grown by doubling up to the cap, and the codecs'
//! state, zstd's window of up to 8 MiB included, as in `record_batches`), and nothing
//! leaked.

#![no_main]

use arbitrary::{Result, Unstructured};
use bytes::Bytes;
use kafka_esm::kafka::protocol::records::encode::{BatchHeader, EncodeError, ProduceRecord, encode_batch};
use kafka_esm::kafka::protocol::DecodeError;
use kafka_esm::kafka::protocol::records::{Compression, RecordBatches, TimestampType};
use kafka_esm_fuzz::{KIB, check};
use libfuzzer_sys::fuzz_target;

const CAP: usize = 128 * KIB;
const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});

fn bytes(u: &mut Unstructured<'_>, max: usize) -> Result<Bytes> {
    let n = u.int_in_range(0..=max)?;
    Ok(Bytes::copy_from_slice(u.bytes(n.min(u.len()))?))
}

fn nullable(u: &mut Unstructured<'_>, max: usize) -> Result<Option<Bytes>> {
    Ok(if u.ratio(1, 8)? {
        None
    } else {
        Some(bytes(u, max)?)
    })
}

fn records(u: &mut Unstructured<'_>) -> Result<Vec<ProduceRecord>> {
    let base: i64 = if u.ratio(1, 8)? {
        u.arbitrary()?
    } else {
        1_700_000_000_000 + i64::from(u.arbitrary::<i32>()?)
    };
    let n = u.int_in_range(1..=64)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let timestamp = if u.ratio(1, 16)? {
            u.arbitrary()?
        } else {
            base.saturating_add(i64::from(u.arbitrary::<i16>()?))
        };
        let mut headers = Vec::new();
        for _ in 0..u.int_in_range(0..=3)? {
            headers.push((bytes(u, 16)?, nullable(u, 32)?));
        }
        out.push(ProduceRecord {
            key: nullable(u, 32)?,
            value: nullable(u, 256)?,
            headers,
            timestamp,
        });
    }
    Ok(out)
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let codec = *u.choose(&CODECS)?;
    let header = BatchHeader {
        producer_id: u.arbitrary()?,
        producer_epoch: u.arbitrary()?,
        base_sequence: u.arbitrary()?,
        compression: codec,
    };
    let mut records = records(u)?;
    let bomb = u.ratio(1, 16)?;
    if bomb {
        let size = u.int_in_range(0..=4 * CAP)?;
        records.truncate(1);
        records[0].value = Some(Bytes::from(vec![u.arbitrary::<u8>()?; size]));
    }
    let batch = match encode_batch(&records, &header) {
        Ok(batch) => batch,
        // Only a timestamp too far from the first record's can't be encoded.
        Err(e @ EncodeError::TimestampOutOfRange { .. }) => return Ok(drop(e)),
        Err(e) => panic!("encoding {} records failed: {e}", records.len()),
    };
    // The batch's uncompressed size decides whether it fits the cap.
    let plain = encode_batch(&records, &BatchHeader::plain(Compression::None))
        .expect("encodes without compression too");
    let fits = plain.len() - 61 <= CAP;

    // A `Bytes` made from a `Vec` allocates its shared header on the first clone: do that
    // outside the measurements, since the header lives as long as the batch.
    let _shared = batch.clone();
    let bound = 2 * batch.len() + 4 * CAP + 9 * 1024 * KIB;
    let what = "2 × batch + 4 × cap + 9 MiB";
    check(batch.len(), bound, what, || {
        round_trip(&batch, &records, &header, fits)
    });

    if bomb {
        return Ok(());
    }
    let mut lie = batch.to_vec();
    for _ in 0..u.int_in_range(1..=4)? {
        let at = match u.int_in_range(0..=4)? {
            0 => 8,  // batch length
            1 => 21, // attributes (codec, timestamp type, transactional, control)
            2 => 23, // last offset delta
            3 => 57, // record count
            _ => u.int_in_range(61..=lie.len().max(62) - 1)?,
        };
        let width = if at >= 61 { 1 } else { 4 };
        for i in at..(at + width).min(lie.len()) {
            lie[i] = u.arbitrary()?;
        }
    }
    if u.arbitrary()? {
        let crc = crc32c::crc32c(&lie[21..]);
        lie[17..21].copy_from_slice(&crc.to_be_bytes());
    }
    let lie = Bytes::from(lie);
    let _shared = lie.clone();
    check(
        lie.len(),
        2 * lie.len() + 4 * CAP + 9 * 1024 * KIB,
        what,
        || decode_all(&lie),
    );
    Ok(())
}

fn round_trip(batch: &Bytes, records: &[ProduceRecord], header: &BatchHeader, fits: bool) {
    let mut batches = RecordBatches::new(batch.clone()).max_decompressed_size(CAP);
    let decoded = batches
        .next()
        .expect("one batch")
        .expect("our encoder's batch decodes");
    assert!(batches.next().is_none());
    assert!(batches.partial_batch().is_none());
    assert_eq!(decoded.compression(), header.compression);
    assert_eq!(decoded.producer_id(), header.producer_id);
    assert_eq!(decoded.producer_epoch(), header.producer_epoch);
    assert_eq!(decoded.base_sequence(), header.base_sequence);
    assert_eq!(decoded.record_count(), Some(records.len() as u32));
    assert_eq!(decoded.next_offset(), records.len() as i64);
    assert_eq!(
        decoded.max_timestamp(),
        records.iter().map(|r| r.timestamp).max().unwrap()
    );
    let iter = match decoded.records() {
        Ok(iter) => iter,
        Err(DecodeError::DecompressedTooLarge { cap, .. }) if !fits => {
            assert_eq!(cap, CAP);
            return;
        }
        Err(e) => panic!("records of our own batch: {e} (fits the cap: {fits})"),
    };
    assert!(
        fits || header.compression == Compression::None,
        "an uncompressed batch is never decompressed; a compressed one over the cap must fail"
    );
    let mut n = 0;
    for (i, (got, want)) in iter.zip(records).enumerate() {
        let got = got.expect("a record of our own batch");
        assert_eq!(got.offset, i as i64);
        assert_eq!(got.timestamp, want.timestamp);
        assert_eq!(got.timestamp_type, TimestampType::CreateTime);
        assert_eq!(got.key, want.key);
        assert_eq!(got.value, want.value);
        // Compared by reference: cloning `want`'s `Bytes` would allocate their shared
        // headers, which outlive the measurement with `records`.
        let headers: Vec<_> = got.headers.collect();
        assert_eq!(headers, want.headers);
        n += 1;
    }
    assert_eq!(n, records.len());
}

fn decode_all(bytes: &Bytes) {
    for batch in RecordBatches::new(bytes.clone()).max_decompressed_size(CAP) {
        let Ok(batch) = batch else { break };
        let Ok(records) = batch.records() else {
            continue;
        };
        for record in records {
            let Ok(record) = record else { break };
            std::hint::black_box(record.headers.count());
        }
    }
}
