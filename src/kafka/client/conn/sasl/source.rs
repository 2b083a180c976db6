//! [`SaslSource`]: the credentials every connection of a config authenticates with,
//! replaceable while connections are made (a rotated secret), and able to fetch fresh
//! ones when a broker refuses them.
//!
//! The fetching itself is the caller's (`crate::access` re-reads the mapping's secret):
//! this layer only decides when to ask (after a refusal, at most once per
//! [`MIN_REFRESH_INTERVAL`]; and every [`PERIODIC_REFRESH`] while the source lives) and
//! hands new connections the newest credentials. Connections already authenticated keep
//! theirs, as Kafka does.

use super::SaslCredentials;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;
use tokio::time::Instant;

/// A refusal asks for fresh credentials at most this often: many connections refused at
/// once make one read of the secret.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);
/// How often fresh credentials are fetched anyway, so a rotation is picked up before any
/// refusal (AWS re-reads a mapping's secret periodically too).
pub const PERIODIC_REFRESH: Duration = Duration::from_secs(5 * 60);

type Fetch =
    dyn Fn() -> Pin<Box<dyn Future<Output = Option<SaslCredentials>> + Send>> + Send + Sync;

struct Inner {
    current: RwLock<Arc<SaslCredentials>>,
    fetch: Option<Box<Fetch>>,
    /// When fresh credentials were last fetched; one fetch at a time.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    periodic: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.periodic.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}

/// Credentials shared by every clone of a connection config.
#[derive(Clone)]
pub struct SaslSource(Arc<Inner>);

impl fmt::Debug for SaslSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SaslCredentials' Debug shows the user name only.
        f.debug_tuple("SaslSource").field(&*self.current()).finish()
    }
}

impl SaslSource {
    /// Credentials that never change.
    pub fn fixed(credentials: SaslCredentials) -> SaslSource {
        SaslSource(Arc::new(Inner {
            current: RwLock::new(Arc::new(credentials)),
            fetch: None,
            last_fetch: tokio::sync::Mutex::new(None),
            periodic: Mutex::new(None),
        }))
    }

    /// Credentials that `fetch` can read again (`None`: they could not be read; the
    /// current ones stay). Starts the periodic refresh when called inside a tokio
    /// runtime; it ends with the last clone of the source.
    pub fn refreshable<F, Fut>(credentials: SaslCredentials, fetch: F) -> SaslSource
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<SaslCredentials>> + Send + 'static,
    {
        let fetch: Box<Fetch> = Box::new(move || Box::pin(fetch()));
        let source = SaslSource(Arc::new(Inner {
            current: RwLock::new(Arc::new(credentials)),
            fetch: Some(fetch),
            // The first refusal reads again at once (the secret may have just rotated).
            last_fetch: tokio::sync::Mutex::new(None),
            periodic: Mutex::new(None),
        }));
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(&source.0);
            let task = handle.spawn(periodic(weak));
            if let Ok(mut slot) = source.0.periodic.lock() {
                *slot = Some(task);
            }
        }
        source
    }

    /// The credentials a new connection authenticates with.
    pub fn current(&self) -> Arc<SaslCredentials> {
        self.0
            .current
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// After a broker refused `tried`: credentials to try instead, if there are newer
    /// ones (already replaced by another connection, or fetched now), else `None`.
    pub async fn renewed(&self, tried: &Arc<SaslCredentials>) -> Option<Arc<SaslCredentials>> {
        let newer = |me: &SaslSource| {
            let now = me.current();
            (!Arc::ptr_eq(&now, tried)).then_some(now)
        };
        if let Some(now) = newer(self) {
            return Some(now);
        }
        let mut last = self.0.last_fetch.lock().await;
        // Another refused connection may have fetched while this one waited.
        if let Some(now) = newer(self) {
            return Some(now);
        }
        if last.is_some_and(|t| t.elapsed() < MIN_REFRESH_INTERVAL) {
            return None;
        }
        *last = Some(Instant::now());
        self.fetch_and_replace().await;
        newer(self)
    }

    /// Fetches the credentials and replaces the current ones if they differ.
    async fn fetch_and_replace(&self) -> bool {
        let Some(fetch) = &self.0.fetch else {
            return false;
        };
        let Some(fresh) = fetch().await else {
            return false;
        };
        let mut current = self.0.current.write().unwrap_or_else(|p| p.into_inner());
        let same = current.mechanism == fresh.mechanism
            && current.username == fresh.username
            && *current.password == *fresh.password;
        if !same {
            tracing::info!(
                username = %fresh.username,
                "the SASL credentials changed (a rotated secret): new connections use them"
            );
            *current = Arc::new(fresh);
        }
        !same
    }
}

async fn periodic(source: Weak<Inner>) {
    loop {
        tokio::time::sleep(PERIODIC_REFRESH).await;
        let Some(inner) = source.upgrade() else {
            return;
        };
        let source = SaslSource(inner);
        *source.0.last_fetch.lock().await = Some(Instant::now());
        source.fetch_and_replace().await;
    }
}

#[cfg(test)]
mod tests;
