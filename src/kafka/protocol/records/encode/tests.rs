use super::*;
use crate::kafka::protocol::records::{RecordBatches, TimestampType};
use proptest::prelude::*;

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn bytes(max: usize) -> impl Strategy<Value = Option<Bytes>> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from))
}

fn record() -> impl Strategy<Value = ProduceRecord> {
    (
        bytes(40),
        bytes(300),
        proptest::collection::vec(
            (
                // Header keys are Java Strings (kafka-protocol insists on UTF-8).
                "[a-zé€]{0,6}".prop_map(Bytes::from),
                bytes(20),
            ),
            0..4,
        ),
        -1i64..=i64::MAX / 4,
    )
        .prop_map(|(key, value, headers, timestamp)| ProduceRecord {
            key,
            value,
            headers,
            timestamp,
        })
}

/// Decodes with our reader: every record back, in order, batch fields as written.
fn decode_ours(batch: Bytes, header: &BatchHeader, want: &[ProduceRecord]) {
    let mut batches = RecordBatches::new(batch);
    let b = batches.next().expect("one batch").expect("valid batch");
    assert!(batches.next().is_none());
    assert_eq!(b.compression(), header.compression);
    assert_eq!(b.producer_id(), header.producer_id);
    assert_eq!(b.producer_epoch(), header.producer_epoch);
    assert_eq!(b.base_sequence(), header.base_sequence);
    assert_eq!(b.timestamp_type(), TimestampType::CreateTime);
    assert_eq!(b.last_offset_delta() as usize, want.len() - 1);
    let got: Vec<_> = b.records().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.offset, i as i64);
        assert_eq!(g.timestamp, w.timestamp);
        assert_eq!(g.key, w.key);
        assert_eq!(g.value, w.value);
        let headers: Vec<(Bytes, Option<Bytes>)> = g.headers.clone().collect();
        assert_eq!(headers, w.headers);
    }
}

/// Seen writing the `batch_roundtrip` fuzz target (which checks it): a delta that
/// wrapped encoded fine and then failed to decode. Extreme timestamps that fit still
/// round-trip.
#[test]
fn refuses_timestamp_deltas_that_overflow() {
    let at = |timestamp| ProduceRecord {
        timestamp,
        ..ProduceRecord::default()
    };
    let header = BatchHeader::plain(Compression::None);
    for (first, other) in [(i64::MIN, i64::MAX), (i64::MAX, -2), (-1, i64::MAX)] {
        match encode_batch(&[at(first), at(other)], &header) {
            Err(EncodeError::TimestampOutOfRange { timestamp, base }) => {
                assert_eq!((timestamp, base), (other, first));
            }
            other => panic!("{other:?}"),
        }
    }
    for records in [[at(i64::MIN), at(-1)], [at(i64::MAX), at(0)]] {
        let batch = encode_batch(&records, &header).unwrap();
        decode_ours(batch, &header, &records);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn batches_decode_to_what_was_encoded(
        records in proptest::collection::vec(record(), 1..20),
        codec in 0usize..5,
        idempotent in any::<bool>(),
    ) {
        let header = if idempotent {
            BatchHeader { producer_id: 7, producer_epoch: 3, base_sequence: 41, compression: CODECS[codec] }
        } else {
            BatchHeader::plain(CODECS[codec])
        };
        let batch = encode_batch(&records, &header).unwrap();
        decode_ours(batch.clone(), &header, &records);

        // And kafka-protocol's decoder (the Java layout) agrees on the records.
        let mut buf = batch;
        let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut buf).unwrap();
        prop_assert_eq!(set.records.len(), records.len());
        for (g, w) in set.records.iter().zip(&records) {
            prop_assert_eq!(&g.key, &w.key);
            prop_assert_eq!(&g.value, &w.value);
            prop_assert_eq!(g.timestamp, w.timestamp);
            if idempotent {
                prop_assert_eq!(g.sequence, 41 + g.offset as i32);
            }
        }
    }
}

#[test]
fn varints_are_zigzag() {
    let enc = |v: i64| {
        let mut b = Vec::new();
        put_varlong(&mut b, v);
        b
    };
    assert_eq!(enc(0), [0]);
    assert_eq!(enc(-1), [1]);
    assert_eq!(enc(1), [2]);
    assert_eq!(enc(63), [0x7e]);
    assert_eq!(enc(64), [0x80, 0x01]);
    assert_eq!(
        enc(i64::MIN),
        [0xff; 9].iter().copied().chain([0x01]).collect::<Vec<_>>()
    );
}

#[test]
fn duplicate_header_keys_are_kept_in_order() {
    let r = ProduceRecord {
        headers: vec![
            (Bytes::from_static(b"k"), Some(Bytes::from_static(b"1"))),
            (Bytes::from_static(b"k"), None),
            (Bytes::from_static(b"k"), Some(Bytes::from_static(b"2"))),
        ],
        ..ProduceRecord::default()
    };
    let header = BatchHeader::plain(Compression::None);
    decode_ours(
        encode_batch(std::slice::from_ref(&r), &header).unwrap(),
        &header,
        &[r],
    );
}

#[test]
fn an_empty_batch_is_refused() {
    assert!(matches!(
        encode_batch(&[], &BatchHeader::plain(Compression::None)),
        Err(EncodeError::Empty)
    ));
}
