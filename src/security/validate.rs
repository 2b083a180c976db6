//! Structural checks of decrypted (or plain) key DER: is it a PKCS#8 `PrivateKeyInfo`, a
//! PKCS#1 `RSAPrivateKey` or a SEC1 `ECPrivateKey`, and of a type rustls can sign with?
//!
//! After a decryption, a structure that does not parse means a wrong password (RC4 has no
//! padding, and a CBC padding check passes by chance about once in 256 tries); the
//! callers turn [`Shape::Unparsable`] into the error that fits.

use der::asn1::{AnyRef, ContextSpecific, ObjectIdentifier, OctetStringRef, UintRef};
use der::{Decode, Reader, TagNumber};

use super::KeyError;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");

/// What a check found.
#[derive(Debug)]
pub(crate) enum Shape {
    /// The structure parses and its key type is supported.
    Ok,
    /// The bytes are not the structure (wrong password, or corrupt).
    Unparsable(der::Error),
    /// The structure parses, but rustls cannot use the key.
    Unsupported(KeyError),
}

impl Shape {
    /// For a key read as-is: a structure that does not parse is malformed DER at `at`.
    pub fn plain(self, at: &'static str) -> Result<(), KeyError> {
        match self {
            Shape::Ok => Ok(()),
            Shape::Unparsable(e) => Err(KeyError::malformed(at, e)),
            Shape::Unsupported(e) => Err(e),
        }
    }

    /// For a key just decrypted: a structure that does not parse is a wrong password.
    pub fn decrypted(self) -> Result<(), KeyError> {
        match self {
            Shape::Ok => Ok(()),
            Shape::Unparsable(_) => Err(KeyError::WrongPassword),
            Shape::Unsupported(e) => Err(e),
        }
    }
}

fn curve_name(oid: ObjectIdentifier) -> String {
    if oid == P521 {
        "ECDSA P-521".to_string()
    } else {
        format!("EC key on curve OID {oid}")
    }
}

fn check_curve(curve: Option<ObjectIdentifier>) -> Shape {
    match curve {
        Some(c) if c == P256 || c == P384 => Shape::Ok,
        Some(c) => Shape::Unsupported(KeyError::UnsupportedKeyType(curve_name(c))),
        None => Shape::Unsupported(KeyError::UnsupportedKeyType(
            "EC key without a named curve".to_string(),
        )),
    }
}

/// A PKCS#8 `PrivateKeyInfo` (RFC 5958) of a supported key type.
pub(crate) fn pkcs8(der: &[u8]) -> Shape {
    let info = match pkcs8::PrivateKeyInfoRef::from_der(der) {
        Ok(info) => info,
        Err(e) => return Shape::Unparsable(e),
    };
    let alg = info.algorithm;
    if alg.oid == RSA_ENCRYPTION {
        pkcs1(info.private_key.as_bytes())
    } else if alg.oid == EC_PUBLIC_KEY {
        let curve = alg
            .parameters
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        match check_curve(curve) {
            Shape::Ok => sec1(info.private_key.as_bytes(), false),
            other => other,
        }
    } else if alg.oid == ED25519 {
        Shape::Ok
    } else if alg.oid == RSASSA_PSS {
        Shape::Unsupported(KeyError::UnsupportedKeyType(
            "RSASSA-PSS key (OID 1.2.840.113549.1.1.10); convert it to a plain RSA key".to_string(),
        ))
    } else {
        Shape::Unsupported(KeyError::UnsupportedKeyType(format!(
            "key algorithm OID {}",
            alg.oid
        )))
    }
}

/// A PKCS#1 `RSAPrivateKey` (RFC 8017 A.1.2): version and at least eight integers.
pub(crate) fn pkcs1(der: &[u8]) -> Shape {
    let parsed = AnyRef::from_der(der).and_then(|any| {
        any.sequence(|r| {
            let version = UintRef::decode(r)?;
            if version.as_bytes().len() > 1 || version.as_bytes().first().copied().unwrap_or(0) > 1
            {
                return Err(der::Tag::Integer.value_error().into());
            }
            for _ in 0..8 {
                UintRef::decode(r)?;
            }
            // Multi-prime keys carry otherPrimeInfos.
            r.drain(r.remaining_len())?;
            Ok(())
        })
    });
    match parsed {
        Ok(()) => Shape::Ok,
        Err(e) => Shape::Unparsable(e),
    }
}

/// A SEC1 `ECPrivateKey` (RFC 5915). `standalone`: the curve must be named inside it
/// (a `BEGIN EC PRIVATE KEY` has no outer AlgorithmIdentifier to name it).
pub(crate) fn sec1(der: &[u8], standalone: bool) -> Shape {
    let parsed = AnyRef::from_der(der).and_then(|any| {
        any.sequence(|r| {
            let version = u8::decode(r)?;
            if version != 1 {
                return Err(der::Tag::Integer.value_error().into());
            }
            <&OctetStringRef>::decode(r)?;
            let curve = ContextSpecific::<ObjectIdentifier>::decode_explicit(r, TagNumber(0))?
                .map(|c| c.value);
            r.drain(r.remaining_len())?;
            Ok(curve)
        })
    });
    match parsed {
        Ok(curve) if standalone => check_curve(curve),
        Ok(Some(curve)) => check_curve(Some(curve)),
        Ok(None) => Shape::Ok,
        Err(e) => Shape::Unparsable(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_unparsable_never_a_panic() {
        for bytes in [
            &[][..],
            &[0x30],
            &[0x30, 0x80],
            &[0x30, 0x03, 0x02, 0x01, 0x00],
            &[0xff; 40],
        ] {
            assert!(matches!(pkcs8(bytes), Shape::Unparsable(_)));
            assert!(matches!(pkcs1(bytes), Shape::Unparsable(_)));
            assert!(matches!(sec1(bytes, true), Shape::Unparsable(_)));
        }
    }

    #[test]
    fn unknown_key_types_are_named() {
        // PrivateKeyInfo { 0, { 1.2.3.4 }, OCTET STRING { 00 } }
        let der = [
            0x30, 0x0e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2a, 0x03, 0x04, 0x04, 0x02,
            0x05, 0x00,
        ];
        match pkcs8(&der) {
            Shape::Unsupported(KeyError::UnsupportedKeyType(what)) => {
                assert!(what.contains("1.2.3.4"), "{what}")
            }
            other => panic!("{other:?}"),
        }
    }
}
