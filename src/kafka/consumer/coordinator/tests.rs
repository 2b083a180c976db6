use super::*;

#[test]
fn backoff_grows_and_is_capped() {
    assert_eq!(backoff(1), Duration::from_millis(200));
    assert_eq!(backoff(4), Duration::from_millis(1600));
    assert_eq!(backoff(9), Duration::from_secs(2));
}

#[test]
fn millis_saturate() {
    assert_eq!(millis(Duration::from_secs(45)), 45_000);
    assert_eq!(millis(Duration::from_secs(u64::MAX / 4)), i32::MAX);
}
