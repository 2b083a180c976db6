use super::*;

fn r(b: &'static [u8]) -> Reader {
    Reader::new(Bytes::from_static(b))
}

#[test]
fn fixed_width_integers() {
    let mut rd = r(&[
        0xff, 0x01, 0x02, 0x00, 0x00, 0x00, 0x03, 0, 0, 0, 0, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xfe,
    ]);
    assert!(rd.clone().read_bool("a").unwrap());
    assert_eq!(rd.clone().read_u16("a").unwrap(), 0xff01);
    assert_eq!(rd.read_i8("a").unwrap(), -1);
    assert_eq!(rd.read_i16("b").unwrap(), 0x0102);
    assert_eq!(rd.read_i32("c").unwrap(), 3);
    assert_eq!(rd.read_i64("d").unwrap(), 4);
    assert_eq!(rd.read_u32("e").unwrap(), 0xffff_fffe);
    assert!(rd.is_empty());
    assert_eq!(
        rd.read_i32("f"),
        Err(DecodeError::Truncated {
            field: "f",
            needed: 4,
            left: 0
        })
    );
}

#[test]
fn float_and_uuid() {
    let mut buf = 1.5f64.to_be_bytes().to_vec();
    buf.extend(0u8..16);
    let mut rd = Reader::new(Bytes::from(buf));
    assert_eq!(rd.read_f64("f").unwrap(), 1.5);
    let u = rd.read_uuid("u").unwrap();
    assert_eq!(u[15], 15);
    assert!(rd.read_uuid("u").is_err());
}

#[test]
fn varints() {
    assert_eq!(r(&[0x00]).read_unsigned_varint("v").unwrap(), 0);
    assert_eq!(r(&[0x96, 0x01]).read_unsigned_varint("v").unwrap(), 150);
    assert_eq!(
        r(&[0xff, 0xff, 0xff, 0xff, 0x0f])
            .read_unsigned_varint("v")
            .unwrap(),
        u32::MAX
    );
    assert_eq!(
        r(&[0xff, 0xff, 0xff, 0xff, 0x1f]).read_unsigned_varint("v"),
        Err(DecodeError::VarintOverflow { field: "v" })
    );
    assert_eq!(
        r(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).read_unsigned_varint("v"),
        Err(DecodeError::VarintTooLong { field: "v" })
    );
    assert!(matches!(
        r(&[0xff, 0xff]).read_unsigned_varint("v"),
        Err(DecodeError::Truncated { left: 2, .. })
    ));
    // zigzag
    assert_eq!(r(&[0x01]).read_varint("v").unwrap(), -1);
    assert_eq!(r(&[0x02]).read_varint("v").unwrap(), 1);
    assert_eq!(
        r(&[0xfe, 0xff, 0xff, 0xff, 0x0f]).read_varint("v").unwrap(),
        i32::MAX
    );
    assert_eq!(
        r(&[0xff, 0xff, 0xff, 0xff, 0x0f]).read_varint("v").unwrap(),
        i32::MIN
    );
    const MAX: [u8; 10] = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    assert_eq!(r(&MAX).read_varlong("v").unwrap(), i64::MAX);
    const OVER: [u8; 10] = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
    assert_eq!(
        r(&OVER).read_varlong("v"),
        Err(DecodeError::VarintOverflow { field: "v" })
    );
    const LONG: [u8; 11] = [0xff; 11];
    assert_eq!(
        r(&LONG).read_varlong("v"),
        Err(DecodeError::VarintTooLong { field: "v" })
    );
}

#[test]
fn strings_and_bytes() {
    let mut rd = r(b"\x00\x02hi\xff\xff\x03ab\x00\x00\x00\x00\x01z\xff\xff\xff\xff\x02q\x00");
    assert_eq!(rd.read_string("s").unwrap(), "hi");
    assert_eq!(rd.read_nullable_string("s").unwrap(), None);
    assert_eq!(rd.read_compact_string("s").unwrap(), "ab");
    assert_eq!(rd.read_compact_nullable_string("s").unwrap(), None);
    assert_eq!(rd.read_bytes("b").unwrap(), "z");
    assert_eq!(rd.read_nullable_bytes("b").unwrap(), None);
    assert_eq!(rd.read_compact_bytes("b").unwrap(), "q");
    assert_eq!(
        rd.read_compact_bytes("b"),
        Err(DecodeError::UnexpectedNull { field: "b" })
    );
    assert_eq!(
        r(b"\xff\xfe").read_nullable_string("s"),
        Err(DecodeError::NegativeLength {
            field: "s",
            len: -2
        })
    );
    assert_eq!(
        r(b"\x00\x01\xff").read_string("s"),
        Err(DecodeError::InvalidUtf8 { field: "s" })
    );
    assert_eq!(
        r(b"\x00\x05ab").read_string("s"),
        Err(DecodeError::Truncated {
            field: "s",
            needed: 5,
            left: 2
        })
    );
}

#[test]
fn slices_share_the_input() {
    let input = Bytes::from_static(b"\x00\x00\x00\x03abc");
    let mut rd = Reader::new(input.clone());
    let b = rd.read_bytes("b").unwrap();
    assert_eq!(b.as_ptr(), input[4..].as_ptr());
}

#[test]
fn array_counts_are_checked_before_allocation() {
    assert_eq!(
        r(b"\x00\x00\x00\x02abcd").read_array_len("a", 2).unwrap(),
        2
    );
    assert_eq!(
        r(b"\x7f\xff\xff\xffabcd").read_array_len("a", 4),
        Err(DecodeError::CountTooLarge {
            field: "a",
            count: i32::MAX as u64,
            left: 4
        })
    );
    assert_eq!(
        r(b"\xff\xff\xff\xff")
            .read_nullable_array_len("a", 4)
            .unwrap(),
        None
    );
    assert_eq!(
        r(b"\xff\xff\xff\xfe").read_array_len("a", 4),
        Err(DecodeError::NegativeLength {
            field: "a",
            len: -2
        })
    );
    assert_eq!(r(b"\x03xy").read_compact_array_len("a", 1).unwrap(), 2);
    assert!(matches!(
        r(b"\xff\xff\xff\xff\x0fxy").read_compact_array_len("a", 1),
        Err(DecodeError::CountTooLarge { .. })
    ));
    assert_eq!(
        r(b"\x00").read_compact_nullable_array_len("a", 1).unwrap(),
        None
    );
    // A zero minimum size still counts one byte per element.
    assert!(r(b"\x00\x00\x00\x05ab").read_array_len("a", 0).is_err());
}

#[test]
fn tagged_fields() {
    // two fields: tag 0 size 2 "ab", tag 7 size 1 "c"; then one trailing byte
    let mut rd = r(b"\x02\x00\x02ab\x07\x01c!");
    let mut seen = Vec::new();
    rd.read_tagged_fields("t", |tag, data| {
        seen.push((tag, data));
        Ok(())
    })
    .unwrap();
    assert_eq!(
        seen,
        vec![
            (0, Bytes::from_static(b"ab")),
            (7, Bytes::from_static(b"c"))
        ]
    );
    assert_eq!(rd.remaining(), 1);
    assert!(matches!(
        r(b"\x7f\x00").skip_tagged_fields("t"),
        Err(DecodeError::CountTooLarge { .. })
    ));
    assert!(matches!(
        r(b"\x01\x00\x09ab").skip_tagged_fields("t"),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn with_limit_checks_exact_consumption() {
    let mut rd = r(b"abcdef");
    let v = rd
        .with_limit("lim", 3, |r| {
            assert_eq!(r.remaining(), 3);
            assert!(r.skip("x", 4).is_err());
            r.read_slice("x", 2)
        })
        .unwrap_err();
    assert_eq!(
        v,
        DecodeError::TrailingBytes {
            field: "lim",
            left: 1
        }
    );
    assert_eq!(rd.remaining(), 3);
    assert_eq!(rd.read_rest(), "def");
    assert!(rd.with_limit("lim", 1, |_| Ok(())).is_err());
}

#[test]
fn never_panics_on_any_short_input() {
    let all: Vec<u8> = (0..=255u8).collect();
    for len in 0..8 {
        for start in 0..=(256 - len) {
            let b = Bytes::copy_from_slice(&all[start..start + len]);
            let mut rd = Reader::new(b);
            let _ = rd.clone().read_compact_string("s");
            let _ = rd.clone().read_varlong("s");
            let _ = rd.clone().read_nullable_bytes("s");
            let _ = rd.clone().read_compact_array_len("s", 3);
            let _ = rd.clone().skip_tagged_fields("s");
            let _ = rd.read_varint_nullable_bytes("s");
        }
    }
}
