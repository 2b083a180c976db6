//! Unit tests of the runtime: one consumer's loop ([`Runner`]) and the actions it carries
//! out, driven through in-memory fakes of our own seams ([`Source`] and [`Invoker`]), and
//! the supervisor and the mapping's states, through fakes of [`Lag`] and of the consumers
//! ([`StartMember`]); with paused time and no sockets.

use super::lag::Lag;
use super::member::{Runner, StartMember};
use super::records::{EngineRec, Events};
use super::source::Source;
use super::supervisor::Supervisor;
use super::{MappingStatus, RuntimeError, Shared, State, Stats, operate, stopped};
use crate::config::{Mapping, from_cli_input_json};
use crate::engine::Millis;
use crate::invoke::{Invocation, InvokeError, Invoker};
use crate::kafka::TopicPartition;
use crate::kafka::client::cluster::ClusterConfig;
use crate::kafka::client::conn::ConnectionConfig;
use crate::kafka::consumer::fetcher::{PartitionRecords, PositionReset};
use crate::kafka::consumer::{ConsumerError, ConsumerEvent};
use crate::kafka::protocol::messages::describe_groups::DescribedGroup;
use crate::kafka::protocol::records::{Headers, Record, TimestampType};
use crate::metrics::Metrics;
use bytes::Bytes;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::{mpsc, oneshot, watch};

const TOPIC: &str = "orders";

fn tp(partition: i32) -> TopicPartition {
    (TOPIC.to_string(), partition)
}

/// What the fake source was asked to do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Call {
    Commit(BTreeMap<TopicPartition, i64>),
    Release(TopicPartition),
    Pause(TopicPartition),
    Resume(TopicPartition),
    Close,
}

fn commit(offsets: &[(i32, i64)]) -> Call {
    Call::Commit(offsets.iter().map(|(p, o)| (tp(*p), *o)).collect())
}

/// A [`Source`] that hands out the events the test sends and records what it is asked.
struct FakeSource {
    events: mpsc::UnboundedReceiver<ConsumerEvent>,
    calls: watch::Sender<Vec<Call>>,
    member_id: watch::Sender<String>,
    positions: HashMap<TopicPartition, i64>,
}

impl FakeSource {
    fn record(&self, call: Call) {
        self.calls.send_modify(|c| c.push(call));
    }
}

impl Source for FakeSource {
    async fn poll(&mut self) -> Result<ConsumerEvent, ConsumerError> {
        match self.events.recv().await {
            Some(event) => Ok(event),
            None => std::future::pending().await,
        }
    }

    fn commit(
        &self,
        offsets: BTreeMap<TopicPartition, i64>,
    ) -> impl Future<Output = Result<(), ConsumerError>> + Send {
        self.record(Call::Commit(offsets));
        std::future::ready(Ok(()))
    }

    fn release(&mut self, partition: &TopicPartition) {
        self.record(Call::Release(partition.clone()));
    }

    fn pause(&mut self, partition: &TopicPartition) {
        self.record(Call::Pause(partition.clone()));
    }

    fn resume(&mut self, partition: &TopicPartition) {
        self.record(Call::Resume(partition.clone()));
    }

    fn position(&mut self, partition: &TopicPartition) -> Option<i64> {
        Some(self.positions.get(partition).copied().unwrap_or(0))
    }

    fn retried_errors(&mut self) -> u64 {
        0
    }

    fn member_id(&self) -> watch::Receiver<String> {
        self.member_id.subscribe()
    }

    fn close(self) -> impl Future<Output = Result<(), ConsumerError>> + Send {
        self.record(Call::Close);
        std::future::ready(Ok(()))
    }
}

type Answer = Result<Invocation, InvokeError>;

/// An invocation the fake invoker received: its event and where its answer goes.
struct Invoked {
    event: Value,
    reply: oneshot::Sender<Answer>,
}

impl Invoked {
    /// `(partition, offset)` of every record of the event.
    fn records(&self) -> Vec<(i32, i64)> {
        let mut out = Vec::new();
        for group in self.event["records"].as_object().unwrap().values() {
            for r in group.as_array().unwrap() {
                out.push((
                    r["partition"].as_i64().unwrap() as i32,
                    r["offset"].as_i64().unwrap(),
                ));
            }
        }
        out
    }

    fn answer(self, answer: Answer) {
        let _ = self.reply.send(answer);
    }

    fn ok(self) {
        self.answer(Ok(invocation(None)));
    }
}

fn invocation(function_error: Option<&str>) -> Invocation {
    Invocation {
        status_code: 200,
        function_error: function_error.map(Into::into),
        executed_version: Some("$LATEST".into()),
        payload: Bytes::from_static(b"null"),
    }
}

/// An [`Invoker`] whose every call waits for the test's answer.
struct FakeInvoker {
    calls: mpsc::UnboundedSender<Invoked>,
}

impl Invoker for FakeInvoker {
    fn invoke(&self, payload: Bytes) -> impl Future<Output = Answer> + Send {
        let calls = self.calls.clone();
        async move {
            let (reply, answer) = oneshot::channel();
            let event = serde_json::from_slice(&payload).expect("the event is JSON");
            calls
                .send(Invoked { event, reply })
                .expect("the test listens");
            answer.await.unwrap_or(Err(InvokeError::Service {
                message: "the test dropped the call".into(),
            }))
        }
    }
}

/// Milliseconds that follow tokio's (paused) clock, so the engine's deadlines and the
/// loop's sleeps agree.
fn clock() -> Millis {
    static BASE: OnceLock<std::time::Instant> = OnceLock::new();
    let base = *BASE.get_or_init(std::time::Instant::now);
    let since = tokio::time::Instant::now()
        .into_std()
        .saturating_duration_since(base);
    1_700_000_000_000 + since.as_millis() as Millis
}

fn mapping(extra: Value) -> Mapping {
    let mut m = json!({
        "FunctionName": "my-fn",
        "Topics": [TOPIC],
        "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["localhost:9092"]}},
        "StartingPosition": "TRIM_HORIZON",
        "BatchSize": 10,
        "MaximumBatchingWindowInSeconds": 0,
        "SelfManagedKafkaEventSourceConfig": {"ConsumerGroupId": "group"},
    });
    for (k, v) in extra.as_object().unwrap() {
        m[k] = v.clone();
    }
    from_cli_input_json(&m.to_string()).expect("a valid mapping")
}

/// What the consumers of `mapping(extra)` share, with the fake invoker's calls.
fn shared(extra: Value) -> (Arc<Shared<FakeInvoker>>, mpsc::UnboundedReceiver<Invoked>) {
    let mapping = mapping(extra);
    let (invoked_tx, invoked) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        metrics: Arc::new(Metrics::new(&mapping.uuid.to_string(), TOPIC)),
        mapping: Arc::new(mapping),
        cluster_config: ClusterConfig {
            bootstrap: vec!["localhost:9092".into()],
            connection: ConnectionConfig::default(),
        },
        bootstrap: "localhost:9092".into(),
        invoker: Arc::new(FakeInvoker { calls: invoked_tx }),
        destination: None,
        status: watch::channel(MappingStatus::default()).0,
        member_ids: Mutex::new(BTreeMap::new()),
    });
    (shared, invoked)
}

/// One consumer running on a task of its own, over the fakes.
struct Member {
    events: mpsc::UnboundedSender<ConsumerEvent>,
    calls: watch::Receiver<Vec<Call>>,
    invoked: mpsc::UnboundedReceiver<Invoked>,
    status: watch::Receiver<MappingStatus>,
    stop: watch::Sender<bool>,
    shared: Arc<Shared<FakeInvoker>>,
    task: tokio::task::JoinHandle<Result<Stats, RuntimeError>>,
}

impl Member {
    fn start(extra: Value) -> Member {
        let (shared, invoked) = shared(extra);
        let status = shared.status.subscribe();
        let (events_tx, events) = mpsc::unbounded_channel();
        let (calls_tx, calls) = watch::channel(Vec::new());
        let (stop, stopped) = watch::channel(false);
        let source = FakeSource {
            events,
            calls: calls_tx,
            member_id: watch::channel("member-1".to_string()).0,
            positions: HashMap::new(),
        };
        let runner = Runner::new(shared.clone(), source, clock);
        let task = tokio::spawn(runner.serve(0, stopped));
        Member {
            events: events_tx,
            calls,
            invoked,
            status,
            stop,
            shared,
            task,
        }
    }

    fn send(&self, event: ConsumerEvent) {
        self.events.send(event).expect("the member polls");
    }

    fn assign(&self, partitions: &[i32]) {
        self.send(ConsumerEvent::Assigned(
            partitions.iter().map(|p| tp(*p)).collect(),
        ));
    }

    /// Records `offsets` of `partition`, the position then past the last.
    fn records(&self, partition: i32, offsets: std::ops::Range<i64>) {
        self.send(ConsumerEvent::Records(vec![fetched(partition, offsets)]));
    }

    async fn invoked(&mut self) -> Invoked {
        self.invoked.recv().await.expect("an invocation")
    }

    /// The next two invocations, which are of partitions 0 and 1 (in either order):
    /// partition 0's, then partition 1's.
    async fn invoked_0_and_1(&mut self) -> (Invoked, Invoked) {
        let first = self.invoked().await;
        let second = self.invoked().await;
        if first.records()[0].0 == 0 {
            (first, second)
        } else {
            (second, first)
        }
    }

    /// Waits until the source was asked `call`.
    async fn wait_for(&mut self, call: &Call) {
        self.calls
            .wait_for(|c| c.contains(call))
            .await
            .expect("the source lives");
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.borrow().clone()
    }

    fn commits(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| matches!(c, Call::Commit(_)))
            .collect()
    }

    async fn stop(self) -> (Result<Stats, RuntimeError>, Vec<Call>) {
        let _ = self.stop.send(true);
        let result = self.task.await.expect("the member task");
        let calls = self.calls.borrow().clone();
        (result, calls)
    }
}

fn fetched(partition: i32, offsets: std::ops::Range<i64>) -> PartitionRecords {
    let next_offset = offsets.end;
    PartitionRecords {
        topic: TOPIC.into(),
        partition,
        high_watermark: next_offset,
        last_stable_offset: next_offset,
        log_start_offset: 0,
        raw: Bytes::new(),
        records: offsets
            .map(|offset| Record {
                offset,
                timestamp: clock(),
                timestamp_type: TimestampType::CreateTime,
                key: None,
                value: Some(Bytes::from(format!("{{\"n\": {offset}}}"))),
                headers: Headers::default(),
            })
            .collect(),
        next_offset,
    }
}

/// Waits until the status satisfies `f`.
async fn status_until(
    status: &mut watch::Receiver<MappingStatus>,
    f: impl Fn(&MappingStatus) -> bool,
) -> MappingStatus {
    status.wait_for(|s| f(s)).await.expect("the status").clone()
}

#[tokio::test(start_paused = true)]
async fn a_successful_invocation_is_committed_past_its_last_record() {
    let mut m = Member::start(json!({}));
    m.assign(&[0]);
    m.records(0, 0..3);
    let call = m.invoked().await;
    assert_eq!(call.records(), vec![(0, 0), (0, 1), (0, 2)]);
    assert!(
        m.commits().is_empty(),
        "nothing committed before the answer"
    );
    call.ok();
    m.wait_for(&commit(&[(0, 3)])).await;
    let status = status_until(&mut m.status, |s| s.last_processing_result == "OK").await;
    assert_eq!(status.records_invoked, 3);
    let (result, calls) = m.stop().await;
    let stats = result.unwrap();
    assert_eq!(stats.invocations, 1);
    assert_eq!(stats.records_invoked, 3);
    assert_eq!(stats.commits, 1);
    assert_eq!(
        calls,
        vec![commit(&[(0, 3)]), Call::Release(tp(0)), Call::Close]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_invocation_is_not_committed_and_retried() {
    let mut m = Member::start(json!({}));
    m.assign(&[0]);
    m.records(0, 0..2);
    m.invoked().await.answer(Ok(invocation(Some("Unhandled"))));
    status_until(&mut m.status, |s| {
        s.last_processing_result == "PROBLEM: Function call failed (Unhandled)"
    })
    .await;
    // The retry comes after a backoff (paused time passes it) with the same records.
    let retry = m.invoked().await;
    assert_eq!(retry.records(), vec![(0, 0), (0, 1)]);
    assert!(m.commits().is_empty(), "a failed batch is not committed");
    retry.ok();
    m.wait_for(&commit(&[(0, 2)])).await;
    status_until(&mut m.status, |s| s.last_processing_result == "OK").await;
    let (result, _) = m.stop().await;
    assert_eq!(result.unwrap().invocations, 2);
}

#[tokio::test(start_paused = true)]
async fn a_lambda_service_error_is_retried_not_committed() {
    let mut m = Member::start(json!({}));
    m.assign(&[0]);
    m.records(0, 0..1);
    m.invoked().await.answer(Err(InvokeError::Throttled {
        message: "Rate exceeded".into(),
    }));
    let retry = m.invoked().await;
    assert!(m.commits().is_empty());
    let status = m.status.borrow().clone();
    assert!(
        status.last_processing_result.starts_with("PROBLEM: "),
        "{status}"
    );
    retry.ok();
    m.wait_for(&commit(&[(0, 1)])).await;
    assert_eq!(m.shared.metrics.throttled.get(), 1);
    m.stop().await.0.unwrap();
}

#[tokio::test(start_paused = true)]
async fn filtered_out_records_of_several_partitions_are_committed_together() {
    let pattern = json!({"value": {"n": [1000]}}).to_string();
    let m = Member::start(json!({"FilterCriteria": {"Filters": [{"Pattern": pattern}]}}));
    m.assign(&[0, 1]);
    m.send(ConsumerEvent::Records(vec![
        fetched(0, 0..3),
        fetched(1, 0..2),
    ]));
    let mut m = m;
    m.wait_for(&commit(&[(0, 3), (1, 2)])).await;
    assert_eq!(m.commits(), vec![commit(&[(0, 3), (1, 2)])], "one commit");
    assert!(m.invoked.try_recv().is_err(), "nothing invoked");
    let stats = m.stop().await.0.unwrap();
    assert_eq!(stats.records_filtered_out, 5);
    assert_eq!(stats.invocations, 0);
}

#[tokio::test(start_paused = true)]
async fn partitions_are_invoked_concurrently_and_committed_each_after_its_own_success() {
    let mut m = Member::start(json!({}));
    m.assign(&[0, 1]);
    m.send(ConsumerEvent::Records(vec![
        fetched(0, 0..2),
        fetched(1, 0..4),
    ]));
    let (p0, p1) = m.invoked_0_and_1().await;
    p1.ok();
    m.wait_for(&commit(&[(1, 4)])).await;
    assert_eq!(
        m.commits(),
        vec![commit(&[(1, 4)])],
        "partition 0 still runs"
    );
    p0.ok();
    m.wait_for(&commit(&[(0, 2)])).await;
    m.stop().await.0.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_revoked_partition_finishes_its_invocation_commits_then_is_released() {
    let mut m = Member::start(json!({}));
    m.assign(&[0, 1]);
    m.records(0, 0..2);
    let p0 = m.invoked().await;
    m.send(ConsumerEvent::Revoked(vec![tp(0)]));
    // Polling goes on for the partitions kept.
    m.records(1, 5..7);
    let p1 = m.invoked().await;
    assert_eq!(p1.records(), vec![(1, 5), (1, 6)]);
    assert!(
        !m.calls().contains(&Call::Release(tp(0))),
        "not released while its invocation runs"
    );
    p0.ok();
    m.wait_for(&Call::Release(tp(0))).await;
    let calls = m.calls();
    let committed = calls.iter().position(|c| *c == commit(&[(0, 2)]));
    let released = calls.iter().position(|c| *c == Call::Release(tp(0)));
    assert!(
        committed.is_some() && committed < released,
        "committed, then released: {calls:?}"
    );
    p1.ok();
    m.wait_for(&commit(&[(1, 7)])).await;
    m.stop().await.0.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_revoked_partition_with_no_work_is_released_at_once() {
    let mut m = Member::start(json!({}));
    m.assign(&[0]);
    m.send(ConsumerEvent::Revoked(vec![tp(0)]));
    m.wait_for(&Call::Release(tp(0))).await;
    assert!(m.commits().is_empty(), "nothing to commit: {:?}", m.calls());
    m.stop().await.0.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_lost_partition_abandons_its_work_and_commits_nothing() {
    let mut m = Member::start(json!({}));
    m.assign(&[0, 1]);
    m.records(0, 0..3);
    let p0 = m.invoked().await;
    m.send(ConsumerEvent::Lost(vec![tp(0)]));
    // The loop goes on: partition 1 still flows.
    m.records(1, 0..1);
    let p1 = m.invoked().await;
    p1.ok();
    m.wait_for(&commit(&[(1, 1)])).await;
    // The abandoned invocation's answer (if it ever comes) commits nothing.
    p0.ok();
    let (result, calls) = m.stop().await;
    result.unwrap();
    // (Shutdown revokes what is left: partition 1, released.)
    assert_eq!(
        calls,
        vec![commit(&[(1, 1)]), Call::Release(tp(1)), Call::Close],
        "nothing of partition 0"
    );
}

#[tokio::test(start_paused = true)]
async fn a_log_reset_past_missing_offsets_counts_them_dropped_and_goes_on() {
    let mut m = Member::start(json!({}));
    m.assign(&[0]);
    m.send(ConsumerEvent::Reset(vec![PositionReset {
        topic: TOPIC.into(),
        partition: 0,
        from: 0,
        to: 5,
    }]));
    m.records(0, 5..7);
    let call = m.invoked().await;
    assert_eq!(call.records(), vec![(0, 5), (0, 6)]);
    let status = status_until(&mut m.status, |s| s.records_dropped == 5).await;
    assert_eq!(status.records_dropped, 5);
    call.ok();
    m.wait_for(&commit(&[(0, 7)])).await;
    let stats = m.stop().await.0.unwrap();
    assert_eq!(stats.records_dropped, 5);
}

#[tokio::test(start_paused = true)]
async fn shutdown_finishes_the_invocation_in_flight_commits_then_closes() {
    let mut m = Member::start(json!({}));
    m.assign(&[0]);
    m.records(0, 0..4);
    let call = m.invoked().await;
    let _ = m.stop.send(true);
    tokio::task::yield_now().await;
    assert!(!m.task.is_finished(), "waits for the invocation");
    call.ok();
    let (result, calls) = m.stop().await;
    let stats = result.unwrap();
    assert_eq!(
        calls,
        vec![commit(&[(0, 4)]), Call::Release(tp(0)), Call::Close]
    );
    assert_eq!(stats.commits, 1);
    assert_eq!(stats.records_invoked, 4);
}

#[tokio::test(start_paused = true)]
async fn shutdown_with_nothing_in_flight_releases_every_partition_and_closes() {
    let mut m = Member::start(json!({}));
    m.assign(&[0, 1]);
    m.records(0, 0..1);
    m.invoked().await.ok();
    m.wait_for(&commit(&[(0, 1)])).await;
    let shared = m.shared.clone();
    let (result, calls) = m.stop().await;
    assert_eq!(result.unwrap().commits, 1);
    assert_eq!(
        calls,
        vec![
            commit(&[(0, 1)]),
            Call::Release(tp(0)),
            Call::Release(tp(1)),
            Call::Close
        ],
        "nothing more to commit"
    );
    assert!(
        shared.member_ids.lock().unwrap().is_empty(),
        "the member id is forgotten once closed"
    );
}

#[tokio::test(start_paused = true)]
async fn a_running_member_is_listed_with_its_member_id() {
    let mut m = Member::start(json!({}));
    m.assign(&[0]);
    m.records(0, 0..1);
    // Invoking, the member runs: it is listed by then.
    let call = m.invoked().await;
    let listed: Vec<String> = m
        .shared
        .member_ids
        .lock()
        .unwrap()
        .values()
        .map(|id| id.borrow().clone())
        .collect();
    assert_eq!(listed, vec!["member-1".to_string()]);
    call.ok();
    m.stop().await.0.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_function_config_error_stops_the_mapping_with_the_batch_uncommitted() {
    let mut m = Member::start(json!({}));
    m.assign(&[0]);
    m.records(0, 0..3);
    m.invoked().await.answer(Err(InvokeError::Function {
        message: "Function not found: my-fn".into(),
    }));
    let result = m.task.await.expect("the member task");
    let e = result.expect_err("the mapping stops");
    assert_eq!(e.reason(), "FUNCTION_CONFIG_NOT_VALID");
    assert!(matches!(e, RuntimeError::Invoke(_)), "{e:?}");
    let calls = m.calls.borrow().clone();
    assert_eq!(
        calls,
        vec![Call::Release(tp(0)), Call::Close],
        "nothing committed"
    );
    assert!(m.invoked.try_recv().is_err(), "not retried");
    let status = m.status.borrow().clone();
    assert!(
        status.last_processing_result.starts_with("PROBLEM: "),
        "{status}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_fatal_error_lets_other_partitions_finish_and_commit() {
    let mut m = Member::start(json!({}));
    m.assign(&[0, 1]);
    m.send(ConsumerEvent::Records(vec![
        fetched(0, 0..2),
        fetched(1, 0..3),
    ]));
    let (p0, p1) = m.invoked_0_and_1().await;
    p0.answer(Err(InvokeError::Function {
        message: "Function not found: my-fn".into(),
    }));
    // Partition 0 is given up at once; partition 1's invocation is still awaited.
    m.wait_for(&Call::Release(tp(0))).await;
    assert!(!m.task.is_finished());
    p1.ok();
    let result = m.task.await.expect("the member task");
    assert_eq!(result.unwrap_err().reason(), "FUNCTION_CONFIG_NOT_VALID");
    let calls = m.calls.borrow().clone();
    assert_eq!(
        calls,
        vec![
            Call::Release(tp(0)),
            commit(&[(1, 3)]),
            Call::Release(tp(1)),
            Call::Close
        ],
        "partition 0 abandoned at once, partition 1 finished and committed"
    );
}

#[tokio::test(start_paused = true)]
async fn with_retries_exhausted_and_no_destination_the_batch_is_dropped_and_committed() {
    let mut m = Member::start(json!({"MaximumRetryAttempts": 0}));
    m.assign(&[0]);
    m.records(0, 0..2);
    m.invoked().await.answer(Ok(invocation(Some("Handled"))));
    m.wait_for(&commit(&[(0, 2)])).await;
    let status = status_until(&mut m.status, |s| s.records_dropped == 2).await;
    assert_eq!(
        status.last_processing_result,
        "PROBLEM: Function call failed (Handled)"
    );
    assert!(m.invoked.try_recv().is_err(), "not retried");
    let stats = m.stop().await.0.unwrap();
    assert_eq!(stats.records_dropped, 2);
}

#[tokio::test(start_paused = true)]
async fn reported_item_failures_commit_below_the_first_failed_record() {
    let mut m = Member::start(json!({
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "MaximumRetryAttempts": 1
    }));
    m.assign(&[0]);
    m.records(0, 0..4);
    m.invoked().await.answer(Ok(Invocation {
        payload: Bytes::from(
            json!({"batchItemFailures": [{"itemIdentifier": {"topic-partition": "orders-0", "offset": 2}}]})
                .to_string(),
        ),
        ..invocation(None)
    }));
    m.wait_for(&commit(&[(0, 2)])).await;
    let retry = m.invoked().await;
    assert_eq!(retry.records(), vec![(0, 2), (0, 3)]);
    retry.ok();
    m.wait_for(&commit(&[(0, 4)])).await;
    m.stop().await.0.unwrap();
}

// The supervisor and the mapping's states, with a fake lag and fake consumers.

/// A [`Lag`] that reports a scripted lag on a topic of four partitions (the last one
/// again once the script is done) and a group with no member of other processes.
struct FakeLag {
    script: std::collections::VecDeque<u64>,
    last: u64,
}

impl Lag for FakeLag {
    async fn measure(&mut self) -> Result<(u32, BTreeMap<i32, u64>), RuntimeError> {
        if let Some(lag) = self.script.pop_front() {
            self.last = lag;
        }
        Ok((4, BTreeMap::from([(0, self.last)])))
    }

    async fn describe(&mut self) -> Result<DescribedGroup, RuntimeError> {
        Ok(DescribedGroup {
            error_code: 0,
            error_message: None,
            group_id: "group".into(),
            group_state: "Stable".into(),
            protocol_type: "consumer".into(),
            protocol_data: "range".into(),
            members: Vec::new(),
            authorized_operations: i32::MIN,
        })
    }
}

/// What a fake consumer did.
#[derive(Debug, PartialEq, Eq)]
enum Crew {
    Started(u32),
    Stopped(u32),
}

/// Fake consumers: each reports its start, runs until told to stop (then takes a second
/// of paused time to finish its work), counts one invocation; `failing` ones stop the
/// mapping at once with FUNCTION_CONFIG_NOT_VALID.
fn fake_members(failing: bool) -> (StartMember<FakeInvoker>, mpsc::UnboundedReceiver<Crew>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let start: StartMember<FakeInvoker> = Arc::new(move |_shared, index, mut stop| {
        let tx = tx.clone();
        Box::pin(async move {
            let _ = tx.send(Crew::Started(index));
            if failing {
                return Err(RuntimeError::Invoke(InvokeError::Function {
                    message: "Function not found: my-fn".into(),
                }));
            }
            let _ = stop.wait_for(|s| *s).await;
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let _ = tx.send(Crew::Stopped(index));
            Ok(Stats {
                invocations: 1,
                ..Stats::default()
            })
        })
    });
    (start, rx)
}

/// A mapping run by [`operate`] on a task of its own: `enable` lets its (fake) enabling
/// finish, `stop` shuts it down.
struct Operated {
    enable: Option<oneshot::Sender<()>>,
    stop: Option<oneshot::Sender<()>>,
    status: watch::Receiver<MappingStatus>,
    crew: mpsc::UnboundedReceiver<Crew>,
    task: tokio::task::JoinHandle<Result<Stats, RuntimeError>>,
}

impl Operated {
    fn start(extra: Value, lag: &[u64], failing: bool) -> Operated {
        let (shared, _) = shared(extra);
        let (start_member, crew) = fake_members(failing);
        let lag = FakeLag {
            script: lag.iter().copied().collect(),
            last: 0,
        };
        let supervisor = Supervisor::new(shared.clone(), lag, start_member, clock);
        let (enable, enabled) = oneshot::channel::<()>();
        let (stop, stopped_rx) = oneshot::channel::<()>();
        let status = shared.status.subscribe();
        let task = tokio::spawn(async move {
            let enabling = async move {
                let _ = enabled.await;
                Ok((supervisor, None))
            };
            let shutdown = std::pin::pin!(async move {
                let _ = stopped_rx.await;
            });
            let result = operate(&shared.mapping, shutdown, &shared.status, enabling).await;
            stopped(&shared.mapping, &shared.status, result)
        });
        Operated {
            enable: Some(enable),
            stop: Some(stop),
            status,
            crew,
            task,
        }
    }

    async fn until(&mut self, f: impl Fn(&MappingStatus) -> bool) -> MappingStatus {
        status_until(&mut self.status, f).await
    }
}

#[tokio::test(start_paused = true)]
async fn the_mapping_goes_enabling_enabled_disabling_disabled() {
    let mut o = Operated::start(json!({}), &[], false);
    let s = o.until(|s| s.state == State::Enabling).await;
    assert_eq!(s.consumers, 0, "no consumer before it is enabled");
    o.enable.take().unwrap().send(()).unwrap();
    let s = o.until(|s| s.state == State::Enabled).await;
    assert_eq!(s.consumers, 1);
    assert_eq!(o.crew.recv().await, Some(Crew::Started(0)));
    o.stop.take().unwrap().send(()).unwrap();
    let s = o.until(|s| s.state == State::Disabling).await;
    assert_eq!(s.state_transition_reason, "USER_INITIATED");
    assert!(
        !o.task.is_finished(),
        "the consumer finishes its work first"
    );
    assert_eq!(o.crew.recv().await, Some(Crew::Stopped(0)));
    let stats = o.task.await.unwrap().unwrap();
    assert_eq!(stats.invocations, 1, "the consumer's counts are kept");
    let s = o.status.borrow().clone();
    assert_eq!(s.state, State::Disabled);
    assert_eq!(s.state_transition_reason, "USER_INITIATED");
    assert_eq!(s.consumers, 0);
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_while_enabling_stops_with_no_consumer() {
    let mut o = Operated::start(json!({}), &[], false);
    o.until(|s| s.state == State::Enabling).await;
    o.stop.take().unwrap().send(()).unwrap();
    assert_eq!(o.task.await.unwrap().unwrap(), Stats::default());
    assert!(o.crew.try_recv().is_err(), "no consumer started");
    let s = o.status.borrow().clone();
    assert_eq!(s.state, State::Disabled);
    assert_eq!(s.state_transition_reason, "USER_INITIATED");
}

#[tokio::test(start_paused = true)]
async fn a_consumer_stopping_on_an_error_disables_the_mapping_with_its_reason() {
    let mut o = Operated::start(json!({}), &[], true);
    o.enable.take().unwrap().send(()).unwrap();
    let e = o.task.await.unwrap().expect_err("the mapping stops");
    assert_eq!(e.reason(), "FUNCTION_CONFIG_NOT_VALID");
    let s = o.status.borrow().clone();
    assert_eq!(s.state, State::Disabled);
    assert_eq!(s.state_transition_reason, "FUNCTION_CONFIG_NOT_VALID");
    assert!(s.last_processing_result.starts_with("PROBLEM: "), "{s}");
    assert_eq!(s.consumers, 0);
}

#[tokio::test(start_paused = true)]
async fn the_supervisor_scales_up_while_the_lag_grows_and_down_once_it_is_drained() {
    // Lag threshold 10 (the batch size); evaluations every second; up to 3 consumers.
    let mut o = Operated::start(
        json!({
            "ProvisionedPollerConfig": {"MinimumPollers": 1, "MaximumPollers": 3},
            "KafkaEsm": {"ScalingInterval": 1}
        }),
        // A first look (no trend), growing twice, then drained.
        &[100, 200, 300, 0],
        false,
    );
    o.enable.take().unwrap().send(()).unwrap();
    o.until(|s| s.state == State::Enabled).await;
    assert_eq!(o.crew.recv().await, Some(Crew::Started(0)));
    assert_eq!(o.crew.recv().await, Some(Crew::Started(1)));
    assert_eq!(o.until(|s| s.consumers == 2).await.consumers, 2);
    assert_eq!(o.crew.recv().await, Some(Crew::Started(2)));
    o.until(|s| s.consumers == 3).await;
    // Two quiet evaluations, then one fewer: the newest.
    assert_eq!(o.crew.recv().await, Some(Crew::Stopped(2)));
    assert_eq!(o.status.borrow().consumers, 2);
    o.stop.take().unwrap().send(()).unwrap();
    let mut stopped = vec![o.crew.recv().await, o.crew.recv().await];
    stopped.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(
        stopped,
        vec![Some(Crew::Stopped(0)), Some(Crew::Stopped(1))]
    );
    assert!(o.crew.try_recv().is_err(), "never more than three");
    let stats = o.task.await.unwrap().unwrap();
    assert_eq!(stats.invocations, 3, "every consumer's counts are kept");
}

#[tokio::test(start_paused = true)]
async fn a_disabled_mapping_polls_nothing_and_is_disabled_until_shutdown() {
    let mapping = mapping(json!({"Enabled": false}));
    let (status, watch) = watch::channel(MappingStatus::default());
    let (stop, stopped_rx) = oneshot::channel::<()>();
    let (invoker_tx, mut invoked) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        super::run(
            &mapping,
            FakeInvoker { calls: invoker_tx },
            async move {
                let _ = stopped_rx.await;
            },
            super::RunOptions {
                status: Some(status),
                ..super::RunOptions::default()
            },
        )
        .await
    });
    let mut watch = watch;
    let s = status_until(&mut watch, |s| s.state == State::Disabled).await;
    assert_eq!(s.state_transition_reason, "USER_INITIATED");
    assert!(!task.is_finished(), "runs until shutdown");
    stop.send(()).unwrap();
    assert_eq!(task.await.unwrap().unwrap(), Stats::default());
    assert!(invoked.try_recv().is_err());
}

#[tokio::test(start_paused = true)]
async fn a_partition_over_the_buffer_budget_is_paused_then_resumed_once_drained() {
    let mut m = Member::start(json!({"BatchSize": 2, "KafkaEsm": {"MaxBufferedBytes": 1}}));
    m.assign(&[0]);
    m.records(0, 0..6);
    let first = m.invoked().await;
    assert_eq!(first.records(), vec![(0, 0), (0, 1)]);
    // Four records wait behind the batch in flight: two full batches, over the budget.
    m.wait_for(&Call::Pause(tp(0))).await;
    first.ok();
    m.invoked().await.ok();
    let last = m.invoked().await;
    assert_eq!(last.records(), vec![(0, 4), (0, 5)]);
    m.wait_for(&Call::Resume(tp(0))).await;
    last.ok();
    m.wait_for(&commit(&[(0, 6)])).await;
    let calls = m.calls();
    let paused = calls.iter().filter(|c| matches!(c, Call::Pause(_))).count();
    assert_eq!(paused, 1, "{calls:?}");
    m.stop().await.0.unwrap();
}

// The record path: one encoder, and a batch encoded once.

/// `offsets` of partition 0, measured by `events`.
fn measured(events: &Events, offsets: std::ops::Range<i64>) -> Vec<EngineRec> {
    fetched(0, offsets)
        .records
        .into_iter()
        .map(|r| events.measure(TOPIC, 0, r))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_batch_is_encoded_once_and_its_retries_and_halves_are_selected_from_it() {
    let mut events = Events::new("localhost:9092", TOPIC);
    let batch = measured(&events, 0..4);
    let first = events.event(&tp(0), batch.clone());
    // A whole retry is the same buffer: nothing encoded or copied.
    let retry = events.event(&tp(0), batch.clone());
    assert_eq!(retry.payload().as_ptr(), first.payload().as_ptr());
    // A bisect half, or the records after a partial batch response, is the encoding of
    // its records, selected from the batch's event.
    let mut fresh = Events::new("localhost:9092", TOPIC);
    let half = events.event(&tp(0), batch[2..].to_vec());
    assert_eq!(
        half.as_bytes(),
        fresh.event(&tp(0), batch[2..].to_vec()).as_bytes()
    );
    // The first half done, the batch's event stays for the second.
    events.done(&tp(0), 1);
    let again = events.event(&tp(0), batch.clone());
    assert_eq!(again.payload().as_ptr(), first.payload().as_ptr());
    // The whole batch done, it goes: the next records are encoded.
    events.done(&tp(0), 3);
    let next = events.event(&tp(0), batch.clone());
    assert_ne!(next.payload().as_ptr(), first.payload().as_ptr());
    assert_eq!(next.as_bytes(), first.as_bytes());
}

#[tokio::test(start_paused = true)]
async fn records_not_in_the_last_event_in_a_row_are_encoded() {
    let mut events = Events::new("localhost:9092", TOPIC);
    let batch = measured(&events, 0..4);
    let first = events.event(&tp(0), batch.clone());
    let mut fresh = Events::new("localhost:9092", TOPIC);
    // Past its end, or with a gap: encoded anew, and the same as a fresh encoding.
    let past = measured(&events, 2..6);
    assert_eq!(
        events.event(&tp(0), past.clone()).as_bytes(),
        fresh.event(&tp(0), past).as_bytes()
    );
    let gap = vec![batch[0].clone(), batch[2].clone()];
    assert_eq!(
        events.event(&tp(0), gap.clone()).as_bytes(),
        fresh.event(&tp(0), gap).as_bytes()
    );
    // Forgotten (a log reset, a new assignment): the same offsets are encoded again.
    let kept = events.event(&tp(0), batch.clone());
    assert_ne!(kept.payload().as_ptr(), first.payload().as_ptr());
    events.forget(&tp(0));
    let encoded = events.event(&tp(0), batch);
    assert_ne!(encoded.payload().as_ptr(), kept.payload().as_ptr());
}
