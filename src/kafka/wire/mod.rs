//! The wire codec: decoding untrusted bytes from brokers into typed values.
//!
//! It owns the primitive reader ([`reader::Reader`]), the decode error type
//! ([`DecodeError`]) and record batch / message set decoding ([`records`]). Everything here
//! treats its input as hostile: no read may panic, overflow, or allocate in proportion to
//! a count or length the input declares before that count has been checked against the
//! bytes actually present. It must not do I/O, keep connection or consumer state, or
//! decide policy (which offsets to deliver, when to retry): callers do that.

mod error;
pub mod reader;
pub mod records;

pub use error::DecodeError;
pub use reader::Reader;
