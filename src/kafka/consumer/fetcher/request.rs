//! The I/O of a [`super::Fetcher`]: one Fetch request per leader (full, or incremental in
//! a KIP-227 session) and ListOffsets to resolve symbolic positions, each on a shared
//! [`Cluster`].
//!
//! Each runs as its own task and hands back what it sent and what came back; it keeps no
//! state, decides nothing and applies nothing: the requests are built in `plan.rs`, the
//! answers applied by the state machine.

use super::plan::{
    FETCH_VERSIONS, LEGACY_FETCH_VERSIONS, LeaderFetch, Planned, Resolve, SESSION_VERSION, Sent,
    list_offsets_request,
};
use super::{FetchError, FetchPosition, Isolation};
use crate::kafka::TopicPartition;
use crate::kafka::client::cluster::Cluster;
use crate::kafka::client::conn::ConnError;
use crate::kafka::protocol::messages::fetch::{self, FetchResponse};
use crate::kafka::protocol::messages::list_offsets;
use kafka_protocol::messages::{ApiKey, FetchRequest, ListOffsetsRequest};
use std::collections::HashMap;
use std::sync::Arc;

/// What one leader's Fetch request came to.
pub(super) struct LeaderOutcome {
    pub node: i32,
    /// The broker's address, or its node id when no connection was made.
    pub broker: String,
    /// Every partition the broker fetches for us (in a session: unchanged ones too).
    pub plan: Vec<Planned>,
    pub sent: Sent,
    pub result: Result<FetchResponse, FetchError>,
}

impl LeaderFetch {
    pub async fn run(self, cluster: Arc<Cluster>) -> LeaderOutcome {
        let mut broker = format!("node {}", self.node);
        let mut sent = Sent::Sessionless;
        let result = self.send(&cluster, &mut broker, &mut sent).await;
        LeaderOutcome {
            node: self.node,
            broker,
            plan: self.plan,
            sent,
            result,
        }
    }

    async fn send(
        &self,
        cluster: &Cluster,
        broker: &mut String,
        sent: &mut Sent,
    ) -> Result<FetchResponse, FetchError> {
        let conn = cluster.broker(self.node).await?;
        *broker = conn.broker().to_string();
        let version = match conn.pick_version::<FetchRequest>(FETCH_VERSIONS) {
            Ok(v) => v,
            Err(e) => {
                let (lo, hi) = LEGACY_FETCH_VERSIONS.into_inner();
                let Some(v) = conn.versions().pick(ApiKey::Fetch as i16, lo, hi) else {
                    return Err(e.into());
                };
                *sent = Sent::Sessionless;
                // Request header v1 and response header v0, as for every pre-flexible API.
                let body = conn
                    .request_with(ApiKey::Fetch, v, 1, 0, |buf| {
                        self.encode_legacy(v, buf);
                        Ok(())
                    })
                    .await?;
                return fetch::decode(body, v).map_err(|source| {
                    FetchError::Conn(ConnError::Decode {
                        broker: conn.broker().into(),
                        api: ApiKey::Fetch,
                        version: v,
                        source,
                    })
                });
            }
        };
        *sent = if !self.sessions || version < SESSION_VERSION {
            Sent::Sessionless
        } else {
            match &self.session {
                Some(s) => Sent::Incremental(s.clone()),
                None => Sent::Full,
            }
        };
        let request = self.request(sent, version);
        let body = conn.request(&request, version).await?;
        fetch::decode(body, version).map_err(|source| {
            FetchError::Conn(ConnError::Decode {
                broker: conn.broker().into(),
                api: ApiKey::Fetch,
                version,
                source,
            })
        })
    }
}

/// ListOffsets to `node` for `parts`: per partition, the offset or the Kafka error code.
/// A timestamp no record reaches resolves to the end of the log.
pub(super) async fn list_offsets(
    cluster: &Cluster,
    node: i32,
    parts: &[Resolve],
    isolation: Isolation,
) -> Result<HashMap<TopicPartition, Result<i64, i16>>, FetchError> {
    let conn = cluster.broker(node).await?;
    let version = conn.pick_version::<ListOffsetsRequest>(list_offsets::VERSIONS)?;
    let ask = |items: Vec<(&Resolve, i64)>| list_offsets_request(version, isolation, items);
    let query = async |request: ListOffsetsRequest| -> Result<_, FetchError> {
        let body = conn.request(&request, version).await?;
        let decoded = list_offsets::decode(body, version).map_err(|source| ConnError::Decode {
            broker: conn.broker().into(),
            api: ApiKey::ListOffsets,
            version,
            source,
        })?;
        let mut answers = HashMap::new();
        for t in decoded.topics {
            for p in t.partitions {
                let answer = if p.error_code == 0 {
                    Ok(p.offset)
                } else {
                    Err(p.error_code)
                };
                answers.insert((t.name.clone(), p.partition), answer);
            }
        }
        Ok(answers)
    };
    let first = parts
        .iter()
        .map(|r| (r, r.spec.list_offsets_timestamp()))
        .collect();
    let mut answers = query(ask(first)).await?;
    let misses: Vec<(&Resolve, i64)> = parts
        .iter()
        .filter(|r| {
            matches!(r.spec, FetchPosition::Timestamp(_)) && answers.get(&r.key) == Some(&Ok(-1))
        })
        .map(|r| (r, -1))
        .collect();
    if !misses.is_empty() {
        let latest = query(ask(misses)).await?;
        answers.extend(latest);
    }
    Ok(answers)
}
