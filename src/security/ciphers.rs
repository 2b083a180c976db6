//! The block and stream ciphers of password-based key encryption, on RustCrypto
//! primitives: CBC with PKCS#7 padding (AES, DES, 3DES, RC2) and RC4. Keys are given as
//! slices derived by a KDF; the caller zeroizes them. Output buffers zeroize on drop.

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockCipherDecrypt, BlockModeDecrypt, InnerIvInit, KeyInit, StreamCipher};
use zeroize::Zeroizing;

use super::KeyError;

/// A CBC cipher and its key length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cbc {
    Aes128,
    Aes192,
    Aes256,
    Des,
    /// Three-key triple DES (24-byte key).
    DesEde3,
    /// Two-key triple DES (16-byte key: K1 K2 K1).
    DesEde2,
    /// RC2 with a key of `key_len` bytes and `effective_bits` effective key bits.
    Rc2 {
        key_len: usize,
        effective_bits: usize,
    },
}

impl Cbc {
    pub fn key_len(self) -> usize {
        match self {
            Cbc::Aes128 | Cbc::DesEde2 => 16,
            Cbc::Aes192 | Cbc::DesEde3 => 24,
            Cbc::Aes256 => 32,
            Cbc::Des => 8,
            Cbc::Rc2 { key_len, .. } => key_len,
        }
    }

    pub fn block_len(self) -> usize {
        match self {
            Cbc::Aes128 | Cbc::Aes192 | Cbc::Aes256 => 16,
            Cbc::Des | Cbc::DesEde3 | Cbc::DesEde2 | Cbc::Rc2 { .. } => 8,
        }
    }

    /// Decrypts and strips the padding. A bad padding is a wrong password (or a damaged
    /// key): the two cannot be told apart.
    pub fn decrypt(
        self,
        key: &[u8],
        iv: &[u8],
        data: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        if key.len() != self.key_len() || iv.len() != self.block_len() {
            return Err(KeyError::MalformedDer {
                at: "the encryption parameters",
                detail: format!(
                    "{self:?} needs a {}-byte key and a {}-byte IV, got a {}-byte IV",
                    self.key_len(),
                    self.block_len(),
                    iv.len()
                ),
            });
        }
        if data.is_empty() || !data.len().is_multiple_of(self.block_len()) {
            return Err(KeyError::MalformedDer {
                at: "the encrypted key",
                detail: format!(
                    "{} bytes is not a whole number of {}-byte blocks",
                    data.len(),
                    self.block_len()
                ),
            });
        }
        match self {
            Cbc::Aes128 => cbc::<aes::Aes128>(key, iv, data),
            Cbc::Aes192 => cbc::<aes::Aes192>(key, iv, data),
            Cbc::Aes256 => cbc::<aes::Aes256>(key, iv, data),
            Cbc::Des => cbc::<des::Des>(key, iv, data),
            Cbc::DesEde3 => cbc::<des::TdesEde3>(key, iv, data),
            Cbc::DesEde2 => cbc::<des::TdesEde2>(key, iv, data),
            Cbc::Rc2 { effective_bits, .. } => {
                let cipher = rc2::Rc2::new_with_eff_key_len(key, effective_bits);
                unpad(cbc::Decryptor::inner_iv_slice_init(cipher, iv), data)
            }
        }
    }
}

fn cbc<C: BlockCipherDecrypt + KeyInit>(
    key: &[u8],
    iv: &[u8],
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let cipher =
        C::new_from_slice(key).map_err(|_| KeyError::malformed("the key", "bad length"))?;
    unpad(cbc::Decryptor::inner_iv_slice_init(cipher, iv), data)
}

fn unpad<C: BlockCipherDecrypt>(
    decryptor: Result<cbc::Decryptor<C>, cbc::cipher::InvalidLength>,
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let decryptor = decryptor.map_err(|_| KeyError::malformed("the IV", "bad length"))?;
    let mut buf = Zeroizing::new(data.to_vec());
    let len = decryptor
        .decrypt_padded::<Pkcs7>(&mut buf)
        .map_err(|_| KeyError::WrongPassword)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

/// RC4 (no padding: only re-parsing the output can tell a wrong password).
pub(crate) fn rc4(key: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let mut cipher =
        rc4::Rc4::new_from_slice(key).map_err(|_| KeyError::malformed("the key", "bad length"))?;
    let mut buf = Zeroizing::new(data.to_vec());
    cipher.apply_keystream(&mut buf);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lengths_are_errors_not_panics() {
        for c in [
            Cbc::Aes128,
            Cbc::Aes192,
            Cbc::Aes256,
            Cbc::Des,
            Cbc::DesEde3,
            Cbc::DesEde2,
            Cbc::Rc2 {
                key_len: 5,
                effective_bits: 40,
            },
        ] {
            let key = vec![7u8; c.key_len()];
            let iv = vec![1u8; c.block_len()];
            assert!(c.decrypt(&key, &iv, &[]).is_err());
            assert!(c.decrypt(&key, &iv, &[0; 3]).is_err());
            assert!(c.decrypt(&key, &iv[1..], &[0; 16]).is_err());
            assert!(c.decrypt(&key[1..], &iv, &[0; 16]).is_err());
            // Random ciphertext: almost always bad padding; never a panic.
            let _ = c.decrypt(&key, &iv, &[0x5a; 32]);
        }
        assert!(rc4(&[], b"x").is_err());
    }
}
