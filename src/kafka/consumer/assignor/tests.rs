use super::*;
use crate::kafka::TopicPartition;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

fn member(id: &str, topics: &[&str]) -> Member {
    Member {
        member_id: id.into(),
        group_instance_id: None,
        subscription: Subscription {
            version: 3,
            topics: topics.iter().map(|t| t.to_string()).collect(),
            user_data: None,
            owned_partitions: Vec::new(),
            generation_id: -1,
            rack_id: None,
        },
    }
}

/// `m`, owning `owned` (as "t0p1" names) from `generation`.
fn owning(mut m: Member, generation: i32, owned: &[&str]) -> Member {
    m.subscription.generation_id = generation;
    m.subscription.owned_partitions = tps(owned);
    m
}

/// "t0p1" names → topic-partitions, in order.
fn tps(names: &[&str]) -> Vec<TopicPartitions> {
    let mut out: Vec<TopicPartitions> = Vec::new();
    for name in names {
        let (topic, p) = name.rsplit_once('p').unwrap();
        let p = p.parse().unwrap();
        match out.last_mut() {
            Some(last) if last.topic == topic => last.partitions.push(p),
            _ => out.push(TopicPartitions {
                topic: topic.into(),
                partitions: vec![p],
            }),
        }
    }
    out
}

fn counts(counts: &[(&str, i32)]) -> BTreeMap<String, i32> {
    counts.iter().map(|&(t, n)| (t.to_string(), n)).collect()
}

/// The plan as "t0p1" names per member.
fn names(plan: &GroupAssignment) -> BTreeMap<&str, Vec<String>> {
    plan.iter()
        .map(|(m, tps)| {
            let names = tps
                .iter()
                .flat_map(|tp| tp.partitions.iter().map(|p| format!("{}p{p}", tp.topic)))
                .collect();
            (m.as_str(), names)
        })
        .collect()
}

fn expect(pairs: &[(&'static str, &[&str])]) -> BTreeMap<&'static str, Vec<String>> {
    pairs
        .iter()
        .map(|&(m, ps)| (m, ps.iter().map(|p| p.to_string()).collect()))
        .collect()
}

#[test]
fn protocol_names_are_javas() {
    assert_eq!(Assignor::Range.name(), "range");
    assert_eq!(Assignor::RoundRobin.name(), "roundrobin");
    assert_eq!(Assignor::CooperativeSticky.name(), "cooperative-sticky");
    for a in Assignor::ALL {
        assert_eq!(Assignor::from_name(a.name()), Some(a));
    }
    assert_eq!(Assignor::from_name("sticky"), None);
    assert_eq!(Assignor::from_name("Range"), None);
    assert_eq!(
        Assignor::CooperativeSticky.rebalance_protocol(),
        RebalanceProtocol::Cooperative
    );
    assert_eq!(
        Assignor::Range.rebalance_protocol(),
        RebalanceProtocol::Eager
    );
}

/// `RangeAssignor`'s javadoc example.
#[test]
fn range_as_javas_documentation_says() {
    let members = [member("C1", &["t0", "t1"]), member("C0", &["t0", "t1"])];
    let plan = range(&members, &counts(&[("t0", 3), ("t1", 3)])).unwrap();
    assert_eq!(
        names(&plan),
        expect(&[
            ("C0", &["t0p0", "t0p1", "t1p0", "t1p1"]),
            ("C1", &["t0p2", "t1p2"]),
        ])
    );
}

#[test]
fn range_splits_per_topic_over_its_subscribers_only() {
    let members = [
        member("a", &["t0"]),
        member("b", &["t0", "t1"]),
        member("c", &["t0", "t1", "unknown"]),
    ];
    let plan = range(&members, &counts(&[("t0", 7), ("t1", 3), ("other", 4)])).unwrap();
    assert_eq!(
        names(&plan),
        expect(&[
            ("a", &["t0p0", "t0p1", "t0p2"]),
            ("b", &["t0p3", "t0p4", "t1p0", "t1p1"]),
            ("c", &["t0p5", "t0p6", "t1p2"]),
        ])
    );
    // More members than partitions: the last get nothing, and still an entry.
    let plan = range(&members, &counts(&[("t0", 2)])).unwrap();
    assert_eq!(
        names(&plan),
        expect(&[("a", &["t0p0"]), ("b", &["t0p1"]), ("c", &[])])
    );
}

#[test]
fn static_members_come_first_by_instance_id() {
    let mut members = [
        member("a", &["t"]),
        member("b", &["t"]),
        member("c", &["t"]),
    ];
    members[2].group_instance_id = Some("x".into());
    members[1].group_instance_id = Some("y".into());
    let plan = range(&members, &counts(&[("t", 3)])).unwrap();
    assert_eq!(
        names(&plan),
        expect(&[("a", &["tp2"]), ("b", &["tp1"]), ("c", &["tp0"])])
    );
    let plan = round_robin(&members, &counts(&[("t", 4)])).unwrap();
    assert_eq!(
        names(&plan),
        expect(&[("a", &["tp2"]), ("b", &["tp1"]), ("c", &["tp0", "tp3"])])
    );
}

#[test]
fn java_string_order_is_by_utf16_code_unit() {
    assert_eq!(java_cmp("a", "b"), Ordering::Less);
    assert_eq!(java_cmp("ab", "a"), Ordering::Greater);
    // U+10000 is a surrogate pair (0xD800 0xDC00) in UTF-16: before U+E000 in Java,
    // after it in Rust.
    assert_eq!(java_cmp("\u{10000}", "\u{E000}"), Ordering::Less);
    assert_eq!("\u{10000}".cmp("\u{E000}"), Ordering::Greater);
}

/// `RoundRobinAssignor`'s javadoc examples.
#[test]
fn round_robin_as_javas_documentation_says() {
    let members = [member("C0", &["t0", "t1"]), member("C1", &["t0", "t1"])];
    let plan = round_robin(&members, &counts(&[("t0", 3), ("t1", 3)])).unwrap();
    assert_eq!(
        names(&plan),
        expect(&[
            ("C0", &["t0p0", "t0p2", "t1p1"]),
            ("C1", &["t0p1", "t1p0", "t1p2"]),
        ])
    );

    let members = [
        member("C2", &["t0", "t1", "t2"]),
        member("C0", &["t0"]),
        member("C1", &["t0", "t1"]),
    ];
    let plan = round_robin(&members, &counts(&[("t0", 1), ("t1", 2), ("t2", 3)])).unwrap();
    assert_eq!(
        names(&plan),
        expect(&[
            ("C0", &["t0p0"]),
            ("C1", &["t1p0"]),
            ("C2", &["t1p1", "t2p0", "t2p1", "t2p2"]),
        ])
    );
}

#[test]
fn duplicate_members_are_refused() {
    let members = [
        member("a", &["t"]),
        member("b", &["t"]),
        member("a", &["t"]),
    ];
    for a in Assignor::ALL {
        assert_eq!(
            a.assign(&members, &counts(&[("t", 3)])),
            Err(AssignError::DuplicateMember {
                member_id: "a".into()
            })
        );
    }
}

#[test]
fn topics_without_partitions_and_members_without_topics() {
    let members = [member("a", &["gone", "empty"]), member("b", &[])];
    for a in Assignor::ALL {
        let plan = a
            .assign(&members, &counts(&[("empty", 0), ("neg", -1)]))
            .unwrap();
        assert_eq!(names(&plan), expect(&[("a", &[]), ("b", &[])]));
    }
    for a in Assignor::ALL {
        assert_eq!(a.assign(&[], &counts(&[("t", 3)])), Ok(BTreeMap::new()));
    }
}

#[test]
fn assignments_for_sync_group() {
    let members = [member("a", &["t"])];
    let plan = range(&members, &counts(&[("t", 2)])).unwrap();
    let assignments = to_assignments(plan);
    assert_eq!(
        assignments["a"],
        Assignment {
            version: *ASSIGNMENT_VERSIONS.end(),
            assigned_partitions: tps(&["tp0", "tp1"]),
            user_data: None,
        }
    );
}

#[test]
fn owned_generation_as_java_reads_it() {
    let mut s = member("a", &[]).subscription;
    assert_eq!(owned_generation(&s), -1);
    s.user_data = Some(cooperative_sticky_user_data(7));
    assert_eq!(s.user_data.as_deref(), Some(&[0, 0, 0, 7][..]));
    assert_eq!(owned_generation(&s), 7);
    s.generation_id = 9;
    assert_eq!(owned_generation(&s), 9);
    s.generation_id = -1;
    s.user_data = Some(Bytes::from_static(&[1, 2]));
    assert_eq!(owned_generation(&s), -1);
}

/// The `StickyAssignor` javadoc's first example: a fresh assignment, then one member
/// leaves and the others keep everything they had.
#[test]
fn sticky_as_javas_documentation_says_for_equal_subscriptions() {
    let all = ["t0", "t1", "t2", "t3"];
    let partitions = counts(&[("t0", 2), ("t1", 2), ("t2", 2), ("t3", 2)]);
    let members = [member("C0", &all), member("C1", &all), member("C2", &all)];
    let plan = cooperative_sticky(&members, &partitions).unwrap();
    assert_eq!(
        names(&plan),
        expect(&[
            ("C0", &["t0p0", "t1p1", "t3p0"]),
            ("C1", &["t0p1", "t2p0", "t3p1"]),
            ("C2", &["t1p0", "t2p1"]),
        ])
    );
    let members = [
        owning(member("C0", &all), 1, &["t0p0", "t1p1", "t3p0"]),
        owning(member("C2", &all), 1, &["t1p0", "t2p1"]),
    ];
    let plan = cooperative_sticky(&members, &partitions).unwrap();
    assert_eq!(
        names(&plan),
        expect(&[
            ("C0", &["t0p0", "t1p1", "t2p0", "t3p0"]),
            ("C2", &["t0p1", "t1p0", "t2p1", "t3p1"]),
        ])
    );
}

/// The `StickyAssignor` javadoc's second example, with unequal subscriptions.
#[test]
fn sticky_as_javas_documentation_says_for_unequal_subscriptions() {
    let partitions = counts(&[("t0", 1), ("t1", 2), ("t2", 3)]);
    let members = [
        member("C0", &["t0"]),
        member("C1", &["t0", "t1"]),
        member("C2", &["t0", "t1", "t2"]),
    ];
    let plan = cooperative_sticky(&members, &partitions).unwrap();
    assert_eq!(
        names(&plan),
        expect(&[
            ("C0", &["t0p0"]),
            ("C1", &["t1p0", "t1p1"]),
            ("C2", &["t2p0", "t2p1", "t2p2"]),
        ])
    );
    let members = [
        owning(member("C1", &["t0", "t1"]), 1, &["t1p0", "t1p1"]),
        owning(
            member("C2", &["t0", "t1", "t2"]),
            1,
            &["t2p0", "t2p1", "t2p2"],
        ),
    ];
    let plan = cooperative_sticky(&members, &partitions).unwrap();
    assert_eq!(
        names(&plan),
        expect(&[
            ("C1", &["t0p0", "t1p0", "t1p1"]),
            ("C2", &["t2p0", "t2p1", "t2p2"]),
        ])
    );
}

#[test]
fn a_joining_member_gets_partitions_only_after_they_were_revoked() {
    let partitions = counts(&[("t", 6)]);
    let old = owning(
        member("a", &["t"]),
        4,
        &["tp0", "tp1", "tp2", "tp3", "tp4", "tp5"],
    );
    let members = [old, member("b", &["t"])];
    let plan = cooperative_sticky(&members, &partitions).unwrap();
    // a gives up half; b gets nothing yet.
    assert_eq!(
        names(&plan),
        expect(&[("a", &["tp3", "tp4", "tp5"]), ("b", &[])])
    );
    // a revoked them and rejoined: now b gets them.
    let members = [
        owning(member("a", &["t"]), 5, &["tp3", "tp4", "tp5"]),
        owning(member("b", &["t"]), 5, &[]),
    ];
    let plan = cooperative_sticky(&members, &partitions).unwrap();
    assert_eq!(
        names(&plan),
        expect(&[("a", &["tp3", "tp4", "tp5"]), ("b", &["tp0", "tp1", "tp2"])])
    );
}

#[test]
fn an_unsubscribed_topic_is_revoked_before_it_moves() {
    let partitions = counts(&[("t", 1), ("u", 2)]);
    let members = [
        owning(member("a", &["t"]), 3, &["tp0", "up0"]),
        owning(member("b", &["u"]), 3, &["up1"]),
    ];
    let plan = cooperative_sticky(&members, &partitions).unwrap();
    assert_eq!(names(&plan), expect(&[("a", &["tp0"]), ("b", &["up1"])]));
    let members = [
        owning(member("a", &["t"]), 4, &["tp0"]),
        owning(member("b", &["u"]), 4, &["up1"]),
    ];
    let plan = cooperative_sticky(&members, &partitions).unwrap();
    assert_eq!(
        names(&plan),
        expect(&[("a", &["tp0"]), ("b", &["up0", "up1"])])
    );
}

#[test]
fn the_higher_generation_wins_a_double_claim() {
    let partitions = counts(&[("t", 4)]);
    let members = [
        owning(member("a", &["t"]), 7, &["tp0", "tp1"]),
        owning(member("b", &["t"]), 6, &["tp1", "tp2", "tp3"]),
    ];
    let plan = cooperative_sticky(&members, &partitions).unwrap();
    assert_eq!(
        names(&plan),
        expect(&[("a", &["tp0", "tp1"]), ("b", &["tp2", "tp3"])])
    );
    // The generation can come from the user data of a pre-v2 subscription.
    let mut a = owning(member("a", &["t"]), -1, &["tp0", "tp1"]);
    a.subscription.user_data = Some(cooperative_sticky_user_data(5));
    let b = owning(member("b", &["t"]), 6, &["tp1", "tp2", "tp3"]);
    let plan = cooperative_sticky(&[a, b], &partitions).unwrap();
    // b's claim to tp1 wins; b then has one too many, and a gets tp1 once b revoked it.
    assert_eq!(
        names(&plan),
        expect(&[("a", &["tp0"]), ("b", &["tp2", "tp3"])])
    );
}

#[test]
fn a_tie_between_claims_is_revoked_from_both_first() {
    let partitions = counts(&[("t", 4)]);
    let members = [
        owning(member("a", &["t"]), 7, &["tp0", "tp1"]),
        owning(member("b", &["t"]), 7, &["tp1", "tp2"]),
    ];
    let plan = cooperative_sticky(&members, &partitions).unwrap();
    assert_eq!(
        names(&plan),
        expect(&[("a", &["tp0"]), ("b", &["tp2", "tp3"])])
    );
    let members = [
        owning(member("a", &["t"]), 8, &["tp0"]),
        owning(member("b", &["t"]), 8, &["tp2", "tp3"]),
    ];
    let plan = cooperative_sticky(&members, &partitions).unwrap();
    assert_eq!(
        names(&plan),
        expect(&[("a", &["tp0", "tp1"]), ("b", &["tp2", "tp3"])])
    );
}

// Property tests over random groups: up to 6 members with random ids, optional
// instance ids (duplicates allowed, Java's order ties then), subscriptions drawn
// from `POOL`, and random owned partitions (including ones that do not exist).

const POOL: [&str; 5] = ["t0", "t1", "t2", "t3", "gone"];

/// Partition counts for the first four pool topics, each possibly unknown.
fn partition_counts() -> impl Strategy<Value = BTreeMap<String, i32>> {
    proptest::collection::vec(proptest::option::of(0i32..9), 4).prop_map(|cs| {
        cs.into_iter()
            .enumerate()
            .filter_map(|(i, c)| Some((POOL[i].to_string(), c?)))
            .collect()
    })
}

fn topics() -> impl Strategy<Value = Vec<String>> {
    proptest::sample::subsequence(POOL.to_vec(), 0..=POOL.len())
        .prop_map(|ts| ts.into_iter().map(String::from).collect())
}

fn owned() -> impl Strategy<Value = (Vec<TopicPartitions>, i32)> {
    (
        proptest::collection::vec(
            (0..POOL.len(), proptest::collection::vec(-1i32..10, 0..5)),
            0..4,
        ),
        -1i32..4,
    )
        .prop_map(|(tps, generation)| {
            let tps = tps
                .into_iter()
                .map(|(t, partitions)| TopicPartitions {
                    topic: POOL[t].to_string(),
                    partitions,
                })
                .collect();
            (tps, generation)
        })
}

/// Random members; with `identical`, all with the same subscription.
fn members(identical: bool) -> impl Strategy<Value = Vec<Member>> {
    (
        proptest::collection::btree_set("[a-e]{1,3}", 1..7),
        topics(),
    )
        .prop_flat_map(|(ids, shared)| {
            let n = ids.len();
            let rest =
                proptest::collection::vec((proptest::option::of("[A-C]"), topics(), owned()), n);
            (Just(ids), Just(shared), rest)
        })
        .prop_map(move |(ids, shared, rest)| {
            ids.into_iter()
                .zip(rest)
                .map(|(id, (instance, topics, (owned, generation)))| Member {
                    member_id: id,
                    group_instance_id: instance,
                    subscription: Subscription {
                        version: 3,
                        topics: if identical { shared.clone() } else { topics },
                        user_data: None,
                        owned_partitions: owned,
                        generation_id: generation,
                        rack_id: None,
                    },
                })
                .collect()
        })
}

fn fresh(mut members: Vec<Member>) -> Vec<Member> {
    for m in &mut members {
        m.subscription.owned_partitions.clear();
        m.subscription.generation_id = -1;
    }
    members
}

/// `members` owning what `plan` gave them, at `generation`.
fn after(members: &[Member], plan: &GroupAssignment, generation: i32) -> Vec<Member> {
    members
        .iter()
        .map(|m| {
            let mut m = m.clone();
            m.subscription.owned_partitions = plan[&m.member_id].clone();
            m.subscription.generation_id = generation;
            m
        })
        .collect()
}

/// Every partition of a subscribed topic that `plan` must cover.
fn universe(members: &[Member], counts: &BTreeMap<String, i32>) -> BTreeSet<TopicPartition> {
    members
        .iter()
        .flat_map(|m| &m.subscription.topics)
        .filter_map(|t| Some((t, *counts.get(t)?)))
        .flat_map(|(t, n)| (0..n).map(move |p| (t.clone(), p)))
        .collect()
}

/// `plan` is well formed, gives partitions only to members subscribed to their topic,
/// each at most once, and returns the set it gave.
fn check_valid(
    members: &[Member],
    counts: &BTreeMap<String, i32>,
    plan: &GroupAssignment,
) -> Result<BTreeSet<TopicPartition>, TestCaseError> {
    let ids: BTreeSet<&String> = members.iter().map(|m| &m.member_id).collect();
    prop_assert_eq!(plan.keys().collect::<BTreeSet<_>>(), ids);
    let universe = universe(members, counts);
    let mut given = BTreeSet::new();
    for m in members {
        let tps = &plan[&m.member_id];
        prop_assert!(tps.windows(2).all(|w| w[0].topic < w[1].topic), "{tps:?}");
        for tp in tps {
            prop_assert!(!tp.partitions.is_empty());
            prop_assert!(tp.partitions.windows(2).all(|w| w[0] < w[1]), "{tp:?}");
            prop_assert!(m.subscription.topics.contains(&tp.topic));
            for &p in &tp.partitions {
                let tp = (tp.topic.clone(), p);
                prop_assert!(universe.contains(&tp), "{tp:?} does not exist");
                prop_assert!(given.insert(tp), "given twice");
            }
        }
    }
    Ok(given)
}

fn loads(plan: &GroupAssignment) -> Vec<usize> {
    plan.values()
        .map(|tps| tps.iter().map(|tp| tp.partitions.len()).sum())
        .collect()
}

fn within_one(loads: &[usize]) -> bool {
    loads.iter().max().unwrap_or(&0) - loads.iter().min().unwrap_or(&0) <= 1
}

/// Members whose owned partitions include `topic`-`p`.
fn claimed(members: &[Member], topic: &str, p: i32) -> bool {
    members.iter().any(|m| {
        m.subscription
            .owned_partitions
            .iter()
            .any(|tp| tp.topic == topic && tp.partitions.contains(&p))
    })
}

/// The generations at which each member claims `topic`-`p`, by member id.
fn claims_on<'a>(members: &'a [Member], topic: &str, p: i32) -> BTreeMap<&'a str, i32> {
    members
        .iter()
        .filter(|m| {
            m.subscription
                .owned_partitions
                .iter()
                .any(|tp| tp.topic == topic && tp.partitions.contains(&p))
        })
        .map(|m| (m.member_id.as_str(), owned_generation(&m.subscription)))
        .collect()
}

fn shuffled(identical: bool) -> impl Strategy<Value = (Vec<Member>, Vec<Member>)> {
    members(identical).prop_flat_map(|m| (Just(m.clone()), Just(m).prop_shuffle()))
}

proptest! {
    #[test]
    fn eager_assignors_give_every_partition_once_to_a_subscriber(
        members in members(false),
        counts in partition_counts(),
    ) {
        for assign in [range, round_robin] {
            let plan = assign(&members, &counts).unwrap();
            let given = check_valid(&members, &counts, &plan)?;
            prop_assert_eq!(given, universe(&members, &counts));
        }
    }

    #[test]
    fn cooperative_sticky_holds_back_only_what_is_owned_elsewhere(
        members in members(false),
        counts in partition_counts(),
    ) {
        let plan = cooperative_sticky(&members, &counts).unwrap();
        let given = check_valid(&members, &counts, &plan)?;
        for (topic, p) in universe(&members, &counts).difference(&given) {
            prop_assert!(claimed(&members, topic, *p), "{topic}-{p} left out");
        }
        // Revoke first: a partition another member may still hold is not handed out.
        // Handed to m: nobody claims it, or m does at a higher generation than all
        // others (lower-generation claims are stale and ignored).
        for (m, tps) in &plan {
            for tp in tps {
                for &p in &tp.partitions {
                    let claims = claims_on(&members, &tp.topic, p);
                    if let Some(&mine) = claims.get(m.as_str()) {
                        let others = claims.iter().filter(|&(c, _)| c != m);
                        prop_assert!(others.clone().all(|(_, &g)| g < mine), "{m} {tp:?}");
                    } else {
                        prop_assert!(claims.is_empty(), "{m} got {}-{p} held by {claims:?}", tp.topic);
                    }
                }
            }
        }
        // With nothing owned, nothing is held back.
        let members = fresh(members);
        let plan = cooperative_sticky(&members, &counts).unwrap();
        let given = check_valid(&members, &counts, &plan)?;
        prop_assert_eq!(given, universe(&members, &counts));
    }

    #[test]
    fn the_input_order_of_members_does_not_matter(
        (members, reordered) in shuffled(false),
        counts in partition_counts(),
    ) {
        for a in Assignor::ALL {
            prop_assert_eq!(a.assign(&members, &counts), a.assign(&reordered, &counts));
        }
    }

    #[test]
    fn identical_subscriptions_are_balanced(
        members in members(true),
        counts in partition_counts(),
    ) {
        // Round robin and cooperative-sticky: within one overall.
        let plan = round_robin(&members, &counts).unwrap();
        prop_assert!(within_one(&loads(&plan)), "{plan:?}");
        let fresh = fresh(members.clone());
        let plan = cooperative_sticky(&fresh, &counts).unwrap();
        prop_assert!(within_one(&loads(&plan)), "{plan:?}");
        // Whatever was owned before, the target is balanced.
        let group = Group::new(&members, &counts).unwrap();
        let target = group.sticky_target(&group.claims());
        let target_loads: Vec<usize> = target.iter().map(BTreeSet::len).collect();
        prop_assert!(within_one(&target_loads), "{target:?}");
        // Range: within one per topic (Java's range is not balanced across topics).
        let plan = range(&members, &counts).unwrap();
        for topic in counts.keys() {
            let per_topic: Vec<usize> = plan
                .values()
                .map(|tps| tps.iter().filter(|tp| &tp.topic == topic).map(|tp| tp.partitions.len()).sum())
                .collect();
            prop_assert!(within_one(&per_topic), "{topic}: {plan:?}");
        }
    }

    #[test]
    fn an_unchanged_group_keeps_its_assignment(
        members in members(false),
        counts in partition_counts(),
        generation in 0i32..100,
    ) {
        let members = fresh(members);
        let first = cooperative_sticky(&members, &counts).unwrap();
        let again = cooperative_sticky(&after(&members, &first, generation), &counts).unwrap();
        prop_assert_eq!(again, first);
    }

    #[test]
    fn when_a_member_leaves_the_others_keep_theirs(
        members in members(true),
        counts in partition_counts(),
        leaver in any::<proptest::sample::Index>(),
    ) {
        let members = fresh(members);
        let first = cooperative_sticky(&members, &counts).unwrap();
        let mut stay = after(&members, &first, 1);
        stay.remove(leaver.index(stay.len()));
        let next = cooperative_sticky(&stay, &counts).unwrap();
        let given = check_valid(&stay, &counts, &next)?;
        prop_assert_eq!(given, universe(&stay, &counts));
        for m in &stay {
            let before = &m.subscription.owned_partitions;
            for tp in before {
                let now = next[&m.member_id].iter().find(|n| n.topic == tp.topic);
                let now = now.map(|n| n.partitions.as_slice()).unwrap_or_default();
                prop_assert!(tp.partitions.iter().all(|p| now.contains(p)), "{m:?} lost some: {next:?}");
            }
        }
    }

    #[test]
    fn cooperative_rebalances_settle_in_two_rounds(
        members in members(true),
        counts in partition_counts(),
    ) {
        // Round one, from whatever members claimed: some partitions held back.
        let first = cooperative_sticky(&members, &counts).unwrap();
        check_valid(&members, &counts, &first)?;
        // Round two, once those were revoked: everything assigned, balanced, stable.
        let members = after(&members, &first, 10);
        let second = cooperative_sticky(&members, &counts).unwrap();
        let given = check_valid(&members, &counts, &second)?;
        prop_assert_eq!(given, universe(&members, &counts));
        prop_assert!(within_one(&loads(&second)), "{second:?}");
        let members = after(&members, &second, 11);
        prop_assert_eq!(cooperative_sticky(&members, &counts).unwrap(), second);
    }
}
