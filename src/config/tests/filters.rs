//! `FilterCriteria` patterns are compiled at configuration time: a malformed pattern is
//! `ESM_CONFIG_NOT_VALID` naming `FilterCriteria.Filters[i].Pattern` and what is wrong.

use super::*;

/// The document with these patterns as its filters.
fn filters(patterns: &[Value]) -> Value {
    let filters: Vec<Value> = patterns
        .iter()
        .map(|p| json!({"Pattern": p.to_string()}))
        .collect();
    with(json!({"FilterCriteria": {"Filters": filters}}))
}

#[test]
fn documented_patterns_are_accepted() {
    let m = ok(filters(&[
        json!({"value": {"device_ID": [{"prefix": "AB"}]}}),
        json!({"value": [{"anything-but": ["error"]}]}),
        json!({"value": {"session": {"duration": [{"numeric": [">", 0, "<=", 300]}]}}}),
        json!({"value": {"$or": [{"a": [1]}, {"b": [{"exists": false}]}]}}),
        json!({"value": {"ip": [{"cidr": "10.0.0.0/24"}], "f": [{"wildcard": "*.png"}]}}),
    ]));
    assert_eq!(m.filters.len(), 5);
}

#[test]
fn malformed_patterns_name_the_filter_and_the_problem() {
    let table: Vec<(Value, &str)> = vec![
        (
            json!({"value": {"a": [{"prefx": "x"}]}}),
            "at value.a: unknown operator \"prefx\"",
        ),
        (
            json!({"value": {"a": [{"numeric": [">", "ten"]}]}}),
            "at value.a: \"numeric\": expected a number after the comparison, got a string",
        ),
        (
            json!({"value": {"a": [{"numeric": ["!=", 1]}]}}),
            "at value.a: \"numeric\": unknown comparison \"!=\"",
        ),
        (
            json!({"value": {"a": [{"numeric": [">", 5, ">", 1]}]}}),
            "at value.a: \"numeric\": a range takes a lower bound (> or >=) first",
        ),
        (
            json!({"value": {"a": [{"numeric": [">", 5, "<", 1]}]}}),
            "at value.a: \"numeric\": the lower bound 5 must be below the upper bound 1",
        ),
        (
            json!({"value": {"a": [{"numeric": [">", 1.0e10]}]}}),
            "at value.a: \"numeric\": 10000000000 is outside",
        ),
        (
            json!({"value": {"a": [{"exists": "yes"}]}}),
            "at value.a: \"exists\" takes true or false, got a string",
        ),
        (
            json!({"value": {"a": [{"prefix": 1}]}}),
            "at value.a: \"prefix\" takes a string",
        ),
        (
            json!({"value": {"a": [{"anything-but": [1, "x"]}]}}),
            "at value.a: \"anything-but\" takes a string, a number, a list",
        ),
        (
            json!({"value": {"a": [{"numeric": ["<", 5, ">", 1]}]}}),
            "at value.a: \"numeric\": a range takes a lower bound (> or >=) first",
        ),
        (
            json!({"value": {"a": [{"anything-but": {"prefix": ""}}]}}),
            "at value.a: \"anything-but\" takes a non-empty prefix or suffix",
        ),
        (
            json!({"value": {"a": [{"anything-but": {"contains": "x"}}]}}),
            "at value.a: \"anything-but\" takes",
        ),
        (
            json!({"value": {"a": [{"wildcard": "a**b"}]}}),
            "at value.a: \"wildcard\": consecutive wildcard characters",
        ),
        (
            json!({"value": {"a": [{"cidr": "10.0.0.0/33"}]}}),
            "at value.a: \"cidr\": \"10.0.0.0/33\" has a prefix length above 32",
        ),
        (
            json!({"value": {"a": [{"prefix": "x", "suffix": "y"}]}}),
            "at value.a: an operator object must have exactly one key",
        ),
        (
            json!({"value": {"a": []}}),
            "at value.a: empty arrays are not allowed",
        ),
        (
            json!({"value": {"a": {}}}),
            "at value.a: empty objects are not allowed",
        ),
        (
            json!({"value": {"a": "x"}}),
            "at value.a: must be an object (nested fields)",
        ),
        (
            json!({"value": {"a": [[1]]}}),
            "at value.a: a match value must be",
        ),
        (
            json!({"value": {"$or": [{"a": [1]}]}}),
            "at value.$or: \"$or\" takes an array of at least 2 objects, got 1 element(s)",
        ),
        (
            json!({"body": {"a": [1]}}),
            "a Kafka record has no field \"body\"",
        ),
    ];
    for (pattern, expected) in table {
        let doc = filters(&[json!({"value": ["ok"]}), pattern.clone()]);
        let err = resolve(&doc).expect_err(&format!("accepted {pattern}"));
        assert_eq!(err.reason(), ESM_CONFIG_NOT_VALID);
        let messages: Vec<String> = err.errors().iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 1, "{messages:#?}");
        let prefix = "FilterCriteria.Filters[1].Pattern: is not a valid filter pattern: ";
        assert!(
            messages[0].starts_with(&format!("{prefix}{expected}")),
            "{pattern}: {}",
            messages[0]
        );
    }
}

#[test]
fn too_deep_patterns_are_refused() {
    let mut p = json!(["x"]);
    for _ in 0..70 {
        p = json!({ "a": p });
    }
    let e = error(filters(&[json!({ "value": p })]));
    assert!(e.contains("nested deeper than 64 levels"), "{e}");
}

#[test]
fn every_bad_filter_is_reported() {
    let e = errors(filters(&[
        json!({"value": [{"numeric": []}]}),
        json!({"value": ["fine"]}),
        json!({"topic": [{"exists": 1}]}),
    ]));
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(e[0].starts_with("FilterCriteria.Filters[0].Pattern: "));
    assert!(e[1].starts_with("FilterCriteria.Filters[2].Pattern: "));
}

/// `kafka-esm run --filter-criteria ...` resolves through the same check.
#[derive(clap::Parser, Debug)]
struct Cli {
    #[command(flatten)]
    mapping: MappingArgs,
}

#[test]
fn the_command_line_flag_is_checked_too() {
    use clap::Parser;
    let cli = Cli::try_parse_from([
        "kafka-esm",
        "--function-name",
        "f",
        "--topics",
        "orders",
        "--bootstrap-servers",
        "localhost:9092",
        "--filter-criteria",
        r#"{"Filters":[{"Pattern":"{\"value\":{\"kind\":[{\"numeric\":[\"<\",1,\"<\",2]}]}}"}]}"#,
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    let err = cli.mapping.resolve().expect_err("accepted a bad pattern");
    assert_eq!(err.reason(), ESM_CONFIG_NOT_VALID);
    let shown = err.to_string();
    assert!(
        shown.contains(
            "FilterCriteria.Filters[0].Pattern: is not a valid filter pattern: at value.kind: \
             \"numeric\": a range takes a lower bound"
        ),
        "{shown}"
    );
}
