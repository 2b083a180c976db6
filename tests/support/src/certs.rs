//! Certificates and keys for TLS tests, made by the `openssl` CLI (not by our code, so
//! that our PEM/PKCS#8 loading is checked against files someone else wrote).
//!
//! [`Pki::generate`] makes: a private root CA; an intermediate CA; a server certificate
//! for `localhost` and `127.0.0.1` (DNS and IP SANs), and one for another name only; a
//! client certificate signed by the intermediate, with its chain (client, intermediate,
//! root) as AWS's secret format wants it; EC P-256 and P-384 client keys; a rogue CA
//! with a client certificate of its own; and the client's RSA key in every PKCS#8
//! encryption scheme `openssl pkcs8 -topk8` offers (PBES1, PKCS#12 PBE, PBES2 with
//! PBKDF2 or scrypt) plus OpenSSL's traditional `Proc-Type: 4,ENCRYPTED` form, all
//! under [`Pki::PASSWORD`].

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use tempfile::TempDir;

/// Which family an encrypted key's scheme belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFamily {
    /// PKCS#5 v1.5 (`-v1 PBE-MD5-DES`, ...).
    Pbes1,
    /// PKCS#12 PBE (`-v1 PBE-SHA1-3DES`, ...).
    Pkcs12,
    /// PKCS#5 v2 with PBKDF2 or scrypt.
    Pbes2,
    /// OpenSSL's pre-PKCS#8 `Proc-Type: 4,ENCRYPTED` PEM.
    Traditional,
}

/// The client's RSA key, encrypted with one scheme.
#[derive(Clone, Debug)]
pub struct EncryptedKey {
    /// The scheme as openssl names it (`PBE-SHA1-3DES`, `aes-256-cbc/hmacWithSHA256`, ...).
    pub scheme: String,
    pub family: KeyFamily,
    pub path: PathBuf,
}

/// A certificate and its private key, as PEM files.
#[derive(Clone, Debug)]
pub struct Identity {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Everything [`Pki::generate`] makes (see the module docs).
#[derive(Debug)]
pub struct Pki {
    pub dir: PathBuf,
    pub ca: Identity,
    pub intermediate: Identity,
    pub server: Identity,
    /// A server certificate from the same CA for another name only
    /// (`broker.elsewhere.invalid`): a broker on loopback serving it fails host name checks.
    pub server_elsewhere: Identity,
    /// Client certificate signed by the intermediate; `client.key` is unencrypted PKCS#8.
    pub client: Identity,
    /// client, intermediate, root: the `certificate` field of AWS's mTLS secret.
    pub client_chain: PathBuf,
    pub client_ec256: Identity,
    pub client_ec384: Identity,
    pub rogue_ca: Identity,
    pub rogue_client: Identity,
    pub encrypted_keys: Vec<EncryptedKey>,
}

/// PBES1 and PKCS#12 schemes (need OpenSSL 3's legacy provider). MD2 ones are gone from
/// OpenSSL 3 entirely.
const V1_SCHEMES: &[(&str, KeyFamily)] = &[
    ("PBE-MD5-DES", KeyFamily::Pbes1),
    ("PBE-SHA1-DES", KeyFamily::Pbes1),
    ("PBE-MD5-RC2-64", KeyFamily::Pbes1),
    ("PBE-SHA1-RC2-64", KeyFamily::Pbes1),
    ("PBE-SHA1-RC4-128", KeyFamily::Pkcs12),
    ("PBE-SHA1-RC4-40", KeyFamily::Pkcs12),
    ("PBE-SHA1-3DES", KeyFamily::Pkcs12),
    ("PBE-SHA1-2DES", KeyFamily::Pkcs12),
    ("PBE-SHA1-RC2-128", KeyFamily::Pkcs12),
    ("PBE-SHA1-RC2-40", KeyFamily::Pkcs12),
];

const V2_CIPHERS: &[&str] = &["aes-128-cbc", "aes-192-cbc", "aes-256-cbc", "des-ede3-cbc"];
const V2_PRFS: &[&str] = &["hmacWithSHA1", "hmacWithSHA256"];

fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .context("running openssl (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "openssl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl Pki {
    /// The password of every encrypted key.
    pub const PASSWORD: &'static str = "rig-key-password";

    /// One set per test process, made on first use.
    pub fn shared() -> Result<&'static Pki> {
        static SHARED: OnceLock<std::result::Result<(Pki, TempDir), String>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let dir = tempfile::Builder::new()
                    .prefix("kafka-esm-pki-")
                    .tempdir()
                    .map_err(|e| e.to_string())?;
                let pki = Pki::generate(dir.path()).map_err(|e| format!("{e:#}"))?;
                Ok((pki, dir))
            })
            .as_ref()
            .map(|(pki, _)| pki)
            .map_err(|e| anyhow::anyhow!("generating the rig's certificates: {e}"))
    }

    pub fn generate(dir: &Path) -> Result<Pki> {
        let id = |name: &str| Identity {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
        };
        std::fs::write(
            dir.join("ext.cnf"),
            "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
             [server]\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n\
             subjectAltName=DNS:localhost,IP:127.0.0.1\n\
             [elsewhere]\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n\
             subjectAltName=DNS:broker.elsewhere.invalid\n\
             [client]\nbasicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
        )?;
        let rsa = |name: &str| -> Result<()> {
            openssl(
                dir,
                &[
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                    "-out",
                    &format!("{name}.key"),
                ],
            )
        };
        let ec = |name: &str, curve: &str| -> Result<()> {
            openssl(
                dir,
                &[
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    &format!("ec_paramgen_curve:{curve}"),
                    "-out",
                    &format!("{name}.key"),
                ],
            )
        };
        let self_signed = |name: &str, cn: &str| -> Result<()> {
            openssl(
                dir,
                &[
                    "req",
                    "-x509",
                    "-new",
                    "-key",
                    &format!("{name}.key"),
                    "-subj",
                    &format!("/CN={cn}"),
                    "-days",
                    "3650",
                    "-sha256",
                    "-out",
                    &format!("{name}.crt"),
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                ],
            )
        };
        let signed = |name: &str, cn: &str, issuer: &str, ext: &str| -> Result<()> {
            openssl(
                dir,
                &[
                    "req",
                    "-new",
                    "-key",
                    &format!("{name}.key"),
                    "-subj",
                    &format!("/CN={cn}"),
                    "-out",
                    &format!("{name}.csr"),
                ],
            )?;
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{name}.csr"),
                    "-CA",
                    &format!("{issuer}.crt"),
                    "-CAkey",
                    &format!("{issuer}.key"),
                    "-CAcreateserial",
                    "-days",
                    "3650",
                    "-sha256",
                    "-extfile",
                    "ext.cnf",
                    "-extensions",
                    ext,
                    "-out",
                    &format!("{name}.crt"),
                ],
            )
        };

        rsa("ca")?;
        self_signed("ca", "kafka-esm rig root CA")?;
        rsa("intermediate")?;
        signed("intermediate", "kafka-esm rig intermediate CA", "ca", "ca")?;
        rsa("server")?;
        signed("server", "localhost", "ca", "server")?;
        rsa("server-elsewhere")?;
        signed(
            "server-elsewhere",
            "broker.elsewhere.invalid",
            "ca",
            "elsewhere",
        )?;
        rsa("client")?;
        signed("client", "kafka-esm-client", "intermediate", "client")?;
        ec("client-ec256", "P-256")?;
        signed(
            "client-ec256",
            "kafka-esm-client-ec256",
            "intermediate",
            "client",
        )?;
        ec("client-ec384", "P-384")?;
        signed(
            "client-ec384",
            "kafka-esm-client-ec384",
            "intermediate",
            "client",
        )?;
        rsa("rogue-ca")?;
        self_signed("rogue-ca", "rogue CA")?;
        rsa("rogue-client")?;
        signed("rogue-client", "kafka-esm-client", "rogue-ca", "client")?;

        let mut chain = std::fs::read_to_string(dir.join("client.crt"))?;
        chain.push_str(&std::fs::read_to_string(dir.join("intermediate.crt"))?);
        chain.push_str(&std::fs::read_to_string(dir.join("ca.crt"))?);
        let client_chain = dir.join("client-chain.pem");
        std::fs::write(&client_chain, chain)?;

        let pass = format!("pass:{}", Self::PASSWORD);
        let mut encrypted_keys = Vec::new();
        for (scheme, family) in V1_SCHEMES {
            let out = format!("client.{scheme}.p8");
            openssl(
                dir,
                &[
                    "pkcs8",
                    "-topk8",
                    "-in",
                    "client.key",
                    "-out",
                    &out,
                    "-passout",
                    &pass,
                    "-v1",
                    scheme,
                    "-provider",
                    "legacy",
                    "-provider",
                    "default",
                ],
            )?;
            encrypted_keys.push(EncryptedKey {
                scheme: scheme.to_string(),
                family: *family,
                path: dir.join(out),
            });
        }
        for cipher in V2_CIPHERS {
            for prf in V2_PRFS {
                let out = format!("client.{cipher}.{prf}.p8");
                openssl(
                    dir,
                    &[
                        "pkcs8",
                        "-topk8",
                        "-in",
                        "client.key",
                        "-out",
                        &out,
                        "-passout",
                        &pass,
                        "-v2",
                        cipher,
                        "-v2prf",
                        prf,
                    ],
                )?;
                encrypted_keys.push(EncryptedKey {
                    scheme: format!("{cipher}/{prf}"),
                    family: KeyFamily::Pbes2,
                    path: dir.join(out),
                });
            }
        }
        openssl(
            dir,
            &[
                "pkcs8",
                "-topk8",
                "-in",
                "client.key",
                "-out",
                "client.scrypt.p8",
                "-passout",
                &pass,
                "-scrypt",
            ],
        )?;
        encrypted_keys.push(EncryptedKey {
            scheme: "scrypt/aes-256-cbc".into(),
            family: KeyFamily::Pbes2,
            path: dir.join("client.scrypt.p8"),
        });
        for cipher in ["aes256", "des3"] {
            let out = format!("client.traditional-{cipher}.pem");
            openssl(
                dir,
                &[
                    "rsa",
                    "-in",
                    "client.key",
                    &format!("-{cipher}"),
                    "-traditional",
                    "-passout",
                    &pass,
                    "-out",
                    &out,
                ],
            )?;
            encrypted_keys.push(EncryptedKey {
                scheme: format!("traditional/{cipher}"),
                family: KeyFamily::Traditional,
                path: dir.join(out),
            });
        }

        Ok(Pki {
            dir: dir.to_path_buf(),
            ca: id("ca"),
            intermediate: id("intermediate"),
            server: id("server"),
            server_elsewhere: id("server-elsewhere"),
            client: id("client"),
            client_chain,
            client_ec256: id("client-ec256"),
            client_ec384: id("client-ec384"),
            rogue_ca: id("rogue-ca"),
            rogue_client: id("rogue-client"),
            encrypted_keys,
        })
    }
}
