//! What a [`Fetcher`](super::Fetcher) is configured with: isolation, the reset policy,
//! start positions and limits.

use crate::kafka::protocol::records::DEFAULT_MAX_DECOMPRESSED_SIZE;
use std::time::Duration;

// Only named in the docs below.
#[cfg(doc)]
use super::{FetchError, Fetcher};

/// Which records a consumer sees of transactional producers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Isolation {
    /// Only committed transactions, up to the last stable offset (Java's default for
    /// transactional readers; what AWS's event source mapping uses).
    #[default]
    ReadCommitted,
    /// Everything up to the high watermark, aborted transactions included.
    ReadUncommitted,
}

impl Isolation {
    pub(super) fn level(self) -> i8 {
        match self {
            Isolation::ReadUncommitted => 0,
            Isolation::ReadCommitted => 1,
        }
    }
}

/// What to do when the broker says a position is out of range (OFFSET_OUT_OF_RANGE):
/// the records there were deleted by retention, or the log was truncated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OffsetReset {
    /// Restart at the log start offset: loses nothing that is still there.
    #[default]
    Earliest,
    /// Restart at the end of the log.
    Latest,
    /// Fail [`Fetcher::fetch`] with [`FetchError::OffsetOutOfRange`] (each call, until
    /// the partition is given a new position or unassigned).
    None,
}

/// Where to start fetching a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchPosition {
    /// This offset (a committed offset, say). One the log doesn't hold is handled by
    /// the [`OffsetReset`] policy.
    Offset(i64),
    /// The log start offset (ListOffsets -2).
    Earliest,
    /// The end of the log (ListOffsets -1; the last stable offset under read_committed).
    Latest,
    /// The first offset whose timestamp is at or after this one (milliseconds since the
    /// epoch); the end of the log when there is none (like the Java consumer's
    /// `offsetsForTimes` then `seekToEnd`, which AWS uses for `AT_TIMESTAMP`).
    Timestamp(i64),
}

/// How a [`Fetcher`] fetches.
#[derive(Clone, Debug)]
pub struct FetchConfig {
    /// How long the broker may hold a Fetch request waiting for `min_bytes`. Keep it
    /// well under the connection's request timeout.
    pub max_wait: Duration,
    /// The bytes the broker waits for before answering early.
    pub min_bytes: i32,
    /// The most bytes one Fetch response may carry (KIP-74: the first batch may exceed it).
    pub max_bytes: i32,
    /// The most bytes per partition in one response; a batch larger than this is fetched
    /// again with a doubled limit (up to `max_bytes`) until it fits.
    pub max_partition_bytes: i32,
    pub isolation: Isolation,
    /// Cap on the decompressed size of one batch.
    pub max_decompressed_size: usize,
    /// Cap on the bytes decompressed in one [`Fetcher::fetch`], every partition and
    /// batch together: a response of small, highly compressible batches must not expand
    /// to gigabytes. Past it, a partition's delivery ends before its next compressed
    /// batch, and the next fetch goes on from there (nothing is skipped). The first
    /// compressed batch of a fetch may always use `max_decompressed_size`, so fetching
    /// always progresses.
    pub max_decompressed_per_fetch: usize,
    /// What OFFSET_OUT_OF_RANGE does.
    pub offset_reset: OffsetReset,
    /// The wait before a partition whose leader failed is tried again; doubled on each
    /// consecutive failure up to `retry_backoff_max`.
    pub retry_backoff: Duration,
    pub retry_backoff_max: Duration,
    /// Fetch sessions (KIP-227): after the first request, send each leader only the
    /// partitions whose position changed. Off: every request lists every partition.
    pub sessions: bool,
    /// Send the next Fetch requests as soon as [`Fetcher::fetch`] returns, so the
    /// records are on their way while the caller processes the current ones. Prefetched
    /// records of partitions paused, unassigned or moved meanwhile are dropped, unread.
    pub prefetch: bool,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            max_wait: Duration::from_millis(500),
            min_bytes: 1,
            max_bytes: 50 * 1024 * 1024,
            max_partition_bytes: 1024 * 1024,
            isolation: Isolation::ReadCommitted,
            max_decompressed_size: DEFAULT_MAX_DECOMPRESSED_SIZE,
            max_decompressed_per_fetch: DEFAULT_MAX_DECOMPRESSED_SIZE,
            offset_reset: OffsetReset::Earliest,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            sessions: true,
            prefetch: false,
        }
    }
}
