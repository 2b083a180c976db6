//! Creating a topic (CreateTopics), for `serve`'s state topic: the one administrative
//! request the client makes.

use super::cluster::{Cluster, ClusterError, KafkaCode};
use crate::kafka::protocol::messages::create_topics;
use kafka_protocol::messages::TopicName;
use kafka_protocol::messages::create_topics_request::{
    CreatableTopic, CreatableTopicConfig, CreateTopicsRequest,
};
use kafka_protocol::protocol::StrBytes;

/// TOPIC_ALREADY_EXISTS.
const ALREADY_EXISTS: i16 = 36;
/// NOT_CONTROLLER: ask another broker.
const NOT_CONTROLLER: i16 = 41;

/// Creates `topic` with `partitions` partitions, `replication` replicas (-1: the
/// broker's default) and `configs`, unless it exists. `Ok(true)` when this call created it.
pub async fn create_topic(
    cluster: &Cluster,
    topic: &str,
    partitions: i32,
    replication: i16,
    configs: &[(&str, &str)],
) -> Result<bool, ClusterError> {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_num_partitions(partitions)
                .with_replication_factor(replication)
                .with_configs(
                    configs
                        .iter()
                        .map(|(k, v)| {
                            CreatableTopicConfig::default()
                                .with_name(StrBytes::from_string(k.to_string()))
                                .with_value(Some(StrBytes::from_string(v.to_string())))
                        })
                        .collect(),
                ),
        ]);
    let mut last = None;
    for node in cluster.brokers() {
        let conn = cluster.broker(node).await?;
        let version = conn.pick_version::<CreateTopicsRequest>(create_topics::VERSIONS)?;
        let body = conn.request(&request, version).await?;
        let answer =
            create_topics::decode(body, version).map_err(|source| ClusterError::Decode {
                broker: format!("{} (CreateTopics)", conn.broker()),
                source,
            })?;
        let code = answer
            .topics
            .iter()
            .find(|t| t.name == topic)
            .map_or(0, |t| t.error_code);
        match code {
            0 => return Ok(true),
            ALREADY_EXISTS => return Ok(false),
            NOT_CONTROLLER => last = Some(code),
            code => {
                return Err(ClusterError::Topic {
                    topic: topic.to_string(),
                    error: KafkaCode(code),
                });
            }
        }
    }
    Err(ClusterError::Topic {
        topic: topic.to_string(),
        error: KafkaCode(last.unwrap_or(NOT_CONTROLLER)),
    })
}
