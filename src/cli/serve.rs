//! `kafka-esm serve`: the event source mapping API and the mappings it manages, until
//! Ctrl-C or SIGTERM.
//!
//! Exit codes: 0 after a clean stop, 2 when the options are refused (nothing started), 1
//! when the state or the API could not be opened.

use kafka_esm::aws::AwsOptions;
use kafka_esm::serve::{Defaults, Identity, ServeOptions, Server, StateLocation, declare};
use serde_json::{Map, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Runs many event source mappings, managed through Lambda's API
/// (`aws lambda create-event-source-mapping --endpoint-url http://127.0.0.1:9001 ...`).
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Where the API (and the local functions' Invoke API, and /metrics, /healthz,
    /// /readyz) listens: a loopback address, or any address with --api-credentials.
    #[arg(long, env = "KAFKA_ESM_LISTEN", default_value = "127.0.0.1:9001")]
    listen: SocketAddr,
    /// The state directory: one file per mapping, written crash-safely. Default:
    /// $XDG_STATE_HOME/kafka-esm, else ~/.local/state/kafka-esm.
    #[arg(long, env = "KAFKA_ESM_STATE_DIR", conflicts_with = "state")]
    state_dir: Option<PathBuf>,
    /// Keep the mappings in a compacted Kafka topic instead, shared by every serve given
    /// the same one: kafka://HOST:PORT[,HOST:PORT...]/TOPIC (created if absent; plaintext).
    #[arg(long, env = "KAFKA_ESM_STATE", value_name = "kafka://HOST:PORT/TOPIC")]
    state: Option<String>,
    /// How to reach the state topic's brokers: SourceAccessConfigurations exactly as a
    /// mapping gives them (JSON or file://PATH): SERVER_ROOT_CA_CERTIFICATE, BASIC_AUTH,
    /// SASL_SCRAM_256_AUTH, SASL_SCRAM_512_AUTH, CLIENT_CERTIFICATE_TLS_AUTH; TLS whenever
    /// any is given.
    #[arg(long, value_name = "JSON", requires = "state")]
    state_access_configurations: Option<String>,
    /// A function run on this host, served the Lambda Runtime API: NAME=COMMAND (a shell
    /// command line). Repeatable. A mapping whose FunctionName is NAME invokes it; any
    /// other function is invoked on AWS Lambda.
    #[arg(long = "function", value_name = "NAME=COMMAND")]
    functions: Vec<String>,
    /// A JSON file of local functions with their settings:
    /// {"Functions": [{"FunctionName", "Command", "Timeout", "MemorySize", "Concurrency",
    /// "Environment": {"Variables": {...}}, "WorkingDirectory"}]}.
    #[arg(long, value_name = "PATH")]
    functions_file: Option<PathBuf>,
    /// The AWS region of the ARNs shown and of every AWS client; default: AWS_REGION,
    /// AWS_DEFAULT_REGION, else us-east-1.
    #[arg(long)]
    region: Option<String>,
    /// The account id in the ARNs shown.
    #[arg(long, default_value = "000000000000")]
    account_id: String,
    /// The keys allowed to call the API, as file://PATH of
    /// {"Credentials": [{"AccessKeyId": "...", "SecretAccessKey": "..."}]}: every request
    /// must then be signed with one of them (AWS Signature Version 4, as the AWS CLI and
    /// SDKs sign). Required when --listen is not a loopback address.
    #[arg(long, env = "KAFKA_ESM_API_CREDENTIALS", value_name = "file://PATH")]
    api_credentials: Option<String>,
    /// The API's certificate chain (PEM): serve the API over TLS (HTTPS). With
    /// --api-tls-key.
    #[arg(long, value_name = "PATH", requires = "api_tls_key")]
    api_tls_cert: Option<PathBuf>,
    /// The private key of --api-tls-cert (PEM: PKCS#8, PKCS#1 or SEC1, unencrypted).
    #[arg(long, value_name = "PATH", requires = "api_tls_cert")]
    api_tls_key: Option<PathBuf>,
    /// Replaces the Lambda endpoint for functions that are not local.
    #[arg(long, value_name = "URL")]
    lambda_endpoint_url: Option<String>,
}

pub fn serve(args: ServeArgs) -> ExitCode {
    let region = args
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| "us-east-1".into());
    let access = match args
        .state_access_configurations
        .as_deref()
        .map(json_or_file)
    {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => {
            eprintln!("kafka-esm serve: --state-access-configurations: {e}");
            return ExitCode::from(2);
        }
    };
    let state = match (
        &args.state,
        args.state_dir.clone().or_else(default_state_dir),
    ) {
        (Some(uri), _) => StateLocation::Kafka {
            uri: uri.clone(),
            access,
        },
        (None, Some(dir)) => StateLocation::Dir(dir),
        (None, None) => {
            eprintln!(
                "kafka-esm serve: --state-dir: no default (neither XDG_STATE_HOME nor HOME is set)"
            );
            return ExitCode::from(2);
        }
    };
    let functions = match declare(&args.functions, args.functions_file.as_deref(), &region) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("kafka-esm serve: {e}");
            return ExitCode::from(2);
        }
    };
    let function_timeouts = functions
        .iter()
        .map(|f| (f.name.clone(), f.timeout.as_secs()))
        .collect();
    let mut esm = Map::new();
    if let Some(r) = &args.region {
        esm.insert("Region".into(), Value::String(r.clone()));
    }
    let options = ServeOptions {
        listen: args.listen,
        state,
        functions,
        identity: Identity {
            region: region.clone(),
            account: args.account_id.clone(),
        },
        defaults: Defaults {
            esm,
            function_timeouts,
        },
        lambda: AwsOptions {
            region: Some(region),
            endpoint_url: args.lambda_endpoint_url.clone(),
            ..AwsOptions::default()
        },
        destination_aws: AwsOptions::default(),
        api_credentials: args.api_credentials.clone(),
        api_tls: args.api_tls_cert.clone().zip(args.api_tls_key.clone()),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kafka-esm serve: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let shutdown = super::run::shutdown_signal();
        let server = match Server::start(options).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("kafka-esm serve: {e}");
                return ExitCode::FAILURE;
            }
        };
        let url = format!("{}://{}", server.scheme(), server.local_addr());
        eprintln!("kafka-esm serve: Lambda API at {url} (aws lambda ... --endpoint-url {url})");
        match server.run(shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("kafka-esm serve: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Inline JSON, or `file://PATH`.
fn json_or_file(src: &str) -> Result<Value, String> {
    let text = match src.strip_prefix("file://") {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?,
        None => src.to_string(),
    };
    serde_json::from_str(&text).map_err(|e| format!("not valid JSON: {e}"))
}

fn default_state_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .map(|d| d.join("kafka-esm"))
}
