//! OpenSSL's traditional encrypted PEM (`Proc-Type: 4,ENCRYPTED` and `DEK-Info:
//! CIPHER,IV`, RFC 1421 style), what `openssl rsa -aes256 -traditional` writes: the key
//! is `EVP_BytesToKey` with MD5, one iteration and the IV's first 8 bytes as salt.

use md5::{Digest, Md5};
use zeroize::Zeroizing;

use super::KeyError;
use super::ciphers::Cbc;

/// OpenSSL's `EVP_BytesToKey` with MD5 and one iteration: `D_1 = MD5(P || S)`,
/// `D_i = MD5(D_{i-1} || P || S)`, concatenated to `len` bytes.
pub(crate) fn evp_bytes_to_key(password: &[u8], salt: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(len + 16));
    let mut prev: Option<Zeroizing<[u8; 16]>> = None;
    while out.len() < len {
        let mut h = Md5::new();
        if let Some(p) = &prev {
            h.update(&p[..]);
        }
        h.update(password);
        h.update(salt);
        let d = Zeroizing::new(<[u8; 16]>::from(h.finalize()));
        out.extend_from_slice(&d[..]);
        prev = Some(d);
    }
    out.truncate(len);
    out
}

fn cipher(name: &str) -> Result<Cbc, KeyError> {
    Ok(match name.to_ascii_uppercase().as_str() {
        "AES-128-CBC" => Cbc::Aes128,
        "AES-192-CBC" => Cbc::Aes192,
        "AES-256-CBC" => Cbc::Aes256,
        "DES-EDE3-CBC" => Cbc::DesEde3,
        "DES-CBC" => Cbc::Des,
        _ => {
            return Err(KeyError::UnsupportedScheme {
                scheme: format!(
                    "traditional PEM cipher `{name}` (supported: AES-128-CBC, AES-192-CBC, \
                     AES-256-CBC, DES-EDE3-CBC, DES-CBC)"
                ),
            });
        }
    })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// Decrypts the body of a traditional encrypted PEM section given its `DEK-Info` value.
pub(crate) fn decrypt(
    dek_info: &str,
    password: &[u8],
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let bad = |detail: &str| KeyError::malformed("the PEM header DEK-Info", detail);
    let (name, iv) = dek_info
        .split_once(',')
        .ok_or_else(|| bad("it is not `CIPHER,IV`"))?;
    let cbc = cipher(name.trim())?;
    let iv = unhex(iv.trim()).ok_or_else(|| bad("the IV is not hexadecimal"))?;
    if iv.len() != cbc.block_len() {
        return Err(bad(&format!(
            "{name} needs a {}-byte IV, got {} bytes",
            cbc.block_len(),
            iv.len()
        )));
    }
    let key = evp_bytes_to_key(password, &iv[..8], cbc.key_len());
    cbc.decrypt(&key, &iv, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evp_bytes_to_key_chains_md5() {
        let k = evp_bytes_to_key(b"pw", b"saltsalt", 40);
        let d1 = Md5::digest(b"pwsaltsalt");
        let mut second = d1.to_vec();
        second.extend_from_slice(b"pwsaltsalt");
        let d2 = Md5::digest(&second);
        assert_eq!(&k[..16], &d1[..]);
        assert_eq!(&k[16..32], &d2[..]);
        assert_eq!(k.len(), 40);
    }

    /// Checked against `openssl enc -aes-256-cbc -P -S 0001020304050607 -md md5 -pass pass:pw`
    /// (its `-P` prints the key EVP_BytesToKey derives).
    #[test]
    fn evp_bytes_to_key_matches_openssl() {
        let k = evp_bytes_to_key(b"pw", &[0, 1, 2, 3, 4, 5, 6, 7], 32);
        let hex: String = k.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(hex, OPENSSL_KEY);
    }
    const OPENSSL_KEY: &str = "A55F79AA00E8DD0E7D3CE26ED40D7CD3A029A787189B34D30D90860969005FCB";

    #[test]
    fn bad_dek_info_is_an_error() {
        for dek in [
            "",
            "AES-256-CBC",
            "AES-256-CBC,zz",
            "AES-256-CBC,0011",
            "BF-CBC,0011223344556677",
            "AES-256-CBC,é1",
        ] {
            assert!(decrypt(dek, b"pw", &[0; 16]).is_err(), "{dek}");
        }
    }
}
