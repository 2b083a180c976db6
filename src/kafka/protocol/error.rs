//! The one error type of the wire decoders.
//!
//! Every variant names what was being read (a `&'static str` field name, or the offset of
//! the batch), so a corrupt fetch response can be reported precisely. Errors are plain
//! values: cheap to build, `Clone` and comparable in tests. This file owns no decoding
//! logic and must not grow variants that carry borrowed input.

use super::records::Compression;

/// Why untrusted bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the field did.
    #[error("{field}: truncated, needed {needed} bytes but only {left} left")]
    Truncated {
        field: &'static str,
        needed: usize,
        left: usize,
    },
    /// A length or count was negative where only `-1` (null) or more is allowed.
    #[error("{field}: invalid negative length {len}")]
    NegativeLength { field: &'static str, len: i64 },
    /// A non-nullable field was encoded as null.
    #[error("{field}: null where a value is required")]
    UnexpectedNull { field: &'static str },
    /// A declared element count cannot possibly fit in the bytes that are left.
    #[error("{field}: count {count} cannot fit in the {left} bytes left")]
    CountTooLarge {
        field: &'static str,
        count: u64,
        left: usize,
    },
    /// A varint kept its continuation bit past its maximum encoded size.
    #[error("{field}: varint longer than its maximum encoded size")]
    VarintTooLong { field: &'static str },
    /// A varint's last byte sets bits beyond the width of its type.
    #[error("{field}: varint overflows its type")]
    VarintOverflow { field: &'static str },
    /// A string field is not valid UTF-8.
    #[error("{field}: invalid UTF-8")]
    InvalidUtf8 { field: &'static str },
    /// Computing a value from the field (an offset or timestamp from a delta) overflowed.
    #[error("{field}: arithmetic overflow")]
    Overflow { field: &'static str },
    /// A length-delimited structure was not consumed exactly.
    #[error("{field}: {left} unexpected trailing bytes")]
    TrailingBytes { field: &'static str, left: usize },
    /// A field holds a value outside its allowed range.
    #[error("{field}: invalid value {value}")]
    InvalidValue { field: &'static str, value: i64 },
    /// The stored checksum does not match the batch (or legacy message) contents.
    #[error(
        "batch at offset {base_offset}: CRC mismatch (stored {stored:#010x}, computed {computed:#010x})"
    )]
    CrcMismatch {
        base_offset: i64,
        stored: u32,
        computed: u32,
    },
    /// The batch's magic byte names a format this decoder does not know.
    #[error("batch at offset {base_offset}: unsupported magic {magic}")]
    UnsupportedMagic { base_offset: i64, magic: i8 },
    /// The batch's attributes name a compression codec that does not exist.
    #[error("batch at offset {base_offset}: unknown compression codec {codec}")]
    UnknownCompression { base_offset: i64, codec: u8 },
    /// The compressed payload is corrupt.
    #[error("batch at offset {base_offset}: corrupt {codec} data: {reason}")]
    Decompress {
        base_offset: i64,
        codec: Compression,
        reason: String,
    },
    /// The compressed payload expands beyond the configured cap.
    #[error(
        "batch at offset {base_offset}: {codec} data decompresses to more than the cap of {cap} bytes"
    )]
    DecompressedTooLarge {
        base_offset: i64,
        codec: Compression,
        cap: usize,
    },
    /// A legacy compressed wrapper message contains a compressed message.
    #[error("message at offset {offset}: compressed wrapper holds a compressed inner message")]
    NestedCompression { offset: i64 },
    /// A legacy compressed wrapper message contains no messages.
    #[error("message at offset {offset}: compressed wrapper holds no inner messages")]
    EmptyWrapper { offset: i64 },
}
