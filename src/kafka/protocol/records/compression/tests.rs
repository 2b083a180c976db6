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

/// An lz4 frame of `blocks`, written by hand: independent or linked compressed blocks
/// under block maximum code `bd` (4 = 64 KiB .. 7 = 4 MiB), with both checksums.
fn lz4_frame_of(blocks: &[&[u8]], bd: u8, linked: bool) -> Vec<u8> {
    let flg = 0x40 | 0x10 | 0x04 | if linked { 0 } else { 0x20 };
    let mut frame = LZ4_MAGIC_BYTES.to_vec();
    frame.extend([flg, bd << 4]);
    frame.push((twox_hash::XxHash32::oneshot(0, &frame[4..6]) >> 8) as u8);
    let mut content = Vec::new();
    for block in blocks {
        let compressed = lz4_flex::block::compress(block);
        frame.extend((compressed.len() as u32).to_le_bytes());
        frame.extend(&compressed);
        frame.extend(twox_hash::XxHash32::oneshot(0, &compressed).to_le_bytes());
        content.extend_from_slice(block);
    }
    frame.extend(0u32.to_le_bytes());
    frame.extend(twox_hash::XxHash32::oneshot(0, &content).to_le_bytes());
    frame
}

const LZ4_MAGIC_BYTES: [u8; 4] = 0x184D_2204u32.to_le_bytes();

/// Found by the `batch_roundtrip` fuzz target: a frame header claiming 4 MiB linked
/// blocks made `lz4_flex`'s frame reader reserve 12 MiB whatever the cap. Frames of
/// every block size decode, and a bomb fails at the cap.
#[test]
fn lz4_blocks_of_every_size_and_bombs_at_the_cap() {
    let text = b"lz4 frames of every block size ".repeat(100);
    for bd in 4..=7 {
        for linked in [false, true] {
            let frame = lz4_frame_of(&[&text, &text[..1000], &text], bd, linked);
            let want = [&text[..], &text[..1000], &text[..]].concat();
            assert_eq!(
                decompress(Compression::Lz4, &frame, 1 << 20, 0, false).unwrap(),
                want,
                "bd {bd} linked {linked}"
            );
            assert!(matches!(
                decompress(Compression::Lz4, &frame, want.len() - 1, 0, false),
                Err(DecodeError::DecompressedTooLarge { .. })
            ));
        }
    }
    let zeros = vec![0u8; 4 << 20];
    let bomb = lz4_frame_of(&[&zeros], 7, true);
    assert!(bomb.len() < 20_000);
    assert!(matches!(
        decompress(Compression::Lz4, &bomb, 64 << 10, 0, false),
        Err(DecodeError::DecompressedTooLarge { cap: 65536, .. })
    ));
    // Corrupt checksums, a block over the frame's maximum, and a truncated frame.
    let good = lz4_frame_of(&[&text], 4, true);
    for at in [good.len() - 1, good.len() - 9, 6] {
        let mut bad = good.clone();
        bad[at] ^= 1;
        assert!(matches!(
            decompress(Compression::Lz4, &bad, 1 << 20, 0, false),
            Err(DecodeError::Decompress { .. })
        ));
    }
    assert!(decompress(Compression::Lz4, &good[..good.len() - 4], 1 << 20, 0, false).is_err());
    // No cap at all is no overflow.
    assert_eq!(
        decompress(Compression::Lz4, &good, usize::MAX, 0, false).unwrap(),
        text
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
