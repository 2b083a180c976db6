//! Our decoders for the Kafka responses the client uses.
//!
//! Requests are encoded with `kafka-protocol`'s types; responses are decoded here, over
//! [`crate::kafka::protocol::Reader`], because `kafka-protocol`'s decoders trust the counts
//! and lengths they read (an 8-byte response can make them allocate gigabytes). Each
//! decoder takes the body after the response header and the version it was requested
//! at, checks every count against the bytes left, and returns typed values or a
//! [`crate::kafka::protocol::DecodeError`] naming the field. No I/O, no policy.

pub mod api_versions;
pub mod consumer_protocol;
pub mod create_topics;
pub mod describe_groups;
pub mod fetch;
pub mod find_coordinator;
mod flex;
pub mod heartbeat;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_fetch;
pub mod produce;
pub mod request;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod sync_group;
#[cfg(test)]
mod testing;

pub use request::ClientRequest;
