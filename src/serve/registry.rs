//! The mappings `serve` runs: each stored mapping with its runtime task, its status and
//! its metrics. Changes arrive already stored ([`Registry::put`], [`Registry::remove`],
//! from the API through the state store); the registry (re)starts, stops and forgets
//! runtimes to match, one mapping's restarts strictly one after the other, and never lets
//! one mapping's failure reach another (each runs on its own task).
//!
//! An update stops the mapping's runtime (it finishes the batches in flight, commits
//! them and leaves the group) and starts it again with the new configuration: the new
//! settings apply from the next batch, with nothing lost and no record delivered twice
//! but those of a batch a stop could not finish.

use super::document::{Defaults, Identity, StoredMapping, configuration};
use super::functions::Functions;
use crate::aws::AwsOptions;
use crate::config::Mapping;
use crate::metrics::Metrics;
use crate::runtime::{self, MappingStatus, RunOptions, State};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

/// How long an update may show `Updating` while its new runtime connects; after that
/// the runtime's own state (`Enabling`) shows, and the mapping takes updates again (a
/// mapping whose brokers are down must not refuse the update that fixes it).
const UPDATING_AT_MOST: Duration = Duration::from_secs(10);

/// What every mapping shares.
#[derive(Clone)]
pub struct Context {
    pub defaults: Defaults,
    pub identity: Identity,
    pub functions: Functions,
    /// The on-failure destinations' AWS settings.
    pub destination_aws: AwsOptions,
}

/// Where a mapping is in its life, beyond its runtime's own state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Steady,
    /// A new configuration is being applied: `Updating`, or `Enabling`/`Disabling`
    /// when the update flips `Enabled`.
    Updating {
        toggles: bool,
    },
    Deleting,
}

struct Entry {
    stored: StoredMapping,
    mapping: Mapping,
    phase: Phase,
    /// Counts the changes applied; a restart runs the newest.
    generation: u64,
    status: watch::Sender<MappingStatus>,
    metrics: Arc<Metrics>,
    runner: Arc<tokio::sync::Mutex<Option<Runner>>>,
}

struct Runner {
    generation: u64,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Runner {
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// A mapping as the API shows it, taken at one instant.
pub struct View {
    pub stored: StoredMapping,
    pub mapping: Mapping,
    pub status: MappingStatus,
    pub state: &'static str,
}

impl View {
    /// AWS's `EventSourceMappingConfiguration`.
    pub fn configuration(&self, identity: &Identity) -> Value {
        configuration(
            &self.stored,
            &self.mapping,
            &self.status,
            self.state,
            identity,
        )
    }

    /// Whether an update or a delete must wait (`ResourceInUseException`).
    pub fn in_use(&self) -> bool {
        matches!(self.state, "Creating" | "Updating" | "Deleting")
    }
}

/// The running mappings.
pub struct Registry {
    context: Context,
    entries: Mutex<BTreeMap<Uuid, Entry>>,
    closing: AtomicBool,
}

impl Registry {
    pub fn new(context: Context) -> Arc<Registry> {
        Arc::new(Registry {
            context,
            entries: Mutex::new(BTreeMap::new()),
            closing: AtomicBool::new(false),
        })
    }

    pub fn context(&self) -> &Context {
        &self.context
    }

    fn entries(&self) -> MutexGuard<'_, BTreeMap<Uuid, Entry>> {
        // A panic while holding the lock leaves the map consistent (every write is one
        // insert or field store), so a poisoned lock is still usable.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The mapping `uuid` as the API shows it.
    pub fn view(&self, uuid: Uuid) -> Option<View> {
        self.entries().get(&uuid).map(view)
    }

    /// Every mapping, by UUID.
    pub fn list(&self) -> Vec<View> {
        self.entries().values().map(view).collect()
    }

    /// A mapping other than `except` of the same function on the same topic and cluster.
    pub fn conflicting(&self, mapping: &Mapping, except: Option<Uuid>) -> Option<Uuid> {
        let identity = &self.context.identity;
        let arn = identity.function_arn(&mapping.function);
        let mut servers = mapping.bootstrap_servers.clone();
        servers.sort_by(|a, b| (&a.host, a.port).cmp(&(&b.host, b.port)));
        self.entries()
            .values()
            .find(|e| {
                let mut theirs = e.mapping.bootstrap_servers.clone();
                theirs.sort_by(|a, b| (&a.host, a.port).cmp(&(&b.host, b.port)));
                Some(e.stored.uuid) != except
                    && e.mapping.topic == mapping.topic
                    && identity.function_arn(&e.mapping.function) == arn
                    && theirs == servers
            })
            .map(|e| e.stored.uuid)
    }

    /// Applies a stored mapping: runs a new one, restarts a changed one.
    pub fn put(self: &Arc<Self>, stored: StoredMapping, mapping: Mapping) {
        let uuid = stored.uuid;
        let generation = {
            let mut entries = self.entries();
            match entries.get_mut(&uuid) {
                Some(e) => {
                    let toggles = e.mapping.enabled != mapping.enabled;
                    e.phase = Phase::Updating { toggles };
                    e.stored = stored;
                    e.mapping = mapping;
                    e.generation += 1;
                    e.generation
                }
                None => {
                    let metrics = Arc::new(Metrics::new(&uuid.to_string(), &mapping.topic));
                    entries.insert(
                        uuid,
                        Entry {
                            stored,
                            mapping,
                            phase: Phase::Steady,
                            generation: 1,
                            status: watch::channel(MappingStatus::default()).0,
                            metrics,
                            runner: Arc::default(),
                        },
                    );
                    1
                }
            }
        };
        self.reconcile(uuid, generation);
    }

    /// Applies a deletion: the mapping shows `Deleting` until its runtime has stopped
    /// (its consumers left the group, its offsets stay), then is gone.
    pub fn remove(self: &Arc<Self>, uuid: Uuid) {
        let generation = {
            let mut entries = self.entries();
            let Some(e) = entries.get_mut(&uuid) else {
                return;
            };
            e.phase = Phase::Deleting;
            e.generation += 1;
            e.generation
        };
        self.reconcile(uuid, generation);
    }

    /// Makes mapping `uuid`'s runtime match its entry, on a task of its own.
    fn reconcile(self: &Arc<Self>, uuid: Uuid, generation: u64) {
        let this = self.clone();
        tokio::spawn(async move { this.reconcile_now(uuid, generation).await });
    }

    async fn reconcile_now(&self, uuid: Uuid, generation: u64) {
        let Some(slot) = self.entries().get(&uuid).map(|e| e.runner.clone()) else {
            return;
        };
        // One restart of a mapping at a time, in the order of the changes.
        let mut slot = slot.lock().await;
        let current = self.entries().get(&uuid).map(|e| e.generation);
        if current != Some(generation) {
            // A later change came in meanwhile: its own reconcile applies it.
            return;
        }
        if let Some(old) = slot.take() {
            old.stop().await;
        }
        let start = {
            let mut entries = self.entries();
            let Some(e) = entries.get_mut(&uuid) else {
                return;
            };
            if e.phase == Phase::Deleting {
                if e.generation == generation {
                    entries.remove(&uuid);
                }
                return;
            }
            if self.closing.load(Ordering::SeqCst) {
                return;
            }
            let restarting = e.phase != Phase::Steady;
            if restarting && e.mapping.enabled {
                e.status.send_modify(|s| s.state = State::Enabling);
            }
            (
                e.mapping.clone(),
                e.status.clone(),
                e.metrics.clone(),
                restarting,
            )
        };
        let (mapping, status, metrics, restarting) = start;
        let mut watcher = status.subscribe();
        *slot = Some(self.start(mapping, status, metrics, generation));
        drop(slot);
        if restarting {
            // Settled once running or stopped, or as soon as it reports a problem (such as
            // brokers it can't reach) that it may keep retrying.
            let before = watcher.borrow().last_processing_result.clone();
            let settled = watcher.wait_for(move |s| {
                matches!(s.state, State::Enabled | State::Disabled)
                    || (s.last_processing_result != before
                        && s.last_processing_result.starts_with("PROBLEM"))
            });
            let _ = tokio::time::timeout(UPDATING_AT_MOST, settled).await;
            let mut entries = self.entries();
            if let Some(e) = entries.get_mut(&uuid)
                && e.generation == generation
            {
                e.phase = Phase::Steady;
            }
        }
    }

    fn start(
        &self,
        mapping: Mapping,
        status: watch::Sender<MappingStatus>,
        metrics: Arc<Metrics>,
        generation: u64,
    ) -> Runner {
        let (stop, stopped) = oneshot::channel::<()>();
        let functions = self.context.functions.clone();
        let destination_aws = self.context.destination_aws.clone();
        let task = tokio::spawn(async move {
            for w in &mapping.warnings {
                tracing::warn!(uuid = %mapping.uuid, "{w}");
            }
            let invoker = functions.invoker_for(&mapping).await;
            let options = RunOptions {
                destination_aws,
                metrics: Some(metrics),
                status: Some(status),
            };
            let shutdown = async {
                let _ = stopped.await;
            };
            match runtime::run(&mapping, invoker, shutdown, options).await {
                Ok(stats) => tracing::info!(uuid = %mapping.uuid, ?stats, "mapping stopped"),
                Err(e) => tracing::warn!(
                    uuid = %mapping.uuid,
                    reason = e.reason(),
                    "mapping stopped: {e}"
                ),
            }
        });
        Runner {
            generation,
            stop,
            task,
        }
    }

    /// Stops every mapping (each finishes its batches in flight and commits them) and
    /// starts none after.
    pub async fn shutdown(&self) {
        self.closing.store(true, Ordering::SeqCst);
        let slots: Vec<_> = self.entries().values().map(|e| e.runner.clone()).collect();
        let stops = slots.into_iter().map(|slot| async move {
            let mut slot = slot.lock().await;
            if let Some(runner) = slot.take() {
                tracing::debug!(generation = runner.generation, "stopping");
                runner.stop().await;
            }
        });
        futures_join_all(stops).await;
    }

    /// Whether every enabled mapping runs consumers (`/readyz`).
    pub fn ready(&self) -> Result<(), String> {
        for e in self.entries().values() {
            if !e.mapping.enabled || e.phase == Phase::Deleting {
                continue;
            }
            let s = e.status.borrow();
            if s.state != State::Enabled || s.consumers == 0 {
                return Err(format!(
                    "mapping {} is {} with {} consumers",
                    e.stored.uuid,
                    view(e).state,
                    s.consumers
                ));
            }
        }
        Ok(())
    }

    /// Every mapping's metrics, in one Prometheus text exposition.
    pub fn render_metrics(&self) -> String {
        let texts: Vec<String> = self
            .entries()
            .values()
            .map(|e| e.metrics.render())
            .collect();
        merge_expositions(&texts)
    }
}

fn view(e: &Entry) -> View {
    let status = e.status.borrow().clone();
    let state = match e.phase {
        Phase::Deleting => "Deleting",
        Phase::Updating { toggles: false } => "Updating",
        Phase::Updating { toggles: true } if e.mapping.enabled => "Enabling",
        Phase::Updating { toggles: true } => "Disabling",
        Phase::Steady => status.state.as_str(),
    };
    View {
        stored: e.stored.clone(),
        mapping: e.mapping.clone(),
        status,
        state,
    }
}

/// Runs every future to completion, concurrently.
async fn futures_join_all<F: std::future::Future<Output = ()> + Send + 'static>(
    futures: impl IntoIterator<Item = F>,
) {
    let mut set = tokio::task::JoinSet::new();
    for f in futures {
        set.spawn(f);
    }
    while set.join_next().await.is_some() {}
}

/// Joins several Prometheus text expositions of the same metric families into one: each
/// family's `# HELP` and `# TYPE` once, followed by the samples of every input.
pub fn merge_expositions(texts: &[String]) -> String {
    let mut order: Vec<String> = Vec::new();
    let mut families: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for text in texts {
        let mut current = String::new();
        for line in text.lines() {
            if let Some(rest) = line
                .strip_prefix("# HELP ")
                .or(line.strip_prefix("# TYPE "))
            {
                current = rest.split(' ').next().unwrap_or("").to_string();
                let family = families.entry(current.clone()).or_insert_with(|| {
                    order.push(current.clone());
                    Default::default()
                });
                if !family.0.iter().any(|l| l == line) {
                    family.0.push(line.to_string());
                }
            } else if !line.is_empty() {
                let family = families.entry(current.clone()).or_insert_with(|| {
                    order.push(current.clone());
                    Default::default()
                });
                family.1.push(line.to_string());
            }
        }
    }
    let mut out = String::new();
    for name in order {
        if let Some((head, samples)) = families.get(&name) {
            for line in head.iter().chain(samples) {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::merge_expositions;

    #[test]
    fn expositions_merge_by_family() {
        let a = "# HELP x_total X.\n# TYPE x_total counter\nx_total{m=\"a\"} 1\n# HELP y Y.\n# TYPE y gauge\ny{m=\"a\"} 2\n";
        let b = "# HELP x_total X.\n# TYPE x_total counter\nx_total{m=\"b\"} 3\n# HELP y Y.\n# TYPE y gauge\ny{m=\"b\"} 4\n";
        assert_eq!(
            merge_expositions(&[a.into(), b.into()]),
            "# HELP x_total X.\n# TYPE x_total counter\nx_total{m=\"a\"} 1\nx_total{m=\"b\"} 3\n\
             # HELP y Y.\n# TYPE y gauge\ny{m=\"a\"} 2\ny{m=\"b\"} 4\n"
        );
        assert_eq!(merge_expositions(&[]), "");
    }
}
