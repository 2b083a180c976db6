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
    Run(Box<kafka_esm::config::MappingArgs>),
    /// Talk to Kafka with kafka-esm's own client, to check connectivity.
    #[command(subcommand)]
    Kafka(cli::kafka::KafkaCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => {
            init_logs();
            cli::run::run(*args)
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
