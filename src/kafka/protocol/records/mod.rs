//! The record-batch codec: record batches (magic 2) and legacy message sets (magic 0 and
//! 1) from fetch responses, and record batches for Produce requests ([`encode`]).
//!
//! [`RecordBatches`] iterates the batches of a partition's records field without
//! allocating; each [`RecordBatch`] exposes its header and [`RecordBatch::records`], an
//! iterator of [`Record`]s whose keys, values and [`Headers`] are slices of the input (or
//! of the one buffer a compressed batch decompresses into, under a size cap).
//! [`AbortedTransactions`] tells a `read_committed` consumer which batches to skip. This
//! [`encode`] writes the batches a producer sends. This module must not do I/O or decide
//! which offsets to deliver.

mod batch;
mod compression;
pub mod encode;
mod legacy;
mod record;
mod transactions;

#[cfg(test)]
mod tests;

pub use batch::{PartialBatch, RecordBatch, RecordBatches, Records};
pub use compression::{Compression, DEFAULT_MAX_DECOMPRESSED_SIZE};
pub use record::{HeaderSlices, Headers, Record, TimestampType};
pub use transactions::{
    AbortedTransaction, AbortedTransactions, BatchVerdict, ControlRecordType, control_record_type,
};
