//! PKCS#5 v2 password-based encryption (PBES2, RFC 8018 section 6.2) with PBKDF2 or scrypt,
//! decrypted by the `pkcs5` crate once we have checked its cost parameters: a hostile key
//! must not make us spin for minutes or allocate gigabytes (and `pkcs5` panics on an
//! scrypt cost of 0, so such a key must never reach it).

use der::asn1::{AnyRef, ObjectIdentifier};
use pkcs5::pbes2::{self, Kdf};
use pkcs8::spki::AlgorithmIdentifierRef;
use zeroize::Zeroizing;

use super::{ITERATIONS_MAX, KeyError};

/// The largest scrypt memory (128 · r · N bytes) we agree to: 128 MiB. OpenSSL's default
/// (N = 16384, r = 8) needs 16 MiB.
pub(crate) const SCRYPT_MEMORY_MAX: u64 = 128 * 1024 * 1024;
/// The largest scrypt parallelization p (each lane costs a full pass over the memory).
pub(crate) const SCRYPT_P_MAX: u64 = 16;

const ENCRYPTION_OIDS: &[ObjectIdentifier] = &[
    pbes2::AES_128_CBC_OID,
    pbes2::AES_192_CBC_OID,
    pbes2::AES_256_CBC_OID,
    pbes2::AES_128_GCM_OID,
    pbes2::AES_256_GCM_OID,
    pbes2::DES_CBC_OID,
    pbes2::DES_EDE3_CBC_OID,
];

/// Names the KDF or cipher a PBES2 key uses when it is one we do not implement, before
/// `pkcs5` would only say "does not parse".
fn check_supported(params: AnyRef<'_>) -> Result<(), KeyError> {
    let (kdf, enc) = params
        .sequence(|r| {
            let kdf: AlgorithmIdentifierRef<'_> = der::Decode::decode(r)?;
            let enc: AlgorithmIdentifierRef<'_> = der::Decode::decode(r)?;
            Ok::<_, der::Error>((kdf.oid, enc.oid))
        })
        .map_err(|e| KeyError::malformed("the PBES2 parameters", e))?;
    if kdf != pbes2::PBKDF2_OID && kdf != pbes2::SCRYPT_OID {
        return Err(KeyError::UnsupportedScheme {
            scheme: format!("PBES2 key derivation function OID {kdf}"),
        });
    }
    if !ENCRYPTION_OIDS.contains(&enc) {
        return Err(KeyError::UnsupportedScheme {
            scheme: format!("PBES2 cipher OID {enc}"),
        });
    }
    Ok(())
}

/// Refuses costs beyond our limits, and parameters `pkcs5` would choke on.
pub(crate) fn check_cost(kdf: &Kdf) -> Result<(), KeyError> {
    match kdf {
        Kdf::Pbkdf2(p) => {
            let n = u64::from(p.iteration_count);
            if n > ITERATIONS_MAX {
                return Err(KeyError::CostTooLarge {
                    kdf: "PBKDF2",
                    parameter: "iteration count",
                    value: n,
                    max: ITERATIONS_MAX,
                });
            }
            if n == 0 {
                return Err(KeyError::malformed(
                    "the PBKDF2 parameters",
                    "the iteration count is 0",
                ));
            }
        }
        Kdf::Scrypt(p) => {
            let n = p.cost_parameter;
            if n < 2 || !n.is_power_of_two() {
                return Err(KeyError::malformed(
                    "the scrypt parameters",
                    format!("the cost N = {n} is not a power of two of at least 2"),
                ));
            }
            let r = u64::from(p.block_size);
            let par = u64::from(p.parallelization);
            if r == 0 || par == 0 {
                return Err(KeyError::malformed(
                    "the scrypt parameters",
                    "the block size r and parallelization p must be at least 1",
                ));
            }
            let memory = n.saturating_mul(r).saturating_mul(128);
            if memory > SCRYPT_MEMORY_MAX {
                return Err(KeyError::CostTooLarge {
                    kdf: "scrypt",
                    parameter: "memory (128 · r · N bytes)",
                    value: memory,
                    max: SCRYPT_MEMORY_MAX,
                });
            }
            if par > SCRYPT_P_MAX {
                return Err(KeyError::CostTooLarge {
                    kdf: "scrypt",
                    parameter: "parallelization p",
                    value: par,
                    max: SCRYPT_P_MAX,
                });
            }
        }
        _ => {
            return Err(KeyError::UnsupportedScheme {
                scheme: format!("PBES2 key derivation function OID {}", kdf.oid()),
            });
        }
    }
    Ok(())
}

/// Decrypts a PBES2 ciphertext; `params` is the AlgorithmIdentifier's parameters.
pub(crate) fn decrypt(
    params: AnyRef<'_>,
    password: &[u8],
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    check_supported(params)?;
    let params = pbes2::Parameters::try_from(params)
        .map_err(|e| KeyError::malformed("the PBES2 parameters", e))?;
    check_cost(&params.kdf)?;
    let mut buf = Zeroizing::new(data.to_vec());
    let len = match params.decrypt_in_place(password, &mut buf) {
        Ok(plain) => plain.len(),
        Err(pkcs5::Error::DecryptFailed) => return Err(KeyError::WrongPassword),
        Err(pkcs5::Error::UnsupportedAlgorithm { oid }) => {
            return Err(KeyError::UnsupportedScheme {
                scheme: format!("PBES2 with OID {oid}"),
            });
        }
        Err(e) => return Err(KeyError::malformed("the PBES2 parameters", e)),
    };
    buf.truncate(len);
    Ok(buf)
}
