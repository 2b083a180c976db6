//! `kafka-esm run`: resolve the mapping, build the invoker, run until Ctrl-C or SIGTERM.
//!
//! Exit codes: 0 after a clean stop, 2 when the configuration is refused (nothing
//! started), 1 when the mapping stopped on an error. Each error is printed with the
//! documented reason a mapping reports.

use kafka_esm::aws::{AwsOptions, sdk_config};
use kafka_esm::config::{Mapping, MappingArgs};
use kafka_esm::invoke::lambda::LambdaInvoker;
use kafka_esm::invoke::local::{InvokeApi, LocalError, LocalFunction, LocalInvoker};
use kafka_esm::runtime;
use std::process::ExitCode;
use std::sync::Arc;

pub fn run(args: MappingArgs) -> ExitCode {
    let mapping = match args.resolve() {
        Ok(m) => m,
        Err(errors) => {
            eprintln!("kafka-esm run: {errors}");
            return ExitCode::from(2);
        }
    };
    for w in &mapping.warnings {
        tracing::warn!(uuid = %mapping.uuid, "{w}");
    }
    let local = match mapping
        .esm
        .function_command
        .as_deref()
        .map(|c| local_invoker(&mapping, c))
    {
        None => None,
        Some(Ok(invoker)) => Some(Arc::new(invoker)),
        Some(Err(e)) => {
            eprintln!("kafka-esm run: FUNCTION_CONFIG_NOT_VALID: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kafka-esm run: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let shutdown = shutdown_signal();
        let (status, watcher) = tokio::sync::watch::channel(runtime::MappingStatus::default());
        let printer = tokio::spawn(print_status(watcher));
        let options = runtime::RunOptions {
            status: Some(status),
            ..runtime::RunOptions::default()
        };
        let result = match local {
            Some(invoker) => {
                // The Invoke API shares the function's pool; it stops with the mapping.
                let _invoke_api = match mapping.esm.invoke_address {
                    Some(address) => match InvokeApi::bind(address, [invoker.clone()]).await {
                        Ok(api) => {
                            eprintln!(
                                "kafka-esm: Lambda Invoke API for local function {} at {}",
                                invoker.function().name,
                                api.endpoint_url()
                            );
                            Some(AbortOnDrop(tokio::spawn(api.serve())))
                        }
                        Err(e) => {
                            eprintln!("kafka-esm run: {e}");
                            return ExitCode::FAILURE;
                        }
                    },
                    None => None,
                };
                runtime::run(&mapping, invoker, shutdown, options).await
            }
            None => {
                let invoker = lambda_invoker(&mapping).await;
                runtime::run(&mapping, invoker, shutdown, options).await
            }
        };
        let _ = printer.await;
        match result {
            Ok(stats) => {
                tracing::info!(uuid = %mapping.uuid, ?stats, "mapping stopped");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("kafka-esm run: {}: {e}", e.reason());
                if matches!(e, runtime::RuntimeError::Unsupported { .. }) {
                    ExitCode::from(2)
                } else {
                    ExitCode::FAILURE
                }
            }
        }
    })
}

/// The mapping's function run on this host: `FunctionCommand` through `sh -c` (with
/// `exec`, so a timeout's kill reaches the handler itself), served the Runtime API.
fn local_invoker(mapping: &Mapping, command: &str) -> Result<LocalInvoker, LocalError> {
    let mut function = LocalFunction::shell(mapping.function.name.clone(), command);
    if let Some(timeout) = mapping.esm.function_timeout {
        function.timeout = timeout;
    }
    if let Some(concurrency) = mapping.esm.function_concurrency {
        function.concurrency = concurrency;
    }
    if let Some(variables) = &mapping.esm.function_environment {
        function.env = variables
            .iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
    }
    if let Some(region) = mapping
        .esm
        .region
        .clone()
        .or_else(|| mapping.function.region.clone())
    {
        function.region = region;
    }
    LocalInvoker::new(function)
}

async fn lambda_invoker(mapping: &Mapping) -> LambdaInvoker {
    let config = sdk_config(&AwsOptions {
        region: mapping
            .esm
            .region
            .clone()
            .or_else(|| mapping.function.region.clone()),
        endpoint_url: mapping.esm.lambda_endpoint_url.clone(),
        credentials: None,
        // The engine retries, with AWS's accounting; the SDK must not.
        max_attempts: Some(1),
        // Longer than the function may run, never forever.
        timeouts: kafka_esm::invoke::lambda::timeouts(mapping.esm.function_timeout),
    })
    .await;
    LambdaInvoker::new(
        aws_sdk_lambda::Client::new(&config),
        mapping.function.raw.clone(),
        None,
    )
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Prints the mapping's status to stderr whenever its state or last processing result
/// changes (not for every record counted), and once more at the end.
async fn print_status(mut status: tokio::sync::watch::Receiver<runtime::MappingStatus>) {
    let mut shown: Option<(runtime::State, String)> = None;
    loop {
        let now = status.borrow_and_update().clone();
        let key = (now.state, now.last_processing_result.clone());
        if shown.as_ref() != Some(&key) {
            eprintln!("kafka-esm: {now}");
            shown = Some(key);
        }
        if status.changed().await.is_err() {
            let last = status.borrow().clone();
            if shown.as_ref() != Some(&(last.state, last.last_processing_result.clone())) {
                eprintln!("kafka-esm: {last}");
            }
            return;
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is called, not
/// when the future is first polled (the runtime polls it only once the mapping is
/// enabled): a signal during start-up then stops the mapping cleanly instead of killing
/// the process with the signal's default action. Call it inside the async runtime.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
