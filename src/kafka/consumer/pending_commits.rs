//! The commits a consumer asked for that the coordinator has not taken yet (it was
//! moving, restarting, or timed out), and when to send them again: the group task sends
//! the latest offset of each partition it still owns, with backoff, until it lands.
//! Pure bookkeeping: no I/O; time only through tokio's clock, so tests pause it.

use crate::kafka::TopicPartition;
use std::collections::BTreeMap;
use std::time::Duration;

/// Offsets the caller asked to commit that the coordinator has not taken yet, and when
/// to send them again.
#[derive(Debug, Default)]
pub(super) struct PendingCommits {
    pub(super) offsets: BTreeMap<TopicPartition, i64>,
    /// Consecutive failed attempts, for the backoff.
    pub(super) failures: u32,
    retry_at: Option<tokio::time::Instant>,
}

impl PendingCommits {
    pub(super) fn add(&mut self, offsets: BTreeMap<TopicPartition, i64>) {
        self.offsets.extend(offsets);
    }

    /// Forgets partitions this member no longer owns: a commit of them now could move
    /// a new owner's offset back.
    pub(super) fn keep_only(&mut self, owned: impl Fn(&TopicPartition) -> bool) {
        self.offsets.retain(|tp, _| owned(tp));
        if self.offsets.is_empty() {
            self.failures = 0;
            self.retry_at = None;
        }
    }

    /// The attempt carrying `sent` succeeded: what was sent is done (a partition asked
    /// again meanwhile stays).
    pub(super) fn landed(&mut self, sent: &BTreeMap<TopicPartition, i64>) {
        for (tp, offset) in sent {
            if self.offsets.get(tp) == Some(offset) {
                self.offsets.remove(tp);
            }
        }
        self.failures = 0;
        self.retry_at = None;
    }

    /// The attempt failed and will be retried after a backoff.
    pub(super) fn failed(&mut self) {
        self.failures += 1;
        self.retry_at = Some(tokio::time::Instant::now() + commit_backoff(self.failures));
    }

    /// When a retry is due (pending forever when none is).
    pub(super) async fn due(&self) {
        match self.retry_at {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    }
}

/// 100 ms doubling to 5 s.
fn commit_backoff(failures: u32) -> Duration {
    Duration::from_millis(100u64 << failures.min(6)).min(Duration::from_secs(5))
}

#[cfg(test)]
mod tests;
