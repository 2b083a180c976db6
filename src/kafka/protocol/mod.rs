//! The sans-I/O layer of the Kafka client: bytes to typed values and back.
//!
//! It owns the primitive reader ([`reader::Reader`]), the decode error type
//! ([`DecodeError`]), the record-batch codec ([`records`]: decoding record batches and
//! legacy message sets, encoding record batches, compression) and the request encoders
//! and response decoders we own ([`messages`]). Everything here treats its input as
//! hostile: no read may panic, overflow, or allocate in proportion to a count or length
//! the input declares before that count has been checked against the bytes actually
//! present. It must not do I/O, read a clock, keep connection or consumer state, or
//! decide policy (which offsets to deliver, when to retry): the layers above do that.

mod error;
pub mod messages;
pub mod reader;
pub mod records;

pub use error::DecodeError;
pub use reader::Reader;
