//! The group's committed offsets: OffsetFetch and OffsetCommit for a [`GroupMember`].

use super::{GroupError, GroupMember};
use crate::kafka::TopicPartition;
use crate::kafka::protocol::messages::{offset_commit, offset_fetch};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    ApiKey, GroupId, OffsetCommitRequest, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;

impl GroupMember {
    /// The group's committed offsets for `partitions` (topic, partition); partitions
    /// with no committed offset are absent.
    pub async fn committed(
        &mut self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>, GroupError> {
        let conn = self.coordinator().await?;
        // v8+ batch groups; one group needs the v1–v7 form.
        let version = conn.pick_version::<OffsetFetchRequest>(1..=7)?;
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in partitions {
            by_topic.entry(t.as_str()).or_default().push(*p);
        }
        let request = OffsetFetchRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.config.group_id.clone())))
            .with_require_stable(version >= 7)
            .with_topics(Some(
                by_topic
                    .into_iter()
                    .map(|(t, ps)| {
                        OffsetFetchRequestTopic::default()
                            .with_name(TopicName(StrBytes::from_string(t.to_string())))
                            .with_partition_indexes(ps)
                    })
                    .collect(),
            ));
        let timeout = self.connection_config().request_timeout;
        let body = self.call(&conn, &request, version, timeout).await?;
        let resp =
            offset_fetch::decode(body, version).map_err(self.decode_err(ApiKey::OffsetFetch))?;
        let mut out = BTreeMap::new();
        for group in resp.groups {
            if group.error_code != 0 {
                if Self::coordinator_moved(group.error_code) {
                    self.coordinator = None;
                }
                return Err(self.kafka(ApiKey::OffsetFetch, group.error_code));
            }
            for topic in group.topics {
                for p in topic.partitions {
                    if p.error_code != 0 {
                        return Err(self.kafka(ApiKey::OffsetFetch, p.error_code));
                    }
                    if p.committed_offset >= 0 {
                        out.insert((topic.name.clone(), p.partition), p.committed_offset);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Commits `offsets` ((topic, partition) → the next offset to consume) for this
    /// member's generation. A stale generation is [`GroupError::Rejoin`]: nothing was
    /// committed, and the records must be handled again by whoever owns them next.
    pub async fn commit(
        &mut self,
        offsets: &BTreeMap<TopicPartition, i64>,
    ) -> Result<(), GroupError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let conn = self.coordinator().await?;
        // v9 is for the new (KIP-848) protocol's member epochs.
        let version = conn
            .pick_version::<OffsetCommitRequest>(offset_commit::VERSIONS.start().to_owned()..=8)?;
        let mut by_topic: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
        for ((t, p), offset) in offsets {
            by_topic.entry(t.as_str()).or_default().push(
                OffsetCommitRequestPartition::default()
                    .with_partition_index(*p)
                    .with_committed_offset(*offset)
                    .with_committed_leader_epoch(-1),
            );
        }
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.config.group_id.clone())))
            .with_generation_id_or_member_epoch(self.generation_id)
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_group_instance_id(self.instance_id(version >= 7))
            .with_retention_time_ms(-1)
            .with_topics(
                by_topic
                    .into_iter()
                    .map(|(t, ps)| {
                        OffsetCommitRequestTopic::default()
                            .with_name(TopicName(StrBytes::from_string(t.to_string())))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        let timeout = self.connection_config().request_timeout;
        let body = self.call(&conn, &request, version, timeout).await?;
        let resp =
            offset_commit::decode(body, version).map_err(self.decode_err(ApiKey::OffsetCommit))?;
        for topic in resp.topics {
            for p in topic.partitions {
                if p.error_code != 0 {
                    if Self::coordinator_moved(p.error_code) {
                        self.coordinator = None;
                    }
                    return Err(self.kafka(ApiKey::OffsetCommit, p.error_code));
                }
            }
        }
        Ok(())
    }
}
