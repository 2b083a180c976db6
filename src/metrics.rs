//! The mapping's metrics, served in Prometheus' text format (`KafkaEsm.MetricsAddress`,
//! `--metrics-address`; off by default).
//!
//! Counters and gauges are atomics the runtime bumps as it goes; [`Metrics::render`]
//! writes them out at scrape time. No metrics crate: the text format is a few lines per
//! metric, and this keeps the binary small. Names follow Prometheus conventions
//! (`_total` counters, base units, `snake_case`); README.md maps them to the AWS names.
//! Every series carries the labels `mapping` (the UUID) and `topic`; the per-partition lag
//! adds `partition`.

use crate::http::{self, Reply};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A monotonic count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Observations counted into cumulative buckets (`le` upper bounds), with their sum.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One per bound, then +Inf; not cumulative (summed at render).
    counts: Vec<AtomicU64>,
    /// The sum, in millionths of the unit (micro-seconds for durations).
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, v: f64) {
        let i = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((v.max(0.0) * 1e6) as u64, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// Their sum.
    pub fn sum(&self) -> f64 {
        self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
    }
}

const DURATION_BOUNDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
];
const BATCH_BOUNDS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];

/// One mapping's metrics. See the module docs.
#[derive(Debug)]
pub struct Metrics {
    /// `mapping="…",topic="…"`, escaped.
    labels: String,
    /// Records fetched from Kafka (AWS `PolledEventCount`).
    pub polled: Counter,
    /// Records that matched no filter (AWS `FilteredOutEventCount`).
    pub filtered_out: Counter,
    /// Records sent to the function, retries included (AWS `InvokedEventCount`).
    pub invoked: Counter,
    /// Records of invocations that failed (AWS `FailedInvokeEventCount`).
    pub failed_invoke: Counter,
    /// Records given up with no destination (AWS `DroppedEventCount`).
    pub dropped: Counter,
    /// Records written to the on-failure destination (AWS
    /// `OnFailureDestinationDeliveredEventCount`).
    pub destination_delivered: Counter,
    /// Fetches, commits, lag lookups and group descriptions that failed and were retried.
    pub polling_errors: Counter,
    /// Invocations, and those throttled (429) or timed out.
    pub invocations: Counter,
    pub throttled: Counter,
    pub timed_out: Counter,
    /// Consumers (group members) running now.
    pub consumers: Gauge,
    /// Seconds per invocation, and records per invocation.
    pub invocation_duration: Histogram,
    pub batch_size: Histogram,
    /// The last measured lag per partition; empty before the first measurement.
    lag: Mutex<BTreeMap<i32, u64>>,
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub fn new(mapping: &str, topic: &str) -> Metrics {
        Metrics {
            labels: format!(
                "mapping=\"{}\",topic=\"{}\"",
                escape(mapping),
                escape(topic)
            ),
            polled: Counter::default(),
            filtered_out: Counter::default(),
            invoked: Counter::default(),
            failed_invoke: Counter::default(),
            dropped: Counter::default(),
            destination_delivered: Counter::default(),
            polling_errors: Counter::default(),
            invocations: Counter::default(),
            throttled: Counter::default(),
            timed_out: Counter::default(),
            consumers: Gauge::default(),
            invocation_duration: Histogram::new(DURATION_BOUNDS),
            batch_size: Histogram::new(BATCH_BOUNDS),
            lag: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records the lag of every partition (replacing the previous measurement).
    pub fn set_lag(&self, lag: BTreeMap<i32, u64>) {
        *self.lag.lock().unwrap_or_else(|e| e.into_inner()) = lag;
    }

    /// The last measured lag per partition.
    pub fn lag(&self) -> BTreeMap<i32, u64> {
        self.lag.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// An invocation of `records` records sent.
    pub fn dispatched(&self, records: usize) {
        self.invocations.add(1);
        self.invoked.add(records as u64);
        self.batch_size.observe(records as f64);
    }

    /// Everything, in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let l = &self.labels;
        let counters: [(&str, &str, &Counter); 10] = [
            (
                "kafka_esm_polled_records_total",
                "Records fetched from Kafka.",
                &self.polled,
            ),
            (
                "kafka_esm_filtered_out_records_total",
                "Records that matched none of the FilterCriteria (committed, never invoked).",
                &self.filtered_out,
            ),
            (
                "kafka_esm_invoked_records_total",
                "Records sent to the function, retries included.",
                &self.invoked,
            ),
            (
                "kafka_esm_failed_invoke_records_total",
                "Records of invocations that failed.",
                &self.failed_invoke,
            ),
            (
                "kafka_esm_dropped_records_total",
                "Records given up with no on-failure destination, and offsets deleted from the log before they were read.",
                &self.dropped,
            ),
            (
                "kafka_esm_on_failure_destination_delivered_records_total",
                "Records written to the on-failure destination.",
                &self.destination_delivered,
            ),
            (
                "kafka_esm_polling_errors_total",
                "Fetches, commits, lag lookups and group descriptions that failed and were retried.",
                &self.polling_errors,
            ),
            (
                "kafka_esm_invocations_total",
                "Invocations of the function.",
                &self.invocations,
            ),
            (
                "kafka_esm_throttled_invocations_total",
                "Invocations the function's service throttled (429).",
                &self.throttled,
            ),
            (
                "kafka_esm_timed_out_invocations_total",
                "Invocations that timed out.",
                &self.timed_out,
            ),
        ];
        for (name, help, c) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name}{{{l}}} {}", c.get());
        }
        let _ = writeln!(
            out,
            "# HELP kafka_esm_consumers Consumers (consumer group members) running.\n# TYPE kafka_esm_consumers gauge\nkafka_esm_consumers{{{l}}} {}",
            self.consumers.get()
        );
        let lag = self.lag();
        if !lag.is_empty() {
            let total: u64 = lag.values().sum();
            let _ = writeln!(
                out,
                "# HELP kafka_esm_offset_lag Records not yet processed: the end of the log minus the group's committed offset, over all partitions.\n# TYPE kafka_esm_offset_lag gauge\nkafka_esm_offset_lag{{{l}}} {total}"
            );
            let _ = writeln!(
                out,
                "# HELP kafka_esm_partition_offset_lag The offset lag of one partition.\n# TYPE kafka_esm_partition_offset_lag gauge"
            );
            for (p, v) in &lag {
                let _ = writeln!(
                    out,
                    "kafka_esm_partition_offset_lag{{{l},partition=\"{p}\"}} {v}"
                );
            }
        }
        self.histogram(
            &mut out,
            "kafka_esm_invocation_duration_seconds",
            "How long invocations took.",
            &self.invocation_duration,
        );
        self.histogram(
            &mut out,
            "kafka_esm_batch_size_records",
            "Records per invocation.",
            &self.batch_size,
        );
        out
    }

    fn histogram(&self, out: &mut String, name: &str, help: &str, h: &Histogram) {
        let l = &self.labels;
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, bound) in h.bounds.iter().enumerate() {
            cumulative += h.counts[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{l},le=\"{bound}\"}} {cumulative}");
        }
        cumulative += h.counts[h.bounds.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{l},le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(out, "{name}_sum{{{l}}} {}", h.sum());
        let _ = writeln!(out, "{name}_count{{{l}}} {cumulative}");
    }
}

/// The metrics endpoint: `GET /metrics` (any other path is 404). Stops when dropped.
pub struct MetricsServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl MetricsServer {
    /// Binds `addr` (port 0 picks one) and serves `metrics`.
    pub async fn start(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(tracing::Instrument::in_current_span(serve(
            listener, metrics,
        )));
        Ok(MetricsServer { addr, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    crate::http::serve(listener, "metrics endpoint", move |req| {
        respond(metrics.clone(), req)
    })
    .await
}

async fn respond(metrics: Arc<Metrics>, req: Request<Incoming>) -> Reply {
    let (status, body) = if req.uri().path() != "/metrics" {
        (
            StatusCode::NOT_FOUND,
            "not found: the metrics are at /metrics\n".to_string(),
        )
    } else if req.method() != Method::GET && req.method() != Method::HEAD {
        (StatusCode::METHOD_NOT_ALLOWED, "GET /metrics\n".to_string())
    } else {
        (StatusCode::OK, metrics.render())
    };
    http::reply(
        status,
        "text/plain; version=0.0.4; charset=utf-8",
        Bytes::from(body),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the series `name{labels}` in `text`.
    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn render_writes_every_metric_with_its_labels() {
        let m = Metrics::new("f89f8514-cdd9-4602-9e1f-01a5b77d449b", "orders\"x");
        m.polled.add(10);
        m.filtered_out.add(2);
        m.dispatched(5);
        m.dispatched(3);
        m.invocation_duration.observe(0.02);
        m.invocation_duration.observe(2.0);
        m.consumers.set(3);
        m.set_lag(BTreeMap::from([(0, 7), (1, 0), (2, 5)]));
        let text = m.render();
        let l = r#"{mapping="f89f8514-cdd9-4602-9e1f-01a5b77d449b",topic="orders\"x"}"#;
        assert_eq!(
            value(&text, &format!("kafka_esm_polled_records_total{l}")),
            Some(10.0)
        );
        assert_eq!(
            value(&text, &format!("kafka_esm_filtered_out_records_total{l}")),
            Some(2.0)
        );
        assert_eq!(
            value(&text, &format!("kafka_esm_invoked_records_total{l}")),
            Some(8.0)
        );
        assert_eq!(
            value(&text, &format!("kafka_esm_invocations_total{l}")),
            Some(2.0)
        );
        assert_eq!(value(&text, &format!("kafka_esm_consumers{l}")), Some(3.0));
        assert_eq!(
            value(&text, &format!("kafka_esm_offset_lag{l}")),
            Some(12.0)
        );
        let pl =
            r#"{mapping="f89f8514-cdd9-4602-9e1f-01a5b77d449b",topic="orders\"x",partition="2"}"#;
        assert_eq!(
            value(&text, &format!("kafka_esm_partition_offset_lag{pl}")),
            Some(5.0)
        );
        let bucket = |le: &str| {
            value(
                &text,
                &format!(
                    r#"kafka_esm_invocation_duration_seconds_bucket{{mapping="f89f8514-cdd9-4602-9e1f-01a5b77d449b",topic="orders\"x",le="{le}"}}"#
                ),
            )
        };
        assert_eq!(bucket("0.01"), Some(0.0));
        assert_eq!(bucket("0.025"), Some(1.0));
        assert_eq!(bucket("2.5"), Some(2.0));
        assert_eq!(bucket("+Inf"), Some(2.0));
        assert_eq!(
            value(
                &text,
                &format!("kafka_esm_invocation_duration_seconds_sum{l}")
            ),
            Some(2.02)
        );
        assert_eq!(
            value(&text, &format!("kafka_esm_batch_size_records_count{l}")),
            Some(2.0)
        );
        // Every sample line belongs to a declared metric.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let base = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(
                text.contains(&format!("# TYPE {name} "))
                    || text.contains(&format!("# TYPE {base} histogram")),
                "{line}"
            );
        }
    }

    #[test]
    fn no_lag_series_before_the_first_measurement() {
        let m = Metrics::new("m", "t");
        assert!(!m.render().contains("offset_lag"));
    }
}
