use super::*;

fn tp(p: i32) -> TopicPartition {
    ("t".to_string(), p)
}

#[tokio::test(start_paused = true)]
async fn pending_commits_keep_the_latest_offset_and_back_off() {
    let mut pending = PendingCommits::default();
    pending.add(BTreeMap::from([(tp(0), 5), (tp(1), 7)]));
    let sent = pending.offsets.clone();
    pending.failed();
    let first = pending.retry_at.unwrap() - tokio::time::Instant::now();
    assert_eq!(first, Duration::from_millis(200));
    // A later commit of partition 0 supersedes the one that failed.
    pending.add(BTreeMap::from([(tp(0), 9)]));
    pending.failed();
    assert_eq!(
        pending.retry_at.unwrap() - tokio::time::Instant::now(),
        Duration::from_millis(400)
    );
    // The retry is due at its time, not before.
    assert!(
        tokio::time::timeout(Duration::from_millis(399), pending.due())
            .await
            .is_err()
    );
    tokio::time::timeout(Duration::from_millis(2), pending.due())
        .await
        .unwrap();
    // The attempt that carried (0 → 5, 1 → 7) landed: partition 0 still wants 9.
    pending.landed(&sent);
    assert_eq!(pending.offsets, BTreeMap::from([(tp(0), 9)]));
    assert_eq!((pending.failures, pending.retry_at), (0, None));
}

#[test]
fn pending_commits_of_partitions_no_longer_owned_are_forgotten() {
    let mut pending = PendingCommits::default();
    pending.add(BTreeMap::from([(tp(0), 5), (tp(1), 7)]));
    pending.failed();
    pending.keep_only(|p| *p == tp(1));
    assert_eq!(pending.offsets, BTreeMap::from([(tp(1), 7)]));
    assert!(pending.retry_at.is_some());
    pending.keep_only(|_| false);
    assert!(pending.offsets.is_empty());
    assert_eq!((pending.failures, pending.retry_at), (0, None));
}

#[test]
fn the_commit_backoff_doubles_to_five_seconds() {
    assert_eq!(commit_backoff(1), Duration::from_millis(200));
    assert_eq!(commit_backoff(5), Duration::from_millis(3200));
    assert_eq!(commit_backoff(6), Duration::from_secs(5));
    assert_eq!(commit_backoff(60), Duration::from_secs(5));
}
