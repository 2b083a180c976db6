//! The SCRAM key derivations of RFC 5802 section 3 over SHA-256 or SHA-512, with every
//! derived secret wiped when dropped. Pure functions: no state, no I/O, no parsing.

use super::ScramHash;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha512};
use zeroize::Zeroizing;

/// `SaltedPassword := Hi(password, salt, i)`: PBKDF2 with HMAC, one hash output long.
pub fn salted_password(
    hash: ScramHash,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(vec![0; hash.output_len()]);
    match hash {
        ScramHash::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out),
        ScramHash::Sha512 => pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out),
    }
    out
}

/// `HMAC(key, data)`.
pub fn hmac(hash: ScramHash, key: &[u8], data: &[u8]) -> Zeroizing<Vec<u8>> {
    match hash {
        ScramHash::Sha256 => mac::<Hmac<Sha256>>(key, data),
        ScramHash::Sha512 => mac::<Hmac<Sha512>>(key, data),
    }
}

/// `H(data)`.
pub fn digest(hash: ScramHash, data: &[u8]) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(match hash {
        ScramHash::Sha256 => Sha256::digest(data).to_vec(),
        ScramHash::Sha512 => Sha512::digest(data).to_vec(),
    })
}

/// Whether `HMAC(key, data)` equals `tag`, compared in constant time.
pub fn verify(hash: ScramHash, key: &[u8], data: &[u8], tag: &[u8]) -> bool {
    match hash {
        ScramHash::Sha256 => keyed::<Hmac<Sha256>>(key, data).verify_slice(tag).is_ok(),
        ScramHash::Sha512 => keyed::<Hmac<Sha512>>(key, data).verify_slice(tag).is_ok(),
    }
}

fn mac<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(keyed::<M>(key, data).finalize().into_bytes().to_vec())
}

fn keyed<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> M {
    // HMAC hashes long keys and pads short ones: every length is valid.
    let mut m = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    m.update(data);
    m
}

#[cfg(test)]
mod tests;
