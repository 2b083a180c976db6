//! Which `kafka-protocol` request types the client sends, with their API keys and
//! response types.
//!
//! `kafka-protocol`'s own `Request` trait exists only with its `broker` feature, which
//! would compile (and expose) the request decoders and response encoders we never use;
//! this trait carries just what the connection needs to frame a request.

use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, HeaderVersion, Message};

/// A request the client can send.
pub trait ClientRequest: Encodable + HeaderVersion + Message {
    /// Its API key.
    const KEY: ApiKey;
    /// Its response type (for the response header version).
    type Response: HeaderVersion;
}

macro_rules! client_requests {
    ($($request:ident => $response:ident, $key:ident;)*) => {
        $(impl ClientRequest for $request {
            const KEY: ApiKey = ApiKey::$key;
            type Response = $response;
        })*
    };
}

client_requests! {
    ApiVersionsRequest => ApiVersionsResponse, ApiVersions;
    MetadataRequest => MetadataResponse, Metadata;
    FetchRequest => FetchResponse, Fetch;
    ListOffsetsRequest => ListOffsetsResponse, ListOffsets;
    OffsetCommitRequest => OffsetCommitResponse, OffsetCommit;
    OffsetFetchRequest => OffsetFetchResponse, OffsetFetch;
    FindCoordinatorRequest => FindCoordinatorResponse, FindCoordinator;
    JoinGroupRequest => JoinGroupResponse, JoinGroup;
    SyncGroupRequest => SyncGroupResponse, SyncGroup;
    HeartbeatRequest => HeartbeatResponse, Heartbeat;
    LeaveGroupRequest => LeaveGroupResponse, LeaveGroup;
    DescribeGroupsRequest => DescribeGroupsResponse, DescribeGroups;
    ProduceRequest => ProduceResponse, Produce;
    InitProducerIdRequest => InitProducerIdResponse, InitProducerId;
    CreateTopicsRequest => CreateTopicsResponse, CreateTopics;
    SaslHandshakeRequest => SaslHandshakeResponse, SaslHandshake;
    SaslAuthenticateRequest => SaslAuthenticateResponse, SaslAuthenticate;
}
