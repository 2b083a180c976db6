//! PKCS#8 `EncryptedPrivateKeyInfo` (RFC 5958 section 3): reads the AlgorithmIdentifier,
//! picks the scheme by OID (PBES2, PBES1 or PKCS#12 PBE), caps the iteration count, and
//! re-parses what comes out as a `PrivateKeyInfo`: the one check that catches a wrong
//! password for every scheme (RC4 has no padding to fail).

use der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef};
use der::{Decode, Reader};
use pkcs8::spki::AlgorithmIdentifierRef;
use zeroize::Zeroizing;

use super::ciphers::Cbc;
use super::pbes1::{self, Hash};
use super::pkcs12::{self, Scheme};
use super::{ITERATIONS_MAX, KeyError, pbes2, validate};

const fn oid(s: &str) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(s)
}

/// Every scheme we decrypt, by OID.
#[derive(Clone, Copy)]
enum Algorithm {
    Pbes2,
    Pbes1(Hash, Cbc),
    Pkcs12(Scheme),
}

const RC2_64: Cbc = Cbc::Rc2 {
    key_len: 8,
    effective_bits: 64,
};

fn algorithm(id: ObjectIdentifier) -> Result<Algorithm, KeyError> {
    const TABLE: &[(ObjectIdentifier, Algorithm)] = &[
        (oid("1.2.840.113549.1.5.13"), Algorithm::Pbes2),
        (
            oid("1.2.840.113549.1.5.3"),
            Algorithm::Pbes1(Hash::Md5, Cbc::Des),
        ),
        (
            oid("1.2.840.113549.1.5.6"),
            Algorithm::Pbes1(Hash::Md5, RC2_64),
        ),
        (
            oid("1.2.840.113549.1.5.10"),
            Algorithm::Pbes1(Hash::Sha1, Cbc::Des),
        ),
        (
            oid("1.2.840.113549.1.5.11"),
            Algorithm::Pbes1(Hash::Sha1, RC2_64),
        ),
        (
            oid("1.2.840.113549.1.12.1.1"),
            Algorithm::Pkcs12(Scheme::Rc4_128),
        ),
        (
            oid("1.2.840.113549.1.12.1.2"),
            Algorithm::Pkcs12(Scheme::Rc4_40),
        ),
        (
            oid("1.2.840.113549.1.12.1.3"),
            Algorithm::Pkcs12(Scheme::DesEde3),
        ),
        (
            oid("1.2.840.113549.1.12.1.4"),
            Algorithm::Pkcs12(Scheme::DesEde2),
        ),
        (
            oid("1.2.840.113549.1.12.1.5"),
            Algorithm::Pkcs12(Scheme::Rc2_128),
        ),
        (
            oid("1.2.840.113549.1.12.1.6"),
            Algorithm::Pkcs12(Scheme::Rc2_40),
        ),
    ];
    for (known, alg) in TABLE {
        if *known == id {
            return Ok(*alg);
        }
    }
    let name = match id.to_string().as_str() {
        "1.2.840.113549.1.5.1" => " (pbeWithMD2AndDES-CBC)",
        "1.2.840.113549.1.5.4" => " (pbeWithMD2AndRC2-CBC)",
        _ => "",
    };
    Err(KeyError::UnsupportedScheme {
        scheme: format!("OID {id}{name}"),
    })
}

/// `PBEParameter` (PBES1) and `pkcs-12PbeParams`: `SEQUENCE { salt OCTET STRING,
/// iterations INTEGER }`. The iteration count is checked against [`ITERATIONS_MAX`].
fn pbe_params<'a>(
    params: Option<AnyRef<'a>>,
    kdf: &'static str,
) -> Result<(&'a [u8], u32), KeyError> {
    let params =
        params.ok_or_else(|| KeyError::malformed("the PBE parameters", "they are absent"))?;
    let (salt, iterations) = params
        .sequence(|r| {
            let salt = <&OctetStringRef>::decode(r)?;
            let iterations = u64::decode(r)?;
            Ok::<_, der::Error>((salt.as_bytes(), iterations))
        })
        .map_err(|e| KeyError::malformed("the PBE parameters", e))?;
    if iterations > ITERATIONS_MAX {
        return Err(KeyError::CostTooLarge {
            kdf,
            parameter: "iteration count",
            value: iterations,
            max: ITERATIONS_MAX,
        });
    }
    if iterations == 0 {
        return Err(KeyError::malformed(
            "the PBE parameters",
            "the iteration count is 0",
        ));
    }
    Ok((salt, iterations as u32))
}

/// Decrypts an `EncryptedPrivateKeyInfo` to the DER of its `PrivateKeyInfo`, checked.
pub(crate) fn decrypt(der: &[u8], password: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let (alg, data) = AnyRef::from_der(der)
        .and_then(|any| {
            any.sequence(|r| {
                let alg: AlgorithmIdentifierRef<'_> = r.decode()?;
                let data = <&OctetStringRef>::decode(r)?;
                Ok((alg, data.as_bytes()))
            })
        })
        .map_err(|e| KeyError::malformed("the EncryptedPrivateKeyInfo", e))?;

    let plain = match algorithm(alg.oid)? {
        Algorithm::Pbes2 => {
            let params = alg
                .parameters
                .ok_or_else(|| KeyError::malformed("the PBES2 parameters", "they are absent"))?;
            pbes2::decrypt(params, password.as_bytes(), data)?
        }
        Algorithm::Pbes1(hash, cipher) => {
            let (salt, iterations) = pbe_params(alg.parameters, "PBES1")?;
            pbes1::decrypt(hash, cipher, password.as_bytes(), salt, iterations, data)?
        }
        Algorithm::Pkcs12(scheme) => {
            let (salt, iterations) = pbe_params(alg.parameters, "PKCS#12 PBE")?;
            pkcs12::decrypt(scheme, password, salt, iterations, data)?
        }
    };
    validate::pkcs8(&plain).decrypted()?;
    Ok(plain)
}
