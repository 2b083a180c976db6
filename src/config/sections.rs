//! The nested objects of the mapping: `SelfManagedEventSource`,
//! `SelfManagedKafkaEventSourceConfig`, `DestinationConfig`, `FilterCriteria` and
//! `ProvisionedPollerConfig`.
//!
//! Each reader checks its object's keys and values, records every problem in the
//! [`Report`] and returns what was valid. `DestinationConfig.OnSuccess` may be empty (the
//! CLI skeleton has it) but not set: an event source mapping only sends failures.
//! Top-level scalars and cross-field rules are the resolver's; this file does not look
//! outside the object it is given.

use super::destination::parse_destination;
use super::error::Problem;
use super::json::{Report, array, check_keys, get, index, integer_in, join, object, string};
use super::mapping::{BootstrapServer, ConfigWarning, OnFailureDestination, ProvisionedPollers};
use super::names::parse_bootstrap_server;
use crate::filter::{Filter, FilterSet};
use serde_json::Value;

/// `SelfManagedEventSource.Endpoints.KAFKA_BOOTSTRAP_SERVERS`; `None` unless every entry
/// is valid.
pub fn bootstrap_servers(r: &mut Report, v: &Value) -> Option<Vec<BootstrapServer>> {
    let field = "SelfManagedEventSource";
    let map = object(r, field, v)?;
    check_keys(r, field, map, &["Endpoints"]);
    let endpoints_field = join(field, "Endpoints");
    let Some(endpoints) = get(map, "Endpoints") else {
        r.error(endpoints_field, Problem::Missing);
        return None;
    };
    let endpoints = object(r, &endpoints_field, endpoints)?;
    check_keys(r, &endpoints_field, endpoints, &["KAFKA_BOOTSTRAP_SERVERS"]);
    let list_field = join(&endpoints_field, "KAFKA_BOOTSTRAP_SERVERS");
    let Some(list) = get(endpoints, "KAFKA_BOOTSTRAP_SERVERS") else {
        r.error(list_field, Problem::Missing);
        return None;
    };
    let list = array(r, &list_field, list)?;
    if list.is_empty() {
        r.invalid(list_field, "must list at least one host:port");
        return None;
    }
    let mut servers = Vec::with_capacity(list.len());
    let mut all_ok = true;
    for (i, item) in list.iter().enumerate() {
        let at = index(&list_field, i);
        let parsed =
            string(r, &at, item).map(|s| parse_bootstrap_server(s).map_err(|e| r.invalid(&at, e)));
        match parsed {
            Some(Ok(s)) => servers.push(s),
            _ => all_ok = false,
        }
    }
    all_ok.then_some(servers)
}

/// AWS's limit on `ConsumerGroupId`.
pub const MAX_CONSUMER_GROUP_ID_LEN: usize = 200;

/// `SelfManagedKafkaEventSourceConfig`: the configured `ConsumerGroupId`, if any.
pub fn consumer_group_id(r: &mut Report, v: &Value) -> Option<String> {
    let field = "SelfManagedKafkaEventSourceConfig";
    let map = object(r, field, v)?;
    check_keys(r, field, map, &["ConsumerGroupId", "SchemaRegistryConfig"]);
    if get(map, "SchemaRegistryConfig").is_some() {
        r.error(
            join(field, "SchemaRegistryConfig"),
            Problem::Unsupported {
                why: "schema registry decoding (Avro, Protobuf, JSON Schema) is not implemented; \
                      records reach the function as base64 bytes",
            },
        );
    }
    let id_field = join(field, "ConsumerGroupId");
    let id = string(r, &id_field, get(map, "ConsumerGroupId")?)?;
    let len = id.chars().count();
    if !(1..=MAX_CONSUMER_GROUP_ID_LEN).contains(&len) {
        r.invalid(
            id_field,
            format!("must be between 1 and {MAX_CONSUMER_GROUP_ID_LEN} characters, got {len}"),
        );
        return None;
    }
    // AWS's pattern: [a-zA-Z0-9-\/*:_+=.@-]*
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-/*:_+=.@".contains(*c)))
    {
        r.invalid(
            id_field,
            format!("{c:?} is not allowed; use a-z, A-Z, 0-9 and - / * : _ + = . @"),
        );
        return None;
    }
    Some(id.to_owned())
}

/// `DestinationConfig`: the on-failure destination, `None` when absent or `""`.
/// `source_topic` (when valid) is refused as a `kafka://` destination.
pub fn on_failure(
    r: &mut Report,
    v: &Value,
    source_topic: Option<&str>,
) -> Option<OnFailureDestination> {
    let field = "DestinationConfig";
    let map = object(r, field, v)?;
    check_keys(r, field, map, &["OnFailure", "OnSuccess"]);
    if let Some(on_success) = get(map, "OnSuccess") {
        let f = join(field, "OnSuccess");
        if let Some(m) = object(r, &f, on_success) {
            check_keys(r, &f, m, &["Destination"]);
            let dest_field = join(&f, "Destination");
            let dest = get(m, "Destination").and_then(|d| string(r, &dest_field, d));
            if dest.is_some_and(|d| !d.is_empty()) {
                r.invalid(
                    dest_field,
                    "an event source mapping sends only failures to a destination; use \
                     OnFailure, and leave OnSuccess out or empty",
                );
            }
        }
    }
    let f = join(field, "OnFailure");
    let m = object(r, &f, get(map, "OnFailure")?)?;
    check_keys(r, &f, m, &["Destination"]);
    let dest_field = join(&f, "Destination");
    let dest = string(r, &dest_field, get(m, "Destination")?)?;
    parse_destination(dest, source_topic)
        .map_err(|e| r.invalid(dest_field, e))
        .ok()
        .flatten()
}

/// How many filters a mapping may have.
pub const MAX_FILTERS: usize = 5;
/// AWS's limit on one pattern's length.
pub const MAX_PATTERN_LEN: usize = 4096;

/// `FilterCriteria.Filters`: each pattern must be a JSON object in the filter rule syntax,
/// checked by compiling it once with the filtering layer ([`Filter::compile`]); the
/// mapping carries the compiled set.
pub fn filters(r: &mut Report, v: &Value) -> FilterSet {
    let field = "FilterCriteria";
    let mut out = Vec::new();
    let Some(map) = object(r, field, v) else {
        return FilterSet::default();
    };
    check_keys(r, field, map, &["Filters"]);
    let list_field = join(field, "Filters");
    let Some(list) = get(map, "Filters").and_then(|l| array(r, &list_field, l)) else {
        return FilterSet::default();
    };
    if list.len() > MAX_FILTERS {
        r.invalid(
            &list_field,
            format!(
                "at most {MAX_FILTERS} filters are allowed, got {}",
                list.len()
            ),
        );
    }
    for (i, item) in list.iter().enumerate() {
        let at = index(&list_field, i);
        let Some(m) = object(r, &at, item) else {
            continue;
        };
        check_keys(r, &at, m, &["Pattern"]);
        let pattern_field = join(&at, "Pattern");
        let Some(p) = get(m, "Pattern") else {
            r.error(pattern_field, Problem::Missing);
            continue;
        };
        let Some(pattern) = string(r, &pattern_field, p) else {
            continue;
        };
        if pattern.len() > MAX_PATTERN_LEN {
            r.invalid(
                pattern_field,
                format!(
                    "must be at most {MAX_PATTERN_LEN} characters, got {}",
                    pattern.len()
                ),
            );
            continue;
        }
        match serde_json::from_str::<Value>(pattern) {
            Ok(parsed @ Value::Object(_)) => match Filter::compile(pattern, parsed) {
                Ok(filter) => out.push(filter),
                Err(e) => r.invalid(
                    pattern_field,
                    format!("is not a valid filter pattern: {e}"),
                ),
            },
            Ok(other) => r.invalid(
                pattern_field,
                format!(
                    "must be a JSON object in a string, such as \"{{\\\"value\\\": {{\\\"kind\\\": [\\\"order\\\"]}}}}\", got {}",
                    super::json::kind(&other)
                ),
            ),
            Err(e) => r.invalid(pattern_field, format!("is not valid JSON: {e}")),
        }
    }
    FilterSet::new(out)
}

/// `ProvisionedPollerConfig` with its defaults.
pub fn provisioned_pollers(r: &mut Report, v: &Value) -> Option<ProvisionedPollers> {
    let field = "ProvisionedPollerConfig";
    let map = object(r, field, v)?;
    check_keys(
        r,
        field,
        map,
        &["MinimumPollers", "MaximumPollers", "PollerGroupName"],
    );
    let min_field = join(field, "MinimumPollers");
    let max_field = join(field, "MaximumPollers");
    let min = match get(map, "MinimumPollers") {
        Some(v) => integer_in(r, &min_field, v, 1, 200),
        None => Some(1),
    };
    let max = match get(map, "MaximumPollers") {
        Some(v) => integer_in(r, &max_field, v, 1, 2000),
        None => Some(200),
    };
    if let Some(name) = get(map, "PollerGroupName") {
        let f = join(field, "PollerGroupName");
        if string(r, &f, name).is_some() {
            r.warn(ConfigWarning::Ignored {
                field: f,
                why: "AWS shares pollers between mappings of a group; each kafka-esm process \
                      polls for its own mapping",
            });
        }
    }
    let (min, max) = (min?, max?);
    if max < min {
        r.invalid(
            max_field,
            format!("must be at least MinimumPollers ({min}), got {max}"),
        );
        return None;
    }
    Some(ProvisionedPollers {
        minimum: min as u32,
        maximum: max as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(r: &Report) -> Vec<String> {
        r.errors.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn bootstrap_servers_every_entry_checked() {
        let mut r = Report::default();
        let ok = bootstrap_servers(
            &mut r,
            &json!({"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["abc3.xyz.com:9092", "abc2.xyz.com:9092"]}}),
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert!(r.errors.is_empty());
        let bad = bootstrap_servers(
            &mut r,
            &json!({"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["a", 7, "b:99999"], "BROKERS": []}}),
        );
        assert_eq!(bad, None);
        assert_eq!(
            messages(&r),
            [
                "SelfManagedEventSource.Endpoints.BROKERS: unknown key",
                "SelfManagedEventSource.Endpoints.KAFKA_BOOTSTRAP_SERVERS[0]: \"a\" is not host:port: missing :port",
                "SelfManagedEventSource.Endpoints.KAFKA_BOOTSTRAP_SERVERS[1]: must be a string, got an integer",
                "SelfManagedEventSource.Endpoints.KAFKA_BOOTSTRAP_SERVERS[2]: \"b:99999\" is not host:port: the port must be between 1 and 65535",
            ]
        );
        for (v, msg) in [
            (json!({}), "SelfManagedEventSource.Endpoints: is required"),
            (
                json!({"Endpoints": {}}),
                "SelfManagedEventSource.Endpoints.KAFKA_BOOTSTRAP_SERVERS: is required",
            ),
            (
                json!({"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": []}}),
                "SelfManagedEventSource.Endpoints.KAFKA_BOOTSTRAP_SERVERS: must list at least one host:port",
            ),
            (
                json!({"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": "a:1"}}),
                "SelfManagedEventSource.Endpoints.KAFKA_BOOTSTRAP_SERVERS: must be a list, got a string",
            ),
        ] {
            let mut r = Report::default();
            assert_eq!(bootstrap_servers(&mut r, &v), None);
            assert_eq!(messages(&r), [msg]);
        }
    }

    #[test]
    fn consumer_group_ids() {
        let mut r = Report::default();
        let id = consumer_group_id(&mut r, &json!({"ConsumerGroupId": "my-group.v2@team:x"}));
        assert_eq!(id.as_deref(), Some("my-group.v2@team:x"));
        assert_eq!(consumer_group_id(&mut r, &json!({})), None);
        assert_eq!(
            consumer_group_id(&mut r, &json!({"ConsumerGroupId": "g".repeat(200)}))
                .map(|g| g.len()),
            Some(200)
        );
        assert!(r.errors.is_empty());
        assert_eq!(
            consumer_group_id(&mut r, &json!({"ConsumerGroupId": ""})),
            None
        );
        assert_eq!(
            consumer_group_id(&mut r, &json!({"ConsumerGroupId": "g".repeat(201)})),
            None
        );
        assert_eq!(
            consumer_group_id(&mut r, &json!({"ConsumerGroupId": "a b"})),
            None
        );
        consumer_group_id(
            &mut r,
            &json!({"SchemaRegistryConfig": {"SchemaRegistryURI": "x"}}),
        );
        assert_eq!(
            messages(&r),
            [
                "SelfManagedKafkaEventSourceConfig.ConsumerGroupId: must be between 1 and 200 characters, got 0",
                "SelfManagedKafkaEventSourceConfig.ConsumerGroupId: must be between 1 and 200 characters, got 201",
                "SelfManagedKafkaEventSourceConfig.ConsumerGroupId: ' ' is not allowed; use a-z, A-Z, 0-9 and - / * : _ + = . @",
                "SelfManagedKafkaEventSourceConfig.SchemaRegistryConfig: is not supported by kafka-esm: \
                 schema registry decoding (Avro, Protobuf, JSON Schema) is not implemented; records \
                 reach the function as base64 bytes",
            ]
        );
    }

    #[test]
    fn destinations_on_failure_only() {
        let mut r = Report::default();
        let d = on_failure(
            &mut r,
            &json!({"OnSuccess": {"Destination": ""}, "OnFailure": {"Destination": "kafka://dlq"}}),
            Some("orders"),
        );
        assert_eq!(
            d,
            Some(OnFailureDestination::Kafka {
                topic: "dlq".into()
            })
        );
        assert_eq!(
            on_failure(&mut r, &json!({"OnFailure": {"Destination": ""}}), None),
            None
        );
        assert_eq!(on_failure(&mut r, &json!({"OnFailure": {}}), None), None);
        assert_eq!(on_failure(&mut r, &json!({}), None), None);
        assert!(r.errors.is_empty());
        on_failure(
            &mut r,
            &json!({"OnSuccess": {"Destination": "arn:aws:sqs:us-east-1:123456789012:q"},
                    "OnFailure": {"Destination": "kafka://orders"}}),
            Some("orders"),
        );
        let m = messages(&r);
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].starts_with(
            "DestinationConfig.OnSuccess.Destination: an event source mapping sends only failures"
        ));
        assert!(m[1].starts_with(
            "DestinationConfig.OnFailure.Destination: kafka://orders is the source topic"
        ));
    }

    #[test]
    fn filters_up_to_five_json_objects() {
        let mut r = Report::default();
        let f = filters(
            &mut r,
            &json!({"Filters": [{"Pattern": "{\"value\": {\"kind\": [\"order\"]}}"}, {"Pattern": "{}"}]}),
        );
        assert!(r.errors.is_empty());
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].parsed(), &json!({"value": {"kind": ["order"]}}));
        assert_eq!(f[0].pattern(), "{\"value\": {\"kind\": [\"order\"]}}");
        assert!(filters(&mut r, &json!({"Filters": []})).is_empty());
        assert!(filters(&mut r, &json!({})).is_empty());
        assert!(r.errors.is_empty());

        let six: Vec<Value> = (0..6).map(|_| json!({"Pattern": "{}"})).collect();
        filters(&mut r, &json!({"Filters": six}));
        filters(
            &mut r,
            &json!({"Filters": [{"Pattern": "[1]"}, {"Pattern": "{nope"}, {}, {"Pattern": ""}, {"Pattern": "x".repeat(4097)}]}),
        );
        let m = messages(&r);
        assert_eq!(m.len(), 6, "{m:#?}");
        assert_eq!(
            m[0],
            "FilterCriteria.Filters: at most 5 filters are allowed, got 6"
        );
        assert!(
            m[1].starts_with(
                "FilterCriteria.Filters[0].Pattern: must be a JSON object in a string"
            )
        );
        assert!(m[1].ends_with("got a list"));
        assert!(m[2].starts_with("FilterCriteria.Filters[1].Pattern: is not valid JSON: "));
        assert_eq!(m[3], "FilterCriteria.Filters[2].Pattern: is required");
        assert!(m[4].starts_with("FilterCriteria.Filters[3].Pattern: is not valid JSON"));
        assert_eq!(
            m[5],
            "FilterCriteria.Filters[4].Pattern: must be at most 4096 characters, got 4097"
        );
    }

    #[test]
    fn pollers_defaults_ranges_and_order() {
        let mut r = Report::default();
        assert_eq!(
            provisioned_pollers(&mut r, &json!({})),
            Some(ProvisionedPollers {
                minimum: 1,
                maximum: 200
            })
        );
        assert_eq!(
            provisioned_pollers(
                &mut r,
                &json!({"MinimumPollers": 200, "MaximumPollers": 2000})
            ),
            Some(ProvisionedPollers {
                minimum: 200,
                maximum: 2000
            })
        );
        assert_eq!(
            provisioned_pollers(&mut r, &json!({"MinimumPollers": 3, "MaximumPollers": 3})),
            Some(ProvisionedPollers {
                minimum: 3,
                maximum: 3
            })
        );
        assert!(r.errors.is_empty());
        assert_eq!(
            provisioned_pollers(
                &mut r,
                &json!({"MinimumPollers": 0, "MaximumPollers": 2001})
            ),
            None
        );
        assert_eq!(
            provisioned_pollers(&mut r, &json!({"MinimumPollers": 5, "MaximumPollers": 3})),
            None
        );
        assert_eq!(
            provisioned_pollers(&mut r, &json!({"MinimumPollers": 201})),
            None
        );
        assert_eq!(
            messages(&r),
            [
                "ProvisionedPollerConfig.MinimumPollers: must be between 1 and 200, got 0",
                "ProvisionedPollerConfig.MaximumPollers: must be between 1 and 2000, got 2001",
                "ProvisionedPollerConfig.MaximumPollers: must be at least MinimumPollers (5), got 3",
                "ProvisionedPollerConfig.MinimumPollers: must be between 1 and 200, got 201",
            ]
        );
        let mut r = Report::default();
        provisioned_pollers(&mut r, &json!({"PollerGroupName": "g"}));
        assert!(r.errors.is_empty());
        assert_eq!(r.warnings.len(), 1);
    }
}
