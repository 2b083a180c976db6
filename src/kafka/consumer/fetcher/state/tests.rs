//! [`FetchState`] fed by hand: leaders, answers and time are arguments, so every decision
//! (reset policy, backoff, pause, sessions, throttling) is checked with no socket and no
//! sleep.

use super::super::plan::Sent;
use super::super::request::LeaderOutcome;
use super::super::tests::batch;
use super::*;
use crate::kafka::client::conn::ConnError;
use crate::kafka::consumer::fetcher::OffsetReset;
use crate::kafka::protocol::messages::fetch::{self as proto, FetchResponse};
use std::time::Duration;

const T: &str = "t";

fn config() -> FetchConfig {
    FetchConfig {
        retry_backoff: Duration::from_millis(100),
        retry_backoff_max: Duration::from_millis(350),
        max_wait: Duration::from_secs(1),
        ..FetchConfig::default()
    }
}

/// Every partition of `T` led by node 1 at epoch 0.
fn leader(_: &str, _: i32) -> Option<Leader> {
    Some(Leader {
        node_id: 1,
        epoch: 0,
    })
}

fn no_leader(_: &str, _: i32) -> Option<Leader> {
    None
}

fn planned_partitions(jobs: &[LeaderFetch]) -> Vec<(i32, i64)> {
    let mut out: Vec<(i32, i64)> = jobs
        .iter()
        .flat_map(|j| j.plan.iter().map(|p| (p.key.1, p.offset)))
        .collect();
    out.sort_unstable();
    out
}

fn partition(p: i32, error_code: i16, records: bytes::Bytes) -> proto::FetchPartition {
    proto::FetchPartition {
        partition: p,
        error_code,
        high_watermark: 100,
        last_stable_offset: 100,
        log_start_offset: 0,
        aborted_transactions: None,
        preferred_read_replica: -1,
        records,
    }
}

fn response(session_id: i32, partitions: Vec<proto::FetchPartition>) -> FetchResponse {
    FetchResponse {
        throttle_time_ms: 0,
        error_code: 0,
        session_id,
        topics: vec![proto::FetchTopic {
            name: Some(T.to_string()),
            topic_id: [0; 16],
            partitions,
        }],
    }
}

/// The outcome of `job` answered with `result`, sent as `sent`.
fn outcome(
    job: LeaderFetch,
    sent: Sent,
    result: Result<FetchResponse, FetchError>,
) -> LeaderOutcome {
    LeaderOutcome {
        node: job.node,
        broker: "b:9092".into(),
        plan: job.plan,
        sent,
        result,
    }
}

fn closed() -> FetchError {
    FetchError::Conn(ConnError::Closed {
        broker: "b:9092".into(),
        reason: "reset".into(),
    })
}

#[test]
fn symbolic_positions_are_resolved_by_leader_and_known_offsets_are_fetched() {
    let now = Instant::now();
    let mut s = FetchState::new(config());
    s.assign(T, 0, FetchPosition::Offset(5));
    s.assign(T, 1, FetchPosition::Earliest);
    assert_eq!(s.position(T, 0), Some(5));
    assert_eq!(s.position(T, 1), None, "unknown until ListOffsets answers");
    let asks = s.resolutions(now, leader);
    assert_eq!(asks.len(), 1);
    let parts = &asks[&1];
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].spec, FetchPosition::Earliest);
    assert_eq!(planned_partitions(&s.plan_fetches(now, leader)), [(0, 5)]);
    let answers = [((T.to_string(), 1), Ok(42))].into_iter().collect();
    assert!(s.resolved(parts, Ok(answers), now).is_none());
    assert_eq!(s.position(T, 1), Some(42));
    assert!(s.take_resets().is_empty(), "a first resolution is no reset");
    assert_eq!(
        planned_partitions(&s.plan_fetches(now, leader)),
        [(0, 5), (1, 42)]
    );
}

#[test]
fn out_of_range_under_earliest_resolves_again_and_reports_the_reset() {
    let now = Instant::now();
    let mut s = FetchState::new(config());
    s.assign(T, 0, FetchPosition::Offset(7));
    let job = s.plan_fetches(now, leader).pop().unwrap();
    let answer = response(0, vec![partition(0, 1, bytes::Bytes::new())]);
    let got = s.apply(vec![outcome(job, Sent::Sessionless, Ok(answer))], now);
    assert!(got.unwrap().is_empty());
    assert_eq!(s.position(T, 0), None, "the policy's position is looked up");
    let asks = s.resolutions(now, leader);
    assert_eq!(asks[&1][0].spec, FetchPosition::Earliest);
    let answers = [((T.to_string(), 0), Ok(20))].into_iter().collect();
    assert!(s.resolved(&asks[&1], Ok(answers), now).is_none());
    assert_eq!(
        s.take_resets(),
        [PositionReset {
            topic: T.into(),
            partition: 0,
            from: 7,
            to: 20
        }]
    );
    assert_eq!(s.position(T, 0), Some(20));
}

#[test]
fn out_of_range_under_latest_asks_for_the_end_and_none_is_an_error() {
    let now = Instant::now();
    let mut s = FetchState::new(FetchConfig {
        offset_reset: OffsetReset::Latest,
        ..config()
    });
    s.assign(T, 0, FetchPosition::Offset(7));
    let job = s.plan_fetches(now, leader).pop().unwrap();
    let answer = response(0, vec![partition(0, 1, bytes::Bytes::new())]);
    s.apply(vec![outcome(job, Sent::Sessionless, Ok(answer))], now)
        .unwrap();
    assert_eq!(
        s.resolutions(now, leader)[&1][0].spec,
        FetchPosition::Latest
    );

    let mut s = FetchState::new(FetchConfig {
        offset_reset: OffsetReset::None,
        ..config()
    });
    s.assign(T, 0, FetchPosition::Offset(7));
    let job = s.plan_fetches(now, leader).pop().unwrap();
    let answer = response(0, vec![partition(0, 1, bytes::Bytes::new())]);
    let e = s
        .apply(vec![outcome(job, Sent::Sessionless, Ok(answer))], now)
        .unwrap_err();
    assert!(matches!(
        e,
        FetchError::OffsetOutOfRange {
            offset: 7,
            partition: 0,
            ..
        }
    ));
    assert_eq!(s.position(T, 0), Some(7), "no position moves on an error");
    assert!(s.resolutions(now, leader).is_empty());
}

#[test]
fn a_retriable_error_backs_off_doubling_up_to_the_maximum() {
    let t0 = Instant::now();
    let mut s = FetchState::new(config());
    s.assign(T, 0, FetchPosition::Offset(0));
    let mut now = t0;
    // 100 ms, 200 ms, then capped at 350 ms.
    for wait in [100, 200, 350, 350] {
        let job = s.plan_fetches(now, leader).pop().expect("due");
        // NOT_LEADER_OR_FOLLOWER.
        let answer = response(0, vec![partition(0, 6, bytes::Bytes::new())]);
        let got = s.apply(vec![outcome(job, Sent::Sessionless, Ok(answer))], now);
        assert!(got.unwrap().is_empty());
        let wait = Duration::from_millis(wait);
        assert!(
            s.plan_fetches(now + wait - Duration::from_millis(1), leader)
                .is_empty(),
            "waits {wait:?}"
        );
        assert_eq!(s.idle_until(now), now + wait, "idles until the retry");
        now += wait;
    }
    assert_eq!(s.retried_errors(), 4);
    assert!(
        s.refresh_due(now, |_| true).is_some(),
        "a failed leader reloads the metadata"
    );
}

#[test]
fn a_transport_failure_retries_every_partition_of_the_leader() {
    let now = Instant::now();
    let mut s = FetchState::new(config());
    s.assign(T, 0, FetchPosition::Offset(0));
    s.assign(T, 1, FetchPosition::Offset(0));
    let job = s.plan_fetches(now, leader).pop().unwrap();
    let got = s.apply(vec![outcome(job, Sent::Sessionless, Err(closed()))], now);
    assert!(got.unwrap().is_empty(), "transient: not an error");
    assert_eq!(s.retried_errors(), 2);
    assert!(s.plan_fetches(now, leader).is_empty());
    let later = now + Duration::from_millis(100);
    assert_eq!(
        planned_partitions(&s.plan_fetches(later, leader)),
        [(0, 0), (1, 0)]
    );
}

#[test]
fn a_partition_without_a_leader_waits_and_the_metadata_reload_backs_off() {
    let now = Instant::now();
    let mut s = FetchState::new(config());
    assert!(s.refresh_due(now, |_| false).is_none(), "nothing assigned");
    s.assign(T, 0, FetchPosition::Offset(0));
    assert_eq!(
        s.refresh_due(now, |_| false),
        Some(vec![T.to_string()]),
        "an unknown topic is loaded"
    );
    assert!(s.refresh_due(now, |_| true).is_none());
    assert!(s.plan_fetches(now, no_leader).is_empty());
    assert_eq!(s.refresh_due(now, |_| true), Some(vec![T.to_string()]));
    s.refreshed(false, now);
    assert!(s.refresh_due(now, |_| true).is_none(), "backing off");
    let later = now + Duration::from_millis(100);
    assert!(s.refresh_due(later, |_| true).is_some());
    s.refreshed(true, later);
    assert!(s.refresh_due(later, |_| true).is_none());
}

#[test]
fn paused_partitions_are_not_fetched_and_their_answers_are_dropped() {
    let now = Instant::now();
    let mut s = FetchState::new(config());
    s.assign(T, 0, FetchPosition::Offset(0));
    s.assign(T, 1, FetchPosition::Offset(0));
    let job = s.plan_fetches(now, leader).pop().unwrap();
    s.pause(T, 1);
    assert!(s.is_paused(T, 1));
    let answer = response(
        0,
        vec![partition(0, 0, batch(0..3)), partition(1, 0, batch(0..2))],
    );
    let got = s
        .apply(vec![outcome(job, Sent::Sessionless, Ok(answer))], now)
        .unwrap();
    assert_eq!(got.len(), 1, "the paused partition's records are dropped");
    assert_eq!((got[0].partition, got[0].next_offset), (0, 3));
    assert_eq!((s.position(T, 0), s.position(T, 1)), (Some(3), Some(0)));
    assert_eq!(planned_partitions(&s.plan_fetches(now, leader)), [(0, 3)]);
    s.resume(T, 1);
    assert_eq!(
        planned_partitions(&s.plan_fetches(now, leader)),
        [(0, 3), (1, 0)]
    );
    assert_eq!(s.idle_until(now), now + Duration::from_secs(1), "max_wait");
}

#[test]
fn a_non_retriable_error_moves_no_position_of_any_partition() {
    let now = Instant::now();
    let mut s = FetchState::new(config());
    s.assign(T, 0, FetchPosition::Offset(0));
    s.assign(T, 1, FetchPosition::Offset(0));
    let job = s.plan_fetches(now, leader).pop().unwrap();
    // TOPIC_AUTHORIZATION_FAILED on partition 1.
    let answer = response(
        0,
        vec![
            partition(0, 0, batch(0..3)),
            partition(1, 29, bytes::Bytes::new()),
        ],
    );
    let e = s
        .apply(vec![outcome(job, Sent::Sessionless, Ok(answer))], now)
        .unwrap_err();
    assert_eq!(e.partition(), Some((T, 1)));
    assert_eq!((s.position(T, 0), s.position(T, 1)), (Some(0), Some(0)));
}

#[test]
fn a_session_the_broker_opened_is_used_by_the_next_request_and_dropped_when_lost() {
    let now = Instant::now();
    let mut s = FetchState::new(config());
    s.assign(T, 0, FetchPosition::Offset(0));
    let job = s.plan_fetches(now, leader).pop().unwrap();
    assert!(job.session.is_none());
    let answer = response(33, vec![partition(0, 0, batch(0..2))]);
    s.apply(vec![outcome(job, Sent::Full, Ok(answer))], now)
        .unwrap();
    let job = s.plan_fetches(now, leader).pop().unwrap();
    let session = job
        .session
        .clone()
        .expect("the session goes with the request");
    assert_eq!(session.id, 33);
    // FETCH_SESSION_ID_NOT_FOUND: the next request starts over, without the session.
    let mut lost = response(0, vec![]);
    lost.error_code = 70;
    s.apply(
        vec![outcome(job, Sent::Incremental(session), Ok(lost))],
        now,
    )
    .unwrap();
    assert!(s.plan_fetches(now, leader).pop().unwrap().session.is_none());
}

#[test]
fn a_throttling_leader_is_not_asked_until_the_throttle_ends() {
    let now = Instant::now();
    let mut s = FetchState::new(config());
    s.assign(T, 0, FetchPosition::Offset(0));
    let job = s.plan_fetches(now, leader).pop().unwrap();
    let mut answer = response(0, vec![partition(0, 0, batch(0..1))]);
    answer.throttle_time_ms = 250;
    s.apply(vec![outcome(job, Sent::Sessionless, Ok(answer))], now)
        .unwrap();
    assert!(
        s.plan_fetches(now + Duration::from_millis(249), leader)
            .is_empty()
    );
    assert_eq!(
        planned_partitions(&s.plan_fetches(now + Duration::from_millis(250), leader)),
        [(0, 1)]
    );
}

#[test]
fn an_unassigned_partition_forgets_its_pending_reset() {
    let now = Instant::now();
    let mut s = FetchState::new(config());
    s.assign(T, 0, FetchPosition::Offset(7));
    let job = s.plan_fetches(now, leader).pop().unwrap();
    let answer = response(0, vec![partition(0, 1, bytes::Bytes::new())]);
    s.apply(vec![outcome(job, Sent::Sessionless, Ok(answer))], now)
        .unwrap();
    let asks = s.resolutions(now, leader);
    let answers = [((T.to_string(), 0), Ok(20))].into_iter().collect();
    s.resolved(&asks[&1], Ok(answers), now);
    assert_eq!(s.resets_pending(), 1);
    s.unassign(T, 0);
    assert_eq!(s.resets_pending(), 0);
    assert!(s.assigned().is_empty());
}
