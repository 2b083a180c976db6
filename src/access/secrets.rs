//! Reading a `SourceAccessConfigurations` secret: from AWS Secrets Manager, a local file
//! or an environment variable, always the same JSON in AWS's formats:
//!
//! - SASL (`BASIC_AUTH`, `SASL_SCRAM_*_AUTH`): `{"username": "...", "password": "..."}`
//! - mTLS (`CLIENT_CERTIFICATE_TLS_AUTH`): `{"certificate": "<PEM chain>",
//!   "privateKey": "<PEM>", "privateKeyPassword": "..."}` (the password only for an
//!   encrypted key)
//! - root CA (`SERVER_ROOT_CA_CERTIFICATE`): `{"certificate": "<PEM>"}`
//!
//! Values are held in zeroizing strings and never reach an error, a log line or `Debug`
//! output: errors name the secret and the field, never what it holds. Other keys in the
//! JSON are ignored, as AWS does.

use crate::aws::{AwsOptions, sdk_config};
use crate::config::SecretSource;
use serde_json::Value;
use std::fmt;
use zeroize::Zeroizing;

/// A secret's fields, by name. `Debug` shows the names only.
pub struct Secret {
    source: String,
    fields: Vec<(String, Zeroizing<String>)>,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("source", &self.source)
            .field(
                "fields",
                &self
                    .fields
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Why a secret could not be read. Never holds a secret's value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    #[error("reading the secret {source_name}: {cause}")]
    Unreadable { source_name: String, cause: String },
    #[error(
        "the secret {source_name} is not a JSON object in AWS's format ({cause}); \
         expected e.g. {{\"username\": \"...\", \"password\": \"...\"}}"
    )]
    NotJson { source_name: String, cause: String },
    #[error("the secret {source_name} has no string field \"{field}\"")]
    MissingField {
        source_name: String,
        field: &'static str,
    },
}

impl SecretError {
    /// The documented reason: a secret that can't be used is an authentication failure.
    pub fn reason(&self) -> &'static str {
        "EVENT_SOURCE_AUTHN_ERROR"
    }
}

impl Secret {
    /// Parses `text` (the secret's JSON) read from `source`.
    pub fn parse(source: &str, text: &str) -> Result<Secret, SecretError> {
        let not_json = |cause: String| SecretError::NotJson {
            source_name: source.to_string(),
            cause,
        };
        // serde_json's messages give a line and column, never the text around them.
        let value: Value = serde_json::from_str(text)
            .map_err(|e| not_json(format!("invalid JSON at {}:{}", e.line(), e.column())))?;
        let Value::Object(map) = value else {
            return Err(not_json("not an object".into()));
        };
        let fields = map
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k, Zeroizing::new(s))),
                _ => None,
            })
            .collect();
        Ok(Secret {
            source: source.to_string(),
            fields,
        })
    }

    /// Where the secret came from, for messages.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The string field `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The string field `name`, or an error naming it.
    pub fn require(&self, name: &'static str) -> Result<&str, SecretError> {
        self.get(name).ok_or_else(|| SecretError::MissingField {
            source_name: self.source.clone(),
            field: name,
        })
    }
}

/// How a secret source is named in messages: the ARN, `file://PATH` or `env://VAR`.
pub fn describe(source: &SecretSource) -> String {
    match source {
        SecretSource::SecretsManager { arn, .. } => arn.clone(),
        SecretSource::File(path) => format!("file://{}", path.display()),
        SecretSource::Env(var) => format!("env://{var}"),
    }
}

/// Reads the secret at `source`. `aws` reaches Secrets Manager (its region is the ARN's
/// unless the options set one).
pub async fn read(source: &SecretSource, aws: &AwsOptions) -> Result<Secret, SecretError> {
    let name = describe(source);
    let unreadable = |cause: String| SecretError::Unreadable {
        source_name: name.clone(),
        cause,
    };
    let text = match source {
        SecretSource::File(path) => {
            Zeroizing::new(std::fs::read_to_string(path).map_err(|e| unreadable(e.to_string()))?)
        }
        SecretSource::Env(var) => Zeroizing::new(std::env::var(var).map_err(|e| {
            unreadable(match e {
                std::env::VarError::NotPresent => "the environment variable is not set".into(),
                std::env::VarError::NotUnicode(_) => "the environment variable is not UTF-8".into(),
            })
        })?),
        SecretSource::SecretsManager { arn, region } => {
            let mut opts = aws.clone();
            opts.region.get_or_insert_with(|| region.clone());
            let client = aws_sdk_secretsmanager::Client::new(&sdk_config(&opts).await);
            let out = client
                .get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .map_err(|e| {
                    use aws_sdk_secretsmanager::error::DisplayErrorContext;
                    unreadable(format!("Secrets Manager: {}", DisplayErrorContext(&e)))
                })?;
            Zeroizing::new(out.secret_string().map(str::to_owned).ok_or_else(|| {
                unreadable("it has no SecretString (a binary secret is not supported)".into())
            })?)
        }
    };
    Secret::parse(&name, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_and_debug_shows_names_only() {
        let s = Secret::parse(
            "file://s.json",
            r#"{"username": "alice", "password": "hunter2-secret", "n": 1}"#,
        )
        .unwrap();
        assert_eq!(s.get("username"), Some("alice"));
        assert_eq!(s.require("password").unwrap(), "hunter2-secret");
        let debug = format!("{s:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains("alice"), "{debug}");
        assert!(debug.contains("password"), "{debug}");
    }

    #[test]
    fn errors_name_the_field_never_the_value() {
        let s = Secret::parse("env://X", r#"{"username": "alice"}"#).unwrap();
        let e = s.require("password").unwrap_err().to_string();
        assert!(e.contains("\"password\"") && e.contains("env://X"), "{e}");
        let e = Secret::parse("env://X", r#"{"password": "hunter2-secret""#)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
        let e = Secret::parse("env://X", r#"["hunter2-secret"]"#)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2") && e.contains("not an object"), "{e}");
    }

    #[tokio::test]
    async fn file_and_env_sources_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(&path, r#"{"certificate": "PEM"}"#).unwrap();
        let s = read(&SecretSource::File(path.clone()), &AwsOptions::default())
            .await
            .unwrap();
        assert_eq!(s.get("certificate"), Some("PEM"));
        let missing = read(
            &SecretSource::File(dir.path().join("absent.json")),
            &AwsOptions::default(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(missing, SecretError::Unreadable { .. }),
            "{missing}"
        );
        let unset = read(
            &SecretSource::Env("KAFKA_ESM_TEST_SURELY_UNSET_VAR".into()),
            &AwsOptions::default(),
        )
        .await
        .unwrap_err();
        assert!(unset.to_string().contains("not set"), "{unset}");
    }
}
