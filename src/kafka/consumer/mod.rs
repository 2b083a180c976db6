//! The consumer layer: a member of a consumer group that fetches its partitions.
//!
//! It owns group membership (the pure [`assignor`]s the leader runs, and the
//! [`coordinator`] RPCs of a [`GroupMember`](coordinator::GroupMember)), the [`fetcher`]
//! (positions, ListOffsets, pipelined Fetch requests, the drain of record batches) and
//! the [`Consumer`] that ties them together with its group task. It talks to brokers only
//! through [`super::client`] and decodes only through [`super::protocol`]; it must not
//! know the producer, AWS Lambda or the mapping engine.

pub mod assignor;
mod config;
pub mod coordinator;
pub mod fetcher;
mod group_consumer;
mod group_task;
mod pending_commits;

pub use config::ConsumerConfig;
pub use group_consumer::{Consumer, ConsumerError, ConsumerEvent};
