//! Access to the Kafka cluster: turns the mapping's `SourceAccessConfigurations` into
//! what every broker connection uses (TLS roots, the client certificate, SASL
//! credentials), reading the secrets they name.
//!
//! Built once before anything connects, so a bad secret, key or certificate stops the
//! mapping at start with `EVENT_SOURCE_AUTHN_ERROR` and a message naming what to fix.
//! It never logs a secret's value and never opens a connection itself.

pub mod secrets;
