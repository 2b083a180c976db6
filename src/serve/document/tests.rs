use super::*;
use serde_json::json;

fn body() -> Value {
    json!({
        "FunctionName": "reporter",
        "Topics": ["orders"],
        "StartingPosition": "TRIM_HORIZON",
        "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["b:9092"]}},
        "BatchSize": 10,
    })
}

fn identity() -> Identity {
    Identity {
        region: "eu-west-1".into(),
        account: "123456789012".into(),
    }
}

fn created() -> (StoredMapping, Mapping) {
    StoredMapping::create(body(), Uuid::new_v4(), 1.5, &Defaults::default()).unwrap()
}

#[test]
fn a_created_mapping_defaults_its_group_to_its_uuid() {
    let (stored, mapping) = created();
    assert_eq!(mapping.consumer_group_id, stored.uuid.to_string());
    assert_eq!(mapping.uuid, stored.uuid);
    assert_eq!(stored.revision, 1);
    assert!(
        !stored.document.contains_key("KafkaEsm"),
        "nothing added to what is stored"
    );
}

#[test]
fn an_update_merges_over_the_document_and_keeps_the_rest() {
    let (stored, mapping) = created();
    let (updated, new) = stored
        .update(
            json!({"BatchSize": 50, "Enabled": false}),
            2.0,
            &Defaults::default(),
            &mapping,
        )
        .unwrap();
    assert_eq!(new.batch_size, 50);
    assert!(!new.enabled);
    assert_eq!(new.topic, "orders");
    assert_eq!(updated.revision, 2);
    assert_eq!(updated.last_modified, 2.0);
    assert_eq!(new.consumer_group_id, mapping.consumer_group_id);
}

#[test]
fn fields_fixed_at_creation_can_not_be_updated() {
    let (stored, mapping) = created();
    for (key, value) in [
        ("Topics", json!(["other"])),
        ("StartingPosition", json!("LATEST")),
        (
            "SelfManagedEventSource",
            json!({"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["c:1"]}}),
        ),
    ] {
        let e = stored
            .update(json!({ key: value }), 2.0, &Defaults::default(), &mapping)
            .unwrap_err();
        assert!(e.to_string().starts_with(key), "{e}");
    }
    let e = stored
        .update(
            json!({"SelfManagedKafkaEventSourceConfig": {"ConsumerGroupId": "g2"}}),
            2.0,
            &Defaults::default(),
            &mapping,
        )
        .unwrap_err();
    assert!(e.to_string().contains("ConsumerGroupId"), "{e}");
}

#[test]
fn an_invalid_update_names_the_field() {
    let (stored, mapping) = created();
    let e = stored
        .update(json!({"BatchSize": 0}), 2.0, &Defaults::default(), &mapping)
        .unwrap_err();
    assert!(e.to_string().contains("BatchSize"), "{e}");
}

#[test]
fn the_api_may_not_set_a_local_command_or_an_address() {
    let mut b = body();
    b["KafkaEsm"] = json!({"FunctionCommand": "rm -rf /"});
    let e = StoredMapping::create(b, Uuid::new_v4(), 1.0, &Defaults::default()).unwrap_err();
    assert!(e.to_string().contains("KafkaEsm.FunctionCommand"), "{e}");
    let mut b = body();
    b["KafkaEsm"] = json!({"SessionTimeout": 10});
    let (_, m) = StoredMapping::create(b, Uuid::new_v4(), 1.0, &Defaults::default()).unwrap();
    assert_eq!(
        m.esm.session_timeout,
        Some(std::time::Duration::from_secs(10))
    );
}

#[test]
fn the_configuration_has_aws_fields_and_arns() {
    let (stored, mapping) = created();
    let status = MappingStatus::default();
    let c = configuration(&stored, &mapping, &status, "Creating", &identity());
    assert_eq!(c["UUID"], stored.uuid.to_string());
    assert_eq!(
        c["FunctionArn"],
        "arn:aws:lambda:eu-west-1:123456789012:function:reporter"
    );
    assert_eq!(
        c["EventSourceMappingArn"],
        format!(
            "arn:aws:lambda:eu-west-1:123456789012:event-source-mapping:{}",
            stored.uuid
        )
    );
    assert_eq!(c["State"], "Creating");
    assert_eq!(c["BatchSize"], 10);
    assert_eq!(c["LastModified"], 1.5);
    assert_eq!(c["MaximumRetryAttempts"], -1);
    assert_eq!(c["Topics"], json!(["orders"]));
    assert!(c.get("FunctionName").is_none() && c.get("Enabled").is_none());
}

#[test]
fn a_full_function_arn_is_shown_as_given() {
    let mut b = body();
    b["FunctionName"] = json!("arn:aws:lambda:us-west-2:210987654321:function:f:live");
    let (stored, mapping) =
        StoredMapping::create(b, Uuid::new_v4(), 1.0, &Defaults::default()).unwrap();
    let c = configuration(
        &stored,
        &mapping,
        &MappingStatus::default(),
        "Enabled",
        &identity(),
    );
    assert_eq!(
        c["FunctionArn"],
        "arn:aws:lambda:us-west-2:210987654321:function:f:live"
    );
}

#[test]
fn a_local_functions_timeout_is_its_mappings_function_timeout_unless_set() {
    let defaults = Defaults {
        function_timeouts: [("reporter".to_string(), 30)].into(),
        ..Defaults::default()
    };
    let (_, m) = StoredMapping::create(body(), Uuid::new_v4(), 1.0, &defaults).unwrap();
    assert_eq!(
        m.esm.function_timeout,
        Some(std::time::Duration::from_secs(30))
    );
    let mut b = body();
    b["KafkaEsm"] = json!({"FunctionTimeout": 5});
    let (_, m) = StoredMapping::create(b, Uuid::new_v4(), 1.0, &defaults).unwrap();
    assert_eq!(
        m.esm.function_timeout,
        Some(std::time::Duration::from_secs(5))
    );
    let mut b = body();
    b["FunctionName"] = json!("other");
    let (_, m) = StoredMapping::create(b, Uuid::new_v4(), 1.0, &defaults).unwrap();
    assert_eq!(m.esm.function_timeout, None);
}
