//! JSON text primitives for the event: string escaping, integers, signed byte arrays and
//! base64, each with a length function that returns exactly what its writer appends.
//!
//! The encoder's size predictions are sums of these lengths, so a writer and its length
//! function must never disagree (the property tests check it). This file knows nothing of
//! the event's structure (`record.rs` does) and writes only into the buffer it is given.
//!
//! Escaping follows serde_json: `\"`, `\\`, `\b \f \n \r \t`, other control characters as
//! `\u00XX` (lowercase hex); everything else, non-ASCII included, as UTF-8. So a string
//! written here is byte-identical to `serde_json::to_string` of the same text.
//!
//! Header keys are arbitrary bytes on the wire, but AWS's poller hands the function Java
//! `String`s (Kafka's `Header.key()` is `new String(bytes, UTF_8)`), so invalid UTF-8 is
//! decoded exactly as Java's `String` decoder does (checked against Java 17 and 25 on 200,000
//! random ill-formed inputs): one U+FFFD per maximal subpart of an ill-formed sequence
//! (Unicode §3.9), with one Java quirk: it takes `ED A0..BF`, the encoding of a UTF-16
//! surrogate that UTF-8 forbids, as a sequence prefix, so `ED A0 80` is one U+FFFD where
//! Unicode's practice (and Rust's `from_utf8_lossy`) gives three.

/// What follows the backslash for each byte that must be escaped: 0 for bytes written as
/// they are, `u` for `\u00XX`.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// U+FFFD REPLACEMENT CHARACTER in UTF-8.
const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

/// Where escaped text goes: an output buffer, or a comparison against bytes already written.
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// A [`Sink`] that checks what is put against `expected`, in order.
pub(crate) struct Matches<'a> {
    rest: &'a [u8],
    ok: bool,
}

impl<'a> Matches<'a> {
    pub(crate) fn new(expected: &'a [u8]) -> Self {
        Self {
            rest: expected,
            ok: true,
        }
    }

    /// Whether everything put equals `expected`, and nothing of it is left over.
    pub(crate) fn finish(self) -> bool {
        self.ok && self.rest.is_empty()
    }
}

impl Sink for Matches<'_> {
    fn put(&mut self, bytes: &[u8]) {
        match self.rest.strip_prefix(bytes) {
            Some(rest) if self.ok => self.rest = rest,
            _ => self.ok = false,
        }
    }
}

#[inline]
fn escape_extra(b: u8) -> usize {
    match ESCAPE[usize::from(b)] {
        0 => 0,
        b'u' => 5,
        _ => 1,
    }
}

/// Whether `b` must be escaped: branch-free, so that checking a whole string vectorizes.
#[inline]
fn needs_escape(b: u8) -> bool {
    (b < 0x20) | (b == b'"') | (b == b'\\')
}

/// The escaped length of `text` (valid UTF-8), quotes excluded.
#[inline]
pub(crate) fn escaped_len(text: &[u8]) -> usize {
    if !text.iter().fold(false, |any, &b| any | needs_escape(b)) {
        return text.len();
    }
    text.len() + text.iter().map(|&b| escape_extra(b)).sum::<usize>()
}

/// Append `text` (valid UTF-8) escaped, without quotes.
pub(crate) fn push_escaped(out: &mut impl Sink, text: &[u8]) {
    let mut start = 0;
    for (i, &b) in text.iter().enumerate() {
        let e = ESCAPE[usize::from(b)];
        if e == 0 {
            continue;
        }
        out.put(&text[start..i]);
        if e == b'u' {
            out.put(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]);
        } else {
            out.put(&[b'\\', e]);
        }
        start = i + 1;
    }
    out.put(&text[start..]);
}

/// How many bytes Java's UTF-8 decoder replaces with one U+FFFD at the start of `bad`, a
/// non-empty slice that `str::from_utf8` found ill-formed at its first byte: the maximal
/// subpart, where `ED` may be followed by `80..=BF` (see the module docs).
fn java_malformed_len(bad: &[u8]) -> usize {
    let (continuations, second) = match bad[0] {
        0xc2..=0xdf => (1, 0x80..=0xbf),
        0xe0 => (2, 0xa0..=0xbf),
        0xe1..=0xef => (2, 0x80..=0xbf),
        0xf0 => (3, 0x90..=0xbf),
        0xf1..=0xf3 => (3, 0x80..=0xbf),
        0xf4 => (3, 0x80..=0x8f),
        _ => return 1,
    };
    if !bad.get(1).is_some_and(|b| second.contains(b)) {
        return 1;
    }
    let more = bad[2..]
        .iter()
        .take(continuations - 1)
        .take_while(|&&b| b & 0xc0 == 0x80)
        .count();
    2 + more
}

/// A piece of arbitrary bytes decoded as Java decodes UTF-8.
enum Piece<'a> {
    /// Well-formed UTF-8.
    Text(&'a [u8]),
    /// One ill-formed part, which becomes one U+FFFD.
    Replaced,
}

/// The pieces of arbitrary bytes, in order, as Java decodes them (see the module docs).
struct JavaUtf8<'a> {
    rest: &'a [u8],
    replaced_next: bool,
}

impl<'a> JavaUtf8<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            rest: bytes,
            replaced_next: false,
        }
    }
}

impl<'a> Iterator for JavaUtf8<'a> {
    type Item = Piece<'a>;

    fn next(&mut self) -> Option<Piece<'a>> {
        if std::mem::take(&mut self.replaced_next) {
            return Some(Piece::Replaced);
        }
        if self.rest.is_empty() {
            return None;
        }
        match std::str::from_utf8(self.rest) {
            Ok(_) => Some(Piece::Text(std::mem::take(&mut self.rest))),
            Err(e) => {
                let (good, bad) = self.rest.split_at(e.valid_up_to());
                self.rest = &bad[java_malformed_len(bad)..];
                if good.is_empty() {
                    Some(Piece::Replaced)
                } else {
                    self.replaced_next = true;
                    Some(Piece::Text(good))
                }
            }
        }
    }
}

/// The escaped length of arbitrary `bytes` decoded as Java decodes UTF-8 (see the module
/// docs), quotes excluded.
pub(crate) fn lossy_escaped_len(bytes: &[u8]) -> usize {
    if bytes.is_ascii() {
        return escaped_len(bytes);
    }
    JavaUtf8::new(bytes)
        .map(|piece| match piece {
            Piece::Text(text) => escaped_len(text),
            Piece::Replaced => REPLACEMENT.len(),
        })
        .sum()
}

/// Append arbitrary `bytes` decoded as Java decodes UTF-8, escaped, without quotes.
pub(crate) fn push_lossy_escaped(out: &mut impl Sink, bytes: &[u8]) {
    if bytes.is_ascii() {
        return push_escaped(out, bytes);
    }
    for piece in JavaUtf8::new(bytes) {
        match piece {
            Piece::Text(text) => push_escaped(out, text),
            Piece::Replaced => out.put(REPLACEMENT),
        }
    }
}

/// The decimal length of `v`, sign included.
#[inline]
pub(crate) fn int_len(v: i64) -> usize {
    let digits = v
        .unsigned_abs()
        .checked_ilog10()
        .map_or(1, |l| l as usize + 1);
    digits + usize::from(v < 0)
}

/// "00" to "99".
static PAIRS: [[u8; 2]; 100] = {
    let mut t = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        t[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    t
};

/// Write `v` in decimal at the start of `dst` (two digits per step, as `itoa` does) and
/// return its length, [`int_len`]`(v)`.
///
/// # Panics
/// If `dst` is shorter than that.
#[inline]
pub(crate) fn write_int(dst: &mut [u8], v: i64) -> usize {
    let n = int_len(v);
    let dst = &mut dst[..n];
    let mut u = v.unsigned_abs();
    let mut i = n;
    // Four digits per 64-bit division, then two per 32-bit one.
    while u >= 10_000 {
        let rem = (u % 10_000) as usize;
        u /= 10_000;
        i -= 4;
        dst[i..i + 2].copy_from_slice(&PAIRS[rem / 100]);
        dst[i + 2..i + 4].copy_from_slice(&PAIRS[rem % 100]);
    }
    let mut u = u as u32;
    while u >= 100 {
        i -= 2;
        dst[i..i + 2].copy_from_slice(&PAIRS[(u % 100) as usize]);
        u /= 100;
    }
    if u >= 10 {
        i -= 2;
        dst[i..i + 2].copy_from_slice(&PAIRS[u as usize]);
    } else {
        i -= 1;
        dst[i] = b'0' + u as u8;
    }
    if v < 0 {
        dst[i - 1] = b'-';
    }
    n
}

/// The longest integer: `i64::MIN`.
pub(crate) const INT_MAX_LEN: usize = 20;

/// Append `v` in decimal.
#[inline]
pub(crate) fn push_int(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; INT_MAX_LEN];
    let n = write_int(&mut buf, v);
    out.extend_from_slice(&buf[..n]);
}

/// For each byte: its value as a Java `byte` (signed) in decimal and a comma, then, in
/// the last of 8 bytes, the length of those two, so that writing one is one fixed-size
/// copy and one add.
static SIGNED: [[u8; 8]; 256] = {
    let mut t = [[0u8; 8]; 256];
    let mut b = 0;
    while b < 256 {
        let v = b as u8 as i8 as i16;
        let mut text = [0u8; 8];
        let mut n = 0;
        if v < 0 {
            text[0] = b'-';
            n = 1;
        }
        let a = v.unsigned_abs();
        if a >= 100 {
            text[n] = b'0' + (a / 100) as u8;
            n += 1;
        }
        if a >= 10 {
            text[n] = b'0' + (a / 10 % 10) as u8;
            n += 1;
        }
        text[n] = b'0' + (a % 10) as u8;
        text[n + 1] = b',';
        text[7] = n as u8 + 2;
        t[b] = text;
        b += 1;
    }
    t
};

/// Bytes per round of [`push_signed_array`]: what one stack buffer holds.
const SIGNED_CHUNK: usize = 64;

/// The length of `bytes` as a JSON array of signed integers, brackets included.
#[inline]
pub(crate) fn signed_array_len(bytes: &[u8]) -> usize {
    // Per byte, computed rather than looked up so that the sum vectorizes (with signed
    // byte comparisons only): one digit, plus one for a minus sign, a second digit and a
    // third.
    let mut extra = 0;
    for chunk in bytes.chunks(64) {
        let mut n = 0u8; // at most 3 per byte: no overflow in 64 bytes
        for &b in chunk {
            let v = b as i8;
            n += u8::from(v < 0)
                + u8::from(v > 9)
                + u8::from(v < -9)
                + u8::from(v > 99)
                + u8::from(v < -99);
        }
        extra += usize::from(n);
    }
    2 + bytes.len() + extra + bytes.len().saturating_sub(1)
}

/// Append `bytes` as a JSON array of signed integers (Java `byte[]`): `[104,-61,...]`.
pub(crate) fn push_signed_array(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'[');
    // Five bytes at most per entry ("-128,"), plus the padding of the last copy.
    let mut buf = [0u8; SIGNED_CHUNK * 5 + 8];
    for chunk in bytes.chunks(SIGNED_CHUNK) {
        let mut p = 0;
        for &b in chunk {
            let entry = &SIGNED[usize::from(b)];
            buf[p..p + 8].copy_from_slice(entry);
            p += usize::from(entry[7]);
        }
        out.extend_from_slice(&buf[..p]);
    }
    if !bytes.is_empty() {
        out.pop(); // the last comma
    }
    out.push(b']');
}

/// The length of `bytes` in standard padded base64.
#[inline]
pub(crate) fn base64_len(bytes: &[u8]) -> usize {
    base64_simd::STANDARD.encoded_length(bytes.len())
}

/// Append `bytes` in standard padded base64, encoded straight into `out`'s spare capacity.
#[inline]
pub(crate) fn push_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    base64_simd::STANDARD.encode_append(bytes, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        push_lossy_escaped(&mut out, bytes);
        assert_eq!(out.len(), lossy_escaped_len(bytes), "{bytes:?}");
        out
    }

    #[test]
    fn escapes_like_serde_json() {
        let all: String = (0u8..0x80)
            .map(char::from)
            .chain("é€😀\u{2028}".chars())
            .collect();
        let expected = serde_json::to_string(&all).unwrap();
        let got = escaped(all.as_bytes());
        assert_eq!(got, expected.as_bytes()[1..expected.len() - 1]);
        assert_eq!(escaped(b"a\"b\\c\n\x01"), b"a\\\"b\\\\c\\n\\u0001");
    }

    /// What Java 17 and 25's `new String(bytes, StandardCharsets.UTF_8)` gives for
    /// ill-formed inputs (each expected string was printed by Java).
    #[test]
    fn invalid_utf8_is_replaced_per_maximal_subpart_like_java() {
        const R: &str = "\u{FFFD}";
        let cases: &[(&[u8], String)] = &[
            (b"\xff", R.into()),
            (b"a\x80b", format!("a{R}b")),
            // A truncated 4-byte sequence is one subpart.
            (b"\xf0\x9f\x98", R.into()),
            (b"\xf0\x9f\x98x", format!("{R}x")),
            // Java takes an encoded surrogate as one unit, complete or not (Unicode's
            // practice, and Rust's `from_utf8_lossy`, replace each byte).
            (b"\xed\xa0\x80", R.into()),
            (b"\xed\xbf", R.into()),
            (b"\xed\xa0A", format!("{R}A")),
            (b"\xed\x9f\xbf", "\u{d7ff}".into()),
            // Overlong encodings likewise.
            (b"\xc0\xaf", R.repeat(2)),
            (b"\xe0\x80\x80", R.repeat(3)),
            // Beyond U+10FFFF.
            (b"\xf4\x90\x80\x80", R.repeat(4)),
            (b"\xf5", R.into()),
            // A valid lead and one continuation, then a new sequence.
            (b"\xe2\x82\xc3\xab", format!("{R}\u{eb}")),
            (b"\xc3", R.into()),
            (b"ok\xc3\xab\"\xfe", format!("ok\u{eb}\\\"{R}")),
        ];
        for (bytes, java) in cases {
            assert_eq!(
                String::from_utf8(escaped(bytes)).unwrap(),
                *java,
                "{bytes:x?}"
            );
        }
    }

    #[test]
    fn matches_compares_what_would_be_written() {
        let mut m = Matches::new(b"a\\\"b");
        push_escaped(&mut m, b"a\"b");
        assert!(m.finish());
        let mut m = Matches::new(b"a\\\"bc");
        push_escaped(&mut m, b"a\"b");
        assert!(!m.finish());
        let mut m = Matches::new(b"a\"b");
        push_escaped(&mut m, b"a\"b");
        assert!(!m.finish());
    }

    #[test]
    fn integers() {
        let mut values = vec![0, 1_545_084_650_987, i64::MAX, i64::MIN, i64::MIN + 1];
        let mut p: i64 = 1;
        for _ in 0..19 {
            values.extend([p - 1, p, p + 1, p * 7 / 3]);
            p = p.saturating_mul(10);
        }
        for v in values.clone() {
            values.extend(v.checked_neg());
        }
        for v in values {
            let mut out = b"x".to_vec();
            push_int(&mut out, v);
            assert_eq!(out[1..], *v.to_string().as_bytes());
            assert_eq!(int_len(v), out.len() - 1, "{v}");
        }
    }

    #[test]
    fn signed_arrays_are_java_bytes() {
        let all: Vec<u8> = (0..=255).chain(0..=255).collect();
        for bytes in [&[][..], &[0], &[255], "ë".as_bytes(), &all] {
            let mut out = Vec::new();
            push_signed_array(&mut out, bytes);
            let expected: Vec<i8> = bytes.iter().map(|&b| b as i8).collect();
            assert_eq!(out, serde_json::to_vec(&expected).unwrap());
            assert_eq!(signed_array_len(bytes), out.len());
        }
        let mut out = Vec::new();
        push_signed_array(&mut out, "ë".as_bytes());
        assert_eq!(out, b"[-61,-85]");
    }

    #[test]
    fn base64_lengths() {
        for n in 0..10 {
            let bytes = vec![0xa5; n];
            let mut out = b"x".to_vec();
            push_base64(&mut out, &bytes);
            assert_eq!(out.len() - 1, base64_len(&bytes));
        }
    }
}
