//! `SourceAccessConfigurations`: which SASL or mTLS credentials, and which root CA.
//!
//! At most one authentication type (`BASIC_AUTH`, `SASL_SCRAM_256_AUTH`,
//! `SASL_SCRAM_512_AUTH`, `CLIENT_CERTIFICATE_TLS_AUTH`) and at most one
//! `SERVER_ROOT_CA_CERTIFICATE`; the VPC types are accepted and ignored with a warning
//! (kafka-esm uses the host's network). This file reads the list; it never fetches a
//! secret and never opens a connection.

use super::json::{Report, array, check_keys, get, index, join, object, string};
use super::mapping::{Authentication, ConfigWarning, SecretSource};
use super::secret_uri::parse_secret_uri;
use crate::config::error::Problem;
use serde_json::Value;

const TYPES: &str = "BASIC_AUTH, SASL_SCRAM_256_AUTH, SASL_SCRAM_512_AUTH, \
     CLIENT_CERTIFICATE_TLS_AUTH, SERVER_ROOT_CA_CERTIFICATE, VPC_SUBNET, VPC_SECURITY_GROUP";

/// The credentials part of the mapping.
#[derive(Debug, Default, PartialEq)]
pub struct Access {
    pub authentication: Option<Authentication>,
    pub server_root_ca: Option<SecretSource>,
}

/// Reads `SourceAccessConfigurations` (`field` is its name).
pub fn source_access(r: &mut Report, field: &str, v: &Value) -> Access {
    let mut access = Access::default();
    let Some(items) = array(r, field, v) else {
        return access;
    };
    let mut auth_types: Vec<&str> = Vec::new();
    let mut root_cas = 0;
    for (i, item) in items.iter().enumerate() {
        let at = index(field, i);
        let Some(map) = object(r, &at, item) else {
            continue;
        };
        check_keys(r, &at, map, &["Type", "URI"]);
        let kind = match get(map, "Type") {
            Some(t) => string(r, &join(&at, "Type"), t),
            None => {
                r.error(join(&at, "Type"), Problem::Missing);
                None
            }
        };
        let uri_field = join(&at, "URI");
        let uri = match get(map, "URI") {
            Some(u) => string(r, &uri_field, u),
            None => {
                r.error(&uri_field, Problem::Missing);
                None
            }
        };
        let Some(kind) = kind else { continue };
        let secret = |r: &mut Report| {
            let uri = uri?;
            parse_secret_uri(uri)
                .map_err(|e| r.invalid(&uri_field, e))
                .ok()
        };
        let auth: fn(SecretSource) -> Authentication = match kind {
            "BASIC_AUTH" => Authentication::SaslPlain,
            "SASL_SCRAM_256_AUTH" => Authentication::SaslScram256,
            "SASL_SCRAM_512_AUTH" => Authentication::SaslScram512,
            "CLIENT_CERTIFICATE_TLS_AUTH" => Authentication::ClientCertificateTls,
            "SERVER_ROOT_CA_CERTIFICATE" => {
                root_cas += 1;
                if root_cas > 1 {
                    r.invalid(&at, "only one SERVER_ROOT_CA_CERTIFICATE is allowed");
                }
                if let Some(s) = secret(r) {
                    access.server_root_ca.get_or_insert(s);
                }
                continue;
            }
            "VPC_SUBNET" | "VPC_SECURITY_GROUP" => {
                r.warn(ConfigWarning::Ignored {
                    field: at,
                    why: "VPC settings place AWS's pollers in a VPC; kafka-esm uses the \
                          network of the host it runs on",
                });
                continue;
            }
            "VIRTUAL_HOST" => {
                r.error(
                    join(&at, "Type"),
                    Problem::NotApplicable {
                        used_for: "Amazon MQ for RabbitMQ",
                    },
                );
                continue;
            }
            other => {
                r.invalid(
                    join(&at, "Type"),
                    format!(
                        "\"{other}\" is not an access configuration type; must be one of {TYPES}"
                    ),
                );
                continue;
            }
        };
        auth_types.push(kind);
        if let Some(s) = secret(r) {
            access.authentication.get_or_insert(auth(s));
        }
    }
    if auth_types.len() > 1 {
        r.invalid(
            field,
            format!(
                "at most one authentication type (BASIC_AUTH, SASL_SCRAM_256_AUTH, \
                 SASL_SCRAM_512_AUTH, CLIENT_CERTIFICATE_TLS_AUTH) is allowed, got {}",
                auth_types.join(" and ")
            ),
        );
    }
    access
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: Value) -> (Access, Report) {
        let mut r = Report::default();
        let a = source_access(&mut r, "SourceAccessConfigurations", &v);
        (a, r)
    }

    fn messages(r: &Report) -> Vec<String> {
        r.errors.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn each_auth_type_with_a_root_ca() {
        let arn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:s";
        for (ty, expect) in [
            ("BASIC_AUTH", Authentication::SaslPlain as fn(_) -> _),
            ("SASL_SCRAM_256_AUTH", Authentication::SaslScram256),
            ("SASL_SCRAM_512_AUTH", Authentication::SaslScram512),
            (
                "CLIENT_CERTIFICATE_TLS_AUTH",
                Authentication::ClientCertificateTls,
            ),
        ] {
            let (a, r) = read(json!([
                {"Type": ty, "URI": arn},
                {"Type": "SERVER_ROOT_CA_CERTIFICATE", "URI": "file://ca.json"}
            ]));
            assert!(r.errors.is_empty(), "{ty}: {:?}", r.errors);
            assert_eq!(
                a.authentication,
                Some(expect(SecretSource::SecretsManager {
                    arn: arn.into(),
                    region: "us-east-1".into()
                }))
            );
            assert_eq!(a.server_root_ca, Some(SecretSource::File("ca.json".into())));
        }
    }

    #[test]
    fn vpc_types_are_accepted_with_a_warning() {
        let (a, r) = read(json!([
            {"Type": "VPC_SUBNET", "URI": "subnet:subnet-0123"},
            {"Type": "VPC_SECURITY_GROUP", "URI": "security_group:sg-0123"}
        ]));
        assert!(r.errors.is_empty());
        assert_eq!(a, Access::default());
        assert_eq!(r.warnings.len(), 2);
        assert!(
            r.warnings[0]
                .to_string()
                .starts_with("SourceAccessConfigurations[0]: accepted and ignored")
        );
    }

    #[test]
    fn two_auth_types_are_refused() {
        let (_, r) = read(json!([
            {"Type": "BASIC_AUTH", "URI": "env://A"},
            {"Type": "SASL_SCRAM_512_AUTH", "URI": "env://B"}
        ]));
        assert_eq!(
            messages(&r),
            [
                "SourceAccessConfigurations: at most one authentication type (BASIC_AUTH, \
              SASL_SCRAM_256_AUTH, SASL_SCRAM_512_AUTH, CLIENT_CERTIFICATE_TLS_AUTH) is \
              allowed, got BASIC_AUTH and SASL_SCRAM_512_AUTH"
            ]
        );
    }

    #[test]
    fn every_bad_entry_is_reported() {
        let (_, r) = read(json!([
            {"Type": "SASL_SCRAM_256_AUTH", "URI": "MySecret"},
            {"Type": "KERBEROS", "URI": "x"},
            {"Type": "VIRTUAL_HOST", "URI": "/"},
            {"URI": "env://X"},
            {"Type": "SERVER_ROOT_CA_CERTIFICATE"},
            {"Type": "VPC_SUBNET", "URI": "subnet:subnet-1", "Uri": "x"},
            {"Type": "SERVER_ROOT_CA_CERTIFICATE", "URI": "env://CA2"},
            "BASIC_AUTH"
        ]));
        let m = messages(&r);
        let expected_starts = [
            "SourceAccessConfigurations[0].URI: must be a Secrets Manager secret ARN",
            "SourceAccessConfigurations[1].Type: \"KERBEROS\" is not an access configuration type",
            "SourceAccessConfigurations[2].Type: does not apply to self-managed Kafka (it is for Amazon MQ for RabbitMQ)",
            "SourceAccessConfigurations[3].Type: is required",
            "SourceAccessConfigurations[4].URI: is required",
            "SourceAccessConfigurations[5].Uri: unknown key; did you mean URI?",
            "SourceAccessConfigurations[6]: only one SERVER_ROOT_CA_CERTIFICATE is allowed",
            "SourceAccessConfigurations[7]: must be an object, got a string",
        ];
        assert_eq!(m.len(), expected_starts.len(), "{m:#?}");
        for (got, want) in m.iter().zip(expected_starts) {
            assert!(got.starts_with(want), "{got}\n  should start with\n{want}");
        }
        let (_, r) = read(json!({"Type": "BASIC_AUTH"}));
        assert_eq!(
            messages(&r),
            ["SourceAccessConfigurations: must be a list, got an object"]
        );
    }
}
