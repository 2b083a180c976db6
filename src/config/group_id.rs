//! The consumer group id when `SelfManagedKafkaEventSourceConfig.ConsumerGroupId` is not
//! given.
//!
//! AWS defaults it to the mapping's UUID, which AWS keeps for the mapping's life. kafka-esm
//! keeps no state between runs, so: with a configured mapping UUID (`KafkaEsm.Uuid`) the
//! group id is that UUID, exactly as AWS (a mapping moved from AWS rejoins its group);
//! without one it is a name-based UUID (v5) of the function name, the topic and the
//! bootstrap servers, so a restart, or a second instance of the same mapping, joins the
//! same group, while another function on the same topic gets its own group as in AWS.
//! The mapping's own UUID stays random in that case: it names a run, not the group.

use super::mapping::{BootstrapServer, ConsumerGroupIdOrigin};
use uuid::Uuid;

/// The namespace of derived group ids (a fixed v4 UUID: changing it moves every derived
/// group, so it never changes).
const NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2a4e_93d7_4b0a_8c55_0e2b_7d9f_41a3);

/// The default group id and where it came from.
pub fn default_group_id(
    configured_uuid: Option<Uuid>,
    function_name: &str,
    topic: &str,
    servers: &[BootstrapServer],
) -> (String, ConsumerGroupIdOrigin) {
    if let Some(uuid) = configured_uuid {
        return (uuid.to_string(), ConsumerGroupIdOrigin::MappingUuid);
    }
    // Host names are case-insensitive and the list order does not matter to Kafka.
    let mut hosts: Vec<String> = servers
        .iter()
        .map(|s| {
            BootstrapServer {
                host: s.host.to_ascii_lowercase(),
                port: s.port,
            }
            .to_string()
        })
        .collect();
    hosts.sort();
    hosts.dedup();
    let name = format!("{function_name}\n{topic}\n{}", hosts.join(","));
    (
        Uuid::new_v5(&NAMESPACE, name.as_bytes()).to_string(),
        ConsumerGroupIdOrigin::Derived,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers(list: &[&str]) -> Vec<BootstrapServer> {
        list.iter()
            .map(|s| crate::config::names::parse_bootstrap_server(s).unwrap())
            .collect()
    }

    #[test]
    fn derived_ids_are_stable_and_ignore_server_order_and_case() {
        let a = default_group_id(None, "f", "orders", &servers(&["b1:9092", "b2:9092"]));
        let b = default_group_id(None, "f", "orders", &servers(&["B2:9092", "b1:9092"]));
        assert_eq!(a, b);
        assert_eq!(a.1, ConsumerGroupIdOrigin::Derived);
        // A fixed value: a change here would move every deployed mapping to a new group.
        assert_eq!(a.0, "5bd7948f-41e7-53f8-a762-4ed245acfa41");
        let parsed = Uuid::parse_str(&a.0).unwrap();
        assert_eq!(parsed.get_version_num(), 5);
    }

    #[test]
    fn another_function_topic_or_cluster_gets_another_group() {
        let s = servers(&["b1:9092"]);
        let base = default_group_id(None, "f", "orders", &s).0;
        assert_ne!(base, default_group_id(None, "g", "orders", &s).0);
        assert_ne!(base, default_group_id(None, "f", "payments", &s).0);
        assert_ne!(
            base,
            default_group_id(None, "f", "orders", &servers(&["b9:9092"])).0
        );
    }

    #[test]
    fn a_configured_mapping_uuid_is_the_group_as_in_aws() {
        let u = Uuid::parse_str("f89f8514-cdd9-4602-9e1f-01a5b77d449b").unwrap();
        assert_eq!(
            default_group_id(Some(u), "f", "orders", &servers(&["b1:9092"])),
            (
                "f89f8514-cdd9-4602-9e1f-01a5b77d449b".to_owned(),
                ConsumerGroupIdOrigin::MappingUuid
            )
        );
    }
}
