use super::*;
use crate::kafka::consumer::fetcher::tests::{batch, encode, krecord};
use bytes::BytesMut;
use kafka_protocol::records::Compression as KCompression;

const CAP: usize = 1 << 20;

/// A transactional batch of `offsets` by `producer`, or a control batch (one marker
/// record at `offsets.start`: 0 abort, 1 commit).
fn txn(offsets: std::ops::Range<i64>, producer: i64, marker: Option<i16>) -> Bytes {
    let records = offsets
        .clone()
        .map(|o| {
            let mut r = krecord(o);
            r.transactional = true;
            r.producer_id = producer;
            r.producer_epoch = 0;
            if let Some(kind) = marker {
                r.control = true;
                let mut key = 0i16.to_be_bytes().to_vec();
                key.extend(kind.to_be_bytes());
                r.key = Some(Bytes::from(key));
                r.value = Some(Bytes::from_static(&[0, 0, 0, 0, 0, 0]));
            }
            r
        })
        .take(if marker.is_some() { 1 } else { usize::MAX })
        .collect();
    encode(records, KCompression::None)
}

fn field(parts: &[Bytes]) -> Bytes {
    let mut b = BytesMut::new();
    for p in parts {
        b.extend_from_slice(p);
    }
    b.freeze()
}

fn offsets(d: &Drained) -> Vec<i64> {
    d.records.iter().map(|r| r.offset).collect()
}

fn committed(f: Bytes, pos: i64, aborted: &[(i64, i64)]) -> Drained {
    let aborted: Vec<_> = aborted
        .iter()
        .map(|&(producer_id, first_offset)| AbortedTransaction {
            producer_id,
            first_offset,
        })
        .collect();
    drain(
        f,
        pos,
        Some(&aborted),
        Isolation::ReadCommitted,
        CAP,
        &mut usize::MAX.clone(),
    )
}

#[test]
fn records_below_the_position_are_skipped_and_the_position_advances() {
    let f = field(&[batch(0..5), batch(5..8)]);
    for pos in 0..8 {
        let d = committed(f.clone(), pos, &[]);
        assert_eq!(offsets(&d), (pos..8).collect::<Vec<_>>(), "from {pos}");
        assert_eq!(d.next_offset, 8);
        assert!(d.truncated.is_none() && d.error.is_none());
    }
}

#[test]
fn compressed_batches_are_delivered_from_the_position_too() {
    for codec in [KCompression::Gzip, KCompression::Snappy, KCompression::Zstd] {
        let f = encode((10..20).map(krecord).collect(), codec);
        let d = committed(f, 13, &[]);
        assert_eq!(offsets(&d), (13..20).collect::<Vec<_>>(), "{codec:?}");
        assert_eq!(d.records[0].value.as_deref(), Some(&b"v13"[..]));
        assert_eq!(d.next_offset, 20);
    }
}

#[test]
fn a_field_wholly_below_the_position_moves_nothing_and_delivers_nothing() {
    let d = committed(batch(0..5), 9, &[]);
    assert!(d.records.is_empty());
    assert_eq!(d.next_offset, 9);
    assert!(d.truncated.is_none() && d.error.is_none());
}

#[test]
fn control_batches_are_skipped_under_both_isolation_levels() {
    let f = field(&[
        txn(0..2, 7, None),
        txn(2..3, 7, Some(1)),
        batch(3..4),
        txn(4..5, 7, Some(1)),
    ]);
    for isolation in [Isolation::ReadCommitted, Isolation::ReadUncommitted] {
        let d = drain(f.clone(), 0, None, isolation, CAP, &mut usize::MAX.clone());
        assert_eq!(offsets(&d), [0, 1, 3], "{isolation:?}");
        assert_eq!(d.next_offset, 5, "past the trailing marker");
    }
}

#[test]
fn a_field_of_only_markers_still_moves_the_position() {
    let d = committed(txn(4..5, 7, Some(0)), 4, &[]);
    assert!(d.records.is_empty());
    assert_eq!(d.next_offset, 5);
}

#[test]
fn read_committed_skips_aborted_batches_read_uncommitted_delivers_them() {
    let f = field(&[
        txn(0..2, 7, None), // aborted
        txn(2..4, 8, None), // committed
        txn(4..5, 7, Some(0)),
        txn(5..6, 8, Some(1)),
        txn(6..8, 7, None), // a later transaction of 7, not aborted
        batch(8..9),
    ]);
    let d = committed(f.clone(), 0, &[(7, 0)]);
    assert_eq!(offsets(&d), [2, 3, 6, 7, 8]);
    assert_eq!(d.next_offset, 9);
    let d = drain(
        f.clone(),
        0,
        Some(&[]),
        Isolation::ReadUncommitted,
        CAP,
        &mut usize::MAX.clone(),
    );
    assert_eq!(offsets(&d), [0, 1, 2, 3, 6, 7, 8]);
    // An aborted batch alone still moves the position past it.
    let d = committed(txn(0..2, 7, None), 0, &[(7, 0)]);
    assert!(d.records.is_empty());
    assert_eq!(d.next_offset, 2);
}

#[test]
fn a_partial_batch_after_progress_is_ignored() {
    let second = batch(5..8);
    let f = field(&[batch(0..5), second.slice(..second.len() - 3)]);
    let d = committed(f, 0, &[]);
    assert_eq!(offsets(&d), [0, 1, 2, 3, 4]);
    assert_eq!(d.next_offset, 5);
    assert!(d.truncated.is_none());
}

#[test]
fn a_lone_partial_batch_at_the_position_is_a_truncated_answer() {
    let b = batch(5..8);
    for cut in [4, 12, 40, b.len() - 1] {
        let d = committed(b.slice(..cut), 5, &[]);
        assert!(d.records.is_empty());
        assert_eq!(d.next_offset, 5);
        let p = d.truncated.unwrap_or_else(|| panic!("cut at {cut}"));
        assert_eq!(p.available, cut);
        assert_eq!(p.size, (cut >= 12).then_some(b.len()));
    }
    // An empty field is not truncated: there is just nothing new.
    assert!(committed(Bytes::new(), 5, &[]).truncated.is_none());
}

#[test]
fn a_partial_batch_after_batches_below_the_position_is_truncated_too() {
    let second = batch(5..8);
    let f = field(&[batch(0..5), second.slice(..20)]);
    let d = committed(f, 5, &[]);
    assert_eq!(d.next_offset, 5);
    assert!(d.truncated.is_some());
}

#[test]
fn a_corrupt_first_batch_is_an_error_a_later_one_ends_the_delivery() {
    let mut bad = batch(5..8).to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0xff; // breaks the CRC
    let bad = Bytes::from(bad);
    let d = committed(bad.clone(), 5, &[]);
    assert!(d.records.is_empty());
    assert_eq!(d.next_offset, 5);
    assert!(
        matches!(
            d.error,
            Some(DecodeError::CrcMismatch { base_offset: 5, .. })
        ),
        "{:?}",
        d.error
    );
    let d = committed(field(&[batch(0..5), bad, batch(8..9)]), 2, &[]);
    assert_eq!(offsets(&d), [2, 3, 4]);
    assert_eq!(d.next_offset, 5, "stops before the corrupt batch");
    assert!(d.error.is_none(), "met again, first, by the next fetch");
}

#[test]
fn decompression_over_the_cap_is_an_error_not_a_skip() {
    let f = encode((0..50).map(krecord).collect(), KCompression::Gzip);
    let d = drain(
        f,
        0,
        None,
        Isolation::ReadCommitted,
        64,
        &mut usize::MAX.clone(),
    );
    assert!(d.records.is_empty());
    assert_eq!(d.next_offset, 0);
    assert!(matches!(
        d.error,
        Some(DecodeError::DecompressedTooLarge { .. })
    ));
}

/// `n` gzip batches of 4 records, each value 16 KiB of zeros: ~64 KiB decompressed
/// from a few hundred bytes.
pub(crate) fn bombs(n: i64) -> Bytes {
    let parts: Vec<Bytes> = (0..n)
        .map(|b| {
            let records = (b * 4..b * 4 + 4)
                .map(|o| {
                    let mut r = krecord(o);
                    r.value = Some(Bytes::from(vec![0u8; 16 << 10]));
                    r
                })
                .collect();
            encode(records, KCompression::Gzip)
        })
        .collect();
    field(&parts)
}

#[test]
fn the_bytes_decompressed_for_a_fetch_stay_under_its_budget() {
    let f = bombs(40);
    assert!(f.len() < 40 << 10, "{} bytes fetched", f.len());
    // One batch decompresses to a bit more than 64 KiB: a budget of 200 KiB
    // holds three of them.
    let mut budget = 200 << 10;
    let d = drain(
        f.clone(),
        0,
        None,
        Isolation::ReadCommitted,
        CAP,
        &mut budget,
    );
    assert!(d.error.is_none() && d.truncated.is_none(), "{:?}", d.error);
    assert_eq!(offsets(&d), (0..12).collect::<Vec<_>>());
    assert_eq!(d.next_offset, 12, "stops before the batch that doesn't fit");
    let decoded: usize = d
        .records
        .iter()
        .map(|r| r.value.as_ref().unwrap().len())
        .sum();
    assert!(decoded <= 200 << 10);
    assert!(budget < 64 << 10, "{budget} left");
    // The budget spent, the next partition of the response gets no compressed batch
    // (and that is not an error: it is fetched again).
    let d = drain(
        f.clone(),
        0,
        None,
        Isolation::ReadCommitted,
        CAP,
        &mut budget,
    );
    assert!(d.records.is_empty() && d.error.is_none() && d.truncated.is_none());
    assert_eq!(d.next_offset, 0);
    // Each fetch goes on where the last stopped, to the end.
    let mut pos = 0;
    let mut delivered = Vec::new();
    while pos < 160 {
        let mut budget = 200 << 10;
        let d = drain(
            f.clone(),
            pos,
            None,
            Isolation::ReadCommitted,
            CAP,
            &mut budget,
        );
        assert!(d.next_offset > pos, "progress from {pos}");
        delivered.extend(offsets(&d));
        pos = d.next_offset;
    }
    assert_eq!(delivered, (0..160).collect::<Vec<_>>());
}

#[test]
fn a_batch_over_the_batch_cap_is_still_an_error_under_a_budget() {
    let mut budget = 100 << 10;
    let d = drain(
        bombs(1),
        0,
        None,
        Isolation::ReadCommitted,
        32 << 10,
        &mut budget,
    );
    assert!(matches!(
        d.error,
        Some(DecodeError::DecompressedTooLarge { cap: 32768, .. })
    ));
}

#[test]
fn limits_double_up_to_max_bytes() {
    assert_eq!(grow_limit(1024, None, 50 << 20), Some(2048));
    assert_eq!(grow_limit(1024, Some(1500), 50 << 20), Some(2048));
    assert_eq!(grow_limit(1024, Some(5000), 50 << 20), Some(8192));
    assert_eq!(grow_limit(1024, Some(100 << 20), 50 << 20), Some(50 << 20));
    assert_eq!(grow_limit(40 << 20, None, 50 << 20), Some(50 << 20));
    assert_eq!(grow_limit(50 << 20, None, 50 << 20), None);
    assert_eq!(grow_limit(0, None, 10), Some(2));
    assert_eq!(grow_limit(i32::MAX - 1, None, i32::MAX), Some(i32::MAX));
}
