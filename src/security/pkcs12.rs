//! PKCS#12 password-based encryption (RFC 7292 appendix B and C) with SHA-1: its own KDF
//! over the password as a BMPString, then RC4 or CBC (3DES, 2-key 3DES, RC2).
//!
//! What `openssl pkcs8 -topk8 -v1 PBE-SHA1-3DES` (and RC4 / RC2 / 2DES variants) writes.

use sha1::Sha1;
use sha1::digest::Digest;
use zeroize::Zeroizing;

use super::KeyError;
use super::ciphers::{self, Cbc};

/// SHA-1's output (u) and block (v) lengths.
const U: usize = 20;
const V: usize = 64;

/// What the KDF derives (RFC 7292 B.3 "ID").
#[derive(Clone, Copy, Debug)]
pub(crate) enum Purpose {
    Key = 1,
    Iv = 2,
}

/// The password as PKCS#12 wants it: a BMPString, big-endian UTF-16 with two trailing
/// zero bytes (as OpenSSL 3 converts UTF-8).
pub(crate) fn bmp_password(password: &str) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(password.len() * 2 + 2));
    for unit in password.encode_utf16() {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out.extend_from_slice(&[0, 0]);
    out
}

/// The RFC 7292 B.2 key derivation with SHA-1. `iterations` ≥ 1.
pub(crate) fn kdf(
    bmp_password: &[u8],
    salt: &[u8],
    purpose: Purpose,
    iterations: u32,
    len: usize,
) -> Zeroizing<Vec<u8>> {
    let d = [purpose as u8; V];
    let fill = |src: &[u8], out: &mut Vec<u8>| {
        if !src.is_empty() {
            let n = src.len().div_ceil(V) * V;
            out.extend(src.iter().cycle().take(n));
        }
    };
    let mut i = Zeroizing::new(Vec::new());
    fill(salt, &mut i);
    fill(bmp_password, &mut i);

    let mut out = Zeroizing::new(Vec::with_capacity(len + U));
    while out.len() < len {
        let mut a = Zeroizing::new(Sha1::new().chain_update(d).chain_update(&*i).finalize());
        for _ in 1..iterations {
            let next = Sha1::digest(*a);
            a.copy_from_slice(&next);
        }
        out.extend_from_slice(&a);
        if out.len() >= len {
            break;
        }
        // B = A repeated to v bytes; every v-byte block I_j = (I_j + B + 1) mod 2^(8v).
        let b: Zeroizing<Vec<u8>> = Zeroizing::new(a.iter().copied().cycle().take(V).collect());
        for block in i.chunks_mut(V) {
            let mut carry = 1u16;
            for (x, y) in block.iter_mut().rev().zip(b.iter().rev()) {
                let sum = u16::from(*x) + u16::from(*y) + carry;
                *x = sum as u8;
                carry = sum >> 8;
            }
        }
    }
    out.truncate(len);
    out
}

/// The PKCS#12 PBE schemes (RFC 7292 appendix C).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    Rc4_128,
    Rc4_40,
    DesEde3,
    DesEde2,
    Rc2_128,
    Rc2_40,
}

/// Decrypts a PKCS#12-PBE ciphertext.
pub(crate) fn decrypt(
    scheme: Scheme,
    password: &str,
    salt: &[u8],
    iterations: u32,
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let pass = bmp_password(password);
    let cbc = match scheme {
        Scheme::Rc4_128 | Scheme::Rc4_40 => {
            let len = if scheme == Scheme::Rc4_128 { 16 } else { 5 };
            let key = kdf(&pass, salt, Purpose::Key, iterations, len);
            return ciphers::rc4(&key, data);
        }
        Scheme::DesEde3 => Cbc::DesEde3,
        Scheme::DesEde2 => Cbc::DesEde2,
        Scheme::Rc2_128 => Cbc::Rc2 {
            key_len: 16,
            effective_bits: 128,
        },
        Scheme::Rc2_40 => Cbc::Rc2 {
            key_len: 5,
            effective_bits: 40,
        },
    };
    let key = kdf(&pass, salt, Purpose::Key, iterations, cbc.key_len());
    let iv = kdf(&pass, salt, Purpose::Iv, iterations, cbc.block_len());
    cbc.decrypt(&key, &iv, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bmp_password_is_utf16be_with_a_terminator() {
        assert_eq!(&*bmp_password(""), &[0, 0]);
        assert_eq!(&*bmp_password("Ab"), &[0, b'A', 0, b'b', 0, 0]);
        assert_eq!(&*bmp_password("é"), &[0x00, 0xe9, 0, 0]);
        // Outside the BMP: a surrogate pair.
        assert_eq!(&*bmp_password("😀"), &[0xd8, 0x3d, 0xde, 0x00, 0, 0]);
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Published PKCS#12 KDF vectors (SHA-1, password "smeg", as used by the test suites of
    /// several PKCS#12 implementations).
    #[test]
    fn kdf_matches_published_vectors() {
        let pass = bmp_password("smeg");
        let salt = hex("0A58CF64530D823F");
        assert_eq!(
            *kdf(&pass, &salt, Purpose::Key, 1, 24),
            hex("8AAAE6297B6CB04642AB5B077851284EB7128F1A2A7FBCA3")
        );
        assert_eq!(
            *kdf(&pass, &salt, Purpose::Iv, 1, 8),
            hex("79993DFE048D3B76")
        );
        let pass = bmp_password("queeg");
        let salt = hex("1682C0FC5B3F7EC5");
        assert_eq!(
            *kdf(&pass, &salt, Purpose::Key, 1000, 24),
            hex("483DD6E919D7DE2E8E648BA8F862F3FBFBDC2BCB2C02957F")
        );
    }

    /// Longer than one SHA-1 output, so the `I_j` update runs: checked against
    /// `openssl kdf -keylen 100 -kdfopt hexpass:<BMP "queeg"> -kdfopt iter:3 -kdfopt id:2
    /// -kdfopt digest:SHA1 PKCS12KDF`.
    #[test]
    fn kdf_many_blocks_matches_openssl() {
        let want = hex(
            "0379D8E5D5191CE5C463F3697006A1A9EE4ABCCBF0D70B5BC2B1528D6728FA825ACAA27B697AFDE4\
             572200AD55CE457689313602D0AEC94683EFB34BF878BF32E7D7F476FCF214638EC7D97DE0D4004F\
             42CA46243539D3DAB9C8C66023E703D7702B9505",
        );
        let got = kdf(
            &bmp_password("queeg"),
            &hex("1682C0FC5B3F7EC5"),
            Purpose::Iv,
            3,
            100,
        );
        assert_eq!(*got, want);
    }
}
