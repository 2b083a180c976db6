//! The `KafkaEsm` section: kafka-esm's own settings, kept apart from the AWS shape.
//!
//! Only what AWS has no parameter for: a mapping UUID to reuse, a local function command,
//! its timeout, its concurrency, its environment and its Invoke API address, the Lambda endpoint and
//! region, the metrics address, and the loudly named opt-in for SASL over plaintext. The AWS CLI would refuse this section: keep it out of
//! files shared with AWS, or give these settings as flags. This file reads the section;
//! deriving the security protocol from it is the resolver's job.

use super::error::Problem;
use super::json::{Report, boolean, check_keys, get, integer, join, object, string};
use super::keys::ESM_SECTION;
use super::mapping::EsmOptions;
use super::names::is_region;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

/// The longest function timeout a mapping accepts: 14 minutes.
pub const MAX_FUNCTION_TIMEOUT_SECONDS: i64 = 14 * 60;

/// The most processes a local function may run at once (Lambda's default account
/// concurrency).
pub const MAX_FUNCTION_CONCURRENCY: i64 = 1000;

/// The keys of the section.
pub const KEYS: &[&str] = &[
    "Uuid",
    "FunctionCommand",
    "FunctionTimeout",
    "FunctionConcurrency",
    "FunctionEnvironment",
    "InvokeAddress",
    "LambdaEndpointUrl",
    "Region",
    "MetricsAddress",
    "ScalingInterval",
    "SessionTimeout",
    "MaxBufferedBytes",
    "AllowInsecureSaslOverPlaintext",
];

/// The largest `MaxBufferedBytes`: 1 TiB.
pub const MAX_BUFFERED_BYTES: i64 = 1 << 40;

/// Reads the section (absent: defaults). Returns the options and the configured UUID.
pub fn esm_options(r: &mut Report, v: Option<&Value>) -> (EsmOptions, Option<Uuid>) {
    let mut o = EsmOptions::default();
    let Some(map) = v.and_then(|v| object(r, ESM_SECTION, v)) else {
        return (o, None);
    };
    let f = |k: &str| join(ESM_SECTION, k);
    check_keys(r, ESM_SECTION, map, KEYS);

    let uuid = get(map, "Uuid").and_then(|v| {
        let s = string(r, &f("Uuid"), v)?;
        Uuid::parse_str(s)
            .map_err(|_| {
                r.invalid(
                    f("Uuid"),
                    format!(
                        "must be a UUID such as f89f8514-cdd9-4602-9e1f-01a5b77d449b, got \"{s}\""
                    ),
                )
            })
            .ok()
    });
    if let Some(v) = get(map, "FunctionCommand") {
        match string(r, &f("FunctionCommand"), v) {
            Some(s) if s.trim().is_empty() => r.invalid(f("FunctionCommand"), "must not be empty"),
            Some(s) => o.function_command = Some(s.to_owned()),
            None => {}
        }
    }
    if let Some(got) =
        get(map, "FunctionTimeout").and_then(|v| integer(r, &f("FunctionTimeout"), v))
    {
        if (1..=MAX_FUNCTION_TIMEOUT_SECONDS).contains(&got) {
            o.function_timeout = Some(Duration::from_secs(got as u64));
        } else {
            r.error(
                f("FunctionTimeout"),
                Problem::FunctionTimeout {
                    max_seconds: MAX_FUNCTION_TIMEOUT_SECONDS,
                    got,
                },
            );
        }
    }
    let local_only = |r: &mut Report, key: &str, o: &EsmOptions| {
        if o.function_command.is_none() {
            r.invalid(
                f(key),
                "applies to a local function only: give FunctionCommand too",
            );
        }
    };
    if let Some(got) =
        get(map, "FunctionConcurrency").and_then(|v| integer(r, &f("FunctionConcurrency"), v))
    {
        if (1..=MAX_FUNCTION_CONCURRENCY).contains(&got) {
            o.function_concurrency = Some(got as u32);
        } else {
            r.invalid(
                f("FunctionConcurrency"),
                format!("must be between 1 and {MAX_FUNCTION_CONCURRENCY} processes, got {got}"),
            );
        }
        local_only(r, "FunctionConcurrency", &o);
    }
    if let Some(v) = get(map, "FunctionEnvironment") {
        o.function_environment = function_environment(r, &f("FunctionEnvironment"), v);
        local_only(r, "FunctionEnvironment", &o);
    }
    if let Some(s) = get(map, "InvokeAddress").and_then(|v| string(r, &f("InvokeAddress"), v)) {
        match s.parse::<std::net::SocketAddr>() {
            Ok(a) if a.ip().is_loopback() => o.invoke_address = Some(a),
            Ok(_) => r.invalid(
                f("InvokeAddress"),
                format!(
                    "must be a loopback address (127.0.0.1:PORT or [::1]:PORT): the Invoke API \
                     does not authenticate requests, got \"{s}\""
                ),
            ),
            Err(_) => r.invalid(
                f("InvokeAddress"),
                format!("must be IP:PORT such as 127.0.0.1:9001, got \"{s}\""),
            ),
        }
        local_only(r, "InvokeAddress", &o);
    }
    if let Some(v) = get(map, "LambdaEndpointUrl") {
        if let Some(s) = string(r, &f("LambdaEndpointUrl"), v) {
            let rest = s
                .strip_prefix("http://")
                .or_else(|| s.strip_prefix("https://"));
            match rest {
                Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
                    o.lambda_endpoint_url = Some(s.to_owned())
                }
                _ => r.invalid(
                    f("LambdaEndpointUrl"),
                    format!("must be an http:// or https:// URL, got \"{s}\""),
                ),
            }
        }
        if o.function_command.is_some() {
            r.invalid(
                f("LambdaEndpointUrl"),
                "cannot be combined with FunctionCommand: a local function is not invoked through a Lambda endpoint",
            );
        }
    }
    if let Some(s) = get(map, "Region").and_then(|v| string(r, &f("Region"), v)) {
        if is_region(s) {
            o.region = Some(s.to_owned());
        } else {
            r.invalid(
                f("Region"),
                format!("must be an AWS region such as us-east-1, got \"{s}\""),
            );
        }
    }
    if let Some(s) = get(map, "MetricsAddress").and_then(|v| string(r, &f("MetricsAddress"), v)) {
        match s.parse() {
            Ok(a) => o.metrics_address = Some(a),
            Err(_) => r.invalid(
                f("MetricsAddress"),
                format!("must be IP:PORT such as 127.0.0.1:9100 or [::]:9100, got \"{s}\""),
            ),
        }
    }
    for (key, range, slot) in [
        ("ScalingInterval", 1..=3600, &mut o.scaling_interval),
        ("SessionTimeout", 6..=1800, &mut o.session_timeout),
    ] {
        if let Some(got) = get(map, key).and_then(|v| integer(r, &f(key), v)) {
            if range.contains(&got) {
                *slot = Some(Duration::from_secs(got as u64));
            } else {
                r.invalid(
                    f(key),
                    format!(
                        "must be whole seconds from {} to {}, got {got}",
                        range.start(),
                        range.end()
                    ),
                );
            }
        }
    }
    if let Some(got) =
        get(map, "MaxBufferedBytes").and_then(|v| integer(r, &f("MaxBufferedBytes"), v))
    {
        if (0..=MAX_BUFFERED_BYTES).contains(&got) {
            o.max_buffered_bytes = Some(got as usize);
        } else {
            r.invalid(
                f("MaxBufferedBytes"),
                format!("must be a number of bytes from 0 to {MAX_BUFFERED_BYTES}, got {got}"),
            );
        }
    }
    if let Some(v) = get(map, "AllowInsecureSaslOverPlaintext") {
        o.allow_insecure_sasl_over_plaintext =
            boolean(r, &f("AllowInsecureSaslOverPlaintext"), v).unwrap_or(false);
    }
    (o, uuid)
}

/// `FunctionEnvironment`: the local function's own variables, an object of strings as
/// Lambda's `Environment.Variables` (names as Lambda allows them, none it reserves, 4 KB
/// in all). `None` unless every variable is valid.
fn function_environment(
    r: &mut Report,
    field: &str,
    v: &Value,
) -> Option<BTreeMap<String, String>> {
    use crate::invoke::local::{MAX_ENVIRONMENT_BYTES, check_variable};
    let map = object(r, field, v)?;
    let mut variables = BTreeMap::new();
    let mut all_ok = true;
    for (name, value) in map {
        let at = join(field, name);
        let Some(value) = string(r, &at, value) else {
            all_ok = false;
            continue;
        };
        match check_variable(name, value) {
            Ok(()) => {
                variables.insert(name.clone(), value.to_owned());
            }
            Err(why) => {
                r.invalid(at, why);
                all_ok = false;
            }
        }
    }
    let size: usize = variables.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_ENVIRONMENT_BYTES {
        r.invalid(
            field,
            format!(
                "must hold at most {MAX_ENVIRONMENT_BYTES} bytes of names and values, got {size}"
            ),
        );
        all_ok = false;
    }
    all_ok.then_some(variables)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::error::FUNCTION_CONFIG_NOT_VALID;
    use serde_json::json;

    fn read(v: Value) -> (EsmOptions, Option<Uuid>, Vec<String>) {
        let mut r = Report::default();
        let (o, u) = esm_options(&mut r, Some(&v));
        (o, u, r.errors.iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn every_setting_read() {
        let (o, u, e) = read(json!({
            "Uuid": "f89f8514-cdd9-4602-9e1f-01a5b77d449b",
            "FunctionCommand": "./bootstrap",
            "FunctionTimeout": 840,
            "FunctionConcurrency": 4,
            "FunctionEnvironment": {"DB_URL": "postgres://db", "PATH": "/opt/bin:/bin"},
            "InvokeAddress": "127.0.0.1:9001",
            "Region": "eu-west-1",
            "MetricsAddress": "127.0.0.1:9100",
            "ScalingInterval": 1,
            "SessionTimeout": 6,
            "MaxBufferedBytes": 1048576,
            "AllowInsecureSaslOverPlaintext": true
        }));
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(
            u.unwrap().to_string(),
            "f89f8514-cdd9-4602-9e1f-01a5b77d449b"
        );
        assert_eq!(
            o,
            EsmOptions {
                function_command: Some("./bootstrap".into()),
                function_timeout: Some(Duration::from_secs(840)),
                function_concurrency: Some(4),
                function_environment: Some(BTreeMap::from([
                    ("DB_URL".into(), "postgres://db".into()),
                    ("PATH".into(), "/opt/bin:/bin".into()),
                ])),
                invoke_address: Some("127.0.0.1:9001".parse().unwrap()),
                lambda_endpoint_url: None,
                region: Some("eu-west-1".into()),
                metrics_address: Some("127.0.0.1:9100".parse().unwrap()),
                scaling_interval: Some(Duration::from_secs(1)),
                session_timeout: Some(Duration::from_secs(6)),
                max_buffered_bytes: Some(1 << 20),
                allow_insecure_sasl_over_plaintext: true,
            }
        );
        let (o, _, e) = read(json!({"LambdaEndpointUrl": "http://127.0.0.1:9001"}));
        assert!(e.is_empty());
        assert_eq!(
            o.lambda_endpoint_url.as_deref(),
            Some("http://127.0.0.1:9001")
        );
        let mut r = Report::default();
        assert_eq!(esm_options(&mut r, None), (EsmOptions::default(), None));
    }

    #[test]
    fn a_timeout_beyond_14_minutes_is_a_function_config_problem() {
        let mut r = Report::default();
        esm_options(&mut r, Some(&json!({"FunctionTimeout": 841})));
        assert_eq!(r.errors.len(), 1);
        assert_eq!(r.errors[0].problem.reason(), FUNCTION_CONFIG_NOT_VALID);
        assert_eq!(
            r.errors[0].to_string(),
            "KafkaEsm.FunctionTimeout: must be between 1 and 840 seconds (an event source mapping \
             needs a function timeout of at most 14 minutes), got 841"
        );
        esm_options(&mut r, Some(&json!({"FunctionTimeout": 0})));
        assert_eq!(r.errors[1].problem.reason(), FUNCTION_CONFIG_NOT_VALID);
    }

    #[test]
    fn every_bad_setting_reported() {
        let (_, _, e) = read(json!({
            "Uuid": "nope",
            "FunctionCommand": " ",
            "FunctionTimeout": "60",
            "LambdaEndpointUrl": "localhost:9001",
            "Region": "Mars",
            "MetricsAddress": "localhost:9100",
            "ScalingInterval": 0,
            "SessionTimeout": 5,
            "MaxBufferedBytes": -1,
            "AllowInsecureSaslOverPlaintext": "yes",
            "Extra": 1
        }));
        assert_eq!(
            e,
            [
                "KafkaEsm.Extra: unknown key",
                "KafkaEsm.Uuid: must be a UUID such as f89f8514-cdd9-4602-9e1f-01a5b77d449b, got \"nope\"",
                "KafkaEsm.FunctionCommand: must not be empty",
                "KafkaEsm.FunctionTimeout: must be an integer, got a string",
                "KafkaEsm.LambdaEndpointUrl: must be an http:// or https:// URL, got \"localhost:9001\"",
                "KafkaEsm.Region: must be an AWS region such as us-east-1, got \"Mars\"",
                "KafkaEsm.MetricsAddress: must be IP:PORT such as 127.0.0.1:9100 or [::]:9100, got \"localhost:9100\"",
                "KafkaEsm.ScalingInterval: must be whole seconds from 1 to 3600, got 0",
                "KafkaEsm.SessionTimeout: must be whole seconds from 6 to 1800, got 5",
                "KafkaEsm.MaxBufferedBytes: must be a number of bytes from 0 to 1099511627776, got -1",
                "KafkaEsm.AllowInsecureSaslOverPlaintext: must be true or false, got a string",
            ]
        );
        let (_, _, e) = read(json!({"FunctionCommand": "./f", "LambdaEndpointUrl": "http://x"}));
        assert_eq!(
            e,
            [
                "KafkaEsm.LambdaEndpointUrl: cannot be combined with FunctionCommand: a local function \
              is not invoked through a Lambda endpoint"
            ]
        );
        let (_, _, e) = read(json!([]));
        assert_eq!(e, ["KafkaEsm: must be an object, got a list"]);
    }

    #[test]
    fn function_variables_are_checked_as_lambda_checks_them() {
        let (o, _, e) = read(json!({
            "FunctionCommand": "./f",
            "FunctionEnvironment": {
                "AWS_SECRET_ACCESS_KEY": "x",
                "_HANDLER": "x",
                "9LIVES": "x",
                "A": "x",
                "NUMBER": 1,
                "OK": "fine"
            }
        }));
        assert_eq!(o.function_environment, None);
        assert_eq!(
            e,
            [
                "KafkaEsm.FunctionEnvironment.9LIVES: not a variable name Lambda accepts (a letter, then letters, digits and _)",
                "KafkaEsm.FunctionEnvironment.A: not a variable name Lambda accepts (a letter, then letters, digits and _)",
                "KafkaEsm.FunctionEnvironment.AWS_SECRET_ACCESS_KEY: reserved: Lambda sets it",
                "KafkaEsm.FunctionEnvironment.NUMBER: must be a string, got an integer",
                "KafkaEsm.FunctionEnvironment._HANDLER: reserved: Lambda sets it",
            ]
        );
        let mut r = Report::default();
        esm_options(
            &mut r,
            Some(&json!({"FunctionCommand": "./f", "FunctionEnvironment": {"_X": "x"}})),
        );
        assert_eq!(r.errors[0].problem.reason(), "ESM_CONFIG_NOT_VALID");
        let big = "x".repeat(4090);
        let (_, _, e) = read(json!({
            "FunctionCommand": "./f",
            "FunctionEnvironment": {"BIG": big, "MORE": "yy"}
        }));
        assert_eq!(
            e,
            [
                "KafkaEsm.FunctionEnvironment: must hold at most 4096 bytes of names and values, got 4099"
            ]
        );
        let (_, _, e) = read(json!({"FunctionEnvironment": {}}));
        assert_eq!(
            e,
            [
                "KafkaEsm.FunctionEnvironment: applies to a local function only: give FunctionCommand too"
            ]
        );
    }

    #[test]
    fn local_function_settings_need_a_local_function() {
        let (_, _, e) = read(json!({"FunctionConcurrency": 2, "InvokeAddress": "127.0.0.1:9001"}));
        assert_eq!(
            e,
            [
                "KafkaEsm.FunctionConcurrency: applies to a local function only: give FunctionCommand too",
                "KafkaEsm.InvokeAddress: applies to a local function only: give FunctionCommand too",
            ]
        );
        let (_, _, e) = read(json!({
            "FunctionCommand": "./f",
            "FunctionConcurrency": 0,
            "InvokeAddress": "0.0.0.0:9001"
        }));
        assert_eq!(
            e,
            [
                "KafkaEsm.FunctionConcurrency: must be between 1 and 1000 processes, got 0",
                "KafkaEsm.InvokeAddress: must be a loopback address (127.0.0.1:PORT or [::1]:PORT): \
                 the Invoke API does not authenticate requests, got \"0.0.0.0:9001\"",
            ]
        );
        let (o, _, e) = read(json!({"FunctionCommand": "./f", "InvokeAddress": "[::1]:0"}));
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(o.invoke_address, Some("[::1]:0".parse().unwrap()));
    }
}
