//! `kafka-esm kafka ...`: check connectivity with the Kafka client alone, no Lambda.
//!
//! `consume` joins a consumer group and prints records as JSON lines; `produce` writes
//! stdin lines as records. Both use the same client the mapping uses, so if these work,
//! the mapping can reach the cluster. Output formats are for people and scripts, not a
//! stable API.

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use clap::{Args, Subcommand, ValueEnum};
use kafka_esm::kafka::TopicPartition;
use kafka_esm::kafka::client::cluster::{Cluster, ClusterConfig};
use kafka_esm::kafka::client::conn::ConnectionConfig;
use kafka_esm::kafka::consumer::fetcher::FetchPosition;
use kafka_esm::kafka::consumer::{Consumer, ConsumerConfig, ConsumerEvent};
use kafka_esm::kafka::producer::{Producer, ProducerConfig};
use kafka_esm::kafka::protocol::records::encode::ProduceRecord;
use kafka_esm::kafka::protocol::records::{Record, TimestampType};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::Arc;

#[derive(Subcommand)]
pub enum KafkaCommand {
    /// Consume a topic as a member of a consumer group and print its records as JSON lines.
    Consume(ConsumeArgs),
    /// Produce each line of stdin as one record.
    Produce(ProduceArgs),
}

#[derive(Args)]
pub struct Connect {
    /// `host:port` of one or more brokers, comma-separated.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    bootstrap_servers: String,
    #[arg(long)]
    topic: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum From {
    Earliest,
    Latest,
}

#[derive(Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    connect: Connect,
    /// The consumer group; a new, throwaway one by default (nothing is committed then).
    #[arg(long)]
    group: Option<String>,
    /// Where to start in partitions the group has no offset for.
    #[arg(long, value_enum, default_value = "earliest")]
    from: From,
    /// Stop after this many records.
    #[arg(long)]
    count: Option<usize>,
    /// Commit what was printed (only with --group).
    #[arg(long, requires = "group")]
    commit: bool,
}

#[derive(Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    connect: Connect,
    /// Split each line at the first occurrence of this string into key and value.
    #[arg(long)]
    key_separator: Option<String>,
}

pub fn run(command: KafkaCommand) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match command {
            KafkaCommand::Consume(args) => consume(args).await,
            KafkaCommand::Produce(args) => produce(args).await,
        }
    })
}

async fn cluster(connect: &Connect) -> Result<Arc<Cluster>> {
    let config = ClusterConfig {
        bootstrap: connect
            .bootstrap_servers
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        connection: ConnectionConfig {
            client_id: "kafka-esm-cli".into(),
            ..ConnectionConfig::default()
        },
    };
    let topics = [connect.topic.clone()];
    Ok(Arc::new(
        Cluster::connect(config, &topics)
            .await
            .with_context(|| format!("connecting to {}", connect.bootstrap_servers))?,
    ))
}

async fn consume(args: ConsumeArgs) -> Result<()> {
    let cluster = cluster(&args.connect).await?;
    let group = args
        .group
        .clone()
        .unwrap_or_else(|| format!("kafka-esm-cli-{}", uuid::Uuid::new_v4()));
    let mut config = ConsumerConfig::new(group.clone(), vec![args.connect.topic.clone()]);
    config.default_position = match args.from {
        From::Earliest => FetchPosition::Earliest,
        From::Latest => FetchPosition::Latest,
    };
    let mut consumer = Consumer::start(cluster, config);
    eprintln!("consuming {} as group {group}", args.connect.topic);
    let mut printed = 0usize;
    let mut out = std::io::stdout().lock();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    while args.count.is_none_or(|n| printed < n) {
        let event = tokio::select! {
            _ = &mut ctrl_c => break,
            event = consumer.poll() => event?,
        };
        match event {
            ConsumerEvent::Assigned(parts) => eprintln!("assigned {}", names(&parts)),
            ConsumerEvent::Revoked(parts) => eprintln!("revoked {}", names(&parts)),
            ConsumerEvent::Lost(parts) => eprintln!("lost {}", names(&parts)),
            ConsumerEvent::Reset(resets) => {
                for r in resets {
                    eprintln!(
                        "{}-{}: offset {} is out of range: reset to {}",
                        r.topic, r.partition, r.from, r.to
                    );
                }
            }
            ConsumerEvent::Records(batch) => {
                let mut offsets = BTreeMap::new();
                'partitions: for p in batch {
                    for r in &p.records {
                        if args.count.is_some_and(|n| printed >= n) {
                            break 'partitions;
                        }
                        writeln!(out, "{}", record_json(&p.topic, p.partition, r))?;
                        printed += 1;
                        offsets.insert((p.topic.clone(), p.partition), r.offset + 1);
                    }
                    offsets.insert((p.topic.clone(), p.partition), p.next_offset);
                }
                out.flush()?;
                if args.commit {
                    consumer.commit(offsets).await?;
                }
            }
        }
    }
    consumer.close().await?;
    Ok(())
}

fn names(parts: &[TopicPartition]) -> String {
    let names: Vec<String> = parts.iter().map(|(t, p)| format!("{t}-{p}")).collect();
    names.join(", ")
}

/// A record as a JSON object: text where the bytes are UTF-8, else base64 in a
/// `...Base64` field.
fn record_json(topic: &str, partition: i32, r: &Record) -> Value {
    let mut o = json!({
        "topic": topic,
        "partition": partition,
        "offset": r.offset,
        "timestamp": r.timestamp,
        "timestampType": match r.timestamp_type {
            TimestampType::CreateTime => "CREATE_TIME",
            TimestampType::LogAppendTime => "LOG_APPEND_TIME",
            TimestampType::NoTimestampType => "NO_TIMESTAMP_TYPE",
        },
    });
    let mut put = |field: &str, bytes: &Option<Bytes>| match bytes {
        None => {}
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => o[field] = json!(s),
            Err(_) => o[format!("{field}Base64")] = json!(B64.encode(b)),
        },
    };
    put("key", &r.key);
    put("value", &r.value);
    let headers: Vec<Value> = r
        .headers
        .clone()
        .map(|(k, v)| {
            json!({
                "key": String::from_utf8_lossy(&k),
                "value": v.map(|v| String::from_utf8_lossy(&v).into_owned()),
            })
        })
        .collect();
    if !headers.is_empty() {
        o["headers"] = Value::Array(headers);
    }
    o
}

async fn produce(args: ProduceArgs) -> Result<()> {
    let cluster = cluster(&args.connect).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let mut records = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading stdin")?;
        let (key, value) = match args.key_separator.as_deref() {
            Some(sep) => match line.split_once(sep) {
                Some((k, v)) => (Some(Bytes::from(k.to_string())), v.to_string()),
                None => bail!("line {:?} has no key separator {sep:?}", line),
            },
            None => (None, line),
        };
        records.push(ProduceRecord {
            key,
            value: Some(Bytes::from(value)),
            headers: Vec::new(),
            timestamp: now,
        });
    }
    let mut producer = Producer::new(cluster, ProducerConfig::default());
    let deliveries = producer.send(&args.connect.topic, &records).await?;
    let mut out = std::io::stdout().lock();
    for d in deliveries {
        writeln!(
            out,
            "{}",
            json!({"partition": d.partition, "offset": d.offset})
        )?;
    }
    Ok(())
}
