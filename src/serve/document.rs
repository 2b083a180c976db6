//! One stored mapping: the request document as the user gave it (Create, then each
//! Update merged over it), its UUID, revision and modification time; how it becomes a
//! [`Mapping`] (through the configuration resolver, as `kafka-esm run`'s file does) and
//! how it is shown (AWS's `EventSourceMappingConfiguration`).
//!
//! Pure: no I/O, no clock (times are passed in). Which fields an Update may carry and
//! which must stay as created is decided here.

use crate::config::{self, ConfigErrors, Mapping, StartingPosition};
use crate::runtime::MappingStatus;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// kafka-esm's own per-mapping settings that the API accepts in a `KafkaEsm` section
/// (a raw request; the AWS CLI and SDKs never send one). The others (a local command,
/// addresses to bind, the Lambda endpoint, the region) belong to `serve`'s command line:
/// through the API they would let any caller run commands or bind ports.
pub const API_ESM_KEYS: &[&str] = &[
    "FunctionTimeout",
    "SessionTimeout",
    "ScalingInterval",
    "MaxBufferedBytes",
    "AllowInsecureSaslOverPlaintext",
];

/// Fields an Update may not carry: fixed when the mapping was created (as AWS's
/// `UpdateEventSourceMapping`, which has no such parameters).
const FIXED_AT_CREATION: &[&str] = &[
    "Topics",
    "StartingPosition",
    "StartingPositionTimestamp",
    "SelfManagedEventSource",
    "EventSourceArn",
    "Tags",
    "Queues",
];

/// A mapping as the state store keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StoredMapping {
    #[serde(rename = "UUID")]
    pub uuid: Uuid,
    /// The request document, AWS fields (and an optional `KafkaEsm` section), without
    /// kafka-esm's additions.
    pub document: Map<String, Value>,
    /// Seconds since the Unix epoch, as AWS's `LastModified`.
    pub last_modified: f64,
    /// Counts the writes of this mapping: 1 at creation, one more per update.
    pub revision: u64,
}

/// Where the request or stored document is wrong, with the field named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("{0}")]
    Config(String),
    #[error("{field}: {message}")]
    Field { field: String, message: String },
}

impl From<ConfigErrors> for DocumentError {
    fn from(e: ConfigErrors) -> Self {
        DocumentError::Config(e.to_string())
    }
}

/// What `serve` adds to every mapping's `KafkaEsm` section (the region, the Lambda
/// endpoint, a local function's timeout).
#[derive(Clone, Debug, Default)]
pub struct Defaults {
    pub esm: Map<String, Value>,
    /// Each local function's timeout in seconds, by name: a mapping of a local function
    /// gets it as its `KafkaEsm.FunctionTimeout` unless it sets one (the rebalance
    /// timeout is counted from it).
    pub function_timeouts: std::collections::HashMap<String, u64>,
}

impl StoredMapping {
    /// A new mapping from a Create request's body: checked by resolving it.
    pub fn create(
        body: Value,
        uuid: Uuid,
        now: f64,
        defaults: &Defaults,
    ) -> Result<(StoredMapping, Mapping), DocumentError> {
        let Value::Object(document) = body else {
            return Err(field("body", "must be a JSON object"));
        };
        if document.contains_key("UUID") {
            return Err(field("UUID", "is chosen by the service, not the request"));
        }
        check_esm_section(&document)?;
        let stored = StoredMapping {
            uuid,
            document,
            last_modified: now,
            revision: 1,
        };
        let mapping = stored.resolve(defaults)?;
        Ok((stored, mapping))
    }

    /// This mapping with an Update request's body merged over it, checked by resolving
    /// it. Fields the update does not carry keep their values.
    pub fn update(
        &self,
        body: Value,
        now: f64,
        defaults: &Defaults,
        current: &Mapping,
    ) -> Result<(StoredMapping, Mapping), DocumentError> {
        let Value::Object(changes) = body else {
            return Err(field("body", "must be a JSON object"));
        };
        for key in FIXED_AT_CREATION {
            if changes.contains_key(*key) {
                return Err(field(
                    key,
                    "can't be changed after the mapping is created (create a new mapping)",
                ));
            }
        }
        if changes.contains_key("UUID") {
            return Err(field("UUID", "is given in the path, not the body"));
        }
        check_esm_section(&changes)?;
        let mut document = self.document.clone();
        for (key, value) in changes {
            match (key.as_str(), value) {
                ("KafkaEsm", Value::Object(esm)) => {
                    let section = document
                        .entry("KafkaEsm")
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(section) = section {
                        section.extend(esm);
                    }
                }
                (_, value) => {
                    document.insert(key, value);
                }
            }
        }
        let stored = StoredMapping {
            uuid: self.uuid,
            document,
            last_modified: now,
            revision: self.revision + 1,
        };
        let mapping = stored.resolve(defaults)?;
        if mapping.consumer_group_id != current.consumer_group_id {
            return Err(field(
                "SelfManagedKafkaEventSourceConfig.ConsumerGroupId",
                "can't be changed after the mapping is created",
            ));
        }
        Ok((stored, mapping))
    }

    /// The mapping this document describes, with `serve`'s defaults and the UUID in its
    /// `KafkaEsm` section (so the default consumer group is the UUID, as AWS's).
    pub fn resolve(&self, defaults: &Defaults) -> Result<Mapping, DocumentError> {
        let mut doc = self.document.clone();
        let mut esm = defaults.esm.clone();
        let function = doc.get("FunctionName").and_then(Value::as_str).map(|raw| {
            let name = raw.rsplit_once(":function:").map_or(raw, |(_, n)| n);
            name.split(':').next().unwrap_or(name)
        });
        if let Some(timeout) = function.and_then(|f| defaults.function_timeouts.get(f)) {
            esm.insert("FunctionTimeout".into(), Value::from(*timeout));
        }
        if let Some(Value::Object(own)) = doc.get("KafkaEsm") {
            esm.extend(own.clone());
        }
        esm.insert("Uuid".into(), Value::String(self.uuid.to_string()));
        doc.insert("KafkaEsm".into(), Value::Object(esm));
        Ok(config::from_document(&Value::Object(doc))?)
    }
}

fn field(name: &str, message: &str) -> DocumentError {
    DocumentError::Field {
        field: name.to_string(),
        message: message.to_string(),
    }
}

/// Refuses the `KafkaEsm` settings only `serve`'s command line may give.
fn check_esm_section(document: &Map<String, Value>) -> Result<(), DocumentError> {
    match document.get("KafkaEsm") {
        None => Ok(()),
        Some(Value::Object(esm)) => {
            match esm.keys().find(|k| !API_ESM_KEYS.contains(&k.as_str())) {
                Some(key) => Err(field(
                    &format!("KafkaEsm.{key}"),
                    &format!(
                        "can't be set through the API (only {} can; the rest are serve's command-line options)",
                        API_ESM_KEYS.join(", ")
                    ),
                )),
                None => Ok(()),
            }
        }
        Some(_) => Err(field("KafkaEsm", "must be a JSON object")),
    }
}

/// Where the mapping's ARNs point: `serve`'s region and account.
#[derive(Clone, Debug)]
pub struct Identity {
    pub region: String,
    pub account: String,
}

impl Identity {
    pub fn mapping_arn(&self, uuid: Uuid) -> String {
        format!(
            "arn:aws:lambda:{}:{}:event-source-mapping:{uuid}",
            self.region, self.account
        )
    }

    /// The function's ARN as AWS shows it: a full ARN as given, else built from the name
    /// (with its qualifier) in the ARN's or `serve`'s account and region.
    pub fn function_arn(&self, function: &config::FunctionName) -> String {
        if function.raw.starts_with("arn:") {
            return function.raw.clone();
        }
        let region = function.region.as_deref().unwrap_or(&self.region);
        let account = function.account.as_deref().unwrap_or(&self.account);
        match &function.qualifier {
            Some(q) => format!(
                "arn:aws:lambda:{region}:{account}:function:{}:{q}",
                function.name
            ),
            None => format!(
                "arn:aws:lambda:{region}:{account}:function:{}",
                function.name
            ),
        }
    }
}

/// AWS's `EventSourceMappingConfiguration` for this mapping.
pub fn configuration(
    stored: &StoredMapping,
    mapping: &Mapping,
    status: &MappingStatus,
    state: &str,
    identity: &Identity,
) -> Value {
    let doc = &stored.document;
    let mut out = Map::new();
    let mut put = |k: &str, v: Value| {
        out.insert(k.to_string(), v);
    };
    put("UUID", json!(stored.uuid.to_string()));
    put(
        "EventSourceMappingArn",
        json!(identity.mapping_arn(stored.uuid)),
    );
    match mapping.starting_position {
        StartingPosition::Latest => put("StartingPosition", json!("LATEST")),
        StartingPosition::TrimHorizon => put("StartingPosition", json!("TRIM_HORIZON")),
        StartingPosition::AtTimestamp { epoch_millis } => {
            put("StartingPosition", json!("AT_TIMESTAMP"));
            put(
                "StartingPositionTimestamp",
                json!(epoch_millis as f64 / 1000.0),
            );
        }
    }
    put("BatchSize", json!(mapping.batch_size));
    put(
        "MaximumBatchingWindowInSeconds",
        json!(mapping.maximum_batching_window.as_secs()),
    );
    put(
        "FunctionArn",
        json!(identity.function_arn(&mapping.function)),
    );
    put("LastModified", json!(stored.last_modified));
    put("LastProcessingResult", json!(status.last_processing_result));
    put("State", json!(state));
    put(
        "StateTransitionReason",
        json!(status.state_transition_reason),
    );
    put("Topics", json!([mapping.topic]));
    for key in [
        "SelfManagedEventSource",
        "SourceAccessConfigurations",
        "DestinationConfig",
        "FilterCriteria",
        "FunctionResponseTypes",
        "ProvisionedPollerConfig",
        "KMSKeyArn",
        "MetricsConfig",
        "LoggingConfig",
    ] {
        if let Some(v) = doc.get(key) {
            put(key, v.clone());
        }
    }
    let mut kafka = match doc.get("SelfManagedKafkaEventSourceConfig") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    kafka.insert("ConsumerGroupId".into(), json!(mapping.consumer_group_id));
    put("SelfManagedKafkaEventSourceConfig", Value::Object(kafka));
    put(
        "MaximumRetryAttempts",
        json!(mapping.maximum_retry_attempts.map_or(-1, i64::from)),
    );
    put(
        "MaximumRecordAgeInSeconds",
        json!(
            mapping
                .maximum_record_age
                .map_or(-1, |d| d.as_secs() as i64)
        ),
    );
    put(
        "BisectBatchOnFunctionError",
        json!(mapping.bisect_batch_on_function_error),
    );
    Value::Object(out)
}

#[cfg(test)]
mod tests;
