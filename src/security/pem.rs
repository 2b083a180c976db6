//! The public entry points: a certificate chain and a private key from the PEM of AWS's
//! mTLS secret (`certificate`, `privateKey`, `privateKeyPassword`).
//!
//! Plain sections are decoded by rustls-pki-types; the encrypted ones (which it does not
//! read) are found by [`super::armor`] and decrypted here. Every key is checked to parse
//! as what its label says before it is returned, so rustls never sees garbage.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use zeroize::Zeroizing;

use super::armor::{self, Section};
use super::{KeyError, encrypted, traditional, validate};

const CERTIFICATE: &str = "certificate chain (certificate)";
const PRIVATE_KEY: &str = "private key (privateKey)";

const PKCS8: &str = "PRIVATE KEY";
const PKCS8_ENCRYPTED: &str = "ENCRYPTED PRIVATE KEY";
const PKCS1: &str = "RSA PRIVATE KEY";
const SEC1: &str = "EC PRIVATE KEY";

/// Every `BEGIN CERTIFICATE` section of `pem`, in order (AWS's format: client
/// certificate first, then intermediates, then the root). Other sections are skipped.
pub fn certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, KeyError> {
    let mut chain = Vec::new();
    for section in armor::sections(pem, CERTIFICATE)? {
        if section.label != "CERTIFICATE" {
            continue;
        }
        let cert =
            CertificateDer::from_pem_slice(section.text.as_bytes()).map_err(|e| KeyError::Pem {
                what: CERTIFICATE,
                detail: e.to_string(),
            })?;
        der::asn1::AnyRef::try_from(cert.as_ref())
            .and_then(|any| der::Tagged::tag(&any).assert_eq(der::Tag::Sequence))
            .map_err(|e| KeyError::MalformedDer {
                at: "a certificate",
                detail: format!("certificate {} of the chain: {e}", chain.len() + 1),
            })?;
        chain.push(cert);
    }
    if chain.is_empty() {
        return Err(KeyError::NoCertificate);
    }
    Ok(chain)
}

/// The first private key of `pem`, decrypted with `password` if it is encrypted.
///
/// Accepts `BEGIN PRIVATE KEY` (PKCS#8), `BEGIN ENCRYPTED PRIVATE KEY` (PBES1, PKCS#12
/// PBE, PBES2 with PBKDF2 or scrypt), `BEGIN RSA PRIVATE KEY` (PKCS#1) and
/// `BEGIN EC PRIVATE KEY` (SEC1), the last two plain or in OpenSSL's traditional
/// encrypted form. A password given for a plain key is ignored.
pub fn private_key(pem: &str, password: Option<&str>) -> Result<PrivateKeyDer<'static>, KeyError> {
    let section = armor::sections(pem, PRIVATE_KEY)?
        .into_iter()
        .find(|s| [PKCS8, PKCS8_ENCRYPTED, PKCS1, SEC1].contains(&s.label))
        .ok_or(KeyError::NoPrivateKey)?;
    if section.label == PKCS8_ENCRYPTED {
        let password = password.ok_or(KeyError::PasswordMissing)?;
        let der = section.der(PRIVATE_KEY)?;
        let plain = encrypted::decrypt(&der, password)?;
        return Ok(PrivatePkcs8KeyDer::from(take(plain)).into());
    }
    if section.header("Proc-Type").is_some() {
        return traditional_key(&section, password);
    }
    let key =
        PrivateKeyDer::from_pem_slice(section.text.as_bytes()).map_err(|e| KeyError::Pem {
            what: PRIVATE_KEY,
            detail: e.to_string(),
        })?;
    match &key {
        PrivateKeyDer::Pkcs8(k) => {
            validate::pkcs8(k.secret_pkcs8_der()).plain("the PKCS#8 PrivateKeyInfo")?
        }
        PrivateKeyDer::Pkcs1(k) => {
            validate::pkcs1(k.secret_pkcs1_der()).plain("the PKCS#1 RSAPrivateKey")?
        }
        PrivateKeyDer::Sec1(k) => {
            validate::sec1(k.secret_sec1_der(), true).plain("the SEC1 ECPrivateKey")?
        }
        _ => {
            return Err(KeyError::UnsupportedKeyType(
                "an unknown PEM key kind".to_string(),
            ));
        }
    }
    Ok(key)
}

/// A `Proc-Type: 4,ENCRYPTED` section: decrypt, then check it is what its label says.
fn traditional_key(
    section: &Section<'_>,
    password: Option<&str>,
) -> Result<PrivateKeyDer<'static>, KeyError> {
    let proc_type = section.header("Proc-Type").unwrap_or_default();
    if proc_type.replace(' ', "") != "4,ENCRYPTED" {
        return Err(KeyError::malformed(
            "the PEM header Proc-Type",
            format!("expected `4,ENCRYPTED`, got `{proc_type}`"),
        ));
    }
    let dek_info = section
        .header("DEK-Info")
        .ok_or_else(|| KeyError::malformed("the PEM headers", "Proc-Type without DEK-Info"))?;
    let password = password.ok_or(KeyError::PasswordMissing)?;
    let der = section.der(PRIVATE_KEY)?;
    let plain = traditional::decrypt(dek_info, password.as_bytes(), &der)?;
    Ok(match section.label {
        PKCS1 => {
            validate::pkcs1(&plain).decrypted()?;
            PrivatePkcs1KeyDer::from(take(plain)).into()
        }
        SEC1 => {
            validate::sec1(&plain, true).decrypted()?;
            PrivateSec1KeyDer::from(take(plain)).into()
        }
        _ => {
            validate::pkcs8(&plain).decrypted()?;
            PrivatePkcs8KeyDer::from(take(plain)).into()
        }
    })
}

/// Moves the bytes out of the zeroizing buffer without copying them (the key types
/// zeroize on drop themselves).
fn take(mut plain: Zeroizing<Vec<u8>>) -> Vec<u8> {
    std::mem::take(&mut *plain)
}
