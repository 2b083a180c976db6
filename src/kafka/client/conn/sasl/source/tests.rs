use super::*;
use crate::kafka::client::conn::sasl::Mechanism;
use std::sync::atomic::{AtomicU32, Ordering};

fn creds(password: &str) -> SaslCredentials {
    SaslCredentials::new(Mechanism::ScramSha256, "alice", password.to_string())
}

/// A source whose secret holds `password`, counting the reads.
fn source(password: Arc<Mutex<String>>, reads: Arc<AtomicU32>) -> SaslSource {
    let first = password.lock().unwrap().clone();
    SaslSource::refreshable(creds(&first), move || {
        let password = password.clone();
        let reads = reads.clone();
        async move {
            reads.fetch_add(1, Ordering::SeqCst);
            Some(creds(&password.lock().unwrap()))
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_refusal_fetches_the_rotated_secret_once_and_every_connection_uses_it() {
    let password = Arc::new(Mutex::new("old".to_string()));
    let reads = Arc::new(AtomicU32::new(0));
    let s = source(password.clone(), reads.clone());
    let tried = s.current();
    *password.lock().unwrap() = "new".into();
    let renewed = s.renewed(&tried).await.expect("newer credentials");
    assert_eq!(&**renewed.password, "new");
    // A second connection refused with the old ones gets the new ones without a read.
    let again = s.renewed(&tried).await.expect("the same newer credentials");
    assert!(Arc::ptr_eq(&renewed, &again));
    assert_eq!(reads.load(Ordering::SeqCst), 1);
    assert!(Arc::ptr_eq(&s.current(), &renewed));
}

#[tokio::test(start_paused = true)]
async fn an_unchanged_secret_is_no_retry_and_reads_are_spaced() {
    let password = Arc::new(Mutex::new("same".to_string()));
    let reads = Arc::new(AtomicU32::new(0));
    let s = source(password, reads.clone());
    let tried = s.current();
    assert!(
        s.renewed(&tried).await.is_none(),
        "the same password is no reason to retry"
    );
    assert_eq!(
        reads.load(Ordering::SeqCst),
        1,
        "the first refusal reads at once"
    );
    assert!(s.renewed(&tried).await.is_none());
    assert_eq!(reads.load(Ordering::SeqCst), 1, "one read per interval");
    tokio::time::advance(MIN_REFRESH_INTERVAL).await;
    assert!(s.renewed(&tried).await.is_none());
    assert_eq!(reads.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn the_secret_is_read_again_periodically() {
    let password = Arc::new(Mutex::new("old".to_string()));
    let reads = Arc::new(AtomicU32::new(0));
    let s = source(password.clone(), reads.clone());
    *password.lock().unwrap() = "rotated".into();
    tokio::time::sleep(PERIODIC_REFRESH + Duration::from_secs(1)).await;
    assert_eq!(&**s.current().password, "rotated");
    assert_eq!(reads.load(Ordering::SeqCst), 1);
}

#[test]
fn fixed_credentials_never_change_and_debug_hides_the_password() {
    let s = SaslSource::fixed(creds("hunter2"));
    let text = format!("{s:?}");
    assert!(
        text.contains("alice") && !text.contains("hunter2"),
        "{text}"
    );
}
