//! The state store `serve` was started with (a directory, or a Kafka topic), behind one
//! interface for the API: a change is written durably, then applied to the [`Registry`]
//! (so a Get right after a Create finds the mapping).

use super::document::StoredMapping;
use super::kafka_store::{KafkaStore, KafkaStoreError};
use super::registry::Registry;
use super::store::{DirStore, StoreError};
use crate::config::Mapping;
use std::sync::Arc;
use uuid::Uuid;

/// Where the mappings are kept.
#[derive(Clone)]
pub enum StateStore {
    /// A state directory on this host.
    Dir(Arc<DirStore>),
    /// A compacted topic every instance shares.
    Kafka(Arc<KafkaStore>),
}

/// Why a change could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Dir(#[from] StoreError),
    #[error(transparent)]
    Kafka(#[from] KafkaStoreError),
}

impl StateStore {
    /// Stores `stored` (whose resolved form is `mapping`) and applies it.
    pub async fn put(
        &self,
        registry: &Arc<Registry>,
        stored: StoredMapping,
        mapping: Mapping,
    ) -> Result<(), StateError> {
        match self {
            StateStore::Dir(dir) => {
                let dir = dir.clone();
                let copy = stored.clone();
                blocking(move || dir.put(&copy)).await?;
                registry.put(stored, mapping);
                Ok(())
            }
            // Applied by the topic's reader, in log order, before this returns.
            StateStore::Kafka(kafka) => Ok(kafka.put(&stored).await?),
        }
    }

    /// Removes mapping `uuid` from the store and applies the removal.
    pub async fn delete(&self, registry: &Arc<Registry>, uuid: Uuid) -> Result<(), StateError> {
        match self {
            StateStore::Dir(dir) => {
                let dir = dir.clone();
                blocking(move || dir.delete(uuid)).await?;
                registry.remove(uuid);
                Ok(())
            }
            StateStore::Kafka(kafka) => Ok(kafka.delete(uuid).await?),
        }
    }
}

/// Runs file I/O (with its fsyncs) off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}
