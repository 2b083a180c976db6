//! AWS Signature Version 4 verification for `serve`'s API: the signature a request
//! carries is recomputed with `aws-sigv4` (AWS's own signer, as the SDKs use it) from the
//! headers the client says it signed, the body and the secret of its access key, and
//! compared in constant time. Nothing of the request is acted on before this passes.
//!
//! Answers as AWS's front end: no `Authorization` → `MissingAuthenticationTokenException`;
//! a malformed one → `IncompleteSignatureException`; an unknown key →
//! `UnrecognizedClientException`; a wrong signature, a scope for another region or
//! service, or a time more than 15 minutes off → `InvalidSignatureException`; all 403.
//! Secrets are never logged (this type's `Debug` shows key ids only).

use super::error::ApiError;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use axum::http::request::Parts;
use serde::Deserialize;
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use zeroize::Zeroizing;

/// How far a request's time may be from ours, as AWS allows.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// Why API credentials could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    #[error("--api-credentials {0}: only file://PATH is supported")]
    Scheme(String),
    #[error("--api-credentials {path}: {message}")]
    File { path: String, message: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct CredentialsFile {
    credentials: Vec<KeyPair>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct KeyPair {
    access_key_id: String,
    /// Moved (not copied) into a [`Zeroizing`] once read.
    secret_access_key: String,
}

/// The keys allowed to call the API, and the region their signatures are scoped to.
pub struct Verifier {
    keys: HashMap<String, Zeroizing<String>>,
    region: String,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("access_key_ids", &self.keys.keys().collect::<Vec<_>>())
            .field("region", &self.region)
            .finish()
    }
}

impl Verifier {
    /// Keys from `file://PATH`: `{"Credentials": [{"AccessKeyId": "...",
    /// "SecretAccessKey": "..."}]}`.
    pub fn from_uri(uri: &str, region: &str) -> Result<Verifier, CredentialsError> {
        let Some(path) = uri.strip_prefix("file://") else {
            return Err(CredentialsError::Scheme(uri.to_string()));
        };
        let err = |message: String| CredentialsError::File {
            path: path.to_string(),
            message,
        };
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?);
        // serde_json's errors quote no input beyond a position: no secret in the message.
        let file: CredentialsFile = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        if file.credentials.is_empty() {
            return Err(err("no credentials: give at least one key".into()));
        }
        let keys = file
            .credentials
            .into_iter()
            .map(|k| (k.access_key_id, Zeroizing::new(k.secret_access_key)))
            .collect();
        Ok(Verifier::new(keys, region))
    }

    pub fn new(keys: HashMap<String, Zeroizing<String>>, region: &str) -> Verifier {
        Verifier {
            keys,
            region: region.to_string(),
        }
    }

    /// Checks the request's signature (headers in `parts`, the whole `body`) at `now`.
    pub fn verify(&self, parts: &Parts, body: &[u8], now: SystemTime) -> Result<(), ApiError> {
        let incomplete = |why: &str| ApiError::signature("IncompleteSignatureException", why);
        let invalid = |why: &str| ApiError::signature("InvalidSignatureException", why);
        let Some(authorization) = parts.headers.get("authorization") else {
            return Err(ApiError::signature(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token: requests must be signed with AWS Signature Version 4",
            ));
        };
        let authorization = authorization
            .to_str()
            .map_err(|_| incomplete("the Authorization header is not ASCII"))?;
        let auth = parse_authorization(authorization).map_err(|why| incomplete(&why))?;
        let Some(secret) = self.keys.get(auth.access_key_id) else {
            return Err(ApiError::signature(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ));
        };
        if auth.service != "lambda" || auth.region != self.region {
            return Err(invalid(&format!(
                "Credential should be scoped to region '{}' and service 'lambda', not '{}' and '{}'",
                self.region, auth.region, auth.service
            )));
        }
        let date = parts
            .headers
            .get("x-amz-date")
            .and_then(|d| d.to_str().ok())
            .ok_or_else(|| incomplete("the x-amz-date header is missing"))?;
        let time =
            parse_amz_date(date).ok_or_else(|| incomplete("x-amz-date is not YYYYMMDDTHHMMSSZ"))?;
        if !date.starts_with(auth.date) {
            return Err(invalid("the credential scope's date is not the request's"));
        }
        let skew = now
            .duration_since(time)
            .or_else(|_| time.duration_since(now))
            .unwrap_or_default();
        if skew > MAX_SKEW {
            return Err(invalid(&format!(
                "Signature expired: {date} is more than 15 minutes from the server's time"
            )));
        }
        let mut headers = Vec::new();
        for name in auth.signed_headers.split(';') {
            if name == "x-amz-date" {
                continue;
            }
            let value = parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| incomplete(&format!("signed header {name} is missing")))?;
            headers.push((name, value));
        }
        if !auth.signed_headers.split(';').any(|h| h == "host")
            || !auth.signed_headers.split(';').any(|h| h == "x-amz-date")
        {
            return Err(incomplete("SignedHeaders must include host and x-amz-date"));
        }
        let uri = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let request = SignableRequest::new(
            parts.method.as_str(),
            uri,
            headers.into_iter(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| incomplete(&format!("the request can't be signed: {e}")))?;
        let identity = Credentials::new(
            auth.access_key_id,
            secret.as_str(),
            None,
            None,
            "kafka-esm-api",
        )
        .into();
        let mut settings = SigningSettings::default();
        // Sign exactly what the client signed.
        settings.excluded_headers = None;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(auth.region)
            .name("lambda")
            .time(time)
            .settings(settings)
            .build()
            .map_err(|e| incomplete(&e.to_string()))?;
        let expected = sign(request, &params.into())
            .map_err(|e| incomplete(&format!("the request can't be signed: {e}")))?;
        if !constant_time_eq(expected.signature().as_bytes(), auth.signature.as_bytes()) {
            return Err(invalid(
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method.",
            ));
        }
        Ok(())
    }
}

/// The parts of `AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request,
/// SignedHeaders=a;b, Signature=HEX`.
#[derive(Debug, PartialEq)]
struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_authorization(header: &str) -> Result<Authorization<'_>, String> {
    let rest = header
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("the Authorization header must be AWS4-HMAC-SHA256")?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or("malformed Authorization header")?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let credential = credential.ok_or("Authorization header requires 'Credential' parameter")?;
    let signed_headers = signed.ok_or("Authorization header requires 'SignedHeaders' parameter")?;
    let signature = signature.ok_or("Authorization header requires 'Signature' parameter")?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, "aws4_request"] = scope[..] else {
        return Err("Credential must be KEY/DATE/REGION/SERVICE/aws4_request".into());
    };
    Ok(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers,
        signature,
    })
}

/// `YYYYMMDDTHHMMSSZ` as a time.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    u64::try_from(secs)
        .ok()
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
}

/// Equal, in a time that depends on the lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
