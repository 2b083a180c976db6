use super::*;

#[test]
fn eviction_is_told_from_a_rebalance() {
    let rejoin = |code| GroupError::Rejoin {
        group: "g".into(),
        api: kafka_protocol::messages::ApiKey::Heartbeat,
        code: KafkaCode(code),
    };
    assert!(evicted(&rejoin(UNKNOWN_MEMBER_ID)));
    assert!(evicted(&rejoin(ILLEGAL_GENERATION)));
    assert!(
        !evicted(&rejoin(27)),
        "REBALANCE_IN_PROGRESS keeps the partitions"
    );
}

// ---------------------------------------------------------------------------------------
// The state machine, fed by hand: explicit Instants, no socket, no sleep.

const SESSION: Duration = Duration::from_secs(10);
const BEAT: Duration = Duration::from_secs(3);
/// The session less its margin (a tenth of it, between 200 ms and 2 s).
const ALIVE: Duration = Duration::from_secs(9);

fn tp(p: i32) -> TopicPartition {
    ("t".to_string(), p)
}

fn tps(ps: &[i32]) -> Vec<TopicPartition> {
    ps.iter().map(|&p| tp(p)).collect()
}

fn set(ps: &[i32]) -> BTreeSet<TopicPartition> {
    ps.iter().map(|&p| tp(p)).collect()
}

fn actions(s: &mut GroupState) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

fn eager() -> &'static str {
    Assignor::Range.name()
}

fn cooperative() -> &'static str {
    Assignor::CooperativeSticky.name()
}

/// A member of generation 1 owning `ps` under `protocol`, its heartbeats started at `t`.
fn member(protocol: &str, ps: &[i32], t: Instant) -> GroupState {
    let mut s = GroupState::new("g", SESSION, BEAT, t);
    s.joined(1, protocol, set(ps), t);
    assert_eq!(
        actions(&mut s),
        [Action::ForgetUnheldCommits, Action::Announce(tps(ps))]
    );
    s.took(&tps(ps));
    s.assignment_announced(t);
    s
}

#[test]
fn a_join_announces_the_assignment_then_heartbeats_every_interval() {
    let t = Instant::now();
    let mut s = GroupState::new("g", SESSION, BEAT, t);
    assert_eq!(s.next_timer(), None, "no timer before a join");
    s.joined(4, eager(), set(&[0, 1]), t);
    assert_eq!(
        actions(&mut s),
        [Action::ForgetUnheldCommits, Action::Announce(tps(&[0, 1]))]
    );
    assert!(
        !s.holds(&tp(0)),
        "owned only once its committed offset is known"
    );
    s.took(&tps(&[0, 1]));
    assert!(s.holds(&tp(0)) && s.holds(&tp(1)));
    s.assignment_announced(t);
    assert_eq!(s.next_timer(), Some(t + BEAT));
    s.timer(t + BEAT - Duration::from_millis(1));
    assert_eq!(actions(&mut s), []);
    s.timer(t + BEAT);
    assert_eq!(actions(&mut s), [Action::Heartbeat]);
    s.heartbeat_answered(t + BEAT, Beat::Ok);
    assert_eq!(s.next_timer(), Some(t + BEAT * 2));
    // A late tick: the next one is an interval after it (missed ticks are delayed).
    let late = t + BEAT * 2 + Duration::from_secs(1);
    s.timer(late);
    assert_eq!(actions(&mut s), [Action::Heartbeat]);
    s.heartbeat_answered(late, Beat::Ok);
    assert_eq!(s.next_timer(), Some(late + BEAT));
}

#[test]
fn an_answered_heartbeat_renews_the_session_from_when_it_was_sent() {
    let t = Instant::now();
    let mut s = member(eager(), &[0], t);
    assert_eq!(s.session_deadline(), Some(t + ALIVE));
    let sent = t + BEAT;
    s.heartbeat_answered(sent, Beat::Ok);
    assert_eq!(s.session_deadline(), Some(sent + ALIVE));
    // An unanswered one does not.
    s.heartbeat_answered(sent + BEAT, Beat::Retriable);
    assert_eq!(s.session_deadline(), Some(sent + ALIVE));
    assert_eq!(
        actions(&mut s),
        [],
        "a retriable failure waits for the next beat"
    );
    // REBALANCE_IN_PROGRESS is an answer.
    let mut s = member(cooperative(), &[0], t);
    s.heartbeat_answered(sent, Beat::Rebalance { answered: true });
    assert_eq!(s.session_deadline(), Some(sent + ALIVE));
}

#[test]
fn an_eager_rebalance_revokes_everything_and_heartbeats_until_the_release() {
    let t = Instant::now();
    let mut s = member(eager(), &[0, 1], t);
    let at = t + BEAT;
    s.heartbeat_answered(at, Beat::Rebalance { answered: true });
    assert_eq!(actions(&mut s), [Action::Revoke(tps(&[0, 1]))]);
    s.revocation_announced(at);
    assert!(s.awaiting_release());
    assert!(s.holds(&tp(0)), "revoking partitions still commit");
    // The consumer takes long: heartbeats go on, rebalance answers keep it alive.
    for n in 1..=5 {
        let now = at + BEAT * n;
        s.timer(now);
        assert_eq!(actions(&mut s), [Action::Heartbeat]);
        s.heartbeat_answered(now, Beat::Rebalance { answered: true });
        assert_eq!(actions(&mut s), []);
        assert!(s.awaiting_release());
    }
    s.released();
    assert_eq!(
        actions(&mut s),
        [Action::Flush {
            within: SESSION / 2
        }]
    );
    assert!(s.holds(&tp(1)), "the final commits still go out");
    s.commits_flushed();
    assert_eq!(
        actions(&mut s),
        [Action::ForgetUnheldCommits, Action::Rejoin]
    );
    assert!(!s.holds(&tp(0)) && !s.holds(&tp(1)));
    assert_eq!(s.session_deadline(), None);
}

#[test]
fn a_cooperative_rebalance_keeps_the_partitions() {
    let t = Instant::now();
    let mut s = member(cooperative(), &[0, 1], t);
    s.heartbeat_answered(t + BEAT, Beat::Rebalance { answered: true });
    assert_eq!(actions(&mut s), [Action::Rejoin]);
    assert!(s.holds(&tp(0)) && s.holds(&tp(1)));
    s.round_ended();
    // The rejoin lists them as still owned, with their generation.
    let protocols = s.protocols(
        &[Assignor::CooperativeSticky, Assignor::Range],
        &["t".into()],
    );
    assert_eq!(protocols[0].1.owned_partitions.len(), 1);
    assert_eq!(protocols[0].1.owned_partitions[0].partitions, [0, 1]);
    assert_eq!(protocols[0].1.generation_id, 1);
    assert!(
        protocols[1].1.owned_partitions.is_empty(),
        "eager lists none"
    );
    assert_eq!(protocols[1].1.generation_id, -1);
}

#[test]
fn a_cooperative_join_revokes_what_moved_then_takes_what_came_and_rejoins() {
    let t = Instant::now();
    let mut s = member(cooperative(), &[0, 1], t);
    s.round_ended();
    s.joined(2, cooperative(), set(&[1, 2]), t + BEAT);
    assert_eq!(actions(&mut s), [Action::Revoke(tps(&[0]))]);
    s.revocation_announced(t + BEAT);
    s.released();
    assert_eq!(
        actions(&mut s),
        [Action::Flush {
            within: SESSION / 2
        }]
    );
    s.commits_flushed();
    assert_eq!(
        actions(&mut s),
        [
            Action::ForgetUnheldCommits,
            Action::Announce(tps(&[2])),
            Action::Rejoin
        ]
    );
    s.took(&tps(&[2]));
    assert_eq!(s.owned, set(&[1, 2]));
    assert_eq!(s.owned_generation, 2);
}

#[test]
fn eviction_loses_every_partition_and_rejoins() {
    let t = Instant::now();
    let mut s = member(eager(), &[0, 1], t);
    s.heartbeat_answered(t + BEAT, Beat::Gone);
    assert_eq!(
        actions(&mut s),
        [
            Action::ForgetCommits,
            Action::Lost {
                partitions: tps(&[0, 1]),
                stop_if_gone: true
            },
            Action::Rejoin
        ]
    );
    assert!(s.owned.is_empty());
    // Holding nothing, an eviction loses nothing.
    let mut s = member(eager(), &[], t);
    s.heartbeat_answered(t + BEAT, Beat::Gone);
    assert_eq!(actions(&mut s), [Action::ForgetCommits, Action::Rejoin]);
}

#[test]
fn the_session_runs_out_locally_before_the_coordinator_says_so() {
    let t = Instant::now();
    let mut s = member(eager(), &[0], t);
    // Heartbeats go unanswered (the coordinator is unreachable).
    for n in 1..=2 {
        s.timer(t + BEAT * n);
        assert_eq!(actions(&mut s), [Action::Heartbeat]);
        s.heartbeat_answered(t + BEAT * n, Beat::Retriable);
    }
    assert_eq!(s.next_timer(), Some(t + ALIVE), "before the third beat");
    s.timer(t + ALIVE);
    assert_eq!(
        actions(&mut s),
        [
            Action::ForgetCommits,
            Action::Lost {
                partitions: tps(&[0]),
                stop_if_gone: true
            },
            Action::Rejoin
        ]
    );
    // A member holding nothing has no session to guard.
    let mut s = member(eager(), &[], t);
    assert_eq!(s.next_timer(), Some(t + BEAT));
    assert_eq!(s.session_deadline(), None);
    s.timer(t + ALIVE);
    assert_eq!(actions(&mut s), [Action::Heartbeat]);
}

#[test]
fn eviction_during_an_eager_revocation_loses_the_revoked_partitions() {
    let t = Instant::now();
    let mut s = member(eager(), &[0, 1], t);
    s.heartbeat_answered(t, Beat::Rebalance { answered: false });
    assert_eq!(actions(&mut s), [Action::Revoke(tps(&[0, 1]))]);
    s.revocation_announced(t);
    s.timer(t + BEAT);
    assert_eq!(actions(&mut s), [Action::Heartbeat]);
    s.heartbeat_answered(t + BEAT, Beat::Gone);
    assert_eq!(
        actions(&mut s),
        [
            Action::ForgetCommits,
            Action::Lost {
                partitions: tps(&[0, 1]),
                stop_if_gone: false
            },
            Action::ForgetUnheldCommits,
            Action::Rejoin
        ]
    );
    assert!(!s.awaiting_release());
    assert!(!s.holds(&tp(0)));
    // A release arriving now changes nothing.
    s.released();
    assert_eq!(actions(&mut s), []);
}

#[test]
fn the_session_running_out_during_a_revocation_loses_the_revoked_partitions() {
    let t = Instant::now();
    let mut s = member(eager(), &[0], t);
    s.heartbeat_answered(t, Beat::Rebalance { answered: false });
    assert_eq!(actions(&mut s), [Action::Revoke(tps(&[0]))]);
    s.revocation_announced(t);
    s.timer(t + ALIVE);
    assert_eq!(
        actions(&mut s),
        [
            Action::ForgetCommits,
            Action::Lost {
                partitions: tps(&[0]),
                stop_if_gone: false
            },
            Action::ForgetUnheldCommits,
            Action::Rejoin
        ]
    );
}

#[test]
fn a_fatal_heartbeat_error_ends_the_task_but_not_a_revocation() {
    let t = Instant::now();
    let mut s = member(eager(), &[0], t);
    s.heartbeat_answered(t, Beat::Fatal);
    assert_eq!(actions(&mut s), [Action::Fail]);
    let mut s = member(eager(), &[0], t);
    s.heartbeat_answered(t, Beat::Rebalance { answered: false });
    assert_eq!(actions(&mut s), [Action::Revoke(tps(&[0]))]);
    s.heartbeat_answered(t, Beat::Fatal);
    assert_eq!(actions(&mut s), []);
    assert!(s.awaiting_release());
}

#[test]
fn an_eager_join_after_a_revocation_heartbeats_in_the_new_generation() {
    let t = Instant::now();
    // An eager member still owning partitions at a join (its revocation was cut short).
    let mut s = member(eager(), &[0, 1], t);
    s.round_ended();
    s.joined(2, eager(), set(&[1, 2]), t);
    assert_eq!(actions(&mut s), [Action::Revoke(tps(&[0]))]);
    s.revocation_announced(t);
    s.released();
    actions(&mut s);
    s.commits_flushed();
    assert_eq!(
        actions(&mut s),
        [
            Action::ForgetUnheldCommits,
            Action::ForgetUnheldCommits,
            Action::Announce(tps(&[2]))
        ]
    );
    s.took(&tps(&[2]));
    s.assignment_announced(t + BEAT);
    assert_eq!(s.next_timer(), Some(t + BEAT + BEAT));
    assert_eq!(s.owned_generation, 2);
}

#[test]
fn a_failed_round_backs_off_doubling_to_five_seconds_and_forgets_its_actions() {
    let t = Instant::now();
    let mut s = GroupState::new("g", SESSION, BEAT, t);
    s.joined(1, eager(), set(&[0]), t);
    let waits: Vec<u64> = (0..8)
        .map(|_| s.round_failed().as_millis() as u64)
        .collect();
    assert_eq!(waits, [200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
    assert_eq!(actions(&mut s), [], "a failed round's actions are dropped");
    assert_eq!(s.next_timer(), None);
    s.round_ended();
    assert_eq!(s.round_failed(), Duration::from_millis(200));
}

#[test]
fn heartbeat_results_are_classified() {
    let rejoin = |code| {
        Err(GroupError::Rejoin {
            group: "g".into(),
            api: kafka_protocol::messages::ApiKey::Heartbeat,
            code: KafkaCode(code),
        })
    };
    assert_eq!(Beat::of(&Ok(())), Beat::Ok);
    assert_eq!(Beat::of(&rejoin(UNKNOWN_MEMBER_ID)), Beat::Gone);
    assert_eq!(
        Beat::of(&rejoin(REBALANCE_IN_PROGRESS)),
        Beat::Rebalance { answered: true }
    );
    assert_eq!(
        Beat::of(&Err(GroupError::SessionExpired { group: "g".into() })),
        Beat::Gone
    );
}

#[test]
fn eviction_during_a_cooperative_revocation_loses_every_partition_held() {
    let t = Instant::now();
    let mut s = member(cooperative(), &[0, 1, 2], t);
    s.round_ended();
    s.joined(2, cooperative(), set(&[1, 2]), t);
    assert_eq!(actions(&mut s), [Action::Revoke(tps(&[0]))]);
    s.revocation_announced(t);
    s.heartbeat_answered(t + BEAT, Beat::Gone);
    // Evicted: the partitions kept through the rebalance may have new owners too.
    assert_eq!(
        actions(&mut s),
        [
            Action::ForgetCommits,
            Action::Lost {
                partitions: tps(&[0, 1, 2]),
                stop_if_gone: false
            },
            Action::ForgetUnheldCommits,
            Action::Rejoin
        ]
    );
    assert!(s.owned.is_empty(), "the next join lists none as owned");
    assert!(!s.holds(&tp(1)));
}
