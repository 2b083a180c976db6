//! A checked, zero-copy cursor over untrusted protocol bytes.
//!
//! [`Reader`] owns a [`Bytes`] and reads every primitive the Kafka protocol uses: fixed-width
//! integers, varints, strings, byte arrays, array counts and tagged fields. Byte and string
//! fields come back as [`Bytes::slice`]s of the input, never copies. Every read names its
//! field, returns a [`DecodeError`] instead of panicking, uses checked arithmetic, and
//! validates declared counts against the bytes left before a caller can allocate for them.
//! It must not know about any message schema: that belongs to the callers.

use std::ops::Range;

use bytes::Bytes;

use super::DecodeError;

/// A cursor over a [`Bytes`] buffer. Invariant: `pos <= end <= buf.len()`.
#[derive(Clone, Debug, Default)]
pub struct Reader {
    buf: Bytes,
    pos: usize,
    end: usize,
}

impl Reader {
    /// A reader over all of `buf`.
    pub fn new(buf: Bytes) -> Self {
        let end = buf.len();
        Self { buf, pos: 0, end }
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }

    /// Whether nothing is left to read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The current position, counted from the start of the underlying buffer.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The unread bytes, without consuming them.
    pub fn peek_rest(&self) -> &[u8] {
        self.buf.get(self.pos..self.end).unwrap_or_default()
    }

    /// The unread bytes as a slice of the input, consuming them.
    pub fn read_rest(&mut self) -> Bytes {
        let range = self.pos..self.end;
        self.pos = self.end;
        self.buf.slice(range)
    }

    /// Consume `n` bytes and return their range in the underlying buffer.
    fn take(&mut self, field: &'static str, n: usize) -> Result<Range<usize>, DecodeError> {
        let left = self.remaining();
        if n > left {
            return Err(DecodeError::Truncated {
                field,
                needed: n,
                left,
            });
        }
        let start = self.pos;
        self.pos = start + n; // n <= end - pos, so no overflow
        Ok(start..self.pos)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let rest = self.peek_rest();
        match rest.first_chunk::<N>() {
            Some(a) => {
                let a = *a;
                self.pos += N;
                Ok(a)
            }
            None => Err(DecodeError::Truncated {
                field,
                needed: N,
                left: rest.len(),
            }),
        }
    }

    /// Skip `n` bytes.
    pub fn skip(&mut self, field: &'static str, n: usize) -> Result<(), DecodeError> {
        self.take(field, n).map(|_| ())
    }

    /// The next `n` bytes as a slice of the input.
    pub fn read_slice(&mut self, field: &'static str, n: usize) -> Result<Bytes, DecodeError> {
        let range = self.take(field, n)?;
        Ok(self.buf.slice(range))
    }

    /// A signed 8-bit integer.
    pub fn read_i8(&mut self, field: &'static str) -> Result<i8, DecodeError> {
        self.array::<1>(field).map(i8::from_be_bytes)
    }

    /// A boolean: one byte, any non-zero value is true (as Java reads it).
    pub fn read_bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        self.read_i8(field).map(|b| b != 0)
    }

    /// A big-endian unsigned 16-bit integer.
    pub fn read_u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        self.array(field).map(u16::from_be_bytes)
    }

    /// A big-endian signed 16-bit integer.
    pub fn read_i16(&mut self, field: &'static str) -> Result<i16, DecodeError> {
        self.array(field).map(i16::from_be_bytes)
    }

    /// A big-endian signed 32-bit integer.
    pub fn read_i32(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        self.array(field).map(i32::from_be_bytes)
    }

    /// A big-endian signed 64-bit integer.
    pub fn read_i64(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        self.array(field).map(i64::from_be_bytes)
    }

    /// A big-endian unsigned 32-bit integer.
    pub fn read_u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.array(field).map(u32::from_be_bytes)
    }

    /// A big-endian IEEE 754 double.
    pub fn read_f64(&mut self, field: &'static str) -> Result<f64, DecodeError> {
        self.array(field).map(f64::from_be_bytes)
    }

    /// A 16-byte UUID, as its raw bytes.
    pub fn read_uuid(&mut self, field: &'static str) -> Result<[u8; 16], DecodeError> {
        self.array(field)
    }

    /// An unsigned LEB128 varint of at most 5 bytes that must fit in 32 bits.
    pub fn read_unsigned_varint(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let rest = self.peek_rest();
        let mut value: u32 = 0;
        for (i, &b) in rest.iter().take(5).enumerate() {
            if i == 4 && b > 0x0f {
                return Err(if b & 0x80 != 0 {
                    DecodeError::VarintTooLong { field }
                } else {
                    DecodeError::VarintOverflow { field }
                });
            }
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.pos += i + 1;
                return Ok(value);
            }
        }
        // Only reachable when the input ended mid-varint (a fifth byte with its
        // continuation bit set returned above).
        Err(DecodeError::Truncated {
            field,
            needed: rest.len().saturating_add(1).min(5),
            left: rest.len(),
        })
    }

    /// An unsigned LEB128 varlong of at most 10 bytes that must fit in 64 bits.
    pub fn read_unsigned_varlong(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let rest = self.peek_rest();
        let mut value: u64 = 0;
        for (i, &b) in rest.iter().take(10).enumerate() {
            if i == 9 && b > 0x01 {
                return Err(if b & 0x80 != 0 {
                    DecodeError::VarintTooLong { field }
                } else {
                    DecodeError::VarintOverflow { field }
                });
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.pos += i + 1;
                return Ok(value);
            }
        }
        Err(DecodeError::Truncated {
            field,
            needed: rest.len().saturating_add(1).min(10),
            left: rest.len(),
        })
    }

    /// A zigzag-encoded signed 32-bit varint.
    pub fn read_varint(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        let v = self.read_unsigned_varint(field)?;
        Ok(((v >> 1) as i32) ^ -((v & 1) as i32))
    }

    /// A zigzag-encoded signed 64-bit varlong.
    pub fn read_varlong(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        let v = self.read_unsigned_varlong(field)?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// A length `len` read from the wire: `-1` is null, below that is an error.
    fn nullable_len(field: &'static str, len: i64) -> Result<Option<usize>, DecodeError> {
        match len {
            -1 => Ok(None),
            l if l < -1 => Err(DecodeError::NegativeLength { field, len: l }),
            l => usize::try_from(l)
                .map(Some)
                .map_err(|_| DecodeError::Overflow { field }),
        }
    }

    /// A compact length: unsigned varint `n`, where 0 is null and `n - 1` is the length.
    fn compact_len(&mut self, field: &'static str) -> Result<Option<usize>, DecodeError> {
        match self.read_unsigned_varint(field)? {
            0 => Ok(None),
            n => usize::try_from(n - 1)
                .map(Some)
                .map_err(|_| DecodeError::Overflow { field }),
        }
    }

    fn slice_opt(
        &mut self,
        field: &'static str,
        len: Option<usize>,
    ) -> Result<Option<Bytes>, DecodeError> {
        len.map(|n| self.read_slice(field, n)).transpose()
    }

    fn utf8(field: &'static str, b: Bytes) -> Result<Bytes, DecodeError> {
        match std::str::from_utf8(&b) {
            Ok(_) => Ok(b),
            Err(_) => Err(DecodeError::InvalidUtf8 { field }),
        }
    }

    fn required<T>(field: &'static str, v: Option<T>) -> Result<T, DecodeError> {
        v.ok_or(DecodeError::UnexpectedNull { field })
    }

    /// A nullable string (int16 length, -1 is null), as UTF-8-validated bytes of the input.
    pub fn read_nullable_string(
        &mut self,
        field: &'static str,
    ) -> Result<Option<Bytes>, DecodeError> {
        let len = Self::nullable_len(field, i64::from(self.read_i16(field)?))?;
        self.slice_opt(field, len)?
            .map(|b| Self::utf8(field, b))
            .transpose()
    }

    /// A string (int16 length), as UTF-8-validated bytes of the input.
    pub fn read_string(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        let s = self.read_nullable_string(field)?;
        Self::required(field, s)
    }

    /// A compact nullable string (unsigned varint length + 1, 0 is null).
    pub fn read_compact_nullable_string(
        &mut self,
        field: &'static str,
    ) -> Result<Option<Bytes>, DecodeError> {
        let len = self.compact_len(field)?;
        self.slice_opt(field, len)?
            .map(|b| Self::utf8(field, b))
            .transpose()
    }

    /// A compact string (unsigned varint length + 1).
    pub fn read_compact_string(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        let s = self.read_compact_nullable_string(field)?;
        Self::required(field, s)
    }

    /// Nullable bytes (int32 length, -1 is null).
    pub fn read_nullable_bytes(
        &mut self,
        field: &'static str,
    ) -> Result<Option<Bytes>, DecodeError> {
        let len = Self::nullable_len(field, i64::from(self.read_i32(field)?))?;
        self.slice_opt(field, len)
    }

    /// Bytes (int32 length).
    pub fn read_bytes(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        let b = self.read_nullable_bytes(field)?;
        Self::required(field, b)
    }

    /// Compact nullable bytes (unsigned varint length + 1, 0 is null).
    pub fn read_compact_nullable_bytes(
        &mut self,
        field: &'static str,
    ) -> Result<Option<Bytes>, DecodeError> {
        let len = self.compact_len(field)?;
        self.slice_opt(field, len)
    }

    /// Compact bytes (unsigned varint length + 1).
    pub fn read_compact_bytes(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        let b = self.read_compact_nullable_bytes(field)?;
        Self::required(field, b)
    }

    /// Nullable bytes with a zigzag varint length (-1 is null), as record keys, values and
    /// header values are encoded.
    pub fn read_varint_nullable_bytes(
        &mut self,
        field: &'static str,
    ) -> Result<Option<Bytes>, DecodeError> {
        let len = Self::nullable_len(field, i64::from(self.read_varint(field)?))?;
        self.slice_opt(field, len)
    }

    /// Check `count` elements of at least `min_element_size` bytes each (treated as 1 if 0)
    /// fit in what is left.
    fn check_count(
        &self,
        field: &'static str,
        count: usize,
        min_element_size: usize,
    ) -> Result<usize, DecodeError> {
        let left = self.remaining();
        match count.checked_mul(min_element_size.max(1)) {
            Some(needed) if needed <= left => Ok(count),
            _ => Err(DecodeError::CountTooLarge {
                field,
                count: count as u64,
                left,
            }),
        }
    }

    /// A nullable array count (int32, -1 is null), checked against the bytes left given
    /// the minimum encoded size of one element. Nothing has been allocated yet when this
    /// fails.
    pub fn read_nullable_array_len(
        &mut self,
        field: &'static str,
        min_element_size: usize,
    ) -> Result<Option<usize>, DecodeError> {
        let len = Self::nullable_len(field, i64::from(self.read_i32(field)?))?;
        len.map(|n| self.check_count(field, n, min_element_size))
            .transpose()
    }

    /// An array count (int32), checked like [`Reader::read_nullable_array_len`].
    pub fn read_array_len(
        &mut self,
        field: &'static str,
        min_element_size: usize,
    ) -> Result<usize, DecodeError> {
        let n = self.read_nullable_array_len(field, min_element_size)?;
        Self::required(field, n)
    }

    /// A compact nullable array count (unsigned varint count + 1, 0 is null), checked like
    /// [`Reader::read_nullable_array_len`].
    pub fn read_compact_nullable_array_len(
        &mut self,
        field: &'static str,
        min_element_size: usize,
    ) -> Result<Option<usize>, DecodeError> {
        let len = self.compact_len(field)?;
        len.map(|n| self.check_count(field, n, min_element_size))
            .transpose()
    }

    /// A compact array count (unsigned varint count + 1), checked like
    /// [`Reader::read_nullable_array_len`].
    pub fn read_compact_array_len(
        &mut self,
        field: &'static str,
        min_element_size: usize,
    ) -> Result<usize, DecodeError> {
        let n = self.read_compact_nullable_array_len(field, min_element_size)?;
        Self::required(field, n)
    }

    /// A tagged-field section of a flexible version: an unsigned varint count, then per
    /// field an unsigned varint tag, an unsigned varint size and that many bytes. Each
    /// field's bytes are handed to `on_tag(tag, data)` as a slice of the input; the caller
    /// decodes the tags it knows and ignores the others, which are thereby skipped.
    pub fn read_tagged_fields<F>(
        &mut self,
        field: &'static str,
        mut on_tag: F,
    ) -> Result<(), DecodeError>
    where
        F: FnMut(u32, Bytes) -> Result<(), DecodeError>,
    {
        let count = self.read_unsigned_varint(field)?;
        // Each tagged field takes at least a one-byte tag and a one-byte size.
        let count = usize::try_from(count).map_err(|_| DecodeError::Overflow { field })?;
        let count = self.check_count(field, count, 2)?;
        for _ in 0..count {
            let tag = self.read_unsigned_varint(field)?;
            let size = self.read_unsigned_varint(field)?;
            let size = usize::try_from(size).map_err(|_| DecodeError::Overflow { field })?;
            let data = self.read_slice(field, size)?;
            on_tag(tag, data)?;
        }
        Ok(())
    }

    /// A tagged-field section whose fields are all unknown to the caller.
    pub fn skip_tagged_fields(&mut self, field: &'static str) -> Result<(), DecodeError> {
        self.read_tagged_fields(field, |_, _| Ok(()))
    }

    /// Run `f` on the next `n` bytes only, and check it consumed all of them. Nothing is
    /// cloned: the reader's end is narrowed for the duration of `f`.
    pub fn with_limit<T>(
        &mut self,
        field: &'static str,
        n: usize,
        f: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        let range = self.take(field, n)?;
        let outer_end = self.end;
        self.pos = range.start;
        self.end = range.end;
        let result = f(self);
        let left = self.remaining();
        self.pos = range.end;
        self.end = outer_end;
        let value = result?;
        if left != 0 {
            return Err(DecodeError::TrailingBytes { field, left });
        }
        Ok(value)
    }

    /// A slice of the underlying buffer between two positions this reader returned.
    pub(crate) fn slice_between(&self, start: usize, end: usize) -> Bytes {
        if start <= end && end <= self.buf.len() {
            self.buf.slice(start..end)
        } else {
            Bytes::new()
        }
    }
}

#[cfg(test)]
mod tests;
