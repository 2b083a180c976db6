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

use crate::kafka::wire::DecodeError;

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

const LZ4_MAGIC: [u8; 4] = 0x184D_2204u32.to_le_bytes();
/// LZ4 cannot expand by more than about 255:1.
const LZ4_MAX_RATIO: usize = 256;

fn lz4(data: &[u8], cap: usize, legacy_v0: bool) -> Result<Vec<u8>, Failure> {
    let hint = data.len().saturating_mul(4);
    let mut out = Vec::with_capacity(initial_capacity(hint, data, LZ4_MAX_RATIO, cap));
    // lz4_flex takes a stream that ends where a block header should be as complete;
    // Java's reader (and so we) wants the end mark.
    check_lz4_frames_complete(data)?;
    if legacy_v0 && let Some(fixed) = fix_kafka_v0_lz4_header(data) {
        read_capped(
            lz4_flex::frame::FrameDecoder::new(&fixed[..]),
            &mut out,
            cap,
        )?;
    } else {
        read_capped(lz4_flex::frame::FrameDecoder::new(data), &mut out, cap)?;
    }
    Ok(out)
}

/// Walk the frame and block headers of `data` (no decompression) and check every frame
/// ends with an end mark (and its content checksum, if flagged).
fn check_lz4_frames_complete(data: &[u8]) -> Result<(), Failure> {
    let truncated = || Failure::Corrupt("truncated lz4 frame".into());
    let u32_at = |pos: usize| -> Option<u32> {
        let b = data.get(pos..pos.checked_add(4)?)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut pos = 0usize;
    while pos < data.len() {
        let magic = u32_at(pos).ok_or_else(truncated)?;
        if magic & 0xFFFF_FFF0 == 0x184D_2A50 {
            // Skippable frame: magic, size, data.
            let size = u32_at(pos + 4).ok_or_else(truncated)? as usize;
            pos = pos.saturating_add(8).saturating_add(size);
            continue;
        }
        if magic != 0x184D_2204 {
            return Ok(()); // not a frame we know: the decoder reports it
        }
        let flg = *data.get(pos + 4).ok_or_else(truncated)?;
        let block_checksums = flg & 0x10 != 0;
        let content_checksum = flg & 0x04 != 0;
        let mut header = 7; // magic, FLG, BD, HC
        if flg & 0x08 != 0 {
            header += 8;
        }
        if flg & 0x01 != 0 {
            header += 4;
        }
        pos += header;
        loop {
            let block = u32_at(pos).ok_or_else(truncated)?;
            pos += 4;
            if block == 0 {
                break;
            }
            let size = (block & 0x7FFF_FFFF) as usize;
            pos = pos
                .saturating_add(size)
                .saturating_add(if block_checksums { 4 } else { 0 });
        }
        if content_checksum {
            pos += 4;
        }
        if pos > data.len() {
            return Err(truncated());
        }
    }
    Ok(())
}

/// Kafka before 0.10 (magic 0) computed the lz4 frame header checksum over the magic
/// number too (KAFKA-3160), and Java readers skip the check for magic 0. Rewrite it to the
/// standard value, in a copy.
fn fix_kafka_v0_lz4_header(data: &[u8]) -> Option<Vec<u8>> {
    if data.get(..4)? != LZ4_MAGIC {
        return None;
    }
    let flg = *data.get(4)?;
    let mut hc_pos: usize = 6;
    if flg & 0x08 != 0 {
        hc_pos += 8; // content size
    }
    if flg & 0x01 != 0 {
        hc_pos += 4; // dictionary id
    }
    let descriptor = data.get(4..hc_pos)?;
    let hc = (twox_hash::XxHash32::oneshot(0, descriptor) >> 8) as u8;
    let mut fixed = data.to_vec();
    *fixed.get_mut(hc_pos)? = hc;
    Some(fixed)
}

/// The zstd window accepted whatever the cap. The decoder keeps a whole window buffered
/// before it hands out output, so the window limit is `max(cap, this)` (at most 128 MiB,
/// zstd's own default): memory stays bounded by the cap, and producers' usual windows
/// (2 MiB at the default level) always pass. A larger declared window is an error.
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
mod tests {
    use super::*;

    fn gzip_of(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn codes_round_trip() {
        for code in 0..8u8 {
            if let Some(c) = Compression::from_code(code) {
                assert_eq!(c.code(), code);
            } else {
                assert!(code > 4);
            }
        }
        assert_eq!(Compression::Zstd.to_string(), "zstd");
    }

    #[test]
    fn gzip_round_trip_and_cap() {
        let data = b"hello hello hello hello".repeat(100);
        let z = gzip_of(&data);
        assert_eq!(
            decompress(Compression::Gzip, &z, 1 << 20, 0, false).unwrap(),
            data
        );
        assert_eq!(
            decompress(Compression::Gzip, &z, data.len(), 0, false).unwrap(),
            data
        );
        assert_eq!(
            decompress(Compression::Gzip, &z, data.len() - 1, 7, false),
            Err(DecodeError::DecompressedTooLarge {
                base_offset: 7,
                codec: Compression::Gzip,
                cap: data.len() - 1
            })
        );
        assert!(matches!(
            decompress(Compression::Gzip, &z[..z.len() - 3], 1 << 20, 0, false),
            Err(DecodeError::Decompress { .. })
        ));
    }

    #[test]
    fn snappy_raw_and_xerial() {
        let data = b"snappy snappy snappy snappy data".repeat(3000);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(
            decompress(Compression::Snappy, &raw, 1 << 20, 0, false).unwrap(),
            data
        );
        // xerial framing: header, then big-endian length-prefixed raw blocks of 32 KiB.
        let mut xerial = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
        for chunk in data.chunks(32 * 1024) {
            let block = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
            xerial.extend((block.len() as u32).to_be_bytes());
            xerial.extend(block);
        }
        assert_eq!(
            decompress(Compression::Snappy, &xerial, 1 << 20, 0, false).unwrap(),
            data
        );
        assert!(matches!(
            decompress(Compression::Snappy, &xerial, 40_000, 0, false),
            Err(DecodeError::DecompressedTooLarge { cap: 40_000, .. })
        ));
        // Truncated block length, truncated block, lying raw length.
        for bad in [&xerial[..18], &xerial[..30], &raw[..raw.len() / 2]] {
            assert!(matches!(
                decompress(Compression::Snappy, bad, 1 << 20, 0, false),
                Err(DecodeError::Decompress { .. })
            ));
        }
        // A raw header declaring 16 MiB from 5 bytes is rejected without allocating it.
        let lying = [0x80, 0x80, 0x80, 0x08, 0x00];
        assert!(matches!(
            decompress(Compression::Snappy, &lying, 64 << 20, 0, false),
            Err(DecodeError::Decompress { .. })
        ));
    }

    #[test]
    fn lz4_and_kafka_v0_header_checksum() {
        use std::io::Write;
        let data = b"lz4 lz4 lz4 lz4 lz4 lz4".repeat(500);
        let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
        enc.write_all(&data).unwrap();
        let frame = enc.finish().unwrap();
        assert_eq!(
            decompress(Compression::Lz4, &frame, 1 << 20, 0, false).unwrap(),
            data
        );
        assert!(matches!(
            decompress(Compression::Lz4, &frame, 100, 0, false),
            Err(DecodeError::DecompressedTooLarge { .. })
        ));
        // Kafka 0.8/0.9: header checksum over magic + descriptor.
        let mut broken = frame.clone();
        let flg = broken[4];
        let hc_pos = 6 + if flg & 0x08 != 0 { 8 } else { 0 } + if flg & 1 != 0 { 4 } else { 0 };
        broken[hc_pos] = (twox_hash::XxHash32::oneshot(0, &broken[..hc_pos]) >> 8) as u8;
        assert_ne!(broken[hc_pos], frame[hc_pos]);
        assert!(decompress(Compression::Lz4, &broken, 1 << 20, 0, false).is_err());
        assert_eq!(
            decompress(Compression::Lz4, &broken, 1 << 20, 0, true).unwrap(),
            data
        );
    }

    #[test]
    fn zstd_windows_larger_than_the_cap_are_rejected() {
        // Frame header declaring a 1 GiB window (window descriptor exponent 20), then an
        // empty raw last block.
        let frame = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xa0, 0x01, 0x00, 0x00];
        assert!(matches!(
            decompress(Compression::Zstd, &frame, 64 << 20, 0, false),
            Err(DecodeError::Decompress { .. })
        ));
        // The same frame with a 1 MiB window (exponent 10) is fine.
        let frame = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x50, 0x01, 0x00, 0x00];
        assert_eq!(
            decompress(Compression::Zstd, &frame, 1024, 0, false).unwrap(),
            Bytes::new()
        );
    }

    #[test]
    fn empty_and_garbage_never_panic() {
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            for input in [&b""[..], b"\x00", b"\x82SNAPPY\x00", &[0xff; 64]] {
                let _ = decompress(codec, input, 1024, 0, false);
                let _ = decompress(codec, input, 1024, 0, true);
            }
        }
        assert!(decompress(Compression::None, b"abc", 2, 0, false).is_err());
    }
}
