//! Compression codecs of record batches and legacy message sets, decompressed with a cap.
//!
//! It owns the codec enum and turning one compressed payload into one new [`Bytes`]:
//! gzip (`flate2`, pure Rust backend), snappy (raw, or xerial-framed as Java clients
//! write it), lz4 (frame format, including Kafka's broken v0 header checksum) and zstd
//! (`ruzstd`), all pure Rust. Output is streamed into a buffer that may never exceed the
//! caller's cap, so a decompression bomb fails early instead of exhausting memory. It must
//! not parse records: the caller slices the returned buffer.

use std::fmt;
use std::io::Read;

use bytes::Bytes;

use crate::kafka::protocol::DecodeError;

/// The default cap on the decompressed size of one batch (64 MiB).
pub const DEFAULT_MAX_DECOMPRESSED_SIZE: usize = 64 << 20;

/// The compression codec of a batch, from the low three bits of its attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// The codec with attribute code `code`, if there is one.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::None,
            1 => Self::Gzip,
            2 => Self::Snappy,
            3 => Self::Lz4,
            4 => Self::Zstd,
            _ => return None,
        })
    }

    /// The codec's attribute code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The codec's name as Kafka spells it in `compression.type`.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a payload did not decompress; the caller adds which batch it was.
enum Failure {
    TooLarge,
    Corrupt(String),
}

impl<E: fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Corrupt(e.to_string())
    }
}

/// Decompress `data` with `codec` into a new buffer of at most `cap` bytes. `legacy_v0`
/// selects the quirks of magic 0 message sets (lz4 with a miscomputed header checksum).
pub(crate) fn decompress(
    codec: Compression,
    data: &[u8],
    cap: usize,
    base_offset: i64,
    legacy_v0: bool,
) -> Result<Bytes, DecodeError> {
    let result = match codec {
        Compression::None => {
            if data.len() > cap {
                Err(Failure::TooLarge)
            } else {
                Ok(data.to_vec())
            }
        }
        Compression::Gzip => gzip(data, cap),
        Compression::Snappy => snappy(data, cap),
        Compression::Lz4 => lz4(data, cap, legacy_v0),
        Compression::Zstd => zstd(data, cap),
    };
    match result {
        Ok(v) => Ok(Bytes::from(v)),
        Err(Failure::TooLarge) => Err(DecodeError::DecompressedTooLarge {
            base_offset,
            codec,
            cap,
        }),
        Err(Failure::Corrupt(reason)) => Err(DecodeError::Decompress {
            base_offset,
            codec,
            reason,
        }),
    }
}

/// Stream `reader` into `out`, failing as soon as `out` would exceed `cap` bytes in total.
/// At most `cap + 1` bytes are ever requested from the decoder.
fn read_capped(reader: impl Read, out: &mut Vec<u8>, cap: usize) -> Result<(), Failure> {
    let budget = cap.saturating_sub(out.len()) as u64;
    reader.take(budget.saturating_add(1)).read_to_end(out)?;
    if out.len() > cap {
        return Err(Failure::TooLarge);
    }
    Ok(())
}

/// An initial capacity: the codec's hint, bounded by the cap and by what `data` could
/// plausibly expand to, so a lying hint cannot make us reserve much.
fn initial_capacity(hint: usize, data: &[u8], max_ratio: usize, cap: usize) -> usize {
    hint.min(cap).min(data.len().saturating_mul(max_ratio))
}

fn gzip(data: &[u8], cap: usize) -> Result<Vec<u8>, Failure> {
    // The trailer's ISIZE is the uncompressed size mod 2^32 (of the last member).
    let hint = match data.len().checked_sub(4).and_then(|i| data.get(i..)) {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]) as usize,
        _ => 0,
    };
    // Deflate cannot expand by more than about 1032:1.
    let mut out = Vec::with_capacity(initial_capacity(hint, data, 1032, cap));
    read_capped(flate2::read::MultiGzDecoder::new(data), &mut out, cap)?;
    Ok(out)
}

/// The magic that starts a snappy-java (xerial) framed stream.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
/// Magic, version and compatible version.
const XERIAL_HEADER_LEN: usize = 16;
/// Snappy's best case is a 3-byte copy of 64 bytes; allow a little slack.
const SNAPPY_MAX_RATIO: usize = 22;

fn snappy(data: &[u8], cap: usize) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::new();
    match data.get(..XERIAL_HEADER_LEN) {
        Some(header) if header.starts_with(XERIAL_MAGIC) => {
            let mut rest = data.get(XERIAL_HEADER_LEN..).unwrap_or_default();
            while !rest.is_empty() {
                let Some((len, tail)) = rest.split_first_chunk::<4>() else {
                    return Err(Failure::Corrupt("truncated xerial block length".into()));
                };
                let len = i32::from_be_bytes(*len);
                let block = usize::try_from(len)
                    .ok()
                    .and_then(|len| tail.get(..len))
                    .ok_or_else(|| Failure::Corrupt(format!("bad xerial block length {len}")))?;
                rest = tail.get(block.len()..).unwrap_or_default();
                snappy_block(block, &mut out, cap)?;
            }
        }
        _ => snappy_block(data, &mut out, cap)?,
    }
    Ok(out)
}

/// Decompress one raw snappy block, appending it to `out`.
fn snappy_block(block: &[u8], out: &mut Vec<u8>, cap: usize) -> Result<(), Failure> {
    let len = snap::raw::decompress_len(block)?;
    let start = out.len();
    let end = start.checked_add(len).ok_or(Failure::TooLarge)?;
    if end > cap {
        return Err(Failure::TooLarge);
    }
    if len
        > block
            .len()
            .saturating_mul(SNAPPY_MAX_RATIO)
            .saturating_add(32)
    {
        return Err(Failure::Corrupt(format!(
            "declared length {len} impossible for {} input bytes",
            block.len()
        )));
    }
    out.resize(end, 0);
    let dst = out.get_mut(start..end).unwrap_or_default();
    snap::raw::Decoder::new().decompress(block, dst)?;
    Ok(())
}

/// LZ4 cannot expand by more than about 255:1.
const LZ4_MAX_RATIO: usize = 256;
/// How far back a linked block may copy from: the previous 64 KiB of the frame.
const LZ4_WINDOW: usize = 64 << 10;

/// LZ4 frames (magic 0x184D2204, as Kafka writes them since magic 0), decoded here block
/// by block straight into the output with `lz4_flex`'s block decoder. Its frame reader
/// reserves buffers for the block size the header claims (12 MiB for "4 MiB linked
/// blocks", whatever follows), so a 20-byte batch could allocate that much; here the
/// memory is the output alone, each block given at most what its compressed size can
/// expand to and what is left under the cap. Skippable frames are skipped; dictionaries
/// (never written by Kafka clients) are refused. Magic 0 writers computed the header
/// checksum over the magic too: with `legacy_v0`, that checksum is accepted as well.
fn lz4(data: &[u8], cap: usize, legacy_v0: bool) -> Result<Vec<u8>, Failure> {
    let corrupt = |what: &str| Failure::Corrupt(format!("lz4: {what}"));
    let u32_at = |pos: usize| -> Result<u32, Failure> {
        pos.checked_add(4)
            .and_then(|end| data.get(pos..end))
            .and_then(|b| b.first_chunk::<4>())
            .map(|b| u32::from_le_bytes(*b))
            .ok_or_else(|| corrupt("truncated frame"))
    };
    let mut out = Vec::with_capacity(initial_capacity(
        data.len().saturating_mul(4),
        data,
        LZ4_MAX_RATIO,
        cap,
    ));
    let mut pos = 0usize;
    while pos < data.len() {
        let magic = u32_at(pos)?;
        if magic & 0xFFFF_FFF0 == 0x184D_2A50 {
            let size = u32_at(pos + 4)? as usize;
            pos = pos.saturating_add(8).saturating_add(size);
            if pos > data.len() {
                return Err(corrupt("truncated skippable frame"));
            }
            continue;
        }
        if magic != 0x184D_2204 {
            return Err(corrupt("not an lz4 frame (bad magic)"));
        }
        let &[flg, bd] = data
            .get(pos + 4..pos + 6)
            .ok_or_else(|| corrupt("truncated frame descriptor"))?
        else {
            return Err(corrupt("truncated frame descriptor"));
        };
        if flg >> 6 != 1 || flg & 0x02 != 0 || bd & 0x8F != 0 {
            return Err(corrupt("unsupported frame version or reserved bits set"));
        }
        if flg & 0x01 != 0 {
            return Err(corrupt("frames with a dictionary are not supported"));
        }
        let linked = flg & 0x20 == 0;
        let block_checksums = flg & 0x10 != 0;
        let content_size = flg & 0x08 != 0;
        let content_checksum = flg & 0x04 != 0;
        let max_block = match (bd >> 4) & 0x07 {
            4 => 64 << 10,
            5 => 256 << 10,
            6 => 1 << 20,
            7 => 4 << 20,
            _ => return Err(corrupt("bad block maximum size")),
        };
        let hc_pos = pos + 6 + if content_size { 8 } else { 0 };
        let descriptor = data
            .get(pos + 4..hc_pos)
            .ok_or_else(|| corrupt("truncated frame descriptor"))?;
        let hc = *data
            .get(hc_pos)
            .ok_or_else(|| corrupt("truncated frame descriptor"))?;
        let checksum_of = |bytes: &[u8]| (twox_hash::XxHash32::oneshot(0, bytes) >> 8) as u8;
        let kafka_v0_checksum = || checksum_of(&data[pos..hc_pos]);
        if hc != checksum_of(descriptor) && !(legacy_v0 && hc == kafka_v0_checksum()) {
            return Err(corrupt("frame header checksum mismatch"));
        }
        pos = hc_pos + 1;
        let frame_start = out.len();
        loop {
            let block = u32_at(pos)?;
            pos += 4;
            if block == 0 {
                break;
            }
            let size = (block & 0x7FFF_FFFF) as usize;
            if size > max_block {
                return Err(corrupt("block larger than the frame's maximum"));
            }
            let compressed = pos
                .checked_add(size)
                .and_then(|end| data.get(pos..end))
                .ok_or_else(|| corrupt("truncated block"))?;
            pos += size;
            if block_checksums {
                let stored = u32_at(pos)?;
                pos += 4;
                if twox_hash::XxHash32::oneshot(0, compressed) != stored {
                    return Err(corrupt("block checksum mismatch"));
                }
            }
            let start = out.len();
            if block & 0x8000_0000 != 0 {
                if start + size > cap {
                    return Err(Failure::TooLarge);
                }
                out.extend_from_slice(compressed);
                continue;
            }
            // Room for what this block can expand to, and one byte past the cap so that a
            // block that would exceed it is told apart from a corrupt one.
            let room = max_block
                .min(size.saturating_mul(LZ4_MAX_RATIO))
                .min(cap.saturating_add(1).saturating_sub(start));
            out.resize(start + room, 0);
            let (before, dst) = out.split_at_mut(start);
            let dict = if linked {
                let frame = &before[frame_start..];
                &frame[frame.len().saturating_sub(LZ4_WINDOW)..]
            } else {
                &[][..]
            };
            match lz4_flex::block::decompress_into_with_dict(compressed, dst, dict) {
                Ok(n) => out.truncate(start + n),
                Err(lz4_flex::block::DecompressError::OutputTooSmall { .. })
                    if start + room > cap =>
                {
                    return Err(Failure::TooLarge);
                }
                Err(e) => return Err(corrupt(&e.to_string())),
            }
            if out.len() > cap {
                return Err(Failure::TooLarge);
            }
        }
        if content_checksum {
            let stored = u32_at(pos)?;
            pos += 4;
            if twox_hash::XxHash32::oneshot(0, &out[frame_start..]) != stored {
                return Err(corrupt("content checksum mismatch"));
            }
        }
        if content_size {
            let declared = data
                .get(hc_pos - 8..hc_pos)
                .and_then(|b| b.first_chunk::<8>())
                .map(|b| u64::from_le_bytes(*b));
            if declared != Some((out.len() - frame_start) as u64) {
                return Err(corrupt("content size mismatch"));
            }
        }
    }
    Ok(out)
}

const ZSTD_MAX_WINDOW: usize = 8 << 20;

fn zstd(data: &[u8], cap: usize) -> Result<Vec<u8>, Failure> {
    use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
    let max_window = ZSTD_MAX_WINDOW.max(cap.min(128 << 20)) as u64;
    let mut out = Vec::with_capacity(initial_capacity(
        data.len().saturating_mul(4),
        data,
        1 << 10,
        cap,
    ));
    let mut src = data;
    // Java's zstd input stream reads concatenated frames; so do we.
    while !src.is_empty() {
        let mut decoder = match ruzstd::decoding::StreamingDecoder::new_with_max_window_size(
            &mut src, max_window,
        ) {
            Ok(d) => d,
            Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                length,
                ..
            })) => {
                src = usize::try_from(length)
                    .ok()
                    .and_then(|l| src.get(l..))
                    .ok_or_else(|| Failure::Corrupt("truncated skippable frame".into()))?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        read_capped(&mut decoder, &mut out, cap)?;
        let frame = &decoder.decoder;
        if let (Some(stored), Some(computed)) = (
            frame.get_checksum_from_data(),
            frame.get_calculated_checksum(),
        ) && stored != computed
        {
            return Err(Failure::Corrupt("content checksum mismatch".into()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
