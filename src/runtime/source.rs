//! The consumer side of one member as the runtime uses it: the seam between a member's
//! loop and [`Consumer`], so the loop and the actions it carries out can be driven by an
//! in-memory source in unit tests.

use crate::kafka::TopicPartition;
use crate::kafka::consumer::{Consumer, ConsumerError, ConsumerEvent};
use std::collections::BTreeMap;
use std::future::Future;
use tokio::sync::watch;

/// What a member's loop needs of its group membership and fetching (see [`Consumer`],
/// whose documentation each method follows).
pub(crate) trait Source: Send + Sync + 'static {
    /// The next assignment change, revocation, loss, log reset or records.
    fn poll(&mut self) -> impl Future<Output = Result<ConsumerEvent, ConsumerError>> + Send;
    /// Commits `offsets` (partition → the next offset to consume).
    fn commit(
        &self,
        offsets: BTreeMap<TopicPartition, i64>,
    ) -> impl Future<Output = Result<(), ConsumerError>> + Send;
    /// The member is done with a revoked partition (its last commit made).
    fn release(&mut self, partition: &TopicPartition);
    /// Stops fetching `partition` until [`Source::resume`].
    fn pause(&mut self, partition: &TopicPartition);
    fn resume(&mut self, partition: &TopicPartition);
    /// Where fetching `partition` goes on, when known.
    fn position(&mut self, partition: &TopicPartition) -> Option<i64>;
    /// How many fetch errors were retried so far.
    fn retried_errors(&mut self) -> u64;
    /// The member id the coordinator gave (empty until it joins).
    fn member_id(&self) -> watch::Receiver<String>;
    /// Leaves the group. Commit first: nothing is committed here.
    fn close(self) -> impl Future<Output = Result<(), ConsumerError>> + Send;
}

impl Source for Consumer {
    fn poll(&mut self) -> impl Future<Output = Result<ConsumerEvent, ConsumerError>> + Send {
        Consumer::poll(self)
    }

    fn commit(
        &self,
        offsets: BTreeMap<TopicPartition, i64>,
    ) -> impl Future<Output = Result<(), ConsumerError>> + Send {
        Consumer::commit(self, offsets)
    }

    fn release(&mut self, partition: &TopicPartition) {
        Consumer::release(self, partition);
    }

    fn pause(&mut self, partition: &TopicPartition) {
        self.fetcher().pause(&partition.0, partition.1);
    }

    fn resume(&mut self, partition: &TopicPartition) {
        self.fetcher().resume(&partition.0, partition.1);
    }

    fn position(&mut self, partition: &TopicPartition) -> Option<i64> {
        self.fetcher().position(&partition.0, partition.1)
    }

    fn retried_errors(&mut self) -> u64 {
        self.fetcher().retried_errors()
    }

    fn member_id(&self) -> watch::Receiver<String> {
        Consumer::member_id(self)
    }

    fn close(self) -> impl Future<Output = Result<(), ConsumerError>> + Send {
        Consumer::close(self)
    }
}
