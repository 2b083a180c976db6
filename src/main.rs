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
}

#[derive(Subcommand)]
enum Command {
    /// Run an event source mapping: consume, batch, invoke, commit.
    Run {
        /// The mapping, as `aws lambda create-event-source-mapping --cli-input-json` takes it.
        #[arg(long)]
        config: Option<std::path::PathBuf>,
        /// `SelfManagedEventSource.Endpoints.KAFKA_BOOTSTRAP_SERVERS`, comma-separated.
        #[arg(long)]
        bootstrap_servers: Option<String>,
        /// The topic to consume (`Topics`).
        #[arg(long)]
        topics: Option<String>,
        /// `FunctionName`.
        #[arg(long)]
        function_name: Option<String>,
    },
    /// Talk to Kafka with kafka-esm's own client, to check connectivity.
    #[command(subcommand)]
    Kafka(cli::kafka::KafkaCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { .. } => {
            eprintln!(
                "kafka-esm run: the mapping engine is not built yet (it lands with the engine \
                 issue); nothing was consumed"
            );
            ExitCode::from(2)
        }
        Command::Kafka(command) => {
            init_logs();
            match cli::kafka::run(command) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("kafka-esm kafka: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (warnings by default).
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
