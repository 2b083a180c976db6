//! Fuzz the record batch decoder: every batch, every header field, every record and header
//! of arbitrary input, under a small decompression cap. Nothing may panic. The first input
//! byte chooses whether CRCs are verified (off lets the fuzzer reach the record parser and
//! the codecs without forging checksums); the rest is the records field. Seed corpus:
//! `KAFKA_ESM_FUZZ_SEEDS=fuzz/corpus/record_batches cargo test --lib write_fuzz_seeds -- --ignored`
//! (and `scripts/fuzz-seeds`: batches as a broker sends them).
//!
//! Memory: at most 2 × input + 4 × cap + 9 MiB at peak (the input's copy; one decompressed
//! buffer grown by doubling past the cap by at most one byte; the codecs' state, where
//! zstd's decoder keeps up to one window of output before handing any over, and a frame
//! may ask for 8 MiB whatever the cap, as Java producers' frames need), and nothing leaked.

#![no_main]

use bytes::Bytes;
use kafka_esm::kafka::protocol::records::{AbortedTransaction, AbortedTransactions, RecordBatches};
use kafka_esm_fuzz::{KIB, check};
use libfuzzer_sys::fuzz_target;

const CAP: usize = 64 << 10;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let bound = 2 * data.len() + 4 * CAP + 9 * 1024 * KIB;
    check(data.len(), bound, "2 × input + 4 × cap + 9 MiB", || {
        decode(flags, rest)
    });
});

fn decode(flags: u8, rest: &[u8]) {
    let mut batches = RecordBatches::new(Bytes::copy_from_slice(rest))
        .verify_crc(flags & 1 != 0)
        .max_decompressed_size(CAP);
    let mut txns = AbortedTransactions::new([AbortedTransaction {
        producer_id: 1,
        first_offset: 0,
    }]);
    for batch in &mut batches {
        let Ok(batch) = batch else { break };
        let _ = (
            batch.base_offset(),
            batch.last_offset(),
            batch.next_offset(),
            batch.last_offset_delta(),
            batch.size_in_bytes(),
            batch.partition_leader_epoch(),
            batch.magic(),
            batch.crc(),
            batch.attributes(),
            batch.compression(),
            batch.timestamp_type(),
            batch.is_transactional(),
            batch.is_control(),
            batch.base_timestamp(),
            batch.max_timestamp(),
            batch.producer_id(),
            batch.producer_epoch(),
            batch.base_sequence(),
            batch.record_count(),
        );
        let _ = txns.verdict(&batch);
        let Ok(records) = batch.records() else {
            continue;
        };
        for record in records {
            let Ok(record) = record else { break };
            let mut n = record.key.map_or(0, |k| k.len()) + record.value.map_or(0, |v| v.len());
            for (k, v) in record.headers {
                n += k.len() + v.map_or(0, |v| v.len());
            }
            std::hint::black_box((n, record.offset, record.timestamp, record.timestamp_type));
        }
    }
    std::hint::black_box(batches.partial_batch());
}
