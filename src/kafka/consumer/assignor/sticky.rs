//! The cooperative-sticky assignor (KIP-429): [`cooperative_sticky`], with the claims of
//! owned partitions and the balanced target it moves towards.

use super::{AssignError, Group, GroupAssignment, Member, Tp, owned_generation};
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, btree_map};

/// A sticky, balanced assignment under the cooperative protocol (the idea of Java's
/// `CooperativeStickyAssignor`; not its exact output).
///
/// 1. A partition is owned by the member that lists it among its owned partitions with
///    the highest generation ([`owned_generation`]); two claims at that generation make
///    it contested, owned by neither.
/// 2. Each owner keeps its owned partitions of topics it still subscribes to.
/// 3. The other partitions go, most constrained topic first, to the subscribed member
///    holding the fewest.
/// 4. While a member holds two more than another member that could take one of its
///    partitions, one moves over (first one it did not own). Members with the same
///    subscription end within one partition of each other.
/// 5. Revoke before reassigning: a partition owned by another member than the one it is
///    now meant for, or contested, is left out of this round. Its owner revokes it (it is
///    not in its assignment), rejoins, and the next rebalance hands it over.
pub fn cooperative_sticky(
    members: &[Member],
    partitions_per_topic: &BTreeMap<String, i32>,
) -> Result<GroupAssignment, AssignError> {
    let group = Group::new(members, partitions_per_topic)?;
    let claims = group.claims();
    let plan: Vec<Vec<Tp>> = group
        .sticky_target(&claims)
        .into_iter()
        .enumerate()
        .map(|(m, target)| {
            target
                .into_iter()
                .filter(|tp| claims.get(tp).is_none_or(|c| c.owner() == Some(m)))
                .collect()
        })
        .collect();
    Ok(group.finish(plan))
}

/// The members claiming a partition at the highest generation any claims it.
pub(super) struct Claim {
    generation: i32,
    members: Vec<usize>,
}

impl Claim {
    fn owner(&self) -> Option<usize> {
        match self.members[..] {
            [m] => Some(m),
            _ => None,
        }
    }
}

impl Group<'_> {
    /// Who owns what, from the members' owned partitions (see [`cooperative_sticky`]).
    /// Only partitions that exist in a subscribed topic are looked at.
    pub(super) fn claims(&self) -> BTreeMap<Tp, Claim> {
        let mut claims: BTreeMap<Tp, Claim> = BTreeMap::new();
        for (m, member) in self.members.iter().enumerate() {
            let generation = owned_generation(&member.subscription);
            let mut owned = BTreeSet::new();
            for tps in &member.subscription.owned_partitions {
                let Some(&t) = self.topic_index.get(tps.topic.as_str()) else {
                    continue;
                };
                let count = self.topics[t].1;
                owned.extend(
                    tps.partitions
                        .iter()
                        .filter(|&&p| (0..count).contains(&p))
                        .map(|&p| (t, p)),
                );
            }
            for tp in owned {
                match claims.entry(tp) {
                    btree_map::Entry::Vacant(e) => {
                        e.insert(Claim {
                            generation,
                            members: vec![m],
                        });
                    }
                    btree_map::Entry::Occupied(mut e) => {
                        let claim = e.get_mut();
                        match generation.cmp(&claim.generation) {
                            Ordering::Greater => {
                                *claim = Claim {
                                    generation,
                                    members: vec![m],
                                };
                            }
                            Ordering::Equal => claim.members.push(m),
                            Ordering::Less => {}
                        }
                    }
                }
            }
        }
        claims
    }

    /// Steps 2 to 4 of [`cooperative_sticky`]: where every partition should end up,
    /// before holding back the ones that must be revoked first.
    pub(super) fn sticky_target(&self, claims: &BTreeMap<Tp, Claim>) -> Vec<BTreeSet<Tp>> {
        let n = self.members.len();
        let owner = |tp: &Tp| claims.get(tp).and_then(Claim::owner);
        // What each member holds, split: partitions it owned, and the others (moving
        // those away revokes nothing).
        let mut kept = vec![BTreeSet::new(); n];
        let mut fresh = vec![BTreeSet::new(); n];
        let mut unassigned = Vec::new();
        for (t, &(_, count)) in self.topics.iter().enumerate() {
            for p in 0..count {
                match owner(&(t, p)) {
                    Some(m) if self.subscribed[m][t] => {
                        kept[m].insert((t, p));
                    }
                    _ => unassigned.push((t, p)),
                }
            }
        }
        let mut load: Vec<usize> = kept.iter().map(BTreeSet::len).collect();

        // Partitions few members can take go first, while those members are emptiest.
        // None of them is owned by a member that could take it.
        unassigned.sort_by_key(|&(t, p)| (self.subscribers[t].len(), t, p));
        for (t, p) in unassigned {
            let least = self.subscribers[t]
                .iter()
                .copied()
                .min_by_key(|&m| (load[m], m));
            if let Some(m) = least {
                fresh[m].insert((t, p));
                load[m] += 1;
            }
        }

        // Each move takes a partition from a member holding at least two more than the
        // receiver, so the sum of squared loads drops: this ends.
        let mut by_load: Vec<usize> = (0..n).collect();
        while let Some(&fewest) = load.iter().min() {
            by_load.sort_by_key(|&m| (Reverse(load[m]), m));
            let mut chosen = None;
            'search: for &from in &by_load {
                let have = load[from];
                if have <= fewest + 1 {
                    break;
                }
                // The first partition, not owned before owned, of the first topic whose
                // least loaded other subscriber has at least two fewer. One probe per
                // topic: the receiver depends on the topic only.
                for held in [&fresh[from], &kept[from]] {
                    let mut next = held.first().copied();
                    while let Some(tp) = next {
                        let to = self.subscribers[tp.0]
                            .iter()
                            .copied()
                            .filter(|&m| m != from)
                            .min_by_key(|&m| (load[m], m));
                        if let Some(to) = to
                            && load[to] + 1 < have
                        {
                            chosen = Some((from, to, tp));
                            break 'search;
                        }
                        next = held.range((tp.0 + 1, i32::MIN)..).next().copied();
                    }
                }
            }
            let Some((from, to, tp)) = chosen else {
                break;
            };
            if !fresh[from].remove(&tp) {
                kept[from].remove(&tp);
            }
            load[from] -= 1;
            if owner(&tp) == Some(to) {
                kept[to].insert(tp);
            } else {
                fresh[to].insert(tp);
            }
            load[to] += 1;
        }
        kept.into_iter()
            .zip(fresh)
            .map(|(mut kept, fresh)| {
                kept.extend(fresh);
                kept
            })
            .collect()
    }
}
