//! Where `serve` keeps its mappings so that they survive a restart: a state directory,
//! one JSON file per mapping.
//!
//! Crash safety: a mapping is written to `UUID.json.tmp`, synced, renamed over
//! `UUID.json`, and the directory is synced before the write is acknowledged; a
//! `kill -9` at any point leaves the old file or the new one, never a torn one, and
//! never loses an acknowledged write. Leftover `.tmp` files are removed at start. One
//! process at a time: the directory is locked (`flock` on `LOCK`) while `serve` runs.
//!
//! This file does file I/O only: what a mapping means is `document.rs`'s.

use super::document::StoredMapping;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("the state directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the state directory {0} is in use by another kafka-esm serve (its LOCK file is locked)"
    )]
    Locked(PathBuf),
    #[error("{path}: not a stored mapping: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The state directory, locked for this process.
#[derive(Debug)]
pub struct DirStore {
    dir: PathBuf,
    /// Holds the lock until dropped.
    _lock: File,
}

impl DirStore {
    /// Opens (creating it if needed) and locks `dir`.
    pub fn open(dir: &Path) -> Result<DirStore, StoreError> {
        let mappings = dir.join("mappings");
        fs::create_dir_all(&mappings).map_err(io(&mappings))?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(StoreError::Locked(dir.into())),
            Err(fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
        Ok(DirStore {
            dir: mappings,
            _lock: lock,
        })
    }

    /// Every stored mapping, oldest first. Removes the temporary files of writes a crash
    /// interrupted (their mapping is still in its previous file, if any).
    pub fn load(&self) -> Result<Vec<StoredMapping>, StoreError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let path = entry.map_err(io(&self.dir))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".json.tmp") {
                fs::remove_file(&path).map_err(io(&path))?;
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            let text = fs::read(&path).map_err(io(&path))?;
            let stored: StoredMapping =
                serde_json::from_slice(&text).map_err(|source| StoreError::Corrupt {
                    path: path.clone(),
                    source,
                })?;
            out.push(stored);
        }
        out.sort_by(|a, b| {
            a.last_modified
                .total_cmp(&b.last_modified)
                .then(a.uuid.cmp(&b.uuid))
        });
        Ok(out)
    }

    /// Writes `mapping` durably: when this returns, a crash can't lose it.
    pub fn put(&self, mapping: &StoredMapping) -> Result<(), StoreError> {
        let path = self.path(mapping.uuid);
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(mapping).map_err(|source| StoreError::Corrupt {
            path: path.clone(),
            source,
        })?;
        let mut file = File::create(&tmp).map_err(io(&tmp))?;
        file.write_all(&bytes).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        drop(file);
        fs::rename(&tmp, &path).map_err(io(&path))?;
        self.sync_dir()
    }

    /// Removes `uuid` durably; removing one that isn't there is not an error.
    pub fn delete(&self, uuid: Uuid) -> Result<(), StoreError> {
        let path = self.path(uuid);
        match fs::remove_file(&path) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&path)(e)),
        }
    }

    fn path(&self, uuid: Uuid) -> PathBuf {
        self.dir.join(format!("{uuid}.json"))
    }

    /// A rename or removal is durable once its directory is synced.
    fn sync_dir(&self) -> Result<(), StoreError> {
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored(n: u64) -> StoredMapping {
        StoredMapping {
            uuid: Uuid::new_v4(),
            document: json!({"FunctionName": "f", "BatchSize": n})
                .as_object()
                .cloned()
                .unwrap(),
            last_modified: n as f64,
            revision: 1,
        }
    }

    #[test]
    fn what_is_put_is_loaded_back_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (stored(1), stored(2));
        {
            let store = DirStore::open(dir.path()).unwrap();
            store.put(&b).unwrap();
            store.put(&a).unwrap();
            assert_eq!(store.load().unwrap(), vec![a.clone(), b.clone()]);
            store.delete(b.uuid).unwrap();
            store.delete(b.uuid).unwrap();
        }
        let store = DirStore::open(dir.path()).unwrap();
        assert_eq!(store.load().unwrap(), vec![a]);
    }

    #[test]
    fn a_second_process_can_not_open_a_locked_directory() {
        let dir = tempfile::tempdir().unwrap();
        let _first = DirStore::open(dir.path()).unwrap();
        let second = DirStore::open(dir.path()).unwrap_err();
        assert!(matches!(second, StoreError::Locked(_)), "{second}");
    }

    #[test]
    fn an_interrupted_write_leaves_the_previous_version_and_its_tmp_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        let a = stored(1);
        store.put(&a).unwrap();
        // A crash between the temporary file's write and its rename.
        let tmp = dir
            .path()
            .join("mappings")
            .join(format!("{}.json.tmp", a.uuid));
        fs::write(&tmp, b"{\"UUID\": \"trunc").unwrap();
        assert_eq!(store.load().unwrap(), vec![a]);
        assert!(!tmp.exists());
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        let path = dir.path().join("mappings").join("x.json");
        fs::write(&path, b"not json").unwrap();
        let e = store.load().unwrap_err().to_string();
        assert!(e.contains("x.json"), "{e}");
    }
}
