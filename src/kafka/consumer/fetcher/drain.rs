//! One partition's records field → the records to deliver and the next position.
//!
//! Pure functions, no I/O: [`drain`] walks the batches of a Fetch response partition from
//! the consumer's position, skipping records below it, control batches and (under
//! read_committed) aborted transactional batches, and says where the position moves and
//! whether the broker's answer was one truncated batch (KIP-74) that needs a larger
//! per-partition limit ([`grow_limit`]).

use super::Isolation;
use crate::kafka::protocol::DecodeError;
use crate::kafka::protocol::records::{
    AbortedTransaction, AbortedTransactions, BatchVerdict, PartialBatch, Record, RecordBatch,
    RecordBatches,
};
use bytes::Bytes;

/// What one partition's records field yields from a position.
#[derive(Debug, Default)]
pub(crate) struct Drained {
    /// Records at or after the position, in offset order, none twice.
    pub records: Vec<Record>,
    /// The position after the delivered records and the skipped batches.
    pub next_offset: i64,
    /// The field held no complete batch that moved the position and ended on this
    /// partial batch: the broker cut its answer at the partition limit.
    pub truncated: Option<PartialBatch>,
    /// A batch that could not be decoded before anything moved the position. (A decode
    /// error after progress is dropped: the next fetch starts at the bad batch and meets
    /// it again, first, with nothing before it to deliver.)
    pub error: Option<DecodeError>,
}

/// Walks `field` from `position`. `aborted` is the partition's list from the response
/// (used only under [`Isolation::ReadCommitted`]). `decoded_budget` is what the fetch may
/// still decompress; what this partition decompresses is taken from it.
pub(crate) fn drain(
    field: Bytes,
    position: i64,
    aborted: Option<&[AbortedTransaction]>,
    isolation: Isolation,
    max_decompressed_size: usize,
    decoded_budget: &mut usize,
) -> Drained {
    let mut txns = match isolation {
        Isolation::ReadCommitted => Some(AbortedTransactions::new(
            aborted.unwrap_or_default().iter().copied(),
        )),
        Isolation::ReadUncommitted => None,
    };
    let mut batches = RecordBatches::new(field).max_decompressed_size(max_decompressed_size);
    let mut records = Vec::new();
    let mut pos = position;
    let mut error = None;
    for batch in &mut batches {
        let mut batch = match batch {
            Ok(b) => b,
            Err(e) => {
                error = Some(e);
                break;
            }
        };
        let verdict = match txns.as_mut() {
            Some(t) => t.verdict(&batch),
            None if batch.is_control() => Ok(BatchVerdict::SkipControl),
            None => Ok(BatchVerdict::Deliver),
        };
        let verdict = match verdict {
            Ok(v) => v,
            Err(e) => {
                error = Some(e);
                break;
            }
        };
        if verdict.is_skip() || batch.next_offset() <= pos {
            pos = pos.max(batch.next_offset());
            continue;
        }
        if batch.is_compressed() {
            if *decoded_budget == 0 {
                // The fetch decompressed all it may: the next one starts here.
                break;
            }
            batch.set_max_decompressed_size(max_decompressed_size.min(*decoded_budget));
        }
        match deliver(&batch, pos) {
            Ok((batch_records, next, decompressed)) => {
                *decoded_budget = decoded_budget.saturating_sub(decompressed);
                records.extend(batch_records);
                pos = next;
            }
            Err(DecodeError::DecompressedTooLarge { cap, .. }) if cap < max_decompressed_size => {
                // Over what the fetch has left, not over the batch cap: not an error.
                *decoded_budget = 0;
                break;
            }
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let moved = pos > position;
    Drained {
        records,
        next_offset: pos,
        truncated: if moved || error.is_some() {
            None
        } else {
            batches.partial_batch()
        },
        error: if moved { None } else { error },
    }
}

/// The records of `batch` at or after `pos`, all or none, the position after it, and
/// the bytes decompressed for them.
fn deliver(batch: &RecordBatch, pos: i64) -> Result<(Vec<Record>, i64, usize), DecodeError> {
    let mut out = Vec::with_capacity(batch.record_count().unwrap_or(0).min(4096) as usize);
    let mut next = pos;
    let records = batch.records()?;
    let decompressed = records.decompressed_len();
    for record in records {
        let record = record?;
        // Offsets only move forward: a record at or below one already delivered (a
        // corrupt or hostile batch) is never delivered twice.
        if record.offset >= next {
            next = record.offset.saturating_add(1);
            out.push(record);
        }
    }
    Ok((out, next.max(batch.next_offset()), decompressed))
}

/// The next per-partition limit after a truncated answer: doubled (as often as needed to
/// hold the batch, when its size is known), at most `max_bytes`; `None` when `current`
/// is already `max_bytes`.
pub(crate) fn grow_limit(current: i32, needed: Option<usize>, max_bytes: i32) -> Option<i32> {
    if current >= max_bytes {
        return None;
    }
    let mut next = current.max(1).saturating_mul(2);
    if let Some(needed) = needed {
        while (next as usize) < needed && next < max_bytes {
            next = next.saturating_mul(2);
        }
    }
    Some(next.min(max_bytes))
}

#[cfg(test)]
pub(crate) mod tests;
