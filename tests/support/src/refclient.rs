//! The reference Kafka client: librdkafka, through Python's `confluent_kafka`.
//!
//! Test data is written by this client so that our consumer is checked against records
//! someone else's producer made, and our commits are cross-checked by someone else's
//! group consumer. Each call runs `tests/fixtures/refclient.py` in the rig's venv and
//! exchanges JSON lines with it; bytes travel as base64.

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// One record to produce.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub partition: Option<i32>,
    /// CreateTime in milliseconds since the epoch; the producer's clock when `None`.
    pub timestamp: Option<i64>,
}

impl Record {
    pub fn new(key: Option<&[u8]>, value: Option<&[u8]>) -> Record {
        Record {
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            ..Record::default()
        }
    }

    pub fn header(mut self, key: &str, value: Option<&[u8]>) -> Record {
        self.headers
            .push((key.to_string(), value.map(<[u8]>::to_vec)));
        self
    }
}

/// Where the broker put a produced record.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
}

/// A record as the reference consumer read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consumed {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub timestamp_type: Option<String>,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Low and high watermarks, and the answer to ListOffsets by timestamp if asked.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Offsets {
    pub earliest: i64,
    pub latest: i64,
    pub by_timestamp: Option<i64>,
}

/// The four codecs Kafka defines, by librdkafka's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// A reference client bound to one cluster and its security settings.
#[derive(Clone, Debug)]
pub struct RefClient {
    bootstrap: String,
    /// Seconds each call may take (refclient.py's `--timeout`).
    timeout: f64,
    /// librdkafka properties (`security.protocol`, `ssl.ca.location`, ...).
    config: Vec<(String, String)>,
}

#[derive(Serialize)]
struct WireRecord<'a> {
    key: Option<String>,
    value: Option<String>,
    headers: Vec<(&'a str, Option<String>)>,
    partition: Option<i32>,
    timestamp: Option<i64>,
}

#[derive(Deserialize)]
struct WireConsumed {
    topic: String,
    partition: i32,
    offset: i64,
    timestamp: i64,
    timestamp_type: Option<String>,
    key: Option<String>,
    value: Option<String>,
    headers: Vec<(String, Option<String>)>,
}

fn enc(bytes: &Option<Vec<u8>>) -> Option<String> {
    bytes.as_ref().map(|b| B64.encode(b))
}

fn dec(text: Option<String>) -> Result<Option<Vec<u8>>> {
    text.map(|t| B64.decode(t).context("refclient sent bad base64"))
        .transpose()
}

impl RefClient {
    pub fn new(bootstrap: impl Into<String>) -> RefClient {
        RefClient {
            bootstrap: bootstrap.into(),
            timeout: 30.0,
            config: Vec::new(),
        }
    }

    /// Adds a librdkafka property for every call.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> RefClient {
        self.config.push((key.to_string(), value.into()));
        self
    }

    /// How long each call may take before it fails (30 s unless told).
    pub fn timeout(mut self, seconds: f64) -> RefClient {
        self.timeout = seconds;
        self
    }

    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The helper script, written out from the copy compiled into the rig. Not read from
    /// the source tree: cargo shares a build between checkouts at different paths (its
    /// artifact hashes use workspace-relative paths), so a path compiled in may name a
    /// checkout that is gone.
    pub(crate) fn script() -> Result<PathBuf> {
        static SCRIPT: OnceLock<PathBuf> = OnceLock::new();
        if let Some(path) = SCRIPT.get() {
            return Ok(path.clone());
        }
        const SOURCE: &str = include_str!("../../fixtures/refclient.py");
        let mut hasher = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(SOURCE, &mut hasher);
        let dir = std::env::temp_dir();
        let path = dir.join(format!(
            "kafka-esm-refclient-{:016x}.py",
            std::hash::Hasher::finish(&hasher)
        ));
        if std::fs::read_to_string(&path).ok().as_deref() != Some(SOURCE) {
            let tmp = tempfile::NamedTempFile::new_in(&dir)?;
            std::fs::write(tmp.path(), SOURCE)?;
            tmp.persist(&path).map_err(|e| e.error)?;
        }
        Ok(SCRIPT.get_or_init(|| path).clone())
    }

    /// Runs a sub-command, feeding `input` on stdin; returns stdout.
    fn run(&self, sub: &str, args: &[String], input: &str) -> Result<String> {
        let python = crate::rig_tool("venv/bin/python")?;
        let mut cmd = Command::new(python);
        cmd.arg(Self::script()?)
            .arg(sub)
            .arg("--bootstrap")
            .arg(&self.bootstrap);
        for (k, v) in &self.config {
            cmd.arg("--config").arg(format!("{k}={v}"));
        }
        cmd.arg("--timeout").arg(self.timeout.to_string());
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().context("starting refclient.py")?;
        let mut stdin = child.stdin.take().context("refclient stdin")?;
        let input = input.to_string();
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let out = child
            .wait_with_output()
            .context("waiting for refclient.py")?;
        writer
            .join()
            .map_err(|_| anyhow::anyhow!("stdin writer panicked"))?
            .context("writing to refclient.py")?;
        if !out.status.success() {
            bail!(
                "refclient {sub} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        String::from_utf8(out.stdout).context("refclient output is not UTF-8")
    }

    /// Produces `records` to `topic` (acks=all) and returns where each one landed.
    pub fn produce(
        &self,
        topic: &str,
        records: &[Record],
        compression: Compression,
    ) -> Result<Vec<Delivered>> {
        let args = vec![
            "--topic".into(),
            topic.into(),
            "--compression".into(),
            compression.name().into(),
        ];
        let out = self.run("produce", &args, &Self::produce_input(records)?)?;
        let delivered = out
            .lines()
            .map(|l| serde_json::from_str(l).with_context(|| format!("delivery report {l}")))
            .collect::<Result<Vec<Delivered>>>()?;
        if delivered.len() != records.len() {
            bail!("{} of {} records delivered", delivered.len(), records.len());
        }
        Ok(delivered)
    }

    /// Produces `records` with an idempotent producer (acks=all) under faults: for each
    /// record, where it landed or why it was not delivered (within the client's timeout).
    /// A record not delivered may still be in the log (its acknowledgement was lost).
    pub fn produce_idempotent_partial(
        &self,
        topic: &str,
        records: &[Record],
    ) -> Result<Vec<std::result::Result<Delivered, String>>> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Report {
            Delivered(Delivered),
            Failed { error: String },
        }
        let args = vec![
            "--topic".into(),
            topic.into(),
            "--idempotent".into(),
            "--partial".into(),
        ];
        let out = self.run("produce", &args, &Self::produce_input(records)?)?;
        let reports = out
            .lines()
            .map(|l| {
                let r: Report =
                    serde_json::from_str(l).with_context(|| format!("delivery report {l}"))?;
                Ok(match r {
                    Report::Delivered(d) => Ok(d),
                    Report::Failed { error } => Err(error),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if reports.len() != records.len() {
            bail!("{} reports for {} records", reports.len(), records.len());
        }
        Ok(reports)
    }

    fn produce_input(records: &[Record]) -> Result<String> {
        let mut input = String::new();
        for r in records {
            let wire = WireRecord {
                key: enc(&r.key),
                value: enc(&r.value),
                headers: r
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), enc(v)))
                    .collect(),
                partition: r.partition,
                timestamp: r.timestamp,
            };
            input.push_str(&serde_json::to_string(&wire)?);
            input.push('\n');
        }
        Ok(input)
    }

    /// Consumes `count` records as a member of `group` (from the earliest offset when the
    /// group has none), then commits if `commit`.
    pub fn consume(
        &self,
        topic: &str,
        group: &str,
        count: usize,
        commit: bool,
    ) -> Result<Vec<Consumed>> {
        let mut args = vec![
            "--topic".into(),
            topic.into(),
            "--group".into(),
            group.into(),
            "--count".into(),
            count.to_string(),
        ];
        if commit {
            args.push("--commit".into());
        }
        let out = self.run("consume", &args, "")?;
        out.lines()
            .map(|l| {
                let w: WireConsumed = serde_json::from_str(l)?;
                Ok(Consumed {
                    topic: w.topic,
                    partition: w.partition,
                    offset: w.offset,
                    timestamp: w.timestamp,
                    timestamp_type: w.timestamp_type,
                    key: dec(w.key)?,
                    value: dec(w.value)?,
                    headers: w
                        .headers
                        .into_iter()
                        .map(|(k, v)| Ok((k, dec(v)?)))
                        .collect::<Result<_>>()?,
                })
            })
            .collect()
    }

    /// CreateTopics through the AdminClient, waiting until metadata shows the topic.
    pub fn create_topic(&self, topic: &str, partitions: i32) -> Result<()> {
        let args = vec![
            "--topic".into(),
            topic.into(),
            "--partitions".into(),
            partitions.to_string(),
        ];
        self.run("create-topic", &args, "").map(drop)
    }

    /// Creates a topic by asking for its metadata (brokers that auto-create topics and
    /// lack CreateTopics); fails if the broker's default partition count differs.
    pub fn auto_create_topic(&self, topic: &str, partitions: i32) -> Result<()> {
        let args = vec![
            "--topic".into(),
            topic.into(),
            "--partitions".into(),
            partitions.to_string(),
            "--auto".into(),
        ];
        self.run("create-topic", &args, "").map(drop)
    }

    /// Watermarks for every partition, and ListOffsets by `timestamp` if given.
    pub fn list_offsets(
        &self,
        topic: &str,
        timestamp: Option<i64>,
    ) -> Result<BTreeMap<i32, Offsets>> {
        let mut args = vec!["--topic".into(), topic.into()];
        if let Some(ts) = timestamp {
            args.push("--timestamp".into());
            args.push(ts.to_string());
        }
        let out = self.run("list-offsets", &args, "")?;
        let map: BTreeMap<String, Offsets> = serde_json::from_str(out.trim())?;
        map.into_iter().map(|(p, o)| Ok((p.parse()?, o))).collect()
    }

    /// DeleteRecords through the AdminClient: the records of `partition` before offset
    /// `before` are deleted (what retention does). Returns the new log start offset.
    pub fn delete_records(&self, topic: &str, partition: i32, before: i64) -> Result<i64> {
        let args = vec![
            "--topic".into(),
            topic.into(),
            "--partition".into(),
            partition.to_string(),
            "--before".into(),
            before.to_string(),
        ];
        let out = self.run("delete-records", &args, "")?;
        let v: serde_json::Value = serde_json::from_str(out.trim())?;
        v["low_watermark"]
            .as_i64()
            .with_context(|| format!("delete-records answered {out}"))
    }

    /// The group's committed offset for every partition (negative: none).
    pub fn committed(&self, topic: &str, group: &str) -> Result<BTreeMap<i32, i64>> {
        let args = vec![
            "--topic".into(),
            topic.into(),
            "--group".into(),
            group.into(),
        ];
        let out = self.run("committed", &args, "")?;
        let map: BTreeMap<String, i64> = serde_json::from_str(out.trim())?;
        map.into_iter().map(|(p, o)| Ok((p.parse()?, o))).collect()
    }
}
