//! What every response decoder shares: the version check, and the reads that differ
//! between classic and flexible versions (compact strings, compact
//! arrays and tagged fields from the first flexible version of an API on).

use crate::kafka::protocol::{DecodeError, Reader};
use bytes::Bytes;

/// The encoding of one response: flexible (KIP-482) or classic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub flexible: bool,
}

impl Layout {
    pub fn string(self, r: &mut Reader, field: &'static str) -> Result<String, DecodeError> {
        let b = if self.flexible {
            r.read_compact_string(field)?
        } else {
            r.read_string(field)?
        };
        Ok(text(b))
    }

    pub fn nullable_string(
        self,
        r: &mut Reader,
        field: &'static str,
    ) -> Result<Option<String>, DecodeError> {
        let b = if self.flexible {
            r.read_compact_nullable_string(field)?
        } else {
            r.read_nullable_string(field)?
        };
        Ok(b.map(text))
    }

    /// Bytes, as a slice of the input.
    pub fn bytes(self, r: &mut Reader, field: &'static str) -> Result<Bytes, DecodeError> {
        if self.flexible {
            r.read_compact_bytes(field)
        } else {
            r.read_bytes(field)
        }
    }

    /// Nullable bytes, as a slice of the input.
    pub fn nullable_bytes(
        self,
        r: &mut Reader,
        field: &'static str,
    ) -> Result<Option<Bytes>, DecodeError> {
        if self.flexible {
            r.read_compact_nullable_bytes(field)
        } else {
            r.read_nullable_bytes(field)
        }
    }

    /// An array count, checked against the bytes left for elements of at least
    /// `min_element_size` bytes.
    pub fn array_len(
        self,
        r: &mut Reader,
        field: &'static str,
        min_element_size: usize,
    ) -> Result<usize, DecodeError> {
        if self.flexible {
            r.read_compact_array_len(field, min_element_size)
        } else {
            r.read_array_len(field, min_element_size)
        }
    }

    /// A nullable array count (`None` for null), checked like [`Self::array_len`].
    pub fn nullable_array_len(
        self,
        r: &mut Reader,
        field: &'static str,
        min_element_size: usize,
    ) -> Result<Option<usize>, DecodeError> {
        if self.flexible {
            r.read_compact_nullable_array_len(field, min_element_size)
        } else {
            r.read_nullable_array_len(field, min_element_size)
        }
    }

    /// Skips an array of int32 (replica lists and the like), checking its count.
    pub fn skip_i32_array(self, r: &mut Reader, field: &'static str) -> Result<(), DecodeError> {
        let n = self.array_len(r, field, 4)?;
        r.skip(field, n * 4)
    }

    /// The tagged fields that end a structure in flexible versions; nothing otherwise.
    pub fn tags(self, r: &mut Reader, field: &'static str) -> Result<(), DecodeError> {
        if self.flexible {
            r.skip_tagged_fields(field)?;
        }
        Ok(())
    }
}

/// Refuses a response version outside the decoder's `versions` (`field` names it).
pub fn check_version(
    field: &'static str,
    versions: &std::ops::RangeInclusive<i16>,
    version: i16,
) -> Result<(), DecodeError> {
    if versions.contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::InvalidValue {
            field,
            value: version.into(),
        })
    }
}

/// The reader has already checked the bytes are UTF-8.
fn text(b: Bytes) -> String {
    String::from_utf8_lossy(&b).into_owned()
}
