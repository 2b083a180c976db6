//! The state store `serve` was started with, behind one interface for the API: a change
//! is written durably, then applied to the [`Registry`] (so a Get right after a Create
//! finds the mapping).

use super::document::StoredMapping;
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
}

impl StateStore {
    /// Stores `stored` (whose resolved form is `mapping`) and applies it.
    pub async fn put(
        &self,
        registry: &Arc<Registry>,
        stored: StoredMapping,
        mapping: Mapping,
    ) -> Result<(), StoreError> {
        match self {
            StateStore::Dir(dir) => {
                let dir = dir.clone();
                let copy = stored.clone();
                blocking(move || dir.put(&copy)).await?;
                registry.put(stored, mapping);
                Ok(())
            }
        }
    }

    /// Removes mapping `uuid` from the store and applies the removal.
    pub async fn delete(&self, registry: &Arc<Registry>, uuid: Uuid) -> Result<(), StoreError> {
        match self {
            StateStore::Dir(dir) => {
                let dir = dir.clone();
                blocking(move || dir.delete(uuid)).await?;
                registry.remove(uuid);
                Ok(())
            }
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
