//! PKCS#5 v1.5 password-based encryption (PBES1, RFC 8018 section 6.1): PBKDF1 with MD5
//! or SHA-1 gives a DES or RC2 key (64 effective bits) and the IV, then CBC.
//!
//! What `openssl pkcs8 -topk8 -v1 PBE-MD5-DES` (and SHA1 / RC2 variants) writes. MD2 is
//! not offered: OpenSSL 3 dropped it.

use md5::Md5;
use sha1::Sha1;
use sha1::digest::Digest;
use zeroize::Zeroizing;

use super::KeyError;
use super::ciphers::Cbc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hash {
    Md5,
    Sha1,
}

/// PBKDF1 (RFC 8018 section 5.1): `T_1 = H(P || S)`, `T_i = H(T_{i-1})`, `c` times;
/// returns the first 16 bytes (8 for the key, 8 for the IV). `iterations` ≥ 1.
pub(crate) fn pbkdf1(
    hash: Hash,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Zeroizing<[u8; 16]> {
    fn run<D: Digest>(password: &[u8], salt: &[u8], iterations: u32) -> Zeroizing<Vec<u8>> {
        let mut t = Zeroizing::new(
            D::new()
                .chain_update(password)
                .chain_update(salt)
                .finalize()
                .to_vec(),
        );
        for _ in 1..iterations {
            let next = D::digest(&*t);
            t.copy_from_slice(&next);
        }
        t
    }
    let t = match hash {
        Hash::Md5 => run::<Md5>(password, salt, iterations),
        Hash::Sha1 => run::<Sha1>(password, salt, iterations),
    };
    let mut out = Zeroizing::new([0u8; 16]);
    out.copy_from_slice(&t[..16]);
    out
}

/// Decrypts a PBES1 ciphertext. `cipher` is `Cbc::Des` or RC2 with an 8-byte key and 64
/// effective bits.
pub(crate) fn decrypt(
    hash: Hash,
    cipher: Cbc,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let dk = pbkdf1(hash, password, salt, iterations);
    cipher.decrypt(&dk[..8], &dk[8..], data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pbkdf1_one_iteration_is_one_hash() {
        let dk = pbkdf1(Hash::Md5, b"password", b"saltsalt", 1);
        assert_eq!(&dk[..], &Md5::digest(b"passwordsaltsalt")[..16]);
        let dk = pbkdf1(Hash::Sha1, b"password", b"saltsalt", 2);
        assert_eq!(
            &dk[..],
            &Sha1::digest(Sha1::digest(b"passwordsaltsalt"))[..16]
        );
    }
}
