//! The consumer group logic that runs on top of the coordinator RPCs: today, the
//! partition assignors the group leader runs after JoinGroup ([`assignor`]).
//!
//! Everything here is a pure, deterministic function of what the members and the cluster
//! metadata said: no I/O, no clocks, no state kept between rebalances. Talking to the
//! coordinator (joining, syncing, heartbeating, committing) is not this module's job; it
//! is [`super::coordinator`]'s.

pub mod assignor;
