//! `SourceAccessConfigurations[].URI` of the secret-bearing types: where the JSON lives.
//!
//! AWS takes a Secrets Manager ARN. kafka-esm also takes, for use without AWS,
//! `file://PATH` (a file holding the same JSON; a relative path is relative to the
//! working directory) and `env://VAR` (an environment variable holding it). This file
//! parses the URI only: it never reads the secret.

use super::mapping::SecretSource;
use super::names::{is_account_id, is_region, split_arn};

/// Parses a secret URI.
pub fn parse_secret_uri(s: &str) -> Result<SecretSource, String> {
    if let Some(path) = s.strip_prefix("file://") {
        if path.is_empty() {
            return Err("file:// needs a path, as file://./secret.json".into());
        }
        return Ok(SecretSource::File(path.into()));
    }
    if let Some(var) = s.strip_prefix("env://") {
        let mut chars = var.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "env://{var}: \"{var}\" is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)"
            ));
        }
        return Ok(SecretSource::Env(var.to_owned()));
    }
    let expected = "must be a Secrets Manager secret ARN \
         (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME), file://PATH or env://VAR";
    let Some(arn) = split_arn(s) else {
        return Err(format!("{expected}, got \"{s}\""));
    };
    let name = arn.resource.strip_prefix("secret:").unwrap_or_default();
    if arn.service != "secretsmanager"
        || !is_region(arn.region)
        || !is_account_id(arn.account)
        || name.is_empty()
    {
        return Err(format!("{expected}, got \"{s}\""));
    }
    Ok(SecretSource::SecretsManager {
        arn: s.to_owned(),
        region: arn.region.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_uris() {
        assert_eq!(
            parse_secret_uri(
                "arn:aws:secretsmanager:us-east-1:111122223333:secret:MyBrokerSecretName"
            ),
            Ok(SecretSource::SecretsManager {
                arn: "arn:aws:secretsmanager:us-east-1:111122223333:secret:MyBrokerSecretName"
                    .into(),
                region: "us-east-1".into()
            })
        );
        assert_eq!(
            parse_secret_uri("file://./secret.json"),
            Ok(SecretSource::File("./secret.json".into()))
        );
        assert_eq!(
            parse_secret_uri("file:///etc/kafka/sasl.json"),
            Ok(SecretSource::File("/etc/kafka/sasl.json".into()))
        );
        assert_eq!(
            parse_secret_uri("env://KAFKA_SASL"),
            Ok(SecretSource::Env("KAFKA_SASL".into()))
        );
        for bad in [
            "",
            "file://",
            "env://",
            "env://1X",
            "env://A-B",
            "MyBrokerSecretName",
            "arn:aws:ssm:us-east-1:111122223333:parameter/x",
            "arn:aws:secretsmanager:us-east-1:111122223333:secret:",
            "arn:aws:secretsmanager:us-east-1:1:secret:x",
        ] {
            assert!(parse_secret_uri(bad).is_err(), "{bad}");
        }
    }
}
