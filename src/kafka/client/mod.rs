//! The I/O layer of the Kafka client: talking to brokers.
//!
//! It owns the [`conn`]ection to one broker (framing, correlation ids, version
//! negotiation, [`tls`], SASL authentication) and the [`cluster`]: bootstrap, metadata,
//! one connection per broker and leader routing. It builds on [`super::protocol`] for
//! every byte it sends or reads. It must not make group, fetch or produce decisions, nor
//! retry a request on its own: the consumer and producer layers above decide that.

pub mod admin;
pub mod cluster;
pub mod conn;
pub mod tls;
