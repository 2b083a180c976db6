//! From one JSON document in the AWS shape to a [`Mapping`], or every reason why not.
//!
//! The walk: the top-level key table first (unknown keys, other sources' parameters,
//! AWS-only settings), then each field in the order of SPEC §1, then the rules that
//! span fields (the timestamp and the starting position, the retry cap, the security
//! protocol, the default group id). Every problem is collected; nothing is half-applied.
//! This file must not read files or flags: the flags are merged into the document before.

use super::access::source_access;
use super::error::{ConfigErrors, Problem};
use super::esm::esm_options;
use super::group_id::default_group_id;
use super::json::{
    Report, array, boolean, get, index, integer, integer_in, object, string, unknown_key,
};
use super::keys::{KeyUse, key_use, known_keys};
use super::mapping::{
    Authentication, ConfigWarning, Mapping, RETRY_ATTEMPTS_CAP_WITH_DESTINATION, SecurityProtocol,
    StartingPosition,
};
use super::names::{check_topic, parse_function_name};
use super::sections;
use super::timestamp::parse_timestamp;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::time::Duration;
use uuid::Uuid;

/// AWS's defaults and limits for Kafka.
pub const DEFAULT_BATCH_SIZE: u32 = 100;
pub const MAX_BATCH_SIZE: i64 = 10_000;
pub const DEFAULT_BATCHING_WINDOW: Duration = Duration::from_millis(500);
pub const MAX_BATCHING_WINDOW_SECONDS: i64 = 300;
pub const MAX_RETRY_ATTEMPTS: i64 = 10_000;
pub const MIN_RECORD_AGE_SECONDS: i64 = 60;
pub const MAX_RECORD_AGE_SECONDS: i64 = 604_800;

/// The name of the whole document in messages.
pub const DOCUMENT: &str = "(configuration)";

/// Resolves `doc`. `report` may already hold problems (from reading flags); `broken`
/// names top-level keys whose value could not be read at all, so they are not also
/// reported missing.
pub(super) fn resolve_document(
    doc: &Value,
    mut report: Report,
    broken: &BTreeSet<&'static str>,
) -> Result<Mapping, ConfigErrors> {
    let r = &mut report;
    let Some(top) = object(r, DOCUMENT, doc) else {
        return Err(ConfigErrors::from_vec(report.errors).expect("an error was recorded"));
    };
    check_top_level_keys(r, top);
    let required = |r: &mut Report, key: &'static str| {
        let v = get(top, key);
        if v.is_none() && !broken.contains(key) {
            r.error(key, Problem::Missing);
        }
        v
    };

    let function = required(r, "FunctionName")
        .and_then(|v| string(r, "FunctionName", v))
        .and_then(|s| {
            parse_function_name(s)
                .map_err(|e| r.invalid("FunctionName", e))
                .ok()
        });
    let topic = required(r, "Topics").and_then(|v| topic(r, v));
    let servers =
        required(r, "SelfManagedEventSource").and_then(|v| sections::bootstrap_servers(r, v));
    let position = required(r, "StartingPosition");
    let starting_position = starting_position(r, top, position);
    let batch_size = get(top, "BatchSize")
        .map(|v| integer_in(r, "BatchSize", v, 1, MAX_BATCH_SIZE).map(|b| b as u32))
        .unwrap_or(Some(DEFAULT_BATCH_SIZE));
    let window = get(top, "MaximumBatchingWindowInSeconds")
        .map(|v| {
            integer_in(
                r,
                "MaximumBatchingWindowInSeconds",
                v,
                0,
                MAX_BATCHING_WINDOW_SECONDS,
            )
            .map(|s| Duration::from_secs(s as u64))
        })
        .unwrap_or(Some(DEFAULT_BATCHING_WINDOW));
    let enabled = get(top, "Enabled").map_or(Some(true), |v| boolean(r, "Enabled", v));
    let group_id = get(top, "SelfManagedKafkaEventSourceConfig")
        .and_then(|v| sections::consumer_group_id(r, v));
    let access = get(top, "SourceAccessConfigurations")
        .map(|v| source_access(r, "SourceAccessConfigurations", v))
        .unwrap_or_default();
    let on_failure =
        get(top, "DestinationConfig").and_then(|v| sections::on_failure(r, v, topic.as_deref()));
    let filters = get(top, "FilterCriteria")
        .map(|v| sections::filters(r, v))
        .unwrap_or_default();
    let pollers =
        get(top, "ProvisionedPollerConfig").and_then(|v| sections::provisioned_pollers(r, v));
    let retries = get(top, "MaximumRetryAttempts").map(|v| {
        infinite_or_range(r, "MaximumRetryAttempts", v, 0, MAX_RETRY_ATTEMPTS)
            .map(|o| o.map(|n| n as u32))
    });
    let record_age = get(top, "MaximumRecordAgeInSeconds").map(|v| {
        infinite_or_range(
            r,
            "MaximumRecordAgeInSeconds",
            v,
            MIN_RECORD_AGE_SECONDS,
            MAX_RECORD_AGE_SECONDS,
        )
        .map(|o| o.map(|s| Duration::from_secs(s as u64)))
    });
    let bisect = get(top, "BisectBatchOnFunctionError")
        .map_or(Some(false), |v| boolean(r, "BisectBatchOnFunctionError", v));
    let report_failures =
        get(top, "FunctionResponseTypes").is_some_and(|v| function_response_types(r, v));
    let (esm, configured_uuid) = esm_options(r, get(top, super::keys::ESM_SECTION));

    // Rules across fields.
    let mut maximum_retry_attempts = retries.flatten().flatten();
    let mut retry_attempts_capped = false;
    if matches!(retries, None | Some(Some(None))) && on_failure.is_some() {
        maximum_retry_attempts = Some(RETRY_ATTEMPTS_CAP_WITH_DESTINATION);
        retry_attempts_capped = true;
        r.warn(ConfigWarning::RetryAttemptsCapped {
            cap: RETRY_ATTEMPTS_CAP_WITH_DESTINATION,
        });
    }
    let security_protocol = security_protocol(
        r,
        access.authentication.as_ref(),
        access.server_root_ca.is_some(),
        esm.allow_insecure_sasl_over_plaintext,
    );

    let (Some(function), Some(topic), Some(servers), Some(starting_position)) =
        (function, topic, servers, starting_position)
    else {
        return Err(refusal(report));
    };
    let (Some(batch_size), Some(window), Some(enabled), Some(bisect)) =
        (batch_size, window, enabled, bisect)
    else {
        return Err(refusal(report));
    };
    if !report.errors.is_empty() {
        return Err(refusal(report));
    }
    let (consumer_group_id, consumer_group_id_origin) = match group_id {
        Some(id) => (id, super::mapping::ConsumerGroupIdOrigin::Configured),
        None => default_group_id(configured_uuid, &function.raw, &topic, &servers),
    };
    Ok(Mapping {
        uuid: configured_uuid.unwrap_or_else(Uuid::new_v4),
        function,
        topic,
        bootstrap_servers: servers,
        starting_position,
        batch_size,
        maximum_batching_window: window,
        enabled,
        consumer_group_id,
        consumer_group_id_origin,
        authentication: access.authentication,
        server_root_ca: access.server_root_ca,
        security_protocol,
        on_failure,
        filters,
        provisioned_pollers: pollers,
        maximum_retry_attempts,
        retry_attempts_capped,
        maximum_record_age: record_age.flatten().flatten(),
        bisect_batch_on_function_error: bisect,
        report_batch_item_failures: report_failures,
        esm,
        warnings: report.warnings,
    })
}

fn refusal(mut report: Report) -> ConfigErrors {
    if report.errors.is_empty() {
        // Every path that leaves a required value unset records why; this is a guard.
        report.invalid(DOCUMENT, "incomplete configuration");
    }
    ConfigErrors::from_vec(report.errors).expect("not empty")
}

/// Unknown keys, other sources' parameters, and AWS-only settings (type-checked, warned).
fn check_top_level_keys(r: &mut Report, top: &Map<String, Value>) {
    let known = known_keys();
    for (key, v) in top {
        match key_use(key) {
            None => unknown_key(r, "", key, &known),
            Some(KeyUse::Applies) => {}
            Some(_) if v.is_null() => {}
            Some(KeyUse::NotApplicable { used_for }) => {
                r.error(key, Problem::NotApplicable { used_for })
            }
            Some(KeyUse::Ignored { why }) => {
                let well_typed = match key.as_str() {
                    "KMSKeyArn" => string(r, key, v).is_some(),
                    "Tags" => object(r, key, v).is_some_and(|tags| {
                        let mut ok = true;
                        for (k, tag) in tags {
                            ok &= string(r, &super::json::join("Tags", k), tag).is_some();
                        }
                        ok
                    }),
                    _ => object(r, key, v).is_some(),
                };
                if well_typed {
                    r.warn(ConfigWarning::Ignored {
                        field: key.clone(),
                        why,
                    });
                }
            }
        }
    }
}

/// `Topics`: exactly one valid topic name.
fn topic(r: &mut Report, v: &Value) -> Option<String> {
    let list = array(r, "Topics", v)?;
    let mut valid = None;
    for (i, item) in list.iter().enumerate() {
        let at = index("Topics", i);
        if let Some(name) = string(r, &at, item) {
            match check_topic(name) {
                Ok(()) => valid = valid.or(Some(name.to_owned())),
                Err(e) => r.invalid(at, e),
            }
        }
    }
    if list.len() != 1 {
        let got = if list.is_empty() {
            "none".to_owned()
        } else {
            list.len().to_string()
        };
        r.invalid("Topics", format!("must hold exactly one topic, got {got}"));
        return None;
    }
    valid
}

/// `StartingPosition` and `StartingPositionTimestamp` together.
fn starting_position(
    r: &mut Report,
    top: &Map<String, Value>,
    position: Option<&Value>,
) -> Option<StartingPosition> {
    let timestamp = get(top, "StartingPositionTimestamp");
    let position = position.and_then(|v| string(r, "StartingPosition", v));
    let ts_field = "StartingPositionTimestamp";
    match position? {
        "LATEST" | "TRIM_HORIZON" if timestamp.is_some() => {
            r.invalid(
                ts_field,
                "is only allowed with StartingPosition AT_TIMESTAMP",
            );
            None
        }
        "LATEST" => Some(StartingPosition::Latest),
        "TRIM_HORIZON" => Some(StartingPosition::TrimHorizon),
        "AT_TIMESTAMP" => {
            let Some(ts) = timestamp else {
                r.invalid(
                    ts_field,
                    "is required when StartingPosition is AT_TIMESTAMP",
                );
                return None;
            };
            parse_timestamp(ts)
                .map(|epoch_millis| StartingPosition::AtTimestamp { epoch_millis })
                .map_err(|e| r.invalid(ts_field, e))
                .ok()
        }
        other => {
            r.invalid(
                "StartingPosition",
                format!("must be LATEST, TRIM_HORIZON or AT_TIMESTAMP, got \"{other}\""),
            );
            None
        }
    }
}

/// `-1` (infinite: `Some(None)`) or `min..=max`; `None` when invalid.
fn infinite_or_range(
    r: &mut Report,
    field: &str,
    v: &Value,
    min: i64,
    max: i64,
) -> Option<Option<i64>> {
    match integer(r, field, v)? {
        -1 => Some(None),
        n if (min..=max).contains(&n) => Some(Some(n)),
        n => {
            r.invalid(
                field,
                format!("must be -1 (infinite) or between {min} and {max}, got {n}"),
            );
            None
        }
    }
}

/// `FunctionResponseTypes`: true when it holds `ReportBatchItemFailures`.
fn function_response_types(r: &mut Report, v: &Value) -> bool {
    let Some(list) = array(r, "FunctionResponseTypes", v) else {
        return false;
    };
    let mut report_failures = false;
    for (i, item) in list.iter().enumerate() {
        let at = index("FunctionResponseTypes", i);
        match string(r, &at, item) {
            Some("ReportBatchItemFailures") => report_failures = true,
            Some(other) => r.invalid(
                at,
                format!("must be ReportBatchItemFailures, got \"{other}\""),
            ),
            None => {}
        }
    }
    report_failures
}

/// TLS whenever any TLS or SASL setting is present, as AWS; SASL over plaintext only with
/// the opt-in, which contradicts mTLS and a server root CA.
fn security_protocol(
    r: &mut Report,
    auth: Option<&Authentication>,
    root_ca: bool,
    insecure: bool,
) -> SecurityProtocol {
    let field = "KafkaEsm.AllowInsecureSaslOverPlaintext";
    let sasl = auth.is_some_and(Authentication::is_sasl);
    let mtls = auth.is_some_and(|a| !a.is_sasl());
    if insecure && mtls {
        r.invalid(
            field,
            "cannot be combined with CLIENT_CERTIFICATE_TLS_AUTH, which is TLS",
        );
    }
    if insecure && root_ca {
        r.invalid(
            field,
            "cannot be combined with SERVER_ROOT_CA_CERTIFICATE, which is for TLS",
        );
    }
    if insecure && !sasl && !mtls {
        r.warn(ConfigWarning::Ignored {
            field: field.to_owned(),
            why: "there is no SASL authentication (BASIC_AUTH or SASL_SCRAM_*) to send in the clear",
        });
    }
    match (sasl, insecure) {
        (true, true) => SecurityProtocol::SaslPlaintext,
        (true, false) => SecurityProtocol::SaslSsl,
        (false, _) if mtls || root_ca => SecurityProtocol::Ssl,
        (false, _) => SecurityProtocol::Plaintext,
    }
}
