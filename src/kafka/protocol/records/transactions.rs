//! Which batches a `read_committed` consumer skips, and control record keys.
//!
//! It owns the Java consumer's algorithm: given a partition's aborted transactions from the
//! fetch response (producer id, first offset), batches are passed in offset order; a
//! producer's transaction counts as aborted from its first offset until that producer's
//! ABORT control batch, and its transactional batches in between are skipped. Control
//! batches are never delivered. It must not track consumer positions or read_uncommitted
//! policy: the caller advances its offset past skipped batches.

use std::collections::HashSet;

use super::batch::RecordBatch;
use crate::kafka::protocol::DecodeError;

/// One entry of a fetch response partition's `aborted_transactions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTransaction {
    pub producer_id: i64,
    pub first_offset: i64,
}

/// The type of a control record, from its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlRecordType {
    Abort,
    Commit,
    /// A type this client does not know (Java's `UNKNOWN`).
    Unknown(i16),
}

/// Parse a control record key: int16 version (>= 0), int16 type; later versions may add
/// fields after these, which are ignored.
pub fn control_record_type(key: Option<&[u8]>) -> Result<ControlRecordType, DecodeError> {
    let key = key.ok_or(DecodeError::UnexpectedNull {
        field: "control_record.key",
    })?;
    let (version, kind) = match key {
        [a, b, c, d, ..] => (i16::from_be_bytes([*a, *b]), i16::from_be_bytes([*c, *d])),
        _ => {
            return Err(DecodeError::Truncated {
                field: "control_record.key",
                needed: 4,
                left: key.len(),
            });
        }
    };
    if version < 0 {
        return Err(DecodeError::InvalidValue {
            field: "control_record.version",
            value: version.into(),
        });
    }
    Ok(match kind {
        0 => ControlRecordType::Abort,
        1 => ControlRecordType::Commit,
        t => ControlRecordType::Unknown(t),
    })
}

/// What a `read_committed` consumer does with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchVerdict {
    /// Deliver its records.
    Deliver,
    /// Skip it: it belongs to an aborted transaction.
    SkipAborted,
    /// Skip it: it holds control records (transaction markers).
    SkipControl,
}

impl BatchVerdict {
    /// Whether the batch's records must not be delivered.
    pub fn is_skip(self) -> bool {
        self != Self::Deliver
    }
}

/// The aborted-transaction state of one partition's fetch response under `read_committed`.
#[derive(Debug, Clone, Default)]
pub struct AbortedTransactions {
    /// Not yet reached, sorted by first offset descending (the next one is last).
    pending: Vec<AbortedTransaction>,
    /// Producers whose transaction is aborted at the current position.
    ongoing: HashSet<i64>,
}

impl AbortedTransactions {
    /// State for a fetch response's `aborted_transactions` list (in any order).
    pub fn new(aborted: impl IntoIterator<Item = AbortedTransaction>) -> Self {
        let mut pending: Vec<_> = aborted.into_iter().collect();
        pending.sort_unstable_by_key(|t| std::cmp::Reverse(t.first_offset));
        Self {
            pending,
            ongoing: HashSet::new(),
        }
    }

    /// The verdict for the next batch; batches must be passed in offset order. Reading an
    /// ABORT marker decodes the control batch's first record.
    pub fn verdict(&mut self, batch: &RecordBatch) -> Result<BatchVerdict, DecodeError> {
        let producer_id = batch.producer_id();
        if producer_id >= 0 {
            while let Some(next) = self.pending.last().copied() {
                if next.first_offset > batch.last_offset() {
                    break;
                }
                self.pending.pop();
                self.ongoing.insert(next.producer_id);
            }
            if batch.is_control() {
                if Self::is_abort_marker(batch)? {
                    self.ongoing.remove(&producer_id);
                }
            } else if batch.is_transactional() && self.ongoing.contains(&producer_id) {
                return Ok(BatchVerdict::SkipAborted);
            }
        }
        Ok(if batch.is_control() {
            BatchVerdict::SkipControl
        } else {
            BatchVerdict::Deliver
        })
    }

    fn is_abort_marker(batch: &RecordBatch) -> Result<bool, DecodeError> {
        match batch.records()?.next() {
            None => Ok(false),
            Some(record) => {
                let record = record?;
                Ok(control_record_type(record.key.as_deref())? == ControlRecordType::Abort)
            }
        }
    }
}

#[cfg(test)]
mod tests;
