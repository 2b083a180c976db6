//! The group coordinator's RPCs for one consumer group member: FindCoordinator,
//! JoinGroup + SyncGroup (a rebalance), Heartbeat, LeaveGroup, OffsetFetch,
//! OffsetCommit and DescribeGroups.
//!
//! A [`GroupMember`] keeps the member id and generation the coordinator gave it, finds the
//! coordinator again when it moves (`NOT_COORDINATOR`, `COORDINATOR_NOT_AVAILABLE`, a dead
//! connection), and turns group errors into [`GroupError`]s that say whether to rejoin.
//! As leader it hands the members' subscriptions to the caller's assignor and sends the
//! result. It never decides *when* to heartbeat, commit or rejoin: the consumer above
//! drives it, so that in-flight work can be finished or abandoned before a revocation.

use crate::kafka::client::cluster::{Cluster, ClusterError, KafkaCode};
use crate::kafka::client::conn::Connection;
use crate::kafka::protocol::DecodeError;
use crate::kafka::protocol::messages::consumer_protocol::{self, Assignment, Subscription};
use crate::kafka::protocol::messages::describe_groups::{self, DescribedGroup};
use crate::kafka::protocol::messages::{
    find_coordinator, heartbeat, join_group, leave_group, sync_group,
};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

mod error;
mod offsets;

pub use error::GroupError;

/// Kafka error codes the group protocol reacts to.
mod code {
    pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    pub const NOT_COORDINATOR: i16 = 16;
    pub const ILLEGAL_GENERATION: i16 = 22;
    pub const UNKNOWN_MEMBER_ID: i16 = 25;
    pub const REBALANCE_IN_PROGRESS: i16 = 27;
    pub const MEMBER_ID_REQUIRED: i16 = 79;
    pub const FENCED_INSTANCE_ID: i16 = 82;
}

/// How a member joins its group.
#[derive(Clone, Debug)]
pub struct GroupConfig {
    pub group_id: String,
    /// Static membership (KIP-345) when set.
    pub group_instance_id: Option<String>,
    /// The coordinator evicts a member it hasn't heard from for this long.
    pub session_timeout: Duration,
    /// How long the coordinator waits for members to rejoin during a rebalance.
    pub rebalance_timeout: Duration,
    /// Assignment strategies in order of preference, each with this member's
    /// subscription.
    pub protocols: Vec<(String, Subscription)>,
    /// How long a leader of a group with other members waits before its SyncGroup. Zero
    /// for Kafka, which holds followers' SyncGroups until the leader's arrives (or answers
    /// them at once when the generation is complete). librdkafka's mock coordinator
    /// completes a generation with the leader's SyncGroup and answers a follower's that
    /// comes after it INVALID_REQUEST; its tests set a delay so the followers' come first.
    pub leader_sync_delay: Duration,
}

/// The outcome of a rebalance for this member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generation {
    pub generation_id: i32,
    pub member_id: String,
    /// The assignment strategy the group chose.
    pub protocol: String,
    pub is_leader: bool,
    pub assignment: Assignment,
}

/// A member as the leader's assignor sees it.
#[derive(Clone, Debug)]
pub struct MemberSubscription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub subscription: Subscription,
}

/// The leader's assignment function: given the chosen protocol and every member's
/// subscription, an assignment per member id. (The strategies themselves are
/// [`Assignor`](crate::kafka::consumer::assignor::Assignor)s.)
pub type AssignFn<'a> = dyn FnMut(&str, &[MemberSubscription]) -> Result<BTreeMap<String, Assignment>, String>
    + Send
    + 'a;

/// One member of one consumer group.
pub struct GroupMember {
    cluster: Arc<Cluster>,
    config: GroupConfig,
    coordinator: Option<Arc<Connection>>,
    member_id: String,
    generation_id: i32,
}

/// Attempts at finding a coordinator or rejoining before an error is returned.
const ATTEMPTS: usize = 10;

impl GroupMember {
    pub fn new(cluster: Arc<Cluster>, config: GroupConfig) -> GroupMember {
        GroupMember {
            cluster,
            config,
            coordinator: None,
            member_id: String::new(),
            generation_id: -1,
        }
    }

    /// Changes the session and rebalance timeouts for the next join.
    pub fn set_timeouts(&mut self, session: Duration, rebalance: Duration) {
        self.config.session_timeout = session;
        self.config.rebalance_timeout = rebalance;
    }

    /// Replaces the protocols (and so the subscriptions) sent by the next join: a
    /// cooperative member lists the partitions it still owns.
    pub fn set_protocols(&mut self, protocols: Vec<(String, Subscription)>) {
        self.config.protocols = protocols;
    }

    pub fn group_id(&self) -> &str {
        &self.config.group_id
    }

    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    pub fn generation_id(&self) -> i32 {
        self.generation_id
    }

    fn kafka(&self, api: ApiKey, error_code: i16) -> GroupError {
        let group = self.config.group_id.clone();
        let code = KafkaCode(error_code);
        match error_code {
            code::REBALANCE_IN_PROGRESS | code::ILLEGAL_GENERATION | code::UNKNOWN_MEMBER_ID => {
                GroupError::Rejoin { group, api, code }
            }
            code::FENCED_INSTANCE_ID => GroupError::Fenced {
                group,
                instance: self.config.group_instance_id.clone().unwrap_or_default(),
            },
            _ => GroupError::Kafka { group, api, code },
        }
    }

    fn decode_err(&self, api: ApiKey) -> impl FnOnce(DecodeError) -> GroupError + '_ {
        move |source| GroupError::Decode {
            group: self.config.group_id.clone(),
            api,
            source,
        }
    }

    /// Whether `code` means the coordinator moved or isn't ready: find it again.
    fn coordinator_moved(code: i16) -> bool {
        matches!(
            code,
            code::NOT_COORDINATOR
                | code::COORDINATOR_NOT_AVAILABLE
                | code::COORDINATOR_LOAD_IN_PROGRESS
        )
    }

    /// The coordinator's connection, found with FindCoordinator when unknown or dead.
    async fn coordinator(&mut self) -> Result<Arc<Connection>, GroupError> {
        if let Some(conn) = self.coordinator.as_ref().filter(|c| !c.is_closed()) {
            return Ok(conn.clone());
        }
        self.coordinator = None;
        let mut last = None;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt)).await;
            }
            let ids = self.cluster.brokers();
            let node = ids
                .get(attempt % ids.len().max(1))
                .copied()
                .ok_or(ClusterError::UnknownBroker { node_id: -1 })?;
            let conn = match self.cluster.broker(node).await {
                Ok(conn) => conn,
                Err(e) => {
                    last = Some(GroupError::Cluster(e));
                    continue;
                }
            };
            // v0–v3 name one key; v4+ batch keys (not needed for one group).
            let version = conn.pick_version::<FindCoordinatorRequest>(0..=3)?;
            let request = FindCoordinatorRequest::default()
                .with_key(StrBytes::from_string(self.config.group_id.clone()))
                .with_key_type(0);
            let body = conn.request(&request, version).await?;
            let resp = find_coordinator::decode(body, version)
                .map_err(self.decode_err(ApiKey::FindCoordinator))?;
            let Some(c) = resp.coordinators.first() else {
                last = Some(self.kafka(ApiKey::FindCoordinator, code::COORDINATOR_NOT_AVAILABLE));
                continue;
            };
            if c.error_code != 0 {
                last = Some(self.kafka(ApiKey::FindCoordinator, c.error_code));
                if Self::coordinator_moved(c.error_code) {
                    continue;
                }
                break;
            }
            // A connection of the member's own: the coordinator answers requests on one
            // connection in order, and a JoinGroup it holds for a rebalance would stall
            // every other member's heartbeats queued behind it on a shared connection.
            let addr = format!("{}:{}", c.host, c.port);
            let conn =
                Arc::new(Connection::connect(&addr, self.connection_config().clone()).await?);
            self.coordinator = Some(conn.clone());
            return Ok(conn);
        }
        Err(last.unwrap_or_else(|| {
            self.kafka(ApiKey::FindCoordinator, code::COORDINATOR_NOT_AVAILABLE)
        }))
    }

    fn connection_config(&self) -> &crate::kafka::client::conn::ConnectionConfig {
        self.cluster.connection_config()
    }

    /// Joins the group (or rejoins after a rebalance): JoinGroup, then, as leader, runs
    /// `assign` over the members' subscriptions, then SyncGroup. Returns this member's
    /// generation and assignment. Retries coordinator moves and the member-id handshake
    /// (KIP-394); other errors are returned.
    pub async fn join(&mut self, assign: &mut AssignFn<'_>) -> Result<Generation, GroupError> {
        let mut last = None;
        for attempt in 0..ATTEMPTS {
            if attempt > 0
                && last
                    .as_ref()
                    .is_some_and(|e: &GroupError| !e.needs_rejoin())
            {
                tokio::time::sleep(backoff(attempt)).await;
            }
            match self.try_join(assign).await {
                Ok(generation) => return Ok(generation),
                Err(e) if e.is_retriable() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("ATTEMPTS > 0"))
    }

    async fn try_join(&mut self, assign: &mut AssignFn<'_>) -> Result<Generation, GroupError> {
        let conn = self.coordinator().await?;
        let version = conn.pick_version::<JoinGroupRequest>(join_group::VERSIONS)?;
        let mut protocols = Vec::with_capacity(self.config.protocols.len());
        for (name, subscription) in &self.config.protocols {
            let mut buf = BytesMut::new();
            consumer_protocol::encode_subscription(subscription, &mut buf).map_err(|e| {
                GroupError::Assignor {
                    group: self.config.group_id.clone(),
                    reason: format!("encoding the {name} subscription: {e}"),
                }
            })?;
            protocols.push(
                JoinGroupRequestProtocol::default()
                    .with_name(StrBytes::from_string(name.clone()))
                    .with_metadata(buf.freeze()),
            );
        }
        let request = JoinGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.config.group_id.clone())))
            .with_session_timeout_ms(millis(self.config.session_timeout))
            .with_rebalance_timeout_ms(millis(self.config.rebalance_timeout))
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_group_instance_id(self.instance_id(version >= 5))
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_protocols(protocols);
        // The coordinator holds JoinGroup until the rebalance completes.
        let timeout = self.config.rebalance_timeout + Duration::from_secs(5);
        let body = self.call(&conn, &request, version, timeout).await?;
        let joined =
            join_group::decode(body, version).map_err(self.decode_err(ApiKey::JoinGroup))?;
        match joined.error_code {
            0 => {}
            code::MEMBER_ID_REQUIRED => {
                // KIP-394: the coordinator assigned an id; join again with it.
                self.member_id = joined.member_id;
                return Err(self.kafka(ApiKey::JoinGroup, code::REBALANCE_IN_PROGRESS));
            }
            code::UNKNOWN_MEMBER_ID => {
                self.member_id.clear();
                return Err(self.kafka(ApiKey::JoinGroup, code::UNKNOWN_MEMBER_ID));
            }
            c if Self::coordinator_moved(c) => {
                self.coordinator = None;
                return Err(self.kafka(ApiKey::JoinGroup, c));
            }
            c => return Err(self.kafka(ApiKey::JoinGroup, c)),
        }
        self.member_id = joined.member_id.clone();
        self.generation_id = joined.generation_id;
        let protocol = joined.protocol_name.clone().unwrap_or_default();
        let is_leader = joined.leader == joined.member_id;

        let mut assignments = Vec::new();
        if is_leader && joined.members.len() > 1 && !self.config.leader_sync_delay.is_zero() {
            tokio::time::sleep(self.config.leader_sync_delay).await;
        }
        if is_leader && !joined.skip_assignment {
            let mut members = Vec::with_capacity(joined.members.len());
            for m in &joined.members {
                let subscription = consumer_protocol::decode_subscription(m.metadata.clone())
                    .map_err(self.decode_err(ApiKey::JoinGroup))?;
                members.push(MemberSubscription {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    subscription,
                });
            }
            let group = self.config.group_id.clone();
            let plan = assign(&protocol, &members).map_err(|reason| GroupError::Assignor {
                group: group.clone(),
                reason,
            })?;
            for (member_id, assignment) in plan {
                let mut buf = BytesMut::new();
                consumer_protocol::encode_assignment(&assignment, &mut buf).map_err(|e| {
                    GroupError::Assignor {
                        group: group.clone(),
                        reason: format!("encoding the assignment of {member_id}: {e}"),
                    }
                })?;
                assignments.push(
                    SyncGroupRequestAssignment::default()
                        .with_member_id(StrBytes::from_string(member_id))
                        .with_assignment(buf.freeze()),
                );
            }
        }

        let version = conn.pick_version::<SyncGroupRequest>(sync_group::VERSIONS)?;
        let request = SyncGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.config.group_id.clone())))
            .with_generation_id(self.generation_id)
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_group_instance_id(self.instance_id(version >= 3))
            .with_protocol_type(Some(StrBytes::from_static_str("consumer")))
            .with_protocol_name(Some(StrBytes::from_string(protocol.clone())))
            .with_assignments(assignments);
        let body = self.call(&conn, &request, version, timeout).await?;
        let synced =
            sync_group::decode(body, version).map_err(self.decode_err(ApiKey::SyncGroup))?;
        if synced.error_code != 0 {
            if Self::coordinator_moved(synced.error_code) {
                self.coordinator = None;
            }
            return Err(self.kafka(ApiKey::SyncGroup, synced.error_code));
        }
        // An empty assignment (a member with nothing to do) has no bytes at all.
        let assignment = if synced.assignment.is_empty() {
            Assignment {
                version: 0,
                assigned_partitions: Vec::new(),
                user_data: None,
            }
        } else {
            consumer_protocol::decode_assignment(synced.assignment)
                .map_err(self.decode_err(ApiKey::SyncGroup))?
        };
        Ok(Generation {
            generation_id: self.generation_id,
            member_id: self.member_id.clone(),
            protocol,
            is_leader,
            assignment,
        })
    }

    fn instance_id(&self, supported: bool) -> Option<StrBytes> {
        self.config
            .group_instance_id
            .clone()
            .filter(|_| supported)
            .map(StrBytes::from_string)
    }

    /// Sends a request to the coordinator; a dead connection forgets the coordinator.
    async fn call<R: crate::kafka::protocol::messages::ClientRequest>(
        &mut self,
        conn: &Connection,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<Bytes, GroupError> {
        match conn.request_within(request, version, timeout).await {
            Ok(body) => Ok(body),
            Err(e) => {
                self.coordinator = None;
                Err(e.into())
            }
        }
    }

    /// One heartbeat. [`GroupError::Rejoin`] means a rebalance started (or this member
    /// was evicted): the caller stops work on its partitions and calls [`GroupMember::join`].
    pub async fn heartbeat(&mut self) -> Result<(), GroupError> {
        let conn = self.coordinator().await?;
        let version = conn.pick_version::<HeartbeatRequest>(heartbeat::VERSIONS)?;
        let request = HeartbeatRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.config.group_id.clone())))
            .with_generation_id(self.generation_id)
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_group_instance_id(self.instance_id(version >= 3));
        let timeout = self.connection_config().request_timeout;
        let body = self.call(&conn, &request, version, timeout).await?;
        let resp = heartbeat::decode(body, version).map_err(self.decode_err(ApiKey::Heartbeat))?;
        match resp.error_code {
            0 => Ok(()),
            c => {
                if Self::coordinator_moved(c) {
                    self.coordinator = None;
                }
                Err(self.kafka(ApiKey::Heartbeat, c))
            }
        }
    }

    /// Leaves the group so its partitions are reassigned at once (not after the session
    /// timeout). A static member (group instance id) stays: that's the point of it.
    pub async fn leave(&mut self) -> Result<(), GroupError> {
        if self.member_id.is_empty() || self.config.group_instance_id.is_some() {
            return Ok(());
        }
        let conn = self.coordinator().await?;
        let version = conn.pick_version::<LeaveGroupRequest>(leave_group::VERSIONS)?;
        let group = GroupId(StrBytes::from_string(self.config.group_id.clone()));
        let member = StrBytes::from_string(self.member_id.clone());
        let request = if version >= 3 {
            LeaveGroupRequest::default()
                .with_group_id(group)
                .with_members(vec![MemberIdentity::default().with_member_id(member)])
        } else {
            LeaveGroupRequest::default()
                .with_group_id(group)
                .with_member_id(member)
        };
        let timeout = self.connection_config().request_timeout;
        let body = self.call(&conn, &request, version, timeout).await?;
        let resp =
            leave_group::decode(body, version).map_err(self.decode_err(ApiKey::LeaveGroup))?;
        self.member_id.clear();
        self.generation_id = -1;
        match resp.error_code {
            0 | code::UNKNOWN_MEMBER_ID => Ok(()),
            c => Err(self.kafka(ApiKey::LeaveGroup, c)),
        }
    }

    /// The group as its coordinator describes it: its state and every member (needs no
    /// membership: an unjoined member can ask).
    pub async fn describe(&mut self) -> Result<DescribedGroup, GroupError> {
        let conn = self.coordinator().await?;
        let version = conn.pick_version::<DescribeGroupsRequest>(describe_groups::VERSIONS)?;
        let request = DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(StrBytes::from_string(
                self.config.group_id.clone(),
            ))])
            .with_include_authorized_operations(false);
        let timeout = self.connection_config().request_timeout;
        let body = self.call(&conn, &request, version, timeout).await?;
        let resp = describe_groups::decode(body, version)
            .map_err(self.decode_err(ApiKey::DescribeGroups))?;
        let Some(group) = resp
            .groups
            .into_iter()
            .find(|g| g.group_id == self.config.group_id)
        else {
            return Err(GroupError::NotDescribed {
                group: self.config.group_id.clone(),
            });
        };
        if group.error_code != 0 {
            if Self::coordinator_moved(group.error_code) {
                self.coordinator = None;
            }
            return Err(self.kafka(ApiKey::DescribeGroups, group.error_code));
        }
        Ok(group)
    }
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// 100 ms doubling to 2 s.
fn backoff(attempt: usize) -> Duration {
    Duration::from_millis(100u64 << attempt.min(5)).min(Duration::from_secs(2))
}

#[cfg(test)]
mod tests;
