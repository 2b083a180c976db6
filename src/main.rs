//! The `kafka-esm` command line.

mod cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "kafka-esm",
    version,
    about = "AWS Lambda's Kafka event source mapping, self-hosted"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines are written to stderr: text for people, json (one object per line,
    /// with the mapping UUID and the consumer from the enclosing spans) for collectors.
    /// Which lines: RUST_LOG (default `warn`; `info` shows state transitions and scaling).
    #[arg(
        long,
        global = true,
        value_enum,
        env = "KAFKA_ESM_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run an event source mapping: consume, batch, invoke, commit.
    Run(Box<kafka_esm::config::MappingArgs>),
    /// Serve Lambda's event source mapping API and run the mappings it manages.
    Serve(Box<cli::serve::ServeArgs>),
    /// Talk to Kafka with kafka-esm's own client, to check connectivity.
    #[command(subcommand)]
    Kafka(cli::kafka::KafkaCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    match cli.command {
        Command::Run(args) => cli::run::run(*args),
        Command::Serve(args) => cli::serve::serve(*args),
        Command::Kafka(command) => match cli::kafka::run(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("kafka-esm kafka: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (warnings by default).
fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .init(),
    }
}
