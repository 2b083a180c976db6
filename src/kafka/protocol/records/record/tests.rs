use super::*;
use crate::kafka::protocol::records::Records;

const CTX: BatchContext = BatchContext {
    base_offset: 100,
    base_timestamp: 1_000,
    max_timestamp: 2_000,
    timestamp_type: TimestampType::CreateTime,
};

/// Zigzag varint.
fn vi(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn record_body(key: Option<&[u8]>, headers: &[(&[u8], Option<&[u8]>)]) -> Vec<u8> {
    let mut b = vec![0u8];
    vi(&mut b, 5); // timestamp delta
    vi(&mut b, 2); // offset delta
    match key {
        Some(k) => {
            vi(&mut b, k.len() as i64);
            b.extend(k);
        }
        None => vi(&mut b, -1),
    }
    vi(&mut b, -1); // null value
    vi(&mut b, headers.len() as i64);
    for (k, v) in headers {
        vi(&mut b, k.len() as i64);
        b.extend(*k);
        match v {
            Some(v) => {
                vi(&mut b, v.len() as i64);
                b.extend(*v);
            }
            None => vi(&mut b, -1),
        }
    }
    b
}

fn framed(body: &[u8]) -> Bytes {
    let mut out = Vec::new();
    vi(&mut out, body.len() as i64);
    out.extend(body);
    Bytes::from(out)
}

#[test]
fn decodes_a_record_with_headers() {
    let data = framed(&record_body(
        Some(b"k"),
        &[(b"h1", Some(b"v1")), (b"h2", None)],
    ));
    let mut recs = Records::v2(V2Records::new(data.clone(), 1, CTX).unwrap());
    let rec = recs.next().unwrap().unwrap();
    assert_eq!(rec.offset, 102);
    assert_eq!(rec.timestamp, 1_005);
    assert_eq!(rec.key.as_deref(), Some(&b"k"[..]));
    assert_eq!(rec.value, None);
    assert_eq!(rec.headers.len(), 2);
    let hs: Vec<_> = rec.headers.clone().collect();
    assert_eq!(
        hs,
        vec![
            (Bytes::from_static(b"h1"), Some(Bytes::from_static(b"v1"))),
            (Bytes::from_static(b"h2"), None)
        ]
    );
    let slices: Vec<_> = rec.headers.slices().collect();
    assert_eq!(
        slices,
        vec![(&b"h1"[..], Some(&b"v1"[..])), (&b"h2"[..], None)]
    );
    // Zero-copy: the key points into the input.
    let key = rec.key.unwrap();
    let pos = data.windows(1).position(|w| w == b"k").unwrap();
    assert_eq!(key.as_ptr(), data[pos..].as_ptr());
    assert!(recs.next().is_none());
}

#[test]
fn log_append_time_uses_max_timestamp() {
    let ctx = BatchContext {
        timestamp_type: TimestampType::LogAppendTime,
        ..CTX
    };
    let data = framed(&record_body(None, &[]));
    let rec = V2Records::new(data, 1, ctx)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(rec.timestamp, 2_000);
    assert_eq!(rec.key, None);
    assert!(rec.headers.is_empty());
}

#[test]
fn rejects_lies() {
    let ok = record_body(Some(b"k"), &[(b"h", Some(b"v"))]);
    // Record count larger than the bytes could hold.
    assert!(matches!(
        V2Records::new(framed(&ok), 1_000_000, CTX),
        Err(DecodeError::CountTooLarge { .. })
    ));
    // Huge header count.
    let mut huge = ok.clone();
    let hc_pos = ok.len() - 5; // header count byte: 1 header -> 0x02
    assert_eq!(huge[hc_pos], 2);
    huge.splice(hc_pos..=hc_pos, [0xfe, 0xff, 0xff, 0xff, 0x07]);
    let mut r = V2Records::new(framed(&huge), 1, CTX).unwrap();
    assert!(matches!(
        r.next(),
        Some(Err(DecodeError::CountTooLarge {
            field: "record.header_count",
            ..
        }))
    ));
    // Negative header key length.
    let mut neg = ok.clone();
    neg[hc_pos + 1] = 0x03; // -2
    let mut r = V2Records::new(framed(&neg), 1, CTX).unwrap();
    assert!(matches!(
        r.next(),
        Some(Err(DecodeError::NegativeLength {
            field: "record.header.key",
            len: -2
        }))
    ));
    // Trailing bytes inside the record.
    let mut trailing = ok.clone();
    trailing.push(0);
    let mut r = V2Records::new(framed(&trailing), 1, CTX).unwrap();
    assert!(matches!(
        r.next(),
        Some(Err(DecodeError::TrailingBytes {
            field: "record",
            ..
        }))
    ));
    // Trailing bytes after the last record.
    let mut two = framed(&ok).to_vec();
    two.extend(framed(&ok));
    let mut r = Records::v2(V2Records::new(Bytes::from(two), 1, CTX).unwrap());
    assert!(r.next().unwrap().is_ok());
    assert!(matches!(
        r.next(),
        Some(Err(DecodeError::TrailingBytes {
            field: "records",
            ..
        }))
    ));
    assert!(r.next().is_none());
    // Offset overflow.
    let ctx = BatchContext {
        base_offset: i64::MAX,
        ..CTX
    };
    let mut r = V2Records::new(framed(&ok), 1, ctx).unwrap();
    assert!(matches!(r.next(), Some(Err(DecodeError::Overflow { .. }))));
}

#[test]
fn every_truncation_is_an_error() {
    let full = framed(&record_body(
        Some(b"key"),
        &[(b"h", Some(b"v")), (b"x", None)],
    ));
    for cut in 0..full.len() {
        let mut r = V2Records {
            reader: Reader::new(full.slice(..cut)),
            left: 1,
            ctx: CTX,
        };
        assert!(matches!(r.next(), Some(Err(_))), "cut at {cut}");
    }
}
