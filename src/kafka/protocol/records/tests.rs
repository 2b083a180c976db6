//! Cross-module tests of record decoding: equivalence with the `kafka-protocol` crate's
//! (trusted) encoder and decoder for every codec, property tests, and hostile inputs
//! (truncation, lying counts, CRC corruption, decompression bombs, legacy message sets).
//! Inputs are built by `kafka-protocol`'s encoder or by the small builders below; nothing
//! here is used outside tests.

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression as KCompression, Record as KRecord, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType as KTimestampType,
};
use proptest::prelude::*;

use super::*;
use crate::kafka::protocol::DecodeError;

// ---------------------------------------------------------------------------------------
// Builders

/// A record as plain data, for comparing decoders.
type Plain = (
    i64,
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(Vec<u8>, Option<Vec<u8>>)>,
);

const CODECS: [(Compression, KCompression); 5] = [
    (Compression::None, KCompression::None),
    (Compression::Gzip, KCompression::Gzip),
    (Compression::Snappy, KCompression::Snappy),
    (Compression::Lz4, KCompression::Lz4),
    (Compression::Zstd, KCompression::Zstd),
];

fn krecord(offset: i64, timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>) -> KRecord {
    KRecord {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 3,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: KTimestampType::Creation,
        offset,
        sequence: -1,
        timestamp,
        key: key.map(Bytes::copy_from_slice),
        value: value.map(Bytes::copy_from_slice),
        headers: IndexMap::new(),
    }
}

fn with_headers(mut r: KRecord, headers: &[(&str, Option<&[u8]>)]) -> KRecord {
    for (k, v) in headers {
        r.headers.insert(
            StrBytes::from_string(k.to_string()),
            v.map(Bytes::copy_from_slice),
        );
    }
    r
}

/// One batch of `records` encoded by kafka-protocol. (Its encoder starts a new batch
/// wherever `offset - sequence` changes; sequences are set so that it doesn't, and so
/// that the base sequence is -1, as for a producer that is not idempotent.)
fn encode(records: &[KRecord], compression: KCompression) -> Bytes {
    let mut records = records.to_vec();
    let first = records.first().map_or(0, |r| r.offset);
    for r in &mut records {
        r.sequence = (r.offset - first - 1) as i32;
    }
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    buf.freeze()
}

fn sample_records(base: i64) -> Vec<KRecord> {
    vec![
        with_headers(
            krecord(base, 1_700_000_000_000, Some(b"key-0"), Some(b"value-0")),
            &[("h1", Some(b"v1")), ("h2", None), ("", Some(b""))],
        ),
        krecord(base + 1, 1_700_000_000_005, None, Some(b"no key")),
        krecord(base + 2, 1_700_000_000_001, Some(b"no value"), None),
        krecord(base + 3, 1_700_000_000_010, Some(b""), Some(b"")),
        with_headers(
            krecord(base + 4, 1_700_000_000_002, None, None),
            &[("only", Some(&[0, 1, 2, 255]))],
        ),
        krecord(
            base + 5,
            1_700_000_000_003,
            Some(&[7; 300]),
            Some(&[9; 5000]),
        ),
    ]
}

fn plain(r: &Record) -> Plain {
    let headers: Vec<_> = r
        .headers
        .clone()
        .map(|(k, v)| (k.to_vec(), v.map(|v| v.to_vec())))
        .collect();
    let slices: Vec<_> = r
        .headers
        .slices()
        .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
        .collect();
    assert_eq!(slices, headers, "Headers::slices disagrees with iterating");
    (
        r.offset,
        r.timestamp,
        r.key.as_ref().map(|b| b.to_vec()),
        r.value.as_ref().map(|b| b.to_vec()),
        headers,
    )
}

fn kplain(r: &KRecord) -> Plain {
    (
        r.offset,
        r.timestamp,
        r.key.as_ref().map(|b| b.to_vec()),
        r.value.as_ref().map(|b| b.to_vec()),
        r.headers
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_ref().map(|v| v.to_vec())))
            .collect(),
    )
}

/// Every record of every batch in `data`, by our decoder.
fn ours(data: Bytes) -> Result<Vec<Plain>, DecodeError> {
    let mut out = Vec::new();
    let mut batches = RecordBatches::new(data);
    for batch in &mut batches {
        for record in batch?.records()? {
            out.push(plain(&record?));
        }
    }
    assert_eq!(batches.partial_batch(), None);
    Ok(out)
}

/// Every record of every batch in `data`, by kafka-protocol's decoder.
fn theirs(mut data: Bytes) -> Vec<Plain> {
    RecordBatchDecoder::decode_all(&mut data)
        .unwrap()
        .iter()
        .flat_map(|set| set.records.iter().map(kplain))
        .collect()
}

/// Recompute the CRC-32C of the v2 batch starting at `batch[0]` (covering to its end).
fn fix_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// Set the batch length field from the slice length, then the CRC.
fn fix_len_and_crc(batch: &mut [u8]) {
    let len = (batch.len() - 12) as i32;
    batch[8..12].copy_from_slice(&len.to_be_bytes());
    fix_crc(batch);
}

/// A v2 batch with the given header fields around a (possibly compressed) records section.
fn v2_batch(base_offset: i64, attributes: i16, count: i32, records: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(base_offset.to_be_bytes());
    b.extend(0i32.to_be_bytes()); // length, fixed below
    b.extend(0i32.to_be_bytes()); // partition leader epoch
    b.push(2);
    b.extend(0u32.to_be_bytes()); // crc, fixed below
    b.extend(attributes.to_be_bytes());
    b.extend((count - 1).max(0).to_be_bytes());
    b.extend(1_000i64.to_be_bytes());
    b.extend(1_000i64.to_be_bytes());
    b.extend((-1i64).to_be_bytes());
    b.extend((-1i16).to_be_bytes());
    b.extend((-1i32).to_be_bytes());
    b.extend(count.to_be_bytes());
    b.extend(records);
    fix_len_and_crc(&mut b);
    b
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn raw_snappy(data: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(data).unwrap()
}

fn lz4_frame(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Drain everything, returning the first error; used where only "no panic" matters.
fn drain(batches: RecordBatches) -> Result<usize, DecodeError> {
    let mut n = 0;
    for batch in batches {
        let batch = batch?;
        let _ = (batch.record_count(), batch.timestamp_type(), batch.crc());
        for record in batch.records()? {
            let record = record?;
            n += record.headers.count() + 1;
        }
    }
    Ok(n)
}

// ---------------------------------------------------------------------------------------
// Equivalence with kafka-protocol

#[test]
fn every_codec_matches_kafka_protocol() {
    let records = sample_records(1000);
    for (codec, kcodec) in CODECS {
        let data = encode(&records, kcodec);
        let got = ours(data.clone()).unwrap();
        assert_eq!(got, theirs(data.clone()), "{codec}");
        assert_eq!(
            got,
            records.iter().map(kplain).collect::<Vec<_>>(),
            "{codec}"
        );

        let batch = RecordBatches::new(data.clone()).next().unwrap().unwrap();
        assert_eq!(batch.compression(), codec);
        assert_eq!(batch.magic(), 2);
        assert_eq!(batch.base_offset(), 1000);
        assert_eq!(batch.last_offset(), 1005);
        assert_eq!(batch.last_offset_delta(), 5);
        assert_eq!(batch.next_offset(), 1006);
        assert_eq!(batch.record_count(), Some(6));
        assert_eq!(batch.partition_leader_epoch(), 3);
        assert_eq!(batch.base_timestamp(), 1_700_000_000_000);
        assert_eq!(batch.max_timestamp(), 1_700_000_000_010);
        assert_eq!(batch.timestamp_type(), TimestampType::CreateTime);
        assert_eq!(batch.producer_id(), -1);
        assert_eq!(batch.producer_epoch(), -1);
        assert!(!batch.is_transactional());
        assert!(!batch.is_control());
        assert_eq!(batch.size_in_bytes(), data.len());
        assert_eq!(
            u32::from_be_bytes(data[17..21].try_into().unwrap()),
            batch.crc()
        );
    }
}

#[test]
fn uncompressed_records_are_slices_of_the_input() {
    let data = encode(&sample_records(0), KCompression::None);
    let range = data.as_ptr_range();
    let batch = RecordBatches::new(data.clone()).next().unwrap().unwrap();
    for record in batch.records().unwrap() {
        let record = record.unwrap();
        for b in record.key.iter().chain(record.value.iter()) {
            assert!(range.contains(&b.as_ptr()) || b.is_empty());
        }
        for (k, v) in record.headers {
            assert!(range.contains(&k.as_ptr()) || k.is_empty());
            if let Some(v) = v {
                assert!(range.contains(&v.as_ptr()) || v.is_empty());
            }
        }
    }
}

#[test]
fn several_batches_and_a_partial_tail_at_every_cut() {
    let mut data = Vec::new();
    let mut ends = Vec::new();
    for (i, (_, kcodec)) in CODECS.iter().enumerate() {
        data.extend(encode(&sample_records(i as i64 * 10), *kcodec));
        ends.push(data.len());
    }
    let data = Bytes::from(data);
    assert_eq!(ours(data.clone()).unwrap().len(), 30);
    for cut in 0..data.len() {
        let mut batches = RecordBatches::new(data.slice(..cut));
        let complete = ends.iter().filter(|&&e| e <= cut).count();
        let mut n = 0;
        for batch in &mut batches {
            let batch = batch.unwrap();
            assert_eq!(batch.records().unwrap().count(), 6);
            n += 1;
        }
        assert_eq!(n, complete, "cut {cut}");
        let start = if complete == 0 { 0 } else { ends[complete - 1] };
        match batches.partial_batch() {
            None => assert_eq!(start, cut),
            Some(p) => {
                assert_eq!(p.position, start);
                assert_eq!(p.available, cut - start);
                if cut - start >= 12 {
                    assert_eq!(p.base_offset, Some(complete as i64 * 10));
                    assert_eq!(p.size, Some(ends[complete] - start));
                }
            }
        }
    }
}

#[test]
fn log_append_time_gives_every_record_the_max_timestamp() {
    for (codec, kcodec) in CODECS {
        let mut data = encode(&sample_records(0), kcodec).to_vec();
        data[22] |= 0x08; // timestamp type bit of the attributes' low byte
        data[35..43].copy_from_slice(&42_000i64.to_be_bytes());
        fix_crc(&mut data);
        let batch = RecordBatches::new(Bytes::from(data))
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(
            batch.timestamp_type(),
            TimestampType::LogAppendTime,
            "{codec}"
        );
        for r in batch.records().unwrap() {
            let r = r.unwrap();
            assert_eq!(r.timestamp, 42_000);
            assert_eq!(r.timestamp_type, TimestampType::LogAppendTime);
        }
    }
}

#[test]
fn raw_snappy_and_xerial_snappy_give_the_same_records() {
    let records = sample_records(0);
    let plain_batch = encode(&records, KCompression::None);
    let section = &plain_batch[61..];
    let mut raw = plain_batch[..61].to_vec();
    raw[22] |= 2;
    raw.extend(raw_snappy(section));
    fix_len_and_crc(&mut raw);
    let xerial = encode(&records, KCompression::Snappy);
    assert_eq!(&xerial[61..69], b"\x82SNAPPY\x00");
    let want: Vec<_> = records.iter().map(kplain).collect();
    assert_eq!(ours(Bytes::from(raw)).unwrap(), want);
    assert_eq!(ours(xerial).unwrap(), want);
}

/// Key, value, header values and a timestamp delta.
type ArbRecord = (Option<Vec<u8>>, Option<Vec<u8>>, Vec<Option<Vec<u8>>>, i64);

fn arb_record() -> impl Strategy<Value = ArbRecord> {
    (
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
        proptest::collection::vec(
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
            0..4,
        ),
        0i64..1_000_000,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_records_match_kafka_protocol(
        base in 0i64..(1 << 40),
        codec_index in 0usize..5,
        recs in proptest::collection::vec(arb_record(), 1..24),
    ) {
        let (codec, kcodec) = CODECS[codec_index];
        let records: Vec<KRecord> = recs
            .iter()
            .enumerate()
            .map(|(i, (k, v, hs, ts))| {
                let mut r = krecord(base + i as i64, 1_600_000_000_000 + ts, k.as_deref(), v.as_deref());
                for (j, h) in hs.iter().enumerate() {
                    r.headers.insert(StrBytes::from_string(format!("h{j}")), h.clone().map(Bytes::from));
                }
                r
            })
            .collect();
        let data = encode(&records, kcodec);
        let got = ours(data.clone()).unwrap();
        prop_assert_eq!(&got, &theirs(data), "{}", codec);
        prop_assert_eq!(got, records.iter().map(kplain).collect::<Vec<_>>());
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512), crc in any::<bool>()) {
        let _ = drain(RecordBatches::new(Bytes::from(data)).verify_crc(crc).max_decompressed_size(1 << 16));
    }

    #[test]
    fn mutated_batches_never_panic(
        codec_index in 0usize..5,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut data = encode(&sample_records(0), CODECS[codec_index].1).to_vec();
        for (at, byte) in flips {
            let i = at.index(data.len());
            data[i] = byte;
        }
        let _ = drain(RecordBatches::new(Bytes::from(data)).verify_crc(false).max_decompressed_size(1 << 16));
    }
}

// ---------------------------------------------------------------------------------------
// Hostile inputs

#[test]
fn truncated_records_section_at_every_offset_is_an_error() {
    for (codec, kcodec) in CODECS {
        let full = encode(&sample_records(0), kcodec);
        for cut in 61..full.len() {
            let mut b = full[..cut].to_vec();
            fix_len_and_crc(&mut b);
            let result = drain(RecordBatches::new(Bytes::from(b)));
            assert!(result.is_err(), "{codec} cut at {cut}: {result:?}");
        }
    }
}

#[test]
fn lying_record_counts_are_errors() {
    for (codec, kcodec) in CODECS {
        let full = encode(&sample_records(0), kcodec).to_vec();
        for count in [i32::MAX, 7, 1_000_000] {
            let mut b = full.clone();
            b[57..61].copy_from_slice(&count.to_be_bytes());
            fix_crc(&mut b);
            let result = drain(RecordBatches::new(Bytes::from(b)));
            assert!(result.is_err(), "{codec} count {count}");
            if count > 1000 {
                assert!(
                    matches!(result, Err(DecodeError::CountTooLarge { .. })),
                    "{codec}: {result:?}"
                );
            }
        }
        let mut b = full.clone();
        b[57..61].copy_from_slice(&(-1i32).to_be_bytes());
        fix_crc(&mut b);
        assert!(matches!(
            drain(RecordBatches::new(Bytes::from(b))),
            Err(DecodeError::NegativeLength {
                field: "batch.record_count",
                ..
            })
        ));
        // Fewer records declared than present: trailing bytes.
        let mut b = full.clone();
        b[57..61].copy_from_slice(&5i32.to_be_bytes());
        fix_crc(&mut b);
        assert!(matches!(
            drain(RecordBatches::new(Bytes::from(b))),
            Err(DecodeError::TrailingBytes {
                field: "records",
                ..
            })
        ));
    }
}

#[test]
fn lying_lengths_inside_records_are_errors() {
    // One record: length, attributes, ts delta, offset delta, key, value, headers.
    let records = [with_headers(
        krecord(0, 5, Some(b"k"), Some(b"v")),
        &[("h", Some(b"x"))],
    )];
    let good = encode(&records, KCompression::None).to_vec();
    let body = &good[61..];
    assert_eq!(&body[1..5], &[0, 0, 0, 2]); // attributes, deltas, key length 1
    let cases: [(usize, &[u8]); 5] = [
        (4, &[0x03]),                         // key length -2
        (4, &[0x7e]),                         // key length 63 (past the record)
        (6, &[0x05]),                         // value length -3
        (8, &[0xfe, 0xff, 0xff, 0xff, 0x07]), // header count i32::MAX
        (8, &[0x01]),                         // header count -1
    ];
    for (at, replacement) in cases {
        let mut b = body.to_vec();
        b.splice(at..=at, replacement.iter().copied());
        b[0] = ((b.len() - 1) as u8) << 1; // keep the record length consistent
        let batch = v2_batch(0, 0, 1, &b);
        let result = drain(RecordBatches::new(Bytes::from(batch)));
        assert!(result.is_err(), "{at} {replacement:?}: {result:?}");
    }
    // A negative record length.
    let mut b = body.to_vec();
    b[0] = 0x01;
    let result = drain(RecordBatches::new(Bytes::from(v2_batch(0, 0, 1, &b))));
    assert!(matches!(
        result,
        Err(DecodeError::NegativeLength {
            field: "record.length",
            ..
        })
    ));
}

#[test]
fn batch_length_below_the_minimum_is_an_error() {
    let mut b = encode(&sample_records(0), KCompression::None).to_vec();
    for len in [-1i32, 0, 13, 48] {
        b[8..12].copy_from_slice(&len.to_be_bytes());
        let mut it = RecordBatches::new(Bytes::from(b.clone()));
        assert!(
            matches!(it.next(), Some(Err(DecodeError::InvalidValue { .. }))),
            "{len}"
        );
        assert!(it.next().is_none());
    }
}

#[test]
fn unknown_magic_and_codec_are_errors() {
    let good = encode(&sample_records(5), KCompression::None).to_vec();
    let mut b = good.clone();
    b[16] = 3;
    assert_eq!(
        RecordBatches::new(Bytes::from(b))
            .next()
            .unwrap()
            .unwrap_err(),
        DecodeError::UnsupportedMagic {
            base_offset: 5,
            magic: 3
        }
    );
    let mut b = good.clone();
    b[22] |= 0x07;
    fix_crc(&mut b);
    assert_eq!(
        RecordBatches::new(Bytes::from(b))
            .next()
            .unwrap()
            .unwrap_err(),
        DecodeError::UnknownCompression {
            base_offset: 5,
            codec: 7
        }
    );
}

#[test]
fn crc_corruption_is_an_error_naming_the_base_offset() {
    for (codec, kcodec) in CODECS {
        let good = encode(&sample_records(77), kcodec).to_vec();
        for i in (17..good.len()).step_by(7) {
            let mut b = good.clone();
            b[i] ^= 0x10;
            let err = RecordBatches::new(Bytes::from(b.clone()))
                .next()
                .unwrap()
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    DecodeError::CrcMismatch {
                        base_offset: 77,
                        ..
                    }
                ),
                "{codec} byte {i}: {err:?}"
            );
            assert!(err.to_string().contains("offset 77"));
            // Without verification it is decoded (and may fail later), never a panic.
            let _ = drain(RecordBatches::new(Bytes::from(b)).verify_crc(false));
        }
    }
}

#[test]
fn decompression_is_capped_for_every_codec() {
    let records = [krecord(0, 0, None, Some(&vec![0u8; 2 << 20]))];
    for (codec, kcodec) in CODECS.into_iter().skip(1) {
        let data = encode(&records, kcodec);
        let batch = RecordBatches::new(data.clone())
            .max_decompressed_size(1 << 20)
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(
            batch.records().unwrap_err(),
            DecodeError::DecompressedTooLarge {
                base_offset: 0,
                codec,
                cap: 1 << 20
            }
        );
        let batch = RecordBatches::new(data).next().unwrap().unwrap();
        assert_eq!(batch.records().unwrap().count(), 1, "{codec}");
    }
}

#[test]
fn gzip_bomb_of_200_mib_is_rejected_at_the_cap() {
    // 200 concatenated gzip members of 1 MiB of zeros each (Java, and we, read every
    // member): about 200 KiB that expand to 200 MiB.
    let member = gzip(&vec![0u8; 1 << 20]);
    let bomb = member.repeat(200);
    assert!(bomb.len() < 1 << 20);
    let batch = v2_batch(9, 1, 1, &bomb);
    let batch = RecordBatches::new(Bytes::from(batch))
        .max_decompressed_size(1 << 20)
        .next()
        .unwrap()
        .unwrap();
    let err = batch.records().unwrap_err();
    assert_eq!(
        err,
        DecodeError::DecompressedTooLarge {
            base_offset: 9,
            codec: Compression::Gzip,
            cap: 1 << 20
        }
    );
    assert!(err.to_string().contains("1048576"));
}

// ---------------------------------------------------------------------------------------
// Transactions

fn txn_batch(offset: i64, producer_id: i64, control: Option<i16>) -> Bytes {
    let mut r = krecord(offset, 0, Some(b"k"), Some(b"v"));
    r.transactional = true;
    r.producer_id = producer_id;
    r.producer_epoch = 0;
    if let Some(kind) = control {
        r.control = true;
        let mut key = 0i16.to_be_bytes().to_vec();
        key.extend(kind.to_be_bytes());
        r.key = Some(Bytes::from(key));
        r.value = Some(Bytes::from_static(&[0, 0, 0, 0, 0, 0]));
    }
    let r2 = KRecord {
        offset: offset + 1,
        ..r.clone()
    };
    let records = if control.is_some() {
        vec![r]
    } else {
        vec![r, r2]
    };
    encode(&records, KCompression::None)
}

#[test]
fn read_committed_skips_aborted_transactions() {
    let mut data = BytesMut::new();
    data.extend_from_slice(&txn_batch(0, 7, None)); // 0-1: aborted below
    data.extend_from_slice(&txn_batch(2, 8, None)); // 2-3: committed
    data.extend_from_slice(&txn_batch(4, 7, Some(0))); // ABORT for 7
    data.extend_from_slice(&txn_batch(5, 8, Some(1))); // COMMIT for 8
    data.extend_from_slice(&txn_batch(6, 7, None)); // 6-7: a new transaction of 7
    data.extend_from_slice(&encode(&[krecord(8, 0, None, None)], KCompression::None));
    let mut txns = AbortedTransactions::new([AbortedTransaction {
        producer_id: 7,
        first_offset: 0,
    }]);
    let verdicts: Vec<_> = RecordBatches::new(data.freeze())
        .map(|b| txns.verdict(&b.unwrap()).unwrap())
        .collect();
    use BatchVerdict::*;
    assert_eq!(
        verdicts,
        [
            SkipAborted,
            Deliver,
            SkipControl,
            SkipControl,
            Deliver,
            Deliver
        ]
    );
    assert!(SkipControl.is_skip() && !Deliver.is_skip());
}

#[test]
fn control_batches_are_flagged() {
    let data = txn_batch(4, 7, Some(0));
    let batch = RecordBatches::new(data).next().unwrap().unwrap();
    assert!(batch.is_control() && batch.is_transactional());
    assert_eq!(batch.producer_id(), 7);
    let record = batch.records().unwrap().next().unwrap().unwrap();
    assert_eq!(
        control_record_type(record.key.as_deref()).unwrap(),
        ControlRecordType::Abort
    );
}

// ---------------------------------------------------------------------------------------
// Legacy message sets (magic 0 and 1)

/// One legacy message: offset, size, crc, magic, attributes, [timestamp], key, value.
fn legacy(
    offset: i64,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Vec<u8> {
    let mut body = vec![magic as u8, attributes as u8];
    if magic == 1 {
        body.extend(timestamp.to_be_bytes());
    }
    for field in [key, value] {
        match field {
            Some(f) => {
                body.extend((f.len() as i32).to_be_bytes());
                body.extend(f);
            }
            None => body.extend((-1i32).to_be_bytes()),
        }
    }
    let mut m = offset.to_be_bytes().to_vec();
    m.extend(((body.len() + 4) as i32).to_be_bytes());
    m.extend(crc32fast::hash(&body).to_be_bytes());
    m.extend(body);
    m
}

fn legacy_records(data: &[u8]) -> Result<Vec<Record>, DecodeError> {
    let mut out = Vec::new();
    for batch in RecordBatches::new(Bytes::copy_from_slice(data)) {
        for r in batch?.records()? {
            out.push(r?);
        }
    }
    Ok(out)
}

#[test]
fn legacy_uncompressed_messages() {
    let mut data = legacy(5, 0, 0, 0, Some(b"k0"), Some(b"v0"));
    data.extend(legacy(6, 1, 0, 1234, None, Some(b"v1")));
    data.extend(legacy(7, 1, 0x08, 999, Some(b"k2"), None));
    let batches: Vec<_> = RecordBatches::new(Bytes::from(data.clone()))
        .map(Result::unwrap)
        .collect();
    assert_eq!(batches.len(), 3);
    assert_eq!(batches[0].magic(), 0);
    assert_eq!(batches[0].record_count(), Some(1));
    assert_eq!(batches[1].timestamp_type(), TimestampType::CreateTime);
    assert_eq!(batches[2].timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(batches[1].producer_id(), -1);
    let recs = legacy_records(&data).unwrap();
    assert_eq!(recs.len(), 3);
    assert_eq!(
        (recs[0].offset, recs[0].timestamp, recs[0].timestamp_type),
        (5, -1, TimestampType::NoTimestampType)
    );
    assert_eq!(recs[0].key.as_deref(), Some(&b"k0"[..]));
    assert_eq!((recs[1].offset, recs[1].timestamp), (6, 1234));
    assert_eq!(recs[1].key, None);
    assert_eq!((recs[2].offset, recs[2].timestamp), (7, 999));
    assert_eq!(recs[2].value, None);
    assert!(recs.iter().all(|r| r.headers.is_empty()));
}

fn wrapper(offset: i64, magic: i8, attributes: i8, ts: i64, inner: &[u8]) -> Vec<u8> {
    let codec = attributes & 7;
    let compressed = match codec {
        1 => gzip(inner),
        2 => raw_snappy(inner),
        3 => lz4_frame(inner),
        _ => inner.to_vec(),
    };
    legacy(offset, magic, attributes, ts, None, Some(&compressed))
}

#[test]
fn legacy_v1_compressed_wrappers_use_relative_offsets() {
    for codec in [1i8, 2, 3] {
        let mut inner = Vec::new();
        for i in 0..3 {
            inner.extend(legacy(i, 1, 0, 100 + i, Some(b"k"), Some(&[i as u8; 10])));
        }
        let data = wrapper(12, 1, codec, 500, &inner);
        let batch = RecordBatches::new(Bytes::from(data.clone()))
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(batch.record_count(), None);
        assert_eq!(batch.last_offset(), 12);
        let recs = legacy_records(&data).unwrap();
        let got: Vec<_> = recs.iter().map(|r| (r.offset, r.timestamp)).collect();
        assert_eq!(got, [(10, 100), (11, 101), (12, 102)], "codec {codec}");
        assert_eq!(recs[2].value.as_deref(), Some(&[2u8; 10][..]));
        // LOG_APPEND_TIME on the wrapper overrides inner timestamps.
        let data = wrapper(12, 1, codec | 0x08, 500, &inner);
        let recs = legacy_records(&data).unwrap();
        assert!(
            recs.iter()
                .all(|r| r.timestamp == 500 && r.timestamp_type == TimestampType::LogAppendTime)
        );
    }
}

#[test]
fn legacy_v0_compressed_wrappers_use_absolute_offsets() {
    let mut inner = Vec::new();
    for i in 40..43 {
        inner.extend(legacy(i, 0, 0, 0, None, Some(b"x")));
    }
    for codec in [1i8, 2, 3] {
        let data = wrapper(42, 0, codec, 0, &inner);
        let got: Vec<_> = legacy_records(&data)
            .unwrap()
            .iter()
            .map(|r| (r.offset, r.timestamp))
            .collect();
        assert_eq!(got, [(40, -1), (41, -1), (42, -1)], "codec {codec}");
    }
    // Xerial-framed snappy in a legacy wrapper.
    let block = raw_snappy(&inner);
    let mut xerial = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
    xerial.extend((block.len() as u32).to_be_bytes());
    xerial.extend(block);
    let data = legacy(42, 0, 2, 0, None, Some(&xerial));
    assert_eq!(legacy_records(&data).unwrap().len(), 3);
}

#[test]
fn legacy_mixed_with_v2_batches() {
    let mut data = legacy(0, 1, 0, 10, None, Some(b"old"));
    data.extend(encode(&sample_records(1), KCompression::Lz4));
    let recs = legacy_records(&data).unwrap();
    assert_eq!(recs.len(), 7);
    assert_eq!(
        recs.iter().map(|r| r.offset).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5, 6]
    );
}

#[test]
fn legacy_hostile_inputs_are_errors() {
    let inner = legacy(0, 1, 0, 0, None, Some(b"x"));
    // Nested compression.
    let nested = wrapper(0, 1, 1, 0, &wrapper(0, 1, 1, 0, &inner));
    assert_eq!(
        legacy_records(&nested).unwrap_err(),
        DecodeError::NestedCompression { offset: 0 }
    );
    // Empty wrapper.
    assert_eq!(
        legacy_records(&wrapper(3, 1, 1, 0, &[])).unwrap_err(),
        DecodeError::EmptyWrapper { offset: 3 }
    );
    // Null wrapper value.
    assert!(matches!(
        legacy_records(&legacy(3, 1, 1, 0, None, None)),
        Err(DecodeError::UnexpectedNull { .. })
    ));
    // CRC corruption, outer and inner.
    let mut bad = legacy(8, 1, 0, 0, None, Some(b"abc"));
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(matches!(
        legacy_records(&bad),
        Err(DecodeError::CrcMismatch { base_offset: 8, .. })
    ));
    let mut bad_inner = inner.clone();
    let last = bad_inner.len() - 1;
    bad_inner[last] ^= 1;
    assert!(matches!(
        legacy_records(&wrapper(0, 1, 1, 0, &bad_inner)),
        Err(DecodeError::CrcMismatch { .. })
    ));
    // Truncated inner message set at every offset.
    let mut two = inner.clone();
    two.extend(legacy(1, 1, 0, 0, Some(b"key"), Some(b"value")));
    for cut in 1..two.len() {
        if cut == inner.len() {
            continue;
        }
        for codec in [1i8, 2, 3] {
            let result = legacy_records(&wrapper(5, 1, codec, 0, &two[..cut]));
            assert!(result.is_err(), "cut {cut} codec {codec}");
        }
    }
    // Key length lying past the message.
    let mut lying = legacy(0, 0, 0, 0, Some(b"k"), Some(b"v"));
    lying[18..22].copy_from_slice(&100i32.to_be_bytes());
    let crc = crc32fast::hash(&lying[16..]);
    lying[12..16].copy_from_slice(&crc.to_be_bytes());
    assert!(matches!(
        legacy_records(&lying),
        Err(DecodeError::Truncated { .. })
    ));
    // A truncated outer message set is a clean partial tail.
    let mut two_outer = legacy(0, 0, 0, 0, None, Some(b"a"));
    let first = two_outer.len();
    two_outer.extend(legacy(1, 0, 0, 0, None, Some(b"b")));
    for cut in first + 1..two_outer.len() {
        let mut it = RecordBatches::new(Bytes::copy_from_slice(&two_outer[..cut]));
        assert!(it.next().unwrap().is_ok());
        assert!(it.next().is_none());
        assert_eq!(it.partial_batch().unwrap().position, first);
    }
}

// ---------------------------------------------------------------------------------------
// Fuzzing seeds

/// Writes a seed corpus for `fuzz/fuzz_targets/record_batches.rs` (first byte: flags, bit 0
/// verifies CRCs) into `$KAFKA_ESM_FUZZ_SEEDS`:
/// `KAFKA_ESM_FUZZ_SEEDS=fuzz/corpus/record_batches cargo test --lib write_fuzz_seeds -- --ignored`
#[test]
#[ignore = "writes files; run by hand before fuzzing"]
fn write_fuzz_seeds() {
    let Some(dir) = std::env::var_os("KAFKA_ESM_FUZZ_SEEDS") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    for (codec, kcodec) in CODECS {
        seeds.push((
            format!("v2-{codec}"),
            encode(&sample_records(3), kcodec).to_vec(),
        ));
    }
    let mut txn = txn_batch(0, 1, None).to_vec();
    txn.extend(txn_batch(2, 1, Some(0)));
    seeds.push(("v2-txn".into(), txn));
    let inner: Vec<u8> = (0..3)
        .flat_map(|i| legacy(i, 1, 0, 100 + i, Some(b"k"), Some(b"value")))
        .collect();
    seeds.push((
        "legacy-v0".into(),
        legacy(0, 0, 0, 0, Some(b"k"), Some(b"v")),
    ));
    for codec in [1i8, 2, 3] {
        seeds.push((
            format!("legacy-v1-{codec}"),
            wrapper(7, 1, codec, 9, &inner),
        ));
    }
    for (name, data) in seeds {
        for flags in [0u8, 1] {
            let mut seed = vec![flags];
            seed.extend(&data);
            std::fs::write(dir.join(format!("{name}-{flags}")), seed).unwrap();
        }
    }
}
