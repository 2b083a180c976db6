//! Arbitrary JSON patterns and values never make compiling or matching panic, and a
//! compiled pattern gives the same answer every time.

use crate::filter::{Pattern, RecordView};
use proptest::prelude::*;
use serde_json::{Map, Value};

const WORDS: [&str; 24] = [
    "value",
    "key",
    "topic",
    "partition",
    "a",
    "b",
    "$or",
    "prefix",
    "suffix",
    "numeric",
    "exists",
    "anything-but",
    "wildcard",
    "cidr",
    "equals-ignore-case",
    "<",
    "<=",
    ">",
    ">=",
    "=",
    "10.0.0.0/24",
    "*x*",
    "x",
    "",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(&WORDS[..]).prop_map(str::to_owned),
        "[a-z*\\\\/.:0-9]{0,6}",
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1.0e10f64..1.0e10).prop_map(Value::from),
        word().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((word(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_patterns_and_values_never_panic(pattern in json(), value in json(), key in json()) {
        let value = value.to_string();
        let key = key.to_string();
        let record = RecordView {
            key: Some(key.as_bytes()),
            ..RecordView::with_value("t", Some(value.as_bytes()))
        };
        let mut top = Map::new();
        top.insert("value".into(), pattern.clone());
        for p in [pattern, Value::Object(top)] {
            match Pattern::compile(&p) {
                Ok(compiled) => {
                    let first = compiled.matches(&record);
                    prop_assert_eq!(first, compiled.matches(&record));
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,64}", value in "\\PC{0,32}") {
        if let Ok(p) = Pattern::parse(&text) {
            let _ = p.matches(&RecordView::with_value("t", Some(value.as_bytes())));
        }
    }
}
