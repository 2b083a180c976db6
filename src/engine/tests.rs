//! Every engine rule on a fake clock: no sockets, no sleeps.

use super::*;
use proptest::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Rec {
    offset: i64,
    timestamp: i64,
    size: usize,
}

impl EngineRecord for Rec {
    fn offset(&self) -> i64 {
        self.offset
    }
    fn timestamp(&self) -> i64 {
        self.timestamp
    }
    fn encoded_size(&self) -> usize {
        self.size
    }
}

fn tp(p: i32) -> TopicPartition {
    ("t".to_string(), p)
}

fn recs(offsets: std::ops::Range<i64>) -> Vec<Rec> {
    offsets
        .map(|offset| Rec {
            offset,
            timestamp: 0,
            size: 10,
        })
        .collect()
}

fn config() -> EngineConfig {
    EngineConfig {
        batch_size: 3,
        batching_window: Duration::from_millis(500),
        max_payload: 1000,
        envelope_size: 50,
        retry_base: Duration::from_millis(100),
        retry_max: Duration::from_secs(10),
        ..EngineConfig::aws_defaults()
    }
}

fn engine(config: EngineConfig) -> Engine<Rec> {
    let mut e = Engine::new(config);
    e.assign(tp(0), 0);
    e
}

fn drain(e: &mut Engine<Rec>) -> Vec<Action<Rec>> {
    std::iter::from_fn(|| e.poll_action()).collect()
}

/// The offsets of the one Invoke among `actions` (and its id and attempt).
fn invoke(actions: &[Action<Rec>]) -> (BatchId, Vec<i64>, u32) {
    let invokes: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Invoke {
                id,
                records,
                attempt,
                ..
            } => Some((*id, records.iter().map(|r| r.offset).collect(), *attempt)),
            _ => None,
        })
        .collect();
    assert_eq!(invokes.len(), 1, "{actions:?}");
    invokes.into_iter().next().unwrap()
}

/// The first SendToDestination among `actions`: its id, records, condition and attempts.
fn sent_to_destination(actions: &[Action<Rec>]) -> (BatchId, Vec<Rec>, Condition, u32) {
    let Some(Action::SendToDestination {
        id,
        records,
        condition,
        attempts,
        ..
    }) = actions
        .iter()
        .find(|a| matches!(a, Action::SendToDestination { .. }))
        .cloned()
    else {
        panic!("{actions:?}")
    };
    (id, records, condition, attempts)
}

fn commits(actions: &[Action<Rec>]) -> Vec<i64> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Commit { offset, .. } => Some(*offset),
            _ => None,
        })
        .collect()
}

fn no_invoke(actions: &[Action<Rec>]) -> bool {
    !actions.iter().any(|a| matches!(a, Action::Invoke { .. }))
}

#[test]
fn a_batch_closes_at_batch_size_and_one_is_in_flight_per_partition() {
    let mut e = engine(config());
    e.fetched(&tp(0), recs(0..7), 7, 0);
    let a = drain(&mut e);
    let (id, offsets, attempt) = invoke(&a);
    assert_eq!((offsets, attempt), (vec![0, 1, 2], 1));
    e.invoked(id, InvokeOutcome::Success, 10);
    let a = drain(&mut e);
    assert_eq!(commits(&a), [3]);
    let (id, offsets, _) = invoke(&a);
    assert_eq!(offsets, [3, 4, 5]);
    e.invoked(id, InvokeOutcome::Success, 20);
    let a = drain(&mut e);
    assert_eq!(commits(&a), [6]);
    // Record 6 alone waits out the window from its arrival (t=0).
    assert!(no_invoke(&a));
    assert_eq!(e.poll_timeout(), Some(500));
    e.handle_timeout(499);
    assert!(drain(&mut e).is_empty());
    e.handle_timeout(500);
    let a = drain(&mut e);
    assert_eq!(invoke(&a).1, [6]);
}

#[test]
fn a_partial_batch_waits_for_the_window_unless_it_is_zero() {
    let mut e = engine(config());
    e.fetched(&tp(0), recs(0..2), 2, 1000);
    assert!(drain(&mut e).is_empty());
    assert_eq!(e.poll_timeout(), Some(1500));
    e.handle_timeout(1500);
    assert_eq!(invoke(&drain(&mut e)).1, [0, 1]);

    let mut e = engine(EngineConfig {
        batching_window: Duration::ZERO,
        ..config()
    });
    e.fetched(&tp(0), recs(0..2), 2, 1000);
    assert_eq!(invoke(&drain(&mut e)).1, [0, 1]);
}

#[test]
fn the_payload_cap_closes_a_batch_exactly() {
    // 50 (envelope) + 3 × 300 = 950 fits in 1000; with 350-byte records only two do
    // (50 + 700 = 750, a third makes 1100).
    for (size, want) in [(300, vec![0, 1, 2]), (350, vec![0, 1]), (475, vec![0, 1])] {
        let mut e = engine(EngineConfig {
            batch_size: 10,
            ..config()
        });
        let records = (0..5)
            .map(|offset| Rec {
                offset,
                timestamp: 0,
                size,
            })
            .collect();
        e.fetched(&tp(0), records, 5, 0);
        assert_eq!(invoke(&drain(&mut e)).1, want, "records of {size} bytes");
    }
}

#[test]
fn a_record_too_big_alone_goes_to_the_destination_and_processing_goes_on() {
    let big = Rec {
        offset: 1,
        timestamp: 0,
        size: 951,
    };
    let mut records = recs(0..1);
    records.push(big.clone());
    records.extend(recs(2..3));
    for has_destination in [true, false] {
        let mut e = engine(EngineConfig {
            has_destination,
            batching_window: Duration::ZERO,
            ..config()
        });
        e.fetched(&tp(0), records.clone(), 3, 0);
        // Record 0 fits with nothing after it in the batch (the next is too big).
        let (id, offsets, _) = invoke(&drain(&mut e));
        assert_eq!(offsets, [0]);
        e.invoked(id, InvokeOutcome::Success, 1);
        let a = drain(&mut e);
        if has_destination {
            let (id, records, condition, attempts) = sent_to_destination(&a);
            assert_eq!(
                (records, condition, attempts),
                (vec![big.clone()], Condition::MaximumPayloadSizeExceeded, 0)
            );
            assert_eq!(commits(&a), [1], "record 0 committed, not the big one");
            assert!(no_invoke(&a), "record 2 waits behind the big one");
            e.delivered(id, true, 2);
        } else {
            assert!(a.contains(&Action::Dropped {
                partition: tp(0),
                first_offset: 1,
                last_offset: 1,
                count: 1,
                condition: Condition::MaximumPayloadSizeExceeded,
            }));
            // Record 1 dropped: the commit moves past it at once.
            assert_eq!(commits(&a), [2]);
            assert_eq!(invoke(&a).1, [2]);
            continue;
        }
        let a = drain(&mut e);
        assert_eq!(commits(&a), [2]);
        assert_eq!(invoke(&a).1, [2]);
    }
}

#[test]
fn a_failed_batch_is_retried_whole_after_a_growing_jittered_backoff() {
    let mut e = engine(config());
    e.fetched(&tp(0), recs(0..3), 3, 0);
    let (mut id, _, _) = invoke(&drain(&mut e));
    let mut now = 0;
    let mut waits = Vec::new();
    for attempt in 2..=6 {
        e.invoked(id, InvokeOutcome::Failed(Failure::Function), now);
        assert!(drain(&mut e).is_empty(), "nothing before the backoff ends");
        let at = e.poll_timeout().unwrap();
        waits.push(at - now);
        e.handle_timeout(at - 1);
        assert!(drain(&mut e).is_empty());
        e.handle_timeout(at);
        let (next, offsets, n) = invoke(&drain(&mut e));
        assert_eq!((offsets, n), (vec![0, 1, 2], attempt));
        id = next;
        now = at;
    }
    // Full backoff 100, 200, 400, ... ms; the jitter keeps each in [half, full].
    for (i, w) in waits.iter().enumerate() {
        let full = 100 << i;
        assert!(
            *w >= full / 2 && *w <= full,
            "wait {i}: {w} not in [{}, {full}]",
            full / 2
        );
    }
    e.invoked(id, InvokeOutcome::Success, now);
    assert_eq!(commits(&drain(&mut e)), [3]);
}

/// Fails every invocation until the engine gives up; returns the actions at give-up.
fn fail_until_given_up(
    e: &mut Engine<Rec>,
    failure: Failure,
    max_invokes: u32,
) -> Vec<Action<Rec>> {
    let gave_up = |a: &[Action<Rec>]| {
        a.iter()
            .any(|x| matches!(x, Action::SendToDestination { .. } | Action::Dropped { .. }))
    };
    let mut a = drain(e);
    for _ in 0..max_invokes {
        let (id, _, _) = invoke(&a);
        e.invoked(id, InvokeOutcome::Failed(failure), 0);
        a = drain(e);
        if gave_up(&a) {
            return a;
        }
        e.handle_timeout(e.poll_timeout().expect("a retry is scheduled"));
        a = drain(e);
    }
    panic!("not given up after {max_invokes} invocations")
}

#[test]
fn retries_stop_at_maximum_retry_attempts_then_the_destination_gets_the_batch() {
    let mut e = engine(EngineConfig {
        max_retry_attempts: Some(2),
        has_destination: true,
        ..config()
    });
    e.fetched(&tp(0), recs(0..3), 3, 0);
    let a = fail_until_given_up(&mut e, Failure::Function, 10);
    let (id, records, condition, attempts) = sent_to_destination(&a);
    assert_eq!(records.len(), 3);
    assert_eq!(
        (condition, attempts),
        (Condition::RetryAttemptsExhausted, 3)
    );
    assert!(
        commits(&a).is_empty(),
        "not committed before the destination has it"
    );
    e.delivered(id, true, 99_000);
    assert_eq!(commits(&drain(&mut e)), [3]);
}

#[test]
fn zero_retry_attempts_gives_up_after_the_first_failure_and_drops_without_destination() {
    let mut e = engine(EngineConfig {
        max_retry_attempts: Some(0),
        ..config()
    });
    e.fetched(&tp(0), recs(0..3), 3, 0);
    let (id, _, _) = invoke(&drain(&mut e));
    e.invoked(id, InvokeOutcome::Failed(Failure::Service), 5);
    let a = drain(&mut e);
    assert!(a.contains(&Action::Dropped {
        partition: tp(0),
        first_offset: 0,
        last_offset: 2,
        count: 3,
        condition: Condition::RetryAttemptsExhausted,
    }));
    assert_eq!(commits(&a), [3]);
}

#[test]
fn with_the_defaults_a_failing_batch_blocks_its_partition_forever() {
    let mut e = engine(config());
    e.fetched(&tp(0), recs(0..6), 6, 0);
    let mut a = drain(&mut e);
    let mut now = 0;
    for _ in 0..200 {
        let (id, offsets, _) = invoke(&a);
        assert_eq!(offsets, [0, 1, 2], "never skips ahead");
        e.invoked(id, InvokeOutcome::Failed(Failure::Function), now);
        assert!(commits(&drain(&mut e)).is_empty());
        let at = e.poll_timeout().unwrap();
        assert!(at - now <= 10_000, "backoff capped at retry_max");
        now = at;
        e.handle_timeout(now);
        a = drain(&mut e);
    }
}

#[test]
fn throttles_are_retried_without_counting_an_attempt() {
    let mut e = engine(EngineConfig {
        max_retry_attempts: Some(0),
        ..config()
    });
    e.fetched(&tp(0), recs(0..3), 3, 0);
    let mut a = drain(&mut e);
    for _ in 0..5 {
        let (id, _, attempt) = invoke(&a);
        assert_eq!(attempt, 1);
        e.invoked(id, InvokeOutcome::Failed(Failure::Throttled), 0);
        let at = e.poll_timeout().unwrap();
        e.handle_timeout(at);
        a = drain(&mut e);
    }
    let (id, _, _) = invoke(&a);
    e.invoked(id, InvokeOutcome::Failed(Failure::Function), 0);
    assert!(
        drain(&mut e)
            .iter()
            .any(|x| matches!(x, Action::Dropped { .. }))
    );
}

#[test]
fn records_older_than_the_maximum_age_are_given_up_without_invoking() {
    let mut e = engine(EngineConfig {
        max_record_age: Some(Duration::from_secs(60)),
        has_destination: true,
        ..config()
    });
    // Fresh at t=0; the retry after t=60 s finds them expired.
    e.fetched(&tp(0), recs(0..3), 3, 0);
    let (id, _, _) = invoke(&drain(&mut e));
    e.invoked(id, InvokeOutcome::Failed(Failure::Function), 60_001);
    let at = e.poll_timeout().unwrap();
    e.handle_timeout(at);
    let a = drain(&mut e);
    assert!(no_invoke(&a));
    assert!(a.iter().any(|x| matches!(
        x,
        Action::SendToDestination {
            condition: Condition::RetryAttemptsExhausted,
            attempts: 1,
            ..
        }
    )));

    // Already too old when fetched: not invoked at all.
    let mut e = engine(EngineConfig {
        max_record_age: Some(Duration::from_secs(60)),
        batching_window: Duration::ZERO,
        ..config()
    });
    e.fetched(&tp(0), recs(0..2), 2, 61_000);
    let a = drain(&mut e);
    assert!(no_invoke(&a));
    assert_eq!(commits(&a), [2]);
}

#[test]
fn bisect_splits_a_failing_batch_and_handles_the_halves_in_order() {
    let mut e = engine(EngineConfig {
        batch_size: 4,
        bisect_on_error: true,
        max_retry_attempts: Some(3),
        ..config()
    });
    e.fetched(&tp(0), recs(0..4), 4, 0);
    let (id, offsets, _) = invoke(&drain(&mut e));
    assert_eq!(offsets, [0, 1, 2, 3]);
    e.invoked(id, InvokeOutcome::Failed(Failure::Function), 1);
    let (id, offsets, attempt) = invoke(&drain(&mut e));
    assert_eq!((offsets, attempt), (vec![0, 1], 2));
    e.invoked(id, InvokeOutcome::Success, 2);
    let a = drain(&mut e);
    assert_eq!(commits(&a), [2]);
    let (id, offsets, attempt) = invoke(&a);
    assert_eq!((offsets, attempt), (vec![2, 3], 2));
    e.invoked(id, InvokeOutcome::Failed(Failure::Function), 3);
    let (id, offsets, _) = invoke(&drain(&mut e));
    assert_eq!(offsets, [2]);
    e.invoked(id, InvokeOutcome::Success, 4);
    let a = drain(&mut e);
    assert_eq!(commits(&a), [3]);
    assert_eq!(invoke(&a).1, [3]);

    // A throttle is not the function's fault: no bisect.
    let mut e = engine(EngineConfig {
        batch_size: 4,
        bisect_on_error: true,
        ..config()
    });
    e.fetched(&tp(0), recs(0..4), 4, 0);
    let (id, _, _) = invoke(&drain(&mut e));
    e.invoked(id, InvokeOutcome::Failed(Failure::Throttled), 1);
    e.handle_timeout(e.poll_timeout().unwrap());
    assert_eq!(invoke(&drain(&mut e)).1, [0, 1, 2, 3]);
}

#[test]
fn a_partial_batch_response_commits_before_the_lowest_failure_and_retries_the_rest() {
    let cfg = EngineConfig {
        batch_size: 5,
        report_batch_item_failures: true,
        ..config()
    };
    let mut e = engine(cfg.clone());
    e.fetched(&tp(0), recs(0..5), 5, 0);
    let (id, _, _) = invoke(&drain(&mut e));
    e.invoked(
        id,
        InvokeOutcome::PartialFailure {
            failed_offsets: vec![4, 2],
        },
        1,
    );
    let a = drain(&mut e);
    assert_eq!(commits(&a), [2]);
    assert!(no_invoke(&a), "the rest waits for the backoff");
    e.handle_timeout(e.poll_timeout().unwrap());
    let (id, offsets, attempt) = invoke(&drain(&mut e));
    assert_eq!((offsets, attempt), (vec![2, 3, 4], 2));
    e.invoked(
        id,
        InvokeOutcome::PartialFailure {
            failed_offsets: vec![],
        },
        2,
    );
    assert_eq!(commits(&drain(&mut e)), [5]);

    // An identifier outside the batch fails the whole batch.
    let mut e = engine(cfg);
    e.fetched(&tp(0), recs(0..5), 5, 0);
    let (id, _, _) = invoke(&drain(&mut e));
    e.invoked(
        id,
        InvokeOutcome::PartialFailure {
            failed_offsets: vec![99],
        },
        1,
    );
    assert!(commits(&drain(&mut e)).is_empty());
    e.handle_timeout(e.poll_timeout().unwrap());
    assert_eq!(invoke(&drain(&mut e)).1, [0, 1, 2, 3, 4]);
}

#[test]
fn a_failed_destination_write_is_retried_and_nothing_is_committed_meanwhile() {
    let mut e = engine(EngineConfig {
        max_retry_attempts: Some(0),
        has_destination: true,
        ..config()
    });
    e.fetched(&tp(0), recs(0..3), 3, 0);
    let (id, _, _) = invoke(&drain(&mut e));
    e.invoked(id, InvokeOutcome::Failed(Failure::Function), 0);
    let mut a = drain(&mut e);
    for _ in 0..3 {
        let Some(Action::SendToDestination { id, .. }) = a.first().cloned() else {
            panic!("{a:?}")
        };
        e.delivered(id, false, 0);
        assert!(drain(&mut e).is_empty());
        e.handle_timeout(e.poll_timeout().unwrap());
        a = drain(&mut e);
    }
    let Some(Action::SendToDestination { id, .. }) = a.first().cloned() else {
        panic!("{a:?}")
    };
    e.delivered(id, true, 0);
    assert_eq!(commits(&drain(&mut e)), [3]);
}

#[test]
fn partitions_are_handled_independently() {
    let mut e = engine(config());
    e.assign(tp(1), 100);
    e.fetched(&tp(0), recs(0..3), 3, 0);
    e.fetched(
        &tp(1),
        (100..103)
            .map(|offset| Rec {
                offset,
                timestamp: 0,
                size: 10,
            })
            .collect(),
        103,
        0,
    );
    let a = drain(&mut e);
    let ids: Vec<(BatchId, TopicPartition)> = a
        .iter()
        .filter_map(|x| match x {
            Action::Invoke { id, partition, .. } => Some((*id, partition.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 2);
    // Partition 0 failing doesn't hold partition 1 back.
    e.invoked(ids[0].0, InvokeOutcome::Failed(Failure::Function), 1);
    e.invoked(ids[1].0, InvokeOutcome::Success, 1);
    let a = drain(&mut e);
    assert_eq!(
        a,
        [Action::Commit {
            partition: tp(1),
            offset: 103
        }]
    );
}

#[test]
fn offsets_past_the_last_record_are_committed_once_everything_before_is_handled() {
    let mut e = engine(EngineConfig {
        batching_window: Duration::ZERO,
        ..config()
    });
    // Filtered out or control records only: nothing to invoke, the position moves.
    e.fetched(&tp(0), vec![], 10, 0);
    assert_eq!(commits(&drain(&mut e)), [10]);
    e.fetched(&tp(0), recs(10..12), 20, 1);
    let a = drain(&mut e);
    assert!(commits(&a).is_empty());
    let (id, _, _) = invoke(&a);
    e.invoked(id, InvokeOutcome::Success, 2);
    assert_eq!(commits(&drain(&mut e)), [20]);
}

#[test]
fn a_revoked_partition_commits_the_filtered_tail_only_when_every_record_was_handled() {
    // Records 0..3 invoked; 3..8 were filtered out (next_offset 8).
    let mut e = engine(config());
    e.fetched(&tp(0), recs(0..3), 8, 0);
    let (id, _, _) = invoke(&drain(&mut e));
    e.revoke(&tp(0), 1);
    e.invoked(id, InvokeOutcome::Success, 2);
    assert_eq!(commits(&drain(&mut e)), [8]);

    // The batch fails and is abandoned: nothing past it is committed.
    let mut e = engine(config());
    e.fetched(&tp(0), recs(0..3), 8, 0);
    let (id, _, _) = invoke(&drain(&mut e));
    e.revoke(&tp(0), 1);
    e.invoked(id, InvokeOutcome::Failed(Failure::Function), 2);
    assert!(commits(&drain(&mut e)).is_empty());
}

#[test]
fn a_revoked_partition_finishes_its_invocation_then_reports_revoked() {
    let mut e = engine(config());
    e.fetched(&tp(0), recs(0..5), 5, 0);
    let (id, _, _) = invoke(&drain(&mut e));
    e.revoke(&tp(0), 1);
    assert!(drain(&mut e).is_empty(), "waits for the invocation");
    e.invoked(id, InvokeOutcome::Success, 2);
    // Records 3 and 4 were buffered: dropped uncommitted, for the next owner.
    assert_eq!(
        drain(&mut e),
        [
            Action::Commit {
                partition: tp(0),
                offset: 3
            },
            Action::Revoked(tp(0))
        ]
    );
    assert_eq!(e.partitions().count(), 0);

    // Work waiting for a retry is abandoned at once, uncommitted.
    let mut e = engine(config());
    e.fetched(&tp(0), recs(0..3), 3, 0);
    let (id, _, _) = invoke(&drain(&mut e));
    e.invoked(id, InvokeOutcome::Failed(Failure::Function), 1);
    e.revoke(&tp(0), 2);
    assert_eq!(drain(&mut e), [Action::Revoked(tp(0))]);
}

/// Whether `actions` pause (Some(true)) or resume (Some(false)) fetching `partition`.
fn flow(actions: &[Action<Rec>], partition: i32) -> Option<bool> {
    actions.iter().rev().find_map(|a| match a {
        Action::Pause(p) if *p == tp(partition) => Some(true),
        Action::Resume(p) if *p == tp(partition) => Some(false),
        _ => None,
    })
}

#[test]
fn fetching_pauses_over_the_byte_budget_and_resumes_under_half_of_it() {
    // Records of 10 bytes, batches of 3: 100 bytes is ten records.
    let mut e = engine(EngineConfig {
        max_buffered_bytes: 100,
        ..config()
    });
    e.fetched(&tp(0), recs(0..20), 20, 0);
    let mut a = drain(&mut e);
    // 3 invoked, 17 held: 170 bytes.
    assert_eq!(flow(&a, 0), Some(true), "{a:?}");
    let mut held = 17;
    let mut now = 0;
    loop {
        let (id, _, _) = invoke(&a);
        now += 1;
        e.invoked(id, InvokeOutcome::Success, now);
        a = drain(&mut e);
        held -= 3;
        if held * 10 > 50 {
            assert_eq!(flow(&a, 0), None, "still paused with {held} held: {a:?}");
        } else {
            assert_eq!(flow(&a, 0), Some(false), "resumed at {held} held: {a:?}");
            break;
        }
    }
    assert_eq!(held, 5);

    // Two partitions: partition 1 (3 held, a full batch) is paused by the total, and
    // resumes when partition 0's draining brings the total under half the budget.
    let mut e = engine(EngineConfig {
        max_buffered_bytes: 100,
        ..config()
    });
    e.assign(tp(1), 0);
    e.fetched(&tp(0), recs(0..20), 20, 0);
    let mut a = drain(&mut e);
    e.fetched(&tp(1), recs(0..6), 6, 0);
    assert_eq!(flow(&drain(&mut e), 1), Some(true));
    let mut held = 17;
    loop {
        let (id, _, _) = invoke(&a);
        e.invoked(id, InvokeOutcome::Success, 1);
        a = drain(&mut e);
        held -= 3;
        if held + 3 > 5 {
            assert_eq!(flow(&a, 1), None, "{held} + 3 held: {a:?}");
        } else {
            assert_eq!(flow(&a, 1), Some(false), "{held} + 3 held: {a:?}");
            break;
        }
    }
    assert_eq!(held, 2);
}

#[test]
fn a_partition_holding_less_than_a_full_batch_is_never_paused() {
    let mut e = engine(EngineConfig {
        batch_size: 10,
        max_buffered_bytes: 100,
        ..config()
    });
    e.assign(tp(1), 0);
    // Partition 0: 10 invoked, 20 held (200 bytes, two full batches): paused.
    e.fetched(&tp(0), recs(0..30), 30, 0);
    assert_eq!(flow(&drain(&mut e), 0), Some(true));
    // Partition 1 holds 9 records: over the budget, but not a full batch yet.
    e.fetched(&tp(1), recs(0..9), 9, 0);
    let a = drain(&mut e);
    assert_eq!(flow(&a, 1), None, "{a:?}");
    assert!(no_invoke(&a));
    // Its tenth record fills the batch, invoked at once (no window wait).
    e.fetched(&tp(1), recs(9..10), 10, 1);
    let a = drain(&mut e);
    assert_eq!(invoke(&a).1, (0..10).collect::<Vec<_>>());
    assert_eq!(flow(&a, 1), None);

    // By bytes: 300-byte records, three to a 1000-byte payload; a budget of 100 bytes
    // still lets a partition hold the three (900 bytes) it takes to fill a batch.
    let big = |offsets: std::ops::Range<i64>| -> Vec<Rec> {
        offsets
            .map(|offset| Rec {
                offset,
                timestamp: 0,
                size: 300,
            })
            .collect()
    };
    let mut e = engine(EngineConfig {
        batch_size: 100,
        max_buffered_bytes: 100,
        ..config()
    });
    e.fetched(&tp(0), big(0..2), 2, 0);
    let a = drain(&mut e);
    assert_eq!(flow(&a, 0), None, "two records are not a full batch: {a:?}");
    e.fetched(&tp(0), big(2..5), 5, 1);
    let a = drain(&mut e);
    assert_eq!(invoke(&a).1, [0, 1, 2], "closed at the payload cap");
    assert_eq!(flow(&a, 0), None, "two held again: {a:?}");
}

#[test]
fn a_batch_of_ten_thousand_records_fills_without_waiting_for_the_window() {
    let mut e = engine(EngineConfig {
        batch_size: 10_000,
        batching_window: Duration::from_secs(300),
        max_payload: 6 * 1024 * 1024,
        ..EngineConfig::aws_defaults()
    });
    // Records of 300 encoded bytes (3 MB for the batch), fetched 500 at a time, as the
    // runtime does: only while the partition isn't paused.
    let mut fetched = 0;
    let mut now = 0;
    let mut invoked = None;
    while fetched < 10_000 {
        let records = (fetched..fetched + 500)
            .map(|offset| Rec {
                offset,
                timestamp: 0,
                size: 300,
            })
            .collect();
        fetched += 500;
        now += 10;
        e.fetched(&tp(0), records, fetched, now);
        let a = drain(&mut e);
        assert_eq!(flow(&a, 0), None, "paused at {fetched} records");
        if !no_invoke(&a) {
            invoked = Some(invoke(&a).1.len());
        }
    }
    assert_eq!(invoked, Some(10_000), "invoked at once, not after 300 s");
}

#[test]
fn stale_results_are_ignored() {
    let mut e = engine(config());
    e.fetched(&tp(0), recs(0..3), 3, 0);
    let (id, _, _) = invoke(&drain(&mut e));
    e.invoked(BatchId(id.0 + 100), InvokeOutcome::Success, 1);
    e.delivered(id, true, 1);
    assert!(drain(&mut e).is_empty());
}

/// What a random run may do at each step.
#[derive(Clone, Debug)]
enum Step {
    Fetch(usize),
    Succeed,
    Fail(u8),
    Partial(usize),
    Deliver(bool),
    Tick(i64),
    /// The log lost this many offsets past the position (a reset forward).
    Skip(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1usize..6).prop_map(Step::Fetch),
        Just(Step::Succeed),
        (0u8..3).prop_map(Step::Fail),
        (0usize..5).prop_map(Step::Partial),
        any::<bool>().prop_map(Step::Deliver),
        (0i64..20_000).prop_map(Step::Tick),
        (1i64..4).prop_map(Step::Skip),
    ]
}

proptest! {
    /// Whatever happens, commits only move forward, and an offset is committed only
    /// after every record before it succeeded, reached the destination or was dropped
    /// by a rule; with infinite retries and no destination nothing is ever dropped.
    #[test]
    fn nothing_is_committed_before_it_is_handled(
        steps in proptest::collection::vec(step(), 1..120),
        bisect in any::<bool>(),
        partial in any::<bool>(),
        retries in proptest::option::of(0u32..3),
        destination in any::<bool>(),
    ) {
        let mut e = engine(EngineConfig {
            bisect_on_error: bisect,
            report_batch_item_failures: partial,
            max_retry_attempts: retries,
            has_destination: destination,
            ..config()
        });
        let mut now = 0;
        let mut fetched = 0i64;
        let mut handled = std::collections::BTreeSet::new();
        let mut inflight: Option<(BatchId, Vec<i64>)> = None;
        let mut delivering: Option<(BatchId, Vec<i64>)> = None;
        let mut committed = 0i64;
        for s in steps {
            match s {
                Step::Fetch(n) => {
                    let n = n as i64;
                    e.fetched(&tp(0), recs(fetched..fetched + n), fetched + n, now);
                    fetched += n;
                }
                Step::Succeed => if let Some((id, offsets)) = inflight.take() {
                    handled.extend(offsets);
                    e.invoked(id, InvokeOutcome::Success, now);
                },
                Step::Fail(k) => if let Some((id, _)) = inflight.take() {
                    let f = [Failure::Function, Failure::Throttled, Failure::Service][k as usize];
                    e.invoked(id, InvokeOutcome::Failed(f), now);
                },
                Step::Partial(i) => if let Some((id, offsets)) = inflight.take() {
                    let lowest = offsets[i % offsets.len()];
                    if partial {
                        handled.extend(offsets.iter().copied().filter(|o| *o < lowest));
                    }
                    e.invoked(id, InvokeOutcome::PartialFailure { failed_offsets: vec![lowest] }, now);
                    if !partial {
                        handled.extend(offsets);
                    }
                },
                Step::Deliver(ok) => if let Some((id, offsets)) = delivering.take() {
                    if ok {
                        handled.extend(offsets);
                    }
                    e.delivered(id, ok, now);
                },
                Step::Tick(dt) => {
                    now += dt;
                    e.handle_timeout(now);
                }
                Step::Skip(n) => {
                    e.reset(&tp(0), fetched, fetched + n, now);
                    // Gone from the log: nothing to handle.
                    handled.extend(fetched..fetched + n);
                    fetched += n;
                }
            }
            while let Some(a) = e.poll_action() {
                match a {
                    Action::Invoke { id, records, .. } => {
                        prop_assert!(inflight.is_none() && delivering.is_none(), "one at a time");
                        inflight = Some((id, records.iter().map(|r| r.offset).collect()));
                    }
                    Action::SendToDestination { id, records, .. } => {
                        prop_assert!(destination);
                        prop_assert!(inflight.is_none() && delivering.is_none());
                        delivering = Some((id, records.iter().map(|r| r.offset).collect()));
                    }
                    Action::Dropped { first_offset, last_offset, .. } => {
                        prop_assert!(!destination);
                        prop_assert!(retries.is_some(), "infinite retries never drop");
                        handled.extend(first_offset..=last_offset);
                    }
                    Action::Commit { offset, .. } => {
                        prop_assert!(offset > committed, "commits move forward");
                        prop_assert!(offset <= fetched);
                        for o in 0..offset {
                            prop_assert!(handled.contains(&o), "offset {} committed at {} unhandled", o, offset);
                        }
                        committed = offset;
                    }
                    Action::Reset { from, to, skipped, discarded, .. } => {
                        prop_assert_eq!((skipped, discarded), ((to - from) as u64, 0));
                    }
                    Action::Pause(_) | Action::Resume(_) | Action::Revoked(_) => {}
                }
            }
        }
    }
}

#[test]
fn with_bisect_and_partial_responses_the_rest_after_a_partial_failure_is_not_split() {
    let mut e = engine(EngineConfig {
        batch_size: 6,
        bisect_on_error: true,
        report_batch_item_failures: true,
        ..config()
    });
    e.fetched(&tp(0), recs(0..6), 6, 0);
    let (id, _, _) = invoke(&drain(&mut e));
    e.invoked(
        id,
        InvokeOutcome::PartialFailure {
            failed_offsets: vec![2],
        },
        1,
    );
    assert_eq!(commits(&drain(&mut e)), [2]);
    e.handle_timeout(e.poll_timeout().unwrap());
    assert_eq!(invoke(&drain(&mut e)).1, [2, 3, 4, 5]);
}

#[test]
fn a_lost_partition_commits_nothing_and_its_late_result_is_ignored() {
    let mut e = engine(config());
    e.assign(tp(1), 0);
    e.fetched(&tp(0), recs(0..3), 3, 0);
    e.fetched(&tp(1), recs(0..3), 3, 0);
    let a = drain(&mut e);
    let ids: Vec<(BatchId, TopicPartition)> = a
        .iter()
        .filter_map(|a| match a {
            Action::Invoke { id, partition, .. } => Some((*id, partition.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 2, "{a:?}");
    // Partition 1's batch succeeds but its commit is not carried out yet when the
    // member learns it was evicted: the queued commit goes with the partition.
    let (id1, _) = ids.iter().find(|(_, p)| *p == tp(1)).unwrap();
    e.invoked(*id1, InvokeOutcome::Success, 10);
    e.lose(&tp(1));
    let a = drain(&mut e);
    assert!(a.iter().all(|a| a.partition() != &tp(1)), "{a:?}");
    assert_eq!(e.partitions().cloned().collect::<Vec<_>>(), [tp(0)]);
    // Partition 0 is lost with its batch in flight: the result that comes later
    // commits nothing, and no Revoked follows (nothing waits for it).
    let (id0, _) = ids.iter().find(|(_, p)| *p == tp(0)).unwrap();
    e.lose(&tp(0));
    e.invoked(*id0, InvokeOutcome::Success, 20);
    assert_eq!(drain(&mut e), []);
    assert!(e.partitions().next().is_none());
    // Assigned again later, it starts over from the position given.
    e.assign(tp(0), 3);
    e.fetched(&tp(0), recs(3..6), 6, 30);
    let (_, offsets, attempt) = invoke(&drain(&mut e));
    assert_eq!((offsets, attempt), (vec![3, 4, 5], 1));
}

fn reset(partition: i32, from: i64, to: i64, skipped: u64, discarded: usize) -> Action<Rec> {
    Action::Reset {
        partition: tp(partition),
        from,
        to,
        skipped,
        discarded,
    }
}

fn commit(offset: i64) -> Action<Rec> {
    Action::Commit {
        partition: tp(0),
        offset,
    }
}

#[test]
fn a_reset_forward_counts_what_no_longer_exists_and_resumes_past_it() {
    let mut e = engine(config());
    e.fetched(&tp(0), recs(0..3), 3, 0);
    let (id, _, _) = invoke(&drain(&mut e));
    e.invoked(id, InvokeOutcome::Success, 1);
    assert_eq!(commits(&drain(&mut e)), [3]);
    // Retention deleted 3..10 before they were fetched.
    e.reset(&tp(0), 3, 10, 2);
    assert_eq!(drain(&mut e), [reset(0, 3, 10, 7, 0), commit(10)]);
    e.fetched(&tp(0), recs(10..13), 13, 3);
    assert_eq!(invoke(&drain(&mut e)).1, [10, 11, 12]);
}

#[test]
fn a_reset_forward_handles_what_was_held_then_commits_past_the_gap() {
    let mut e = engine(config());
    e.fetched(&tp(0), recs(0..5), 5, 0);
    let (id, offsets, _) = invoke(&drain(&mut e));
    assert_eq!(offsets, [0, 1, 2]);
    e.reset(&tp(0), 5, 10, 1);
    assert_eq!(drain(&mut e), [reset(0, 5, 10, 5, 0)]);
    e.invoked(id, InvokeOutcome::Success, 2);
    assert_eq!(drain(&mut e), [commit(3)]);
    // 3 and 4 were fetched: invoked when their window ends.
    e.handle_timeout(500);
    let (id, offsets, _) = invoke(&drain(&mut e));
    assert_eq!(offsets, [3, 4]);
    e.invoked(id, InvokeOutcome::Success, 501);
    assert_eq!(commits(&drain(&mut e)), [10]);
}

#[test]
fn a_reset_backward_resumes_at_the_new_position_and_delivers_again() {
    // The group's offset is past the end of the log (the topic was re-created): the
    // fetcher resets to the log start.
    let mut e: Engine<Rec> = Engine::new(config());
    e.assign(tp(0), 100);
    e.reset(&tp(0), 100, 0, 0);
    assert_eq!(drain(&mut e), [reset(0, 100, 0, 0, 0), commit(0)]);
    e.fetched(&tp(0), recs(0..3), 3, 1);
    let (id, offsets, _) = invoke(&drain(&mut e));
    assert_eq!(offsets, [0, 1, 2]);
    e.invoked(id, InvokeOutcome::Success, 2);
    assert_eq!(commits(&drain(&mut e)), [3]);
}

#[test]
fn a_batch_in_flight_at_a_backward_reset_commits_nothing_past_the_new_position() {
    // The log is re-created under an invocation of 0..3 (3 and 4 buffered).
    let mut e = engine(config());
    e.fetched(&tp(0), recs(0..5), 5, 0);
    let (old, _, _) = invoke(&drain(&mut e));
    e.reset(&tp(0), 5, 0, 1);
    assert_eq!(drain(&mut e), [reset(0, 5, 0, 0, 5)]);
    // The new log's records wait for the old invocation: one batch per partition.
    e.fetched(&tp(0), recs(0..3), 3, 2);
    assert!(drain(&mut e).is_empty());
    e.invoked(old, InvokeOutcome::Success, 3);
    let a = drain(&mut e);
    assert!(commits(&a).is_empty(), "{a:?}");
    let (id, offsets, attempt) = invoke(&a);
    assert_eq!((offsets, attempt), (vec![0, 1, 2], 1));
    e.invoked(id, InvokeOutcome::Success, 4);
    assert_eq!(commits(&drain(&mut e)), [3]);

    // Reset to 2 under the same invocation: 0 and 1 still count, 2..5 come again.
    for success in [true, false] {
        let mut e = engine(config());
        e.fetched(&tp(0), recs(0..5), 5, 0);
        let (old, _, _) = invoke(&drain(&mut e));
        e.reset(&tp(0), 5, 2, 1);
        assert_eq!(drain(&mut e), [reset(0, 5, 2, 0, 3)]);
        if success {
            e.invoked(old, InvokeOutcome::Success, 2);
            assert_eq!(drain(&mut e), [commit(2)], "not 3");
        } else {
            e.invoked(old, InvokeOutcome::Failed(Failure::Function), 2);
            assert!(drain(&mut e).is_empty());
            e.handle_timeout(e.poll_timeout().unwrap());
            let (id, offsets, attempt) = invoke(&drain(&mut e));
            assert_eq!((offsets, attempt), (vec![0, 1], 2), "only what is below 2");
            e.invoked(id, InvokeOutcome::Success, 1000);
            assert_eq!(drain(&mut e), [commit(2)]);
        }
        e.fetched(&tp(0), recs(2..5), 5, 2000);
        let (id, offsets, _) = invoke(&drain(&mut e));
        assert_eq!(offsets, [2, 3, 4]);
        e.invoked(id, InvokeOutcome::Success, 2001);
        assert_eq!(commits(&drain(&mut e)), [5]);
    }
}

#[test]
fn a_reset_of_a_partition_waiting_for_a_retry_keeps_what_is_below_the_new_position() {
    // Bisected halves 0..2 and 2..4 wait for a retry; the log restarts at 1.
    let mut e = engine(EngineConfig {
        batch_size: 4,
        bisect_on_error: true,
        ..config()
    });
    e.fetched(&tp(0), recs(0..4), 4, 0);
    let (id, _, _) = invoke(&drain(&mut e));
    e.invoked(id, InvokeOutcome::Failed(Failure::Function), 1);
    let (id, offsets, _) = invoke(&drain(&mut e));
    assert_eq!(offsets, [0, 1]);
    e.invoked(id, InvokeOutcome::Failed(Failure::Function), 2);
    let (id, offsets, _) = invoke(&drain(&mut e));
    assert_eq!(offsets, [0]);
    e.invoked(id, InvokeOutcome::Failed(Failure::Throttled), 3);
    assert!(drain(&mut e).is_empty(), "backing off");
    e.reset(&tp(0), 4, 1, 4);
    assert_eq!(drain(&mut e), [reset(0, 4, 1, 0, 3)]);
    e.handle_timeout(e.poll_timeout().unwrap());
    let (id, offsets, _) = invoke(&drain(&mut e));
    assert_eq!(offsets, [0]);
    e.invoked(id, InvokeOutcome::Success, 10_000);
    assert_eq!(drain(&mut e), [commit(1)]);
}
